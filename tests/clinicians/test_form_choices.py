"""The forms' option lists of reference data are cached per language, and
follow the data at once (clinicians/choices.py, topic "reference")."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clinicians import services
from clinicians.models import Hospital, PrivacyStatement, Specialty
from tests.factories import ClinicianFactory, CoordinatorFactory, HospitalFactory

pytestmark = pytest.mark.django_db


def register_page(client: Client) -> str:
    response = client.get("/register/")
    assert response.status_code == 200
    return response.content.decode()


def sql_of(client: Client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return [query["sql"] for query in queries.captured_queries]


def queries_of(client: Client, url: str) -> int:
    return len(sql_of(client, url))


def reads_reference_tables(sql: list[str]) -> bool:
    tables = ("clinicians_hospital", "clinicians_specialty", "clinicians_language", "clinicians_ern")
    return any(table in query for query in sql for table in tables)


def test_a_hospital_the_helpdesk_approves_is_offered_on_register_at_once(
    client: Client, supervisor: Any
) -> None:
    proposed = services.propose_hospital(name="Hôpital Nouveau", city="Namur", country="BE", by=supervisor)
    assert "Hôpital Nouveau" not in register_page(client)  # proposed: not listed, and now cached
    services.approve_hospital(hospital=proposed, by=supervisor)
    assert f'<option value="{proposed.pk}">Hôpital Nouveau, Namur</option>' in register_page(client)


def test_a_hospital_a_supervisor_adds_or_renames_in_the_admin_shows_at_once(
    supervisor_client: Client,
) -> None:
    visitor = Client()
    assert "Clinique du Parc" not in register_page(visitor)
    response = supervisor_client.post(
        "/admin/clinicians/hospital/add/",
        {"name": "Clinique du Parc", "city": "Lyon", "country": "FR", "is_reference_centre": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    hospital = Hospital.objects.get(name="Clinique du Parc")
    assert f'<option value="{hospital.pk}">Clinique du Parc, Lyon</option>' in register_page(visitor)

    response = supervisor_client.post(
        f"/admin/clinicians/hospital/{hospital.pk}/change/",
        {"name": "Clinique du Lac", "city": "Lyon", "country": "FR", "is_reference_centre": ""},
    )
    assert response.status_code == 302
    page = register_page(visitor)
    assert "Clinique du Parc" not in page
    assert f'<option value="{hospital.pk}">Clinique du Lac, Lyon</option>' in page


def test_a_specialty_added_or_withdrawn_in_the_admin_shows_at_once(supervisor_client: Client) -> None:
    visitor = Client()
    register_page(visitor)
    response = supervisor_client.post(
        "/admin/clinicians/specialty/add/", {"name": "Expedition medicine", "kind": "medical", "active": "on"}
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    specialty = Specialty.objects.get(name="Expedition medicine")
    assert f'<option value="{specialty.pk}">Expedition medicine</option>' in register_page(visitor)

    response = supervisor_client.post(
        f"/admin/clinicians/specialty/{specialty.pk}/change/",
        {"name": "Expedition medicine", "kind": "medical"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert "Expedition medicine" not in register_page(visitor)  # no longer offered at registration


def test_a_hospital_proposed_at_registration_leaves_the_cached_lists_alone(
    client: Client, supervisor: Any
) -> None:
    register_page(client)
    assert not reads_reference_tables(sql_of(client, "/register/"))  # the lists come from the cache
    services.propose_hospital(name="Clinic Elsewhere", city="Gent", country="BE", by=supervisor)
    assert not reads_reference_tables(sql_of(client, "/register/"))


def test_each_viewer_gets_the_countries_in_their_own_language() -> None:
    french = ClinicianFactory.create(user__language="fr")
    english = ClinicianFactory.create(user__language="en")
    german = ClinicianFactory.create(user__language="de")
    pages = {}
    for person in (french, english, german, french, english):
        client = Client()
        client.force_login(person.user)
        pages[person.user.language] = client.get("/profile/").content.decode()
    assert '<option value="DE">Allemagne</option>' in pages["fr"]
    assert '<option value="DE">Germany</option>' in pages["en"]
    assert '<option value="DE">Deutschland</option>' in pages["de"]
    assert "Germany" not in pages["fr"] and "Allemagne" not in pages["en"]
    # Each viewer's own choices are ticked and selected, from the same cached lists.
    for person, page in ((french, pages["fr"]), (english, pages["en"])):
        assert f'<option value="{person.specialty_id}" selected>' in page
        assert f'<option value="{person.hospital_id}" selected>' in page
        ticked = set(re.findall(r'name="languages" value="(\w+)" id="id_languages_\d+" checked>', page))
        assert ticked == set(person.languages.values_list("code", flat=True))


def test_two_clinicians_never_see_each_others_selection(client: Client) -> None:
    one = ClinicianFactory.create(hospital=HospitalFactory.create(name="Alpha General"))
    other = ClinicianFactory.create(hospital=HospitalFactory.create(name="Beta General"))
    client.force_login(one.user)
    first = client.get("/profile/").content.decode()
    client.force_login(other.user)
    second = client.get("/profile/").content.decode()
    assert f'<option value="{one.hospital_id}" selected>' in first
    assert f'<option value="{other.hospital_id}" selected>' not in first
    assert f'<option value="{other.hospital_id}" selected>' in second
    assert f'<option value="{one.hospital_id}" selected>' not in second


def test_the_registration_form_keeps_its_query_count_as_the_hospital_list_grows(client: Client) -> None:
    HospitalFactory.create_batch(2)
    register_page(client)
    few = queries_of(client, "/register/")
    HospitalFactory.create_batch(48)
    assert reads_reference_tables(sql_of(client, "/register/"))  # the lists are built again, once
    assert queries_of(client, "/register/") == few
    assert not reads_reference_tables(sql_of(client, "/register/"))


def test_the_profile_keeps_its_query_count_as_the_hospital_list_grows(client: Client) -> None:
    clinician = ClinicianFactory.create()
    client.force_login(clinician.user)
    HospitalFactory.create_batch(2)
    client.get("/profile/")
    few = queries_of(client, "/profile/")
    HospitalFactory.create_batch(48)
    client.get("/profile/")
    assert queries_of(client, "/profile/") == few


@pytest.mark.parametrize("url", ["/conferences/request/", "/webinars/request/"])
def test_the_request_forms_keep_their_query_count_as_the_network_grows(client: Client, url: str) -> None:
    coordinator = CoordinatorFactory.create()
    client.force_login(coordinator.user)
    HospitalFactory.create_batch(2)
    client.get(url)
    few = queries_of(client, url)
    for _ in range(20):
        ClinicianFactory.create(status="verified")
    client.get(url)
    assert queries_of(client, url) == few


def test_a_choice_the_list_no_longer_holds_is_refused_on_post(client: Client, supervisor: Any) -> None:
    """The widgets show cached lists, but the fields check what is sent against the database."""
    hospital = HospitalFactory.create(name="Gone Hospital")
    register_page(client)
    Hospital.objects.filter(pk=hospital.pk).update(approved=False)  # behind the signals' back
    response = client.post("/register/", {"hospital": str(hospital.pk), "country": "BE"})
    assert response.status_code == 200
    assert '<ul class="errors" id="id_hospital_error"><li>Select a valid choice.' in response.content.decode()


def test_a_published_privacy_statement_is_the_version_registration_asks_for_at_once(
    client: Client, supervisor: Any, django_capture_on_commit_callbacks: Any
) -> None:
    assert 'name="privacy_version" value="1"' in register_page(client)  # now cached
    draft = services.save_privacy_statement(
        statement=PrivacyStatement(version=2, title="Privacy statement", body="New recipients."),
        by=supervisor,
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.publish_privacy_statement(statement=draft, by=supervisor)
    assert 'name="privacy_version" value="2"' in register_page(client)
