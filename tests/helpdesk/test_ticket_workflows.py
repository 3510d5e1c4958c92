"""Helpdesk workflows: the state machine, replies, the queue and the registration tickets."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinicians import services as clinician_services
from clinicians.models import Clinician, Hospital
from cmss.models import OutgoingEmail, User
from cmss.tasks import send_email
from helpdesk import services
from helpdesk.models import Ticket, TicketEvent, TicketMessage
from helpdesk.services import HelpdeskError
from tests.factories import ClinicianFactory, CoordinatorFactory, HospitalFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

State = Ticket.State

ALLOWED = sorted((old, new) for old, moves in Ticket.TRANSITIONS.items() for new in moves)
FORBIDDEN = sorted(
    (old, new) for old in State.values for new in State.values if new != old and (old, new) not in ALLOWED
)
# How to bring a new ticket to each state through the services.
PATH_TO: dict[str, list[State]] = {
    State.NEW: [],
    State.OPEN: [State.OPEN],
    State.WAITING: [State.WAITING],
    State.RESOLVED: [State.RESOLVED],
    State.CLOSED: [State.RESOLVED, State.CLOSED],
}


class Clock:
    """The test's clock (time-machine): it moves every clock of the process, so model
    defaults such as `default=timezone.now` follow it too (patching
    django.utils.timezone.now did not reach them: they hold the original function)."""

    def __init__(self, traveller: Any) -> None:
        self.traveller = traveller

    def __call__(self) -> datetime:
        return timezone.now()

    def set(self, moment: datetime) -> None:
        self.traveller.move_to(moment, tick=False)

    def advance(self, **delta: float) -> None:
        self.traveller.shift(timedelta(**delta))


@pytest.fixture
def clock(time_machine: Any) -> Clock:
    time_machine.move_to(datetime.now(UTC), tick=False)
    return Clock(time_machine)


def question(
    requester: User | None = None, subject: str = "Where is the directory?", **kwargs: Any
) -> Ticket:
    requester = requester or ClinicianFactory.create().user
    return services.open_ticket(kind=Ticket.Kind.QUESTION, subject=subject, requester=requester, **kwargs)


def ticket_in(state: str, agent: User) -> Ticket:
    ticket = question()
    for step in PATH_TO[state]:
        ticket = services.change_state(ticket=ticket, to=step, by=agent)
    assert ticket.state == state
    return ticket


def emails_to(address: str) -> list[OutgoingEmail]:
    return list(OutgoingEmail.objects.filter(to_address=address).order_by("pk"))


def profile_data(clinician: Clinician, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "first_name": clinician.first_name,
        "last_name": clinician.last_name,
        "phone": clinician.phone,
        "country": "BE",
        "hospital": clinician.hospital,
        "profession": clinician.profession,
        "specialty": clinician.specialty,
        "languages": list(clinician.languages.all()),
        "erns": [],
        "time_zone": "Europe/Brussels",
        "language": "en",
    }
    data.update(changes)
    return data


def registered_at_a_proposed_hospital(name: str = "AZ Groeninge") -> Clinician:
    clinician = ClinicianFactory.create(status="registered", hospital__name=name, hospital__approved=False)
    Hospital.objects.filter(pk=clinician.hospital_id).update(proposed_by=clinician.user)
    return clinician


# --- The state machine ----------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), ALLOWED)
def test_every_allowed_move_works_and_is_recorded_with_who_and_from_what_to_what(
    agent: User, old: str, new: str
) -> None:
    ticket = ticket_in(old, agent)
    ticket = services.change_state(ticket=ticket, to=new, by=agent, note="Checked with the requester.")
    ticket.refresh_from_db()
    assert ticket.state == new
    event = ticket.events.last()
    assert event is not None
    assert (event.action, event.from_value, event.to_value) == ("state", old, new)
    assert event.actor == agent
    assert event.note == "Checked with the requester."
    assert ticket.updated_at == event.at


def test_the_allowed_moves_are_the_ones_the_helpdesk_expects() -> None:
    expected = {
        ("new", "open"),
        ("new", "waiting"),
        ("new", "resolved"),
        ("open", "waiting"),
        ("open", "resolved"),
        ("waiting", "open"),
        ("waiting", "resolved"),
        ("resolved", "open"),
        ("resolved", "closed"),
    }
    assert set(ALLOWED) == expected
    assert len(FORBIDDEN) == 5 * 4 - len(expected)


@pytest.mark.parametrize(("old", "new"), FORBIDDEN)
def test_a_forbidden_move_is_refused_and_changes_nothing(agent: User, old: str, new: str) -> None:
    ticket = ticket_in(old, agent)
    before = Ticket.objects.values().get(pk=ticket.pk)
    events = ticket.events.count()
    with pytest.raises(HelpdeskError, match="cannot become"):
        services.change_state(ticket=ticket, to=new, by=agent)
    assert Ticket.objects.values().get(pk=ticket.pk) == before
    assert ticket.events.count() == events


def test_closed_to_open_and_new_to_closed_are_refused_with_a_message_for_people(agent: User) -> None:
    closed = ticket_in(State.CLOSED, agent)
    with pytest.raises(HelpdeskError) as error:
        services.change_state(ticket=closed, to=State.OPEN, by=agent)
    assert str(error.value) == f"Ticket #{closed.pk} is closed; it cannot become open."
    new = ticket_in(State.NEW, agent)
    with pytest.raises(HelpdeskError, match=re.escape(f"Ticket #{new.pk} is new; it cannot become closed.")):
        services.change_state(ticket=new, to=State.CLOSED, by=agent)


def test_moving_a_ticket_to_the_state_it_is_in_records_nothing(agent: User) -> None:
    ticket = ticket_in(State.OPEN, agent)
    events = ticket.events.count()
    services.change_state(ticket=ticket, to=State.OPEN, by=agent)
    assert ticket.events.count() == events


def test_resolving_stamps_the_time_and_reopening_clears_it(agent: User) -> None:
    ticket = services.resolve(ticket=question(), by=agent, note="Answered by phone.")
    assert ticket.resolved_at is not None
    ticket = services.change_state(ticket=ticket, to=State.OPEN, by=agent)
    assert ticket.resolved_at is None


# --- Replies and notes ----------------------------------------------------------------------------


def test_a_reply_is_emailed_to_the_requester_with_a_link_to_their_ticket(agent: User) -> None:
    requester = ClinicianFactory.create().user
    ticket = services.open_question(requester=requester, subject="Directory", body="How do I search?")
    message = services.reply(ticket=ticket, body="Use the country filter on /directory/.", by=agent)

    assert message.kind == TicketMessage.Kind.REPLY
    assert message.author == agent
    ticket.refresh_from_db()
    assert ticket.state == State.WAITING
    assert ticket.assignee == agent
    assert [(e.action, e.from_value, e.to_value) for e in ticket.events.all()] == [
        ("opened", "", "new"),
        ("reply", "", ""),
        ("assignee", "", str(agent)),
        ("state", "new", "open"),
        ("state", "open", "waiting"),
    ]

    [email] = OutgoingEmail.objects.all()
    assert email.to_address == requester.email
    assert email.user == requester
    assert "Use the country filter on /directory/." in email.text_body
    assert f"http://testserver/helpdesk/{ticket.pk}/" in email.text_body
    assert "/helpdesk/t/" not in email.text_body

    send_email(email.pk)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [requester.email]
    assert "Use the country filter on /directory/." in mail.outbox[0].body


GREETING_LINE = re.compile(r"^(Dear|Hello|Bonjour|Liebe)\b", re.MULTILINE)


@pytest.mark.parametrize(
    ("body", "opening"),
    [
        ("Use the country filter on /directory/.", "Dear Ana Novak,"),
        ("Dear Ana,\n\nUse the country filter on /directory/.", "Dear Ana,"),
        ("Bonjour Ana,\n\nUtilisez le filtre par pays.", "Bonjour Ana,"),
        ("Liebe Frau Novak,\nbitte nutzen Sie den Länderfilter.", "Liebe Frau Novak,"),
    ],
)
def test_a_reply_email_greets_the_requester_once(agent: User, body: str, opening: str) -> None:
    requester = ClinicianFactory.create(first_name="Ana", last_name="Novak").user
    ticket = services.open_question(requester=requester, subject="Directory", body="How do I search?")
    services.reply(ticket=ticket, body=body, by=agent)
    [email] = OutgoingEmail.objects.all()
    assert email.text_body.startswith(opening)
    assert len(GREETING_LINE.findall(email.text_body)) == 1, email.text_body


def test_the_demos_canned_replies_make_emails_that_greet_once(agent: User) -> None:
    from demo.management.commands.load_demo import CANNED_REPLIES
    from helpdesk.models import CannedReply

    requester = ClinicianFactory.create(first_name="Ana", last_name="Novak").user
    for title, text in CANNED_REPLIES:
        ticket = services.open_question(requester=requester, subject=title, body="Hello")
        canned = CannedReply(title=title, body=text)
        services.reply(ticket=ticket, body=canned.render(name=ticket.requester_name), by=agent)
    for email in OutgoingEmail.objects.all():
        assert len(GREETING_LINE.findall(email.text_body)) == 1, email.text_body


@pytest.mark.parametrize("then", [State.OPEN, State.RESOLVED, State.WAITING])
def test_a_reply_moves_the_ticket_to_the_chosen_state(agent: User, then: str) -> None:
    ticket = question()
    services.reply(ticket=ticket, body="We are on it.", by=agent, then=then)
    ticket.refresh_from_db()
    assert ticket.state == then
    assert ticket.requester is not None
    assert OutgoingEmail.objects.filter(to_address=ticket.requester.email).count() == 1


def test_a_reply_to_a_contact_form_requester_carries_a_signed_link(agent: User) -> None:
    ticket = services.open_contact_question(
        name="Jan Peeters", email="jan.peeters@example.org", subject="Joining", body="Can nurses join?"
    )
    [received] = emails_to("jan.peeters@example.org")
    services.reply(ticket=ticket, body="Yes, nurses can register too.", by=agent)

    emails = emails_to("jan.peeters@example.org")
    assert len(emails) == 2
    reply = emails[1]
    assert reply.pk != received.pk
    assert reply.user is None
    assert "Yes, nurses can register too." in reply.text_body
    assert "Dear Jan Peeters," in reply.text_body
    match = re.search(r"http://testserver/helpdesk/t/([^/\s]+)/", reply.text_body)
    assert match, reply.text_body
    assert services.ticket_from_token(match.group(1)) == ticket
    assert f"/helpdesk/{ticket.pk}/" not in reply.text_body


def test_a_reply_by_a_second_agent_keeps_the_assignee(agent: User) -> None:
    colleague = StaffFactory.create()
    ticket = services.assign(ticket=question(), to=agent, by=agent)
    services.reply(ticket=ticket, body="Covering for a colleague.", by=colleague)
    ticket.refresh_from_db()
    assert ticket.assignee == agent
    assert not ticket.events.filter(action="assignee", to_value=str(colleague)).exists()


def test_replying_to_a_closed_ticket_is_refused(agent: User) -> None:
    ticket = ticket_in(State.CLOSED, agent)
    with pytest.raises(HelpdeskError, match="closed"):
        services.reply(ticket=ticket, body="Too late.", by=agent)
    assert not ticket.messages.exists()
    assert not OutgoingEmail.objects.exists()


def test_an_internal_note_is_never_emailed(agent: User) -> None:
    ticket = ticket_in(State.OPEN, agent)
    note = services.add_note(ticket=ticket, body="Called the hospital switchboard.", by=agent)
    assert note.kind == TicketMessage.Kind.NOTE
    assert not note.is_public
    ticket.refresh_from_db()
    assert ticket.state == State.OPEN
    last = ticket.events.last()
    assert last is not None and last.action == "note"
    assert not OutgoingEmail.objects.exists()


@pytest.mark.parametrize("state", [State.WAITING, State.RESOLVED])
def test_the_requester_writing_back_reopens_the_ticket_and_tells_the_assignee(
    agent: User, state: str
) -> None:
    requester = ClinicianFactory.create().user
    ticket = services.assign(ticket=question(requester), to=agent, by=agent)
    ticket = services.change_state(ticket=ticket, to=state, by=agent)

    message = services.requester_reply(ticket=ticket, body="Here is my licence number.", by=requester)

    assert message.kind == TicketMessage.Kind.REQUESTER
    assert message.author == requester
    ticket.refresh_from_db()
    assert ticket.state == State.OPEN
    assert ticket.resolved_at is None
    reopened = ticket.events.last()
    assert reopened is not None
    assert (reopened.from_value, reopened.to_value, reopened.actor) == (state, "open", requester)
    assert reopened.note == "The requester replied."
    [email] = OutgoingEmail.objects.all()
    assert email.to_address == agent.email
    assert f"http://testserver/admin/helpdesk/ticket/{ticket.pk}/change/" in email.text_body
    assert f"The requester of ticket #{ticket.pk}, assigned to you, has replied." in email.text_body


def test_the_requester_cannot_write_to_a_closed_ticket(agent: User) -> None:
    ticket = ticket_in(State.CLOSED, agent)
    with pytest.raises(HelpdeskError, match="This request is closed"):
        services.requester_reply(ticket=ticket, body="One more thing", by=ticket.requester)
    assert not ticket.messages.exists()
    ticket.refresh_from_db()
    assert ticket.state == State.CLOSED


# --- Housekeeping ----------------------------------------------------------------------------------


def test_resolved_tickets_idle_for_more_than_seven_days_close_themselves(agent: User, clock: Clock) -> None:
    eight_days = services.resolve(ticket=question(subject="Eight days"), by=agent)
    clock.advance(days=2)
    six_days = services.resolve(ticket=question(subject="Six days"), by=agent)
    still_open = ticket_in(State.OPEN, agent)
    clock.advance(days=6, minutes=1)

    assert services.close_stale_resolved() == 1

    eight_days.refresh_from_db()
    six_days.refresh_from_db()
    still_open.refresh_from_db()
    assert eight_days.state == State.CLOSED
    assert six_days.state == State.RESOLVED
    assert still_open.state == State.OPEN
    closing = eight_days.events.last()
    assert closing is not None
    assert (closing.from_value, closing.to_value, closing.actor) == ("resolved", "closed", None)
    assert closing.note == "Closed after 7 days without activity."
    assert services.close_stale_resolved() == 0


def test_activity_on_a_resolved_ticket_restarts_the_seven_days(agent: User, clock: Clock) -> None:
    ticket = services.resolve(ticket=question(), by=agent)
    clock.advance(days=5)
    services.add_note(ticket=ticket, body="Waiting for the hospital to confirm.", by=agent)
    clock.advance(days=5)
    assert services.close_stale_resolved() == 0


# --- The queue ------------------------------------------------------------------------------------


def test_take_next_gives_the_due_soonest_unassigned_ticket(agent: User, clock: Clock) -> None:
    colleague = StaffFactory.create()
    later = question(subject="Normal, due in two days")
    clock.advance(minutes=1)
    soonest_but_assigned = services.assign(
        ticket=question(subject="Assigned", priority="urgent"), to=colleague, by=colleague
    )
    soonest_but_waiting = services.change_state(
        ticket=question(subject="Waiting", priority="urgent"), to=State.WAITING, by=colleague
    )
    clock.advance(minutes=1)
    wanted = question(subject="Urgent", priority="urgent")
    clock.advance(minutes=1)
    question(subject="Urgent but younger", priority="urgent")
    assert soonest_but_assigned.due_at and soonest_but_waiting.due_at and wanted.due_at and later.due_at
    assert soonest_but_assigned.due_at <= wanted.due_at
    assert soonest_but_waiting.due_at <= wanted.due_at < later.due_at

    taken = services.take_next(agent=agent)

    assert taken == wanted
    taken.refresh_from_db()
    assert taken.assignee == agent
    assert taken.state == State.OPEN
    assert [(e.action, e.from_value, e.to_value, e.actor) for e in taken.events.all()] == [
        ("opened", "", "new", taken.requester),
        ("assignee", "", str(agent), agent),
        ("state", "new", "open", agent),
    ]


def test_take_next_also_gives_an_open_ticket_nobody_has(agent: User) -> None:
    colleague = StaffFactory.create()
    ticket = services.assign(ticket=question(), to=colleague, by=colleague)
    ticket = services.assign(ticket=ticket, to=None, by=colleague)
    assert (ticket.state, ticket.assignee) == (State.OPEN, None)
    assert services.take_next(agent=agent) == ticket


def test_take_next_on_an_empty_queue_gives_nothing(agent: User) -> None:
    assert services.take_next(agent=agent) is None
    services.assign(ticket=question(), to=StaffFactory.create(), by=agent)
    services.change_state(ticket=question(), to=State.WAITING, by=agent)
    services.resolve(ticket=question(), by=agent)
    assert services.take_next(agent=agent) is None
    assert not TicketEvent.objects.filter(action="assignee", actor=agent, to_value=str(agent)).exists()


def test_assigning_tickets_to_someone_who_is_not_staff_is_refused(agent: User) -> None:
    clinician_user = ClinicianFactory.create().user
    tickets = [question(), question()]
    for ticket in tickets:
        with pytest.raises(HelpdeskError, match="Only helpdesk staff can be assigned a ticket"):
            services.assign(ticket=ticket, to=clinician_user, by=agent)
        ticket.refresh_from_db()
        assert (ticket.assignee, ticket.state) == (None, State.NEW)
        assert [e.action for e in ticket.events.all()] == ["opened"]
    with pytest.raises(HelpdeskError):
        services.assign(ticket=question(), to=UserFactory.create(), by=agent)


def test_a_resolved_ticket_cannot_be_assigned(agent: User) -> None:
    ticket = services.resolve(ticket=question(), by=agent)
    with pytest.raises(HelpdeskError, match="resolved"):
        services.assign(ticket=ticket, to=agent, by=agent)


# --- Registration and hospital tickets ------------------------------------------------------------


def test_verifying_a_registration_welcomes_the_clinician_and_resolves_the_ticket(agent: User) -> None:
    clinician = ClinicianFactory.create(status="registered", hospital_confirmed=False)
    ticket = services.open_registration_ticket(clinician=clinician)

    verified = services.verify_registration(
        ticket=ticket, by=agent, contact_note="Phoned the ward, confirmed."
    )

    clinician.refresh_from_db()
    assert verified == clinician
    assert clinician.status == Clinician.Status.VERIFIED
    assert clinician.hospital_confirmed is True
    ticket.refresh_from_db()
    assert ticket.state == State.RESOLVED
    assert ticket.events.filter(action="verified", note="Phoned the ward, confirmed.", actor=agent).exists()
    assert ticket.messages.get().body == "Verified. Phoned the ward, confirmed."
    [email] = emails_to(clinician.user.email)
    assert email.subject == "[CMSS] Welcome to the COVID-19 Clinicians Network: you are verified"
    assert "Welcome to the COVID-19 Clinicians Network." in email.text_body
    assert f"Dear {clinician.first_name}," in email.text_body


def test_a_registration_cannot_be_verified_while_the_hospital_is_only_proposed(agent: User) -> None:
    clinician = registered_at_a_proposed_hospital()
    ticket = services.open_registration_ticket(clinician=clinician)
    with pytest.raises(HelpdeskError, match="First approve or merge the proposed hospital AZ Groeninge"):
        services.verify_registration(ticket=ticket, by=agent, contact_note="Phoned.")
    clinician.refresh_from_db()
    assert clinician.status == Clinician.Status.REGISTERED
    ticket.refresh_from_db()
    assert ticket.state == State.NEW
    assert not OutgoingEmail.objects.exists()


def test_a_verified_clinician_cannot_be_verified_twice(agent: User) -> None:
    clinician = ClinicianFactory.create(status="registered")
    ticket = services.open_registration_ticket(clinician=clinician)
    services.verify_registration(ticket=ticket, by=agent, contact_note="Phoned.")
    with pytest.raises(HelpdeskError, match="verified clinician cannot become verified"):
        services.verify_registration(ticket=ticket, by=agent, contact_note="Again.")
    assert len(emails_to(clinician.user.email)) == 1


def test_rejecting_a_registration_tells_the_clinician_why(agent: User) -> None:
    clinician = ClinicianFactory.create(status="registered")
    ticket = services.open_registration_ticket(clinician=clinician)

    services.reject_registration(ticket=ticket, by=agent, reason="The hospital has no record of you.")

    clinician.refresh_from_db()
    assert clinician.status == Clinician.Status.REJECTED
    ticket.refresh_from_db()
    assert ticket.state == State.RESOLVED
    [email] = emails_to(clinician.user.email)
    assert email.subject == "[CMSS] Your registration could not be verified"
    assert "Reason: The hospital has no record of you." in email.text_body


def test_registering_with_an_unlisted_hospital_opens_a_registration_and_a_proposal_ticket_once() -> None:
    clinician = registered_at_a_proposed_hospital("AZ Groeninge")

    registration = services.open_registration_ticket(clinician=clinician)
    assert services.open_registration_ticket(clinician=clinician) == registration

    assert Ticket.objects.count() == 2
    assert registration.kind == Ticket.Kind.REGISTRATION
    assert registration.requester == clinician.user
    assert registration.subject == f"Contact and verify {clinician.full_name} (AZ Groeninge)"
    proposal = Ticket.objects.get(kind=Ticket.Kind.HOSPITAL_PROPOSAL)
    assert proposal.hospital == clinician.hospital
    assert proposal.subject == "New hospital proposed: AZ Groeninge, Brussels (BE)"


def test_the_database_allows_one_registration_ticket_per_requester_and_one_proposal_per_hospital() -> None:
    clinician = registered_at_a_proposed_hospital()
    services.open_registration_ticket(clinician=clinician)
    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.create(kind=Ticket.Kind.REGISTRATION, subject="Again", requester=clinician.user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.create(
            kind=Ticket.Kind.HOSPITAL_PROPOSAL, subject="Again", hospital=clinician.hospital
        )
    # Questions are not limited.
    question(clinician.user)
    question(clinician.user)
    assert Ticket.objects.filter(requester=clinician.user).count() == 4


def test_approving_a_proposed_hospital_lists_it_and_then_the_clinician_can_be_verified(agent: User) -> None:
    clinician = registered_at_a_proposed_hospital()
    registration = services.open_registration_ticket(clinician=clinician)
    proposal = Ticket.objects.get(kind=Ticket.Kind.HOSPITAL_PROPOSAL)

    hospital = services.approve_hospital(ticket=proposal, by=agent)

    assert hospital.approved
    assert Hospital.objects.approved().filter(name="AZ Groeninge").exists()
    proposal.refresh_from_db()
    assert proposal.state == State.RESOLVED
    assert proposal.events.filter(action="hospital_approved", to_value="AZ Groeninge, Brussels").exists()
    services.verify_registration(ticket=registration, by=agent, contact_note="Phoned.")
    clinician.refresh_from_db()
    assert clinician.status == Clinician.Status.VERIFIED


def test_a_hospital_cannot_be_approved_twice(agent: User) -> None:
    clinician = registered_at_a_proposed_hospital()
    services.open_registration_ticket(clinician=clinician)
    proposal = Ticket.objects.get(kind=Ticket.Kind.HOSPITAL_PROPOSAL)
    services.approve_hospital(ticket=proposal, by=agent)
    with pytest.raises(HelpdeskError, match="already in the list"):
        services.approve_hospital(ticket=proposal, by=agent)


def test_merging_a_proposed_hospital_moves_its_clinicians_and_deletes_it(agent: User) -> None:
    listed = HospitalFactory.create(name="AZ Groeninge", city="Kortrijk")
    clinician = registered_at_a_proposed_hospital("AZ Groeninge Kortrijk")
    duplicate = clinician.hospital
    colleague = ClinicianFactory.create(status="registered", hospital=duplicate)
    registration = services.open_registration_ticket(clinician=clinician)
    proposal = Ticket.objects.get(kind=Ticket.Kind.HOSPITAL_PROPOSAL)

    assert services.merge_hospital(ticket=proposal, into=listed, by=agent) == listed

    assert not Hospital.objects.filter(pk=duplicate.pk).exists()
    clinician.refresh_from_db()
    colleague.refresh_from_db()
    assert clinician.hospital == listed
    assert colleague.hospital == listed
    proposal.refresh_from_db()
    assert proposal.state == State.RESOLVED
    assert proposal.hospital is None
    merged = proposal.events.get(action="hospital_merged")
    assert (merged.from_value, merged.to_value) == (
        "AZ Groeninge Kortrijk, Brussels",
        "AZ Groeninge, Kortrijk",
    )
    services.verify_registration(ticket=registration, by=agent, contact_note="Phoned.")


def test_merging_into_a_hospital_that_is_not_listed_is_refused(agent: User) -> None:
    clinician = registered_at_a_proposed_hospital()
    other = HospitalFactory.create(approved=False)
    services.open_registration_ticket(clinician=clinician)
    proposal = Ticket.objects.get(kind=Ticket.Kind.HOSPITAL_PROPOSAL)
    with pytest.raises(HelpdeskError, match="Merge into a hospital that is in the list"):
        services.merge_hospital(ticket=proposal, into=other, by=agent)
    assert Hospital.objects.filter(pk=clinician.hospital_id).exists()
    proposal.refresh_from_db()
    assert proposal.state == State.NEW


def test_a_coordinator_who_moves_hospital_waits_for_the_helpdesk_to_confirm_it(agent: User) -> None:
    coordinator = CoordinatorFactory.create()
    assert coordinator.is_coordinator
    new_hospital = HospitalFactory.create(name="Rigshospitalet", city="Copenhagen", is_reference_centre=True)

    clinician = clinician_services.update_profile(
        clinician=coordinator, data=profile_data(coordinator, hospital=new_hospital), by=coordinator.user
    )

    clinician.refresh_from_db()
    assert clinician.hospital == new_hospital
    assert clinician.is_verified
    assert not clinician.is_coordinator
    ticket = Ticket.objects.get(kind=Ticket.Kind.HOSPITAL_CHANGE)
    assert ticket.requester == coordinator.user
    assert ticket.hospital == new_hospital
    assert ticket.subject.startswith(f"Confirm the new hospital of {clinician.full_name}: Rigshospitalet")
    assert not Ticket.objects.filter(kind=Ticket.Kind.HOSPITAL_PROPOSAL).exists()

    services.confirm_hospital_change(ticket=ticket, by=agent)

    clinician.refresh_from_db()
    assert clinician.hospital_confirmed
    assert clinician.is_coordinator
    ticket.refresh_from_db()
    assert ticket.state == State.RESOLVED
    assert ticket.events.filter(action="hospital_confirmed", actor=agent).exists()


def test_moving_again_before_the_confirmation_updates_the_same_ticket(agent: User) -> None:
    coordinator = CoordinatorFactory.create()
    first, second = HospitalFactory.create(), HospitalFactory.create(name="Second Hospital")
    clinician_services.update_profile(
        clinician=coordinator, data=profile_data(coordinator, hospital=first), by=coordinator.user
    )
    coordinator.refresh_from_db()
    clinician_services.update_profile(
        clinician=coordinator, data=profile_data(coordinator, hospital=second), by=coordinator.user
    )
    ticket = Ticket.objects.get(kind=Ticket.Kind.HOSPITAL_CHANGE)
    assert ticket.hospital == second
    assert ticket.events.filter(action="hospital_changed_again", to_value="Second Hospital").exists()


def test_moving_to_an_unlisted_hospital_needs_it_approved_before_the_move_is_confirmed(agent: User) -> None:
    coordinator = CoordinatorFactory.create()
    data = profile_data(
        coordinator, hospital=None, new_hospital_name="Clinique Saint-Luc", new_hospital_city="Bouge"
    )
    clinician_services.update_profile(clinician=coordinator, data=data, by=coordinator.user)

    change = Ticket.objects.get(kind=Ticket.Kind.HOSPITAL_CHANGE)
    proposal = Ticket.objects.get(kind=Ticket.Kind.HOSPITAL_PROPOSAL)
    assert change.hospital == proposal.hospital
    assert proposal.hospital is not None
    assert proposal.hospital.name == "Clinique Saint-Luc"
    assert not proposal.hospital.approved
    with pytest.raises(HelpdeskError, match="Approve or merge the hospital first"):
        services.confirm_hospital_change(ticket=change, by=agent)

    services.approve_hospital(ticket=proposal, by=agent)
    services.confirm_hospital_change(ticket=change, by=agent)
    coordinator.refresh_from_db()
    assert coordinator.hospital_confirmed
    assert coordinator.hospital.name == "Clinique Saint-Luc"
    assert not coordinator.is_coordinator  # not a reference centre


def test_a_registered_clinician_who_moves_hospital_gets_no_hospital_change_ticket() -> None:
    clinician = ClinicianFactory.create(status="registered")
    clinician_services.update_profile(
        clinician=clinician,
        data=profile_data(clinician, hospital=HospitalFactory.create()),
        by=clinician.user,
    )
    assert not Ticket.objects.filter(kind=Ticket.Kind.HOSPITAL_CHANGE).exists()


def test_model_defaults_follow_the_moved_clock(agent: User, clock: Clock) -> None:
    # A clock patched at django.utils.timezone.now left `default=timezone.now`
    # fields on the real clock: a message and its ticket disagreed about "when".
    clock.set(datetime(2028, 2, 29, 16, 45, tzinfo=UTC))
    ticket = question()
    note = services.add_note(ticket=ticket, body="Called back.", by=agent)
    assert ticket.created_at == note.created_at == datetime(2028, 2, 29, 16, 45, tzinfo=UTC)
    assert note.ticket.events.get(action="note").at == note.created_at


# --- Erasure ---------------------------------------------------------------------------------


def erasure_queries(tickets: int) -> tuple[int, list[str]]:
    """The queries Ticket.erase_personal_data makes for a person with that many tickets,
    and the subjects their tickets keep."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    person = ClinicianFactory.create().user
    for number in range(tickets):
        services.open_question(requester=person, subject=f"Question {number} from me", body="Hello")
    services.open_registration_ticket(clinician=person.clinician)
    with CaptureQueriesContext(connection) as queries:
        Ticket.erase_personal_data(person, "erased-x")
    subjects = sorted(Ticket.objects.filter(requester=person).values_list("subject", flat=True))
    return len(queries), subjects


def test_erasure_scrubs_a_persons_tickets_in_as_many_queries_for_2_tickets_as_for_20() -> None:
    few, subjects = erasure_queries(2)
    many, _ = erasure_queries(20)
    assert few == many
    assert subjects == ["[erased] Question", "[erased] Question", "[erased] Registration: contact and verify"]
    assert not Ticket.objects.filter(subject__contains="from me").exists()
    assert set(Ticket.objects.values_list("requester_name", flat=True)) == {"erased-x"}
