"""Sign-up and sign-in through the proxy: each person is known by their own address."""

from __future__ import annotations

import re
from typing import cast

import pytest
from playwright.sync_api import expect

from clinicians.models import Clinician
from cmss.models import AuditEvent, User
from helpdesk.models import Ticket
from tests.browser.journeys import register
from tests.deployed.conftest import Deployment
from tests.deployed.journeys import (
    INES_ADDRESS,
    JOAO_ADDRESS,
    confirm_from_email,
    production_password,
    sign_in,
)
from tests.deployed.proxy import CLIENT_HEADER
from tests.factories import ClinicianFactory

pytestmark = [pytest.mark.deployed]

# A client may send an X-Forwarded-For of its own: the proxy keeps it and appends the
# address it really came from, so only the right-most entry may be believed.
FORGED = "10.1.2.3"


def test_two_clinicians_register_from_their_own_addresses_and_confirm_from_the_received_email(
    deployed: Deployment,
) -> None:
    joao = deployed.page(client=JOAO_ADDRESS)
    ines = deployed.page(client=INES_ADDRESS, forwarded_for=FORGED)

    # Production settings behind the TLS proxy: HTTPS without a redirect loop, HSTS,
    # hashed static files from WhiteNoise's manifest.
    landing = joao.goto(f"{deployed.url}/")
    assert landing is not None and landing.status == 200
    assert "max-age=" in (landing.headers.get("strict-transport-security") or "")
    stylesheet = joao.locator("link[rel=stylesheet]").first.get_attribute("href") or ""
    assert re.fullmatch(r"/static/css/cmss\.[0-9a-f]{12}\.css", stylesheet), stylesheet

    register(joao, deployed.url, email="joao.silva@santamaria.example.org")
    register(ines, deployed.url, email="ines.costa@santamaria.example.org", first="Inês", last="Costa")
    # The session and CSRF cookies are Secure, and Chromium sends them back to the proxy.
    cookies = {cookie["name"]: cookie for cookie in joao.context.cookies()}
    assert cookies["sessionid"]["secure"] and cookies["csrftoken"]["secure"]

    # Each confirms from the email the SMTP server received; its link is on SITE_URL (https).
    confirm_from_email(deployed, joao, "joao.silva@santamaria.example.org")
    confirm_from_email(deployed, ines, "ines.costa@santamaria.example.org")
    expect(joao.get_by_text("Registered — the helpdesk will contact you")).to_be_visible()
    for address in ("joao.silva@santamaria.example.org", "ines.costa@santamaria.example.org"):
        deployed.mailbox.wait_for(address, "Your registration is confirmed")
        clinician = Clinician.objects.get(user__email=address)
        assert clinician.email_confirmed_at is not None
        assert Ticket.objects.filter(requester=clinician.user, kind=Ticket.Kind.REGISTRATION).count() == 1
    assert deployed.problems == []

    # The proxy passed Inês's forged entry on, followed by her real address...
    assert any(f.x_forwarded_for == f"{FORGED}, {INES_ADDRESS}" for f in deployed.proxy.forwarded)
    # ...and the audit log records each person's own address: not the proxy's, not the forged one.
    registered = {
        address: list(
            AuditEvent.objects.filter(
                action="clinician.registered", subject_user_id=User.objects.get(email=address).pk
            ).values_list("ip_address", flat=True)
        )
        for address in ("joao.silva@santamaria.example.org", "ines.costa@santamaria.example.org")
    }
    assert registered == {
        "joao.silva@santamaria.example.org": [JOAO_ADDRESS],
        "ines.costa@santamaria.example.org": [INES_ADDRESS],
    }


def test_failed_sign_ins_from_one_address_do_not_lock_out_a_clinician_at_another(
    deployed: Deployment,
) -> None:
    ines = production_password(cast(Clinician, ClinicianFactory(status="verified", first_name="Inês")).user)
    attacker = deployed.page(client=JOAO_ADDRESS)

    # Ten failed sign-ins (ACCOUNT_RATE_LIMITS login_failed: 10/m/ip), each for another
    # address and each claiming another origin in a forged X-Forwarded-For.
    for attempt in range(10):
        attacker.set_extra_http_headers({CLIENT_HEADER: JOAO_ADDRESS, "X-Forwarded-For": f"10.0.0.{attempt}"})
        sign_in(attacker, deployed.url, f"nobody{attempt}@example.org", "not-the-password")
        expect(
            attacker.get_by_text("The email address and/or password you specified are not correct.")
        ).to_be_visible()
    # The eleventh from that address is refused: forged entries did not hide where it came from.
    sign_in(attacker, deployed.url, "nobody10@example.org", "not-the-password")
    expect(attacker.get_by_text("Too many failed login attempts. Try again later.")).to_be_visible()

    # A clinician elsewhere still signs in.
    clinician = deployed.page(client=INES_ADDRESS)
    sign_in(clinician, deployed.url, ines.email)
    refused = clinician.get_by_text("Too many failed login attempts").count()
    assert refused == 0, "a clinician at another address is locked out by someone else's failed sign-ins"
    assert re.search(r"/profile/$", clinician.url), clinician.url
