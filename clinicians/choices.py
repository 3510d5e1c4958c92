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

# Bump when the shape of ReferenceChoices changes (old pickles are then never read).
_VERSION = 4


@dataclass(frozen=True)
class ReferenceChoices:
    """(value, label) pairs, values as the strings a form sends back. The
    lists that selects show carry their <option>s, rendered when the lists
    were built (StaticChoices.options_html)."""

    countries: StaticChoices  # code, name in the active language, sorted by name
    hospitals: StaticChoices  # country name, (pk, "name, city") of approved hospitals
    specialties: StaticChoices  # every specialty, in the model's order (kind, name)
    active_specialties: StaticChoices  # the ones offered at registration
    languages: StaticChoices  # code, English name
    languages_with_native: StaticChoices  # code, "French (français)"
    erns: StaticChoices  # pk, short name
    erns_with_area: StaticChoices  # pk, "ERN-LUNG — Respiratory diseases"
    # (bit, value) of each ERN and language: a clinician's are read from the
    # bits on their row (Clinician.ern_bits, language_bits), not queried.
    ern_bits: tuple[tuple[int, str], ...]
    language_bits: tuple[tuple[int, str], ...]

    def erns_of(self, bits: int) -> list[str]:
        return [value for bit, value in self.ern_bits if bits >> bit & 1]

    def languages_of(self, bits: int) -> list[str]:
        return [value for bit, value in self.language_bits if bits >> bit & 1]


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
    languages = list(Language.objects.values_list("code", "name", "native_name", "bit"))
    erns = list(ERN.objects.values_list("pk", "name", "full_name", "bit"))
    lists = ReferenceChoices(
        countries=StaticChoices(countries),
        hospitals=StaticChoices(hospitals),
        specialties=StaticChoices(tuple((str(pk), name) for pk, name, _active in specialties)),
        active_specialties=StaticChoices(
            tuple((str(pk), name) for pk, name, active in specialties if active)
        ),
        languages=StaticChoices(tuple((code, name) for code, name, _native, _bit in languages)),
        languages_with_native=StaticChoices(
            tuple((code, _language_label(name, native)) for code, name, native, _bit in languages)
        ),
        erns=StaticChoices(tuple((str(pk), name) for pk, name, _full, _bit in erns)),
        erns_with_area=StaticChoices(tuple((str(pk), f"{name} — {full}") for pk, name, full, _bit in erns)),
        ern_bits=tuple((bit, str(pk)) for pk, _name, _full, bit in erns),
        language_bits=tuple((bit, code) for code, _name, _native, bit in languages),
    )
    for select in (
        lists.countries,
        lists.hospitals,
        lists.specialties,
        lists.active_specialties,
        lists.languages,
    ):
        select.options_html()  # rendered once, and cached with the lists
    for boxes in (lists.languages_with_native, lists.erns, lists.erns_with_area):
        boxes.escaped()
    return lists


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


def with_empty(label: Any, choices: StaticChoices) -> StaticChoices:
    """The choices after a first, empty one ("Choose your country")."""
    return choices.with_empty(label)
