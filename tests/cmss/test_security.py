"""Deployment checks, CSP, caching of private pages and error reports."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, RequestFactory

from cmss.security import NoFormValuesExceptionReporterFilter
from tests.conftest import sign_in_staff
from tests.factories import ClinicianFactory, StaffFactory

ROOT = Path(__file__).resolve().parents[2]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


def test_production_settings_pass_the_deployment_checks(tmp_path: Path) -> None:
    dropped = {"DEBUG", "DJANGO_SETTINGS_MODULE", "HTTPS", "DJANGO_ALLOW_ASYNC_UNSAFE"}  # test-only variables
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        DJANGO_SETTINGS_MODULE="cmss.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="cmss.example.eu",
        CMSS_VAR_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/register/", "/accounts/login/", "/privacy/", "/contact/"])
def test_public_pages_have_a_strict_csp_and_no_inline_script(client: Client, path: str) -> None:
    response = client.get(path)
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert INLINE_SCRIPT.search(response.content.decode()) is None
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.django_db
def test_admin_pages_have_no_inline_script_either(client: Client) -> None:
    sign_in_staff(client, StaffFactory.create())
    for path in ["/admin/", "/admin/helpdesk/ticket/"]:
        response = client.get(path)
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert INLINE_SCRIPT.search(response.content.decode()) is None, path


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/profile/", "/helpdesk/", "/helpdesk/new/", "/accounts/email/"])
def test_pages_with_personal_data_are_never_stored_by_caches(client: Client, path: str) -> None:
    client.force_login(ClinicianFactory.create().user)
    response = client.get(path)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_error_reports_name_the_posted_fields_but_never_their_values() -> None:
    request = RequestFactory().post("/register/", {"phone": "+32 2 299 11 11", "last_name": "Novak"})
    cleaned = NoFormValuesExceptionReporterFilter().get_post_parameters(request)
    assert set(cleaned) == {"phone", "last_name"}
    assert "+32 2 299 11 11" not in str(cleaned.values()) and "Novak" not in str(cleaned.values())
