"""An agent signs in with TOTP through the proxy and verifies a registration from the queue."""

from __future__ import annotations

import re
from typing import cast

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from playwright.sync_api import expect

from clinicians.models import Clinician
from cmss.models import AuditEvent
from helpdesk.services import open_registration_ticket
from tests.browser.journeys import sign_in_with_totp
from tests.deployed.conftest import Deployment
from tests.deployed.journeys import AGENT_ADDRESS, production_password
from tests.factories import ClinicianFactory, StaffFactory

pytestmark = [pytest.mark.deployed]


def test_an_agent_signs_in_with_totp_and_verifies_a_registration_from_the_queue(deployed: Deployment) -> None:
    clinician = cast(Clinician, ClinicianFactory(status="registered", first_name="Inês", last_name="Costa"))
    ticket = open_registration_ticket(clinician=clinician)
    agent = production_password(StaffFactory(display_name="Alex Agent"))
    secret = generate_totp_secret()
    TOTP.activate(agent, secret)

    desk = deployed.page(client=AGENT_ADDRESS, desktop=True, timezone_id="Europe/Brussels")
    sign_in_with_totp(desk, deployed.url, email=agent.email, secret=secret)
    desk.wait_for_url(re.compile(r"/admin/$"))
    desk.goto(f"{deployed.url}/admin/helpdesk/ticket/")
    expect(desk.get_by_text(ticket.subject)).to_be_visible()
    desk.get_by_role("button", name="Take next").click()
    desk.wait_for_url(re.compile(rf"/admin/helpdesk/ticket/{ticket.pk}/change/$"))

    desk.get_by_label("How you contacted the clinician").fill(
        "Called +351 21 780 5000 on Monday.\n\nConfirmed: ICU physician, Hospital de Santa Maria."
    )
    desk.get_by_role("button", name="Verify").click()
    expect(desk.get_by_text("Inês Costa is verified and has been emailed.")).to_be_visible()
    clinician.refresh_from_db()
    assert clinician.status == Clinician.Status.VERIFIED
    # The worker sent the welcome through the SMTP server.
    welcome = deployed.mailbox.wait_for(clinician.user.email, "you are verified")
    assert deployed.public_url in welcome.text
    assert deployed.problems == []

    # The audit log knows the agent's own address, not the proxy's.
    viewed = AuditEvent.objects.filter(action="ticket.viewed", actor_id=agent.pk)
    assert viewed.exists()
    assert set(viewed.values_list("ip_address", flat=True)) == {AGENT_ADDRESS}
