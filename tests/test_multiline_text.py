"""Every text area of the project takes what people paste into it: paragraphs,
Windows line breaks, tabs, accents and other scripts.

The text areas are found, not listed: every form class defined in the
project's packages and every admin form and inline, so a new one is covered
the day it is written."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest
from django import forms
from django.contrib import admin
from django.test import RequestFactory

from cmss.models import User

PACKAGES = ["cmss", "clinicians", "helpdesk", "conferences", "demo"]

PASTED = (
    "Patientin, 54 Jahre, Fabry-Krankheit.\r\n"
    "\r\n"
    "Day 3: fièvre 39,2 °C, SpO₂ 88 % — ŁÓDŹ protocol, 中文 note, Ελληνικά.\n"
    "\tIndented line after a tab.\n"
    "- a list item\n"
    "- another"
)


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def project_form_classes() -> list[type[forms.BaseForm]]:
    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            if ".migrations" not in info.name and ".management" not in info.name:
                importlib.import_module(info.name)
    found = {
        cls
        for cls in _subclasses(forms.BaseForm)
        if cls.__module__.split(".", 1)[0] in PACKAGES and "base_fields" in dir(cls)
    }
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def textareas(form_class: type[forms.BaseForm]) -> list[tuple[str, forms.Field]]:
    return [
        (name, field)
        # django-stubs declares base_fields on Form and ModelForm; BaseForm reads it too.
        for name, field in form_class.base_fields.items()  # type: ignore[attr-defined]
        if isinstance(field.widget, forms.Textarea)
    ]


def admin_form_classes() -> list[tuple[str, type[forms.BaseForm]]]:
    request = RequestFactory().get("/admin/")
    request.user = User(email="root@example.org", is_staff=True, is_superuser=True, is_active=True)
    result: list[tuple[str, type[forms.BaseForm]]] = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        result.append((label, model_admin.get_form(request)))
        for inline in model_admin.get_inline_instances(request):
            result.append((f"{label} inline {inline.model._meta.label}", inline.get_formset(request).form))
    return result


def test_the_project_has_text_areas_to_check() -> None:
    # Guard against a discovery that silently finds nothing.
    names = {f"{cls.__name__}.{name}" for cls in project_form_classes() for name, _ in textareas(cls)}
    assert {"ConferenceRequestForm.case_summary", "ConferenceRequestForm.question", "ReplyForm.body"} <= names


@pytest.mark.parametrize(
    "form_class",
    [cls for cls in project_form_classes() if textareas(cls)],
    ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
)
def test_every_text_area_of_every_form_keeps_pasted_paragraphs(form_class: type[forms.BaseForm]) -> None:
    for name, field in textareas(form_class):
        cleaned = field.clean(PASTED)
        assert "\n\n" in cleaned.replace("\r\n", "\n"), f"{form_class.__name__}.{name} lost the line breaks"
        assert "\t" in cleaned and "中文" in cleaned


@pytest.mark.django_db
def test_every_text_area_of_every_admin_form_keeps_pasted_paragraphs() -> None:
    checked: list[str] = []
    refused: list[str] = []
    for label, form_class in admin_form_classes():
        for name, field in textareas(form_class):
            checked.append(f"{label}.{name}")
            try:
                field.clean(PASTED)
            except forms.ValidationError as error:
                refused.append(f"{label}.{name}: {error.messages}")
    assert refused == []
    assert "helpdesk.CannedReply.body" in checked and "conferences.Webinar.description" in checked


@pytest.mark.parametrize("control", ["\x00", "\x07", "\u202e", "\u200b"])
def test_invisible_control_characters_are_still_refused_in_text_areas(control: str) -> None:
    from conferences.cases.forms import ConferenceRequestForm

    field: Any = ConferenceRequestForm.base_fields["case_summary"]
    with pytest.raises(forms.ValidationError):
        field.clean(f"Day 3{control}: fever")
