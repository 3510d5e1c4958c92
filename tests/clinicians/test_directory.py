"""The directory of verified clinicians: search, filters, paging, contact reveals, export."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clinicians.models import ERN, Clinician, Hospital, Language, Specialty
from cmss import fragments
from cmss.models import AuditEvent
from tests.conftest import sign_in_staff
from tests.factories import ClinicianFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(client: Client) -> Client:
    client.force_login(
        ClinicianFactory.create(status="verified", first_name="Viewer", last_name="Person").user
    )
    return client


def names(response: Any) -> list[str]:
    return [entry.full_name for entry in response.context["entries"]]


def test_verified_clinicians_see_the_directory_and_others_are_told_why_not(client: Client) -> None:
    ClinicianFactory.create(status="verified", first_name="Marta", last_name="Rossi")
    registered = ClinicianFactory.create(status="registered")
    client.force_login(registered.user)
    closed = client.get("/directory/")
    assert closed.status_code == 403
    assert "The directory opens once the helpdesk has verified your registration." in closed.content.decode()
    client.force_login(ClinicianFactory.create(status="verified").user)
    page = client.get("/directory/")
    assert page.status_code == 200
    assert "Marta Rossi" in page.content.decode()


def test_only_verified_listed_unrestricted_clinicians_appear(viewer_client: Client) -> None:
    ClinicianFactory.create(status="verified", last_name="Shown")
    ClinicianFactory.create(status="registered", last_name="Waiting")
    ClinicianFactory.create(status="suspended", last_name="Suspended")
    ClinicianFactory.create(status="rejected", last_name="Rejected")
    ClinicianFactory.create(status="verified", restricted=True, last_name="Restricted")
    ClinicianFactory.create(status="verified", listed_in_directory=False, last_name="Unlisted")
    page = viewer_client.get("/directory/")
    assert {name.split()[-1] for name in names(page)} == {"Shown", "Person"}


@pytest.mark.parametrize(
    ("query", "found"),
    [("zsof horv", True), ("HORVÁTH", True), ("horvath zsofia", True), ("ofi", True), ("horvat zz", False)],
)
def test_name_search_ignores_accents_and_case_and_matches_parts(
    viewer_client: Client, query: str, found: bool
) -> None:
    ClinicianFactory.create(status="verified", first_name="Zsófia", last_name="Horváth")
    ClinicianFactory.create(status="verified", first_name="Jan", last_name="Novak")
    page = viewer_client.get("/directory/", {"q": query})
    assert ("Zsófia Horváth" in names(page)) is found
    assert "Jan Novak" not in names(page)


def test_each_filter_narrows_the_directory(viewer_client: Client) -> None:
    lung = ERN.objects.get(name="ERN LUNG")
    charite = Hospital.objects.get(name="Charité – Universitätsmedizin Berlin")
    infectious = Specialty.objects.get(name="Infectious diseases")
    target = ClinicianFactory.create(
        status="verified",
        last_name="Target",
        country="DE",
        hospital=charite,
        specialty=infectious,
        profession="nurse",
        languages=[Language.objects.get(code="de")],
    )
    target.erns.add(lung)
    ClinicianFactory.create(status="verified", last_name="Other")
    filters: list[dict[str, str | int]] = [
        {"country": "DE"},
        {"hospital": charite.pk},
        {"specialty": infectious.pk},
        {"profession": "nurse"},
        {"ern": lung.pk},
        {"language": "de"},
    ]
    for params in filters:
        assert names(viewer_client.get("/directory/", params)) == [target.full_name], params


def test_an_invalid_filter_is_reported_and_ignored(viewer_client: Client) -> None:
    ClinicianFactory.create(status="verified", last_name="Someone")
    page = viewer_client.get("/directory/", {"country": "US", "specialty": "999999"})
    assert page.status_code == 200
    assert len(names(page)) == 2
    assert 'id="id_country_error"' in page.content.decode()


def test_entries_show_what_the_directory_promises(viewer_client: Client) -> None:
    clinician = ClinicianFactory.create(
        status="verified", first_name="Marta", last_name="Rossi", profession="physician"
    )
    clinician.erns.add(ERN.objects.get(name="ERN EYE"))
    page = viewer_client.get("/directory/", {"q": "rossi"}).content.decode()
    for text in [
        "Marta Rossi",
        "Physician",
        "Intensive care medicine",
        clinician.hospital.name,
        "Belgium",
        "ERN EYE",
        "English",
        "French",
    ]:
        assert text in page
    assert clinician.user.email not in page  # contact details only on request
    assert str(clinician.phone.as_international) not in page


def test_the_directory_pages_by_25_without_counting_everything(viewer_client: Client) -> None:
    ClinicianFactory.create_batch(30, status="verified")
    with CaptureQueriesContext(connection) as queries:
        first = viewer_client.get("/directory/")
    assert len(names(first)) == 25
    assert first.context["has_next"] and not first.context["has_previous"]
    assert not any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)
    second = viewer_client.get("/directory/", {"page": 2})
    assert len(names(second)) == 6  # 30 plus the viewer
    assert second.context["has_previous"] and not second.context["has_next"]
    assert set(names(first)).isdisjoint(names(second))


def test_the_directory_keeps_the_same_number_of_queries_at_2_and_50_entries(viewer_client: Client) -> None:
    def add(count: int) -> None:
        ern = ERN.objects.first()
        assert ern is not None
        for clinician in ClinicianFactory.create_batch(count, status="verified"):
            clinician.erns.add(ern)

    def built_afresh() -> list[str]:
        # Everything cached is built again: the page of entries and the filters' option lists.
        fragments.bump("directory")
        fragments.bump("reference")
        with CaptureQueriesContext(connection) as queries:
            viewer_client.get("/directory/")
        return [query["sql"] for query in queries.captured_queries]

    add(2)
    viewer_client.get("/directory/")
    small = built_afresh()
    add(48)
    large = built_afresh()
    assert len(large) == len(small), large
    with CaptureQueriesContext(connection) as cached:
        viewer_client.get("/directory/")
    # Only the viewer's own row is read: the page of entries and the option lists come from the cache.
    read = [query["sql"] for query in cached.captured_queries if "clinicians_" in query["sql"]]
    assert len(read) == 1 and '"clinicians_clinician"."user_id" =' in read[0], read


def test_showing_contact_details_reveals_only_what_was_shared_and_is_audited(viewer_client: Client) -> None:
    shared = ClinicianFactory.create(
        status="verified", show_email=True, show_phone=False, phone="+32 2 299 11 11"
    )
    response = viewer_client.post(f"/directory/{shared.pk}/contact/", {"back": "/directory/?q=x"})
    page = response.content.decode()
    assert response.status_code == 200
    assert shared.user.email in page
    assert "+32 2 299 11 11" not in page
    assert 'href="/directory/?q=x"' in page
    event = AuditEvent.objects.get(action="directory.contact_revealed")
    assert event.subject_user_id == shared.user.pk
    assert event.object_id == str(shared.pk)
    assert event.actor_id == response.wsgi_request.user.pk


@pytest.mark.parametrize(
    "hidden", [{"status": "registered"}, {"restricted": True}, {"listed_in_directory": False}]
)
def test_contact_details_of_someone_not_in_the_directory_are_404(
    viewer_client: Client, hidden: dict[str, Any]
) -> None:
    person = ClinicianFactory.create(**{"status": "verified", "show_email": True, **hidden})
    assert viewer_client.post(f"/directory/{person.pk}/contact/").status_code == 404
    assert not AuditEvent.objects.filter(action="directory.contact_revealed").exists()


def test_an_unverified_clinician_cannot_reveal_contact_details(client: Client) -> None:
    person = ClinicianFactory.create(status="verified", show_email=True)
    client.force_login(ClinicianFactory.create(status="registered").user)
    assert client.post(f"/directory/{person.pk}/contact/").status_code == 404


def test_walking_the_directory_page_after_page_is_rate_limited(viewer_client: Client, settings: Any) -> None:
    settings.DIRECTORY_PAGING_RATE = "3/h"
    statuses = [viewer_client.get("/directory/", {"page": n}).status_code for n in range(1, 6)]
    assert statuses == [200, 200, 200, 429, 429]
    assert viewer_client.get("/directory/").status_code == 200  # searching stays open


def test_supervisors_export_the_directory_as_safe_csv_and_it_is_audited(client: Client) -> None:
    ClinicianFactory.create(
        status="verified", first_name="=HYPERLINK(1)", last_name="Attack", show_email=False
    )
    ClinicianFactory.create(status="verified", first_name="Marta", last_name="Rossi", show_email=True)
    ClinicianFactory.create(status="registered", first_name="Not", last_name="Listed")
    supervisor = StaffFactory.create(role="supervisors")
    sign_in_staff(client, supervisor)
    response = client.get("/admin/clinicians/clinician/export-directory/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = response.getvalue().decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in body and "\n=HYPERLINK" not in body
    assert "Marta,Rossi" in body and "Not,Listed" not in body
    assert AuditEvent.objects.filter(action="directory.exported", actor_id=supervisor.pk).exists()


def test_agents_cannot_export_the_directory(client: Client) -> None:
    sign_in_staff(client, StaffFactory.create(role="agents"))
    assert client.get("/admin/clinicians/clinician/export-directory/").status_code == 403
    assert not AuditEvent.objects.filter(action="directory.exported").exists()


def test_the_search_method_is_the_one_the_invitee_picker_will_reuse() -> None:
    ClinicianFactory.create(status="verified", first_name="Sofie", last_name="Peeters", country="BE")
    ClinicianFactory.create(status="suspended", first_name="Sofie", last_name="Suspended", country="BE")
    found = Clinician.objects.directory(text="sofie", country="BE")
    assert [c.last_name for c in found] == ["Peeters"]


def test_an_absurd_page_number_is_not_a_server_error(viewer_client: Client) -> None:
    assert viewer_client.get("/directory/", {"page": "9" * 30}).status_code == 200


def test_the_directory_is_in_last_name_then_first_name_order_ignoring_case(viewer_client: Client) -> None:
    for first, last in [
        ("Carla", "Dijk"),
        ("Bruno", "Dam"),
        ("Anna", "de Vries"),
        ("Anna", "Dam"),
        ("Eva", "van Dam"),
    ]:
        ClinicianFactory.create(status="verified", first_name=first, last_name=last)
    expected = ["Anna Dam", "Bruno Dam", "Anna de Vries", "Carla Dijk", "Viewer Person", "Eva van Dam"]
    assert names(viewer_client.get("/directory/")) == expected
    # A name search keeps the same order: every name with an "a" but Viewer Person's.
    assert names(viewer_client.get("/directory/", {"q": "a"})) == [
        name for name in expected if name != "Viewer Person"
    ]


@pytest.mark.parametrize("walk", [(5000, 20), (2, 1)], ids=["long walk", "short walk"])
def test_every_page_is_the_page_of_the_full_query_whichever_way_it_is_found(
    monkeypatch: pytest.MonkeyPatch, walk: tuple[int, int]
) -> None:
    """A page is found by walking the first rows of the order index, or, when
    they hold too few matches, among every match: both give the full query's page."""
    from clinicians import directory

    monkeypatch.setattr(directory, "WALK", walk[0])
    monkeypatch.setattr(directory, "WALK_PER_ROW", walk[1])
    lung, eye = ERN.objects.get(name="ERN LUNG"), ERN.objects.get(name="ERN EYE")
    german = Language.objects.get(code="de")
    for n in range(24):
        clinician = ClinicianFactory.create(
            status="verified",
            first_name=["Marta", "Jan", "Zsófia"][n % 3],
            last_name=f"{['Rossi', 'Novak', 'Álvarez', 'de Vries'][n % 4]} {n}",
            country=["BE", "DE"][n % 2],
            languages=[german] if n % 5 == 0 else None,
        )
        clinician.erns.add(lung if n % 3 else eye)
    searches: list[dict[str, Any]] = [
        {},
        {"text": "mar"},
        {"text": "rossi"},
        {"text": "ZSOF alvarez"},
        {"text": "nobody"},
        {"text": "_"},  # LIKE's wildcards are letters to look for
        {"text": "%"},
        {"country": "DE"},
        {"ern": eye},
        {"language": german, "country": "BE"},
        {"text": "jan", "ern": lung, "country": "DE"},
    ]
    for search in searches:
        every = list(Clinician.objects.directory(**search).values_list("pk", flat=True))
        for offset in range(0, len(every) + 2):
            expected = every[offset : offset + 3]
            assert directory.page_ids(offset=offset, limit=3, **search) == expected, (search, offset)
            rows = directory._rows(offset=offset, limit=3, filters=search)
            assert [row["pk"] for row in rows] == expected, (search, offset)
