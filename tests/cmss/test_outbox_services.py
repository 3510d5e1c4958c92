"""The outbox on real Redis and PostgreSQL, with a real Celery worker."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone

from cmss import outbox
from cmss.celery import app
from cmss.models import OutgoingEmail
from cmss.tasks import send_email
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def broker_unreachable() -> Iterator[None]:
    """Point the Celery app's publisher at a port where nothing listens."""
    # The cached connection pools are Celery internals, which celery-types does not describe.
    celery: Any = app
    saved_url, saved_pool, saved_producers = celery.conf.broker_url, celery._pool, celery.amqp._producer_pool
    celery.conf.broker_url = "redis://127.0.0.1:1/0"
    celery._pool = None
    celery.amqp._producer_pool = None
    try:
        yield
    finally:
        celery.conf.broker_url = saved_url
        celery._pool, celery.amqp._producer_pool = saved_pool, saved_producers


@contextmanager
def worker() -> Iterator[None]:
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"):
        yield


def queue_in_transaction(subject: str = "Hello") -> OutgoingEmail:
    with transaction.atomic():
        return outbox.queue_email(to="ana@hospital.example.org", subject=subject, text="Body")


def broker_queue_length(redis_server: Any) -> int:
    return int(redis_server.llen("celery"))


def test_a_committed_email_is_sent_by_the_worker_through_redis(redis_server: Any) -> None:
    with worker():
        email = queue_in_transaction()
        wait_for(lambda: len(mail.outbox) == 1)
    email.refresh_from_db()
    assert email.state == "sent"
    assert mail.outbox[0].subject == "Hello"


def test_a_rolled_back_transaction_sends_nothing(redis_server: Any) -> None:
    with worker():
        with pytest.raises(RuntimeError), transaction.atomic():
            outbox.queue_email(to="ana@hospital.example.org", subject="Never", text="Body")
            raise RuntimeError("rolled back")
        committed = queue_in_transaction("After")
        wait_for(lambda: len(mail.outbox) == 1)
    assert [message.subject for message in mail.outbox] == ["After"]
    assert list(OutgoingEmail.objects.values_list("pk", flat=True)) == [committed.pk]
    assert broker_queue_length(redis_server) == 0


def test_with_the_broker_unreachable_at_commit_the_email_goes_out_once_it_is_back(
    redis_server: Any, caplog: Any
) -> None:
    with broker_unreachable():
        email = queue_in_transaction()  # commits; the enqueue fails quickly
    assert "the sweeper will retry" in caplog.text
    email.refresh_from_db()
    assert email.state == "queued"
    assert broker_queue_length(redis_server) == 0
    assert mail.outbox == []

    with worker():
        assert outbox.sweep(now=timezone.now() + timedelta(minutes=3)) == 1
        wait_for(lambda: len(mail.outbox) == 1)
    email.refresh_from_db()
    assert email.state == "sent"


def test_the_send_task_delivered_twice_sends_one_email(redis_server: Any) -> None:
    email = queue_in_transaction()  # the on-commit enqueue is the first copy
    send_email.delay(email.pk)  # a duplicate, as a redelivery would make
    with worker():
        wait_for(
            lambda: broker_queue_length(redis_server) == 0 and OutgoingEmail.objects.get().state == "sent"
        )
        wait_for(lambda: len(mail.outbox) >= 1)
    assert len(mail.outbox) == 1


def test_workers_racing_for_one_row_send_it_once(postgres: None) -> None:
    email = queue_in_transaction()
    barrier = threading.Barrier(8)
    results: list[object] = []

    def race() -> None:
        try:
            barrier.wait()
            results.append(outbox.deliver(email_id=email.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(str, results)) == ["None"] * 7 + ["sent"]
    assert len(mail.outbox) == 1
