"""The helpdesk takes a new registration from the queue, replies and verifies the clinician."""

from __future__ import annotations

import re
from typing import Any

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

from clinicians.models import Clinician
from tests.browser.journeys import confirm_email, email_to, register, sign_in_with_totp
from tests.factories import StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_agent_takes_the_registration_replies_and_verifies_the_clinician(
    browser: Any, page: Any, live_server: Any, celery_worker: Any
) -> None:
    address = "ines.costa@santamaria.example.org"
    register(page, live_server.url, email=address, first="Inês", last="Costa")
    confirm_email(page, address)

    agent = StaffFactory.create(display_name="Alex Agent")
    secret = generate_totp_secret()
    TOTP.activate(agent, secret)
    desk = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in_with_totp(desk, live_server.url, email=agent.email, secret=secret)
    desk.wait_for_url(re.compile(r"/admin/$"))
    desk.goto(f"{live_server.url}/admin/helpdesk/ticket/")
    assert desk.get_by_text("Contact and verify Inês Costa (Hospital de Santa Maria)").is_visible()
    desk.get_by_role("button", name="Take next").click()
    desk.wait_for_url(re.compile(r"/admin/helpdesk/ticket/\d+/change/$"))
    assert desk.get_by_text("Ticket #").first.is_visible()

    desk.get_by_label("Reply to the requester").fill("Dear Inês, we will call you tomorrow at 10:00.")
    desk.get_by_label("After sending").select_option(label="then keep it open")
    desk.get_by_role("button", name="Send reply").click()
    assert desk.get_by_text("Your reply is on its way to the requester.").is_visible()

    desk.get_by_label("How you contacted the clinician").fill(
        "Called +351 21 780 5000; confirmed ICU physician."
    )
    desk.get_by_role("button", name="Verify").click()
    assert desk.get_by_text("Inês Costa is verified and has been emailed.").is_visible()
    assert Clinician.objects.get(user__email=address).status == Clinician.Status.VERIFIED

    reply = email_to(address, "Re: Contact and verify")
    assert "we will call you tomorrow at 10:00" in reply.body
    email_to(address, "you are verified")

    page.goto(f"{live_server.url}/helpdesk/")
    page.get_by_role("link", name=re.compile("Contact and verify")).click()
    assert page.get_by_text("Dear Inês, we will call you tomorrow at 10:00.").is_visible()
    assert page.get_by_text("confirmed ICU physician").count() == 0  # the internal note stays internal
