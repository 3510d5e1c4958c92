"""The person's rights: download everything held about me, and erasure."""

from __future__ import annotations

import json

import pytest
from allauth.mfa.models import Authenticator
from django.apps import apps
from django.db import models
from django.test import Client
from django.utils import timezone

from clinicians.models import Clinician, Hospital, PrivacyStatement
from clinicians.services import accept_privacy_statement, propose_hospital
from cmss import audit, outbox
from cmss.models import AuditEvent, OutgoingEmail, User
from cmss.personal_data import _owned, declared_fields, models_with_personal_data
from cmss.tasks import send_email
from conferences.video import Invitee, MeetingSpec
from conferences.video.local import LocalBackend
from helpdesk import services as helpdesk
from helpdesk.models import Ticket, TicketMessage
from tests.factories import PASSWORD, ClinicianFactory, StaffFactory

pytestmark = pytest.mark.django_db

EMAIL = "xanthippe.quarkwood@hospital.example.org"
PHONE = "+32 2 555 77 88"


@pytest.fixture
def person(client: Client) -> Clinician:
    """A clinician with data in every table that can hold some."""
    clinician = ClinicianFactory(
        user__email=EMAIL, first_name="Xanthippe", last_name="Quarkwood", phone=PHONE, status="registered"
    )
    user = clinician.user
    agent = StaffFactory()
    registration = helpdesk.open_registration_ticket(clinician=clinician)
    helpdesk.reply(ticket=registration, body="Dear Xanthippe Quarkwood, we will call you.", by=agent)
    helpdesk.add_note(ticket=registration, body="Internal: called Xanthippe on +32 2 555 77 88", by=agent)
    question = helpdesk.open_question(
        requester=user, subject="Question from Xanthippe Quarkwood", body="Hello"
    )
    helpdesk.requester_reply(ticket=question, body="More from Xanthippe", by=user)
    helpdesk.verify_registration(ticket=registration, by=agent, contact_note="Called Xanthippe Quarkwood")
    sent = outbox.queue_email(to=EMAIL, subject="Hi Xanthippe", text="Body for Xanthippe", user=user)
    send_email(sent.pk)
    outbox.queue_email(to=EMAIL, subject="Still waiting, Xanthippe", text="Queued", user=user)
    propose_hospital(name="Groeninge Clinic", city="Kortrijk", country="BE", by=user)
    accept_privacy_statement(user=user, statement=PrivacyStatement.objects.current())
    audit.record(action="directory.contact_revealed", actor=StaffFactory(), obj=clinician, subject=user)
    Authenticator.objects.create(user=user, type="totp", data={"secret": "x"})
    start = timezone.now()
    LocalBackend().create(
        MeetingSpec(
            key="erasure-test",
            title="Case",
            start=start,
            end=start,
            time_zone="UTC",
            invitees=(Invitee(email=EMAIL, name="Xanthippe Quarkwood"),),
        )
    )
    # Conferences: one requested for the hospital, one invited to.
    from conferences.models import Conference, Invitation

    asked = Conference.objects.create(
        hospital=clinician.hospital,
        requested_by=user,
        title="Case",
        question="Question",
        case_summary="Summary",
        time_zone="UTC",
    )
    Invitation.objects.create(conference=asked, clinician=clinician)
    # Webinars: a seat, and a talk given.
    from conferences import webinars
    from tests.factories import SpeakerFactory, WebinarFactory

    talk = WebinarFactory(state="published")
    SpeakerFactory(webinar=talk, clinician=clinician, name="Xanthippe Quarkwood", email="")
    webinars.register(webinar=talk, clinician=clinician)
    client.force_login(user)
    return clinician


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


def test_the_export_holds_my_messages_but_never_internal_notes(client: Client, person: Clinician) -> None:
    data = json.loads(client.post("/profile/data/").content)["data"]
    bodies = [row["body"] for row in data["helpdesk.ticketmessage"]]
    assert "Dear Xanthippe Quarkwood, we will call you." in bodies
    assert "More from Xanthippe" in bodies
    assert not any("Internal:" in body for body in bodies)
    assert {row["subject"] for row in data["cmss.outgoingemail"]} >= {
        "Hi Xanthippe",
        "Still waiting, Xanthippe",
    }
    assert any(row["action"] == "directory.contact_revealed" for row in data["cmss.auditevent"])


def test_deleting_the_account_needs_the_password(client: Client, person: Clinician) -> None:
    response = client.post("/profile/delete/", {"password": "wrong", "confirm": "on"})
    assert response.status_code == 200
    assert "This is not your password." in response.content.decode()
    assert User.objects.filter(email=EMAIL).exists()


def text_columns(model: type[models.Model]) -> list[str]:
    kinds = (models.CharField, models.TextField, models.JSONField, models.GenericIPAddressField)
    return [f.name for f in model._meta.concrete_fields if isinstance(f, kinds)]


def test_after_erasure_no_table_holds_my_email_name_or_phone(client: Client, person: Clinician) -> None:
    other = ClinicianFactory(first_name="Other", last_name="Person")
    tickets = list(Ticket.objects.filter(requester=person.user).values_list("pk", flat=True))
    response = client.post("/profile/delete/", {"password": PASSWORD, "confirm": "on"}, follow=True)
    assert "Your account and your personal data are deleted." in response.content.decode()
    assert not response.context["user"].is_authenticated

    needles = [EMAIL, "Xanthippe", "Quarkwood", "+3225557788", "+32 2 555 77 88", "555 77 88"]
    found = []
    for model in apps.get_models():
        for column in text_columns(model):
            for needle in needles:
                lookup = (
                    f"{column}__icontains"
                    if not isinstance(model._meta.get_field(column), models.JSONField)
                    else None
                )
                if lookup and model._default_manager.filter(**{lookup: needle}).exists():
                    found.append(f"{model._meta.label}.{column} ~ {needle}")
            if isinstance(model._meta.get_field(column), models.JSONField):
                for value in model._default_manager.values_list(column, flat=True):
                    if any(needle in json.dumps(value, ensure_ascii=False) for needle in needles):
                        found.append(f"{model._meta.label}.{column}")
    assert found == []

    # The tickets stay, under a pseudonym, for the helpdesk's records.
    kept = Ticket.objects.filter(pk__in=tickets)
    assert kept.count() == len(tickets)
    assert all(ticket.requester_name.startswith("erased-") for ticket in kept)
    assert set(TicketMessage.objects.filter(ticket__in=kept).values_list("body", flat=True)) == {"[erased]"}
    # Nothing more goes out to the person; other people are untouched.
    assert not OutgoingEmail.objects.filter(state="queued").exists()
    assert Clinician.objects.filter(pk=other.pk).exists()
    assert Hospital.objects.filter(name="Groeninge Clinic").exists()  # a hospital is not personal data
    assert declared_fields(Hospital) == ("proposed_by",)
    assert Hospital.objects.get(name="Groeninge Clinic").proposed_by is None


def test_erasure_signs_the_person_out_everywhere(person: Clinician) -> None:
    other_device = Client()
    other_device.force_login(person.user)
    me = Client()
    me.force_login(person.user)
    me.post("/profile/delete/", {"password": PASSWORD, "confirm": "on"})
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
        ticket=registration, to="open", by=StaffFactory(), note="Phoned Xanthippe Quarkwood"
    )
    client.post("/profile/delete/", {"password": PASSWORD, "confirm": "on"})
    leftovers = Ticket.objects.filter(subject__icontains="Xanthippe").count()
    assert leftovers == 0
    from helpdesk.models import TicketEvent

    assert not TicketEvent.objects.filter(note__icontains="Xanthippe").exists()
    assert not TicketMessage.objects.filter(body__icontains="Xanthippe").exists()
