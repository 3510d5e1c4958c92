"""Signing in: rate limits, Redis outages, Argon2, time zone and language."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import PASSWORD, ClinicianFactory, UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def sign_in(client: Client, email: str, password: str = PASSWORD) -> Any:
    return client.post("/accounts/login/", {"login": email, "password": password})


def test_a_clinician_signs_in_with_email_and_password_and_lands_on_the_profile(client: Client) -> None:
    clinician = ClinicianFactory.create()
    response = sign_in(client, clinician.user.email)
    assert response.status_code == 302
    assert response["Location"] == "/profile/"


def test_repeated_failed_sign_ins_are_rate_limited(client: Client) -> None:
    user = UserFactory.create()
    pages = [sign_in(client, user.email, "wrong-password").content.decode() for _ in range(6)]
    assert all("Too many failed login attempts" not in page for page in pages[:5])
    assert "Too many failed login attempts" in pages[5]
    # Even the right password waits until the limit expires.
    response = sign_in(client, user.email)
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()


def test_sign_up_is_rate_limited_per_address_of_origin(client: Client) -> None:
    statuses = [client.post("/register/", {"email": f"x{i}@example.org"}).status_code for i in range(11)]
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 429


def test_with_redis_down_rate_limits_fail_open_and_people_still_sign_in(
    client: Client, settings: Any, caplog: Any
) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "cmss.cache.FailOpenRedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    clinician = ClinicianFactory.create()
    response = sign_in(client, clinician.user.email)
    assert response.status_code == 302
    assert client.get("/profile/").status_code == 200
    assert "Cache (Redis) unavailable" in caplog.text


@pytest.fixture
def fresh_outage(monkeypatch: Any) -> Any:
    from cmss import cache as cmss_cache

    monkeypatch.setattr(cmss_cache, "outage", cmss_cache._Outage())
    return cmss_cache


def test_a_redis_outage_is_one_warning_not_a_traceback_per_cache_call(
    client: Client, settings: Any, caplog: Any, fresh_outage: Any, redis_server: Any
) -> None:
    down = {
        "BACKEND": "cmss.cache.FailOpenRedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
    settings.CACHES = {"default": down}
    clinician = ClinicianFactory.create()
    caplog.set_level(logging.INFO, logger="cmss.cache")
    for _ in range(3):
        assert sign_in(client, clinician.user.email).status_code == 302
        assert client.get("/profile/").status_code == 200
        client.logout()
    records = [record for record in caplog.records if record.name == "cmss.cache"]
    assert [(record.levelname, record.exc_info) for record in records] == [("WARNING", None)]
    assert "unavailable" in records[0].getMessage()

    # Redis is back: the next call after the pause reaches it, and that is said once.
    fresh_outage.outage.retry_at = 0.0
    settings.CACHES = {"default": {**down, "LOCATION": settings.REDIS_URL}}
    from django.core.cache import cache

    cache.set("cmss-test:back", 1)
    assert cache.get("cmss-test:back") == 1
    records = [record for record in caplog.records if record.name == "cmss.cache"]
    assert [record.getMessage() for record in records][1:] == [
        "Cache (Redis) answers again; the outage is over"
    ]


def test_production_settings_hash_passwords_with_argon2_and_refuse_to_start_without_a_secret() -> None:
    env = {key: value for key, value in os.environ.items() if key not in {"DEBUG", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        {"DJANGO_SETTINGS_MODULE": "cmss.settings", "SECRET_KEY": "x" * 50, "CMSS_VAR_DIR": "/tmp/cmss-var"}
    )
    code = (
        "import django; django.setup();"
        "from django.contrib.auth.hashers import make_password;"
        "print(make_password('a passphrase').split('$')[0])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "argon2"

    env.pop("SECRET_KEY")
    env["SECRET_KEY"] = ""
    failed = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert failed.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in failed.stderr


def test_pages_use_the_viewers_time_zone_and_language_and_name_the_zone(client: Client) -> None:
    clinician = ClinicianFactory.create(user__time_zone="Europe/Lisbon", user__language="fr")
    client.force_login(clinician.user)
    response = client.get("/profile/")
    assert response["Content-Language"] == "fr"
    assert "Europe/Lisbon" in response.content.decode()
    created = timezone.localtime(
        clinician.created_at, timezone=__import__("zoneinfo").ZoneInfo("Europe/Lisbon")
    )
    assert created.strftime("%H:%M") in response.content.decode()


def test_visitors_see_brussels_time_and_english(client: Client) -> None:
    response = client.get("/")
    assert response["Content-Language"] == "en"
    assert "Times are shown in the Europe/Brussels time zone." in response.content.decode()


def test_email_url_covers_console_and_smtp_with_tls() -> None:
    from cmss.settings import parse_email_url

    backend = parse_email_url("console://")["EMAIL_BACKEND"]
    assert isinstance(backend, str) and backend.endswith("console.EmailBackend")
    smtp = parse_email_url("smtp+tls://mailer%40example.org:s%3Acret@smtp.example.org:587")
    assert smtp["EMAIL_HOST"] == "smtp.example.org"
    assert smtp["EMAIL_PORT"] == 587
    assert smtp["EMAIL_HOST_USER"] == "mailer@example.org"
    assert smtp["EMAIL_HOST_PASSWORD"] == "s:cret"
    assert smtp["EMAIL_USE_TLS"] is True
    assert parse_email_url("smtp://mailpit:1025")["EMAIL_PORT"] == 1025
