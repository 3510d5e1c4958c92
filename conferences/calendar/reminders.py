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

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from cmss.models import OutgoingEmail
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
    """Queue the reminders now due that were not queued yet. Returns how many
    were queued. A reminder stays in its window for hours and the sweep runs
    every few minutes: the keys already in the outbox are looked up in bulk, so
    each email is rendered once, not on every sweep."""
    now = now or timezone.now()
    queued = 0
    for kind in KINDS:
        window_start = now + kind.lead - kind.grace
        window_end = now + kind.lead
        for source in _SOURCES.values():
            due = (
                reminder
                for reminder in source(window_start, window_end)
                if window_start <= reminder.start <= window_end
                and (reminder.since is None or reminder.since <= reminder.start - kind.lead)
            )
            for batch in _batches(due, 500):
                keys = {dedup_key(reminder, kind): reminder for reminder in batch}
                sent = set(
                    OutgoingEmail.objects.filter(dedup_key__in=list(keys)).values_list("dedup_key", flat=True)
                )
                for key, reminder in keys.items():
                    if key in sent:
                        continue
                    with transaction.atomic():
                        queue_templated_email(
                            user=reminder.user,
                            template=reminder.template,
                            context={**reminder.context, "reminder": kind.name},
                            dedup_key=key,
                            attachments=reminder.attachments,
                        )
                    queued += 1
    return queued


def _batches(items: Iterable[Reminder], size: int) -> Iterator[list[Reminder]]:
    batch: list[Reminder] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
