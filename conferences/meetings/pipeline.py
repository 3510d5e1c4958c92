"""Provider meetings: store the intent, create it on the video provider from a worker.

- request_meeting() writes the row and enqueues realise_meeting after commit.
- realise_meeting() claims the row with a conditional update that sets a lease
  token of its own, calls the provider outside any transaction, and records the
  outcome on the row with updates conditional on that token: a task run twice
  makes one meeting, and a retry looks for the meeting by our key, around every
  start a create was sent with, before creating it again.
- Later changes (update_meeting, add_meeting_invitee, remove_meeting_invitee,
  forget_address for erasure) are written on the row first; the same task
  brings the provider up to date (_sync), updating the meeting only when its
  fields changed, adding who is new and removing who left.
- cancel_meeting() and retry_meeting() are the operator's moves.
- sweep_meetings() re-enqueues rows whose task never ran and frees rows whose
  worker died while creating.
- Failures: transient ones retry with backoff up to MAX_ATTEMPTS; "429 Too Many
  Requests" waits the larger of Retry-After and the backoff and counts against
  MAX_RATE_LIMITED instead; permanent ones show in the admin with a retry.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from cmss.models import RetentionPolicy

from ..models import LocalVideoMeeting, ProviderMeeting
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
    from ..tasks import realise_meeting as task

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
    """Create one pending meeting on the provider (or finish its cancellation, or
    bring a created one up to date). Returns the new state, or None when another
    worker has the row or it is not due (no provider call is made then). Must
    not run inside a transaction."""
    now = now or timezone.now()
    token = uuid.uuid4()
    claimed = ProviderMeeting.objects.filter(
        Q(state=State.PENDING, next_attempt_at__lte=now) | Q(state=State.CREATING, lease_expires_at__lt=now),
        pk=meeting_id,
    ).update(
        state=State.CREATING, attempts=F("attempts") + 1, lease_expires_at=now + LEASE, lease_token=token
    )
    if not claimed:
        return _finish_cancel(meeting_id=meeting_id, now=now) or _sync(meeting_id=meeting_id, now=now)
    meeting = ProviderMeeting.objects.get(pk=meeting_id)
    # The token is this worker's claim: a worker whose lease expired and was
    # taken over writes nothing.
    mine = Q(lease_token=token)
    backend = get_backend()
    spec = _spec(meeting)
    try:
        found: RemoteMeeting | None = None
        if meeting.sent_creates or meeting.attempts > 1:
            # An earlier attempt may have made it (a timeout after sending), perhaps
            # at a start the row has left since: adopt that one rather than make a second.
            found = _find(backend, meeting)
        if meeting.cancel_requested:
            if found is not None:
                backend.cancel(found.provider_id)
            _move(meeting.pk, source=State.CREATING, to=State.CANCELLED, where=mine, **_RELEASED, **_GONE)
            return State.CANCELLED
        if found is not None:
            made = found
            digest = meeting.fields_digest()
            if not meeting.sent_creates or any(item["digest"] != digest for item in meeting.sent_creates):
                # Moved or renamed since that create was sent: bring it up to date.
                made = backend.update(found.provider_id, spec)
        else:
            _note_create(meeting, spec, mine)
            made = backend.create(spec)
    except PermanentVideoError as exc:
        return _record_failure(meeting, exc, now=now, permanent=True, mine=mine)
    except TransientVideoError as exc:
        return _record_failure(meeting, exc, now=now, permanent=False, mine=mine)
    return _record_created(meeting, made, now=now, token=token)


# What a worker writes when it lets go of its row, and on a meeting no longer on the provider.
_RELEASED: dict[str, Any] = {"lease_expires_at": None, "lease_token": None}
_GONE: dict[str, Any] = {"provider_invitees": [], "join_url": ""}


def _find(backend: VideoBackend, meeting: ProviderMeeting) -> RemoteMeeting | None:
    """The meeting an earlier create made with our key, wherever the row's start was then."""
    for start, end in meeting.search_windows():
        found = backend.find_by_key(meeting.key, start=start, end=end)
        if found is not None:
            return found
    return None


def _note_create(meeting: ProviderMeeting, spec: MeetingSpec, mine: Q) -> None:
    """Row first: before a create is sent, note its start and fields (where a retry
    looks for it, and whether what it finds needs an update) and the addresses it
    carries (who may be on the provider from now on)."""
    sent = {"start": meeting.start.isoformat(), "digest": meeting.fields_digest()}
    if sent not in meeting.sent_creates:
        meeting.sent_creates = [*meeting.sent_creates, sent]
    known = {address.lower() for address in meeting.provider_invitees}
    meeting.provider_invitees = [
        *meeting.provider_invitees,
        *(item.email for item in spec.invitees if item.email.lower() not in known),
    ]
    ProviderMeeting.objects.filter(mine, pk=meeting.pk).update(
        sent_creates=meeting.sent_creates, provider_invitees=meeting.provider_invitees
    )


def _record_created(
    meeting: ProviderMeeting, made: RemoteMeeting, *, now: datetime, token: uuid.UUID
) -> State | None:
    mine = Q(lease_token=token)
    # Who may be on the provider meeting: everyone any create carried (an adopted
    # meeting was made by an earlier attempt). The sync removes who left since.
    sent = list(meeting.provider_invitees)
    wanted = {item.email.lower() for item in _invitees(meeting)}
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
            provider_invitees=sent,
            next_attempt_at=now,
            rate_limited=0,
            **_RELEASED,
        )
        if created:
            if any(item.registrant for item in _invitees(meeting)) or any(
                address.lower() not in wanted for address in sent
            ):
                # Registrants are added once the webinar exists, and whoever left
                # since a create carried them is removed: a change to push.
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
    if current.state != State.CREATING or current.lease_token != token:
        return None  # another worker took the row over; it will adopt this meeting by key
    # Cancelled while we were creating: take it off the provider again.
    try:
        get_backend().cancel(made.provider_id)
    except (PermanentVideoError, TransientVideoError) as exc:
        # Keep what was made so the cancellation can be finished later.
        delay = current.backoff(retry_after=_retry_after(exc))
        _move(
            meeting.pk,
            source=State.CREATING,
            to=State.CREATED,
            where=mine,
            provider_id=made.provider_id,
            join_url=made.join_url,
            provider_invitees=sent,
            last_error=_error_text(exc),
            tracking_id=exc.tracking_id,
            next_attempt_at=now + delay,
            **_RELEASED,
        )
        enqueue(meeting.pk, countdown=delay.total_seconds())
        return State.CREATED
    _move(
        meeting.pk,
        source=State.CREATING,
        to=State.CANCELLED,
        where=mine,
        provider_id=made.provider_id,
        **_RELEASED,
        **_GONE,
    )
    return State.CANCELLED


def _retry_after(exc: Exception) -> float | None:
    return exc.retry_after if isinstance(exc, RateLimitedVideoError) else None


def _spent(meeting: ProviderMeeting, exc: Exception, *, permanent: bool) -> tuple[bool, dict[str, Any]]:
    """Whether this failure ends the row's attempts, and how to count it. A 429
    is not a real failure: it gives its attempt back and counts as rate-limited."""
    if isinstance(exc, RateLimitedVideoError):
        counts = {"attempts": Greatest(F("attempts") - 1, 0), "rate_limited": F("rate_limited") + 1}
        return meeting.rate_limited + 1 >= ProviderMeeting.MAX_RATE_LIMITED, counts
    return permanent or meeting.attempts >= ProviderMeeting.MAX_ATTEMPTS, {}


def _record_failure(
    meeting: ProviderMeeting, exc: VideoError, *, now: datetime, permanent: bool, mine: Q
) -> State | None:
    error = _error_text(exc)
    tracking_id = exc.tracking_id
    gives_up, counts = _spent(meeting, exc, permanent=permanent)
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
            **_RELEASED,
        )
        return State.FAILED if moved else None
    delay = meeting.backoff(retry_after=_retry_after(exc))
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
        **_RELEASED,
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
        delay = meeting.backoff(retry_after=_retry_after(exc))
        ProviderMeeting.objects.filter(pk=meeting.pk, state=State.CREATED).update(
            attempts=F("attempts") + 1,
            last_error=_error_text(exc),
            tracking_id=exc.tracking_id,
            next_attempt_at=now + delay,
        )
        enqueue(meeting.pk, countdown=delay.total_seconds())
        return State.CREATED
    # A sync holding the row writes nothing after this (its token is gone).
    _move(meeting.pk, source=State.CREATED, to=State.CANCELLED, **_RELEASED, **_GONE)
    return State.CANCELLED


def cancel_meeting(*, meeting: ProviderMeeting) -> State:
    """Cancel a meeting wherever it is in its life. Returns the state it is in
    now; a meeting that may exist on the provider is cancelled there by the task."""
    now = timezone.now()
    # Never sent to the provider: nothing to take off it.
    if _move(
        meeting.pk,
        source=State.PENDING,
        to=State.CANCELLED,
        where=Q(attempts=0, sent_creates=[]),
        cancel_requested=True,
        **_GONE,
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
        **_RELEASED,
    ) or bool(
        ProviderMeeting.objects.filter(pk=meeting.pk, state=State.CREATED, sync_failed=True).update(
            sync_failed=False, attempts=1, rate_limited=0, next_attempt_at=timezone.now(), **_RELEASED
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
        state=State.PENDING, last_error="Worker lease expired; retrying.", **_RELEASED
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
    """Uninvite someone (or take a registrant off a webinar). Row first: the
    address leaves `invitees` now; if it may be on the provider, it stays in
    `provider_invitees` until the worker has removed it there (without the
    provider emailing them: their cancellation email comes from CMSS)."""
    current = ProviderMeeting.objects.select_for_update().get(pk=meeting.pk)
    _forget(current, email)


def forget_address(*, email: str) -> int:
    """Erasure: take an address off every provider meeting, as remove_meeting_invitee
    does. Returns how many meetings held it."""
    address = email.lower()
    if not address:
        return 0
    holding = [
        row.pk
        for row in ProviderMeeting.objects.exclude(invitees=[], provider_invitees=[])
        .only("pk", "invitees", "provider_invitees")
        .iterator()
        if address in _addresses(row)
    ]
    for pk in holding:
        _forget(ProviderMeeting.objects.select_for_update().get(pk=pk), email)
    return len(holding)


def _addresses(meeting: ProviderMeeting) -> set[str]:
    return {item["email"].lower() for item in meeting.invitees} | {
        address.lower() for address in meeting.provider_invitees
    }


def _forget(current: ProviderMeeting, email: str) -> None:
    """Drop an address from a locked row. On a meeting that is (or may be) on the
    provider, it leaves `invitees` and a worker removes it there, then drops it from
    provider_invitees (the change is a new version, so a worker creating the meeting
    right now syncs after it); a meeting cancelled, failed or never sent has nobody
    to remove, and the address goes from both lists at once."""
    address = email.lower()
    kept = [item for item in current.invitees if item["email"].lower() != address]
    if current.may_be_on_provider:
        if kept != current.invitees:
            _bump(current, invitees=kept)
        return
    sent = [item for item in current.provider_invitees if item.lower() != address]
    if kept != current.invitees or sent != current.provider_invitees:
        ProviderMeeting.objects.filter(pk=current.pk).update(invitees=kept, provider_invitees=sent)


def _bump(meeting: ProviderMeeting, **fields: Any) -> None:
    """Write a change and have a worker push it to the provider, with a full budget
    of attempts. A sync waiting after a failure keeps its wait and its count: new
    registrants do not hurry it through a 429 storm."""
    now = timezone.now()
    ProviderMeeting.objects.filter(pk=meeting.pk).update(version=F("version") + 1, **fields)
    live = ProviderMeeting.objects.filter(pk=meeting.pk, state=State.CREATED, cancel_requested=False)
    if live.filter(next_attempt_at__lte=now).update(attempts=0, rate_limited=0) or live.exists():
        transaction.on_commit(lambda: enqueue(meeting.pk))


def _sync(*, meeting_id: int, now: datetime) -> State | None:
    """Bring a created meeting on the provider up to date with its row: times,
    title and agenda when they changed, then remove who left and add who is new.
    Claimed with a lease like a create, so two workers never push the same change."""
    token = uuid.uuid4()
    claimed = ProviderMeeting.objects.filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now),
        pk=meeting_id,
        state=State.CREATED,
        cancel_requested=False,
        sync_failed=False,
        synced_version__lt=F("version"),
        next_attempt_at__lte=now,
    ).update(attempts=F("attempts") + 1, lease_expires_at=now + LEASE, lease_token=token)
    if not claimed:
        return None
    meeting = ProviderMeeting.objects.get(pk=meeting_id)
    mine = Q(pk=meeting.pk, lease_token=token)
    backend = get_backend()
    sent = list(meeting.provider_invitees)
    digest = meeting.provider_digest
    invitees = _invitees(meeting)
    wanted = {item.email.lower() for item in invitees}
    try:
        if meeting.fields_digest() != digest:
            backend.update(meeting.provider_id, _spec(meeting))
            digest = meeting.fields_digest()
        for address in [item for item in sent if item.lower() not in wanted]:
            _remove_on_provider(backend, meeting, address)
            sent.remove(address)
        for invitee in invitees:
            if invitee.email.lower() in {item.lower() for item in sent}:
                continue
            if invitee.registrant:
                backend.add_registrant(meeting.provider_id, invitee)
            else:
                backend.add_invitee(meeting.provider_id, invitee)
            sent.append(invitee.email)
    except (PermanentVideoError, TransientVideoError) as exc:
        gives_up, counts = _spent(meeting, exc, permanent=isinstance(exc, PermanentVideoError))
        delay = meeting.backoff(retry_after=_retry_after(exc))
        ProviderMeeting.objects.filter(mine).update(
            provider_invitees=sent,
            provider_digest=digest,
            last_error=_error_text(exc),
            tracking_id=exc.tracking_id,
            sync_failed=gives_up,
            next_attempt_at=now + delay,
            **counts,
            **_RELEASED,
        )
        if gives_up:
            logger.error("Provider meeting %s could not be updated: %s", meeting.pk, exc)
        else:
            enqueue(meeting.pk, countdown=delay.total_seconds())
        return State.CREATED
    done = ProviderMeeting.objects.filter(mine).update(
        synced_version=meeting.version,
        provider_digest=digest,
        provider_invitees=sent,
        last_error="",
        tracking_id="",
        attempts=0,
        rate_limited=0,
        **_RELEASED,
    )
    if done and ProviderMeeting.objects.filter(pk=meeting.pk, synced_version__lt=F("version")).exists():
        # Changed while we held the row: the task enqueued for that change found it
        # taken and did nothing, so go again now rather than at the next sweep.
        enqueue(meeting.pk)
    return State.CREATED


def _remove_on_provider(backend: VideoBackend, meeting: ProviderMeeting, email: str) -> None:
    """Take an address off the provider meeting. The row no longer says in which
    role it was sent, so on a webinar it goes as a registrant, else as a panelist."""
    if meeting.kind == ProviderMeeting.Kind.WEBINAR and backend.remove_registrant(meeting.provider_id, email):
        return
    backend.remove_invitee(meeting.provider_id, email)


def purge_meeting_invitees(policy: RetentionPolicy, now: datetime) -> int:
    """Retention: clear who was invited (and the agenda) of provider meetings, and of
    the local backend's meetings, over for longer than the retention period."""
    cutoff = policy.cutoff("provider_meetings_days", now)
    purged = (
        ProviderMeeting.objects.filter(end__lt=cutoff)
        .filter(~Q(invitees=[]) | ~Q(provider_invitees=[]) | ~Q(agenda=""))
        .update(invitees=[], provider_invitees=[], agenda="")
    )
    purged += (
        LocalVideoMeeting.objects.filter(end__lt=cutoff)
        .filter(~Q(invitees=[]) | ~Q(agenda=""))
        .update(invitees=[], agenda="")
    )
    return purged
