"""Steps that several browser journeys share."""

from __future__ import annotations

import re
import time
from typing import Any

from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.core import mail

from tests.conftest import wait_for
from tests.factories import PASSWORD


def register(page: Any, base_url: str, *, email: str, first: str = "João", last: str = "Silva") -> None:
    """Fill in /register/ as a clinician at Hospital de Santa Maria, Lisbon."""
    page.goto(f"{base_url}/register/")
    page.get_by_label("Professional email address").fill(email)
    page.get_by_label("Password", exact=True).fill("a-long-and-unusual-passphrase")
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill(last)
    page.get_by_label("Phone", exact=True).fill("+351 21 780 5000")
    page.get_by_label("Country where you work").select_option(label="Portugal")
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


def email_to(address: str, subject_part: str, timeout: float = 20.0) -> mail.EmailMessage:
    """Wait until the worker has sent an email to `address` whose subject has `subject_part`."""

    def find() -> mail.EmailMessage | None:
        for message in mail.outbox:
            if address in message.to and subject_part in message.subject:
                return message
        return None

    return wait_for(find, timeout=timeout)


def confirm_email(page: Any, address: str) -> None:
    message = email_to(address, "Confirm your email address")
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", str(message.body))
    assert link is not None, message.body
    page.goto(link.group(0))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile(r"/profile/$"))


def sign_in_with_totp(
    page: Any, base_url: str, *, email: str, secret: str, next_path: str = "/admin/"
) -> None:
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r"/accounts/2fa/authenticate/"))
    # A code typed in the last seconds of its 30-second step may reach the
    # server in the next one, where it no longer counts: wait for a fresh step.
    if 30 - time.time() % 30 < 5:
        time.sleep(30 - time.time() % 30 + 0.5)
    page.get_by_label("Code").fill(format_hotp_value(hotp_value(secret, int(time.time()) // 30)))
    page.get_by_role("button", name="Sign In").click()
