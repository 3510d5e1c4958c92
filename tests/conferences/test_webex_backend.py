"""The Webex backend against a fake Webex that validates requests with Cisco's OpenAPI file."""

from __future__ import annotations

import email.utils
import gc
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone

from conferences.video import (
    AmbiguousVideoError,
    Invitee,
    MeetingSpec,
    PermanentVideoError,
    RateLimitedVideoError,
    TransientVideoError,
)
from conferences.video.webex import WebexBackend
from tests.conferences.fake_webex import FakeWebex

START = (timezone.now() + timedelta(days=20)).replace(microsecond=0)


def spec(key: str = "conference:1:v1", **changes: Any) -> MeetingSpec:
    values: dict[str, Any] = {
        "key": key,
        "title": "Case discussion: ECMO and MetabERN",
        "start": START,
        "end": START + timedelta(hours=1),
        "time_zone": "Europe/Brussels",
        "agenda": "Two cases, ten minutes each.",
        "invitees": (Invitee(email="ana@hospital.example.org", name="Ana Novak"),),
    }
    values.update(changes)
    return MeetingSpec(**values)


@pytest.fixture
def backend(fake_webex: FakeWebex, settings: Any) -> WebexBackend:
    settings.WEBEX_BASE_URL = fake_webex.base_url
    settings.WEBEX_ACCESS_TOKEN = "test-token"
    settings.WEBEX_HOST_EMAIL = "host@example.org"
    settings.WEBEX_SITE_URL = "example.webex.com"
    settings.WEBEX_TIMEOUT = 0.5
    return WebexBackend()


def window() -> dict[str, Any]:
    return {"start": START - timedelta(days=1), "end": START + timedelta(days=1)}


def test_create_sends_a_valid_body_and_the_fake_holds_exactly_one_meeting(
    backend: WebexBackend, fake_webex: FakeWebex
) -> None:
    meeting = backend.create(spec(title="T" * 300, agenda="A" * 5000))
    assert len(fake_webex.meetings) == 1
    [sent] = fake_webex.requests_to("POST", "/meetings")
    assert sent.status == 200 and sent.violations == []
    assert sent.body["integrationTags"] == ["conference:1:v1"]
    assert sent.body["sendEmail"] is False
    assert sent.body["scheduledType"] == "meeting"
    assert sent.body["title"] == "T" * 128
    assert sent.body["agenda"] == "A" * 1300
    assert sent.body["hostEmail"] == "host@example.org"
    assert sent.body["siteUrl"] == "example.webex.com"
    assert sent.body["invitees"] == [{"email": "ana@hospital.example.org", "displayName": "Ana Novak"}]
    assert sent.headers["Authorization"] == "Bearer test-token"
    stored = fake_webex.meetings[meeting.provider_id]
    assert meeting.join_url == stored["webLink"]
    assert meeting.start == START and meeting.key == "conference:1:v1"


def test_a_webinar_is_scheduled_as_a_webinar_with_its_panelists(
    backend: WebexBackend, fake_webex: FakeWebex, settings: Any
) -> None:
    settings.WEBEX_WEBINAR_SESSION_TYPE = "628"
    backend = WebexBackend()
    backend.create(
        spec(
            kind="webinar", invitees=(Invitee(email="p@hospital.example.org", name="P. Anel", panelist=True),)
        )
    )
    [sent] = fake_webex.requests_to("POST", "/meetings")
    assert sent.violations == []
    assert sent.body["scheduledType"] == "webinar"
    assert sent.body["sessionTypeId"] == 628
    assert sent.body["invitees"][0]["panelist"] is True
    backend.create(spec(key="a-meeting"))
    assert "sessionTypeId" not in fake_webex.requests_to("POST", "/meetings")[1].body


def test_the_agenda_is_only_ever_the_specs_agenda(backend: WebexBackend, fake_webex: FakeWebex) -> None:
    backend.create(spec(agenda=""))
    [sent] = fake_webex.requests_to("POST", "/meetings")
    assert sent.body["agenda"] == ""


def test_a_retried_create_after_an_ambiguous_timeout_finds_the_meeting_by_key(
    backend: WebexBackend, fake_webex: FakeWebex
) -> None:
    fake_webex.stall_next_create()
    with pytest.raises(AmbiguousVideoError):
        backend.create(spec())
    # As a caller would: look for the meeting by its key before creating it again.
    found = backend.find_by_key("conference:1:v1", **window())
    if found is None:
        found = backend.create(spec())
    assert len(fake_webex.meetings) == 1
    assert found.provider_id in fake_webex.meetings
    assert len(fake_webex.requests_to("POST", "/meetings")) == 1


def test_find_by_key_sends_an_explicit_time_window(backend: WebexBackend, fake_webex: FakeWebex) -> None:
    created = backend.create(spec())
    found = backend.find_by_key("conference:1:v1", **window())
    assert found is not None and found.provider_id == created.provider_id
    [sent] = fake_webex.requests_to("GET", "/meetings")
    assert sent.query["integrationTag"] == ["conference:1:v1"]
    assert sent.query["from"] == [(START - timedelta(days=1)).isoformat(timespec="seconds")]
    assert sent.query["to"] == [(START + timedelta(days=1)).isoformat(timespec="seconds")]


def test_find_by_key_finds_nothing_for_another_key_or_outside_the_window(backend: WebexBackend) -> None:
    backend.create(spec())
    assert backend.find_by_key("conference:2:v1", **window()) is None
    assert (
        backend.find_by_key("conference:1:v1", start=START + timedelta(days=1), end=START + timedelta(days=3))
        is None
    )


def test_a_key_too_long_for_a_webex_integration_tag_is_refused_before_sending(
    backend: WebexBackend, fake_webex: FakeWebex
) -> None:
    with pytest.raises(PermanentVideoError):
        backend.create(spec(key="k" * 65))
    assert fake_webex.requests == []


def test_429_with_retry_after_is_rate_limited_for_that_long(
    backend: WebexBackend, fake_webex: FakeWebex
) -> None:
    fake_webex.answer_next(429, headers={"Retry-After": "30"})
    with pytest.raises(RateLimitedVideoError) as caught:
        backend.create(spec())
    assert caught.value.retry_after == 30.0
    assert caught.value.tracking_id == fake_webex.tracking_ids[-1]
    assert fake_webex.meetings == {}


def test_429_without_retry_after_is_rate_limited_for_an_unknown_time(
    backend: WebexBackend, fake_webex: FakeWebex
) -> None:
    fake_webex.answer_next(429)
    with pytest.raises(RateLimitedVideoError) as caught:
        backend.find_by_key("conference:1:v1", **window())
    assert caught.value.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient_and_carry_the_tracking_id(
    backend: WebexBackend, fake_webex: FakeWebex, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    fake_webex.answer_next(status, times=1)
    with (
        caplog.at_level(logging.WARNING, logger="conferences.video.webex"),
        pytest.raises(TransientVideoError) as caught,
    ):
        backend.create(spec())
    assert not isinstance(caught.value, (RateLimitedVideoError, AmbiguousVideoError))
    assert caught.value.tracking_id == fake_webex.tracking_ids[-1]
    assert fake_webex.tracking_ids[-1] in caplog.text
    # The next call goes through.
    backend.create(spec())
    assert len(fake_webex.meetings) == 1


def test_a_refused_connection_is_transient(backend: WebexBackend, settings: Any) -> None:
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    settings.WEBEX_BASE_URL = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(TransientVideoError) as caught:
        WebexBackend().create(spec())
    assert not isinstance(caught.value, AmbiguousVideoError)


def test_an_invalid_body_is_a_permanent_error_with_the_violations(
    backend: WebexBackend, fake_webex: FakeWebex
) -> None:
    # Past the client's own trimming: straight through the HTTP layer.
    body = {"title": "T" * 129, "start": START.isoformat(), "end": (START + timedelta(hours=1)).isoformat()}
    with pytest.raises(PermanentVideoError) as caught:
        backend.request("POST", "/meetings", body=body)
    assert "title: longer than 128 characters" in str(caught.value)
    assert caught.value.tracking_id == fake_webex.tracking_ids[-1]
    assert fake_webex.meetings == {}


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_client_errors_are_permanent(backend: WebexBackend, fake_webex: FakeWebex, status: int) -> None:
    fake_webex.answer_next(status)
    with pytest.raises(PermanentVideoError) as caught:
        backend.create(spec())
    assert caught.value.tracking_id == fake_webex.tracking_ids[-1]


def test_the_fake_refuses_a_body_without_a_title(backend: WebexBackend, fake_webex: FakeWebex) -> None:
    body = {"start": START.isoformat(), "end": (START + timedelta(hours=1)).isoformat()}
    with pytest.raises(PermanentVideoError) as caught:
        backend.request("POST", "/meetings", body=body)
    [sent] = fake_webex.requests_to("POST", "/meetings")
    assert sent.status == 400
    assert any("'title' is a required property" in v for v in sent.violations)
    assert "'title' is a required property" in str(caught.value)


def test_the_fake_refuses_a_body_of_the_wrong_type(backend: WebexBackend, fake_webex: FakeWebex) -> None:
    with pytest.raises(PermanentVideoError):
        backend.request(
            "POST", "/meetingInvitees", body={"meetingId": "x", "email": "a@b.c", "panelist": "yes"}
        )
    [sent] = fake_webex.requests_to("POST", "/meetingInvitees")
    assert sent.status == 400 and any(v.startswith("panelist:") for v in sent.violations)


def test_cancelling_a_meeting_already_deleted_is_done(backend: WebexBackend, fake_webex: FakeWebex) -> None:
    meeting = backend.create(spec())
    backend.cancel(meeting.provider_id)
    assert fake_webex.meetings == {}
    backend.cancel(meeting.provider_id)
    statuses = [r.status for r in fake_webex.requests_to("DELETE", f"/meetings/{meeting.provider_id}")]
    assert statuses == [204, 404]


def test_a_gone_meeting_counts_as_cancelled(backend: WebexBackend, fake_webex: FakeWebex) -> None:
    meeting = backend.create(spec())
    fake_webex.answer_next(410)
    backend.cancel(meeting.provider_id)  # no error: gone is as good as cancelled
    [sent] = fake_webex.requests_to("DELETE", f"/meetings/{meeting.provider_id}")
    assert sent.status == 410 and sent.query["sendEmail"] == ["false"]


def test_update_moves_the_meeting_on_webex(backend: WebexBackend, fake_webex: FakeWebex) -> None:
    meeting = backend.create(spec())
    later = START + timedelta(hours=2)
    moved = backend.update(
        meeting.provider_id, spec(title="Moved", start=later, end=later + timedelta(hours=1))
    )
    [sent] = fake_webex.requests_to("PATCH", f"/meetings/{meeting.provider_id}")
    assert sent.violations == [] and sent.status == 200
    stored = fake_webex.meetings[meeting.provider_id]
    assert stored["title"] == "Moved"
    assert stored["start"] == later.isoformat(timespec="seconds")
    assert moved.start == later and moved.end == later + timedelta(hours=1)


def test_updating_a_meeting_that_is_gone_is_permanent(backend: WebexBackend) -> None:
    with pytest.raises(PermanentVideoError):
        backend.update("no-such-meeting", spec())


def test_add_invitee_and_add_registrant_send_valid_bodies(
    backend: WebexBackend, fake_webex: FakeWebex
) -> None:
    meeting = backend.create(spec(kind="webinar", invitees=()))
    backend.add_invitee(
        meeting.provider_id, Invitee(email="jan@hospital.example.org", name="Jan", panelist=True)
    )
    backend.add_registrant(
        meeting.provider_id, Invitee(email="eva@hospital.example.org", name="Eva Maria Kovac")
    )
    backend.add_registrant(meeting.provider_id, Invitee(email="solo@hospital.example.org"))
    [invited] = fake_webex.requests_to("POST", "/meetingInvitees")
    assert invited.status == 200 and invited.violations == []
    assert invited.body == {
        "meetingId": meeting.provider_id,
        "email": "jan@hospital.example.org",
        "displayName": "Jan",
        "panelist": True,
        "sendEmail": False,
        "hostEmail": "host@example.org",
    }
    registered = fake_webex.requests_to("POST", f"/meetings/{meeting.provider_id}/registrants")
    assert [r.status for r in registered] == [200, 200]
    assert all(r.violations == [] for r in registered)
    assert registered[0].body["firstName"] == "Eva Maria" and registered[0].body["lastName"] == "Kovac"
    assert registered[1].body["firstName"] == registered[1].body["lastName"] == "solo"
    assert [r["email"] for r in fake_webex.registrants] == [
        "eva@hospital.example.org",
        "solo@hospital.example.org",
    ]


def test_remove_invitee_finds_the_invitee_by_email_across_pages_and_deletes_them(
    backend: WebexBackend, fake_webex: FakeWebex
) -> None:
    meeting = backend.create(spec())
    for n in range(150):
        backend.add_invitee(meeting.provider_id, Invitee(email=f"colleague{n:03}@hospital.example.org"))
    backend.add_invitee(meeting.provider_id, Invitee(email="Zoe.Last@hospital.example.org"))

    assert backend.remove_invitee(meeting.provider_id, "zoe.last@hospital.example.org") is True

    remaining = fake_webex.invitees_of(meeting.provider_id)
    assert len(remaining) == 151 and "Zoe.Last@hospital.example.org" not in remaining
    pages = fake_webex.requests_to("GET", "/meetingInvitees")
    assert len(pages) == 2 and all(page.status == 200 for page in pages)
    assert pages[0].query["meetingId"] == [meeting.provider_id] and pages[0].query["max"] == ["100"]
    [deleted] = [r for r in fake_webex.requests if r.method == "DELETE"]
    assert deleted.status == 204 and deleted.query == {
        "sendEmail": ["false"],
        "hostEmail": ["host@example.org"],
    }
    assert all(request.violations == [] for request in fake_webex.requests)


def test_removing_someone_not_on_the_meeting_is_done_without_a_delete(
    backend: WebexBackend, fake_webex: FakeWebex
) -> None:
    meeting = backend.create(spec(kind="webinar"))
    assert backend.remove_invitee(meeting.provider_id, "nobody@hospital.example.org") is False
    assert backend.remove_registrant(meeting.provider_id, "nobody@hospital.example.org") is False
    assert [r for r in fake_webex.requests if r.method == "DELETE"] == []
    assert fake_webex.invitees_of(meeting.provider_id) == ["ana@hospital.example.org"]


def test_remove_registrant_queries_the_registrant_by_email_and_deletes_them(
    backend: WebexBackend, fake_webex: FakeWebex
) -> None:
    meeting = backend.create(spec(kind="webinar", invitees=()))
    backend.add_registrant(meeting.provider_id, Invitee(email="eva@hospital.example.org", name="Eva Kovac"))
    backend.add_registrant(meeting.provider_id, Invitee(email="jan@hospital.example.org", name="Jan Novak"))

    assert backend.remove_registrant(meeting.provider_id, "eva@hospital.example.org") is True

    assert fake_webex.registrants_of(meeting.provider_id) == ["jan@hospital.example.org"]
    [query] = fake_webex.requests_to("POST", f"/meetings/{meeting.provider_id}/registrants/query")
    assert query.violations == [] and query.body == {"emails": ["eva@hospital.example.org"]}
    [deleted] = [r for r in fake_webex.requests if r.method == "DELETE"]
    assert deleted.status == 204


def test_the_fake_refuses_a_query_string_the_openapi_file_does_not_allow(
    backend: WebexBackend, fake_webex: FakeWebex
) -> None:
    with pytest.raises(PermanentVideoError) as caught:
        backend.request("GET", "/meetingInvitees", query={"max": "many"})
    assert "query meetingId: required" in str(caught.value)
    assert "query max: 'many' is not a number" in str(caught.value)


# The transport: one keep-alive connection per backend, one total timeout, errors classified.


def test_the_calls_of_one_backend_share_one_connection(backend: WebexBackend, fake_webex: FakeWebex) -> None:
    webinar = backend.create(spec(kind="webinar", invitees=()))
    for n in range(20):
        backend.add_registrant(
            webinar.provider_id, Invitee(email=f"r{n:02}@hospital.example.org", name="R N")
        )
    assert backend.remove_registrant(webinar.provider_id, "r07@hospital.example.org") is True
    assert backend.find_by_key("conference:1:v1", **window()) is not None
    assert len(fake_webex.registrants_of(webinar.provider_id)) == 19
    assert len(fake_webex.requests) == 24 and all(r.status in (200, 204) for r in fake_webex.requests)
    assert fake_webex.connections == 1
    # Another backend (another task run) has a connection of its own.
    WebexBackend().find_by_key("conference:1:v1", **window())
    assert fake_webex.connections == 2


def test_a_backend_closes_its_connections_when_closed_or_dropped(
    fake_webex: FakeWebex, settings: Any
) -> None:
    settings.WEBEX_BASE_URL = fake_webex.base_url
    settings.WEBEX_ACCESS_TOKEN = "test-token"
    with WebexBackend() as backend:
        backend.create(spec())
    assert backend._client.is_closed
    dropped = WebexBackend()
    dropped.find_by_key("conference:1:v1", **window())
    client = dropped._client
    del dropped  # as the pipeline does: the backend goes when its task run returns
    gc.collect()
    assert client.is_closed


def test_a_trickling_answer_to_a_create_fails_within_the_timeout_and_is_ambiguous(
    backend: WebexBackend, fake_webex: FakeWebex
) -> None:
    # Every byte comes well within the 0.5 s timeout; the whole answer would take half a minute.
    fake_webex.trickle_next(0.05)
    started = time.monotonic()
    with pytest.raises(AmbiguousVideoError):
        backend.create(spec())
    assert time.monotonic() - started < 1.5
    # The create was done: the retry finds it, on a new connection.
    assert backend.find_by_key("conference:1:v1", **window()) is not None
    assert len(fake_webex.meetings) == 1 and fake_webex.connections == 2


def test_a_trickling_answer_to_a_read_fails_within_the_timeout_and_is_transient(
    backend: WebexBackend, fake_webex: FakeWebex
) -> None:
    fake_webex.trickle_next(0.05)
    started = time.monotonic()
    with pytest.raises(TransientVideoError) as caught:
        backend.find_by_key("conference:1:v1", **window())
    assert time.monotonic() - started < 1.5
    assert not isinstance(caught.value, AmbiguousVideoError)


def mock_backend(answer: Callable[[httpx.Request], httpx.Response]) -> WebexBackend:
    """A backend whose requests are answered (or failed) by `answer`, without a network."""
    return WebexBackend(transport=httpx.MockTransport(answer))


def failing(error: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        raise error("no luck", request=request)

    return answer


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError])
def test_no_answer_after_a_post_was_sent_is_ambiguous_and_after_a_get_transient(
    backend: WebexBackend, error: type[httpx.TransportError]
) -> None:
    webex = mock_backend(failing(error))
    with pytest.raises(AmbiguousVideoError) as ambiguous:
        webex.create(spec())
    assert ambiguous.value.status is None
    with pytest.raises(TransientVideoError) as transient:
        webex.find_by_key("conference:1:v1", **window())
    assert not isinstance(transient.value, AmbiguousVideoError)


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout])
def test_a_create_that_could_not_connect_is_transient_not_ambiguous(
    backend: WebexBackend, error: type[httpx.TransportError]
) -> None:
    with pytest.raises(TransientVideoError) as caught:
        mock_backend(failing(error)).create(spec())
    assert not isinstance(caught.value, AmbiguousVideoError)
    assert "cannot connect" in str(caught.value)


def test_429_with_an_http_date_retry_after_waits_until_that_date(backend: WebexBackend) -> None:
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    webex = mock_backend(lambda request: httpx.Response(429, headers={"Retry-After": later}))
    with pytest.raises(RateLimitedVideoError) as caught:
        webex.add_registrant("m1", Invitee(email="eva@hospital.example.org"))
    assert caught.value.retry_after is not None and 115 <= caught.value.retry_after <= 120


def test_the_tracking_id_is_read_from_the_body_without_the_header(backend: WebexBackend) -> None:
    webex = mock_backend(
        lambda request: httpx.Response(409, json={"message": "Conflict.", "trackingId": "ROUTER_1234"})
    )
    with pytest.raises(PermanentVideoError) as caught:
        webex.create(spec())
    assert caught.value.tracking_id == "ROUTER_1234" and caught.value.status == 409
    assert "Conflict." in str(caught.value)
