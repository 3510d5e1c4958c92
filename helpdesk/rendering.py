"""The ticket page's forms, rendered without a template per label, error list or option.

The page shows six small forms (reply, note, state, priority and the panel's
actions): Django renders a label template and an (empty) error-list template for
every field and a template per <option>, some forty template renders a page. This
renderer writes those in Python, with the HTML of Django's templates; any other
template (an error list that has errors, a project widget) renders as usual.
"""

from __future__ import annotations

from html import escape
from typing import Any

from django import forms
from django.utils.safestring import SafeData

from cmss.widgets import FastRenderer, FastSelect


def _attrs(attrs: dict[str, Any]) -> str:
    # django/forms/attrs.html, in Python.
    parts = []
    for name, value in attrs.items():
        if value is True:
            parts.append(f" {escape(name)}")
        elif value is not False:
            text = str(value) if isinstance(value, SafeData) else escape(str(value))
            parts.append(f' {escape(name)}="{text}"')
    return "".join(parts)


def _label(context: dict[str, Any]) -> str:
    # django/forms/label.html: the label text is escaped unless marked safe.
    label = context["label"]
    text = str(label) if isinstance(label, SafeData) else escape(str(label))
    if not context["use_tag"]:
        return text
    tag = context["tag"]
    return f"<{tag}{_attrs(context['attrs'] or {})}>{text}</{tag}>"


class TicketPageRenderer(FastRenderer):
    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        if template_name == "django/forms/label.html":
            return _label(context)
        if template_name == "django/forms/errors/list/default.html" and not context.get("errors"):
            return ""
        return super().render(template_name, context, request)


renderer = TicketPageRenderer()


def lean(form: forms.Form) -> forms.Form:
    """The form with this renderer, and its plain selects rendered in Python (FastSelect)."""
    form.renderer = renderer
    for field in form.fields.values():
        if type(field.widget) is forms.Select:
            field.widget.__class__ = FastSelect  # the same widget, its render() in Python
    return form
