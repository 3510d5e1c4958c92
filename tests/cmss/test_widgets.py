"""The fast widgets, the fast renderer and {% form_field %} write the HTML Django's stock ones do."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django import forms
from django.core.cache import cache
from django.template import Context, Template
from django.test.html import parse_html
from django.utils.safestring import mark_safe

from clinicians.forms import RegistrationForm
from cmss.widgets import (
    FastCheckboxSelectMultiple,
    FastRadioSelect,
    FastSelect,
    FastSelectMultiple,
    StaticChoices,
    fast_renderer,
)
from conferences.cases.forms import ConferenceRequestForm
from conferences.webinars.forms import WebinarRequestForm

CHOICES = [
    ("", "Choose one"),
    ("a", "Amsterdam & <Antwerp>"),
    ("b", mark_safe("<em>Bruges</em>")),
    ('Group "G"', [("c", "Cork"), ("d", "Dublin")]),
    ("e", "Évora"),
]

# templates/_field.html as it was before {% form_field %} replaced it.
FIELD_TEMPLATE = """{% load i18n %}<div class="field{% if field.errors %} field-error{% endif %}{% if field.widget_type == 'checkbox' %} field-check{% endif %}"{% if field_attrs %} {{ field_attrs }}{% endif %}>
  {% if field.widget_type == "checkbox" %}
    {{ field }}
    <label for="{{ field.id_for_label }}">{{ field.label }}</label>
  {% elif field.use_fieldset %}
    <fieldset{% if field.errors or field.help_text %} aria-describedby="{% if field.help_text %}{{ field.auto_id }}_helptext {% endif %}{% if field.errors %}{{ field.auto_id }}_error{% endif %}"{% endif %}>
      <legend>{{ field.label }}{% if not field.field.required and not field.field.conditionally_required and not no_optional %} <span class="optional">{% translate "(optional)" %}</span>{% endif %}</legend>
      <div class="choices">{{ field }}</div>
    </fieldset>
  {% else %}
    <label for="{{ field.id_for_label }}">{{ field.label }}{% if not field.field.required and not field.field.conditionally_required and not no_optional %} <span class="optional">{% translate "(optional)" %}</span>{% endif %}</label>
    {{ field }}
  {% endif %}
  {% if field.help_text %}<p class="help" id="{{ field.auto_id }}_helptext">{{ field.help_text }}</p>{% endif %}
  {% if field.errors %}
    <ul class="errors" id="{{ field.auto_id }}_error">{% for error in field.errors %}<li>{{ error }}</li>{% endfor %}</ul>
  {% endif %}
</div>
"""


def same_html(ours: str, django: str) -> None:
    assert parse_html(ours) == parse_html(django), f"\n{ours}\n!=\n{django}"


def pair(
    fast: type[forms.Widget], stock: type[forms.Widget], *, multiple: bool, static: bool = False
) -> tuple[type, type]:
    """The same form twice: with our widget, and with Django's (our widget
    with the choices as a list, or as StaticChoices, rendered once)."""
    field_class = forms.MultipleChoiceField if multiple else forms.ChoiceField

    def form_class(widget: type[forms.Widget]) -> type[forms.Form]:
        choices: Any = CHOICES
        if static and widget is fast:
            choices = StaticChoices(CHOICES[1:]).with_empty(CHOICES[0][1])

        class Form(forms.Form):
            pick = field_class(
                label="Pick",
                choices=choices,
                help_text="Help & more",
                widget=widget(attrs={"data-x": "1", "class": "wide"}),
            )
            other = field_class(choices=choices, required=False, disabled=True, widget=widget)

        return Form

    return form_class(fast), form_class(stock)


WIDGETS = [
    (FastSelect, forms.Select, False, "d", False),
    (FastSelect, forms.Select, False, "d", True),
    (FastSelect, forms.Select, False, "", True),
    (FastSelectMultiple, forms.SelectMultiple, True, ["a", "d"], False),
    (FastSelectMultiple, forms.SelectMultiple, True, ["a", "d"], True),
    (FastRadioSelect, forms.RadioSelect, False, "b", False),
    (FastRadioSelect, forms.RadioSelect, False, "b", True),
    (FastCheckboxSelectMultiple, forms.CheckboxSelectMultiple, True, ["b", "c", "e"], False),
    (FastCheckboxSelectMultiple, forms.CheckboxSelectMultiple, True, ["b", "c", "e"], True),
]


@pytest.mark.parametrize(("fast", "stock", "multiple", "chosen", "static"), WIDGETS)
def test_a_fast_widget_writes_the_html_of_djangos_for_the_same_field(
    fast: Any, stock: Any, multiple: bool, chosen: Any, static: bool
) -> None:
    ours, theirs = pair(fast, stock, multiple=multiple, static=static)
    # Unbound, bound with a selection, bound with an error (nothing chosen), and without ids.
    for data in (None, {"pick": chosen, "other": chosen}, {"pick": ["zz"] if multiple else "zz"}):
        for auto_id in ("id_%s", ""):
            a, b = ours(data, auto_id=auto_id), theirs(data, auto_id=auto_id)
            for name in ("pick", "other"):
                same_html(str(a[name]), str(b[name]))
    chosen_html = str(ours({"pick": chosen})["pick"])
    assert chosen_html.count(" selected" if fast in (FastSelect, FastSelectMultiple) else " checked") == (
        len(chosen) if multiple else 1
    )
    # Rendered once, the options still show each form's own selection.
    if fast in (FastSelect, FastSelectMultiple):
        assert str(ours()["pick"]).count(" selected") == (0 if multiple else 1)
    error_html = str(ours({"pick": ["zz"] if multiple else "zz"})["pick"])
    assert 'aria-invalid="true"' in error_html
    assert "&lt;Antwerp&gt;" in error_html and "<em>Bruges</em>" in error_html


def test_static_choices_are_shared_by_every_copy_of_a_form_and_still_validate() -> None:
    choices = StaticChoices([("a", "A"), ("b", "B")], "Choose")

    class Form(forms.Form):
        pick = forms.ChoiceField(choices=choices, widget=FastSelect)

    assert copy.deepcopy(choices) is choices
    assert Form().fields["pick"].choices is choices  # type: ignore[attr-defined]
    assert list(choices) == [("", "Choose"), ("a", "A"), ("b", "B")]
    assert Form({"pick": "b"}).is_valid()
    assert not Form({"pick": "c"}).is_valid()


class Inputs(forms.Form):
    name = forms.CharField(label="Name", max_length=5, help_text="Short")
    email = forms.EmailField()
    password = forms.CharField(widget=forms.PasswordInput)
    secret = forms.CharField(widget=forms.HiddenInput, required=False)
    agree = forms.BooleanField(required=False)
    count = forms.IntegerField(widget=forms.NumberInput(attrs={"step": 15}))
    when = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    note = forms.CharField(widget=forms.Textarea, required=False)


def test_the_fast_renderer_writes_djangos_inputs_and_text_areas() -> None:
    data = {
        "name": 'too "long" <b>',
        "email": "not-an-address",
        "password": "hidden",
        "secret": "a&b",
        "agree": "on",
        "count": "x",
        "when": "2030-01-01T09:00",
        "text": "<script>alert(1)</script>\nline",
    }
    for bound in (None, data):
        ours, theirs = Inputs(bound, renderer=fast_renderer), Inputs(bound)
        for field in ours:
            html = str(field)
            assert html == str(theirs[field.name]), field.name
    ours_html = str(Inputs(data, renderer=fast_renderer)["text"])
    assert "&lt;script&gt;" in ours_html
    assert 'value="hidden"' not in str(Inputs(data, renderer=fast_renderer)["password"])


def render_old(field: Any, **context: Any) -> str:
    return Template(FIELD_TEMPLATE).render(Context({"field": field, **context}))


def render_new(field: Any, **context: Any) -> str:
    return Template('{% include "_field.html" %}').render(Context({"field": field, **context}))


@pytest.mark.django_db
def test_form_field_lays_out_each_field_as_the_old_template_did() -> None:
    cache.clear()
    bad = {"email": "x", "phone": "12", "country": "ZZ", "languages": ["??"], "time_zone": "Mars/Base"}
    forms_to_check: list[forms.Form] = [
        RegistrationForm(),
        RegistrationForm(bad),
        ConferenceRequestForm(),
        ConferenceRequestForm({"title": "", "erns": ["0"], "urgency": "?"}),
        WebinarRequestForm(),
        WebinarRequestForm({"topic": "", "dates": ["yesterday"]}),
    ]
    for form in forms_to_check:
        for field in form:
            if field.is_hidden:
                continue
            same_html(render_new(field), render_old(field))
            same_html(render_new(field, no_optional=True), render_old(field, no_optional=True))
            attrs = mark_safe('data-shown-by="x"')
            same_html(render_new(field, field_attrs=attrs), render_old(field, field_attrs=attrs))
    # Errors, help texts and their ids are there.
    html = render_new(RegistrationForm(bad)["phone"])
    assert (
        'aria-invalid="true"' in html and 'id="id_phone_error"' in html and 'id="id_phone_helptext"' in html
    )


@pytest.mark.django_db
def test_the_cache_reads_through_one_redis_client(monkeypatch: Any) -> None:
    import redis
    from django.core.cache import caches

    from cmss.cache import FailOpenRedisCache

    if not isinstance(caches["default"], FailOpenRedisCache):
        pytest.skip("the tests run without Redis")
    cache.set("widgets-test", 1)
    built = []
    original = redis.Redis.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting)
    for _ in range(5):
        assert cache.get("widgets-test") == 1
    cache.set("widgets-test", 2)
    assert cache.get("widgets-test") == 2
    assert built == []
