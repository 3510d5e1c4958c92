"""Behind the proxy, every client is itself: the address comes from
X-Forwarded-For through the configured number of trusted proxies, and
allauth's limits, the user sessions and the audit log all use it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory, override_settings

from cmss.clientip import client_ip
from cmss.models import AuditEvent
from tests.clinicians.test_registration import registration_data
from tests.factories import PASSWORD, ClinicianFactory

PROXY = "10.0.0.5"


def address(remote: str = PROXY, forwarded: str | None = None) -> str | None:
    headers: dict[str, Any] = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_ip(RequestFactory().get("/", REMOTE_ADDR=remote, **headers))


@override_settings(TRUSTED_PROXY_COUNT=0)
def test_without_a_trusted_proxy_the_peer_is_the_client_and_forwarded_for_is_ignored() -> None:
    assert address("198.51.100.7", forwarded="203.0.113.9") == "198.51.100.7"


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_one_proxy_the_address_it_appended_is_the_client() -> None:
    assert address(forwarded="198.51.100.7") == "198.51.100.7"
    # A client that sends its own header cannot choose its address: the proxy appends the real one.
    assert address(forwarded="1.2.3.4, 198.51.100.7") == "198.51.100.7"
    assert address(forwarded="2001:db8::7") == "2001:db8::7"
    assert address(forwarded="[2001:db8::7]:443") == "2001:db8::7"
    assert address(forwarded="198.51.100.7:51234") == "198.51.100.7"


@override_settings(TRUSTED_PROXY_COUNT=2)
def test_two_proxies_the_outer_ones_entry_counts() -> None:
    assert address(forwarded="1.2.3.4, 198.51.100.7, 10.0.0.9") == "198.51.100.7"
    # Reached the inner proxy directly: the only entry is the inner proxy's own.
    assert address(forwarded="198.51.100.7") == "198.51.100.7"


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_no_or_garbled_forwarded_for_falls_back_to_the_peer() -> None:
    assert address("192.0.2.1") == "192.0.2.1"
    assert address("192.0.2.1", forwarded="") == "192.0.2.1"
    assert address("192.0.2.1", forwarded="not-an-address") == "192.0.2.1"


def through_proxy(client_address: str) -> Client:
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=client_address)


@pytest.mark.django_db
@override_settings(TRUSTED_PROXY_COUNT=1)
def test_sign_ups_are_limited_per_client_not_for_the_whole_site() -> None:
    # allauth allows 10 sign-ups an hour from one client: ten people at ten
    # hospitals behind the same proxy all get through, and the audit log says
    # where each came from.
    for number in range(12):
        response = through_proxy(f"198.51.100.{number + 1}").post(
            "/register/", registration_data(email=f"person{number}@hospital.example.org")
        )
        assert response.status_code == 302, (number, response.status_code)
    addresses = set(
        AuditEvent.objects.filter(action="clinician.registered").values_list("ip_address", flat=True)
    )
    assert addresses == {f"198.51.100.{number + 1}" for number in range(12)}

    one_client = through_proxy("203.0.113.9")
    statuses = [
        one_client.post("/register/", registration_data(email=f"again{n}@hospital.example.org")).status_code
        for n in range(11)
    ]
    assert statuses[:10] == [302] * 10 and statuses[10] == 429


@pytest.mark.django_db
@override_settings(TRUSTED_PROXY_COUNT=1)
def test_failed_sign_ins_from_one_client_do_not_lock_out_another() -> None:
    person = ClinicianFactory.create(status="verified")
    attacker = through_proxy("203.0.113.66")
    for _ in range(12):
        attacker.post("/accounts/login/", {"login": f"someone{_}@example.org", "password": "wrong-password"})
    refused = attacker.post("/accounts/login/", {"login": person.user.email, "password": PASSWORD})
    assert "Too many failed login attempts" in refused.content.decode()

    colleague = through_proxy("198.51.100.20")
    response = colleague.post("/accounts/login/", {"login": person.user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert colleague.session.get("_auth_user_id") == str(person.user.pk)
