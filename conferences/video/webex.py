"""The Webex backend: meetings and webinars through Cisco's Webex Meetings REST API.

Written against Cisco's OpenAPI description of the API (webex-meeting.json, see
/work/shared/webex/README.md); the tests run it against a fake server that validates
every request body against that description.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import time
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

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

logger = logging.getLogger(__name__)

# Limits documented in the OpenAPI descriptions (not expressed as schema keywords).
TITLE_MAX = 128
AGENDA_MAX = 1300
INTEGRATION_TAG_MAX = 64

TRANSIENT_STATUSES = {500, 502, 503, 504}
GONE_STATUSES = {404, 410}


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


class WebexBackend(VideoBackend):
    """Webex Meetings over its REST API (https://webexapis.com/v1 by default).

    Settings, read when the backend is made: WEBEX_BASE_URL, WEBEX_ACCESS_TOKEN,
    WEBEX_HOST_EMAIL (admin scopes: schedule for this host), WEBEX_SITE_URL,
    WEBEX_TIMEOUT (seconds, for connecting and for each read).

    Every failed call raises a classified VideoError carrying Webex's trackingId and is
    logged with it: 429 -> RateLimitedVideoError (retry_after from Retry-After);
    500/502/503/504 and connection failures before the request was sent ->
    TransientVideoError; a timeout or dropped connection after a POST was sent ->
    AmbiguousVideoError (the meeting may exist: find_by_key before creating again);
    other 4xx -> PermanentVideoError.

    Not done yet:
    - OAuth: the access token is a static setting. There is no refresh-token flow
      (POST /access_token) and no shared token row in the database that workers update
      under a lock; a 401 is therefore permanent for now instead of "refresh and retry".
    - No retries or back-off here: the caller (the ProviderMeeting pipeline, still to be
      built) decides, from the error class, whether and when to retry.
    - Invitees are sent on create only; update() changes title, agenda and times but does
      not reconcile invitees.
    - Only the first page of GET /meetings is read (find_by_key expects one match).
    """

    def __init__(self) -> None:
        self.base_url = getattr(settings, "WEBEX_BASE_URL", "https://webexapis.com/v1").rstrip("/")
        self.access_token = getattr(settings, "WEBEX_ACCESS_TOKEN", "")
        self.host_email = getattr(settings, "WEBEX_HOST_EMAIL", "")
        self.site_url = getattr(settings, "WEBEX_SITE_URL", "")
        self.timeout = float(getattr(settings, "WEBEX_TIMEOUT", 10))

    # The adapter interface.

    def create(self, spec: MeetingSpec) -> ProviderMeeting:
        body = self._meeting_body(spec)
        body["integrationTags"] = [self._tag(spec.key)]
        body["scheduledType"] = "webinar" if spec.kind == "webinar" else "meeting"
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
        """One call to the API; the decoded JSON answer, or a classified VideoError."""
        url = urlsplit(self.base_url)
        target = f"{url.path}{path}" + (f"?{urlencode(query)}" if query else "")
        headers = {"Authorization": f"Bearer {self.access_token}", "Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        connection_class = (
            http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(url.hostname or "", url.port, timeout=self.timeout)
        try:
            try:
                connection.connect()
            except OSError as error:
                raise self._fail(TransientVideoError, method, path, f"cannot connect: {error}") from error
            try:
                connection.request(method, target, body=payload, headers=headers)
                response = connection.getresponse()
                raw = response.read()
            except (TimeoutError, OSError, http.client.HTTPException) as error:
                if method == "POST":
                    raise self._fail(
                        AmbiguousVideoError,
                        method,
                        path,
                        f"no answer after sending (may have been done): {error}",
                    ) from error
                raise self._fail(TransientVideoError, method, path, f"no answer: {error}") from error
        finally:
            connection.close()

        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {"items": data}
        tracking_id = response.getheader("trackingId") or str(data.get("trackingId") or "")
        status = response.status
        if status < 400:
            return data

        message = str(data.get("message") or response.reason or "")
        details = "; ".join(
            str(e.get("description", e)) for e in data.get("errors") or [] if isinstance(e, dict)
        )
        text = f"Webex {status}: {message}" + (f" ({details})" if details else "")
        if status == 429:
            error = RateLimitedVideoError(
                text, retry_after=_retry_after(response.getheader("Retry-After")), tracking_id=tracking_id
            )
        elif status in TRANSIENT_STATUSES:
            error = TransientVideoError(text, tracking_id=tracking_id)
        else:
            # 400/401/403/404/409/410 and the rest: retrying the same call will not help.
            # 401 too, for now: there is no token refresh yet.
            error = PermanentVideoError(text, tracking_id=tracking_id)
        error.status = status  # type: ignore[attr-defined]
        raise self._log(error, method, path)

    def _fail(self, kind: type[VideoError], method: str, path: str, text: str) -> VideoError:
        error = kind(f"Webex {method} {path}: {text}")
        error.status = None  # type: ignore[attr-defined]
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
