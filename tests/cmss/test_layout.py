"""The header and footer a signed-in person sees are kept per language, role and
time zone: each viewer still gets their own sign-out token, language, links and zone."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from clinicians.models import Clinician
from tests.factories import ClinicianFactory, StaffFactory

pytestmark = pytest.mark.django_db


def signed_in(user: object) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)  # type: ignore[arg-type]
    return client


def header(page: str) -> str:
    found = re.search(r'<header class="site-header">.*?</header>', page, re.DOTALL)
    return found.group(0) if found else ""


def footer(page: str) -> str:
    found = re.search(r'<footer class="site-footer">.*?</footer>', page, re.DOTALL)
    return found.group(0) if found else ""


def token_of(page: str) -> str:
    return re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', header(page))[0]


def clinician(**user: str) -> Clinician:
    person = ClinicianFactory.create(status="verified")
    for name, value in user.items():
        setattr(person.user, name, value)
    person.user.save()
    return person


def test_each_viewer_signs_out_with_their_own_token() -> None:
    first, second = signed_in(clinician().user), signed_in(clinician().user)
    first_page = first.get("/helpdesk/").content.decode()
    second_page = second.get("/helpdesk/").content.decode()
    assert token_of(first_page) != token_of(second_page)
    # The other's token is refused, one's own signs out.
    assert second.post("/accounts/logout/", {"csrfmiddlewaretoken": token_of(first_page)}).status_code == 403
    assert second.post("/accounts/logout/", {"csrfmiddlewaretoken": token_of(second_page)}).status_code == 302
    assert second.get("/helpdesk/").status_code == 302  # signed out: asked to sign in


def test_the_header_and_footer_follow_the_viewers_language_role_and_zone() -> None:
    english = signed_in(clinician(time_zone="Europe/Lisbon").user).get("/helpdesk/").content.decode()
    french = signed_in(clinician(language="fr").user).get("/helpdesk/").content.decode()
    staff = signed_in(StaffFactory.create()).get("/privacy/").content.decode()
    again = signed_in(clinician(time_zone="Europe/Lisbon").user).get("/helpdesk/").content.decode()
    assert ">Directory</a>" in header(english) and ">My profile</a>" in header(english)
    assert "Helpdesk admin" not in header(english) and "Sign in" not in header(english)
    assert ">Annuaire</a>" in header(french) and ">Directory</a>" not in header(french)
    assert ">Helpdesk admin</a>" in header(staff) and ">Directory</a>" not in header(staff)
    assert "Europe/Lisbon" in footer(english) and "#preferences" in footer(english)
    assert "Europe/Brussels" in footer(french) and "Europe/Lisbon" not in footer(french)
    assert "#preferences" not in footer(staff)
    assert header(again) == header(english).replace(token_of(english), token_of(again))


def test_visitors_see_the_header_of_visitors() -> None:
    page = Client().get("/privacy/").content.decode()
    assert ">Sign in</a>" in header(page) and ">Register</a>" in header(page)
    assert "Sign out" not in header(page) and "#preferences" not in footer(page)
