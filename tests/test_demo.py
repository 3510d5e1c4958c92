"""The demo data of `make run`: loaded twice, still one of everything."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command

from clinicians.models import Clinician
from conferences.models import Conference, ProviderMeeting

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_coordinator_and_a_scheduled_conference(settings: object) -> None:
    call_command("load_demo", verbosity=0)
    call_command("load_demo", verbosity=0)

    coordinator = Clinician.objects.get(user__email="coordinator@cmss.example.org")
    assert coordinator.is_coordinator
    scheduled = Conference.objects.get(state=Conference.State.SCHEDULED)
    assert scheduled.hospital == coordinator.hospital
    assert scheduled.invitations.filter(clinician__user__email="verified@cmss.example.org").exists()
    assert scheduled.meeting is not None
    assert scheduled.meeting.state == ProviderMeeting.State.PENDING  # the worker of `make run` creates it
    assert Conference.objects.filter(state=Conference.State.REQUESTED, ticket__isnull=False).count() == 1


def test_the_demo_has_a_held_conference_with_its_outcome_report(settings: object) -> None:
    from cmss.models import OutgoingEmail
    from conferences.models import OutcomeReport

    call_command("load_demo", verbosity=0)
    call_command("load_demo", verbosity=0)

    [held] = Conference.objects.filter(state=Conference.State.HELD)
    coordinator = Clinician.objects.get(user__email="coordinator@cmss.example.org")
    assert held.hospital == coordinator.hospital and held.requested_by == coordinator.user
    report = OutcomeReport.objects.get(conference=held)
    assert report.advice and report.agreement == OutcomeReport.Agreement.MAJORITY and report.dissent
    assert [item.user.email for item in report.participants.all()] == ["verified@cmss.example.org"]
    assert report.read_at is None  # for the coordinator to read and rate
    assert held.advice_at == report.sent_at and held.time_to_advice is not None
    assert held.time_to_advice > timedelta(days=4)
    sent_to = set(
        OutgoingEmail.objects.filter(dedup_key__contains=":report:").values_list("to_address", flat=True)
    )
    assert {"coordinator@cmss.example.org", "verified@cmss.example.org"} <= sent_to


def test_the_demo_has_a_pending_webinar_request_in_the_queue(settings: object) -> None:
    from conferences.models import WebinarRequest
    from helpdesk.models import Ticket

    call_command("load_demo", verbosity=0)
    call_command("load_demo", verbosity=0)

    [pending] = WebinarRequest.objects.all()
    coordinator = Clinician.objects.get(user__email="coordinator@cmss.example.org")
    assert (pending.state, pending.hospital, pending.requested_by) == (
        WebinarRequest.State.REQUESTED,
        coordinator.hospital,
        coordinator.user,
    )
    assert pending.dates.count() == 3 and pending.webinar is None
    speakers = [(item.clinician is not None, bool(item.email)) for item in pending.speakers.all()]
    assert speakers == [(True, False), (False, True)]  # one of the network, one from outside it
    assert pending.ticket is not None and pending.ticket.kind == Ticket.Kind.WEBINAR
    assert pending.ticket.state == Ticket.State.NEW  # waiting in the queue for an agent
