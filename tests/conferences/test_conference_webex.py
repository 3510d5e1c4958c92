"""A conference end to end with a real Celery worker and the fake Webex server:
approve → the worker creates the meeting → invitations; move; broker down;
a change the provider refuses shows in the admin with a retry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cmss.models import OutgoingEmail
from conferences.cases import services as case_conferences
from conferences.meetings import pipeline
from conferences.models import Conference, ProviderMeeting
from tests import factories
from tests.conferences.fake_webex import FakeWebex
from tests.conftest import sign_in_staff, wait_for


@pytest.fixture
def webex(fake_webex: FakeWebex, settings: Any) -> FakeWebex:
    settings.VIDEO_BACKEND = "conferences.video.webex.WebexBackend"
    settings.WEBEX_BASE_URL = fake_webex.base_url
    settings.WEBEX_ACCESS_TOKEN = "test-token"
    settings.WEBEX_HOST_EMAIL = "host@example.org"
    settings.WEBEX_TIMEOUT = 2
    return fake_webex


@pytest.fixture
def people(transactional_db: None) -> dict[str, Any]:
    return {
        "coordinator": factories.CoordinatorFactory.create(),
        "expert": factories.ClinicianFactory.create(status="verified"),
        "agent": factories.StaffFactory.create(role="agents"),
    }


def request_and_approve(people: dict[str, Any], start: Any) -> Conference:
    with transaction.atomic():
        conference = case_conferences.request_conference(
            coordinator=people["coordinator"],
            data=case_conferences.RequestData(
                title="Fabry and COVID-19",
                question="Secret clinical question",
                case_summary="Secret anonymised summary",
                urgency="urgent",
                slots=[start],
                duration_minutes=90,
                time_zone="Europe/Lisbon",
                invitees=[people["expert"]],
            ),
        )
    with transaction.atomic():
        case_conferences.approve(conference=conference, start=start, by=people["agent"])
    conference.refresh_from_db()
    return conference


def sent_to(address: str) -> list[Any]:
    return [message for message in mail.outbox if address in message.to]


def test_approved_the_worker_creates_the_meeting_on_webex_and_invitations_follow(
    celery_worker: Any, webex: FakeWebex, people: dict[str, Any]
) -> None:
    start = (timezone.now() + timedelta(days=2)).replace(microsecond=0, second=0)
    conference = request_and_approve(people, start)
    expert = people["expert"].user.email

    wait_for(lambda: sent_to(expert))

    [stored] = webex.meetings.values()
    assert stored["integrationTags"] == [f"conference-{conference.pk}"]
    assert stored["title"] == "Fabry and COVID-19"
    assert "Secret" not in stored["agenda"]
    assert stored["start"] == start.isoformat(timespec="seconds")
    assert all(request.violations == [] for request in webex.requests)
    [post] = webex.requests_to("POST", "/meetings")
    assert post.body["sendEmail"] is False
    assert [item["email"] for item in post.body["invitees"]] == [expert]
    [invitation] = sent_to(expert)
    assert stored["webLink"] in invitation.body
    [(filename, content, mimetype)] = invitation.attachments
    assert filename == "invite.ics" and mimetype.startswith("text/calendar")
    assert "METHOD:REQUEST" in content and f"UID:conference-{conference.pk}@" in content
    conference.refresh_from_db()
    assert conference.join_url == stored["webLink"]

    # Moved: the worker patches the meeting on Webex; everyone gets an update.
    later = start + timedelta(hours=3)
    with transaction.atomic():
        case_conferences.move(conference=conference, start=later, by=people["agent"])
    wait_for(lambda: webex.meetings[stored["id"]]["start"] == later.isoformat(timespec="seconds"))
    wait_for(lambda: len(sent_to(expert)) == 2)
    assert "SEQUENCE:1" in sent_to(expert)[1].attachments[0][1]

    # A newcomer is invited on Webex too, without Webex emailing anyone.
    newcomer = factories.ClinicianFactory.create(status="verified")
    with transaction.atomic():
        case_conferences.add_invitee(conference=conference, clinician=newcomer, by=people["agent"])
    wait_for(lambda: webex.requests_to("POST", "/meetingInvitees"))
    [added] = webex.requests_to("POST", "/meetingInvitees")
    assert added.body["email"] == newcomer.user.email and added.body["sendEmail"] is False
    wait_for(lambda: sent_to(newcomer.user.email))
    assert len(webex.meetings) == 1


def test_with_the_broker_down_at_commit_the_sweeper_creates_the_meeting_later(
    celery_worker: Any, webex: FakeWebex, people: dict[str, Any]
) -> None:
    start = timezone.now() + timedelta(days=2)
    with mock.patch("conferences.tasks.realise_meeting.apply_async", side_effect=ConnectionError("down")):
        conference = request_and_approve(people, start)
    assert conference.meeting is not None
    assert conference.meeting.state == ProviderMeeting.State.PENDING
    assert webex.meetings == {}

    pipeline.sweep_meetings(now=timezone.now() + timedelta(minutes=5))

    wait_for(lambda: sent_to(people["expert"].user.email))
    assert len(webex.meetings) == 1
    assert OutgoingEmail.objects.filter(to_address=people["expert"].user.email).count() == 1


def test_a_change_webex_refuses_is_shown_to_the_agent_with_a_retry(
    celery_worker: Any, webex: FakeWebex, people: dict[str, Any]
) -> None:
    start = timezone.now() + timedelta(days=2)
    conference = request_and_approve(people, start)
    wait_for(lambda: sent_to(people["expert"].user.email))
    webex.answer_next(400)

    with transaction.atomic():
        case_conferences.move(conference=conference, start=start + timedelta(hours=1), by=people["agent"])

    meeting_id = conference.meeting_id
    assert meeting_id is not None
    meeting = wait_for(lambda: ProviderMeeting.objects.filter(pk=meeting_id, sync_failed=True).first())
    assert "400" in meeting.last_error
    client = sign_in_staff(Client(), people["agent"])
    changelist = client.get(reverse("admin:conferences_providermeeting_changelist"), {"attention": "yes"})
    assert "Fabry and COVID-19" in changelist.content.decode()
    ticket = client.get(reverse("admin:helpdesk_ticket_change", args=[conference.ticket_id])).content.decode()
    assert "Open the meeting to retry" in ticket

    client.post(
        reverse("admin:conferences_providermeeting_changelist"),
        {"action": "retry_selected", "_selected_action": [meeting.pk]},
    )

    later = (start + timedelta(hours=1)).isoformat(timespec="seconds")
    wait_for(lambda: next(iter(webex.meetings.values()))["start"] == later)
    meeting.refresh_from_db()
    assert not meeting.sync_failed and meeting.in_sync()
