"""A new privacy statement version asks signed-in clinicians to accept it before they go on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from clinicians.models import PrivacyAcceptance, PrivacyStatement
from tests.conftest import sign_in_staff
from tests.factories import ClinicianFactory, StaffFactory

pytestmark = pytest.mark.django_db


def publish_version_2() -> PrivacyStatement:
    statement = PrivacyStatement.objects.create(
        version=2,
        title="Privacy statement",
        body="## New recipients\nA new video provider.",
        published_at=timezone.now() - timedelta(minutes=1),
    )
    cache.clear()  # the current version is cached for a minute
    return statement


def test_a_new_version_must_be_accepted_before_going_on(client: Client) -> None:
    clinician = ClinicianFactory.create(status="verified")
    client.force_login(clinician.user)
    assert client.get("/directory/").status_code == 200
    publish_version_2()

    response = client.get("/directory/?q=x")
    assert response.status_code == 302
    assert response["Location"] == "/privacy/accept/?next=%2Fdirectory%2F%3Fq%3Dx"
    page = client.get(response["Location"]).content.decode()
    assert "We have updated our privacy statement" in page and "version 2" in page
    # Reading the statement, downloading one's data or leaving stay possible.
    assert client.get("/privacy/").status_code == 200
    assert client.get("/profile/data/").status_code == 200

    refused = client.post("/privacy/accept/", {"next": "/directory/?q=x"})
    assert "Tick this box to accept the privacy statement" in refused.content.decode()
    accepted = client.post("/privacy/accept/", {"next": "/directory/?q=x", "accept": "on"})
    assert accepted["Location"] == "/directory/?q=x"
    assert PrivacyAcceptance.objects.filter(user=clinician.user, statement__version=2).exists()
    assert client.get("/directory/").status_code == 200


def test_the_next_address_must_be_on_this_site(client: Client) -> None:
    clinician = ClinicianFactory.create()
    client.force_login(clinician.user)
    publish_version_2()
    response = client.post("/privacy/accept/", {"next": "https://evil.example.com/", "accept": "on"})
    assert response["Location"] == "/profile/"


def test_staff_are_not_asked(client: Client) -> None:
    publish_version_2()
    sign_in_staff(client, StaffFactory.create())
    assert client.get("/admin/").status_code == 200


def test_registration_records_the_version_accepted() -> None:
    clinician = ClinicianFactory.create()
    assert list(
        PrivacyAcceptance.objects.filter(user=clinician.user).values_list("statement__version", flat=True)
    ) == [1]
