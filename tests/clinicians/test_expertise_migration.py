"""Migration 0005: ERNs and languages get a bit each, and the clinicians already
registered get their memberships, languages and time zone copied onto their row,
so that the suggested experts rank them at once (and back: the copies go)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import translation

from clinicians.models import ERN, Clinician, Language
from conferences import experts
from tests.factories import HospitalFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("clinicians", "0004_directory")]
AFTER = [("clinicians", "0005_expertise_bits")]
SLOT = datetime(2030, 3, 12, 9, 0, tzinfo=ZoneInfo("Europe/Brussels"))  # a Tuesday


def migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_apps() -> Iterator[Any]:
    try:
        yield migrate(BEFORE)
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def registered(apps: Any, email: str, *, zone: str, erns: list[str], languages: list[str]) -> int:
    users, clinicians = apps.get_model("cmss", "User"), apps.get_model("clinicians", "Clinician")
    user = users.objects.create(email=email, time_zone=zone)
    person = clinicians.objects.create(
        user=user,
        first_name=email.split("@")[0].title(),
        last_name="Before",
        phone="+3222990011",
        country="FR",
        hospital_id=HospitalFactory.create().pk,
        profession="physician",
        specialty=apps.get_model("clinicians", "Specialty").objects.get(name="Cardiology"),
        status="verified",
    )
    person.erns.set(apps.get_model("clinicians", "ERN").objects.filter(code__in=erns))
    person.languages.set(apps.get_model("clinicians", "Language").objects.filter(code__in=languages))
    return int(person.pk)


def test_the_clinicians_registered_before_are_ranked_by_what_their_profile_says(old_apps: Any) -> None:
    paris = registered(
        old_apps, "lea@hospital.example.org", zone="Europe/Paris", erns=["ern-lung"], languages=["fr", "en"]
    )
    tokyo = registered(
        old_apps,
        "ken@hospital.example.org",
        zone="Asia/Tokyo",
        erns=["ern-lung", "ern-ithaca"],
        languages=["ja"],
    )

    migrate(AFTER)

    # Bits in the order of the codes; the copies as the profiles say.
    assert list(ERN.objects.order_by("bit").values_list("code", flat=True)[:3]) == [
        "endo-ern",
        "erknet",
        "ern-bond",
    ]
    assert list(Language.objects.order_by("bit").values_list("code", flat=True)) == sorted(
        Language.objects.values_list("code", flat=True)
    )
    lea, ken = Clinician.objects.get(pk=paris), Clinician.objects.get(pk=tokyo)
    lung, ithaca = ERN.objects.get(code="ern-lung"), ERN.objects.get(code="ern-ithaca")
    assert (lea.time_zone, ken.time_zone) == ("Europe/Paris", "Asia/Tokyo")
    assert lea.ern_bits == 1 << lung.bit
    assert ken.ern_bits == (1 << lung.bit) | (1 << ithaca.bit)
    french, english = Language.objects.get(code="fr"), Language.objects.get(code="en")
    assert lea.language_bits == (1 << french.bit) | (1 << english.bit)
    with translation.override("en"):
        found = experts.suggest_experts(
            erns=[lung, ithaca], specialties=[], language=french, slots=[SLOT], exclude_clinicians=[]
        )
    assert [(item.clinician.pk, item.score, item.why) for item in found] == [
        (tokyo, 90, "ERN ITHACA member · ERN LUNG member · 5 p.m. their time"),  # no French
        (paris, 70, "ERN LUNG member · speaks French · 9 a.m. their time"),
    ]


def test_the_index_the_ranking_reads_comes_and_goes_with_the_migration(old_apps: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("The GIN index is PostgreSQL's.")

    def indexed() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'clinician_ern_bits_gin'")
            return cursor.fetchone() is not None

    assert not indexed()
    migrate(AFTER)
    assert indexed()
    with connection.cursor() as cursor:
        cursor.execute("SELECT clinician_bits_set(%s)", [(1 << 62) | 8 | 1])
        assert cursor.fetchone()[0] == [0, 3, 62]
    migrate(BEFORE)
    assert not indexed()
