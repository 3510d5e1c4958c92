"""A coordinator requests a conference in several paragraphs and languages, an agent
approves it, the worker creates it on (fake) Webex and the invitations arrive over SMTP
with their .ics."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

import icalendar
import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.utils import timezone
from playwright.sync_api import expect

from clinicians.models import Clinician
from conferences.models import Conference
from tests.browser.journeys import sign_in_with_totp
from tests.deployed.conftest import Deployment
from tests.deployed.journeys import (
    AGENT_ADDRESS,
    COORDINATOR_ADDRESS,
    INVITEE_ADDRESS,
    link_in,
    production_password,
    sign_in,
)
from tests.factories import ClinicianFactory, CoordinatorFactory, StaffFactory

pytestmark = [pytest.mark.deployed]

QUESTION = (
    "Patientin, 54 Jahre, Morbus Fabry.\n"
    "\n"
    "Sollen wir die Enzymersatztherapie fortsetzen, während das Troponin steigt?\n"
    "Should we restart enzyme replacement while troponin rises?"
)
SUMMARY = (
    "Day 1: admitted with fever, SpO₂ 93 % on room air.\n"
    "Day 3: fièvre persistante, SpO₂ 88 %, troponine ×4.\n"
    "\n"
    "Échographie : FEVG 45 %. Ingen kjent eksponering (no known exposure)."
)


def _paragraphs(text: str) -> str:
    """What the browser submits for a textarea (CRLF line breaks), read back as typed."""
    return text.replace("\r\n", "\n")


def test_a_conference_typed_in_paragraphs_is_created_on_webex_and_the_invitations_carry_the_ics(
    deployed: Deployment,
) -> None:
    coordinator = cast(Clinician, CoordinatorFactory(first_name="Marta", last_name="Sousa"))
    coordinator.user.time_zone = "Europe/Lisbon"
    coordinator.user.save(update_fields=["time_zone"])
    production_password(coordinator.user)
    expert = cast(Clinician, ClinicianFactory(status="verified", first_name="Ingrid", last_name="Halvorsen"))
    production_password(expert.user)
    colleague = cast(
        Clinician, ClinicianFactory(status="verified", first_name="Élodie", last_name="Dupont", country="FR")
    )
    start = timezone.localtime(timezone.now() + timedelta(days=3), ZoneInfo("Europe/Lisbon")).replace(
        hour=9, minute=30, second=0, microsecond=0
    )

    # The coordinator asks, on a phone, in Lisbon time.
    asking = deployed.page(client=COORDINATOR_ADDRESS)
    sign_in(asking, deployed.url, coordinator.user.email)
    asking.goto(f"{deployed.url}/conferences/request/")
    asking.get_by_label("Title").fill("Fabry disease and COVID-19 myocarditis")
    asking.get_by_label("Clinical question").fill(QUESTION)
    asking.get_by_label("Anonymised case summary").fill(SUMMARY)
    # "Find" sends the form back (the way without JavaScript): the paragraphs come back as typed.
    asking.get_by_label("Invite clinicians").fill("halvor")
    with asking.expect_navigation():
        asking.get_by_role("button", name="Find").click()
    assert _paragraphs(asking.get_by_label("Clinical question").input_value()) == QUESTION
    assert _paragraphs(asking.get_by_label("Anonymised case summary").input_value()) == SUMMARY
    asking.get_by_role("checkbox", name=re.compile("Ingrid Halvorsen")).check()
    # Then a second name, searched as you type: the first one stays ticked.
    asking.get_by_label("Invite clinicians").fill("dupont")
    asking.get_by_role("button", name=re.compile("Élodie Dupont")).click()
    expect(asking.get_by_role("checkbox", name=re.compile("Élodie Dupont"))).to_be_checked()
    asking.get_by_label("I confirm that the summary contains no information").check()
    asking.get_by_label("Proposed time 1").fill(start.strftime("%Y-%m-%dT%H:%M"))
    with asking.expect_navigation():
        asking.get_by_role("button", name="Send the request").click()
    errors = asking.locator(".error-summary, .errors").all_inner_texts()
    assert re.search(r"/conferences/\d+/$", asking.url), f"the request was refused: {errors}"
    conference = Conference.objects.get()
    assert _paragraphs(conference.question) == QUESTION
    assert _paragraphs(conference.case_summary) == SUMMARY
    assert conference.slots.get().start == start
    invited = set(conference.invitations.values_list("clinician__last_name", flat=True))
    assert invited == {"Halvorsen", "Dupont"}, "the invitee ticked after Find was dropped"

    # The agent approves the proposed time on the ticket.
    agent = production_password(StaffFactory(display_name="Alex Agent"))
    secret = generate_totp_secret()
    TOTP.activate(agent, secret)
    desk = deployed.page(client=AGENT_ADDRESS, desktop=True, timezone_id="Europe/Brussels")
    sign_in_with_totp(desk, deployed.url, email=agent.email, secret=secret)
    desk.wait_for_url(re.compile(r"/admin/$"))
    desk.goto(f"{deployed.url}/admin/helpdesk/ticket/{conference.ticket_id}/change/")
    expect(desk.get_by_text("Should we restart enzyme replacement while troponin rises?")).to_be_visible()
    desk.locator("input[name=approve-slot]").first.check()
    desk.get_by_role("button", name="Approve and schedule").click()
    expect(desk.get_by_text(re.compile("Scheduled for"))).to_be_visible()

    # The worker creates the meeting on Webex, at the approved time, without the clinical text.
    invitation = deployed.mailbox.wait_for(expert.user.email, "Invitation", timeout=45)
    [meeting] = deployed.webex.meetings.values()
    assert datetime.fromisoformat(meeting["start"].replace("Z", "+00:00")) == start
    assert "Troponin" not in meeting["agenda"] and "fièvre" not in meeting["agenda"]
    assert all(request.violations == [] for request in deployed.webex.requests)

    # The invitation, through the SMTP server: the join link and invite.ics.
    assert meeting["webLink"] in invitation.text
    [attachment] = [part for part in invitation.attachments() if part.get_content_type() == "text/calendar"]
    assert attachment.get_filename() == "invite.ics"
    calendar = icalendar.Calendar.from_ical(attachment.get_content())
    assert calendar["METHOD"] == "REQUEST"
    [event] = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == start
    assert event["UID"] == f"conference-{conference.pk}@cmss.example.org"
    deployed.mailbox.wait_for(colleague.user.email, "Invitation")
    deployed.mailbox.wait_for(coordinator.user.email, "Invitation")

    # The invitee follows the email's link, reads question and summary (paragraphs kept) and joins.
    guest = deployed.page(client=INVITEE_ADDRESS)
    sign_in(guest, deployed.url, expert.user.email)
    guest.goto(deployed.browse(link_in(invitation, rf"/conferences/{conference.pk}/")))
    summary = guest.locator(".prose").nth(1)
    assert summary.locator("p").count() == 2, summary.inner_html()
    assert "SpO₂ 88 %" in summary.inner_text()
    assert (
        guest.get_by_role("link", name="Join the web conference").get_attribute("href") == meeting["webLink"]
    )
    assert deployed.problems == []
