"""The person's rights: download everything held about me, and erasure."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import models
from django.db.models import Q
from django.test import Client
from django.utils import timezone

from clinicians.models import Clinician, Hospital, PrivacyStatement
from clinicians.services import accept_privacy_statement, propose_hospital
from cmss import audit, outbox
from cmss.models import AuditEvent, OutgoingEmail, User
from cmss.personal_data import _owned, declared_fields, models_with_personal_data
from cmss.tasks import send_email
from conferences.cases import outcomes
from conferences.cases import services as case_conferences
from conferences.meetings import pipeline as meetings
from conferences.models import Conference, Invitation, ProviderMeeting
from conferences.video import Invitee, MeetingSpec
from conferences.video.local import LocalBackend
from helpdesk import services as helpdesk
from helpdesk.models import Ticket, TicketMessage
from tests.factories import (
    PASSWORD,
    ClinicianFactory,
    SpeakerFactory,
    StaffFactory,
    UserFactory,
    WebinarFactory,
    requested_conference,
    requested_webinar,
)

pytestmark = pytest.mark.django_db

EMAIL = "xanthippe.quarkwood@hospital.example.org"
PHONE = "+32 2 555 77 88"
FULL_NAME = "Xanthippe Quarkwood"
# How the person is written in free text: the scan below looks for these
# itself, independently of what the export searches for.
NEEDLES = [EMAIL, FULL_NAME, "+3225557788", PHONE]
OTHER_EMAIL = "olwen.brightmoor@hospital.example.org"
AGENT_EMAIL = "agent.vandamme@sante.example.eu"


def sign_in(client: Client, email: str = EMAIL) -> Client:
    """Sign in as a person does (allauth's form), which records a user session."""
    response = client.post("/accounts/login/", {"login": email, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()
    assert response["Location"] == "/profile/", response["Location"]
    return client


@pytest.fixture
def person(client: Client) -> Clinician:
    """A clinician with data in every table that can hold some."""
    # Before registering, from the same address, through /contact/.
    helpdesk.open_contact_question(
        name=FULL_NAME,
        email=EMAIL,
        subject="Joining the network",
        body="I am Xanthippe Quarkwood, can I join?",
    )
    # Someone attached the address to their own account (before that was refused).
    EmailAddress.objects.create(user=UserFactory.create(), email=EMAIL, verified=False, primary=False)
    clinician = ClinicianFactory.create(
        user__email=EMAIL, first_name="Xanthippe", last_name="Quarkwood", phone=PHONE, status="registered"
    )
    user = clinician.user
    agent = StaffFactory.create(email=AGENT_EMAIL)
    registration = helpdesk.open_registration_ticket(clinician=clinician)
    helpdesk.assign(ticket=registration, to=agent, by=agent)
    helpdesk.reply(ticket=registration, body="Dear Xanthippe Quarkwood, we will call you.", by=agent)
    helpdesk.add_note(ticket=registration, body="Internal: called Xanthippe on +32 2 555 77 88", by=agent)
    question = helpdesk.open_question(
        requester=user, subject="Question from Xanthippe Quarkwood", body="Hello"
    )
    helpdesk.requester_reply(ticket=question, body="More from Xanthippe", by=user)
    helpdesk.change_state(ticket=question, to="waiting", by=agent, note="Left a message on +32 2 555 77 88")
    helpdesk.verify_registration(ticket=registration, by=agent, contact_note="Called Xanthippe Quarkwood")
    # Another person's ticket, where the helpdesk writes about this person.
    other = ClinicianFactory.create(
        user__email=OTHER_EMAIL, first_name="Olwen", last_name="Brightmoor", status="verified"
    )
    theirs = helpdesk.open_question(requester=other.user, subject="My colleague", body="Please add her.")
    helpdesk.add_note(ticket=theirs, body="Olwen's colleague is on +32 2 555 77 88", by=agent)
    helpdesk.reply(ticket=theirs, body="Xanthippe Quarkwood will be in touch with you.", by=agent)
    helpdesk.change_state(ticket=theirs, to="open", by=agent, note="Waiting for Xanthippe Quarkwood")
    # The helpdesk corrected the profile in the admin.
    LogEntry.objects.log_actions(
        user_id=agent.pk,
        queryset=Clinician.objects.filter(pk=clinician.pk),
        action_flag=CHANGE,
        change_message="Corrected the phone number.",
        single_object=True,
    )
    sent = outbox.queue_email(to=EMAIL, subject="Hi Xanthippe", text="Body for Xanthippe", user=user)
    send_email(sent.pk)
    outbox.queue_email(to=EMAIL, subject="Still waiting, Xanthippe", text="Queued", user=user)
    propose_hospital(name="Groeninge Clinic", city="Kortrijk", country="BE", by=user)
    statement = PrivacyStatement.objects.current()
    assert statement is not None
    accept_privacy_statement(user=user, statement=statement)
    audit.record(
        action="directory.contact_revealed", actor=StaffFactory.create(), obj=clinician, subject=user
    )
    sign_in(client)  # before two-factor sign-in is on
    Authenticator.objects.create(user=user, type="totp", data={"secret": "x"})
    start = timezone.now()
    LocalBackend().create(
        MeetingSpec(
            key="erasure-test",
            title="Case",
            start=start,
            end=start,
            time_zone="UTC",
            invitees=(Invitee(email=EMAIL, name=FULL_NAME), Invitee(email=OTHER_EMAIL, name="Olwen")),
        )
    )
    # Conferences: one requested for the hospital, one invited to.
    asked = Conference.objects.create(
        hospital=clinician.hospital,
        requested_by=user,
        title="Case",
        question="Question",
        case_summary="Summary",
        time_zone="UTC",
    )
    Invitation.objects.create(conference=asked, clinician=clinician)
    # A colleague's conference with this person (added by the helpdesk, which
    # its history names them for) and another invited: a meeting on the video
    # provider, accepted, held, with an outcome report that names them and
    # lists them among those who took part.
    invited = requested_conference(invitees=[other], start=start + timedelta(days=3))
    case_conferences.add_invitee(conference=invited, clinician=clinician, by=agent)
    case_conferences.approve(conference=invited, start=start + timedelta(days=3), by=agent)
    case_conferences.respond(
        invitation=Invitation.objects.get(conference=invited, clinician=clinician), accept=True
    )
    invited.refresh_from_db()
    assert invited.meeting_id is not None
    meetings.realise_meeting(meeting_id=invited.meeting_id)
    Conference.objects.filter(pk=invited.pk).update(start=start - timedelta(hours=2))
    outcomes.mark_held(
        conference=invited,
        report=outcomes.ReportData(
            question="Which dose now?",
            advice="Xanthippe Quarkwood advised a lower dose.",
            agreement="consensus",
            participants=[clinician],
        ),
        by=agent,
    )
    # Webinars: a seat, and a talk given, announced with the speaker's name.
    from conferences.webinars import services as webinars

    talk = WebinarFactory.create(
        state="published", description="Xanthippe Quarkwood on ventilation in ERN LUNG."
    )
    SpeakerFactory.create(webinar=talk, clinician=clinician, name=FULL_NAME, email="")
    webinars.register(webinar=talk, clinician=clinician)
    # Webinar requests: one the person sent for their hospital, and a colleague's
    # that proposes them as a speaker.
    from clinicians.models import Language
    from conferences.models import WebinarRequest, WebinarRequestEvent

    asked_webinar = WebinarRequest.objects.create(
        hospital=clinician.hospital,
        requested_by=user,
        topic="Ventilation in rare lung disease",
        audience="Intensivists",
        clinical_need="Winter is coming.",
        language=Language.objects.get(code="en"),
        audience_size=40,
        time_zone="UTC",
    )
    WebinarRequestEvent.objects.create(request=asked_webinar, action="requested", actor=user)
    requested_webinar(speakers=[clinician])
    return clinician


def rows_holding(needles: list[str]) -> dict[tuple[str, int], list[str]]:
    """Every (model, pk) whose text, char, email or JSON columns contain one of
    the needles (case-insensitively), with those columns: a scan of the whole
    database, as a data-protection officer would run it."""
    found: dict[tuple[str, int], list[str]] = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        for column in text_columns(model):
            if isinstance(model._meta.get_field(column), models.JSONField):
                for pk, value in model._default_manager.values_list("pk", column):
                    text = json.dumps(value, ensure_ascii=False).casefold()
                    if any(needle.casefold() in text for needle in needles):
                        found.setdefault((label, pk), []).append(column)
                continue
            matches = Q()
            for needle in needles:
                matches |= Q(**{f"{column}__icontains": needle})
            for pk in model._default_manager.filter(matches).values_list("pk", flat=True):
                found.setdefault((label, pk), []).append(column)
    return found


def test_the_export_page_explains_and_the_download_is_a_json_attachment(
    client: Client, person: Clinician
) -> None:
    assert "Download my data" in client.get("/profile/data/").content.decode()
    response = client.post("/profile/data/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="cmss-my-data.json"'
    data = json.loads(response.content)["data"]
    assert data["cmss.user"][0]["email"] == EMAIL
    assert "password" not in data["cmss.user"][0]
    assert data["clinicians.clinician"][0]["phone"] == "+3225557788"
    assert AuditEvent.objects.filter(action="personal_data.exported", subject_user_id=person.user.pk).exists()


def test_the_export_has_every_declared_field_of_every_model_that_holds_my_data(
    client: Client, person: Clinician
) -> None:
    data = json.loads(client.post("/profile/data/").content)["data"]
    missing = []
    for model, fields in models_with_personal_data():
        if _owned(model, person.user) is None:
            continue
        label = model._meta.label_lower
        rows = data.get(label, [])
        if not rows:
            missing.append(f"{label}: no rows")
            continue
        missing += [f"{label}.{name}" for name in fields if name not in rows[0]]
    assert missing == []


def test_the_export_holds_my_messages_and_the_helpdesks_notes_about_me(
    client: Client, person: Clinician
) -> None:
    data = json.loads(client.post("/profile/data/").content)["data"]
    bodies = [row["body"] for row in data["helpdesk.ticketmessage"]]
    assert "Dear Xanthippe Quarkwood, we will call you." in bodies
    assert "More from Xanthippe" in bodies
    # What the helpdesk wrote about me is my personal data too (Article 17).
    assert "Internal: called Xanthippe on +32 2 555 77 88" in bodies
    assert "I am Xanthippe Quarkwood, can I join?" in bodies  # sent through /contact/ before registering
    events = {
        (row.get("action"), row.get("to_value"), row.get("note")) for row in data["helpdesk.ticketevent"]
    }
    assert ("verified", FULL_NAME, "Called Xanthippe Quarkwood") in events
    assert ("state", "waiting", "Left a message on +32 2 555 77 88") in events
    assert {row.get("subject") for row in data["cmss.outgoingemail"]} >= {
        "Hi Xanthippe",
        "Still waiting, Xanthippe",
    }
    assert any(row["action"] == "directory.contact_revealed" for row in data["cmss.auditevent"])


def test_the_export_holds_every_row_that_names_me_found_by_scanning_the_database(
    client: Client, person: Clinician
) -> None:
    data = json.loads(client.post("/profile/data/").content)["data"]
    exported = {(label, row["id"]) for label, rows in data.items() for row in rows}
    found = rows_holding(NEEDLES)
    # The scan sees what the fixture put everywhere (a guard against a scan that finds nothing).
    assert {label for label, _pk in found} >= {
        "account.emailaddress",
        "admin.logentry",
        "cmss.outgoingemail",
        "conferences.localvideomeeting",
        "conferences.meetinginvitee",
        "conferences.outcomereport",
        "conferences.webinar",
        "helpdesk.ticket",
        "helpdesk.ticketevent",
        "helpdesk.ticketmessage",
    }
    missing = sorted(
        f"{label} #{pk} ({', '.join(columns)})"
        for (label, pk), columns in found.items()
        if (label, pk) not in exported
    )
    assert missing == []


def test_rows_that_only_mention_me_are_exported_with_the_fields_that_do(
    client: Client, person: Clinician
) -> None:
    data = json.loads(client.post("/profile/data/").content)["data"]
    theirs = Ticket.objects.get(requester__email=OTHER_EMAIL, kind="question")
    note = TicketMessage.objects.get(ticket=theirs, kind="note")
    messages = data["helpdesk.ticketmessage"]
    assert {"id": note.pk, "body": "Olwen's colleague is on +32 2 555 77 88"} in messages
    assert theirs.pk not in {row["id"] for row in data["helpdesk.ticket"]}  # its subject names someone else
    [copy] = [row for row in data["account.emailaddress"] if row.get("user") != EMAIL]
    assert copy == {"id": copy["id"], "email": EMAIL}  # not whose account it is on


def test_my_export_names_no_staff_member_and_nobody_elses_address(client: Client, person: Clinician) -> None:
    dump = json.dumps(json.loads(client.post("/profile/data/").content), ensure_ascii=False)
    assert AGENT_EMAIL not in dump
    assert OTHER_EMAIL not in dump
    data = json.loads(dump)["data"]
    # On the provider meeting of the colleague's conference: my row, not the other invitee's.
    [meeting] = data["conferences.meetinginvitee"]
    assert meeting["email"] == EMAIL and meeting["name"] == FULL_NAME
    assert meeting["synced_at"] is not None and meeting["removed_at"] is None
    assert [row["invitees"] for row in data["conferences.localvideomeeting"]] == [[EMAIL], [EMAIL]]


def test_deleting_the_account_needs_the_password(client: Client, person: Clinician) -> None:
    response = client.post("/profile/delete/", {"password": "wrong", "confirm": "on"})
    assert response.status_code == 200
    assert "This is not your password." in response.content.decode()
    assert User.objects.filter(email=EMAIL).exists()


def text_columns(model: type[models.Model]) -> list[str]:
    kinds = (models.CharField, models.TextField, models.JSONField, models.GenericIPAddressField)
    return [f.name for f in model._meta.concrete_fields if isinstance(f, kinds)]


def test_after_erasure_no_table_holds_my_email_name_or_phone(client: Client, person: Clinician) -> None:
    other = ClinicianFactory.create(first_name="Other", last_name="Person")
    tickets = list(Ticket.objects.filter(requester=person.user).values_list("pk", flat=True))
    theirs = Ticket.objects.get(requester__email=OTHER_EMAIL, kind="question")
    response = client.post("/profile/delete/", {"password": PASSWORD, "confirm": "on"}, follow=True)
    assert "Your account and your personal data are deleted." in response.content.decode()
    assert not response.context["user"].is_authenticated

    # The address stays on a provider meeting until a worker has taken it off the provider.
    for meeting in ProviderMeeting.objects.all():
        meetings.realise_meeting(meeting_id=meeting.pk)
    needles = [*NEEDLES, "Xanthippe", "Quarkwood", "555 77 88"]
    assert rows_holding(needles) == {}

    # The tickets stay, under a pseudonym, for the helpdesk's records.
    kept = Ticket.objects.filter(pk__in=tickets)
    assert kept.count() == len(tickets)
    assert all(ticket.requester_name.startswith("erased-") for ticket in kept)
    assert set(TicketMessage.objects.filter(ticket__in=kept).values_list("body", flat=True)) == {"[erased]"}
    # Someone else's ticket keeps its text, without this person in it.
    assert TicketMessage.objects.get(ticket=theirs, kind="note").body == "Olwen's colleague is on [erased]"
    # Nobody keeps a copy of the address; nothing more goes out to the person; others are untouched.
    assert not EmailAddress.objects.filter(email__iexact=EMAIL).exists()
    assert not OutgoingEmail.objects.filter(state="queued", to_address__endswith="@erased.invalid").exists()
    assert OutgoingEmail.objects.filter(state="queued", to_address=OTHER_EMAIL).exists()
    assert Clinician.objects.filter(pk=other.pk).exists()
    assert Hospital.objects.filter(name="Groeninge Clinic").exists()  # a hospital is not personal data
    assert declared_fields(Hospital) == ("proposed_by",)
    assert Hospital.objects.get(name="Groeninge Clinic").proposed_by is None


def test_erasure_signs_the_person_out_everywhere(person: Clinician) -> None:
    from allauth.usersessions.models import UserSession
    from django.contrib.sessions.models import Session

    Authenticator.objects.filter(user=person.user).delete()  # signing in with the password is enough
    other_device = sign_in(Client())
    me = sign_in(Client())
    keys = [other_device.session.session_key, me.session.session_key]
    assert Session.objects.filter(session_key__in=keys).count() == 2
    me.post("/profile/delete/", {"password": PASSWORD, "confirm": "on"})
    assert not Session.objects.filter(session_key__in=keys).exists()
    assert not UserSession.objects.filter(session_key__in=keys).exists()
    assert other_device.get("/profile/").status_code == 302


def test_export_and_erasure_are_for_the_signed_in_person_only(client: Client, person: Clinician) -> None:
    visitor = Client()
    assert visitor.post("/profile/data/").status_code == 302
    assert visitor.post("/profile/delete/", {"password": PASSWORD, "confirm": "on"}).status_code == 302
    assert User.objects.filter(email=EMAIL).exists()


def test_my_export_never_shows_who_else_looked_at_my_data_or_from_where(
    client: Client, person: Clinician
) -> None:
    data = json.loads(client.post("/profile/data/").content)["data"]
    revealed = [row for row in data["cmss.auditevent"] if row["action"] == "directory.contact_revealed"]
    assert revealed and all(row["actor_id"] is None and row["ip_address"] is None for row in revealed)


def test_erasure_reaches_contact_form_tickets_and_notes_on_state_changes(
    client: Client, person: Clinician
) -> None:
    helpdesk.open_contact_question(
        name="Xanthippe Q", email=EMAIL, subject="From Xanthippe", body="Xanthippe here"
    )
    registration = Ticket.objects.get(requester=person.user, kind="registration")
    helpdesk.change_state(
        ticket=registration, to="open", by=StaffFactory.create(), note="Phoned Xanthippe Quarkwood"
    )
    client.post("/profile/delete/", {"password": PASSWORD, "confirm": "on"})
    leftovers = Ticket.objects.filter(subject__icontains="Xanthippe").count()
    assert leftovers == 0
    from helpdesk.models import TicketEvent

    assert not TicketEvent.objects.filter(note__icontains="Xanthippe").exists()
    assert not TicketMessage.objects.filter(body__icontains="Xanthippe").exists()


def test_declared_mention_fields_are_text_fields_that_exist() -> None:
    from cmss.personal_data import mention_fields

    declared = 0
    for model in apps.get_models():
        for name in mention_fields(model):
            field = model._meta.get_field(name)
            assert isinstance(field, models.CharField | models.TextField), f"{model._meta.label}.{name}"
            declared += 1
    assert declared > 10


# --- Email addresses ----------------------------------------------------------------------------


def test_a_clinician_cannot_attach_someone_elses_address_to_their_account(client: Client) -> None:
    victim = ClinicianFactory.create(user__email="victim@hospital.example.org")
    intruder = ClinicianFactory.create()
    client.force_login(intruder.user)
    response = client.post("/accounts/email/", {"action_add": "", "email": victim.user.email})
    assert response.status_code == 200
    page = response.content.decode()
    assert "You cannot add more than 1 email addresses." in page
    assert "Ask the helpdesk to change it" in page
    assert not EmailAddress.objects.filter(user=intruder.user, email__iexact=victim.user.email).exists()
    assert list(EmailAddress.objects.filter(user=intruder.user).values_list("email", flat=True)) == [
        intruder.user.email
    ]
    # The page offers no form to add one.
    page = client.get("/accounts/email/").content.decode()
    assert "You cannot add" not in page
    assert 'name="action_add"' not in page
    assert intruder.user.email in page


def test_an_account_without_an_address_row_gets_its_own_address_and_no_other(client: Client) -> None:
    user = User.objects.create_user("no-row@hospital.example.org", PASSWORD)  # as createsuperuser does
    statement = PrivacyStatement.objects.current()
    assert statement is not None
    accept_privacy_statement(user=user, statement=statement)
    client.force_login(user)
    client.post("/accounts/email/", {"action_add": "", "email": "someone@hospital.example.org"})
    assert list(EmailAddress.objects.filter(user=user).values_list("email", flat=True)) == [user.email]


# --- Sessions -----------------------------------------------------------------------------------


def test_the_sessions_page_lists_my_sessions_and_signs_out_the_others(client: Client) -> None:
    from django.contrib.sessions.models import Session

    clinician = ClinicianFactory.create()
    laptop = sign_in(Client(), clinician.user.email)
    sign_in(client, clinician.user.email)
    profile = client.get("/profile/").content.decode()
    assert 'href="/accounts/sessions/"' in profile
    response = client.get("/accounts/sessions/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert "<main" in page and "Sign Out Other Sessions" in page  # in the site's layout
    assert page.count("<tr") == 3  # a header and two sessions
    client.post("/accounts/sessions/")
    assert not Session.objects.filter(session_key=laptop.session.session_key).exists()
    assert laptop.get("/profile/").status_code == 302
    assert client.get("/profile/").status_code == 200


def test_my_sessions_are_in_my_export_without_their_keys(client: Client, person: Clinician) -> None:
    data = json.loads(client.post("/profile/data/").content)["data"]
    [session] = data["usersessions.usersession"]
    assert session["user"] == EMAIL and "ip" in session and "user_agent" in session
    assert "session_key" not in session
    session_key = client.session.session_key
    assert session_key is not None and session_key not in json.dumps(data)


def test_expired_sessions_and_ended_user_sessions_are_cleared_every_day(settings: Any) -> None:
    from allauth.usersessions.models import UserSession
    from django.contrib.sessions.models import Session

    from cmss.tasks import clear_sessions

    clinician = ClinicianFactory.create()
    gone, live = sign_in(Client(), clinician.user.email), sign_in(Client(), clinician.user.email)
    Session.objects.filter(session_key=gone.session.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    # A user session whose Django session was deleted some other way (signed out).
    orphan = UserSession.objects.create(user=clinician.user, ip="192.0.2.1", session_key="x" * 32)

    clear_sessions()

    assert set(Session.objects.values_list("session_key", flat=True)) == {live.session.session_key}
    assert set(UserSession.objects.values_list("session_key", flat=True)) == {live.session.session_key}
    assert orphan.pk not in UserSession.objects.values_list("pk", flat=True)
    assert live.get("/profile/").status_code == 200
    daily = settings.CELERY_BEAT_SCHEDULE["clear-sessions"]
    assert daily == {"task": "cmss.tasks.clear_sessions", "schedule": 24 * 3600.0}
