"""Reminders 24 hours and 1 hour before a conference or webinar starts.

A beat task sweeps every few minutes. Each source (conferences, webinars)
registers a function that lists who should be reminded of what starts in a
window; the sweep writes one outbox row per (item, person, reminder kind, start
time): the dedup key makes each reminder go out once however often the sweep
runs, and a moved meeting (new start time) gets fresh ones.

A reminder is due from `lead` before the start until `grace` after that, so a
sweep that was down for a while still sends it, and a meeting scheduled at the
last minute does not get a "tomorrow" reminder right after its invitation
(nor anyone invited or registered after the reminder's moment).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from cmss.outbox import Attachment, queue_templated_email

if TYPE_CHECKING:
    from cmss.models import User


@dataclass(frozen=True)
class Kind:
    name: str
    lead: timedelta
    grace: timedelta


KINDS = (
    Kind("24h", lead=timedelta(hours=24), grace=timedelta(hours=6)),
    Kind("1h", lead=timedelta(hours=1), grace=timedelta(minutes=30)),
)


@dataclass(frozen=True)
class Reminder:
    """Remind `user` of `item` (e.g. "conference-12") starting at `start`."""

    item: str
    user: User
    start: datetime
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()
    # When the person was invited or registered: someone told after the
    # reminder's moment (scheduled 20 hours ahead) needs no "tomorrow" reminder.
    since: datetime | None = None


# A source lists the reminders for items starting in [window_start, window_end].
Source = Callable[[datetime, datetime], Iterable[Reminder]]
_SOURCES: dict[str, Source] = {}


def register(name: str, source: Source) -> None:
    _SOURCES[name] = source


def dedup_key(reminder: Reminder, kind: Kind) -> str:
    start = reminder.start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"reminder:{reminder.item}:{reminder.user.pk}:{kind.name}:{start}"


def sweep(*, now: datetime | None = None) -> int:
    """Queue the reminders now due. Returns how many rows were looked at."""
    now = now or timezone.now()
    count = 0
    for kind in KINDS:
        window_start = now + kind.lead - kind.grace
        window_end = now + kind.lead
        for source in _SOURCES.values():
            for reminder in source(window_start, window_end):
                if not (window_start <= reminder.start <= window_end):
                    continue
                if reminder.since is not None and reminder.since > reminder.start - kind.lead:
                    continue
                with transaction.atomic():
                    queue_templated_email(
                        user=reminder.user,
                        template=reminder.template,
                        context={**reminder.context, "reminder": kind.name},
                        dedup_key=dedup_key(reminder, kind),
                        attachments=reminder.attachments,
                    )
                count += 1
    return count
