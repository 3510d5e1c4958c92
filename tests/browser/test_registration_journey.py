"""A clinician registers on a phone-sized browser, confirms the email and lands on the profile."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail

from clinicians.models import Clinician
from helpdesk.models import Ticket
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_clinician_registers_confirms_the_email_and_is_in_the_helpdesk_queue(
    page: Any, live_server: Any, celery_worker: Any
) -> None:
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Join the Clinicians Network").click()
    assert page.get_by_role("heading", name="Join the COVID-19 Clinicians Network").is_visible()

    # The browser guessed the time zone before anything was typed.
    assert page.get_by_label("Time zone").input_value() == "Europe/Lisbon"

    page.get_by_label("Professional email address").fill("joao.silva@santamaria.example.org")
    page.get_by_label("Password", exact=True).fill("a-long-and-unusual-passphrase")
    page.get_by_label("First name").fill("João")
    page.get_by_label("Last name").fill("Silva")
    page.get_by_label("Phone", exact=True).fill("+351 21 780 5000")
    page.get_by_label("Country where you work").select_option(label="Portugal")
    # The hospital list is narrowed to the chosen country and searchable.
    page.get_by_label("Search hospitals by name or city").fill("santa")
    page.get_by_label("Hospital or affiliation").select_option(label="Hospital de Santa Maria, Lisbon")
    page.get_by_label("Profession", exact=True).select_option(label="Physician")
    page.get_by_label("Specialty or role").select_option(label="Infectious diseases")
    page.get_by_label("Portuguese (português)").check()
    page.get_by_label("English", exact=True).check()
    page.get_by_label("ERN LUNG — Rare respiratory diseases").check()
    page.get_by_label("I have read the privacy statement and accept it").check()
    page.get_by_role("button", name="Register").click()

    page.wait_for_url(re.compile(r"/accounts/confirm-email/$"))
    clinician = Clinician.objects.get(user__email="joao.silva@santamaria.example.org")
    assert clinician.user.time_zone == "Europe/Lisbon"
    assert clinician.hospital.name == "Hospital de Santa Maria"

    # The worker sends the confirmation email from the outbox.
    wait_for(lambda: len(mail.outbox) >= 1)
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[0].body)
    assert link is not None, mail.outbox[0].body
    page.goto(link.group(0))
    page.get_by_role("button", name="Confirm").click()

    page.wait_for_url(re.compile(r"/profile/$"))
    assert page.get_by_text("Registered — the helpdesk will contact you").is_visible()
    ticket = Ticket.objects.get(requester=clinician.user)
    assert ticket.kind == Ticket.Kind.REGISTRATION

    wait_for(lambda: len(mail.outbox) >= 2)
    assert mail.outbox[1].subject == "[CMSS] Your registration is confirmed: what happens next"
