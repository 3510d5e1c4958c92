"""{% form_field %}: the markup of templates/_field.html, written in Python.

Every form of the site lays out a field the same way (label or legend, the
widget, help text, errors, "(optional)"), through _field.html. As a template
that was 50 us of CPU a field, more than the widget itself; a form like the
registration's has twenty. The markup is the same as the template's was.
"""

from __future__ import annotations

from html import escape
from typing import Any

from django import template
from django.forms import BoundField
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

register = template.Library()


def _text(value: Any) -> str:
    # As {{ value }} in a template: escaped, unless marked safe.
    return str(conditional_escape(value))


@register.simple_tag(takes_context=True)
def form_field(context: template.Context, field: BoundField) -> SafeString:
    """One field: <div class="field"> with its label (a legend for a group of
    choices), the widget, its help text and its errors. In the context,
    `no_optional` leaves out "(optional)" and `field_attrs` (already HTML) is
    added to the <div>."""
    errors = field.errors
    # Labels and help texts are lazy translations: each is translated once here.
    help_text = _text(field.help_text) if field.help_text is not None else ""
    auto_id = escape(str(field.auto_id))
    is_check = field.widget_type == "checkbox"
    classes = "field" + (" field-error" if errors else "") + (" field-check" if is_check else "")
    field_attrs = context.get("field_attrs")
    parts = [f'<div class="{classes}"' + (f" {_text(field_attrs)}" if field_attrs else "") + ">"]
    label = _text(field.label)
    optional = ""
    if (
        not field.field.required
        and not getattr(field.field, "conditionally_required", False)
        and not context.get("no_optional")
    ):
        optional = f' <span class="optional">{escape(gettext("(optional)"))}</span>'
    if is_check:
        parts.append(f'{field}<label for="{escape(str(field.id_for_label))}">{label}</label>')
    elif field.use_fieldset:
        described = ""
        if errors or help_text:
            ids = (f"{auto_id}_helptext " if help_text else "") + (f"{auto_id}_error" if errors else "")
            described = f' aria-describedby="{ids}"'
        parts.append(
            f"<fieldset{described}><legend>{label}{optional}</legend>"
            f'<div class="choices">{field}</div></fieldset>'
        )
    else:
        parts.append(f'<label for="{escape(str(field.id_for_label))}">{label}{optional}</label>{field}')
    if help_text:
        parts.append(f'<p class="help" id="{auto_id}_helptext">{help_text}</p>')
    if errors:
        items = "".join(f"<li>{_text(error)}</li>" for error in errors)
        parts.append(f'<ul class="errors" id="{auto_id}_error">{items}</ul>')
    parts.append("</div>")
    # Every value above is escaped, or HTML that Django marked safe (the widget).
    return mark_safe("".join(parts))
