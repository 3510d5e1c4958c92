"""Steps that the deployed journeys share."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django.contrib.auth.hashers import Argon2PasswordHasher

from tests.factories import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.deployed.conftest import Deployment
    from tests.deployed.mailbox import Received

# The addresses the proxy sees people connect from (RFC 5737 documentation ranges).
JOAO_ADDRESS = "198.51.100.7"
INES_ADDRESS = "203.0.113.9"
AGENT_ADDRESS = "203.0.113.50"
COORDINATOR_ADDRESS = "198.51.100.23"
INVITEE_ADDRESS = "192.0.2.44"


def production_password(user: Any) -> Any:
    """Give a factory-made user the factories' password hashed as production hashes it:
    the test settings hash with MD5, which the production settings do not accept."""
    hasher = Argon2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    return user


def sign_in(page: Page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Submit the sign-in form (the caller checks where it led)."""
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign In").click()


def link_in(message: Received, path_pattern: str) -> str:
    match = re.search(rf"https?://[^\s\"<>]+{path_pattern}", message.text)
    assert match is not None, f"no link to {path_pattern} in {message.subject!r}:\n{message.text}"
    return match.group(0)


def confirm_from_email(deployed: Deployment, page: Page, address: str) -> None:
    """Open the confirmation link of the email the SMTP server received and confirm."""
    message = deployed.mailbox.wait_for(address, "Confirm your email address")
    page.goto(deployed.browse(link_in(message, r"/accounts/confirm-email/[^\s/]+/")))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile(r"/profile/$"))
