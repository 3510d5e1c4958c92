"""The Webex backend: meetings and webinars through Cisco's Webex Meetings REST API.

Written against Cisco's OpenAPI description of the API (webex-meeting.json, see
WEBEX_OPENAPI_SPEC, ../shared/webex/ beside the checkout); the tests run it against a fake server that validates
every request body against that description. The token half is webex_oauth.py, the HTTP
transport with its whole-exchange deadline webex_transport.py.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
import weakref
from collections.abc import Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
from django.conf import settings

from . import (
    AmbiguousVideoError,
    Invitee,
    MeetingSpec,
    PermanentVideoError,
    ProviderMeeting,
    RateLimitedVideoError,
    TransientVideoError,
    VideoBackend,
    VideoError,
)
from .webex_oauth import WebexOAuth
from .webex_transport import DEADLINE, DeadlineTransport

logger = logging.getLogger(__name__)

# Limits documented in the OpenAPI descriptions (not expressed as schema keywords).
TITLE_MAX = 128
AGENDA_MAX = 1300
INTEGRATION_TAG_MAX = 64

TRANSIENT_STATUSES = {500, 502, 503, 504}
GONE_STATUSES = {404, 410}
# Lists are read 100 items a page (the API's most), following `Link: <…>; rel="next"`.
PAGE_SIZE = 100
MAX_PAGES = 100
NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
# Failures that leave the request unsent: nothing can have been done on Webex.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _split_name(invitee: Invitee) -> tuple[str, str]:
    """First and last name for a registrant (both required by the API)."""
    words = invitee.name.split()
    if not words:
        local = invitee.email.split("@", 1)[0] or invitee.email
        return local, local
    if len(words) == 1:
        return words[0], words[0]
    return " ".join(words[:-1]), words[-1]


class WebexBackend(WebexOAuth, VideoBackend):
    """Webex Meetings over its REST API (https://webexapis.com/v1 by default).

    Settings, read when the backend is made: WEBEX_BASE_URL, WEBEX_ACCESS_TOKEN,
    WEBEX_CLIENT_ID, WEBEX_CLIENT_SECRET, WEBEX_REFRESH_TOKEN,
    WEBEX_HOST_EMAIL (admin scopes: schedule for this host), WEBEX_SITE_URL,
    WEBEX_TIMEOUT (seconds: the most one HTTP exchange may take in all, from connecting
    to the last byte of the answer; a call that refreshes the token after a 401 makes
    at most three exchanges).

    One backend keeps one httpx client, so its calls (a loop of registrant adds) share one
    keep-alive connection instead of opening a TCP and TLS connection each. close() it, or
    use it as a context manager; one dropped without closing closes its connections when
    it is garbage-collected (the pipeline makes one per task run and lets it go).

    Authentication: WEBEX_ACCESS_TOKEN, when set, is used as is and never refreshed (a
    401 is then permanent). Otherwise OAuth: the access and refresh tokens live in the
    single WebexToken row (conferences.models), seeded from WEBEX_REFRESH_TOKEN. An access
    token that is missing or expires within webex_oauth.REFRESH_MARGIN is refreshed first
    (POST /access_token, grant_type=refresh_token) under a row lock, so that workers share
    one token and only one of them refreshes at a time; the rotated refresh token is
    stored. A 401 on a call refreshes once and retries the call once; a second 401 is
    permanent. A refresh refused by Webex (4xx) marks the row failed: every call then
    raises PermanentVideoError at once, without asking Webex (no retry storm), until an
    operator sets a new refresh token with WebexToken.reset(refresh_token=...).

    Every failed call raises a classified VideoError carrying Webex's trackingId and is
    logged with it: 429 -> RateLimitedVideoError (retry_after from Retry-After);
    500/502/503/504 and connection failures before the request was sent ->
    TransientVideoError; a timeout or dropped connection after a POST was sent ->
    AmbiguousVideoError (the meeting may exist: find_by_key before creating again);
    other 4xx -> PermanentVideoError.

    No retries or back-off here: the caller (the ProviderMeeting pipeline in
    conferences.meetings.pipeline) decides, from the error class, whether and when to retry.
    update() changes title, agenda and times only; the pipeline adds and removes
    invitees and registrants one by one (add_invitee/remove_invitee, POST and DELETE
    /meetingInvitees; add_registrant/remove_registrant, POST /meetings/{id}/registrants,
    its /query and DELETE), never letting Webex email anyone. Only the first page of
    GET /meetings is read (find_by_key expects one match); the invitee list is read
    page by page.
    """

    def __init__(self, *, transport: httpx.BaseTransport | None = None) -> None:
        """`transport` replaces the network (tests: httpx.MockTransport)."""
        self.base_url = getattr(settings, "WEBEX_BASE_URL", "https://webexapis.com/v1").rstrip("/")
        self.access_token = getattr(settings, "WEBEX_ACCESS_TOKEN", "")
        self.client_id = getattr(settings, "WEBEX_CLIENT_ID", "")
        self.client_secret = getattr(settings, "WEBEX_CLIENT_SECRET", "")
        self.host_email = getattr(settings, "WEBEX_HOST_EMAIL", "")
        self.site_url = getattr(settings, "WEBEX_SITE_URL", "")
        self.timeout = float(getattr(settings, "WEBEX_TIMEOUT", 10))
        self.webinar_session_type = str(getattr(settings, "WEBEX_WEBINAR_SESSION_TYPE", "") or "")
        # Timeout for every phase; _send's deadline makes it the bound of the whole exchange.
        self._client = httpx.Client(
            transport=transport or DeadlineTransport(), timeout=httpx.Timeout(self.timeout), trust_env=False
        )
        # Not a method of self: the finalizer must not keep the backend alive.
        self._closer = weakref.finalize(self, self._client.close)

    def close(self) -> None:
        """Close the connections this backend keeps open to Webex."""
        self._closer()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # The adapter interface.

    def create(self, spec: MeetingSpec) -> ProviderMeeting:
        body = self._meeting_body(spec)
        body["integrationTags"] = [self._tag(spec.key)]
        body["scheduledType"] = "webinar" if spec.kind == "webinar" else "meeting"
        if spec.kind == "webinar" and self.webinar_session_type.isdigit():
            body["sessionTypeId"] = int(self.webinar_session_type)
        if self.site_url:
            body["siteUrl"] = self.site_url
        if spec.invitees:
            # CreateMeetingObject.invitees: InviteeObjectForCreateMeeting (email required).
            body["invitees"] = [self._invitee(invitee, spec.kind) for invitee in spec.invitees]
        return self._as_meeting(self.request("POST", "/meetings", body=body), spec.key)

    def find_by_key(self, key: str, *, start: datetime, end: datetime) -> ProviderMeeting | None:
        # Explicit from/to: without them the API looks only 7 days ahead.
        query = {"integrationTag": self._tag(key), "from": _iso(start), "to": _iso(end)}
        if self.host_email:
            query["hostEmail"] = self.host_email
        if self.site_url:
            query["siteUrl"] = self.site_url
        answer = self.request("GET", "/meetings", query=query)
        items = answer.get("items") or []
        return self._as_meeting(items[0], key) if items else None

    def update(self, provider_id: str, spec: MeetingSpec) -> ProviderMeeting:
        # PatchMeetingObject requires nothing; we send what we own. Its content type in
        # the OpenAPI description is application/json-patch+json (an object, not RFC 6902 ops).
        body = self._meeting_body(spec)
        answer = self.request(
            "PATCH",
            f"/meetings/{quote(provider_id, safe='')}",
            body=body,
            content_type="application/json-patch+json",
        )
        return self._as_meeting(answer, spec.key)

    def cancel(self, provider_id: str) -> None:
        query = {"sendEmail": "false"}
        if self.host_email:
            query["hostEmail"] = self.host_email
        try:
            self.request("DELETE", f"/meetings/{quote(provider_id, safe='')}", query=query)
        except PermanentVideoError as error:
            if getattr(error, "status", None) in GONE_STATUSES:
                return  # already gone counts as cancelled
            raise

    def add_invitee(self, provider_id: str, invitee: Invitee) -> None:
        body: dict[str, Any] = {
            "meetingId": provider_id,
            **self._invitee(invitee, "webinar"),
            "sendEmail": False,
        }
        if self.host_email:
            body["hostEmail"] = self.host_email
        self.request("POST", "/meetingInvitees", body=body)

    def add_registrant(self, provider_id: str, invitee: Invitee) -> None:
        first, last = _split_name(invitee)
        body = {"firstName": first, "lastName": last, "email": invitee.email, "sendEmail": False}
        query = {"hostEmail": self.host_email} if self.host_email else None
        self.request("POST", f"/meetings/{quote(provider_id, safe='')}/registrants", body=body, query=query)

    def remove_invitee(self, provider_id: str, email: str) -> bool:
        # GET /meetingInvitees has no filter by email: read the list (sorted by email,
        # paged), then DELETE /meetingInvitees/{meetingInviteeId} with sendEmail=false.
        query = {"meetingId": provider_id, "max": str(PAGE_SIZE)}
        if self.host_email:
            query["hostEmail"] = self.host_email
        wanted = email.lower()
        for item in self._pages("/meetingInvitees", query):
            if str(item.get("email", "")).lower() == wanted and item.get("id"):
                return self._delete(f"/meetingInvitees/{quote(str(item['id']), safe='')}", send_email=False)
        return False

    def remove_registrant(self, provider_id: str, email: str) -> bool:
        # POST /meetings/{meetingId}/registrants/query finds them by email (the GET list
        # only looks 7 days back in registration time), then DELETE each one found.
        meeting = f"/meetings/{quote(provider_id, safe='')}/registrants"
        query = {"hostEmail": self.host_email} if self.host_email else None
        answer = self.request("POST", f"{meeting}/query", body={"emails": [email]}, query=query)
        found = [
            str(item["id"])
            for item in answer.get("items") or []
            if isinstance(item, dict)
            and str(item.get("email", "")).lower() == email.lower()
            and item.get("id")
        ]
        removed = [self._delete(f"{meeting}/{quote(registrant, safe='')}") for registrant in found]
        return any(removed)

    def _delete(self, path: str, *, send_email: bool | None = None) -> bool:
        """DELETE one invitee or registrant; False when it was already gone."""
        query = {} if send_email is None else {"sendEmail": "true" if send_email else "false"}
        if self.host_email:
            query["hostEmail"] = self.host_email
        try:
            self.request("DELETE", path, query=query)
        except PermanentVideoError as error:
            if getattr(error, "status", None) in GONE_STATUSES:
                return False
            raise
        return True

    def _pages(self, path: str, query: dict[str, str]) -> Iterator[dict[str, Any]]:
        """The items of a list, page after page, following `Link: <…>; rel="next"` only
        to our own API (the bearer token goes nowhere else)."""
        base = urlsplit(self.base_url)
        for _ in range(MAX_PAGES):
            data, link = self._request_page(path, query)
            yield from (item for item in data.get("items") or [] if isinstance(item, dict))
            found = NEXT_LINK.search(link or "")
            if found is None:
                return
            following = urlsplit(found.group(1))
            if (following.scheme, following.netloc) != (
                base.scheme,
                base.netloc,
            ) or not following.path.startswith(base.path):
                logger.warning("Webex %s: not following a next page outside %s", path, self.base_url)
                return
            path = following.path.removeprefix(base.path) or "/"
            query = dict(parse_qsl(following.query, keep_blank_values=True))

    # Building bodies and reading answers.

    def _meeting_body(self, spec: MeetingSpec) -> dict[str, Any]:
        body: dict[str, Any] = {
            "title": spec.title[:TITLE_MAX],
            "agenda": spec.agenda[:AGENDA_MAX],
            "start": _iso(spec.start),
            "end": _iso(spec.end),
            "timezone": spec.time_zone,
            "sendEmail": False,
        }
        if self.host_email:
            body["hostEmail"] = self.host_email
        return body

    @staticmethod
    def _tag(key: str) -> str:
        if not key or len(key) > INTEGRATION_TAG_MAX:
            raise PermanentVideoError(
                f"Webex integration tags are 1 to {INTEGRATION_TAG_MAX} characters: {key!r}"
            )
        return key

    @staticmethod
    def _invitee(invitee: Invitee, kind: str) -> dict[str, Any]:
        item: dict[str, Any] = {"email": invitee.email}
        if invitee.name:
            item["displayName"] = invitee.name[:TITLE_MAX]
        if kind == "webinar" and invitee.panelist:
            item["panelist"] = True
        return item

    @staticmethod
    def _as_meeting(data: dict[str, Any], key: str) -> ProviderMeeting:
        try:
            return ProviderMeeting(
                provider_id=str(data["id"]),
                key=key,
                title=data.get("title", ""),
                start=_parse_time(data["start"]),
                end=_parse_time(data["end"]),
                join_url=data.get("webLink", ""),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise PermanentVideoError(f"Unexpected meeting from Webex: {error!r}") from error

    # The HTTP layer.

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        query: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """One call to the API; the decoded JSON answer, or a classified VideoError.

        With OAuth, a 401 refreshes the access token once and repeats the call once."""
        data, _link = self._call(method, path, body=body, query=query, content_type=content_type)
        return data

    def _request_page(self, path: str, query: dict[str, str]) -> tuple[dict[str, Any], str]:
        """A GET of one page of a list: the answer and its Link header."""
        return self._call("GET", path, body=None, query=query, content_type="application/json")

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None,
        query: dict[str, str] | None,
        content_type: str,
    ) -> tuple[dict[str, Any], str]:
        target = path + (f"?{urlencode(query)}" if query else "")
        payload = None
        headers = {"Accept": "application/json"}
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        token = self._bearer()
        for attempt in (1, 2):
            headers["Authorization"] = f"Bearer {token}"
            status, data, response = self._send(
                method, target, payload=payload, headers=headers, log_path=path
            )
            if status == 401 and self.uses_oauth and attempt == 1:
                # Refused before anything was done: refresh and repeat the call once.
                token = self._refresh(rejected=token)
                continue
            break
        tracking_id = response.headers.get("trackingId") or str(data.get("trackingId") or "")
        if status < 400:
            return data, response.headers.get("Link") or ""
        raise self._log(self._classify(status, data, response, tracking_id), method, path)

    def _send(
        self,
        method: str,
        target: str,
        *,
        payload: bytes | None,
        headers: dict[str, str],
        log_path: str = "",
        ambiguous_after_send: bool = True,
    ) -> tuple[int, dict[str, Any], httpx.Response]:
        """Send one request on the backend's client; the status, the decoded JSON answer and
        the response, or a TransientVideoError / AmbiguousVideoError when no answer came
        within WEBEX_TIMEOUT in all."""
        path = log_path or target
        deadline = DEADLINE.set(time.monotonic() + self.timeout)
        try:
            # The target is encoded already (urlencode: "+01:00" goes as %2B01%3A00).
            response = self._client.request(
                method, f"{self.base_url}{target}", content=payload, headers=headers
            )
        except NOT_SENT as error:
            raise self._fail(
                TransientVideoError, method, path, f"cannot connect: {type(error).__name__}: {error}"
            ) from error
        except httpx.RequestError as error:
            # Sent, perhaps in full (a read timeout, a connection dropped before the answer,
            # an answer cut short): a POST may have been carried out.
            if method == "POST" and ambiguous_after_send:
                raise self._fail(
                    AmbiguousVideoError,
                    method,
                    path,
                    f"no answer after sending (may have been done): {type(error).__name__}: {error}",
                ) from error
            raise self._fail(
                TransientVideoError, method, path, f"no answer: {type(error).__name__}: {error}"
            ) from error
        finally:
            DEADLINE.reset(deadline)

        try:
            data = json.loads(response.content) if response.content else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {"items": data}
        return response.status_code, data, response

    @staticmethod
    def _classify(
        status: int,
        data: dict[str, Any],
        response: httpx.Response,
        tracking_id: str,
        prefix: str = "",
    ) -> VideoError:
        message = str(data.get("message") or response.reason_phrase or "")
        details = "; ".join(
            str(e.get("description", e)) for e in data.get("errors") or [] if isinstance(e, dict)
        )
        text = f"{prefix or 'Webex '}{status}: {message}" + (f" ({details})" if details else "")
        error: VideoError
        if status == 429:
            error = RateLimitedVideoError(
                text, retry_after=_retry_after(response.headers.get("Retry-After")), tracking_id=tracking_id
            )
        elif status in TRANSIENT_STATUSES:
            error = TransientVideoError(text, tracking_id=tracking_id)
        else:
            # 400/401/403/404/409/410 and the rest: retrying the same call will not help.
            # (A 401 with OAuth was already refreshed and retried once by request().)
            error = PermanentVideoError(text, tracking_id=tracking_id)
        error.status = status
        return error

    def _fail(self, kind: type[VideoError], method: str, path: str, text: str) -> VideoError:
        error = kind(f"Webex {method} {path}: {text}")
        error.status = None
        return self._log(error, method, path)

    @staticmethod
    def _log(error: VideoError, method: str, path: str) -> VideoError:
        logger.warning(
            "Webex %s %s failed (%s): %s trackingId=%s",
            method,
            path,
            type(error).__name__,
            error,
            error.tracking_id or "-",
        )
        return error
