"""The option lists of reference data, built once per language and generation.

The forms of registration, the profile, the directory and the conference and
webinar requests offer the same lists: countries (their names translated),
approved hospitals grouped by country, specialties, languages and ERNs. Built
per request they cost a query and a few hundred translations each; here they
are built once per language and cached under the "reference" topic
(cmss/fragments.py), whose generation is bumped whenever a row of these models
changes (clinicians/apps.py). Only (value, label) pairs are cached: a viewer's
selection is rendered by the widget, never stored here. A ModelChoiceField
still validates what is sent against its queryset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cmss import fragments
from cmss.widgets import StaticChoices

from .countries import NetworkCountries
from .models import ERN, Hospital, Language, Specialty

Choices = tuple[tuple[str, str], ...]
GroupedChoices = tuple[tuple[str, Choices], ...]

# Bump when the shape of ReferenceChoices changes (old pickles are then never read).
_VERSION = 1


@dataclass(frozen=True)
class ReferenceChoices:
    """(value, label) pairs, values as the strings a form sends back."""

    countries: Choices  # code, name in the active language, sorted by name
    hospitals: GroupedChoices  # country name, (pk, "name, city") of approved hospitals
    specialties: Choices  # every specialty, in the model's order (kind, name)
    active_specialties: Choices  # the ones offered at registration
    languages: Choices  # code, English name
    languages_with_native: Choices  # code, "French (français)"
    erns: Choices  # pk, short name
    erns_with_area: Choices  # pk, "ERN-LUNG — Respiratory diseases"


def _language_label(name: str, native: str) -> str:
    return name if name == native else f"{name} ({native})"


def _build() -> ReferenceChoices:
    countries = tuple((str(code), str(name)) for code, name in NetworkCountries())
    names = dict(countries)
    groups: dict[str, list[tuple[str, str]]] = {}
    for pk, name, city, country in Hospital.objects.approved().values_list("pk", "name", "city", "country"):
        groups.setdefault(str(country), []).append((str(pk), f"{name}, {city}"))
    hospitals = tuple(
        (names.get(code, code), tuple(groups[code])) for code in sorted(groups, key=lambda c: names.get(c, c))
    )
    specialties = list(Specialty.objects.values_list("pk", "name", "active"))
    languages = list(Language.objects.values_list("code", "name", "native_name"))
    erns = list(ERN.objects.values_list("pk", "name", "full_name"))
    return ReferenceChoices(
        countries=countries,
        hospitals=hospitals,
        specialties=tuple((str(pk), name) for pk, name, _active in specialties),
        active_specialties=tuple((str(pk), name) for pk, name, active in specialties if active),
        languages=tuple((code, name) for code, name, _native in languages),
        languages_with_native=tuple(
            (code, _language_label(name, native)) for code, name, native in languages
        ),
        erns=tuple((str(pk), name) for pk, name, _full in erns),
        erns_with_area=tuple((str(pk), f"{name} — {full}") for pk, name, full in erns),
    )


def hospital_saved(sender: Any, instance: Hospital, created: bool, **kwargs: Any) -> None:
    """The lists show approved hospitals only: one proposed at registration
    changes none of them until it is approved (a save that bumps)."""
    if not (created and not instance.approved):
        fragments.bump("reference")


def hospital_deleted(sender: Any, instance: Hospital, **kwargs: Any) -> None:
    if instance.approved:  # not a proposed one merged into a listed one
        fragments.bump("reference")


def reference_choices() -> ReferenceChoices:
    """The option lists in the active language, as the reference data is now."""
    return fragments.cached(("reference",), ("choices", _VERSION), _build, per_zone=False)


def with_empty(label: Any, choices: Any) -> StaticChoices:
    """The choices after a first, empty one ("Choose your country")."""
    return StaticChoices(choices, label)
