"""Bringing a created provider meeting up to date with its rows (the worker's
realise_meeting, once the meeting exists): its details when they changed (a version
not yet synced, and then only if their digest differs from what the provider was last
sent), then who left and who is new (invitees.push).

A sync is claimed with a lease like a create (cmss.jobs), so two workers never push
the same change. A long one renews its lease every LEASE_RENEWAL and, after
SYNC_BUDGET, lets go of the row and enqueues a fresh task: a 10,000-seat webinar
never holds one worker, or one lease, for long.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta

from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from cmss import jobs

from ..models import ProviderMeeting
from ..video import PermanentVideoError, TransientVideoError, get_backend
from . import invitees
from .pipeline import RELEASED, claim_token, enqueue, error_text, retry_after_of, spec_of, spent

logger = logging.getLogger(__name__)

State = ProviderMeeting.State

LEASE_RENEWAL = timedelta(minutes=1)
SYNC_BUDGET = timedelta(minutes=2)


class Run:
    """A sync's hold on its row: renews the lease as the work goes on and says when
    to stop (the lease was lost, or the run's time budget is spent)."""

    def __init__(self, meeting_id: int, token: uuid.UUID) -> None:
        self.mine = Q(pk=meeting_id, lease_token=token)
        self.started = self.renewed = time.monotonic()
        self.lost = False

    def keep_going(self) -> bool:
        clock = time.monotonic()
        if clock - self.renewed >= LEASE_RENEWAL.total_seconds():
            self.renewed = clock
            expires = Greatest(F("lease_expires_at"), Value(timezone.now() + jobs.policy().lease))
            self.lost = not ProviderMeeting.objects.filter(self.mine).update(lease_expires_at=expires)
        return not self.lost and clock - self.started < SYNC_BUDGET.total_seconds()


def sync_meeting(*, meeting_id: int, now: datetime) -> State | None:
    """Bring a created meeting on the provider up to date with its rows. Returns its
    state, or None when there is nothing to push, it is not due, or another worker
    holds it (no provider call is made then)."""
    token, expires = claim_token(now)
    claimed = (
        ProviderMeeting.objects.needing_sync()
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now), next_attempt_at__lte=now)
        .filter(pk=meeting_id)
        .update(
            # A sync after a success starts a fresh count; one after a failure goes on counting.
            attempts=Case(When(last_error="", then=Value(1)), default=F("attempts") + 1),
            lease_expires_at=expires,
            lease_token=token,
        )
    )
    if not claimed:
        return None
    meeting = ProviderMeeting.objects.get(pk=meeting_id)
    run = Run(meeting.pk, token)
    backend = get_backend()
    digest = meeting.provider_digest
    try:
        if meeting.fields_digest() != digest:
            backend.update(meeting.provider_id, spec_of(meeting))
            digest = meeting.fields_digest()
        invitees.push(backend, meeting, keep_going=run.keep_going)
    except (PermanentVideoError, TransientVideoError) as exc:
        gives_up, counts = spent(meeting, exc, permanent=isinstance(exc, PermanentVideoError))
        delay = meeting.backoff(retry_after=retry_after_of(exc))
        ProviderMeeting.objects.filter(run.mine).update(
            provider_digest=digest,
            last_error=error_text(exc),
            tracking_id=exc.tracking_id,
            sync_failed=gives_up,
            next_attempt_at=now + delay,
            **counts,
            **RELEASED,
        )
        if gives_up:
            logger.error("Provider meeting %s could not be updated: %s", meeting.pk, exc)
        else:
            enqueue(meeting.pk, countdown=delay.total_seconds())
        return State.CREATED
    if run.lost:
        return None  # another worker holds the row now (or it was cancelled)
    done = ProviderMeeting.objects.filter(run.mine).update(
        synced_version=meeting.version,
        provider_digest=digest,
        last_error="",
        tracking_id="",
        attempts=0,
        rate_limited=0,
        **RELEASED,
    )
    if done and ProviderMeeting.objects.needing_sync().filter(pk=meeting.pk).exists():
        # Out of time with rows left, or changed while we held the row (the task
        # enqueued for that change found it taken and did nothing): go again now
        # rather than at the next sweep.
        enqueue(meeting.pk)
    return State.CREATED
