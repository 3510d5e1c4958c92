"""Row-first background work, written once: the outbox and the provider-meeting
pipeline both store an intent as a row, hand its key to a Celery task after
commit, claim the row with a conditional update and a lease, retry transient
failures with backoff up to a cap, and let a periodic sweeper re-enqueue rows
whose task never ran and free rows whose worker died.

What differs between them (what a claim updates, what a failure is) stays
with each; what is the same lives here, with one set of settings:

- JOBS_MAX_ATTEMPTS: attempts before a row fails for good (8);
- JOBS_LEASE_SECONDS: how long a worker may hold a claimed row (300);
- JOBS_BACKOFF_SECONDS / JOBS_BACKOFF_CAP_SECONDS: the first wait and the
  longest (30 s doubling, at most 30 minutes);
- JOBS_SWEEP_GRACE_SECONDS: how long a fresh row waits for its own task
  before the sweeper enqueues it again (120).

No wait is ever longer than the broker's visibility timeout (Redis hands a
task that waits longer to a second worker): it is read from
CELERY_BROKER_TRANSPORT_OPTIONS, the one place Celery reads it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

# Celery's default for Redis, used when the transport options say nothing (the
# filesystem and memory transports have no visibility timeout).
DEFAULT_VISIBILITY_TIMEOUT = 3600


@dataclass(frozen=True)
class Policy:
    max_attempts: int
    lease: timedelta
    backoff: timedelta
    backoff_cap: timedelta
    sweep_grace: timedelta


def policy() -> Policy:
    """The retry policy from settings (read each time, so tests may change it)."""
    return Policy(
        max_attempts=int(getattr(settings, "JOBS_MAX_ATTEMPTS", 8)),
        lease=timedelta(seconds=float(getattr(settings, "JOBS_LEASE_SECONDS", 300))),
        backoff=timedelta(seconds=float(getattr(settings, "JOBS_BACKOFF_SECONDS", 30))),
        backoff_cap=timedelta(seconds=float(getattr(settings, "JOBS_BACKOFF_CAP_SECONDS", 1800))),
        sweep_grace=timedelta(seconds=float(getattr(settings, "JOBS_SWEEP_GRACE_SECONDS", 120))),
    )


def visibility_timeout() -> timedelta:
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    return timedelta(seconds=float(options.get("visibility_timeout", DEFAULT_VISIBILITY_TIMEOUT)))


def cap(delay: timedelta) -> timedelta:
    """Never schedule further ahead than the broker keeps a task to one worker."""
    return min(delay, visibility_timeout())


def backoff(attempts: int, *, retry_after: float | None = None) -> timedelta:
    """The wait before the next attempt after `attempts` tries: the backoff
    (doubling from JOBS_BACKOFF_SECONDS, at most JOBS_BACKOFF_CAP_SECONDS), or
    the provider's Retry-After when that is longer; never beyond the visibility
    timeout."""
    rules = policy()
    doubled = rules.backoff * 2 ** max(attempts - 1, 0)
    delay = min(doubled, rules.backoff_cap)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, timedelta(seconds=float(retry_after)))
    return cap(delay)


def exhausted(attempts: int) -> bool:
    """True when a row has used every attempt it may have."""
    return attempts >= policy().max_attempts


def new_lease(now: datetime) -> tuple[str, datetime]:
    """A claim token and when its lease ends: a worker's writes are conditional on
    the token, so one whose lease expired and was taken over writes nothing."""
    return uuid.uuid4().hex, now + policy().lease


def enqueue(task: Any, key: Any, *, countdown: float | None = None, what: str = "row") -> bool:
    """Hand a row's key to the broker; if the broker is down, log it and leave
    the row to the sweeper (it is already stored). Returns whether it went."""
    options: dict[str, Any] = {}
    if countdown:
        options["countdown"] = cap(timedelta(seconds=countdown)).total_seconds()
    try:
        task.apply_async((key,), **options)
    except Exception:
        logger.exception("Could not enqueue %s %s; the sweeper will retry", what, key)
        return False
    return True


def sweep(
    *,
    free_expired: Callable[[datetime], int],
    due: Callable[[datetime], Iterable[Any]],
    enqueue_one: Callable[[Any], bool],
    now: datetime,
) -> int:
    """One pass of a sweeper: free the rows whose worker's lease ran out, then
    enqueue the rows due for longer than the grace (their own task never ran or
    was lost). Returns how many were enqueued."""
    freed = free_expired(now)
    if freed:
        logger.warning("Freed %d rows whose worker's lease expired", freed)
    keys = list(due(now - policy().sweep_grace))
    return sum(1 for key in keys if enqueue_one(key))
