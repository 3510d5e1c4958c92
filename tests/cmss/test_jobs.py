"""The row-first job machinery the outbox and the provider-meeting pipeline share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest

from cmss import jobs


def test_backoff_doubles_from_the_first_wait_up_to_the_cap(settings: Any) -> None:
    settings.JOBS_BACKOFF_SECONDS = 30
    settings.JOBS_BACKOFF_CAP_SECONDS = 1800
    waits = [jobs.backoff(attempts).total_seconds() for attempts in range(1, 9)]
    assert waits == [30, 60, 120, 240, 480, 960, 1800, 1800]


def test_a_longer_retry_after_wins_but_never_beyond_the_visibility_timeout(settings: Any) -> None:
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
    assert jobs.backoff(1, retry_after=120) == timedelta(seconds=120)
    assert jobs.backoff(5, retry_after=1) == timedelta(seconds=480)  # the backoff is longer
    assert jobs.backoff(1, retry_after=7200) == timedelta(seconds=600)
    assert jobs.backoff(12) == timedelta(seconds=600)


def test_without_a_visibility_timeout_in_the_options_celerys_default_caps(settings: Any) -> None:
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    assert jobs.visibility_timeout() == timedelta(seconds=3600)


def test_a_row_is_exhausted_after_the_configured_attempts(settings: Any) -> None:
    settings.JOBS_MAX_ATTEMPTS = 3
    assert [jobs.exhausted(n) for n in (1, 2, 3, 4)] == [False, False, True, True]


def test_each_lease_has_its_own_token_and_ends_after_the_lease(settings: Any) -> None:
    settings.JOBS_LEASE_SECONDS = 300
    now = datetime(2027, 3, 28, 0, 59, tzinfo=UTC)
    first, until = jobs.new_lease(now)
    second, _ = jobs.new_lease(now)
    assert first != second and until == now + timedelta(minutes=5)


def test_enqueue_caps_the_countdown_and_survives_a_broker_outage(settings: Any, caplog: Any) -> None:
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
    task = mock.Mock()
    assert jobs.enqueue(task, 7, countdown=7200) is True
    task.apply_async.assert_called_once_with((7,), countdown=600.0)

    task.apply_async.side_effect = ConnectionError("broker down")
    assert jobs.enqueue(task, 8, what="outgoing email") is False
    assert "Could not enqueue outgoing email 8; the sweeper will retry" in caplog.text


@pytest.mark.parametrize("enqueued", [True, False])
def test_a_sweep_frees_expired_leases_then_enqueues_what_waited_past_the_grace(
    settings: Any, enqueued: bool
) -> None:
    settings.JOBS_SWEEP_GRACE_SECONDS = 120
    now = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    calls: list[Any] = []

    def free_expired(at: datetime) -> int:
        calls.append(("free", at))
        return 1

    def due(before: datetime) -> list[int]:
        calls.append(("due", before))
        return [4, 5]

    count = jobs.sweep(free_expired=free_expired, due=due, enqueue_one=lambda key: enqueued, now=now)
    assert calls == [("free", now), ("due", now - timedelta(minutes=2))]
    assert count == (2 if enqueued else 0)
