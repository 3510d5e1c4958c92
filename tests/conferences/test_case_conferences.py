"""Case-discussion conferences: the coordinator's request, the helpdesk's
moves on the ticket, invitations with calendar files, answers, reminders."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import time_machine
from django.db import connection
from django.db.models import Q
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinicians.models import ERN, Specialty
from cmss.models import OutgoingEmail, RetentionPolicy
from conferences.calendar import reminders
from conferences.cases import outcomes
from conferences.cases import services as case_conferences
from conferences.meetings import pipeline
from conferences.models import Conference, ConferenceEvent, Invitation, LocalVideoMeeting, ProviderMeeting
from helpdesk.models import Ticket, TicketMessage
from tests import factories
from tests.conftest import sign_in_staff

pytestmark = pytest.mark.django_db

LOCAL = "%Y-%m-%dT%H:%M"


@pytest.fixture(autouse=True)
def local_backend(settings: Any) -> None:
    settings.VIDEO_BACKEND = "conferences.video.local.LocalBackend"


def emails_to(address: str) -> list[OutgoingEmail]:
    return list(OutgoingEmail.objects.filter(to_address=address).order_by("pk"))


def calendar_of(email: OutgoingEmail) -> icalendar.Calendar:
    [attachment] = [item for item in email.attachments if item["filename"].endswith(".ics")]
    assert attachment["mimetype"] == "text/calendar"
    return icalendar.Calendar.from_ical(base64.b64decode(attachment["content"]))


def event_of(email: OutgoingEmail) -> icalendar.Event:
    [event] = calendar_of(email).events
    return event


def local(moment: Any, zone: str) -> str:
    return timezone.localtime(moment, ZoneInfo(zone)).strftime(LOCAL)


def soon(days: int = 3, hour: int = 10) -> Any:
    base = timezone.localtime(timezone.now() + timedelta(days=days), ZoneInfo("Europe/Brussels"))
    return base.replace(hour=hour, minute=0, second=0, microsecond=0)


@pytest.fixture
def coordinator_user(coordinator: Any) -> Any:
    coordinator.user.time_zone = "Europe/Lisbon"
    coordinator.user.save()
    return coordinator


@pytest.fixture
def expert(db: None) -> Any:
    clinician = factories.ClinicianFactory.create(
        status="verified", first_name="Ingrid", last_name="Halvorsen"
    )
    clinician.user.time_zone = "Europe/Helsinki"
    clinician.user.save()
    return clinician


def request_form(expert: Any, **overrides: Any) -> dict[str, Any]:
    data = {
        "title": "Post-COVID myocarditis in a Fabry patient",
        "question": "Should we start enzyme replacement again while the troponin is rising?",
        "case_summary": "Man in his forties, Fabry disease on ERT, admitted day 0 with COVID-19 pneumonia.",
        "anonymised": "on",
        "urgency": "routine",
        "slot_1": local(soon(3), "Europe/Lisbon"),
        "slot_2": local(soon(4), "Europe/Lisbon"),
        "duration_minutes": "60",
        "invitees": [str(expert.pk)],
        "erns": [str(ERN.objects.get(name="ERN GUARD-HEART").pk)],
    }
    data.update(overrides)
    return data


def make_conference(coordinator: Any, expert: Any, *, urgency: str = "routine") -> Conference:
    return case_conferences.request_conference(
        coordinator=coordinator,
        data=case_conferences.RequestData(
            title="Fabry and COVID-19",
            question="What now?",
            case_summary="Anonymised summary.",
            urgency=urgency,
            slots=[soon(3), soon(4)],
            duration_minutes=60,
            time_zone="Europe/Lisbon",
            invitees=[expert],
        ),
    )


def scheduled(coordinator: Any, expert: Any, agent: Any, *, start: Any = None) -> Conference:
    conference = make_conference(coordinator, expert)
    case_conferences.approve(conference=conference, start=start or soon(3), by=agent)
    conference.refresh_from_db()
    return conference


def report(advice: str) -> outcomes.ReportData:
    return outcomes.ReportData(question="What now?", advice=advice, agreement="consensus")


def meeting_id_of(conference: Conference) -> int:
    assert conference.meeting_id is not None, "a scheduled conference has a provider meeting"
    return conference.meeting_id


def realise(conference: Conference) -> Conference:
    conference.refresh_from_db()
    pipeline.realise_meeting(meeting_id=meeting_id_of(conference))
    conference.refresh_from_db()
    return conference


# --- Requesting ----------------------------------------------------------------------------


def test_a_coordinator_requests_a_conference_which_becomes_a_ticket(
    client: Client, coordinator_user: Any, expert: Any
) -> None:
    client.force_login(coordinator_user.user)
    page = client.get(reverse("conferences:request"))
    assert page.status_code == 200
    assert "No patient identifiers" in page.content.decode()
    assert "Your time zone: Europe/Lisbon" in page.content.decode()

    response = client.post(reverse("conferences:request"), request_form(expert, urgency="urgent"))

    conference = Conference.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("conferences:detail", args=[conference.pk])
    assert conference.state == Conference.State.REQUESTED
    assert conference.hospital == coordinator_user.hospital
    assert conference.time_zone == "Europe/Lisbon"
    # Typed in Lisbon: 10:00 Brussels is 09:00 Lisbon, stored as the same instant.
    assert [slot.start for slot in conference.slots.all()] == [soon(3), soon(4)]
    assert [item.clinician for item in conference.invitations.all()] == [expert]
    assert [ern.name for ern in conference.erns.all()] == ["ERN GUARD-HEART"]
    ticket = conference.ticket
    assert ticket is not None
    assert ticket.kind == Ticket.Kind.CONFERENCE_REQUEST
    assert ticket.priority == Ticket.Priority.URGENT
    assert ticket.requester == coordinator_user.user
    [ack] = emails_to(coordinator_user.user.email)
    assert "Conference request received" in ack.subject
    # Nobody is invited before the helpdesk schedules it.
    assert emails_to(expert.user.email) == []


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"anonymised": ""}, "anonymised", "Confirm that the summary is anonymised"),
        ({"slot_1": "2020-01-01T10:00"}, "slot_1", "Choose a time in the future."),
        ({"slot_1": "tomorrow at ten"}, "slot_1", "Enter a valid date/time."),
        ({"duration_minutes": "20"}, "duration_minutes", "greater than or equal to 30"),
        ({"duration_minutes": "240"}, "duration_minutes", "less than or equal to 180"),
        ({"title": ""}, "title", "This field is required."),
        ({"invitees": ["999999"]}, "invitees", "Select a valid choice."),
    ],
)
def test_bad_input_is_shown_next_to_the_field_and_nothing_is_saved(
    client: Client, coordinator_user: Any, expert: Any, change: dict[str, Any], field: str, message: str
) -> None:
    client.force_login(coordinator_user.user)
    data = request_form(expert)
    data.update(change)
    if change.get("anonymised") == "":
        data.pop("anonymised")

    response = client.post(reverse("conferences:request"), data)

    assert response.status_code == 200
    assert message in " ".join(str(error) for error in response.context["form"].errors[field])
    assert f'id="id_{field}_error"' in response.content.decode()
    assert not Conference.objects.exists()
    assert not Ticket.objects.filter(kind=Ticket.Kind.CONFERENCE_REQUEST).exists()


def test_the_same_time_proposed_twice_is_an_error(client: Client, coordinator_user: Any, expert: Any) -> None:
    client.force_login(coordinator_user.user)
    data = request_form(expert)
    data["slot_2"] = data["slot_1"]
    response = client.post(reverse("conferences:request"), data)
    assert "This time is proposed twice." in response.content.decode()
    assert not Conference.objects.exists()


def test_only_coordinators_may_request(client: Client, verified: Any, registered: Any) -> None:
    for clinician in (verified, registered):
        client.force_login(clinician.user)
        response = client.get(reverse("conferences:request"))
        assert response.status_code == 403
        assert "coordinators of hospitals identified as reference centres" in response.content.decode()
        assert client.post(reverse("conferences:request"), {"title": "x"}).status_code == 403
    assert not Conference.objects.exists()


def test_invitee_search_as_you_type_uses_the_directory(client: Client, coordinator: Any, expert: Any) -> None:
    hidden = factories.ClinicianFactory.create(status="verified", first_name="Ingrid", last_name="Hidden")
    hidden.listed_in_directory = False
    hidden.save()
    factories.ClinicianFactory.create(status="registered", first_name="Ingrid", last_name="Unverified")
    client.force_login(coordinator.user)

    answer = client.get(reverse("conferences:invitee_search"), {"q": "ingrid"}).json()

    assert [item["id"] for item in answer["results"]] == [expert.pk]
    assert "Ingrid Halvorsen" in answer["results"][0]["label"]


def test_invitee_search_is_for_coordinators_only(client: Client, verified: Any) -> None:
    client.force_login(verified.user)
    assert client.get(reverse("conferences:invitee_search"), {"q": "an"}).status_code == 404


def test_without_javascript_find_lists_matches_to_tick(client: Client, coordinator: Any, expert: Any) -> None:
    client.force_login(coordinator.user)
    data = request_form(expert, invitees=[], invitees_search="halvor", find_invitees="1")

    response = client.post(reverse("conferences:request"), data)

    html = response.content.decode()
    assert response.status_code == 200
    assert f'name="invitees" value="{expert.pk}">' in html  # offered, not ticked
    assert "Ingrid Halvorsen" in html
    assert 'class="errors"' not in html
    assert not Conference.objects.exists()


# --- The helpdesk's moves ------------------------------------------------------------------


def test_the_agent_approves_a_slot_and_everyone_gets_an_invitation_with_the_link(
    client: Client, coordinator_user: Any, expert: Any, agent: Any
) -> None:
    conference = make_conference(coordinator_user, expert)
    assert conference.ticket is not None
    sign_in_staff(client, agent)
    ticket_page = reverse("admin:helpdesk_ticket_change", args=[conference.ticket.pk])
    page = client.get(ticket_page).content.decode()
    assert "What now?" in page and "Anonymised summary." in page
    second = conference.slots.all()[1]

    response = client.post(
        reverse("admin:helpdesk_ticket_act", args=[conference.ticket.pk, "approve"]),
        {"approve-slot": str(second.pk)},
    )

    assert response.status_code == 302
    conference.refresh_from_db()
    assert conference.state == Conference.State.SCHEDULED
    assert conference.start == second.start
    meeting = conference.meeting
    assert meeting is not None
    assert meeting.state == ProviderMeeting.State.PENDING
    # The provider never gets the clinical content.
    assert "What now?" not in meeting.agenda and "Anonymised summary." not in meeting.agenda
    assert list(meeting.invitees.wanted().values_list("email", flat=True)) == [expert.user.email]
    assert emails_to(expert.user.email) == []  # not before the meeting exists
    reply = TicketMessage.objects.get(ticket=conference.ticket, kind=TicketMessage.Kind.REPLY)
    assert "is scheduled for" in reply.body
    conference.ticket.refresh_from_db()
    # The ticket stays in the queue until the conference is held: due when it ends.
    assert conference.ticket.state == Ticket.State.OPEN
    assert conference.ticket.due_at == second.start + timedelta(minutes=60)

    conference = realise(conference)

    room = LocalVideoMeeting.objects.get()
    assert conference.meeting is not None
    assert conference.meeting.state == ProviderMeeting.State.CREATED
    assert conference.join_url.endswith(f"/video/local/{room.provider_id}/")
    [invitation] = emails_to(expert.user.email)
    assert conference.join_url in invitation.text_body
    # In the invitee's own zone (Helsinki is Brussels + 1 h).
    helsinki = timezone.localtime(second.start, ZoneInfo("Europe/Helsinki"))
    assert f"{helsinki:%H:%M}" in invitation.text_body and "Europe/Helsinki" in invitation.text_body
    calendar = calendar_of(invitation)
    assert calendar["METHOD"] == "REQUEST"
    event = event_of(invitation)
    assert event["UID"] == f"conference-{conference.pk}@cmss.example.org"
    assert event["SEQUENCE"] == 0
    assert event.decoded("DTSTART") == second.start
    assert event.decoded("DTEND") == second.start + timedelta(minutes=60)
    assert event.decoded("DTSTART").tzinfo is not None and event.decoded("DTSTART").utcoffset() == timedelta(
        0
    )
    assert str(event["URL"]) == conference.join_url
    requester_mails = [
        item for item in emails_to(coordinator_user.user.email) if "Invitation" in item.subject
    ]
    assert len(requester_mails) == 1

    # The task again (a duplicate delivery): nothing more is sent.
    pipeline.realise_meeting(meeting_id=meeting_id_of(conference))
    assert len(emails_to(expert.user.email)) == 1


def test_another_time_than_the_proposed_ones(
    client: Client, coordinator: Any, expert: Any, agent: Any
) -> None:
    conference = make_conference(coordinator, expert)
    assert conference.ticket is not None
    sign_in_staff(client, agent)  # the agent's zone: Brussels
    other = soon(6, hour=15)
    client.post(
        reverse("admin:helpdesk_ticket_act", args=[conference.ticket.pk, "approve"]),
        {"approve-other": local(other, "Europe/Brussels")},
    )
    conference.refresh_from_db()
    assert conference.start == other


def test_approving_without_a_time_is_an_error_on_the_form(
    client: Client, coordinator: Any, expert: Any, agent: Any
) -> None:
    conference = make_conference(coordinator, expert)
    assert conference.ticket is not None
    sign_in_staff(client, agent)
    response = client.post(reverse("admin:helpdesk_ticket_act", args=[conference.ticket.pk, "approve"]), {})
    assert response.status_code == 400
    assert "Choose one of the proposed times or enter another." in response.content.decode()
    conference.refresh_from_db()
    assert conference.state == Conference.State.REQUESTED


def test_decline_with_a_reason_tells_the_requester(
    client: Client, coordinator: Any, expert: Any, agent: Any
) -> None:
    conference = make_conference(coordinator, expert)
    assert conference.ticket is not None
    sign_in_staff(client, agent)
    client.post(
        reverse("admin:helpdesk_ticket_act", args=[conference.ticket.pk, "decline"]),
        {"decline-reason": "No expert is available this month."},
    )
    conference.refresh_from_db()
    assert conference.state == Conference.State.DECLINED
    reply = [item for item in emails_to(coordinator.user.email) if "Re:" in item.subject][-1]
    assert "No expert is available this month." in reply.text_body
    # Nothing left to act on.
    page = client.get(reverse("admin:helpdesk_ticket_change", args=[conference.ticket.pk])).content.decode()
    assert "Approve and schedule" not in page


def test_moving_sends_an_update_with_the_same_uid_and_a_higher_sequence(
    coordinator: Any, expert: Any, agent: Any
) -> None:
    conference = realise(scheduled(coordinator, expert, agent))
    room = LocalVideoMeeting.objects.get()
    later = soon(5, hour=14)

    case_conferences.move(conference=conference, start=later, by=agent)
    pipeline.realise_meeting(meeting_id=meeting_id_of(conference))  # the worker pushes the change

    first, update = emails_to(expert.user.email)
    assert "Moved:" in update.subject
    assert event_of(update)["UID"] == event_of(first)["UID"]
    assert event_of(update)["SEQUENCE"] == 1
    assert event_of(update).decoded("DTSTART") == later
    room.refresh_from_db()
    assert room.start == later
    meeting = ProviderMeeting.objects.get()
    assert meeting.in_sync()


def test_a_move_before_the_meeting_exists_is_part_of_the_create(
    coordinator: Any, expert: Any, agent: Any
) -> None:
    conference = scheduled(coordinator, expert, agent)
    later = soon(5, hour=14)
    case_conferences.move(conference=conference, start=later, by=agent)
    assert emails_to(expert.user.email) == []

    realise(conference)

    [invitation] = emails_to(expert.user.email)
    assert event_of(invitation).decoded("DTSTART") == later
    assert LocalVideoMeeting.objects.get().start == later


def test_cancel_by_the_agent_sends_method_cancel_and_cancels_the_meeting(
    coordinator: Any, expert: Any, agent: Any
) -> None:
    conference = realise(scheduled(coordinator, expert, agent))

    case_conferences.cancel(conference=conference, by=agent, reason="The patient was transferred.")
    pipeline.realise_meeting(meeting_id=meeting_id_of(conference))

    invitation, cancellation = emails_to(expert.user.email)
    assert calendar_of(cancellation)["METHOD"] == "CANCEL"
    assert event_of(cancellation)["UID"] == event_of(invitation)["UID"]
    assert event_of(cancellation).sequence > event_of(invitation).sequence
    assert event_of(cancellation)["STATUS"] == "CANCELLED"
    assert "The patient was transferred." in cancellation.text_body
    assert LocalVideoMeeting.objects.get().cancelled_at is not None
    conference.refresh_from_db()
    assert conference.join_url == ""


def test_the_coordinator_cancels_from_the_conference_page(
    client: Client, coordinator: Any, expert: Any, agent: Any
) -> None:
    conference = realise(scheduled(coordinator, expert, agent))
    client.force_login(coordinator.user)
    assert client.get(reverse("conferences:cancel", args=[conference.pk])).status_code == 200

    response = client.post(reverse("conferences:cancel", args=[conference.pk]), {"reason": "Resolved."})

    assert response.status_code == 302
    conference.refresh_from_db()
    assert conference.state == Conference.State.CANCELLED
    assert calendar_of(emails_to(expert.user.email)[-1])["METHOD"] == "CANCEL"
    # The helpdesk sees it on the ticket, reopened.
    message = TicketMessage.objects.filter(ticket=conference.ticket, kind=TicketMessage.Kind.REQUESTER).last()
    assert message is not None
    assert "I cancelled this conference." in message.body


def test_invitees_added_and_removed_by_the_agent(
    client: Client, coordinator: Any, expert: Any, agent: Any
) -> None:
    conference = realise(scheduled(coordinator, expert, agent))
    assert conference.ticket is not None
    newcomer = factories.ClinicianFactory.create(status="verified", first_name="Pia", last_name="Lund")
    sign_in_staff(client, agent)
    act = reverse("admin:helpdesk_ticket_act", args=[conference.ticket.pk, "add_invitee"])

    unknown = client.post(act, {"add_invitee-email": "nobody@example.org"})
    assert "No verified clinician listed in the directory has this address." in unknown.content.decode()

    client.post(act, {"add_invitee-email": newcomer.user.email.upper()})

    [invitation] = emails_to(newcomer.user.email)
    assert conference.join_url in invitation.text_body
    pipeline.realise_meeting(meeting_id=meeting_id_of(conference))
    assert newcomer.user.email in LocalVideoMeeting.objects.get().invitees

    removed = Invitation.objects.get(clinician=expert)
    client.post(
        reverse("admin:helpdesk_ticket_act", args=[conference.ticket.pk, "remove_invitee"]),
        {"remove_invitee-invitation": str(removed.pk)},
    )
    assert not Invitation.objects.filter(pk=removed.pk).exists()
    farewell = emails_to(expert.user.email)[-1]
    assert "No longer needed" in farewell.subject
    assert calendar_of(farewell)["METHOD"] == "CANCEL"
    client.force_login(expert.user)
    assert client.get(reverse("conferences:detail", args=[conference.pk])).status_code == 404


def test_a_scheduled_conferences_ticket_stays_workable_until_it_is_held(
    agent_client: Client, coordinator: Any, expert: Any, agent: Any
) -> None:
    conference = realise(scheduled(coordinator, expert, agent))
    assert conference.ticket_id is not None
    ticket = Ticket.objects.get(pk=conference.ticket_id)
    assert ticket.state == Ticket.State.OPEN and ticket.due_at == conference.end
    # In the agent's default queue (active tickets), not among the resolved ones.
    queue = agent_client.get(reverse("admin:helpdesk_ticket_changelist")).content.decode()
    assert conference.title in queue

    assert conference.start is not None
    later = conference.start + timedelta(days=1)
    case_conferences.move(conference=conference, start=later, by=agent)
    ticket.refresh_from_db()
    assert ticket.state == Ticket.State.OPEN and ticket.due_at == later + timedelta(minutes=60)

    Conference.objects.filter(pk=conference.pk).update(start=timezone.now() - timedelta(hours=2))
    outcomes.mark_held(conference=conference, report=report("Start ERT at half dose."), by=agent)
    ticket.refresh_from_db()
    assert ticket.state == Ticket.State.RESOLVED


def test_cancelling_a_scheduled_conference_resolves_its_ticket(
    coordinator: Any, expert: Any, agent: Any
) -> None:
    conference = realise(scheduled(coordinator, expert, agent))
    case_conferences.cancel(conference=conference, by=agent, reason="The patient was transferred.")
    assert conference.ticket_id is not None
    assert Ticket.objects.get(pk=conference.ticket_id).state == Ticket.State.RESOLVED


def test_held_only_after_the_start(coordinator: Any, expert: Any, agent: Any) -> None:
    conference = scheduled(coordinator, expert, agent)
    with pytest.raises(case_conferences.ConferenceError, match="has not started yet"):
        outcomes.mark_held(conference=conference, report=report("x"), by=agent)
    Conference.objects.filter(pk=conference.pk).update(start=timezone.now() - timedelta(hours=2))
    outcomes.mark_held(conference=conference, report=report("Start ERT at half dose."), by=agent)
    conference.refresh_from_db()
    assert conference.state == Conference.State.HELD
    assert conference.report.advice == "Start ERT at half dose."
    assert conference.outcome == ""  # the old notes are no longer asked for


# --- Who sees what -------------------------------------------------------------------------


def test_each_role_sees_what_is_theirs(client: Client, coordinator: Any, expert: Any, agent: Any) -> None:
    conference = realise(scheduled(coordinator, expert, agent))
    colleague = factories.CoordinatorFactory.create(hospital=coordinator.hospital)
    outsider = factories.ClinicianFactory.create(status="verified")
    other_coordinator = factories.CoordinatorFactory.create()
    detail = reverse("conferences:detail", args=[conference.pk])

    client.force_login(expert.user)
    page = client.get(detail).content.decode()
    assert conference.join_url in page and "What now?" in page and "Accept" in page
    assert "Cancel the conference" not in page

    client.force_login(coordinator.user)
    page = client.get(detail).content.decode()
    assert conference.join_url in page and "Cancel the conference" in page

    client.force_login(colleague.user)  # the hospital's other coordinator: no join link
    page = client.get(detail).content.decode()
    assert "What now?" in page and conference.join_url not in page and "Cancel the conference" in page

    for stranger in (outsider, other_coordinator):
        client.force_login(stranger.user)
        assert client.get(detail).status_code == 404
        assert (
            client.post(
                reverse("conferences:respond", args=[conference.pk]), {"response": "accept"}
            ).status_code
            == 404
        )
        assert client.get(reverse("conferences:cancel", args=[conference.pk])).status_code == 404
        assert "Fabry and COVID-19" not in client.get(reverse("conferences:list")).content.decode()

    client.force_login(expert.user)  # an invitee cannot cancel
    assert client.get(reverse("conferences:cancel", args=[conference.pk])).status_code == 404


def test_a_suspended_invitee_loses_access(client: Client, coordinator: Any, expert: Any, agent: Any) -> None:
    conference = scheduled(coordinator, expert, agent)
    expert.status = "suspended"
    expert.save()
    client.force_login(expert.user)
    assert client.get(reverse("conferences:detail", args=[conference.pk])).status_code == 404


def test_invitees_accept_and_decline(client: Client, coordinator: Any, expert: Any, agent: Any) -> None:
    conference = scheduled(coordinator, expert, agent)
    client.force_login(expert.user)
    respond = reverse("conferences:respond", args=[conference.pk])

    client.post(respond, {"response": "accept"})
    assert Invitation.objects.get().response == Invitation.Response.ACCEPTED
    client.post(respond, {"response": "decline"})
    assert Invitation.objects.get().response == Invitation.Response.DECLINED
    response = client.post(respond, {"response": "maybe"}, follow=True)
    assert "Choose to accept or to decline." in response.content.decode()

    client.force_login(coordinator.user)
    page = client.get(reverse("conferences:detail", args=[conference.pk])).content.decode()
    assert "Ingrid Halvorsen" in page and "declined" in page


def test_the_list_pages_by_25_without_counting_every_conference(
    client: Client, coordinator: Any, expert: Any
) -> None:
    for _ in range(27):
        make_conference(coordinator, expert, urgency="urgent")
    client.force_login(coordinator.user)
    with CaptureQueriesContext(connection) as queries:
        first = client.get(reverse("conferences:list")).content.decode()
    assert not any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)
    second = client.get(reverse("conferences:list"), {"page": 2}).content.decode()
    assert first.count('<span class="badge badge-requested">requested</span>') == 25
    assert first.count("· urgent") == 25 and first.count("to be scheduled") == 25
    assert 'href="?page=2" rel="next"' in first and 'rel="prev"' not in first
    assert second.count("badge-requested") == 2 and 'href="?page=1" rel="prev"' in second
    assert 'rel="next"' not in second


def test_a_conference_page_names_the_wanted_erns_and_specialties_in_order(
    client: Client, coordinator: Any, expert: Any
) -> None:
    conference = make_conference(coordinator, expert)
    conference.erns.set(ERN.objects.filter(name__in=["ERN LUNG", "ERN EYE"]))
    conference.specialties.set(Specialty.objects.filter(name__in=["Respiratory medicine", "Cardiology"]))
    client.force_login(coordinator.user)
    page = client.get(reverse("conferences:detail", args=[conference.pk])).content.decode()
    assert "<dt>Wanted ERNs</dt><dd>ERN EYE, ERN LUNG</dd>" in page
    assert "<dt>Wanted specialties</dt><dd>Cardiology, Respiratory medicine</dd>" in page


def test_a_renamed_ern_or_specialty_shows_on_the_conference_page_at_once(
    client: Client, coordinator: Any, expert: Any
) -> None:
    conference = make_conference(coordinator, expert)
    lung = ERN.objects.get(name="ERN LUNG")
    cardiology = Specialty.objects.get(name="Cardiology")
    conference.erns.set([lung])
    conference.specialties.set([cardiology])
    client.force_login(coordinator.user)
    url = reverse("conferences:detail", args=[conference.pk])
    assert "<dt>Wanted ERNs</dt><dd>ERN LUNG</dd>" in client.get(url).content.decode()
    # As a supervisor does in the admin: a save of the row.
    lung.name, cardiology.name = "ERN-LUNG (renamed)", "Cardiology & vessels"
    lung.save()
    cardiology.save()
    page = client.get(url).content.decode()
    assert "<dt>Wanted ERNs</dt><dd>ERN-LUNG (renamed)</dd>" in page
    assert "<dt>Wanted specialties</dt><dd>Cardiology &amp; vessels</dd>" in page


def test_a_conference_page_keeps_its_query_count_at_1_and_8_invitees(
    client: Client, coordinator: Any, expert: Any
) -> None:
    few = make_conference(coordinator, expert)
    many = make_conference(coordinator, expert)
    for clinician in factories.ClinicianFactory.create_batch(7, status="verified"):
        Invitation.objects.create(conference=many, clinician=clinician)
    client.force_login(coordinator.user)

    def count(conference: Conference) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("conferences:detail", args=[conference.pk])).status_code == 200
        return len(queries)

    count(few)  # the first request of a session also loads the session's user
    assert count(few) == count(many)


def test_the_list_keeps_its_query_count(client: Client, coordinator: Any, expert: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(coordinator.user)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("conferences:list")).status_code == 200
        return len(queries)

    make_conference(coordinator, expert)
    count()  # the first request of a session also loads the session's user
    few = count()
    for _ in range(12):
        make_conference(coordinator, expert)
    assert count() == few


# --- Reminders -----------------------------------------------------------------------------


def test_reminders_go_out_once_each_and_again_after_a_move(
    coordinator: Any, expert: Any, agent: Any, time_machine: Any
) -> None:
    # A single-digit day of the month, where "%d" and "j" differ.
    time_machine.move_to(datetime(2027, 3, 1, 8, 0, tzinfo=UTC), tick=False)
    start = soon(3)
    conference = realise(scheduled(coordinator, expert, agent, start=start))
    Invitation.objects.update(invited_at=start - timedelta(days=3))
    Conference.objects.filter(pk=conference.pk).update(requester_sent_sequence=None)

    def reminders_for(address: str) -> list[OutgoingEmail]:
        return [item for item in emails_to(address) if item.dedup_key.startswith("reminder:")]

    reminders.sweep(now=start - timedelta(hours=24))
    reminders.sweep(now=start - timedelta(hours=23, minutes=55))
    # 10:00 in Brussels is 11:00 in Helsinki, where the expert works.
    assert [item.subject for item in reminders_for(expert.user.email)] == [
        "[CMSS] Tomorrow: Fabry and COVID-19 (4 Mar, 11:00)"
    ]
    reminders.sweep(now=start - timedelta(minutes=58))
    reminders.sweep(now=start - timedelta(minutes=50))
    assert len(reminders_for(expert.user.email)) == 2
    assert "In one hour" in reminders_for(expert.user.email)[1].subject
    assert conference.join_url in reminders_for(expert.user.email)[1].text_body

    later = start + timedelta(days=2)
    case_conferences.move(conference=conference, start=later, by=agent)
    reminders.sweep(now=later - timedelta(hours=24))
    assert len(reminders_for(expert.user.email)) == 3


def test_no_reminder_for_who_declined_or_was_invited_after_the_moment(
    coordinator: Any, expert: Any, agent: Any
) -> None:
    start = soon(3)
    conference = realise(scheduled(coordinator, expert, agent, start=start))
    late = factories.ClinicianFactory.create(status="verified")
    case_conferences.add_invitee(conference=conference, clinician=late, by=agent)
    Invitation.objects.filter(clinician=late).update(invited_at=start - timedelta(hours=20))
    Invitation.objects.filter(clinician=expert).update(
        invited_at=start - timedelta(days=3), response=Invitation.Response.DECLINED
    )
    reminders.sweep(now=start - timedelta(hours=24))
    assert not OutgoingEmail.objects.filter(dedup_key__startswith="reminder:", to_address=expert.user.email)
    assert not OutgoingEmail.objects.filter(dedup_key__startswith="reminder:", to_address=late.user.email)
    reminders.sweep(now=start - timedelta(hours=1))
    assert (
        OutgoingEmail.objects.filter(dedup_key__startswith="reminder:", to_address=late.user.email).count()
        == 1
    )


def test_a_requester_scheduled_late_gets_no_tomorrow_reminder_right_after_the_invitation(
    coordinator: Any, expert: Any, agent: Any, time_machine: Any
) -> None:
    time_machine.move_to(datetime(2027, 6, 14, 12, 0, tzinfo=UTC), tick=False)
    start = timezone.now() + timedelta(hours=20)
    conference = realise(scheduled(coordinator, expert, agent, start=start))
    assert conference.requester_invited_at == timezone.now()

    reminders.sweep()
    reminded = OutgoingEmail.objects.filter(dedup_key__startswith="reminder:")
    assert not reminded.filter(to_address=coordinator.user.email).exists()
    assert not reminded.filter(to_address=expert.user.email).exists()

    reminders.sweep(now=start - timedelta(minutes=59))
    assert reminded.filter(to_address=coordinator.user.email).count() == 1
    assert "In one hour" in reminded.get(to_address=coordinator.user.email).subject


# --- Personal data and retention -----------------------------------------------------------


def test_invitations_are_in_the_export_and_go_with_the_account(
    client: Client, coordinator: Any, expert: Any, agent: Any
) -> None:
    from cmss import personal_data

    conference = scheduled(coordinator, expert, agent)
    exported = personal_data.export_for(expert.user)
    assert exported["conferences.invitation"][0]["conference"] == "Fabry and COVID-19"
    requested = personal_data.export_for(coordinator.user)["conferences.conference"]
    assert requested[0]["title"] == "Fabry and COVID-19"
    assert requested[0]["case_summary"] == "[not exported]"

    email = expert.user.email
    personal_data.erase(expert.user, needles=[email])

    assert not Invitation.objects.exists()
    meeting = ProviderMeeting.objects.get(pk=meeting_id_of(conference))
    assert email not in meeting.invitees.wanted().values_list("email", flat=True)


def test_case_summaries_are_purged_after_the_retention_period(
    coordinator: Any, expert: Any, agent: Any
) -> None:
    from cmss import retention

    conference = scheduled(coordinator, expert, agent)
    Conference.objects.filter(pk=conference.pk).update(
        state=Conference.State.HELD, start=timezone.now() - timedelta(days=400)
    )
    recent = make_conference(coordinator, expert)
    policy = RetentionPolicy.load()
    assert policy.case_summaries_days == 365

    retention.apply()

    conference.refresh_from_db()
    recent.refresh_from_db()
    assert conference.question == "" and conference.case_summary == "" and conference.summary_purged_at
    assert recent.question == "What now?"


def test_a_sweep_renders_only_the_reminders_not_queued_yet(
    coordinator: Any, expert: Any, agent: Any, time_machine: Any
) -> None:
    # A reminder stays due for hours and the sweep runs every five minutes: a
    # 10,000-seat webinar must not render 10,000 emails on each of 72 sweeps.
    from unittest import mock

    from cmss import outbox

    time_machine.move_to(datetime(2027, 5, 3, 8, 0, tzinfo=UTC), tick=False)
    start = soon(3)
    conference = realise(scheduled(coordinator, expert, agent, start=start))
    Invitation.objects.update(invited_at=start - timedelta(days=3))
    Conference.objects.filter(pk=conference.pk).update(requester_invited_at=start - timedelta(days=3))

    with mock.patch.object(outbox, "render_email", wraps=outbox.render_email) as rendering:
        assert reminders.sweep(now=start - timedelta(hours=24)) == 2  # the expert and the requester
        assert rendering.call_count == 2
        for minutes in range(5, 60, 5):
            assert reminders.sweep(now=start - timedelta(hours=24) + timedelta(minutes=minutes)) == 0
        assert rendering.call_count == 2


# --- The conference's history --------------------------------------------------------------


def history_on_panel(client: Client, conference: Conference) -> str:
    """The history list of the conference's ticket panel, as the agent reads it."""
    page = client.get(reverse("admin:helpdesk_ticket_change", args=[conference.ticket_id]))
    assert page.status_code == 200
    html = page.content.decode()
    return html.split('<ol class="events conference-history">', 1)[1].split("</ol>", 1)[0]


def events_of(conference: Conference) -> list[tuple[str, Any, str, str]]:
    return [
        (event.action, event.actor, event.from_value, event.to_value)
        for event in ConferenceEvent.objects.filter(conference=conference)
    ]


def utc(moment: Any) -> str:
    return moment.astimezone(UTC).isoformat()


def test_every_conference_action_writes_one_event_shown_on_the_ticket_panel(
    client: Client, coordinator: Any, expert: Any, agent: Any
) -> None:
    agent.time_zone = "Europe/Helsinki"  # the panel shows the agent's zone, one hour ahead of Brussels
    agent.save()
    newcomer = factories.ClinicianFactory.create(status="verified", first_name="Pia", last_name="Lund")
    first, second = soon(3), soon(4)

    # Requested, invitees changed, approved, answered twice, moved, held.
    held = make_conference(coordinator, expert)
    case_conferences.add_invitee(conference=held, clinician=newcomer, by=agent)
    case_conferences.remove_invitee(
        conference=held, invitation=Invitation.objects.get(conference=held, clinician=newcomer), by=agent
    )
    case_conferences.approve(conference=held, start=first, by=agent)
    answer = Invitation.objects.get(conference=held, clinician=expert)
    case_conferences.respond(invitation=answer, accept=True)
    case_conferences.respond(invitation=answer, accept=True)  # the same answer again: nothing new
    case_conferences.respond(invitation=answer, accept=False)
    case_conferences.move(conference=held, start=second, by=agent)
    Conference.objects.filter(pk=held.pk).update(start=timezone.now() - timedelta(hours=2))
    outcomes.mark_held(conference=held, report=report("Restart ERT at half dose under monitoring."), by=agent)
    # Declined by the helpdesk; cancelled by the coordinator once scheduled, and by the helpdesk before.
    declined = make_conference(coordinator, expert)
    case_conferences.decline(conference=declined, reason="No cardiologist is free that week.", by=agent)
    withdrawn = make_conference(coordinator, expert)
    case_conferences.approve(conference=withdrawn, start=first, by=agent)
    case_conferences.cancel(conference=withdrawn, by=coordinator.user, reason="Resolved.\n\n" + "x" * 300)
    dropped = make_conference(coordinator, expert)
    case_conferences.cancel(conference=dropped, by=agent)

    requester = coordinator.user
    assert events_of(held) == [
        ("requested", requester, "", ""),
        ("invitee_added", agent, "", "Pia Lund"),
        ("invitee_removed", agent, "Pia Lund", ""),
        ("approved", agent, "", utc(first)),
        ("invitee_accepted", expert.user, "pending", "accepted"),
        ("invitee_declined", expert.user, "accepted", "declined"),
        ("moved", agent, utc(first), utc(second)),
        ("held", agent, "", ""),
    ]
    assert utc(first).endswith("+00:00")
    # The outcome report is clinical: it stays on its row, not in the history.
    assert not ConferenceEvent.objects.filter(note__icontains="ERT").exists()
    assert events_of(declined) == [("requested", requester, "", ""), ("declined", agent, "", "")]
    assert ConferenceEvent.objects.get(conference=declined, action="declined").note == (
        "No cardiologist is free that week."
    )
    assert events_of(withdrawn)[-1] == ("cancelled", requester, "scheduled", "")
    note = ConferenceEvent.objects.get(conference=withdrawn, action="cancelled").note
    assert note.startswith("Resolved. xxx") and note.endswith("…") and len(note) == 200
    assert events_of(dropped)[-1] == ("cancelled", agent, "requested", "")

    sign_in_staff(client, agent)
    history = history_on_panel(client, held)
    lines = [line.split("</time>", 1)[1] for line in history.split("<li>")[1:]]
    helsinki = {
        moment: f"{timezone.localtime(moment, ZoneInfo('Europe/Helsinki')):%a %-d %b %Y %H:%M}"
        for moment in (first, second)
    }
    assert [line.split(" · ")[1] for line in lines] == [
        coordinator.full_name,
        agent.display_name,
        agent.display_name,
        agent.display_name,
        "Ingrid Halvorsen",
        "Ingrid Halvorsen",
        agent.display_name,
        agent.display_name,
    ]
    assert "requested" in lines[0]
    assert "invitee added: Pia Lund" in lines[1]
    assert "invitee removed: Pia Lund" in lines[2]
    assert "approved and scheduled: " in lines[3] and helsinki[first] in lines[3]
    assert "invitation accepted" in lines[4]
    assert "invitation declined: changed from accepted" in lines[5]
    assert helsinki[first] in lines[6] and helsinki[second] in lines[6] and " → " in lines[6]
    assert "marked held" in lines[7]
    assert "ERT" not in history
    assert (
        "Helsinki"
        in client.get(reverse("admin:helpdesk_ticket_change", args=[held.ticket_id])).content.decode()
    )
    assert "declined — No cardiologist is free that week." in history_on_panel(client, declined)
    assert "cancelled: was scheduled — Resolved." in history_on_panel(client, withdrawn)


def test_a_conference_ticket_keeps_its_query_count_at_2_and_20_events(
    client: Client, coordinator: Any, expert: Any, agent: Any
) -> None:
    conference = make_conference(coordinator, expert)
    case_conferences.respond(invitation=Invitation.objects.get(conference=conference), accept=True)
    sign_in_staff(client, agent)
    page = reverse("admin:helpdesk_ticket_change", args=[conference.ticket_id])
    client.get(page)  # warm the permission and content-type caches
    with CaptureQueriesContext(connection) as small:
        assert len(history_on_panel(client, conference).split("<li>")) == 1 + 2
    # Each with an actor of their own: an agent adds an invitee, who answers.
    for n in range(9):
        newcomer = factories.ClinicianFactory.create(
            status="verified", first_name="Expert", last_name=f"N{n}"
        )
        case_conferences.add_invitee(
            conference=conference, clinician=newcomer, by=factories.StaffFactory.create()
        )
        case_conferences.respond(invitation=Invitation.objects.get(clinician=newcomer), accept=True)
    # Once more first: the newcomers' hospitals are reference data, whose cached lists
    # (the requester's languages and ERNs are named from them) the next page builds again.
    client.get(page)
    with CaptureQueriesContext(connection) as large:
        history = history_on_panel(client, conference)
    assert len(history.split("<li>")) == 1 + 20
    assert "Expert N8" in history
    assert len(large) == len(small), [q["sql"] for q in large.captured_queries]


def test_a_person_named_in_a_conferences_history_is_exported_and_erased(
    coordinator: Any, expert: Any, agent: Any
) -> None:
    from cmss import personal_data

    newcomer = factories.ClinicianFactory.create(status="verified", first_name="Pia", last_name="Lund")
    conference = make_conference(coordinator, expert)
    case_conferences.add_invitee(conference=conference, clinician=newcomer, by=agent)
    case_conferences.respond(invitation=Invitation.objects.get(clinician=newcomer), accept=True)
    case_conferences.remove_invitee(
        conference=conference, invitation=Invitation.objects.get(clinician=newcomer), by=agent
    )
    case_conferences.decline(conference=conference, reason="Pia Lund advised by phone instead.", by=agent)
    added, answered, removed, declined = ConferenceEvent.objects.filter(conference=conference).exclude(
        action="requested"
    )

    # Hers: her own answer in full, and the rows that name her with only those fields.
    theirs = personal_data.export_for(newcomer.user)["conferences.conferenceevent"]
    assert {"id": added.pk, "to_value": "Pia Lund"} in theirs
    assert {"id": removed.pk, "from_value": "Pia Lund"} in theirs
    assert {"id": declined.pk, "note": "Pia Lund advised by phone instead."} in theirs
    [own] = [row for row in theirs if row["id"] == answered.pk]
    assert own["actor"] == str(newcomer.user) and own["to_value"] == "accepted"
    # The requester's: the history of their conference, without the staff or the invitees.
    requested = {
        row["action"]: row
        for row in personal_data.export_for(coordinator.user)["conferences.conferenceevent"]
    }
    assert requested["requested"]["actor"] == str(coordinator.user)
    assert requested["invitee_added"]["actor"] is None and requested["invitee_added"]["to_value"] is None
    assert requested["invitee_accepted"]["actor"] is None
    assert agent.email not in str(requested) and agent.display_name not in str(requested)

    personal_data.erase(newcomer.user)

    assert not ConferenceEvent.objects.filter(
        Q(from_value__icontains="Pia Lund")
        | Q(to_value__icontains="Pia Lund")
        | Q(note__icontains="Pia Lund")
    ).exists()
    added.refresh_from_db()
    answered.refresh_from_db()
    declined.refresh_from_db()
    assert added.to_value == "[erased]"
    assert answered.actor is None and answered.to_value == "accepted"
    assert declined.note == "[erased] advised by phone instead."


def test_the_blank_request_form_follows_the_reference_data_the_language_and_the_zone(
    client: Client, coordinator: Any
) -> None:
    coordinator.user.time_zone = "Europe/Lisbon"
    coordinator.user.save()
    other = factories.CoordinatorFactory.create()
    other.user.language, other.user.time_zone = "fr", "Europe/Paris"
    other.user.save()
    url = reverse("conferences:request")
    client.force_login(coordinator.user)
    first = client.get(url).content.decode()
    assert "Your time zone: Europe/Lisbon" in first and " ERN LUNG</label>" in first
    # As a supervisor does in the admin: the ERN renamed shows at once.
    lung = ERN.objects.get(name="ERN LUNG")
    lung.name = "ERN-LUNG (renamed)"
    lung.save()
    again = client.get(url).content.decode()
    assert " ERN-LUNG (renamed)</label>" in again and " ERN LUNG</label>" not in again
    french = Client()
    french.force_login(other.user)
    page = french.get(url).content.decode()
    assert "Europe/Paris" in page and "Europe/Lisbon" not in page
    assert "Envoyer la demande" in page and "Send the request" not in page
    tokens = [re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)[-1] for html in (again, page)]
    assert tokens[0] != tokens[1]


def test_the_list_shows_each_viewer_their_answer_and_the_start_in_their_zone(
    client: Client, coordinator: Any, expert: Any, agent: Any
) -> None:
    start = datetime(2031, 3, 4, 9, 30, tzinfo=UTC)
    with time_machine.travel(datetime(2031, 2, 20, 12, 0, tzinfo=UTC), tick=False):
        conference = scheduled(coordinator, expert, agent, start=start)
    Invitation.objects.filter(conference=conference, clinician=expert).update(
        response=Invitation.Response.ACCEPTED
    )
    expert.user.time_zone = "Asia/Tokyo"
    expert.user.save()
    client.force_login(expert.user)
    page = client.get(reverse("conferences:list")).content.decode()
    assert '<time datetime="2031-03-04T18:30:00+09:00">Tue 4 Mar 2031, 18:30</time>' in page
    assert f"<td>{Invitation.Response.ACCEPTED.label}</td>" in page
    coordinator.user.time_zone = "Europe/Lisbon"
    coordinator.user.save()
    client.force_login(coordinator.user)
    page = client.get(reverse("conferences:list")).content.decode()
    assert '<time datetime="2031-03-04T09:30:00+00:00">Tue 4 Mar 2031, 09:30</time>' in page
    assert "<td>coordinator</td>" in page
