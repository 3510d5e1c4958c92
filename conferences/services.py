"""Provider meetings: store the intent, create it on the video provider from a worker.

- request_meeting() writes the row and enqueues realise_meeting after commit.
- realise_meeting() claims the row with a conditional update, calls the
  provider outside any transaction, and records the outcome on the row: a task
  run twice makes one meeting, and a retry looks for the meeting by our key
  before creating it again.
- cancel_meeting() and retry_meeting() are the operator's moves.
- sweep_meetings() re-enqueues rows whose task never ran and frees rows whose
  worker died while creating.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .models import ProviderMeeting
from .video import (
    Invitee,
    MeetingSpec,
    PermanentVideoError,
    RateLimitedVideoError,
    TransientVideoError,
    get_backend,
)
from .video import ProviderMeeting as RemoteMeeting

logger = logging.getLogger(__name__)

State = ProviderMeeting.State

# How long a freshly queued row waits for its own task before the sweeper
# enqueues it again.
SWEEP_GRACE = timedelta(minutes=2)
# How long a worker may hold a row in `creating` before another may take it over.
LEASE = timedelta(minutes=5)


def _move(
    meeting_id: int, *, source: str | Iterable[str], to: str, where: Q | None = None, **fields: Any
) -> bool:
    """Move a row from `source` to `to` with one conditional UPDATE, only along
    the moves written on the model. False when the row was not in `source`."""
    sources = [source] if isinstance(source, str) else list(source)
    for state in sources:
        if to not in ProviderMeeting.TRANSITIONS[state]:
            raise ValueError(f"A provider meeting cannot move from {state} to {to}.")
    rows = ProviderMeeting.objects.filter(pk=meeting_id, state__in=sources)
    if where is not None:
        rows = rows.filter(where)
    return bool(rows.update(state=to, **fields))


def _cap(delay: timedelta) -> timedelta:
    return min(delay, timedelta(seconds=settings.CELERY_VISIBILITY_TIMEOUT))


def enqueue(meeting_id: int, *, countdown: float | None = None) -> bool:
    """Hand the row to the broker; if the broker is down, leave it to the sweeper.
    Never further ahead than the visibility timeout, or Redis would run it twice."""
    from .tasks import realise_meeting as task

    options: dict[str, Any] = {}
    if countdown:
        options["countdown"] = _cap(timedelta(seconds=countdown)).total_seconds()
    try:
        task.apply_async((meeting_id,), **options)
    except Exception:
        logger.exception("Could not enqueue provider meeting %s; the sweeper will retry", meeting_id)
        return False
    return True


def request_meeting(
    *,
    key: str,
    title: str,
    start: datetime,
    end: datetime,
    time_zone: str,
    agenda: str = "",
    kind: str = ProviderMeeting.Kind.MEETING,
    invitees: Sequence[Invitee] = (),
) -> ProviderMeeting:
    """Store a meeting to create on the provider and create it once the
    transaction commits. The same key twice returns the existing row."""
    if len(key) > 64:
        raise ValueError("A provider meeting key has at most 64 characters.")
    meeting, created = ProviderMeeting.objects.get_or_create(
        key=key,
        defaults={
            "kind": kind,
            "title": title[:200],
            "agenda": agenda,
            "start": start,
            "end": end,
            "time_zone": time_zone,
            "invitees": [_invitee_item(item) for item in invitees],
        },
    )
    if created:
        transaction.on_commit(lambda: enqueue(meeting.pk))
    return meeting


def _invitee_item(invitee: Invitee) -> dict[str, Any]:
    return {
        "email": invitee.email,
        "name": invitee.name,
        "panelist": invitee.panelist,
        "registrant": invitee.registrant,
    }


def _invitees(meeting: ProviderMeeting) -> list[Invitee]:
    return [
        Invitee(
            email=item["email"],
            name=item.get("name", ""),
            panelist=bool(item.get("panelist")),
            registrant=bool(item.get("registrant")),
        )
        for item in meeting.invitees
    ]


def _spec(meeting: ProviderMeeting) -> MeetingSpec:
    """What the provider is asked to create: registrants are added afterwards."""
    return MeetingSpec(
        key=meeting.key,
        title=meeting.title,
        start=meeting.start,
        end=meeting.end,
        time_zone=meeting.time_zone,
        agenda=meeting.agenda,
        kind=meeting.kind,
        invitees=tuple(item for item in _invitees(meeting) if not item.registrant),
    )


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def realise_meeting(*, meeting_id: int, now: datetime | None = None) -> State | None:
    """Create one pending meeting on the provider (or finish its cancellation).
    Returns the new state, or None when another worker has the row or it is not
    due (no provider call is made then). Must not run inside a transaction."""
    now = now or timezone.now()
    claimed = ProviderMeeting.objects.filter(
        Q(state=State.PENDING, next_attempt_at__lte=now) | Q(state=State.CREATING, lease_expires_at__lt=now),
        pk=meeting_id,
    ).update(state=State.CREATING, attempts=F("attempts") + 1, lease_expires_at=now + LEASE)
    if not claimed:
        return _finish_cancel(meeting_id=meeting_id, now=now) or _sync(meeting_id=meeting_id, now=now)
    meeting = ProviderMeeting.objects.get(pk=meeting_id)
    # The attempt number is this worker's claim: a worker whose lease expired
    # and was taken over writes nothing.
    mine = Q(attempts=meeting.attempts)
    backend = get_backend()
    try:
        found: RemoteMeeting | None = None
        if meeting.attempts > 1:
            # An earlier attempt may have made it (a timeout after sending):
            # adopt that one rather than make a second.
            start, end = meeting.search_window()
            found = backend.find_by_key(meeting.key, start=start, end=end)
        if meeting.cancel_requested:
            if found is not None:
                backend.cancel(found.provider_id)
            _move(meeting.pk, source=State.CREATING, to=State.CANCELLED, where=mine, lease_expires_at=None)
            return State.CANCELLED
        made = found or backend.create(_spec(meeting))
    except PermanentVideoError as exc:
        return _record_failure(meeting, exc, now=now, permanent=True)
    except TransientVideoError as exc:
        return _record_failure(meeting, exc, now=now, permanent=False)
    return _record_created(meeting, made, now=now)


def _record_created(meeting: ProviderMeeting, made: RemoteMeeting, *, now: datetime) -> State | None:
    mine = Q(attempts=meeting.attempts)
    sent = [item.email for item in _spec(meeting).invitees]
    with transaction.atomic():
        created = _move(
            meeting.pk,
            source=State.CREATING,
            to=State.CREATED,
            where=mine & Q(cancel_requested=False),
            provider_id=made.provider_id,
            join_url=made.join_url,
            lease_expires_at=None,
            last_error="",
            tracking_id="",
            synced_version=meeting.version,
            provider_invitees=sent,
            next_attempt_at=now,
        )
        if created:
            if any(item.registrant for item in _invitees(meeting)):
                # Registrants are added once the webinar exists: a change to push.
                ProviderMeeting.objects.filter(pk=meeting.pk).update(version=F("version") + 1)
            # In the same transaction as the move: the owner's emails (the
            # invitations with the join link) are written exactly once.
            _run_created_hooks(ProviderMeeting.objects.get(pk=meeting.pk))
    if created:
        if ProviderMeeting.objects.filter(pk=meeting.pk, synced_version__lt=F("version")).exists():
            ProviderMeeting.objects.filter(pk=meeting.pk).update(attempts=0)
            enqueue(meeting.pk)  # changed while being created, or registrants to add
        return State.CREATED
    current = ProviderMeeting.objects.get(pk=meeting.pk)
    if current.state != State.CREATING or current.attempts != meeting.attempts:
        return None  # another worker took the row over; it will adopt this meeting by key
    # Cancelled while we were creating: take it off the provider again.
    try:
        get_backend().cancel(made.provider_id)
    except (PermanentVideoError, TransientVideoError) as exc:
        # Keep what was made so the cancellation can be finished later.
        delay = current.backoff()
        _move(
            meeting.pk,
            source=State.CREATING,
            to=State.CREATED,
            where=mine,
            provider_id=made.provider_id,
            join_url=made.join_url,
            lease_expires_at=None,
            last_error=_error_text(exc),
            tracking_id=exc.tracking_id,
            next_attempt_at=now + delay,
        )
        enqueue(meeting.pk, countdown=delay.total_seconds())
        return State.CREATED
    _move(
        meeting.pk,
        source=State.CREATING,
        to=State.CANCELLED,
        where=mine,
        provider_id=made.provider_id,
        join_url="",
        lease_expires_at=None,
    )
    return State.CANCELLED


def _record_failure(
    meeting: ProviderMeeting, exc: Exception, *, now: datetime, permanent: bool
) -> State | None:
    error = _error_text(exc)
    tracking_id = getattr(exc, "tracking_id", "")
    mine = Q(attempts=meeting.attempts)
    if permanent or meeting.attempts >= ProviderMeeting.MAX_ATTEMPTS:
        logger.error("Provider meeting %s failed for good: %s", meeting.pk, error)
        moved = _move(
            meeting.pk,
            source=State.CREATING,
            to=State.FAILED,
            where=mine,
            last_error=error,
            tracking_id=tracking_id,
            lease_expires_at=None,
        )
        return State.FAILED if moved else None
    retry_after = exc.retry_after if isinstance(exc, RateLimitedVideoError) else None
    delay = meeting.backoff(retry_after=retry_after)
    logger.warning(
        "Provider meeting %s failed (attempt %s), retrying in %s: %s",
        meeting.pk,
        meeting.attempts,
        delay,
        error,
    )
    moved = _move(
        meeting.pk,
        source=State.CREATING,
        to=State.PENDING,
        where=mine,
        last_error=error,
        tracking_id=tracking_id,
        lease_expires_at=None,
        next_attempt_at=now + delay,
    )
    if not moved:
        return None
    enqueue(meeting.pk, countdown=delay.total_seconds())
    return State.PENDING


def _finish_cancel(*, meeting_id: int, now: datetime) -> State | None:
    """Cancel on the provider a created meeting whose cancellation was asked for.
    Cancelling twice is harmless on the provider, so no claim is needed."""
    meeting = ProviderMeeting.objects.filter(
        pk=meeting_id, state=State.CREATED, cancel_requested=True, next_attempt_at__lte=now
    ).first()
    if meeting is None:
        return None
    try:
        get_backend().cancel(meeting.provider_id)
    except (PermanentVideoError, TransientVideoError) as exc:
        delay = meeting.backoff()
        ProviderMeeting.objects.filter(pk=meeting.pk, state=State.CREATED).update(
            attempts=F("attempts") + 1,
            last_error=_error_text(exc),
            tracking_id=exc.tracking_id,
            next_attempt_at=now + delay,
        )
        enqueue(meeting.pk, countdown=delay.total_seconds())
        return State.CREATED
    _move(meeting.pk, source=State.CREATED, to=State.CANCELLED, join_url="")
    return State.CANCELLED


def cancel_meeting(*, meeting: ProviderMeeting) -> State:
    """Cancel a meeting wherever it is in its life. Returns the state it is in
    now; a meeting that may exist on the provider is cancelled there by the task."""
    now = timezone.now()
    # Never sent to the provider: nothing to take off it.
    if _move(
        meeting.pk, source=State.PENDING, to=State.CANCELLED, where=Q(attempts=0), cancel_requested=True
    ):
        return State.CANCELLED
    # An earlier attempt may have made it: the task looks for it by key and cancels it.
    if ProviderMeeting.objects.filter(pk=meeting.pk, state=State.PENDING).update(
        cancel_requested=True, next_attempt_at=now
    ) or _move(meeting.pk, source=State.FAILED, to=State.PENDING, cancel_requested=True, next_attempt_at=now):
        transaction.on_commit(lambda: enqueue(meeting.pk))
        return State.PENDING
    # A worker is creating it right now: it cancels what it made.
    if ProviderMeeting.objects.filter(pk=meeting.pk, state=State.CREATING).update(cancel_requested=True):
        return State.CREATING
    if ProviderMeeting.objects.filter(pk=meeting.pk, state=State.CREATED).update(
        cancel_requested=True, next_attempt_at=now
    ):
        transaction.on_commit(lambda: enqueue(meeting.pk))
        return State.CREATED
    return State(ProviderMeeting.objects.values_list("state", flat=True).get(pk=meeting.pk))


def retry_meeting(*, meeting: ProviderMeeting) -> bool:
    """Put a failed meeting back in the queue (the operator's retry). It counts
    as tried once, so the next attempt looks for the meeting by key first and
    has the remaining attempts."""
    moved = _move(
        meeting.pk,
        source=State.FAILED,
        to=State.PENDING,
        attempts=1,
        next_attempt_at=timezone.now(),
        lease_expires_at=None,
    ) or bool(
        ProviderMeeting.objects.filter(pk=meeting.pk, state=State.CREATED, sync_failed=True).update(
            sync_failed=False, attempts=1, next_attempt_at=timezone.now(), lease_expires_at=None
        )
    )
    if moved:
        transaction.on_commit(lambda: enqueue(meeting.pk))
    return moved


def sweep_meetings(*, now: datetime | None = None, limit: int = 500) -> int:
    """Free rows whose lease expired and enqueue rows that are overdue.
    Returns how many rows were enqueued."""
    now = now or timezone.now()
    ProviderMeeting.objects.filter(state=State.CREATING, lease_expires_at__lt=now).update(
        state=State.PENDING, lease_expires_at=None, last_error="Worker lease expired; retrying."
    )
    due = ProviderMeeting.objects.filter(
        Q(state=State.PENDING)
        | Q(state=State.CREATED, cancel_requested=True)
        | Q(state=State.CREATED, sync_failed=False, synced_version__lt=F("version")),
        next_attempt_at__lte=now - SWEEP_GRACE,
    ).values_list("pk", flat=True)[:limit]
    return sum(1 for pk in list(due) if enqueue(pk))


# What the owner of a meeting does once it exists on the provider (send the
# invitations with the join link), by key prefix: "conference-12" → "conference".
_CREATED_HOOKS: dict[str, Callable[[ProviderMeeting], None]] = {}


def on_created(prefix: str, hook: Callable[[ProviderMeeting], None]) -> None:
    _CREATED_HOOKS[prefix] = hook


def _run_created_hooks(meeting: ProviderMeeting) -> None:
    hook = _CREATED_HOOKS.get(meeting.key.split("-", 1)[0])
    if hook is not None:
        hook(meeting)


def update_meeting(
    *,
    meeting: ProviderMeeting,
    title: str | None = None,
    agenda: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> None:
    """Change a meeting wherever it is in its life: before creation the create
    uses the new values; after it, a worker updates the provider."""
    fields: dict[str, Any] = {}
    if title is not None:
        fields["title"] = title[:200]
    if agenda is not None:
        fields["agenda"] = agenda
    if start is not None:
        fields["start"] = start
    if end is not None:
        fields["end"] = end
    _bump(meeting, **fields)


def add_meeting_invitee(*, meeting: ProviderMeeting, invitee: Invitee) -> None:
    """Invite someone (or register them for a webinar): added on the provider
    once the meeting exists there."""
    current = ProviderMeeting.objects.select_for_update().get(pk=meeting.pk)
    if any(item["email"].lower() == invitee.email.lower() for item in current.invitees):
        return
    _bump(current, invitees=[*current.invitees, _invitee_item(invitee)])


def remove_meeting_invitee(*, meeting: ProviderMeeting, email: str) -> None:
    """Forget an invitee. The adapter has no call to take someone off a
    provider meeting: the person's own cancellation email tells them."""
    current = ProviderMeeting.objects.select_for_update().get(pk=meeting.pk)
    kept = [item for item in current.invitees if item["email"].lower() != email.lower()]
    if kept != current.invitees:
        ProviderMeeting.objects.filter(pk=meeting.pk).update(invitees=kept)


def _bump(meeting: ProviderMeeting, **fields: Any) -> None:
    now = timezone.now()
    ProviderMeeting.objects.filter(pk=meeting.pk).update(version=F("version") + 1, **fields)
    if ProviderMeeting.objects.filter(pk=meeting.pk, state=State.CREATED, cancel_requested=False).update(
        next_attempt_at=now, attempts=0
    ):
        transaction.on_commit(lambda: enqueue(meeting.pk))


def _sync(*, meeting_id: int, now: datetime) -> State | None:
    """Bring a created meeting on the provider up to date with its row: times,
    title and agenda, then the invitees and registrants not sent yet. Claimed
    with a lease like a create, so two workers never push the same change."""
    claimed = ProviderMeeting.objects.filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now),
        pk=meeting_id,
        state=State.CREATED,
        cancel_requested=False,
        sync_failed=False,
        synced_version__lt=F("version"),
        next_attempt_at__lte=now,
    ).update(attempts=F("attempts") + 1, lease_expires_at=now + LEASE)
    if not claimed:
        return None
    meeting = ProviderMeeting.objects.get(pk=meeting_id)
    mine = Q(pk=meeting.pk, attempts=meeting.attempts)
    backend = get_backend()
    sent = list(meeting.provider_invitees)
    try:
        backend.update(meeting.provider_id, _spec(meeting))
        for invitee in _invitees(meeting):
            if invitee.email.lower() in {item.lower() for item in sent}:
                continue
            if invitee.registrant:
                backend.add_registrant(meeting.provider_id, invitee)
            else:
                backend.add_invitee(meeting.provider_id, invitee)
            sent.append(invitee.email)
    except (PermanentVideoError, TransientVideoError) as exc:
        permanent = isinstance(exc, PermanentVideoError) or meeting.attempts >= ProviderMeeting.MAX_ATTEMPTS
        retry_after = exc.retry_after if isinstance(exc, RateLimitedVideoError) else None
        delay = meeting.backoff(retry_after=retry_after)
        ProviderMeeting.objects.filter(mine).update(
            provider_invitees=sent,
            last_error=_error_text(exc),
            tracking_id=exc.tracking_id,
            lease_expires_at=None,
            sync_failed=permanent,
            next_attempt_at=now + delay,
        )
        if permanent:
            logger.error("Provider meeting %s could not be updated: %s", meeting.pk, exc)
        else:
            enqueue(meeting.pk, countdown=delay.total_seconds())
        return State.CREATED
    ProviderMeeting.objects.filter(mine).update(
        synced_version=meeting.version,
        provider_invitees=sent,
        last_error="",
        tracking_id="",
        lease_expires_at=None,
        attempts=0,
    )
    return State.CREATED
