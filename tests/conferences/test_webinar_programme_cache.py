"""The public programme, the webinar pages and the calendar feed are cached
(conferences/webinars/programme.py): every change a person makes shows at once,
nobody sees another viewer's seat, language or time zone, and the feed answers
calendar programs that poll it with 304."""

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

from clinicians.models import ERN
from conferences.models import Speaker, Webinar
from conferences.video import _backend_class
from conferences.webinars import programme
from conferences.webinars import services as webinars
from tests.factories import ClinicianFactory, SpeakerFactory, StaffFactory, WebinarFactory

pytestmark = pytest.mark.django_db

# Every test runs at this moment, whatever today is.
NOW = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)


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


def published(agent: Any, **kwargs: Any) -> Webinar:
    kwargs.setdefault("start", NOW + timedelta(days=2))
    return webinars.publish_webinar(webinar=WebinarFactory.create(**kwargs), by=agent)


def page(client: Client, path: str = "/webinars/") -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


def signed_in(**kwargs: Any) -> Client:
    client = Client()
    client.force_login(ClinicianFactory.create(**kwargs).user)
    return client


# --- Changes show at once ---------------------------------------------------------------------


def test_a_published_webinar_is_on_the_cached_programme_at_once(client: Client, agent: Any) -> None:
    published(agent, title="First on the programme")
    assert "First on the programme" in page(client)
    draft = WebinarFactory.create(title="Published second", start=NOW + timedelta(days=3))
    assert "Published second" not in page(client)
    webinars.publish_webinar(webinar=draft, by=agent)
    assert "Published second" in page(client)
    assert "Published second" in page(client, "/webinars/feed.ics")


def test_a_cancelled_webinar_leaves_the_programme_and_its_page_says_so(client: Client, agent: Any) -> None:
    webinar = published(agent, title="Soon cancelled")
    assert "Soon cancelled" in page(client)
    assert "Sign in to register" in page(client, f"/webinars/{webinar.pk}/")
    feed = page(client, "/webinars/feed.ics")
    webinars.cancel_webinar(webinar=webinar, by=agent, reason="The speaker is ill")
    assert "Soon cancelled" not in page(client)
    detail = page(client, f"/webinars/{webinar.pk}/")
    assert "This webinar is cancelled" in detail and "The speaker is ill" in detail
    assert "Sign in to register" not in detail
    assert "STATUS:CANCELLED" not in feed and "STATUS:CANCELLED" in page(client, "/webinars/feed.ics")


def test_an_agents_edit_of_a_webinar_shows_on_every_cached_page(client: Client, agent: Any) -> None:
    webinar = published(agent, title="The old title", capacity=20)
    for path in ("/webinars/", f"/webinars/{webinar.pk}/", "/webinars/feed.ics"):
        assert "The old title" in page(client, path)
    webinar.refresh_from_db()
    webinar.title = "The new title"
    webinar.start = NOW + timedelta(days=5)
    webinars.change_webinar(webinar=webinar, by=agent)
    for path in ("/webinars/", f"/webinars/{webinar.pk}/", "/webinars/feed.ics"):
        body = page(client, path)
        assert "The new title" in body and "The old title" not in body
    assert "Saturday 8 March 2031" in page(client, f"/webinars/{webinar.pk}/")


def test_a_speaker_change_shows_on_the_programme_and_the_page(client: Client, agent: Any) -> None:
    webinar = published(agent)
    speaker = SpeakerFactory.create(webinar=webinar, name="Dr Ana Before")
    assert "Dr Ana Before" in page(client) and "Dr Ana Before" in page(client, f"/webinars/{webinar.pk}/")
    speaker.name = "Dr Ana After"
    webinars.save_speakers(webinar=webinar, speakers=[speaker, Speaker(name="Dr Ben Added")], by=agent)
    for path in ("/webinars/", f"/webinars/{webinar.pk}/"):
        body = page(client, path)
        assert "Dr Ana After" in body and "Dr Ben Added" in body and "Dr Ana Before" not in body


def test_an_erased_speaker_leaves_the_cached_pages(client: Client, agent: Any) -> None:
    # Erasure writes with update(), which sends no signal: it bumps the programme itself.
    webinar = published(agent)
    clinician = ClinicianFactory.create()
    SpeakerFactory.create(webinar=webinar, name="Dr Erase Me", clinician=clinician)
    assert "Dr Erase Me" in page(client, f"/webinars/{webinar.pk}/")
    Speaker.erase_personal_data(clinician.user, "pseudonym")
    assert "Dr Erase Me" not in page(client, f"/webinars/{webinar.pk}/")
    assert "Dr Erase Me" not in page(client)


def test_a_renamed_network_shows_on_the_programme(client: Client, agent: Any) -> None:
    lung = ERN.objects.get(code="ern-lung")
    published(agent, erns=[lung])
    assert "ERN LUNG" in page(client)
    lung.name = "ERN-LUNG renamed"
    lung.save()
    assert "ERN-LUNG renamed" in page(client)


def test_a_webinar_that_ends_moves_to_the_past_webinars_although_nothing_changed(
    client: Client, agent: Any, time_machine: Any
) -> None:
    published(agent, title="Ends soon", start=NOW + timedelta(hours=1), duration_minutes=60)
    upcoming, past = page(client).split('id="past-heading"')
    assert "Ends soon" in upcoming and "Ends soon" not in past
    time_machine.move_to(NOW + timedelta(hours=2, seconds=1), tick=False)
    upcoming, past = page(client).split('id="past-heading"')
    assert "Ends soon" not in upcoming and "Ends soon" in past


# --- Seats and the viewer's own registration --------------------------------------------------


def test_seats_left_follow_each_registration_while_the_programme_is_cached(
    client: Client, agent: Any
) -> None:
    webinar = published(agent, capacity=2)
    assert "2 seats left" in page(client)
    webinars.register(webinar=webinar, clinician=ClinicianFactory.create())
    assert "1 seat left" in page(client) and "1 of 2" in page(client, f"/webinars/{webinar.pk}/")
    webinars.register(webinar=webinar, clinician=ClinicianFactory.create())
    assert "Full: waitlist open" in page(client)
    assert "None: new registrations join the waitlist." in page(client, f"/webinars/{webinar.pk}/")


def test_a_clinician_sees_their_own_seat_after_registering_and_nobody_else_does(agent: Any) -> None:
    webinar = published(agent, capacity=1)
    visitor, mine, other = Client(), signed_in(), signed_in()
    for client in (visitor, mine, other):  # the programme and the page are cached now
        assert "1 seat left" in page(client)
        page(client, f"/webinars/{webinar.pk}/")
    mine.post(f"/webinars/{webinar.pk}/register/")
    assert "You have a seat" in page(mine)
    assert "You have a seat." in page(mine, f"/webinars/{webinar.pk}/")
    assert "Cancel my registration" in page(mine, f"/webinars/{webinar.pk}/")
    other.post(f"/webinars/{webinar.pk}/register/")
    assert "You are number 1 on the waitlist" in page(other)
    for client in (visitor, other):
        assert "You have a seat" not in page(client)
        assert "You have a seat." not in page(client, f"/webinars/{webinar.pk}/")
    assert "Full: waitlist open" in page(visitor)
    assert "Leave the waitlist" in page(other, f"/webinars/{webinar.pk}/")
    assert "Sign in to register" in page(visitor, f"/webinars/{webinar.pk}/")


def test_each_viewer_gets_their_own_csrf_token_on_a_cached_webinar_page(agent: Any) -> None:
    webinar = published(agent)
    tokens = set()
    for client in (signed_in(), signed_in()):
        body = page(client, f"/webinars/{webinar.pk}/")
        (token,) = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', body.split("<main")[1])
        tokens.add(token)
        assert client.post(f"/webinars/{webinar.pk}/register/").status_code == 302
    assert len(tokens) == 2


def test_a_draft_page_the_helpdesk_opened_is_still_404_to_everyone_else(agent: Any) -> None:
    from tests.conftest import sign_in_staff

    draft = WebinarFactory.create(title="Not yet public")
    staff = Client()
    sign_in_staff(staff, agent)
    assert "Draft: only the helpdesk" in page(staff, f"/webinars/{draft.pk}/")  # now cached
    assert Client().get(f"/webinars/{draft.pk}/").status_code == 404
    assert signed_in(status="verified").get(f"/webinars/{draft.pk}/").status_code == 404
    assert Client().get("/webinars/999999/").status_code == 404


def test_the_join_link_appears_once_the_provider_webinar_exists_although_the_page_is_cached(
    agent: Any,
) -> None:
    from conferences.models import ProviderMeeting
    from conferences.tasks import realise_meeting

    webinar = published(agent)
    mine = signed_in()
    mine.post(f"/webinars/{webinar.pk}/register/")
    assert "The join link appears here" in page(mine, f"/webinars/{webinar.pk}/")
    assert webinar.meeting_id is not None
    realise_meeting(webinar.meeting_id)
    join_url = ProviderMeeting.objects.get(pk=webinar.meeting_id).join_url
    assert join_url and join_url in page(mine, f"/webinars/{webinar.pk}/")
    assert join_url not in page(Client(), f"/webinars/{webinar.pk}/")
    assert join_url not in page(signed_in(), f"/webinars/{webinar.pk}/")


# --- Languages and time zones -----------------------------------------------------------------


def test_viewers_of_different_languages_and_zones_never_get_each_others_programme(agent: Any) -> None:
    webinar = published(agent, title="Bilingual", start=datetime(2031, 3, 4, 15, 0, tzinfo=UTC))
    english = Client()
    french = signed_in(user__language="fr", user__time_zone="Europe/Helsinki")
    german = signed_in(user__language="de", user__time_zone="Europe/Lisbon")
    for _round in range(2):  # built, then from the cache
        body = page(english)
        assert "Upcoming webinars" in body and "Tuesday 4 March 2031, 16:00" in body
        body = page(french)
        assert "Upcoming webinars" not in body and "17:00" in body and "Europe/Helsinki" in body
        body = page(german)
        assert "Upcoming webinars" not in body and "15:00" in body and "Europe/Lisbon" in body
        assert "Tuesday" in page(english, f"/webinars/{webinar.pk}/")
        assert "Tuesday" not in page(french, f"/webinars/{webinar.pk}/")
        assert "Upcoming webinars" not in page(german)


def test_the_feed_is_per_language_only_in_its_name(agent: Any) -> None:
    published(agent, title="Feed in two languages")
    english = page(Client(), "/webinars/feed.ics")
    french = page(signed_in(user__language="fr"), "/webinars/feed.ics")
    assert "X-WR-CALNAME:CMSS webinars" in english
    assert "X-WR-CALNAME:CMSS webinars" not in french and "Feed in two languages" in french


# --- The feed ---------------------------------------------------------------------------------


def test_a_calendar_program_polling_the_feed_gets_304_until_the_programme_changes(
    client: Client, agent: Any
) -> None:
    webinar = published(agent, title="Polled")
    first = client.get("/webinars/feed.ics")
    etag, modified = first["ETag"], first["Last-Modified"]
    assert first.status_code == 200 and etag.startswith('"')
    with CaptureQueriesContext(connection) as queries:
        again = client.get("/webinars/feed.ics", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    assert len(queries) == 0
    assert client.get("/webinars/feed.ics", HTTP_IF_MODIFIED_SINCE=modified).status_code == 304
    webinar.refresh_from_db()
    webinar.title = "Polled and renamed"
    webinars.change_webinar(webinar=webinar, by=agent)
    changed = client.get("/webinars/feed.ics", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert "Polled and renamed" in changed.content.decode()


def test_the_same_programme_gives_the_same_feed_bytes_after_the_cache_is_gone(
    client: Client, agent: Any
) -> None:
    from django.core.cache import cache

    published(agent)
    first = client.get("/webinars/feed.ics")
    cache.clear()
    second = client.get("/webinars/feed.ics", HTTP_IF_NONE_MATCH=first["ETag"])
    assert second.status_code == 304


def test_the_feed_holds_half_a_year_of_past_webinars_and_its_query_does_not_grow_with_older_ones(
    client: Client, agent: Any
) -> None:
    published(agent, title="Coming up")
    WebinarFactory.create(title="Held last month", state="held", start=NOW - timedelta(days=30))
    for days in range(200, 230):
        WebinarFactory.create(title=f"Held long ago {days}", state="held", start=NOW - timedelta(days=days))
    with CaptureQueriesContext(connection) as queries:
        body = page(client, "/webinars/feed.ics")
    assert "Coming up" in body and "Held last month" in body and "Held long ago" not in body
    (sql,) = [query["sql"] for query in queries.captured_queries if "conferences_webinar" in query["sql"]]
    assert '"end_at" >=' in sql  # the webinar_state_end index bounds the scan
    assert programme.feed_window(NOW) == datetime(2030, 9, 4, tzinfo=UTC)


# --- Query counts -----------------------------------------------------------------------------


def make_programme(agent: Any, n: int) -> None:
    for i in range(n):
        webinar = published(agent, start=NOW + timedelta(days=1 + i))
        SpeakerFactory.create(webinar=webinar)
        webinars.register(webinar=webinar, clinician=ClinicianFactory.create())
        WebinarFactory.create(
            state="held", start=NOW - timedelta(days=1 + i), recording_url="https://x.org/r"
        )


def queries_of(client: Client, path: str, *, cold: bool) -> list[str]:
    from django.core.cache import cache

    client.get(path)
    if cold:
        cache.clear()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return [query["sql"] for query in queries.captured_queries]


@pytest.mark.parametrize("cold", [False, True], ids=["cached", "built"])
def test_the_programme_and_a_page_keep_their_number_of_queries_as_the_programme_grows(
    agent: Any, cold: bool
) -> None:
    viewer = signed_in()
    make_programme(agent, 2)
    first = Webinar.objects.filter(state="published").order_by("start").first()
    assert first is not None
    small = [
        queries_of(client, path, cold=cold)
        for client in (Client(), viewer)
        for path in ("/webinars/", f"/webinars/{first.pk}/", "/webinars/feed.ics")
    ]
    make_programme(agent, 48)
    SpeakerFactory.create_batch(5, webinar=first)
    large = [
        queries_of(client, path, cold=cold)
        for client in (Client(), viewer)
        for path in ("/webinars/", f"/webinars/{first.pk}/", "/webinars/feed.ics")
    ]
    assert [len(q) for q in large] == [len(q) for q in small], large


def test_a_visitor_reads_the_cached_programme_with_no_query_and_after_a_registration_with_one(
    client: Client, agent: Any
) -> None:
    make_programme(agent, 3)
    lung = ERN.objects.get(code="ern-lung")
    for path in ("/webinars/", f"/webinars/?ern={lung.pk}&language=en&page=1"):
        assert queries_of(client, path, cold=False) == []  # the whole page is kept (cmss/pagecache.py)
        # A registration makes the kept page stale, not the programme: its seats are counted again.
        first = Webinar.objects.filter(state="published").first()
        assert first is not None
        webinars.register(webinar=first, clinician=ClinicianFactory.create())
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        (sql,) = [query["sql"] for query in queries.captured_queries]
        assert "COUNT(*)" in sql and "conferences_registration" in sql


def test_addresses_the_page_does_not_make_are_answered_but_not_kept(client: Client, agent: Any) -> None:
    make_programme(agent, 1)
    for query in ("?utm_source=x", "?ern=1&ern=2", "?page=99", "?ern=nonsense"):
        assert client.get(f"/webinars/{query}").status_code == 200
    # Each of them is built again: none was stored under its address.
    for query in ("?utm_source=x", "?ern=1&ern=2", "?page=99", "?ern=nonsense"):
        assert len(queries_of(client, f"/webinars/{query}", cold=False)) > 1


def test_each_waitlisted_clinician_sees_their_own_place_in_the_programme(agent: Any) -> None:
    webinar = published(agent, capacity=1)
    seated, first, second = signed_in(), signed_in(), signed_in()
    for client in (seated, first, second):
        assert client.post(f"/webinars/{webinar.pk}/register/").status_code == 302
    assert "You have a seat" in page(seated)
    assert "You are number 1 on the waitlist" in page(first)
    assert "You are number 2 on the waitlist" in page(second)
    first.post(f"/webinars/{webinar.pk}/cancel/")
    assert "You are number 1 on the waitlist" in page(second)
