"""A clinician registers on a phone-sized browser, confirms the email and lands on the profile."""

from __future__ import annotations

from typing import Any

import pytest

from clinicians.models import Clinician
from helpdesk.models import Ticket
from tests.browser.journeys import confirm_email, email_to, register

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_clinician_registers_confirms_the_email_and_is_in_the_helpdesk_queue(
    page: Any, live_server: Any, celery_worker: Any
) -> None:
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Join the Clinicians Network").click()
    # The page's script runs once the page has loaded: wait for it, not just for the heading
    # (asserting right after the click was flaky on a loaded machine).
    page.wait_for_load_state("load")
    assert page.get_by_role("heading", name="Join the COVID-19 Clinicians Network").is_visible()
    # The browser guessed the time zone before anything was typed.
    assert page.get_by_label("Time zone").input_value() == "Europe/Lisbon"

    register(page, live_server.url, email="joao.silva@santamaria.example.org")
    clinician = Clinician.objects.get(user__email="joao.silva@santamaria.example.org")
    assert clinician.user.time_zone == "Europe/Lisbon"
    assert clinician.hospital.name == "Hospital de Santa Maria"

    # The worker sends the confirmation email from the outbox.
    confirm_email(page, "joao.silva@santamaria.example.org")
    assert page.get_by_text("Registered — the helpdesk will contact you").is_visible()
    ticket = Ticket.objects.get(requester=clinician.user)
    assert ticket.kind == Ticket.Kind.REGISTRATION
    email_to("joao.silva@santamaria.example.org", "Your registration is confirmed: what happens next")
