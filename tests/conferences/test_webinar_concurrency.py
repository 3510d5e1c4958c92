"""Seats under load, on PostgreSQL with real threads: never more confirmed than
the capacity, the waitlist in order, no duplicates, no server error."""

from __future__ import annotations

import functools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from django.db import connection, connections
from django.test import Client

from conferences.models import ProviderMeeting, Registration, Webinar
from conferences.video import _backend_class
from conferences.webinars import services as webinars
from tests.factories import ClinicianFactory, StaffFactory, WebinarFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def local_backend(settings: Any) -> Iterator[None]:
    settings.VIDEO_BACKEND = "conferences.video.local.LocalBackend"
    _backend_class.cache_clear()
    with (
        mock.patch("conferences.tasks.realise_meeting.apply_async"),
        mock.patch("cmss.tasks.send_email.apply_async"),
    ):
        yield
    _backend_class.cache_clear()


def at_once(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run the jobs in threads released together; each thread's result or exception."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = jobs[index]()
        except Exception as exc:  # reported by the test
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.fixture
def webinar(postgres: None) -> Webinar:
    return webinars.publish_webinar(webinar=WebinarFactory.create(capacity=20), by=StaffFactory.create())


def test_fifty_clinicians_registering_at_once_for_twenty_seats(webinar: Webinar) -> None:
    clinicians = ClinicianFactory.create_batch(50)

    def post_as(user: Any) -> Callable[[], int]:
        def job() -> int:
            client = Client()
            client.force_login(user)
            return client.post(f"/webinars/{webinar.pk}/register/").status_code

        return job

    statuses = at_once([post_as(clinician.user) for clinician in clinicians])

    assert statuses == [302] * 50, statuses
    counts = Counter(Registration.objects.filter(webinar=webinar).values_list("status", flat=True))
    assert counts == {"confirmed": 20, "waitlisted": 30}
    assert Registration.objects.filter(webinar=webinar).values("clinician").distinct().count() == 50
    # The waitlist is a queue: positions 1..30, no gaps, no ties.
    positions = sorted(
        Registration.objects.with_position()
        .filter(status="waitlisted")
        .values_list("waitlist_position", flat=True)
    )
    assert positions == list(range(1, 31))
    assert webinar.meeting_id is not None
    assert ProviderMeeting.objects.get(pk=webinar.meeting_id).invitees.wanted().count() == 20


def test_one_clinician_clicking_register_many_times_at_once_gets_one_seat(webinar: Webinar) -> None:
    clinician = ClinicianFactory.create()
    results = at_once([lambda: webinars.register(webinar=webinar, clinician=clinician) for _ in range(8)])
    made = [r for r in results if isinstance(r, Registration)]
    refused = [r for r in results if isinstance(r, webinars.WebinarError)]
    assert len(made) == 1 and len(refused) == 7, results
    assert Registration.objects.filter(webinar=webinar, clinician=clinician).count() == 1


def test_cancellations_at_once_promote_each_person_waiting_once_in_order(webinar: Webinar) -> None:
    people = ClinicianFactory.create_batch(30)
    registrations = [webinars.register(webinar=webinar, clinician=c) for c in people]
    seated = registrations[:10]
    results = at_once([functools.partial(webinars.cancel_registration, registration=r) for r in seated])
    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = [Registration.objects.get(pk=r.pk).status for r in registrations]
    assert statuses == ["cancelled"] * 10 + ["confirmed"] * 20
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM cmss_outgoingemail WHERE subject LIKE %s", ["%A seat is yours%"])
        assert cursor.fetchone()[0] == 10
