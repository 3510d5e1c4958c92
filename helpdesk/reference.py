"""The Commission's public holidays in Brussels for 2026 and 2027 (seed data;
supervisors maintain the table in the admin). Loaded by a data migration and
after every migrate, adding only the days that are missing."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS

HOLIDAYS: list[tuple[date, str]] = [
    (date(2026, 1, 1), "New Year's Day"),
    (date(2026, 1, 2), "Day after New Year's Day"),
    (date(2026, 4, 2), "Maundy Thursday"),
    (date(2026, 4, 3), "Good Friday"),
    (date(2026, 4, 6), "Easter Monday"),
    (date(2026, 5, 1), "Labour Day"),
    (date(2026, 5, 9), "Anniversary of the Schuman Declaration"),
    (date(2026, 5, 14), "Ascension Day"),
    (date(2026, 5, 15), "Day after Ascension Day"),
    (date(2026, 5, 25), "Whit Monday"),
    (date(2026, 7, 21), "Belgian National Day"),
    (date(2026, 8, 15), "Assumption"),
    (date(2026, 11, 1), "All Saints' Day"),
    (date(2026, 11, 2), "All Souls' Day"),
    *[(date(2026, 12, day), "Christmas closure") for day in range(24, 32)],
    (date(2027, 1, 1), "New Year's Day"),
    (date(2027, 3, 25), "Maundy Thursday"),
    (date(2027, 3, 26), "Good Friday"),
    (date(2027, 3, 29), "Easter Monday"),
    (date(2027, 5, 1), "Labour Day"),
    (date(2027, 5, 6), "Ascension Day"),
    (date(2027, 5, 7), "Day after Ascension Day"),
    (date(2027, 5, 9), "Anniversary of the Schuman Declaration"),
    (date(2027, 5, 17), "Whit Monday"),
    (date(2027, 7, 21), "Belgian National Day"),
    (date(2027, 8, 15), "Assumption"),
    (date(2027, 11, 1), "All Saints' Day"),
    (date(2027, 11, 2), "All Souls' Day"),
    *[(date(2027, 12, day), "Christmas closure") for day in range(24, 32)],
]


def load_holidays(apps: Any = global_apps, using: str = DEFAULT_DB_ALIAS) -> None:
    Holiday = apps.get_model("helpdesk", "Holiday")
    have = set(Holiday.objects.using(using).values_list("date", flat=True))
    Holiday.objects.using(using).bulk_create(
        [Holiday(date=day, name=name) for day, name in HOLIDAYS if day not in have]
    )


def load_after_migrate(sender: Any, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    load_holidays(using=using)
