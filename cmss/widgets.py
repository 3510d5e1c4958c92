"""Widgets that render long option lists without a template per option."""

from __future__ import annotations

from html import escape
from typing import Any

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.forms.renderers import DjangoTemplates
from django.forms.utils import flatatt
from django.utils import translation
from django.utils.choices import BaseChoiceIterator
from django.utils.safestring import SafeData, SafeString, mark_safe

# A group's escaped label (None outside any group) and its (value, escaped value, label HTML).
_Entry = tuple[str | None, list[tuple[str, str, str]]]


class StaticChoices(BaseChoiceIterator):
    """Choices already in Django's normal form ((value, label) pairs, or
    (group, pairs)), optionally after an empty choice ("Choose your country").
    A widget or field takes them as they are: a list is normalised again, pair
    by pair, every time it is assigned to a form's widget (1 ms for the time
    zones alone)."""

    def __init__(self, choices: Any, empty_label: Any = None, *, html: dict[str, str] | None = None) -> None:
        # A callable is called at each use (a list that is built once, lazily).
        self.choices = choices
        self.empty_label = empty_label
        # The <option>s of `choices` (not the empty one), per language: see options_html;
        # and under "escaped:<language>", the escaped values and labels: see escaped().
        self._html: dict[str, Any] = {} if html is None else html

    def with_empty(self, empty_label: Any) -> StaticChoices:
        """The same choices (and their rendered options) after an empty choice."""
        return StaticChoices(self.choices, empty_label, html=self._html)

    def escaped(self) -> list[_Entry]:
        """(escaped group label, [(value, escaped value, label HTML)]) for each
        group, a group of None for a choice outside any: what the checkbox and
        radio lists write, escaped once per language."""
        key = f"escaped:{translation.get_language() or ''}"
        found: list[_Entry] | None = self._html.get(key)
        if found is None:
            found = []
            choices = self.choices() if callable(self.choices) else self.choices
            for option_value, label in choices:
                if isinstance(label, list | tuple):
                    found.append((_label_html(option_value), [_escaped(v, lab) for v, lab in label]))
                else:
                    found.append((None, [_escaped(option_value, label)]))
            self._html[key] = found
        return found

    def options_html(self) -> str:
        """The <option>s (and <optgroup>s) of the choices, none selected, as
        FastSelect writes them: built once per language, so a select of the
        430 time zones costs a few string replacements (its selection)."""
        language = translation.get_language() or ""
        html = self._html.get(language)
        if html is None:
            choices = self.choices() if callable(self.choices) else self.choices
            html = self._html[language] = _options_html(choices, set(), multiple=True)
        return html

    def __iter__(self) -> Any:
        if self.empty_label is not None:
            yield ("", self.empty_label)
        yield from self.choices() if callable(self.choices) else self.choices

    def __len__(self) -> int:
        choices = self.choices() if callable(self.choices) else self.choices
        return len(choices) + (self.empty_label is not None)

    def __deepcopy__(self, memo: dict[int, Any]) -> StaticChoices:
        # Immutable: every form may share it (forms deep-copy their fields).
        return self

    def __copy__(self) -> StaticChoices:
        return self


def _escaped(option_value: Any, label: Any) -> tuple[str, str, str]:
    text = "" if option_value is None else str(option_value)
    return text, escape(text), _label_html(label)


def _attr_text(value: Any) -> str:
    # As the templates' {{ value|stringformat:'s' }}: marked-safe text is kept.
    if isinstance(value, tuple):
        value = str(value)
    return str(value) if isinstance(value, SafeData) else escape(f"{value}")


def _attrs_html(attrs: dict[str, Any]) -> str:
    # django/forms/widgets/attrs.html, in Python.
    parts = []
    for name, value in attrs.items():
        if value is True:
            parts.append(f" {escape(name)}")
        elif value is not False:
            parts.append(f' {escape(name)}="{_attr_text(value)}"')
    return "".join(parts)


def _input_html(widget: dict[str, Any]) -> str:
    # django/forms/widgets/input.html, in Python.
    value = widget["value"]
    shown = "" if value is None else f' value="{_attr_text(value)}"'
    return f'<input type="{escape(str(widget["type"]))}" name="{escape(widget["name"])}"{shown}{_attrs_html(widget["attrs"])}>'


def _textarea_html(widget: dict[str, Any]) -> str:
    value = widget["value"]
    text = (str(value) if isinstance(value, SafeData) else escape(str(value))) if value else ""
    return f'<textarea name="{escape(widget["name"])}"{_attrs_html(widget["attrs"])}>\n{text}</textarea>'


_INPUT_TEMPLATES = {
    f"django/forms/widgets/{name}.html": _input_html
    for name in (
        "input",
        "text",
        "email",
        "password",
        "hidden",
        "number",
        "url",
        "tel",
        "search",
        "date",
        "datetime",
        "time",
        "color",
        "checkbox",
    )
}
_INPUT_TEMPLATES["django/forms/widgets/textarea.html"] = _textarea_html


class FastRenderer(DjangoTemplates):
    """The default form renderer, but Django's stock <input> and <textarea>
    templates are rendered in Python, to the same HTML: three template
    renders per text box (input.html, its include and attrs.html) cost 0.2 ms.
    Any other template (a project or admin widget) renders as usual."""

    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        fast = _INPUT_TEMPLATES.get(template_name)
        if fast is not None and "widget" in context:
            return fast(context["widget"])
        return super().render(template_name, context, request)


# One instance: a renderer builds its template engine once.
fast_renderer = FastRenderer()


def _label_html(label: Any) -> str:
    # As the template's {{ label }}: a label marked safe is kept as it is.
    html = getattr(label, "__html__", None)
    return str(html()) if html is not None else escape(str(label))


class FastSelect(forms.Select):
    """A <select> rendered in Python with plain escaping. Django renders every
    <option> through a template, which costs tens of milliseconds for the few
    hundred options of the directory's filters; the HTML is the same."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        final_attrs = self.build_attrs(self.attrs, attrs)
        values = [str(v) for v in self.format_value(value)]
        multiple = self.allow_multiple_selected
        head = f'<select name="{escape(name)}"{flatatt(final_attrs)}>'
        choices = self.choices
        if not isinstance(choices, StaticChoices):
            return mark_safe(f"{head}{_options_html(choices, set(values), multiple=multiple)}</select>")
        # The options as rendered once, and the selection marked in them; as
        # Django's, a single select marks only the first option of its value.
        parts = [head]
        html = choices.options_html()
        if choices.empty_label is not None:
            empty_selected = "" in values
            parts.append(_options_html([("", choices.empty_label)], set(values), multiple=multiple))
            if empty_selected and not multiple:
                values = []
        for item in dict.fromkeys(values if multiple else values[:1]):
            plain = f'<option value="{escape(item)}">'
            html = html.replace(plain, f'<option value="{escape(item)}" selected>', -1 if multiple else 1)
        parts.append(html)
        parts.append("</select>")
        # Every value and label above is escaped.
        return mark_safe("".join(parts))


def _options_html(choices: Any, selected: set[str], *, multiple: bool) -> str:
    parts = []
    has_selected = False

    def option(option_value: Any, label: Any) -> str:
        nonlocal has_selected
        text = "" if option_value is None else str(option_value)
        chosen = (multiple or not has_selected) and text in selected
        has_selected |= chosen
        mark = " selected" if chosen else ""
        return f'<option value="{escape(text)}"{mark}>{_label_html(label)}</option>'

    for option_value, label in choices:
        if isinstance(label, list | tuple):
            parts.append(f'<optgroup label="{_label_html(option_value)}">')
            parts.extend(option(inner_value, inner_label) for inner_value, inner_label in label)
            parts.append("</optgroup>")
        else:
            parts.append(option(option_value, label))
    # Every value and label above is escaped.
    return "".join(parts)


class FastSelectMultiple(FastSelect, forms.SelectMultiple):
    """FastSelect for several values (<select multiple>)."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        return super().render(name, value, {**(attrs or {}), "multiple": True}, renderer)


class _FastChoiceInputs(forms.widgets.RadioSelect):
    """Radio buttons or checkboxes rendered in Python, with the HTML of
    Django's templates (django/forms/widgets/multiple_input.html and
    input_option.html): the same <div>s, labels, ids (id_x_0, id_x_1, or
    id_x_0_0 in a group), and every attribute of the field (aria-invalid,
    required...) on each input. Django renders three templates per option,
    which costs 0.3 ms an option."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        final_attrs = self.build_attrs(self.attrs, attrs)
        base_id = final_attrs.get("id")
        selected = {str(v) for v in self.format_value(value)}
        # The attributes before and after the id, in Django's order; "checked" comes last.
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        seen_id = False
        for key, item in final_attrs.items():
            if key == "id":
                seen_id = True
            else:
                (after if seen_id else before)[key] = item
        head = f'<input type="{self.input_type}" name="{escape(name)}"'
        before_html, after_html = flatatt(before), flatatt(after)
        id_html = escape(str(base_id)) if base_id else ""
        multiple = self.allow_multiple_selected
        has_selected = False

        def option(text: str, value_html: str, label_html: str, index: str) -> str:
            nonlocal has_selected
            checked = (multiple or not has_selected) and text in selected
            has_selected |= checked
            mark = " checked" if checked else ""
            if id_html:
                option_id = f"{id_html}_{index}"
                return (
                    f'<div>\n    <label for="{option_id}">{head} value="{value_html}"{before_html}'
                    f' id="{option_id}"{after_html}{mark}> {label_html}</label></div>'
                )
            return (
                f'<div>\n    <label>{head} value="{value_html}"{before_html}{after_html}{mark}>'
                f" {label_html}</label></div>"
            )

        choices = self.choices
        entries: list[_Entry]
        if isinstance(choices, StaticChoices):
            entries = choices.escaped()
            if choices.empty_label is not None:
                entries = [(None, [_escaped("", choices.empty_label)]), *entries]
        else:
            entries = []
            for option_value, label in choices:
                if isinstance(label, list | tuple):
                    entries.append((_label_html(option_value), [_escaped(v, lab) for v, lab in label]))
                else:
                    entries.append((None, [_escaped(option_value, label)]))
        opening = "<div"
        if id_html:
            opening += f' id="{id_html}"'
        if final_attrs.get("class"):
            opening += f' class="{escape(str(final_attrs["class"]))}"'
        parts = [opening + ">"]
        for index, (group, options) in enumerate(entries):
            if group is None:
                parts.append(option(*options[0], str(index)))
            else:
                parts.append(f"\n  <div><label>{group}</label>")
                parts.extend(option(*item, f"{index}_{subindex}") for subindex, item in enumerate(options))
                parts.append("\n  </div>")
        parts.append("\n</div>")
        # Every value and label above is escaped.
        return mark_safe("".join(parts))


class FastRadioSelect(_FastChoiceInputs):
    """forms.RadioSelect without a template per option."""


class FastCheckboxSelectMultiple(_FastChoiceInputs, forms.CheckboxSelectMultiple):
    """forms.CheckboxSelectMultiple without a template per option (the
    registration form's 35 languages and 24 ERNs)."""

    allow_multiple_selected = True
    input_type = "checkbox"


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
