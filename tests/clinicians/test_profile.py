"""The clinician keeps the profile and preferences up to date on /profile/."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clinicians.forms import ProfileForm
from clinicians.models import ERN, Clinician, Hospital
from cmss.models import AuditEvent
from tests.factories import ClinicianFactory, CoordinatorFactory

pytestmark = pytest.mark.django_db


def profile_post(clinician: Clinician, **changes: Any) -> dict[str, Any]:
    initial = ProfileForm.initial_for(clinician)
    data: dict[str, Any] = {}
    for key, value in initial.items():
        if key in {"languages", "erns"}:
            data[key] = [getattr(item, "pk", item) for item in value]
        elif isinstance(value, bool):
            if value:
                data[key] = "on"
        elif value is None:
            data[key] = ""
        else:
            data[key] = value
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_the_profile_shows_the_status_and_the_current_details(client: Client) -> None:
    clinician = ClinicianFactory.create(first_name="Marta", status="registered")
    client.force_login(clinician.user)
    response = client.get("/profile/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Registered — the helpdesk will contact you" in page
    assert 'value="Marta"' in page
    assert clinician.user.email in page
    assert response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize(
    ("status", "text"),
    [
        ("verified", "Verified — you can use the directory"),
        ("suspended", "Suspended — the helpdesk has suspended"),
        ("rejected", "Not verified — the helpdesk could not verify"),
    ],
)
def test_each_status_is_explained(client: Client, status: str, text: str) -> None:
    clinician = ClinicianFactory.create(status=status)
    client.force_login(clinician.user)
    assert text in client.get("/profile/").content.decode()


def test_a_coordinator_is_told_which_hospital_they_coordinate_for(client: Client) -> None:
    clinician = CoordinatorFactory.create(hospital__name="Rigshospitalet Test")
    client.force_login(clinician.user)
    assert (
        "You coordinate case-discussion conferences for Rigshospitalet Test."
        in client.get("/profile/").content.decode()
    )


def test_saving_the_profile_updates_details_and_preferences(client: Client) -> None:
    clinician = ClinicianFactory.create()
    client.force_login(clinician.user)
    response = client.post(
        "/profile/",
        profile_post(
            clinician,
            last_name="Novak-Horváth",
            phone="+33 1 45 55 01 02",
            show_phone="on",
            time_zone="Europe/Paris",
            language="de",
            languages=["en", "de"],
        ),
    )
    assert response.status_code == 302
    clinician.refresh_from_db()
    clinician.user.refresh_from_db()
    assert clinician.last_name == "Novak-Horváth"
    assert clinician.phone.as_e164 == "+33145550102"
    assert clinician.show_phone is True
    assert set(clinician.languages.values_list("code", flat=True)) == {"en", "de"}
    assert (clinician.user.time_zone, clinician.user.language) == ("Europe/Paris", "de")
    assert AuditEvent.objects.filter(
        action="clinician.profile_changed", subject_user_id=clinician.user.pk
    ).exists()
    page = client.get("/profile/")
    assert page["Content-Language"] == "de"


def test_bad_input_is_reported_next_to_the_field_and_nothing_saved_is_lost(client: Client) -> None:
    clinician = ClinicianFactory.create(first_name="Marta")
    client.force_login(clinician.user)
    response = client.post("/profile/", profile_post(clinician, first_name="Maria", phone="12"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="id_phone_error"' in page
    assert 'value="Maria"' in page  # what was typed stays in the form
    clinician.refresh_from_db()
    assert clinician.first_name == "Marta"


def test_moving_to_another_hospital_suspends_coordinator_rights_until_the_helpdesk_confirms(
    client: Client,
) -> None:
    clinician = CoordinatorFactory.create()
    assert clinician.is_coordinator
    other = Hospital.objects.get(name="UZ Leuven")
    client.force_login(clinician.user)
    client.post("/profile/", profile_post(clinician, hospital=str(other.pk)))
    clinician.refresh_from_db()
    assert clinician.hospital == other
    assert clinician.is_verified
    assert not clinician.is_coordinator
    assert "The helpdesk has to confirm your new hospital" in client.get("/profile/").content.decode()


def test_staff_have_no_clinician_profile_and_are_sent_to_the_admin(client: Client, agent: Any) -> None:
    client.force_login(agent)
    response = client.get("/profile/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_visitors_are_asked_to_sign_in(client: Client) -> None:
    response = client.get("/profile/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/profile/")


def test_the_landing_page_explains_the_cmss_and_leads_to_register_or_sign_in(client: Client) -> None:
    page = client.get("/").content.decode()
    assert "COVID-19 Clinical Management Support System" in page
    assert "DG SANTE" in page
    assert 'href="/register/"' in page
    assert 'href="/accounts/login/"' in page
    assert 'class="skip-link" href="#main"' in page
    assert '<main id="main"' in page


def test_the_privacy_statement_has_the_content_the_regulation_requires(client: Client) -> None:
    page = client.get("/privacy/").content.decode()
    for heading in [
        "Who is responsible (the controller)",
        "The data protection officer",
        "Legal basis",
        "Who receives your data",
        "How long we keep your data",
        "Your rights",
        "Your right to complain",
    ]:
        assert f"<h2>{heading}</h2>" in page
    assert "Regulation (EU) 2018/1725" in page
    assert "European Data Protection Supervisor" in page
    assert "Version 1" in page


def test_saving_the_profile_again_does_not_propose_the_hospital_again(client: Client) -> None:
    from helpdesk.models import Ticket

    clinician = ClinicianFactory.create(status="verified")
    client.force_login(clinician.user)
    data = profile_post(
        clinician, hospital="", hospital_not_listed="on", new_hospital_name="New H", new_hospital_city="Ghent"
    )
    client.post("/profile/", data)
    clinician.refresh_from_db()
    client.post("/profile/", profile_post(clinician))
    client.post("/profile/", profile_post(clinician))
    assert Hospital.objects.filter(name="New H").count() == 1
    assert Ticket.objects.filter(kind="hospital_proposal").count() == 1


def ticked(page: str, name: str) -> set[str]:
    return set(re.findall(rf'name="{name}" value="([^"]+)" id="[^"]+" checked', page))


def test_the_profile_ticks_the_saved_erns_and_languages_in_two_queries(client: Client) -> None:
    clinician = ClinicianFactory.create()
    client.force_login(clinician.user)
    lung, eye = ERN.objects.order_by("pk")[:2]
    response = client.post("/profile/", profile_post(clinician, languages=["fr", "de"], erns=[lung.pk]))
    assert response.status_code == 302
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/profile/").content.decode()
    assert ticked(page, "languages") == {"fr", "de"} and ticked(page, "erns") == {str(lung.pk)}
    # The session's user and the clinician with their hospital: ERNs and languages are read from the row.
    selects = [query["sql"] for query in queries if query["sql"].startswith("SELECT")]
    assert len(selects) == 2, selects
    # A membership added from the other side (the admin's ERN form) shows at once too.
    eye.members.add(clinician)
    assert ticked(client.get("/profile/").content.decode(), "erns") == {str(lung.pk), str(eye.pk)}
