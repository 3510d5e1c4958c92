"""Widgets that render long option lists without a template per option."""

from __future__ import annotations

from html import escape
from typing import Any

from django import forms
from django.forms.utils import flatatt
from django.utils.safestring import SafeString, mark_safe


class FastSelect(forms.Select):
    """A <select> rendered in Python with plain escaping. Django renders every
    <option> through a template, which costs tens of milliseconds for the few
    hundred options of the directory's filters; the HTML is the same."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        final_attrs = self.build_attrs(self.attrs, attrs)
        selected = {str(v) for v in self.format_value(value)}
        parts = [f'<select name="{escape(name)}"{flatatt(final_attrs)}>']

        def option(option_value: Any, label: Any) -> str:
            text = "" if option_value is None else str(option_value)
            mark = " selected" if text in selected else ""
            return f'<option value="{escape(text)}"{mark}>{escape(str(label))}</option>'

        for option_value, label in self.choices:
            if isinstance(label, list | tuple):
                parts.append(f'<optgroup label="{escape(str(option_value))}">')
                parts.extend(option(inner_value, inner_label) for inner_value, inner_label in label)
                parts.append("</optgroup>")
            else:
                parts.append(option(option_value, label))
        parts.append("</select>")
        # Every value and label above is escaped.
        return mark_safe("".join(parts))


def _has_nul(value: Any) -> bool:
    values = value if isinstance(value, list | tuple) else [value]
    return any(isinstance(item, str) and "\x00" in item for item in values)


class NulSafeModelChoiceField(forms.ModelChoiceField):
    """For models with text primary keys (languages): a NUL in the submitted
    value is an invalid choice, not a query PostgreSQL refuses."""

    def to_python(self, value: Any) -> Any:
        if _has_nul(value):
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class NulSafeModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    def clean(self, value: Any) -> Any:
        if _has_nul(value):
            raise forms.ValidationError(
                self.error_messages["invalid_choice"] % {"value": "?"}, code="invalid_choice"
            )
        return super().clean(value)
