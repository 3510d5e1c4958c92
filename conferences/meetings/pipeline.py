"""Provider meetings: store the intent, create it on the video provider from a worker.

- request_meeting() writes the row and enqueues realise_meeting after commit.
- realise_meeting() claims the row with a conditional update that sets a lease
  token of its own, calls the provider outside any transaction, and records the
  outcome on the row with updates conditional on that token: a task run twice
  makes one meeting, and a retry looks for the meeting by our key, around every
  start a create was sent with, before creating it again.
- Later changes are written on the rows first: update_meeting on this row;
  add_meeting_invitee, remove_meeting_invitee and forget_address (erasure) on
  MeetingInvitee rows (conferences.meetings.invitees). The same task brings the
  provider up to date (conferences.meetings.sync), updating the meeting only when its fields changed,
  then removing who left and adding who is new, a batch at a time, renewing its
  lease as it goes and handing over to a fresh task when its time budget is spent.
- on_created(owner, hook): what the meeting's owner (ProviderMeeting.owner:
  "conference", "webinar") does once it exists, in the transaction that records it.
- cancel_meeting() and retry_meeting() are the operator's moves.
- sweep_meetings() re-enqueues rows whose task never ran and frees rows whose
  worker died while creating.
- Failures: transient ones retry with backoff up to JOBS_MAX_ATTEMPTS; "429 Too
  Many Requests" waits the larger of Retry-After and the backoff and counts against
  MAX_RATE_LIMITED instead; permanent ones show in the admin with a retry.

The lease, the backoff, the attempts, the sweep and enqueueing with a fallback to
the sweeper are cmss.jobs's, shared with the outbox (JOBS_* settings).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from cmss import jobs

from ..models import ProviderMeeting
from ..video import (
    Invitee,
    MeetingSpec,
    PermanentVideoError,
    RateLimitedVideoError,
    TransientVideoError,
    VideoBackend,
    VideoError,
    get_backend,
)
from ..video import ProviderMeeting as RemoteMeeting
from . import invitees as roster
from .invitees import (  # noqa: F401 (the services call them here)
    add_meeting_invitee,
    forget_address,
    purge_meeting_invitees,
    remove_meeting_invitee,
)

logger = logging.getLogger(__name__)

State = ProviderMeeting.State


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


def enqueue(meeting_id: int, *, countdown: float | None = None) -> bool:
    """Hand the row to the broker (cmss.jobs: never further ahead than the visibility
    timeout; if the broker is down, the sweeper enqueues it later)."""
    from ..tasks import realise_meeting

    return jobs.enqueue(realise_meeting, meeting_id, countdown=countdown, what="provider meeting")


def claim_token(now: datetime) -> tuple[uuid.UUID, datetime]:
    """A worker's claim on a row and when its lease ends (cmss.jobs)."""
    token, expires = jobs.new_lease(now)
    return uuid.UUID(token), expires


def request_meeting(
    *,
    key: str,
    title: str,
    start: datetime,
    end: datetime,
    time_zone: str,
    agenda: str = "",
    kind: str = ProviderMeeting.Kind.MEETING,
    owner: str = "",
    invitees: Sequence[Invitee] = (),
) -> ProviderMeeting:
    """Store a meeting to create on the provider and create it once the
    transaction commits. The same key twice returns the existing row. `owner`
    ("conference", "webinar") picks the on_created hook run once it exists."""
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
            "owner": owner,
        },
    )
    if created:
        roster.add_initial_invitees(meeting, invitees)
        transaction.on_commit(lambda: enqueue(meeting.pk))
    return meeting


def spec_of(meeting: ProviderMeeting, carried: tuple[Invitee, ...] = ()) -> MeetingSpec:
    """What the provider is asked to create (with the invitees it carries; registrants
    are added afterwards) or to change (title, agenda, times: never the invitees)."""
    return MeetingSpec(
        key=meeting.key,
        title=meeting.title,
        start=meeting.start,
        end=meeting.end,
        time_zone=meeting.time_zone,
        agenda=meeting.agenda,
        kind=meeting.kind,
        invitees=carried,
    )


def error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def realise_meeting(*, meeting_id: int, now: datetime | None = None) -> State | None:
    """Create one pending meeting on the provider (or finish its cancellation, or
    bring a created one up to date). Returns the new state, or None when another
    worker has the row or it is not due (no provider call is made then). Must
    not run inside a transaction."""
    from .sync import sync_meeting

    now = now or timezone.now()
    token, expires = claim_token(now)
    claimed = ProviderMeeting.objects.filter(
        Q(state=State.PENDING, next_attempt_at__lte=now) | Q(state=State.CREATING, lease_expires_at__lt=now),
        pk=meeting_id,
    ).update(state=State.CREATING, attempts=F("attempts") + 1, lease_expires_at=expires, lease_token=token)
    if not claimed:
        return _finish_cancel(meeting_id=meeting_id, now=now) or sync_meeting(meeting_id=meeting_id, now=now)
    meeting = ProviderMeeting.objects.get(pk=meeting_id)
    # The token is this worker's claim: a worker whose lease expired and was
    # taken over writes nothing.
    mine = Q(lease_token=token)
    backend = get_backend()
    try:
        found: RemoteMeeting | None = None
        if meeting.sent_creates or meeting.attempts > 1:
            # An earlier attempt may have made it (a timeout after sending), perhaps
            # at a start the row has left since: adopt that one rather than make a second.
            found = _find(backend, meeting)
        if meeting.cancel_requested:
            if found is not None:
                backend.cancel(found.provider_id)
            _cancelled(meeting.pk, source=State.CREATING, where=mine)
            return State.CANCELLED
        if found is not None:
            made = found
            digest = meeting.fields_digest()
            if not meeting.sent_creates or any(item["digest"] != digest for item in meeting.sent_creates):
                # Moved or renamed since that create was sent: bring it up to date.
                made = backend.update(found.provider_id, spec_of(meeting))
        else:
            made = backend.create(spec_of(meeting, _note_create(meeting, mine)))
    except PermanentVideoError as exc:
        return _record_failure(meeting, exc, now=now, permanent=True, mine=mine)
    except TransientVideoError as exc:
        return _record_failure(meeting, exc, now=now, permanent=False, mine=mine)
    return _record_created(meeting, made, now=now, token=token)


# What a worker writes when it lets go of its row.
RELEASED: dict[str, Any] = {"lease_expires_at": None, "lease_token": None}


def _cancelled(meeting_id: int, *, source: str, where: Q | None = None, **fields: Any) -> bool:
    """Move a row to cancelled: no longer on the provider, so no join link and nobody
    left to take off it."""
    moved = _move(meeting_id, source=source, to=State.CANCELLED, where=where, join_url="", **fields)
    if moved:
        roster.drop_removed(meeting_id)
    return moved


def _find(backend: VideoBackend, meeting: ProviderMeeting) -> RemoteMeeting | None:
    """The meeting an earlier create made with our key, wherever the row's start was then."""
    for start, end in meeting.search_windows():
        found = backend.find_by_key(meeting.key, start=start, end=end)
        if found is not None:
            return found
    return None


def _note_create(meeting: ProviderMeeting, mine: Q) -> tuple[Invitee, ...]:
    """Row first: before a create is sent, note its start and fields (where a retry
    looks for it, and whether what it finds needs an update) and the invitees it
    carries (who may be on the provider from now on); returns those invitees."""
    sent = {"start": meeting.start.isoformat(), "digest": meeting.fields_digest()}
    if sent not in meeting.sent_creates:
        meeting.sent_creates = [*meeting.sent_creates, sent]
    ProviderMeeting.objects.filter(mine, pk=meeting.pk).update(sent_creates=meeting.sent_creates)
    return roster.note_create(meeting)


def _record_created(
    meeting: ProviderMeeting, made: RemoteMeeting, *, now: datetime, token: uuid.UUID
) -> State | None:
    mine = Q(lease_token=token)
    with transaction.atomic():
        created = _move(
            meeting.pk,
            source=State.CREATING,
            to=State.CREATED,
            where=mine & Q(cancel_requested=False),
            provider_id=made.provider_id,
            join_url=made.join_url,
            last_error="",
            tracking_id="",
            synced_version=meeting.version,
            provider_digest=meeting.fields_digest(),
            next_attempt_at=now,
            rate_limited=0,
            **RELEASED,
        )
        if created:
            # Everyone a create carried is on it; registrants, who was invited since
            # and who left since are the sync's.
            roster.mark_created(meeting.pk, now)
            # In the same transaction as the move: the owner's emails (the
            # invitations with the join link) are written exactly once.
            _run_created_hooks(ProviderMeeting.objects.get(pk=meeting.pk))
    if created:
        if ProviderMeeting.objects.needing_sync().filter(pk=meeting.pk).exists():
            enqueue(meeting.pk)  # changed while being created, or registrants to add
        return State.CREATED
    current = ProviderMeeting.objects.get(pk=meeting.pk)
    if current.state != State.CREATING or current.lease_token != token:
        return None  # another worker took the row over; it will adopt this meeting by key
    # Cancelled while we were creating: take it off the provider again.
    try:
        get_backend().cancel(made.provider_id)
    except (PermanentVideoError, TransientVideoError) as exc:
        # Keep what was made so the cancellation can be finished later.
        delay = current.backoff(retry_after=retry_after_of(exc))
        if _move(
            meeting.pk,
            source=State.CREATING,
            to=State.CREATED,
            where=mine,
            provider_id=made.provider_id,
            join_url=made.join_url,
            last_error=error_text(exc),
            tracking_id=exc.tracking_id,
            next_attempt_at=now + delay,
            **RELEASED,
        ):
            roster.mark_created(meeting.pk, now)
        enqueue(meeting.pk, countdown=delay.total_seconds())
        return State.CREATED
    _cancelled(meeting.pk, source=State.CREATING, where=mine, provider_id=made.provider_id, **RELEASED)
    return State.CANCELLED


def retry_after_of(exc: Exception) -> float | None:
    return exc.retry_after if isinstance(exc, RateLimitedVideoError) else None


def spent(meeting: ProviderMeeting, exc: Exception, *, permanent: bool) -> tuple[bool, dict[str, Any]]:
    """Whether this failure ends the row's attempts, and how to count it. A 429
    is not a real failure: it gives its attempt back and counts as rate-limited."""
    if isinstance(exc, RateLimitedVideoError):
        counts = {"attempts": Greatest(F("attempts") - 1, 0), "rate_limited": F("rate_limited") + 1}
        return meeting.rate_limited + 1 >= ProviderMeeting.MAX_RATE_LIMITED, counts
    return permanent or jobs.exhausted(meeting.attempts), {}


def _record_failure(
    meeting: ProviderMeeting, exc: VideoError, *, now: datetime, permanent: bool, mine: Q
) -> State | None:
    error = error_text(exc)
    tracking_id = exc.tracking_id
    gives_up, counts = spent(meeting, exc, permanent=permanent)
    if gives_up:
        logger.error("Provider meeting %s failed for good: %s", meeting.pk, error)
        moved = _move(
            meeting.pk,
            source=State.CREATING,
            to=State.FAILED,
            where=mine,
            last_error=error,
            tracking_id=tracking_id,
            **counts,
            **RELEASED,
        )
        return State.FAILED if moved else None
    delay = meeting.backoff(retry_after=retry_after_of(exc))
    logger.warning(
        "Provider meeting %s failed (attempt %s), retrying in %s: %s",
        meeting.pk,
        meeting.attempts + meeting.rate_limited,
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
        next_attempt_at=now + delay,
        **counts,
        **RELEASED,
    )
    if not moved:
        return None
    enqueue(meeting.pk, countdown=delay.total_seconds())
    return State.PENDING


def _finish_cancel(*, meeting_id: int, now: datetime) -> State | None:
    """Cancel on the provider a created meeting whose cancellation was asked for.
    Cancelling twice is harmless on the provider, so no claim is needed; it is
    retried until it is done."""
    meeting = ProviderMeeting.objects.filter(
        pk=meeting_id, state=State.CREATED, cancel_requested=True, next_attempt_at__lte=now
    ).first()
    if meeting is None:
        return None
    try:
        get_backend().cancel(meeting.provider_id)
    except (PermanentVideoError, TransientVideoError) as exc:
        delay = meeting.backoff(retry_after=retry_after_of(exc))
        ProviderMeeting.objects.filter(pk=meeting.pk, state=State.CREATED).update(
            attempts=F("attempts") + 1,
            last_error=error_text(exc),
            tracking_id=exc.tracking_id,
            next_attempt_at=now + delay,
        )
        enqueue(meeting.pk, countdown=delay.total_seconds())
        return State.CREATED
    # A sync holding the row writes nothing after this (its token is gone).
    _cancelled(meeting.pk, source=State.CREATED, **RELEASED)
    return State.CANCELLED


def cancel_meeting(*, meeting: ProviderMeeting) -> State:
    """Cancel a meeting wherever it is in its life. Returns the state it is in
    now; a meeting that may exist on the provider is cancelled there by the task."""
    now = timezone.now()
    # Never sent to the provider: nothing to take off it.
    if _cancelled(
        meeting.pk, source=State.PENDING, where=Q(attempts=0, sent_creates=[]), cancel_requested=True
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
        rate_limited=0,
        next_attempt_at=timezone.now(),
        **RELEASED,
    ) or bool(
        ProviderMeeting.objects.filter(pk=meeting.pk, state=State.CREATED, sync_failed=True).update(
            sync_failed=False, attempts=1, rate_limited=0, next_attempt_at=timezone.now(), **RELEASED
        )
    )
    if moved:
        transaction.on_commit(lambda: enqueue(meeting.pk))
    return moved


def sweep_meetings(*, now: datetime | None = None, limit: int = 500) -> int:
    """Free rows whose lease expired and enqueue rows that are overdue (cmss.jobs's
    sweep). Returns how many rows were enqueued."""

    def free_expired(moment: datetime) -> int:
        return ProviderMeeting.objects.filter(state=State.CREATING, lease_expires_at__lt=moment).update(
            state=State.PENDING, last_error="Worker lease expired; retrying.", **RELEASED
        )

    def due(before: datetime) -> list[int]:
        return list(
            ProviderMeeting.objects.filter(
                Q(state=State.PENDING)
                | Q(state=State.CREATED, cancel_requested=True)
                | Q(pk__in=ProviderMeeting.objects.needing_sync().values("pk")),
                next_attempt_at__lte=before,
            ).values_list("pk", flat=True)[:limit]
        )

    return jobs.sweep(free_expired=free_expired, due=due, enqueue_one=enqueue, now=now or timezone.now())


# What the owner of a meeting does once it exists on the provider (send the
# invitations with the join link), by ProviderMeeting.owner ("conference", "webinar").
_CREATED_HOOKS: dict[str, Callable[[ProviderMeeting], None]] = {}


def on_created(owner: str, hook: Callable[[ProviderMeeting], None]) -> None:
    _CREATED_HOOKS[owner] = hook


def _run_created_hooks(meeting: ProviderMeeting) -> None:
    hook = _CREATED_HOOKS.get(meeting.owner)
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


def _bump(meeting: ProviderMeeting, **fields: Any) -> None:
    """Write a change and have a worker push it to the provider, with a full budget
    of attempts. A sync waiting after a failure keeps its wait and its count: a new
    change does not hurry it through a 429 storm."""
    now = timezone.now()
    ProviderMeeting.objects.filter(pk=meeting.pk).update(version=F("version") + 1, **fields)
    live = ProviderMeeting.objects.filter(pk=meeting.pk, state=State.CREATED, cancel_requested=False)
    if live.filter(next_attempt_at__lte=now).update(attempts=0, rate_limited=0) or live.exists():
        transaction.on_commit(lambda: enqueue(meeting.pk))
