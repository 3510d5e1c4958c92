"""Webinars: publishing, registration with capacity and waitlist, what people are told,
the public programme, the calendar feed, the admin, personal data."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinicians.models import ERN, Clinician, Language
from cmss import outbox
from cmss.models import AuditEvent, OutgoingEmail
from conferences.calendar import reminders
from conferences.models import LocalVideoMeeting, ProviderMeeting, Registration, Webinar
from conferences.tasks import realise_meeting
from conferences.video import _backend_class
from conferences.webinars import services as webinars
from tests.conftest import sign_in_staff
from tests.factories import PASSWORD, ClinicianFactory, SpeakerFactory, StaffFactory, WebinarFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def local_backend(settings: Any) -> Iterator[None]:
    settings.VIDEO_BACKEND = "conferences.video.local.LocalBackend"
    _backend_class.cache_clear()
    yield
    _backend_class.cache_clear()


@pytest.fixture(autouse=True)
def no_broker() -> Iterator[None]:
    # Tasks are called directly where a test needs them; nothing is enqueued.
    with (
        mock.patch("conferences.tasks.realise_meeting.apply_async"),
        mock.patch("cmss.tasks.send_email.apply_async"),
    ):
        yield


@pytest.fixture
def agent() -> Any:
    return StaffFactory.create(role="agents")


def published(agent: Any, **kwargs: Any) -> Webinar:
    webinar = WebinarFactory.create(**kwargs)
    return webinars.publish_webinar(webinar=webinar, by=agent)


def meeting_id_of(webinar: Webinar) -> int:
    assert webinar.meeting_id is not None, "a published webinar has a provider webinar"
    return webinar.meeting_id


def emails_to(clinician: Clinician, template_part: str = "") -> list[OutgoingEmail]:
    # Seat notices are rendered after commit (or by the worker), which a test's
    # transaction never reaches: render what is pending, as the worker would.
    pending = OutgoingEmail.objects.filter(to_address=clinician.user.email).exclude(render={})
    for pk in pending.values_list("pk", flat=True):
        outbox.render_pending(pk)
    rows = OutgoingEmail.objects.filter(to_address=clinician.user.email, state="queued").order_by("pk")
    return [row for row in rows if template_part in row.subject]


def ics_of(email: OutgoingEmail) -> str:
    (attachment,) = email.attachments
    assert attachment["mimetype"] == "text/calendar"
    return base64.b64decode(attachment["content"]).decode()


# --- Registration, capacity and the waitlist --------------------------------------------------


def test_a_clinician_within_capacity_gets_a_seat_and_a_calendar_invitation(agent: Any) -> None:
    webinar = published(agent, capacity=2)
    clinician = ClinicianFactory.create(status="registered")
    registration = webinars.register(webinar=webinar, clinician=clinician)
    assert registration.status == "confirmed"
    (email,) = emails_to(clinician, "Your seat is confirmed")
    assert webinar.title in email.subject
    invitation = ics_of(email)
    assert "METHOD:REQUEST" in invitation
    assert f"UID:webinar-{webinar.pk}@" in invitation
    assert webinar.start.astimezone(UTC).strftime("DTSTART:%Y%m%dT%H%M%SZ") in invitation
    assert clinician.user.email in invitation
    # Registered on the provider webinar once it exists.
    meeting = ProviderMeeting.objects.get(pk=meeting_id_of(webinar))
    assert meeting.invitees.wanted().filter(email=clinician.user.email, role="registrant").exists()


def test_a_full_webinar_puts_new_registrants_on_the_waitlist_in_order(agent: Any) -> None:
    webinar = published(agent, capacity=1)
    first, second, third = ClinicianFactory.create_batch(3, status="verified")
    assert webinars.register(webinar=webinar, clinician=first).status == "confirmed"
    waiting = [webinars.register(webinar=webinar, clinician=c) for c in (second, third)]
    assert [r.status for r in waiting] == ["waitlisted", "waitlisted"]
    assert [webinars.waitlist_position(r) for r in waiting] == [1, 2]
    (email,) = emails_to(third, "waitlist")
    assert "number 2 on its waitlist" in email.text_body
    assert email.attachments == []


def test_the_seat_notice_is_queued_under_the_lock_and_written_after_commit(
    agent: Any, django_capture_on_commit_callbacks: Any
) -> None:
    webinar = published(agent, capacity=1)
    first, second = ClinicianFactory.create_batch(2, status="verified")
    with django_capture_on_commit_callbacks() as callbacks:
        webinars.register(webinar=webinar, clinician=first)
        webinars.register(webinar=webinar, clinician=second)
        # In the transaction that holds the seat lock: the rows, not yet their text.
        rows = OutgoingEmail.objects.filter(to_address__in=[first.user.email, second.user.email])
        assert [(row.subject, row.text_body, row.attachments) for row in rows] == [("", "", [])] * 2
        assert {row.render["args"]["what"] for row in rows} == {"confirmed", "waitlisted"}
    with mock.patch("cmss.outbox.enqueue") as enqueue:
        for callback in callbacks:
            callback()
    seat = OutgoingEmail.objects.get(to_address=first.user.email)
    place = OutgoingEmail.objects.get(to_address=second.user.email)
    assert seat.render == place.render == {}
    assert "Your seat is confirmed" in seat.subject and webinar.title in seat.subject
    assert "METHOD:REQUEST" in ics_of(seat)
    assert "number 1 on its waitlist" in place.text_body
    assert sorted(call.args[0] for call in enqueue.call_args_list) == sorted([seat.pk, place.pk])


def test_a_seat_notice_the_web_process_never_wrote_is_written_by_the_worker(
    agent: Any, mailoutbox: Any
) -> None:
    webinar = published(agent)
    clinician = ClinicianFactory.create(status="verified")
    webinars.register(webinar=webinar, clinician=clinician)
    # The process died between the commit and the rendering: the row waits.
    row = OutgoingEmail.objects.get(to_address=clinician.user.email)
    assert row.render and row.subject == ""
    assert outbox.deliver(email_id=row.pk) == OutgoingEmail.State.SENT
    (sent,) = mailoutbox
    assert "Your seat is confirmed" in sent.subject and sent.to == [clinician.user.email]
    assert "METHOD:REQUEST" in sent.attachments[0][1]
    row.refresh_from_db()
    assert row.render == {} and "Your seat is confirmed" in row.subject


def test_a_waitlist_notice_overtaken_by_a_promotion_is_not_sent(agent: Any, mailoutbox: Any) -> None:
    webinar = published(agent, capacity=1)
    first, second = ClinicianFactory.create_batch(2, status="verified")
    seat = webinars.register(webinar=webinar, clinician=first)
    webinars.register(webinar=webinar, clinician=second)
    # The first person cancels before the second one's waitlist email was written.
    webinars.cancel_registration(registration=seat)
    waitlisted = OutgoingEmail.objects.get(to_address=second.user.email, dedup_key__contains="waitlisted")
    assert outbox.deliver(email_id=waitlisted.pk) == OutgoingEmail.State.CANCELLED
    (promoted,) = emails_to(second)
    assert "seat" in promoted.subject.lower()
    assert mailoutbox == []


def test_registering_twice_is_refused_and_keeps_one_row(agent: Any) -> None:
    webinar = published(agent)
    clinician = ClinicianFactory.create()
    webinars.register(webinar=webinar, clinician=clinician)
    with pytest.raises(webinars.WebinarError, match="already have a seat"):
        webinars.register(webinar=webinar, clinician=clinician)
    assert Registration.objects.filter(webinar=webinar, clinician=clinician).count() == 1
    assert len(emails_to(clinician)) == 1


@pytest.mark.parametrize("status", ["suspended", "rejected"])
def test_suspended_and_rejected_clinicians_cannot_register(agent: Any, status: str) -> None:
    webinar = published(agent)
    with pytest.raises(webinars.WebinarError, match="Only registered and verified"):
        webinars.register(webinar=webinar, clinician=ClinicianFactory.create(status=status))
    assert not Registration.objects.exists()


def test_nobody_registers_for_a_draft_or_a_webinar_that_has_started(agent: Any) -> None:
    clinician = ClinicianFactory.create()
    with pytest.raises(webinars.WebinarError, match="closed"):
        webinars.register(webinar=WebinarFactory.create(), clinician=clinician)
    webinar = published(agent)
    with pytest.raises(webinars.WebinarError, match="closed"):
        webinars.register(webinar=webinar, clinician=clinician, now=webinar.start + timedelta(minutes=1))


def test_cancelling_a_seat_promotes_the_first_person_waiting_who_gets_the_ics(agent: Any) -> None:
    webinar = published(agent, capacity=1)
    seated, first_waiting, second_waiting = ClinicianFactory.create_batch(3)
    mine = webinars.register(webinar=webinar, clinician=seated)
    webinars.register(webinar=webinar, clinician=first_waiting)
    webinars.register(webinar=webinar, clinician=second_waiting)

    webinars.cancel_registration(registration=mine)

    statuses = dict(Registration.objects.values_list("clinician_id", "status"))
    assert statuses == {
        seated.pk: "cancelled",
        first_waiting.pk: "confirmed",
        second_waiting.pk: "waitlisted",
    }
    assert webinars.waitlist_position(Registration.objects.get(clinician=second_waiting)) == 1
    (cancelled,) = emails_to(seated, "Registration cancelled")
    assert "METHOD:CANCEL" in ics_of(cancelled)
    (promoted,) = emails_to(first_waiting, "A seat is yours")
    assert "METHOD:REQUEST" in ics_of(promoted)
    assert emails_to(second_waiting, "A seat is yours") == []
    meeting = ProviderMeeting.objects.get(pk=meeting_id_of(webinar))
    addresses = set(meeting.invitees.wanted().values_list("email", flat=True))
    assert first_waiting.user.email in addresses and seated.user.email not in addresses


def test_leaving_the_waitlist_promotes_nobody_and_says_so(agent: Any) -> None:
    webinar = published(agent, capacity=1)
    seated, waiting = ClinicianFactory.create_batch(2)
    webinars.register(webinar=webinar, clinician=seated)
    registration = webinars.register(webinar=webinar, clinician=waiting)
    webinars.cancel_registration(registration=registration)
    (email,) = emails_to(waiting, "Registration cancelled")
    assert "You have left the waitlist" in email.text_body and email.attachments == []
    with pytest.raises(webinars.WebinarError, match="already cancelled"):
        webinars.cancel_registration(registration=registration)


def test_registering_again_after_cancelling_goes_to_the_back_of_the_queue(agent: Any) -> None:
    webinar = published(agent, capacity=1)
    seated, waiting, back = ClinicianFactory.create_batch(3)
    webinars.register(webinar=webinar, clinician=seated)
    webinars.register(webinar=webinar, clinician=waiting)
    mine = webinars.register(webinar=webinar, clinician=back)
    webinars.cancel_registration(registration=mine)
    again = webinars.register(webinar=webinar, clinician=back)
    assert again.pk == mine.pk and again.status == "waitlisted"
    assert webinars.waitlist_position(again) == 2
    assert len(emails_to(back, "waitlist")) == 2  # each registration is confirmed by email


def test_raising_the_capacity_promotes_from_the_waitlist_in_order(agent: Any) -> None:
    webinar = published(agent, capacity=1)
    people = ClinicianFactory.create_batch(4)
    for clinician in people:
        webinars.register(webinar=webinar, clinician=clinician)
    webinar.capacity = 3
    webinars.change_webinar(webinar=webinar, by=agent)
    statuses = [Registration.objects.get(clinician=c).status for c in people]
    assert statuses == ["confirmed", "confirmed", "confirmed", "waitlisted"]
    assert len(emails_to(people[1], "A seat is yours")) == 1
    assert emails_to(people[3], "A seat is yours") == []


def test_the_capacity_cannot_go_below_the_confirmed_seats(agent: Any) -> None:
    webinar = published(agent, capacity=3)
    for clinician in ClinicianFactory.create_batch(2):
        webinars.register(webinar=webinar, clinician=clinician)
    webinar.capacity = 1
    with pytest.raises(webinars.WebinarError, match="2 seats are already confirmed"):
        webinars.change_webinar(webinar=webinar, by=agent)


# --- The webinar's life -------------------------------------------------------------------------


def test_publishing_creates_the_provider_webinar_with_the_speakers_as_panelists(agent: Any) -> None:
    webinar = WebinarFactory.create()
    SpeakerFactory.create(webinar=webinar, email="prof.lung@ern.example.org")
    expert = ClinicianFactory.create(status="verified")
    SpeakerFactory.create(webinar=webinar, clinician=expert, email="")
    webinars.publish_webinar(webinar=webinar, by=agent)
    webinar.refresh_from_db()
    assert webinar.meeting is not None
    assert webinar.state == "published" and webinar.meeting.key == f"webinar-{webinar.pk}"
    assert webinar.meeting.kind == "webinar"
    attendee = ClinicianFactory.create()
    webinars.register(webinar=webinar, clinician=attendee)

    assert realise_meeting(meeting_id_of(webinar)) == "created"
    assert realise_meeting(meeting_id_of(webinar)) == "created"  # the registrant, pushed once it exists
    remote = LocalVideoMeeting.objects.get(key=f"webinar-{webinar.pk}")
    assert remote.kind == "webinar"
    assert set(remote.invitees) == {"prof.lung@ern.example.org", expert.user.email, attendee.user.email}
    assert webinar.events.filter(action="provider webinar created").exists()
    webinar.refresh_from_db()
    assert webinar.join_url.startswith("http://testserver/video/local/")
    with pytest.raises(webinars.WebinarError, match="Only a draft"):
        webinars.publish_webinar(webinar=webinar, by=agent)


def test_cancelling_a_webinar_tells_everyone_and_cancels_the_provider_webinar(agent: Any) -> None:
    webinar = published(agent, capacity=1)
    realise_meeting(meeting_id_of(webinar))
    seated, waiting = ClinicianFactory.create_batch(2)
    webinars.register(webinar=webinar, clinician=seated)
    webinars.register(webinar=webinar, clinician=waiting)

    webinars.cancel_webinar(webinar=webinar, by=agent, reason="The speaker is ill.")
    realise_meeting(meeting_id_of(webinar))

    webinar.refresh_from_db()
    assert webinar.state == "cancelled" and webinar.sequence == 1
    assert LocalVideoMeeting.objects.get(key=f"webinar-{webinar.pk}").cancelled_at is not None
    (to_seated,) = emails_to(seated, "Webinar cancelled")
    calendar = ics_of(to_seated)
    assert "METHOD:CANCEL" in calendar and "SEQUENCE:1" in calendar
    assert "The speaker is ill." in to_seated.text_body
    (to_waiting,) = emails_to(waiting, "Webinar cancelled")
    assert to_waiting.attachments == []
    # Cancelling again changes nothing and sends nothing.
    with pytest.raises(webinars.WebinarError):
        webinars.cancel_webinar(webinar=webinar, by=agent)
    assert len(emails_to(seated, "Webinar cancelled")) == 1


def test_moving_a_published_webinar_sends_an_update_with_a_higher_sequence(agent: Any) -> None:
    webinar = published(agent)
    clinician = ClinicianFactory.create()
    webinars.register(webinar=webinar, clinician=clinician)
    webinar.start += timedelta(hours=2)
    webinars.change_webinar(webinar=webinar, by=agent)
    (update,) = emails_to(clinician, "Webinar changed")
    calendar = ics_of(update)
    assert "SEQUENCE:1" in calendar and f"UID:webinar-{webinar.pk}@" in calendar
    assert webinar.start.astimezone(UTC).strftime("DTSTART:%Y%m%dT%H%M%SZ") in calendar
    meeting = ProviderMeeting.objects.get(pk=meeting_id_of(webinar))
    assert meeting.start == webinar.start and meeting.end == webinar.start + timedelta(minutes=60)


def test_marking_held_with_a_recording_tells_confirmed_registrants_once(agent: Any) -> None:
    webinar = published(agent, capacity=1)
    seated, waiting = ClinicianFactory.create_batch(2)
    webinars.register(webinar=webinar, clinician=seated)
    webinars.register(webinar=webinar, clinician=waiting)
    with pytest.raises(webinars.WebinarError, match="not started"):
        webinars.mark_held(webinar=webinar, by=agent)
    after = webinar.start + timedelta(hours=2)
    webinars.mark_held(webinar=webinar, by=agent, recording_url="https://video.example.org/r/1", now=after)
    webinar.refresh_from_db()
    assert webinar.state == "held" and webinar.recording_url == "https://video.example.org/r/1"
    (email,) = emails_to(seated, "Recording available")
    assert "https://video.example.org/r/1" in email.text_body
    assert emails_to(waiting, "Recording available") == []
    # Saving the page again sends nothing; a new link is sent once.
    webinars.change_webinar(webinar=webinar, by=agent)
    webinar.recording_url = "https://video.example.org/r/2"
    webinars.change_webinar(webinar=webinar, by=agent)
    webinars.change_webinar(webinar=webinar, by=agent)
    assert len(emails_to(seated, "Recording available")) == 2


def test_reminders_go_out_a_day_and_an_hour_before_once_each(agent: Any) -> None:
    webinar = published(agent)
    clinician = ClinicianFactory.create()
    webinars.register(webinar=webinar, clinician=clinician, now=webinar.start - timedelta(days=3))
    Registration.objects.update(confirmed_at=webinar.start - timedelta(days=3))
    day_before = webinar.start - timedelta(hours=23)
    reminders.sweep(now=day_before)
    reminders.sweep(now=day_before + timedelta(minutes=5))
    hour_before = webinar.start - timedelta(minutes=50)
    reminders.sweep(now=hour_before)
    subjects = [email.subject for email in emails_to(clinician) if "confirmed" not in email.subject]
    assert subjects == [f"[CMSS] Tomorrow: {webinar.title}", f"[CMSS] Starts in an hour: {webinar.title}"]


def test_emails_show_the_time_in_the_registrants_zone_with_the_zone_named(agent: Any) -> None:
    webinar = published(agent, start=datetime(2031, 3, 4, 15, 0, tzinfo=UTC))
    clinician = ClinicianFactory.create(user__time_zone="Europe/Lisbon")
    webinars.register(webinar=webinar, clinician=clinician)
    (email,) = emails_to(clinician, "Your seat")
    assert "Tuesday 4 March 2031, 15:00–16:00 (Europe/Lisbon)" in email.text_body


# --- Pages -----------------------------------------------------------------------------------


def test_the_programme_lists_upcoming_first_then_past_with_recordings(client: Client, agent: Any) -> None:
    soon = published(agent, title="Soon: MetabERN and COVID-19", start=timezone.now() + timedelta(days=1))
    later = published(agent, title="Later: ERN EYE", start=timezone.now() + timedelta(days=9))
    past = WebinarFactory.create(
        title="Past: VASCERN",
        state="held",
        start=timezone.now() - timedelta(days=20),
        recording_url="https://video.example.org/vascern",
    )
    WebinarFactory.create(title="A draft nobody sees")
    WebinarFactory.create(title="Cancelled one", state="cancelled")
    page = client.get("/webinars/").content.decode()
    assert page.index(soon.title) < page.index(later.title) < page.index(past.title)
    assert "https://video.example.org/vascern" in page
    assert "A draft nobody sees" not in page and "Cancelled one" not in page
    assert "Europe/Brussels" in page
    assert "20 seats left" in page


def test_the_programme_filters_by_network_and_language(client: Client, agent: Any) -> None:
    eye, lung = ERN.objects.get(code="ern-eye"), ERN.objects.get(code="ern-lung")
    published(agent, title="Eyes in French", erns=[eye], language=Language.objects.get(code="fr"))
    published(agent, title="Lungs in English", erns=[lung])
    by_ern = client.get(f"/webinars/?ern={eye.pk}").content.decode()
    assert "Eyes in French" in by_ern and "Lungs in English" not in by_ern
    by_language = client.get("/webinars/?language=en").content.decode()
    assert "Lungs in English" in by_language and "Eyes in French" not in by_language
    bad = client.get("/webinars/?ern=nonsense&language=zz")
    assert bad.status_code == 200
    assert "Select a valid choice" in bad.content.decode()


def test_the_programme_shows_times_in_the_viewers_zone(client: Client, agent: Any) -> None:
    start = datetime(2031, 3, 4, 15, 0, tzinfo=UTC)
    published(agent, start=start)
    clinician = ClinicianFactory.create(user__time_zone="Europe/Helsinki")
    client.force_login(clinician.user)
    page = client.get("/webinars/").content.decode()
    assert "Tuesday 4 March 2031, 17:00" in page and "Europe/Helsinki" in page


def make_programme(agent: Any, n: int) -> None:
    for i in range(n):
        webinar = published(agent, start=timezone.now() + timedelta(days=1 + i))
        SpeakerFactory.create(webinar=webinar)
        webinars.register(webinar=webinar, clinician=ClinicianFactory.create())
        WebinarFactory.create(
            state="held", start=timezone.now() - timedelta(days=1 + i), recording_url="https://x.org/r"
        )


def test_the_programme_keeps_the_same_number_of_queries_as_it_grows(client: Client, agent: Any) -> None:
    viewer = ClinicianFactory.create()
    client.force_login(viewer.user)
    make_programme(agent, 2)
    client.get("/webinars/")
    with CaptureQueriesContext(connection) as small:
        assert client.get("/webinars/").status_code == 200
    make_programme(agent, 48)
    client.get("/webinars/")  # the programme changed: built once again, then read from the cache
    with CaptureQueriesContext(connection) as large:
        assert client.get("/webinars/").status_code == 200
    assert len(large) == len(small), [q["sql"][:150] for q in large.captured_queries]


def test_the_webinar_page_shows_everything_and_a_register_button(client: Client, agent: Any) -> None:
    webinar = published(agent, recorded=True, capacity=5)
    SpeakerFactory.create(webinar=webinar, name="Prof. Maria Lung", affiliation="Charité, Berlin")
    page = client.get(f"/webinars/{webinar.pk}/").content.decode()
    for text in (
        webinar.title,
        webinar.description,
        "Prof. Maria Lung",
        "Charité, Berlin",
        "ERN LUNG",
        "English",
    ):
        assert text in page
    assert "this webinar is recorded" in page
    assert "5 of 5" in page
    assert "Sign in to register" in page  # a visitor is asked to sign in


def test_drafts_answer_404_except_to_staff(client: Client, agent: Any) -> None:
    draft = WebinarFactory.create()
    assert client.get(f"/webinars/{draft.pk}/").status_code == 404
    client.force_login(ClinicianFactory.create(status="verified").user)
    assert client.get(f"/webinars/{draft.pk}/").status_code == 404
    assert client.post(f"/webinars/{draft.pk}/register/").status_code == 404
    assert client.get("/webinars/999999/").status_code == 404
    sign_in_staff(client, agent)
    assert "Draft: only the helpdesk" in client.get(f"/webinars/{draft.pk}/").content.decode()


def test_a_clinician_registers_from_the_page_and_only_then_sees_the_join_link(
    client: Client, agent: Any
) -> None:
    webinar = published(agent, capacity=1)
    realise_meeting(meeting_id_of(webinar))
    join_url = ProviderMeeting.objects.get(pk=meeting_id_of(webinar)).join_url
    clinician = ClinicianFactory.create()
    client.force_login(clinician.user)
    assert join_url not in client.get(f"/webinars/{webinar.pk}/").content.decode()
    response = client.post(f"/webinars/{webinar.pk}/register/", follow=True)
    page = response.content.decode()
    assert "Your seat is confirmed" in page and join_url in page
    assert "Cancel my registration" in page

    other = Client()
    other.force_login(ClinicianFactory.create().user)
    page = other.post(f"/webinars/{webinar.pk}/register/", follow=True).content.decode()
    assert "you are number 1 on the waitlist" in page and join_url not in page
    assert "Leave the waitlist" in page

    again = client.post(f"/webinars/{webinar.pk}/register/", follow=True).content.decode()
    assert "You already have a seat at this webinar." in again


def test_a_clinician_cancels_from_the_page_and_cannot_cancel_someone_elses(
    client: Client, agent: Any
) -> None:
    webinar = published(agent)
    mine, theirs = ClinicianFactory.create_batch(2)
    webinars.register(webinar=webinar, clinician=mine)
    webinars.register(webinar=webinar, clinician=theirs)
    client.force_login(mine.user)
    page = client.post(f"/webinars/{webinar.pk}/cancel/", follow=True).content.decode()
    assert "Your registration is cancelled" in page
    assert client.post(f"/webinars/{webinar.pk}/cancel/").status_code == 404  # nothing active left
    assert Registration.objects.get(clinician=theirs).status == "confirmed"


def test_visitors_and_staff_cannot_register(client: Client, agent: Any) -> None:
    webinar = published(agent)
    response = client.post(f"/webinars/{webinar.pk}/register/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    sign_in_staff(client, agent)
    page = client.post(f"/webinars/{webinar.pk}/register/", follow=True).content.decode()
    assert "Only clinicians of the network can register" in page
    assert not Registration.objects.exists()


def test_the_calendar_feed_publishes_the_programme(client: Client, agent: Any) -> None:
    upcoming = published(agent, title="Feed: ERN RITA")
    cancelled = published(agent, title="Feed: cancelled")
    webinars.cancel_webinar(webinar=cancelled, by=agent, reason="Ill")
    WebinarFactory.create(title="Feed: draft")
    response = client.get("/webinars/feed.ics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    body = response.content.decode()
    assert "METHOD:PUBLISH" in body and "Feed: ERN RITA" in body
    assert f"UID:webinar-{upcoming.pk}@" in body
    assert "Feed: draft" not in body
    assert "STATUS:CANCELLED" in body


# --- The admin ---------------------------------------------------------------------------------


def test_an_agent_creates_a_webinar_with_speakers_and_publishes_it(client: Client, agent: Any) -> None:
    sign_in_staff(client, agent)
    lung = ERN.objects.get(code="ern-lung")
    start = timezone.localtime(timezone.now() + timedelta(days=10))
    data = {
        "title": "ECMO in patients with cystic fibrosis",
        "description": "Case-based.",
        "erns": [lung.pk],
        "language": "en",
        "start_0": start.strftime("%Y-%m-%d"),
        "start_1": "15:00:00",
        "duration_minutes": "90",
        "time_zone": "Europe/Brussels",
        "capacity": "2",
        "recorded": "on",
        "recording_url": "",
        "speakers-TOTAL_FORMS": "1",
        "speakers-INITIAL_FORMS": "0",
        "speakers-0-position": "1",
        "speakers-0-name": "Dr Ana Pulmo",
        "speakers-0-affiliation": "ERN LUNG",
        "speakers-0-email": "ana.pulmo@ern.example.org",
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
    }
    response = client.post("/admin/conferences/webinar/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    webinar = Webinar.objects.get()
    assert webinar.state == "draft" and webinar.created_by == agent
    assert webinar.speakers.get().name == "Dr Ana Pulmo"
    page = client.get(f"/admin/conferences/webinar/{webinar.pk}/change/").content.decode()
    assert "Publish" in page
    response = client.post(f"/admin/conferences/webinar/{webinar.pk}/publish/", follow=True)
    assert "The webinar is published" in response.content.decode()
    webinar.refresh_from_db()
    assert webinar.meeting is not None
    assert webinar.state == "published" and webinar.meeting.invitees.get().role == "panelist"


def test_bad_admin_input_is_shown_next_to_the_field(client: Client, agent: Any) -> None:
    sign_in_staff(client, agent)
    webinar = published(agent, capacity=3)
    for clinician in ClinicianFactory.create_batch(2):
        webinars.register(webinar=webinar, clinician=clinician)
    page = client.get(f"/admin/conferences/webinar/{webinar.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    local = timezone.localtime(webinar.start)
    data.update(
        erns=[e.pk for e in webinar.erns.all()],
        start_0=local.strftime("%Y-%m-%d"),
        start_1=local.strftime("%H:%M:%S"),
        capacity="1",
        duration_minutes="5",
        recording_url="javascript:alert(1)",
        **{
            "speakers-TOTAL_FORMS": "0",
            "speakers-INITIAL_FORMS": "0",
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )
    data = {k: v for k, v in data.items() if v is not None and k != "start"}
    response = client.post(f"/admin/conferences/webinar/{webinar.pk}/change/", data)
    assert response.status_code == 200
    text = response.content.decode()
    assert "2 seats are already confirmed: the capacity cannot be lower." in text
    assert "A webinar lasts between 15 and 480 minutes." in text
    assert Webinar.objects.get(pk=webinar.pk).capacity == 3


def test_the_agent_cancels_a_webinar_with_a_reason(client: Client, agent: Any) -> None:
    sign_in_staff(client, agent)
    webinar = published(agent)
    clinician = ClinicianFactory.create()
    webinars.register(webinar=webinar, clinician=clinician)
    assert client.get(f"/admin/conferences/webinar/{webinar.pk}/cancel/").status_code == 200
    response = client.post(f"/admin/conferences/webinar/{webinar.pk}/cancel/", {"reason": ""})
    assert response.status_code == 400 and "This field is required." in response.content.decode()
    client.post(f"/admin/conferences/webinar/{webinar.pk}/cancel/", {"reason": "Speaker ill"})
    assert Webinar.objects.get(pk=webinar.pk).state == "cancelled"
    assert len(emails_to(clinician, "Webinar cancelled")) == 1


def test_the_agent_marks_a_webinar_held_with_its_recording(client: Client, agent: Any) -> None:
    sign_in_staff(client, agent)
    webinar = published(agent)
    Webinar.objects.filter(pk=webinar.pk).update(start=timezone.now() - timedelta(hours=2))
    response = client.post(
        f"/admin/conferences/webinar/{webinar.pk}/held/", {"recording_url": "https://video.example.org/r/9"}
    )
    assert response.status_code == 302
    webinar.refresh_from_db()
    assert webinar.state == "held" and webinar.recording_url == "https://video.example.org/r/9"


def test_the_attendee_export_is_formula_safe_and_audited(client: Client, agent: Any) -> None:
    sign_in_staff(client, agent)
    webinar = published(agent, capacity=1)
    webinars.register(webinar=webinar, clinician=ClinicianFactory.create(first_name="=HYPERLINK(1)"))
    webinars.register(webinar=webinar, clinician=ClinicianFactory.create(first_name="Second"))
    response = client.get(f"/admin/conferences/webinar/{webinar.pk}/attendees.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.getvalue().decode().lstrip("\ufeff"))))
    assert rows[0][:3] == ["status", "waitlist position", "first name"]
    assert rows[1][0] == "confirmed" and rows[1][2] == "'=HYPERLINK(1)"
    assert rows[2][:3] == ["waitlisted", "1", "Second"]
    assert AuditEvent.objects.filter(action="webinar.attendees_exported", object_id=str(webinar.pk)).exists()


def test_an_agent_cancels_a_registration_from_the_admin_and_the_seat_moves_on(
    client: Client, agent: Any
) -> None:
    sign_in_staff(client, agent)
    webinar = published(agent, capacity=1)
    seated, waiting = ClinicianFactory.create_batch(2)
    registration = webinars.register(webinar=webinar, clinician=seated)
    webinars.register(webinar=webinar, clinician=waiting)
    page = client.get(f"/admin/conferences/registration/?webinar__id__exact={webinar.pk}").content.decode()
    assert seated.user.email in page and waiting.user.email in page
    client.post(
        "/admin/conferences/registration/",
        {"action": "cancel_selected", "_selected_action": [registration.pk]},
    )
    assert Registration.objects.get(clinician=waiting).status == "confirmed"
    (email,) = emails_to(seated, "Registration cancelled")
    assert "The helpdesk has cancelled your registration" in email.text_body


def make_registrations(agent: Any, n: int) -> None:
    webinar = published(agent, capacity=max(n // 2, 1))
    for clinician in ClinicianFactory.create_batch(n):
        webinars.register(webinar=webinar, clinician=clinician)


@pytest.mark.parametrize("path", ["/admin/conferences/registration/", "/admin/conferences/webinar/"])
def test_the_changelists_keep_the_same_number_of_queries_at_2_and_50_rows(
    client: Client, agent: Any, path: str
) -> None:
    sign_in_staff(client, agent)
    make_registrations(agent, 2)
    WebinarFactory.create()
    client.get(path)
    with CaptureQueriesContext(connection) as small:
        assert client.get(path).status_code == 200
    make_registrations(agent, 48)
    for _ in range(48):
        published(agent)
    # Once more first: the webinars made bring languages and ERNs, whose cached
    # filter choices the first page after the change builds again.
    client.get(path)
    with CaptureQueriesContext(connection) as large:
        assert client.get(path).status_code == 200
    assert len(large) == len(small), [q["sql"][:150] for q in large.captured_queries]


# --- Personal data ------------------------------------------------------------------------------


def test_my_registrations_are_in_my_data_export(client: Client, agent: Any) -> None:
    clinician = ClinicianFactory.create()
    webinars.register(webinar=published(agent), clinician=clinician)
    client.force_login(clinician.user)
    data = json.loads(client.post("/profile/data/").content)["data"]
    (row,) = data["conferences.registration"]
    assert row["status"] == "confirmed"
    assert set(Registration.PERSONAL_DATA_FIELDS) <= set(row)


def test_erasing_an_account_frees_its_seat_for_the_next_person_waiting(client: Client, agent: Any) -> None:
    webinar = published(agent, capacity=1)
    leaving = ClinicianFactory.create(first_name="Xanthippe", last_name="Quarkwood")
    waiting = ClinicianFactory.create()
    webinars.register(webinar=webinar, clinician=leaving)
    webinars.register(webinar=webinar, clinician=waiting)
    SpeakerFactory.create(webinar=webinar, clinician=leaving, name="Xanthippe Quarkwood", email="")
    client.force_login(leaving.user)
    client.post("/profile/delete/", {"password": PASSWORD, "confirm": "on"})
    assert not Clinician.objects.filter(pk=leaving.pk).exists()
    assert list(Registration.objects.values_list("clinician_id", "status")) == [(waiting.pk, "confirmed")]
    assert len(emails_to(waiting, "A seat is yours")) == 1
    assert not OutgoingEmail.objects.filter(to_address=leaving.user.email).exists()
    assert webinar.speakers.get().name == "[erased]"
    meeting = ProviderMeeting.objects.get(pk=meeting_id_of(webinar))
    assert leaving.user.email not in meeting.invitees.wanted().values_list("email", flat=True)
