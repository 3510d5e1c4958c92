"""The directory's cached pages of entries and option lists: every change shows at
once, and nothing of one viewer (their token, their reveals, their language) reaches another."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clinicians import services
from clinicians.models import ERN, Clinician, Hospital, Specialty
from tests.clinicians.test_profile import profile_post
from tests.factories import ClinicianFactory, StaffFactory

pytestmark = pytest.mark.django_db


def signed_in(clinician: Clinician) -> Client:
    client = Client()
    client.force_login(clinician.user)
    return client


@pytest.fixture
def viewer() -> Clinician:
    return ClinicianFactory.create(status="verified", first_name="Viewer", last_name="Person")


@pytest.fixture
def agent() -> Any:
    return StaffFactory.create(role="agents")


def results(page: str) -> str:
    """The page's results: its one reveal form, around the (cached) list of entries."""
    found = re.search(r'<form method="post" class="directory-reveal">.*?</form>', page, re.DOTALL)
    return found.group(0) if found else ""


def entries_of(client: Client, **params: Any) -> str:
    return results(client.get("/directory/", params).content.decode())


def names(client: Client, **params: Any) -> list[str]:
    """The names the page shows, read from its HTML (a cached page has no entry objects to read)."""
    page = client.get("/directory/", params).content.decode()
    return re.findall(r"<h3>([^<]*)</h3>", page)


def test_a_newly_verified_clinician_appears_at_once(viewer: Clinician, agent: Any) -> None:
    waiting = ClinicianFactory.create(status="registered", first_name="Marta", last_name="Rossi")
    client = signed_in(viewer)
    assert names(client, q="rossi") == []
    assert "Marta Rossi" not in names(client)
    services.change_status(clinician=waiting, to="verified", by=agent)
    assert names(client, q="rossi") == ["Marta Rossi"]
    assert "Marta Rossi" in names(client)


def test_a_clinician_who_leaves_the_directory_disappears_at_once(viewer: Clinician, agent: Any) -> None:
    hiding = ClinicianFactory.create(status="verified", first_name="Marta", last_name="Rossi")
    restricted = ClinicianFactory.create(status="verified", first_name="Jan", last_name="Rossi")
    suspended = ClinicianFactory.create(status="verified", first_name="Eva", last_name="Rossi")
    client = signed_in(viewer)
    assert names(client, q="rossi") == ["Eva Rossi", "Jan Rossi", "Marta Rossi"]

    # Their own choice on /profile/ (a save), a restriction (an update()), a suspension.
    response = signed_in(hiding).post("/profile/", profile_post(hiding, listed_in_directory=None))
    assert response.status_code == 302
    assert names(client, q="rossi") == ["Eva Rossi", "Jan Rossi"]
    services.set_restriction(clinician=restricted, restricted=True, by=agent)
    assert names(client, q="rossi") == ["Eva Rossi"]
    services.change_status(clinician=suspended, to="suspended", by=agent)
    assert names(client, q="rossi") == []


def test_an_edited_name_is_found_by_the_new_name_at_once(viewer: Clinician, agent: Any) -> None:
    clinician = ClinicianFactory.create(status="verified", first_name="Maria", last_name="Szmitt")
    client = signed_in(viewer)
    assert names(client, q="szmitt") == ["Maria Szmitt"]
    assert names(client, q="schmitt") == []
    services.correct_profile(clinician=clinician, data={"last_name": "Schmitt"}, by=agent)
    assert names(client, q="schmitt") == ["Maria Schmitt"]
    assert names(client, q="szmitt") == []


def test_a_new_membership_a_renamed_hospital_and_a_merge_show_at_once(viewer: Clinician, agent: Any) -> None:
    clinician = ClinicianFactory.create(status="verified", first_name="Marta", last_name="Rossi")
    client = signed_in(viewer)
    page = entries_of(client, q="rossi")
    assert "Marta Rossi" in page and "ERN EYE" not in page and "Clinique Nouvelle" not in page
    clinician.erns.add(ERN.objects.get(name="ERN EYE"))
    assert "ERN EYE" in entries_of(client, q="rossi")
    hospital = clinician.hospital
    services.change_hospital(
        hospital=hospital,
        name="Clinique Nouvelle",
        city="Liège",
        country=hospital.country,
        is_reference_centre=False,
        by=agent,
    )
    assert "Clinique Nouvelle, Liège" in entries_of(client, q="rossi")

    # A proposed hospital merged into a listed one moves its clinicians with update().
    proposed = Hospital.objects.create(name="Duplicate", city="Gent", country="BE", approved=False)
    ClinicianFactory.create(status="verified", first_name="Jan", last_name="Rossi", hospital=proposed)
    assert "Duplicate, Gent" in entries_of(client, q="jan rossi")
    services.merge_hospital(hospital=proposed, into=hospital, by=agent)
    page = entries_of(client, q="jan rossi")
    assert "Jan Rossi" in page and "Duplicate" not in page and "Clinique Nouvelle, Liège" in page


def test_a_newly_approved_hospital_is_offered_as_a_filter_at_once(viewer: Clinician, agent: Any) -> None:
    client = signed_in(viewer)
    assert "Hôpital Proposé" not in client.get("/directory/").content.decode()
    proposed = services.propose_hospital(name="Hôpital Proposé", city="Namur", country="BE", by=viewer.user)
    assert "Hôpital Proposé" not in client.get("/directory/").content.decode()
    services.approve_hospital(hospital=proposed, by=agent)
    assert ">Hôpital Proposé, Namur</option>" in client.get("/directory/").content.decode()


def test_viewers_never_see_each_others_token_or_reveals(viewer: Clinician) -> None:
    other = ClinicianFactory.create(status="verified", first_name="Other", last_name="Viewer")
    shared = ClinicianFactory.create(
        status="verified", first_name="Marta", last_name="Rossi", show_email=True, show_phone=True
    )
    first, second = signed_in(viewer), signed_in(other)
    first_page = first.get("/directory/", {"q": "rossi"}).content.decode()
    revealed = first.post(f"/directory/{shared.pk}/contact/", {"back": "/directory/?q=rossi"})
    assert shared.user.email in revealed.content.decode()

    second_page = second.get("/directory/", {"q": "rossi", "x": "1"}).content.decode()  # the same cached page
    for page in (first_page, second_page):
        form = results(page)
        # One form for the page, with one token; the cached list of entries has none.
        assert len(re.findall(r'name="csrfmiddlewaretoken"', form)) == 1
        assert "csrfmiddlewaretoken" not in form[form.index("<ol") :]
        assert form.count(f'formaction="/directory/{shared.pk}/contact/"') == 1
        assert shared.user.email not in page and shared.phone.as_international not in page
    tokens = [
        re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', results(page))
        for page in (first_page, second_page)
    ]
    assert tokens[0] != tokens[1]
    assert re.findall(r'name="back" value="([^"]+)"', second_page) == ["/directory/?q=rossi&amp;x=1"]
    assert viewer.user.email not in second_page and other.user.email not in first_page
    # Each token is its own session's: the second viewer's reveal works with the token on their page.
    token = tokens[1][0]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(other.user)
    strict.cookies = second.cookies
    url = f"/directory/{shared.pk}/contact/"
    assert strict.post(url, {"csrfmiddlewaretoken": tokens[0][0]}).status_code == 403  # the first viewer's
    assert strict.post(url, {"csrfmiddlewaretoken": token}).status_code == 200


def test_each_language_has_its_own_page_of_entries(viewer: Clinician) -> None:
    ClinicianFactory.create(
        status="verified", first_name="Marta", last_name="Rossi", country="BE", show_email=True
    )
    french = ClinicianFactory.create(status="verified", first_name="Jean", last_name="Français")
    french.user.language = "fr"
    french.user.save()
    english_page = signed_in(viewer).get("/directory/", {"q": "rossi"}).content.decode()
    french_page = signed_in(french).get("/directory/", {"q": "rossi"}).content.decode()
    again = signed_in(viewer).get("/directory/", {"q": "rossi"}).content.decode()
    assert "Belgium" in english_page and "Speaks" in english_page and "Physician" in english_page
    assert "Belgique" in french_page and "Parle" in french_page and "Belgium" not in french_page
    assert "Afficher les coordonnées de Marta Rossi" in french_page
    assert "Show contact details of Marta Rossi" in english_page
    assert "Belgium" in again and "Belgique" not in again


def search_form(page: str) -> str:
    """The page's search form (cached per query and language)."""
    found = re.search(r'<form method="get" class="directory-search".*?</form>', page, re.DOTALL)
    return found.group(0) if found else ""


def test_the_search_form_shows_each_query_its_own_values_and_errors(viewer: Clinician) -> None:
    client = signed_in(viewer)
    hospital = Hospital.objects.filter(approved=True).first()
    assert hospital is not None
    plain = search_form(client.get("/directory/").content.decode())
    chosen = search_form(
        client.get("/directory/", {"q": "rossi", "hospital": str(hospital.pk)}).content.decode()
    )
    wrong = search_form(client.get("/directory/", {"q": "rossi", "hospital": "999999"}).content.decode())
    assert 'value="rossi"' not in plain and 'more-filters" open' not in plain and "Clear" not in plain
    assert 'value="rossi"' in chosen and f'value="{hospital.pk}" selected' in chosen and "Clear" in chosen
    assert "Select a valid choice" not in chosen
    assert "Select a valid choice" in wrong and f'value="{hospital.pk}" selected' not in wrong
    # Asked again: the same forms, not the last one built.
    assert search_form(client.get("/directory/").content.decode()) == plain
    assert 'value="rossi"' in search_form(
        client.get("/directory/", {"q": "rossi", "hospital": str(hospital.pk)}).content.decode()
    )


def test_a_renamed_specialty_shows_in_the_search_form_at_once(viewer: Clinician, agent: Any) -> None:
    client = signed_in(viewer)
    specialty = Specialty.objects.order_by("pk").first()
    assert specialty is not None
    assert f">{specialty.name}</option>" in search_form(client.get("/directory/").content.decode())
    # As an agent does in the admin: a save of the row.
    specialty.name = "Infectiologie renommée"
    specialty.save()
    form = search_form(client.get("/directory/", {"specialty": specialty.pk}).content.decode())
    assert f'<option value="{specialty.pk}" selected>Infectiologie renommée</option>' in form
    assert ">Infectiologie renommée</option>" in search_form(client.get("/directory/").content.decode())


def test_each_language_has_its_own_search_form(viewer: Clinician) -> None:
    french = ClinicianFactory.create(status="verified", first_name="Jean", last_name="Français")
    french.user.language = "fr"
    french.user.save()
    english = search_form(signed_in(viewer).get("/directory/", {"country": "BE"}).content.decode())
    in_french = search_form(signed_in(french).get("/directory/", {"country": "BE"}).content.decode())
    assert ">Belgium</option>" in english and "Belgique" not in english
    assert ">Belgique</option>" in in_french and ">Belgium</option>" not in in_french


def test_filters_are_checked_against_the_cached_lists_without_a_query(viewer: Clinician) -> None:
    client = signed_in(viewer)
    hospital = Hospital.objects.filter(approved=True).first()
    ern = ERN.objects.first()
    assert hospital is not None and ern is not None
    everything = {
        "hospital": str(hospital.pk),
        "ern": str(ern.pk),
        "language": "fr",
        "specialty": str(viewer.specialty_id),
    }
    params: dict[str, str]
    for params in ({}, everything):
        client.get("/directory/", params)  # its page of entries and its form cached
    with CaptureQueriesContext(connection) as plain:
        client.get("/directory/")
    with CaptureQueriesContext(connection) as filtered:
        response = client.get("/directory/", everything)
    assert response.status_code == 200 and "Select a valid choice" not in response.content.decode()
    # No query per filter (a ModelChoiceField looks each value up).
    assert len(filtered) == len(plain), [query["sql"] for query in filtered]
