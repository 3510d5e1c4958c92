"""Widgets that render long option lists without a template per option."""

from __future__ import annotations

from html import escape
from typing import Any

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
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


class SafeAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete widget looks up the submitted value to render the
    chosen option again, without checking it first: a form sent back with a
    value that is not an id of the target ("abc" for a hospital) failed with a
    server error instead of showing the field's error. Values the target
    field cannot hold are left out of that lookup."""

    def optgroups(self, name: str, value: Any, attr: Any = None) -> Any:
        remote = self.field.remote_field
        target = remote.model._meta.get_field(
            getattr(remote, "field_name", None) or remote.model._meta.pk.name
        )
        valid = []
        for item in value:
            try:
                target.to_python(item)
            except ValidationError:
                continue
            valid.append(item)
        return super().optgroups(name, valid, attr)


class SafeAutocompleteAdminMixin:
    """For ModelAdmins and inlines with autocomplete_fields: use SafeAutocompleteSelect."""

    def formfield_for_foreignkey(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):  # type: ignore[attr-defined]
            kwargs["widget"] = SafeAutocompleteSelect(
                db_field,
                self.admin_site,  # type: ignore[attr-defined]
                using=kwargs.get("using"),
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]
