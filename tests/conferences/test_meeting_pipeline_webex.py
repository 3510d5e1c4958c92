"""The provider-meeting pipeline against the fake Webex server (every request checked
against Cisco's OpenAPI file), one worker run at a time: each run is a call to
pipeline.realise_meeting with the clock given, and nothing is enqueued."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from clinicians.services import erase_account
from cmss import jobs
from conferences.cases import services as case_conferences
from conferences.meetings import pipeline
from conferences.models import Conference, Invitation, ProviderMeeting, Webinar
from conferences.video import Invitee, _backend_class
from conferences.webinars import services as webinars
from tests import factories
from tests.conferences.fake_webex import FakeWebex

pytestmark = pytest.mark.django_db


@pytest.fixture
def webex(fake_webex: FakeWebex, settings: Any) -> Iterator[FakeWebex]:
    settings.VIDEO_BACKEND = "conferences.video.webex.WebexBackend"
    settings.WEBEX_BASE_URL = fake_webex.base_url
    settings.WEBEX_ACCESS_TOKEN = "test-token"
    settings.WEBEX_HOST_EMAIL = "host@example.org"
    settings.WEBEX_TIMEOUT = 0.5
    _backend_class.cache_clear()
    yield fake_webex
    assert [r.violations for r in fake_webex.requests if r.violations] == []
    _backend_class.cache_clear()


@pytest.fixture(autouse=True)
def no_broker() -> Iterator[None]:
    with (
        mock.patch("conferences.tasks.realise_meeting.apply_async"),
        mock.patch("cmss.tasks.send_email.apply_async"),
    ):
        yield


def soon(days: int = 10) -> datetime:
    return (timezone.now() + timedelta(days=days)).replace(second=0, microsecond=0)


def parsed(value: str) -> datetime:
    return datetime.fromisoformat(value)


def request(start: datetime, *, kind: str = "meeting") -> ProviderMeeting:
    return pipeline.request_meeting(
        key="conference-1",
        title="Fabry and COVID-19",
        start=start,
        end=start + timedelta(hours=1),
        time_zone="Europe/Brussels",
        kind=kind,
        invitees=[Invitee(email="ana@hospital.example.org", name="Ana Novak")],
    )


def run(meeting: ProviderMeeting, now: datetime | None = None) -> str | None:
    return pipeline.realise_meeting(meeting_id=meeting.pk, now=now)


def fresh(meeting: ProviderMeeting) -> ProviderMeeting:
    return ProviderMeeting.objects.get(pk=meeting.pk)


def on_provider(meeting: ProviderMeeting) -> list[str]:
    """The addresses that are (or may be) on the provider, as the row knows them."""
    return list(meeting.invitees.on_provider().values_list("email", flat=True))


# --- A create that timed out, then a move ------------------------------------------------------


def test_a_move_between_a_timed_out_create_and_its_retry_leaves_one_meeting_at_the_new_time(
    webex: FakeWebex,
) -> None:
    start = soon()
    meeting = request(start)
    webex.stall_next_create()
    now = timezone.now()
    assert run(meeting, now) == "pending"  # no answer in time, but Webex made it
    assert len(webex.meetings) == 1

    later = start + timedelta(days=5)
    pipeline.update_meeting(meeting=meeting, start=later, end=later + timedelta(hours=1))
    assert run(meeting, now + timedelta(minutes=5)) == "created"

    [stored] = webex.meetings.values()
    assert parsed(stored["start"]) == later and parsed(stored["end"]) == later + timedelta(hours=1)
    meeting = fresh(meeting)
    assert meeting.provider_id == stored["id"] and meeting.join_url == stored["webLink"]
    assert len(webex.requests_to("POST", "/meetings")) == 1

    pipeline.cancel_meeting(meeting=meeting)
    assert run(meeting, now + timedelta(minutes=6)) == "cancelled"
    assert webex.meetings == {}


def test_cancelling_after_a_timed_out_create_and_a_move_takes_the_first_meeting_off_webex(
    webex: FakeWebex,
) -> None:
    start = soon()
    meeting = request(start)
    webex.stall_next_create()
    now = timezone.now()
    run(meeting, now)
    later = start + timedelta(days=5)
    pipeline.update_meeting(meeting=meeting, start=later, end=later + timedelta(hours=1))

    assert pipeline.cancel_meeting(meeting=fresh(meeting)) == "pending"
    assert run(meeting, now + timedelta(minutes=5)) == "cancelled"
    assert webex.meetings == {}
    assert webex.requests_to("POST", "/meetings")[1:] == []


# --- Rate limits on an update --------------------------------------------------------------------


def test_a_run_of_429s_on_an_update_waits_the_backoff_and_then_moves_the_meeting(
    webex: FakeWebex, settings: Any
) -> None:
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
    start = soon()
    meeting = request(start)
    run(meeting)
    storm = jobs.policy().max_attempts + 2
    webex.answer_next(429, times=storm, headers={"Retry-After": "1"})
    later = start + timedelta(hours=2)
    pipeline.update_meeting(meeting=meeting, start=later, end=later + timedelta(hours=1))

    now = timezone.now()
    waits = []
    for _ in range(storm):
        assert run(meeting, now) == "created"
        meeting = fresh(meeting)
        assert not meeting.sync_failed
        waits.append((meeting.next_attempt_at - now).total_seconds())
        now = meeting.next_attempt_at
    # The larger of Retry-After (1 s) and the backoff, never beyond the visibility timeout.
    assert waits == [30, 60, 120, 240, 480, 600, 600, 600, 600, 600]
    run(meeting, now)
    [stored] = webex.meetings.values()
    assert parsed(stored["start"]) == later
    meeting = fresh(meeting)
    assert not meeting.sync_failed and meeting.in_sync()


# --- Seats on a published webinar -----------------------------------------------------------------


def test_seats_given_on_a_published_webinar_add_registrants_without_patching_the_webinar(
    webex: FakeWebex,
) -> None:
    agent = factories.StaffFactory.create(role="agents")
    webinar = webinars.publish_webinar(webinar=factories.WebinarFactory.create(capacity=20), by=agent)
    assert webinar.meeting_id is not None
    meeting = ProviderMeeting.objects.get(pk=webinar.meeting_id)
    assert run(meeting) == "created"
    provider_id = fresh(meeting).provider_id

    people = factories.ClinicianFactory.create_batch(10)
    for clinician in people:
        webinars.register(webinar=webinar, clinician=clinician)
        run(meeting)

    assert webex.registrants_of(provider_id) == sorted(c.user.email for c in people)
    assert webex.requests_to("PATCH", f"/meetings/{provider_id}") == []

    # A real change still reaches Webex, once.
    webinar = Webinar.objects.get(pk=webinar.pk)
    webinar.start += timedelta(hours=1)
    webinars.change_webinar(webinar=webinar, by=agent)
    run(meeting)
    run(meeting)
    [patch] = webex.requests_to("PATCH", f"/meetings/{provider_id}")
    assert parsed(patch.body["start"]) == webinar.start


# --- Taking people off the provider meeting -------------------------------------------------------


@pytest.fixture
def conference_on_webex(webex: FakeWebex) -> tuple[Conference, Any, Any]:
    coordinator = factories.CoordinatorFactory.create()
    expert, colleague = factories.ClinicianFactory.create_batch(2, status="verified")
    agent = factories.StaffFactory.create(role="agents")
    start = soon()
    conference = factories.requested_conference(
        coordinator, invitees=[expert, colleague], start=start, time_zone="Europe/Lisbon"
    )
    case_conferences.approve(conference=conference, start=start, by=agent)
    conference.refresh_from_db()
    assert conference.meeting is not None
    assert run(conference.meeting) == "created"
    conference.refresh_from_db()
    assert conference.meeting is not None
    assert webex.invitees_of(conference.meeting.provider_id) == sorted(
        [expert.user.email, colleague.user.email]
    )
    return conference, expert, agent


def test_an_invitee_an_agent_removes_is_taken_off_the_webex_meeting(
    webex: FakeWebex, conference_on_webex: tuple[Conference, Any, Any]
) -> None:
    conference, expert, agent = conference_on_webex
    invitation = Invitation.objects.get(conference=conference, clinician=expert)
    case_conferences.remove_invitee(conference=conference, invitation=invitation, by=agent)

    assert conference.meeting is not None
    run(conference.meeting)
    provider_id = conference.meeting.provider_id
    assert expert.user.email not in webex.invitees_of(provider_id)
    assert len(webex.invitees_of(provider_id)) == 1  # the colleague stays
    [deleted] = [r for r in webex.requests if r.method == "DELETE" and r.path.startswith("/meetingInvitees/")]
    assert deleted.status == 204 and deleted.query["sendEmail"] == ["false"]
    meeting = fresh(conference.meeting)
    assert expert.user.email not in on_provider(meeting)
    assert meeting.in_sync()


@pytest.fixture
def webinar_on_webex(webex: FakeWebex) -> tuple[Webinar, ProviderMeeting]:
    agent = factories.StaffFactory.create(role="agents")
    webinar = webinars.publish_webinar(webinar=factories.WebinarFactory.create(capacity=5), by=agent)
    assert webinar.meeting_id is not None
    meeting = ProviderMeeting.objects.get(pk=webinar.meeting_id)
    assert run(meeting) == "created"
    return webinar, fresh(meeting)


def test_a_registrant_who_cancels_is_taken_off_the_webex_webinar(
    webex: FakeWebex, webinar_on_webex: tuple[Webinar, ProviderMeeting]
) -> None:
    webinar, meeting = webinar_on_webex
    leaving, staying = factories.ClinicianFactory.create_batch(2)
    registration = webinars.register(webinar=webinar, clinician=leaving)
    webinars.register(webinar=webinar, clinician=staying)
    run(meeting)
    assert webex.registrants_of(meeting.provider_id) == sorted([leaving.user.email, staying.user.email])

    webinars.cancel_registration(registration=registration)
    run(meeting)

    assert webex.registrants_of(meeting.provider_id) == [staying.user.email]
    assert leaving.user.email not in on_provider(meeting)


def test_a_person_who_erases_their_account_is_taken_off_every_webex_meeting(
    webex: FakeWebex,
    conference_on_webex: tuple[Conference, Any, Any],
    webinar_on_webex: tuple[Webinar, ProviderMeeting],
) -> None:
    conference, expert, _agent = conference_on_webex
    webinar, webinar_meeting = webinar_on_webex
    webinars.register(webinar=webinar, clinician=expert)
    run(webinar_meeting)
    email = expert.user.email
    assert webex.registrants_of(webinar_meeting.provider_id) == [email]

    erase_account(user=expert.user)
    assert conference.meeting is not None
    run(conference.meeting)
    run(webinar_meeting)

    assert email not in webex.invitees_of(conference.meeting.provider_id)
    assert webex.registrants_of(webinar_meeting.provider_id) == []
    for meeting in ProviderMeeting.objects.all():
        assert email not in meeting.invitees.wanted().values_list("email", flat=True)
        assert email not in on_provider(meeting)


# --- A registrant add whose answer never came ----------------------------------------------------


def test_a_registrant_add_that_timed_out_after_webex_registered_them_is_not_a_failure_on_retry(
    webex: FakeWebex, webinar_on_webex: tuple[Webinar, ProviderMeeting]
) -> None:
    webinar, meeting = webinar_on_webex
    first, second = factories.ClinicianFactory.create_batch(2)
    webinars.register(webinar=webinar, clinician=first)
    webinars.register(webinar=webinar, clinician=second)
    webex.stall_next_registrant()  # registered on Webex; the answer comes after the client gave up
    now = timezone.now()
    assert run(meeting, now) == "created"
    assert webex.registrants_of(meeting.provider_id) == [first.user.email]
    assert not fresh(meeting).sync_failed

    # The retry sends the first one again: Webex answers 409 Conflict, which means "there already".
    run(meeting, fresh(meeting).next_attempt_at)
    meeting = fresh(meeting)
    assert not meeting.sync_failed and meeting.last_error == "" and meeting.in_sync()
    assert webex.registrants_of(meeting.provider_id) == sorted([first.user.email, second.user.email])
    # The stalled add (answered only after the test), the retried one, the second person.
    sent = webex.requests_to("POST", f"/meetings/{meeting.provider_id}/registrants")
    assert [r.body["email"] for r in sent] == [first.user.email, first.user.email, second.user.email]
    assert [r.status for r in sent[1:]] == [409, 200]
