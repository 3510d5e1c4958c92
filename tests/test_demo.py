"""The demo data of `make run`: loaded twice, still one of everything."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from clinicians.models import ERN, Clinician
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


@pytest.mark.parametrize("ern_name", ["ERN LUNG", "MetabERN"])
def test_the_demo_coordinator_is_suggested_experts_for_the_demos_erns(
    client: Client, time_machine: Any, ern_name: str
) -> None:
    # A Monday; the proposed time is Wednesday 10:00 in Brussels.
    time_machine.move_to(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False)
    call_command("load_demo", verbosity=0)
    coordinator = Clinician.objects.get(user__email="coordinator@cmss.example.org")
    client.force_login(coordinator.user)
    assert coordinator.user.time_zone == "Europe/Brussels"  # the zone the time is typed in
    data = {
        "erns": [str(ERN.objects.get(name=ern_name).pk)],
        "slot_1": "2026-03-04T10:00",
        "suggest_experts": "1",
    }
    response = client.post(reverse("conferences:request"), data)

    assert response.status_code == 200
    html = response.content.decode()
    suggested = [int(pk) for pk in re.findall(r'name="invite_expert" value="(\d+)"', html)]
    assert len(suggested) >= 3, html
    assert coordinator.pk not in suggested
    reasons = re.findall(r'<span class="suggestion-why">([^<]*)</span>', html)
    assert len(reasons) == len(suggested)
    assert all(f"{ern_name} member" in why for why in reasons), reasons
    assert any("their time" in why for why in reasons), reasons  # working hours in their zone
    assert any("speaks" in why for why in reasons), reasons
