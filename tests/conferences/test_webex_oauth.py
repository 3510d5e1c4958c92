"""The Webex backend's OAuth refresh: one shared token row, one refresh at a time, no retry storm."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone

from conferences.models import WebexToken
from conferences.video import AmbiguousVideoError, MeetingSpec, PermanentVideoError, TransientVideoError
from conferences.video.webex import WebexBackend
from tests.conferences.fake_webex import FakeWebex

START = (timezone.now() + timedelta(days=20)).replace(microsecond=0)
WINDOW = {"start": START - timedelta(days=1), "end": START + timedelta(days=1)}


def spec() -> MeetingSpec:
    return MeetingSpec(
        key="conference:1:v1",
        title="Case discussion",
        start=START,
        end=START + timedelta(hours=1),
        time_zone="Europe/Brussels",
    )


@pytest.fixture
def oauth(fake_webex: FakeWebex, settings: Any, db: None) -> FakeWebex:
    """Settings for OAuth (no static access token) against the fake."""
    settings.WEBEX_BASE_URL = fake_webex.base_url
    settings.WEBEX_ACCESS_TOKEN = ""
    settings.WEBEX_CLIENT_ID = fake_webex.client_id
    settings.WEBEX_CLIENT_SECRET = fake_webex.client_secret
    settings.WEBEX_REFRESH_TOKEN = fake_webex.refresh_token
    settings.WEBEX_HOST_EMAIL = "host@example.org"
    settings.WEBEX_SITE_URL = "example.webex.com"
    settings.WEBEX_TIMEOUT = 2
    return fake_webex


def refreshes(fake: FakeWebex) -> list[Any]:
    return fake.requests_to("POST", "/access_token")


def test_the_first_call_refreshes_and_stores_the_rotated_tokens(oauth: FakeWebex) -> None:
    first_refresh_token = oauth.refresh_token
    WebexBackend().create(spec())
    [refresh] = refreshes(oauth)
    assert refresh.status == 200
    assert refresh.headers["Content-Type"] == "application/x-www-form-urlencoded"
    row = WebexToken.objects.get()
    assert row.access_token == oauth.access_token
    assert row.refresh_token == oauth.refresh_token != first_refresh_token
    assert row.expires_at is not None and row.expires_at > timezone.now() + timedelta(days=13)
    assert row.refreshed_at is not None and not row.failed
    [created] = oauth.requests_to("POST", "/meetings")
    assert created.status == 200 and created.headers["Authorization"] == f"Bearer {row.access_token}"


def test_a_401_refreshes_once_and_the_call_goes_through(oauth: FakeWebex) -> None:
    # A token that looks valid for days but that Webex no longer accepts.
    WebexToken.objects.create(
        pk=1,
        access_token="revoked",
        refresh_token=oauth.refresh_token,
        expires_at=timezone.now() + timedelta(days=3),
    )
    meeting = WebexBackend().create(spec())
    assert meeting.provider_id in oauth.meetings
    assert len(refreshes(oauth)) == 1
    assert [r.status for r in oauth.requests_to("POST", "/meetings")] == [401, 200]
    row = WebexToken.objects.get()
    assert row.refresh_token == oauth.refresh_token and row.access_token == oauth.access_token


def test_a_second_401_after_refreshing_is_permanent(oauth: FakeWebex) -> None:
    WebexToken.objects.create(
        pk=1,
        access_token="revoked",
        refresh_token=oauth.refresh_token,
        expires_at=timezone.now() + timedelta(days=3),
    )
    backend = WebexBackend()
    backend._bearer = lambda: "revoked"  # type: ignore[method-assign]
    original = backend._refresh
    backend._refresh = lambda rejected="": (original(rejected), "still-wrong")[1]  # type: ignore[method-assign]
    with pytest.raises(PermanentVideoError) as caught:
        backend.create(spec())
    assert caught.value.status == 401
    assert len(refreshes(oauth)) == 1
    assert [r.status for r in oauth.requests_to("POST", "/meetings")] == [401, 401]
    assert oauth.meetings == {}


def test_a_failed_refresh_marks_the_row_and_stops_calling_webex(oauth: FakeWebex, settings: Any) -> None:
    settings.WEBEX_REFRESH_TOKEN = "unknown-to-webex"
    with pytest.raises(PermanentVideoError) as caught:
        WebexBackend().create(spec())
    assert caught.value.tracking_id == oauth.tracking_ids[-1]
    row = WebexToken.objects.get()
    assert row.failed and "invalid or expired" in row.last_error
    assert [r.status for r in refreshes(oauth)] == [400]

    seen = len(oauth.requests)
    with pytest.raises(PermanentVideoError, match="refresh failed earlier"):
        WebexBackend().find_by_key("conference:1:v1", **WINDOW)
    assert len(oauth.requests) == seen  # no HTTP request at all

    # The operator sets a good refresh token: calls work again.
    WebexToken.reset(refresh_token=oauth.refresh_token)
    WebexBackend().create(spec())
    assert not WebexToken.objects.get().failed
    assert [r.status for r in refreshes(oauth)] == [400, 200]


def test_two_workers_with_an_expired_token_refresh_only_once(oauth: FakeWebex) -> None:
    WebexToken.objects.create(
        pk=1,
        access_token="old",
        refresh_token=oauth.refresh_token,
        expires_at=timezone.now() + timedelta(seconds=30),  # within the refresh margin
    )
    first, second = WebexBackend(), WebexBackend()
    first.find_by_key("conference:1:v1", **WINDOW)
    second.find_by_key("conference:1:v1", **WINDOW)
    assert len(refreshes(oauth)) == 1
    assert [r.status for r in oauth.requests_to("GET", "/meetings")] == [200, 200]
    assert WebexToken.objects.get().access_token == oauth.access_token


def test_a_worker_that_meets_a_401_uses_the_token_another_worker_just_refreshed(oauth: FakeWebex) -> None:
    WebexBackend().find_by_key("conference:1:v1", **WINDOW)
    assert len(refreshes(oauth)) == 1
    stale = WebexBackend()
    # This worker read the row before the refresh: its token is now refused.
    stale._bearer = lambda: "old"  # type: ignore[method-assign]
    stale.find_by_key("conference:1:v1", **WINDOW)
    assert len(refreshes(oauth)) == 1  # the re-check under the lock found the new token
    assert [r.status for r in oauth.requests_to("GET", "/meetings")] == [200, 401, 200]


def test_a_static_access_token_is_never_refreshed(oauth: FakeWebex, settings: Any) -> None:
    settings.WEBEX_ACCESS_TOKEN = oauth.access_token
    backend = WebexBackend()
    backend.create(spec())
    oauth.access_token = "rotated-elsewhere"
    with pytest.raises(PermanentVideoError) as caught:
        backend.find_by_key("conference:1:v1", **WINDOW)
    assert caught.value.status == 401
    assert refreshes(oauth) == []
    assert not WebexToken.objects.exists()


def test_without_any_credentials_the_backend_refuses_before_calling(oauth: FakeWebex, settings: Any) -> None:
    settings.WEBEX_CLIENT_ID = ""
    with pytest.raises(PermanentVideoError, match="not configured"):
        WebexBackend().create(spec())
    assert oauth.requests == []


def test_load_seeds_the_row_from_the_setting(db: None, settings: Any) -> None:
    settings.WEBEX_REFRESH_TOKEN = "seed"
    assert WebexToken.load().refresh_token == "seed"
    WebexToken.objects.filter(pk=1).update(refresh_token="rotated")
    assert WebexToken.load().refresh_token == "rotated"


@pytest.mark.django_db(transaction=True)
def test_two_threads_with_an_expired_token_refresh_only_once(oauth: FakeWebex, postgres: None) -> None:
    """Real row locks (PostgreSQL): the second worker waits for the first one's refresh."""
    from django.db import connection

    WebexToken.objects.create(pk=1, refresh_token=oauth.refresh_token)
    oauth.refresh_delay = 0.3
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            backend = WebexBackend()
            barrier.wait(timeout=5)
            backend.find_by_key("conference:1:v1", **WINDOW)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert [r.status for r in refreshes(oauth)] == [200]
    row = WebexToken.objects.get()
    assert not row.failed and row.access_token == oauth.access_token


def test_a_refresh_that_gets_no_answer_is_transient_and_leaves_the_row_usable(oauth: FakeWebex) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(TransientVideoError) as caught:
        WebexBackend(transport=httpx.MockTransport(answer)).create(spec())
    # POST /access_token creates nothing: not ambiguous, and no reason to stop calling Webex.
    assert not isinstance(caught.value, AmbiguousVideoError)
    row = WebexToken.objects.get()
    assert not row.failed and row.refresh_token == oauth.refresh_token
    WebexBackend().create(spec())
    assert len(oauth.meetings) == 1


def test_the_refresh_and_the_repeated_call_after_a_401_use_the_same_connection(oauth: FakeWebex) -> None:
    WebexToken.objects.create(
        pk=1,
        access_token="revoked",
        refresh_token=oauth.refresh_token,
        expires_at=timezone.now() + timedelta(days=3),
    )
    with WebexBackend() as backend:
        backend.create(spec())
    assert [r.status for r in oauth.requests] == [401, 200, 200]
    assert oauth.connections == 1
