"""Visitors' pages are kept whole (cmss/pagecache.py): each visitor still gets
their own CSRF token and cookie and their own messages, signed-in people never
get a kept page, languages and zones never mix, a change shows at once, and
addresses the pages do not make are built every time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clinicians import services as clinicians
from clinicians.models import Hospital, PrivacyStatement
from cmss import pagecache
from conferences.models import Webinar
from conferences.video import _backend_class
from conferences.webinars import services as webinars
from tests.factories import ClinicianFactory, StaffFactory, WebinarFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)
PAGES = ("/webinars/", "/register/", "/privacy/", "/contact/")
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]*)"')


@pytest.fixture(autouse=True)
def frozen(time_machine: Any) -> None:
    time_machine.move_to(NOW, tick=False)


@pytest.fixture(autouse=True)
def local_backend(settings: Any) -> Iterator[None]:
    settings.VIDEO_BACKEND = "conferences.video.local.LocalBackend"
    _backend_class.cache_clear()
    with (
        mock.patch("conferences.tasks.realise_meeting.apply_async"),
        mock.patch("cmss.tasks.send_email.apply_async"),
    ):
        yield
    _backend_class.cache_clear()


@pytest.fixture
def agent() -> Any:
    return StaffFactory.create(role="agents")


def get(client: Client, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status
    body = response.content.decode()
    assert pagecache.SENTINEL not in body
    return body


def queries(client: Client, path: str, status: int = 200) -> int:
    with CaptureQueriesContext(connection) as captured:
        get(client, path, status)
    return len(captured.captured_queries)


def published(agent: Any, **kwargs: Any) -> Webinar:
    kwargs.setdefault("start", NOW + timedelta(days=2))
    return webinars.publish_webinar(webinar=WebinarFactory.create(**kwargs), by=agent)


# --- Kept, and each visitor's own token -------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_a_visitors_page_is_kept_and_costs_no_query_the_second_time(path: str) -> None:
    first = get(Client(), path)
    assert queries(Client(), path) == 0
    # The same page, but for the token of its forms.
    assert TOKEN.sub("", get(Client(), path)) == TOKEN.sub("", first)


@pytest.mark.parametrize("path", ["/register/", "/contact/"])
def test_each_visitor_gets_their_own_token_and_cookie_from_the_kept_page(path: str) -> None:
    get(Client(), path)  # kept now
    tokens, cookies = set(), set()
    for _ in range(2):
        client = Client(enforce_csrf_checks=True)
        response = client.get(path)
        assert pagecache.SENTINEL not in response.content.decode()
        (token,) = set(TOKEN.findall(response.content.decode()))
        tokens.add(token)
        cookies.add(response.cookies["csrftoken"].value)  # a new visitor's cookie, set on a kept page
        # The form goes through with it (refused without it: 403).
        sent = client.post(path, {"name": "", "csrfmiddlewaretoken": token})
        assert sent.status_code == 200
        assert client.post(path, {"name": ""}).status_code == 403
    assert len(tokens) == 2 and len(cookies) == 2


def test_two_visitors_send_the_contact_form_from_the_kept_page() -> None:
    get(Client(), "/contact/")
    for n in range(2):
        client = Client(enforce_csrf_checks=True)
        (token,) = set(TOKEN.findall(get(client, "/contact/")))
        sent = client.post(
            "/contact/",
            {
                "name": f"Visitor {n}",
                "email": f"visitor{n}@example.org",
                "kind": "question",
                "subject": "A question",
                "body": "Can a nurse register?",
                "csrfmiddlewaretoken": token,
            },
        )
        assert sent.status_code == 302 and sent["Location"] == "/contact/sent/"


def test_a_visitor_who_has_a_cookie_keeps_their_token() -> None:
    client = Client(enforce_csrf_checks=True)
    cookie = client.get("/contact/").cookies["csrftoken"].value
    again = client.get("/contact/")  # kept now
    assert again.cookies["csrftoken"].value == cookie  # renewed, as Django does for a page with a form
    (token,) = set(TOKEN.findall(again.content.decode()))
    assert client.post("/contact/", {"csrfmiddlewaretoken": token}).status_code == 200


# --- Never someone else's ---------------------------------------------------------------------


def test_a_flash_message_is_shown_once_to_its_visitor_and_never_kept() -> None:
    clinician = ClinicianFactory.create()
    leaving = Client()
    for path in PAGES:
        get(Client(), path)  # every page kept
    leaving.force_login(clinician.user)
    leaving.post("/accounts/logout/")
    for path in PAGES:
        assert "You have signed out." not in get(Client(), path)
    assert "You have signed out." in get(leaving, "/privacy/")
    assert "You have signed out." not in get(leaving, "/privacy/")
    assert "You have signed out." not in get(Client(), "/privacy/")


def test_a_page_with_a_message_is_built_for_that_visitor_and_not_kept() -> None:
    clinician = ClinicianFactory.create()
    leaving = Client()
    leaving.force_login(clinician.user)
    leaving.post("/accounts/logout/")
    assert "You have signed out." in get(leaving, "/contact/")
    assert "You have signed out." not in get(Client(), "/contact/")


def test_signed_in_people_never_get_a_kept_page_nor_leave_one(agent: Any) -> None:
    webinar = published(agent)
    clinician = Client()
    clinician.force_login(ClinicianFactory.create(status="verified").user)
    for path in ("/webinars/", f"/webinars/{webinar.pk}/", "/privacy/"):
        visitor_page = get(Client(), path)
        assert "Sign out" not in visitor_page
        assert "Sign out" in get(clinician, path)
        assert "Sign out" not in get(Client(), path)
    assert "Sign in to register" in get(Client(), f"/webinars/{webinar.pk}/")
    mine = get(clinician, f"/webinars/{webinar.pk}/")
    assert "Sign in to register" not in mine and f"/webinars/{webinar.pk}/register/" in mine
    # The registration and contact forms send a signed-in person elsewhere, kept or not.
    assert clinician.get("/register/").status_code == 302
    assert clinician.get("/contact/").status_code == 302


@pytest.mark.parametrize("path", PAGES)
def test_each_language_has_its_own_kept_page(path: str, settings: Any) -> None:
    english = get(Client(), path)
    assert 'lang="en"' in english
    settings.LANGUAGE_CODE = "de"  # the visitors' language (cmss.middleware)
    german = get(Client(), path)
    assert 'lang="de"' in german and "Datenschutzerklärung" in german
    settings.LANGUAGE_CODE = "en"
    again = get(Client(), path)
    assert TOKEN.sub("", again) == TOKEN.sub("", english) and "Datenschutzerklärung" not in again


@pytest.mark.parametrize("path", PAGES)
def test_each_time_zone_has_its_own_kept_page(path: str) -> None:
    assert "Times are shown in the Europe/Brussels time zone." in get(Client(), path)
    with mock.patch("cmss.middleware.DEFAULT_TIME_ZONE", "Europe/Lisbon"):
        assert "Times are shown in the Europe/Lisbon time zone." in get(Client(), path)
    assert "Times are shown in the Europe/Brussels time zone." in get(Client(), path)


# --- Changes show at once ---------------------------------------------------------------------


def test_a_published_and_a_cancelled_webinar_show_at_once_on_the_kept_pages(agent: Any) -> None:
    assert "Soon on the programme" not in get(Client(), "/webinars/")
    webinar = published(agent, title="Soon on the programme")
    assert "Soon on the programme" in get(Client(), "/webinars/")
    assert "Sign in to register" in get(Client(), f"/webinars/{webinar.pk}/")
    webinars.cancel_webinar(webinar=webinar, by=agent, reason="The speaker is ill")
    assert "Soon on the programme" not in get(Client(), "/webinars/")
    assert "This webinar is cancelled" in get(Client(), f"/webinars/{webinar.pk}/")


def test_a_registration_shows_in_the_seats_of_the_kept_pages_at_once(agent: Any) -> None:
    webinar = published(agent, capacity=3)
    assert "3 seats left" in get(Client(), "/webinars/")
    assert "3 of 3" in get(Client(), f"/webinars/{webinar.pk}/")
    registration = webinars.register(webinar=webinar, clinician=ClinicianFactory.create())
    assert "2 seats left" in get(Client(), "/webinars/")
    assert "2 of 3" in get(Client(), f"/webinars/{webinar.pk}/")
    webinars.cancel_registration(registration=registration)
    assert "3 seats left" in get(Client(), "/webinars/")
    assert "3 of 3" in get(Client(), f"/webinars/{webinar.pk}/")


def test_a_webinar_page_closes_registration_when_the_webinar_starts(agent: Any, time_machine: Any) -> None:
    webinar = published(agent, start=NOW + timedelta(hours=1), duration_minutes=60)
    assert "Sign in to register" in get(Client(), f"/webinars/{webinar.pk}/")
    time_machine.move_to(NOW + timedelta(hours=1, seconds=1), tick=False)
    page = get(Client(), f"/webinars/{webinar.pk}/")
    assert "Registration is closed: the webinar has started." in page and "Sign in to register" not in page
    time_machine.move_to(NOW + timedelta(hours=2, seconds=1), tick=False)
    assert "Seats left" not in get(Client(), f"/webinars/{webinar.pk}/")


def test_a_new_privacy_version_shows_at_once_on_the_privacy_page_and_the_registration_form(
    django_capture_on_commit_callbacks: Any,
) -> None:
    supervisor = StaffFactory.create(role="supervisors")
    assert 'name="privacy_version" value="1"' in get(Client(), "/register/")
    assert "New recipients" not in get(Client(), "/privacy/")
    draft = clinicians.save_privacy_statement(
        statement=PrivacyStatement(
            version=2, title="Privacy statement", body="## New recipients\nA new provider."
        ),
        by=supervisor,
    )
    assert 'name="privacy_version" value="1"' in get(Client(), "/register/")  # a draft is not shown
    with django_capture_on_commit_callbacks(execute=True):
        clinicians.publish_privacy_statement(statement=draft, by=supervisor)
    assert 'name="privacy_version" value="2"' in get(Client(), "/register/")
    assert "New recipients" in get(Client(), "/privacy/")


def test_an_approved_hospital_is_offered_at_once_on_the_kept_registration_form(agent: Any) -> None:
    proposed = clinicians.propose_hospital(
        name="Hospital Newly Approved", city="Gent", country="BE", by=agent
    )
    assert "Hospital Newly Approved" not in get(Client(), "/register/")
    clinicians.approve_hospital(hospital=Hospital.objects.get(pk=proposed.pk), by=agent)
    assert "Hospital Newly Approved" in get(Client(), "/register/")


# --- Addresses no page makes ------------------------------------------------------------------


def test_a_registration_address_with_an_email_is_prefilled_for_that_visitor_only() -> None:
    get(Client(), "/register/")
    assert 'value="ana@example.org"' in get(Client(), "/register/?email=ana@example.org")
    assert 'value="ben@example.org"' in get(Client(), "/register/?email=ben@example.org")
    assert "ana@example.org" not in get(Client(), "/register/")
    assert queries(Client(), "/register/?email=ana@example.org") > 0  # built every time


@pytest.mark.parametrize(
    "address",
    [
        "/webinars/?utm_source=x",
        "/webinars/?page=1&page=2",
        "/webinars/?ern=nonsense",
        "/webinars/?ern=999999",
        "/webinars/?page=99",
        "/privacy/?x=1",
        "/contact/?subject=hello",
        "/register/?next=/profile/",
    ],
)
def test_addresses_the_pages_do_not_make_are_answered_and_not_kept(address: str, agent: Any) -> None:
    published(agent)
    with mock.patch.object(pagecache.cache, "set", wraps=pagecache.cache.set) as stored:
        get(Client(), address)
        get(Client(), address.split("?")[0])
    kept = [call for call in stored.call_args_list if isinstance(call.args[1], pagecache._Page)]
    assert len(kept) == 1  # the page without the query string only


def test_a_missing_webinar_is_not_found_and_never_kept() -> None:
    for _ in range(2):
        assert "Not Found" in get(Client(), "/webinars/999999/", status=404)
    assert queries(Client(), "/webinars/999999/", 404) > 0


@pytest.mark.parametrize("path", PAGES)
def test_a_kept_page_carries_the_headers_of_a_built_one(path: str) -> None:
    built, kept = Client().get(path), Client().get(path)
    assert dict(kept.headers) == dict(built.headers)
    assert "Cookie" in kept["Vary"] and kept["Content-Language"] == "en"
    assert "Content-Security-Policy" in kept.headers and kept["Content-Type"] == "text/html; charset=utf-8"


# --- The decorator itself ---------------------------------------------------------------------


def visitor_request(rf: Any, path: str = "/a-page/") -> Any:
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.cache import SessionStore

    request = rf.get(path)
    request.user = AnonymousUser()
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    return request


def test_a_page_that_leaves_a_message_while_it_is_built_is_not_kept(rf: Any) -> None:
    from django.contrib import messages
    from django.http import HttpResponse

    built = []

    @pagecache.visitor_page(query={"say": "1"})
    def view(request: Any) -> HttpResponse:
        built.append(request)
        if request.GET.get("say"):
            messages.info(request, "Only for you")
        return HttpResponse("<p>page</p>")

    for path in ("/a-page/", "/a-page/", "/a-page/?say=1", "/a-page/?say=1"):
        view(visitor_request(rf, path))
    assert len(built) == 3  # the first page kept, the one that said something built each time


def test_the_sentinel_is_replaced_in_a_page_that_is_not_kept(rf: Any) -> None:
    from django.http import HttpResponse
    from django.template import engines

    form = engines["django"].from_string("<form>{% csrf_token %}</form>")

    @pagecache.visitor_page()
    def refused(request: Any) -> HttpResponse:
        return HttpResponse(form.render({}, request), status=403)

    for _ in range(2):
        body = refused(visitor_request(rf)).content.decode()
        assert pagecache.SENTINEL not in body and TOKEN.search(body)
