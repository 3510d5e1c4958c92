"""A fake Webex Meetings server, written from Cisco's OpenAPI description.

It validates every request body against the request schema that the OpenAPI file gives
for that path and method (with jsonschema, resolving the file's $refs through a
`referencing` registry), and every query string against the operation's declared query
parameters (names, required ones, booleans, numbers and enums), answers 400 listing the
violations when a request is invalid, pages long lists with a `Link: <…>; rel="next"`
header as Webex does,
keeps meetings in memory, accepts only its current access token (401 otherwise),
answers the OAuth refresh (POST /access_token, form-encoded, not in the OpenAPI file)
for the refresh token it knows, rotating both tokens, and can be scripted per test (the next N calls answer 429/5xx,
the next create or registrant is stored and then stalls past the client's timeout, or the next answer trickles in byte by byte).
It counts the TCP connections it accepted (keep-alive: many requests may come on one).

The OpenAPI file is read from WEBEX_OPENAPI_SPEC, once per test session; it is never
copied into the repository.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.conftest import need

REPOSITORY = Path(__file__).resolve().parents[2]
SPEC_URI = "urn:webex-meeting-openapi"
# Limits the OpenAPI file states in descriptions rather than schema keywords; the real API enforces them.
DOCUMENTED_LIMITS = {"title": 128, "agenda": 1300}


class WebexOpenAPI:
    """The OpenAPI document and, per (path, method), a validator for its request body."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT4)
        self.registry = Registry().with_resource(SPEC_URI, resource)
        self._validators: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def content_types(self, path: str, method: str) -> list[str]:
        operation = self.document["paths"][path][method.lower()]
        return list(operation.get("requestBody", {}).get("content", {}))

    def validator(self, path: str, method: str, content_type: str) -> Any:
        key = (path, method.lower(), content_type)
        with self._lock:
            if key not in self._validators:
                operation = self.document["paths"][path][method.lower()]
                schema = operation["requestBody"]["content"][content_type]["schema"]
                if "$ref" in schema:
                    schema = {"$ref": SPEC_URI + schema["$ref"]}
                cls = validator_for(
                    schema, default=validator_for({"$schema": "http://json-schema.org/draft-04/schema#"})
                )
                self._validators[key] = cls(schema, registry=self.registry)
            return self._validators[key]

    def query_violations(self, path: str, method: str, query: dict[str, list[str]]) -> list[str]:
        """What is wrong with a query string, from the operation's declared query parameters."""
        operation = self.document["paths"][path][method.lower()]
        declared = {p["name"]: p for p in operation.get("parameters", []) if p.get("in") == "query"}
        problems = [
            f"query {name}: not a parameter of {method.upper()} {path}"
            for name in query
            if name not in declared and name != FakeWebex.PAGE_PARAMETER
        ]
        for name, parameter in declared.items():
            if name not in query:
                if parameter.get("required"):
                    problems.append(f"query {name}: required")
                continue
            schema = parameter.get("schema") or {}
            for value in query[name]:
                if schema.get("type") == "boolean" and value not in ("true", "false"):
                    problems.append(f"query {name}: {value!r} is not a boolean")
                if schema.get("type") in ("number", "integer") and not re.fullmatch(r"-?\d+(\.\d+)?", value):
                    problems.append(f"query {name}: {value!r} is not a number")
                if "enum" in schema and value not in schema["enum"]:
                    problems.append(f"query {name}: {value!r} is not one of {schema['enum']}")
        return problems

    def violations(self, path: str, method: str, content_type: str, body: Any) -> list[str]:
        validator = self.validator(path, method, content_type)
        return [
            f"{'/'.join(str(p) for p in error.absolute_path) or '(body)'}: {error.message}"
            for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        ]


@pytest.fixture(scope="session")
def webex_openapi() -> WebexOpenAPI:
    location = os.environ.get("WEBEX_OPENAPI_SPEC", "")
    # A relative path (CI: ../shared/webex/webex-meeting.json) is relative to the repository.
    path = REPOSITORY / location if location else None
    need("the Webex OpenAPI file", path is not None and path.is_file(), "set WEBEX_OPENAPI_SPEC")
    assert path is not None
    return WebexOpenAPI(json.loads(path.read_text(encoding="utf-8")))


@dataclass
class Scripted:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


@dataclass
class SeenRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    violations: list[str]
    status: int = 0


@dataclass
class Page:
    """A list answer the fake pages (`max`, default `default_max`, up to 100 per page)."""

    items: list[dict[str, Any]]
    default_max: int = 10


def _parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class FakeWebex:
    ROUTES = [
        (re.compile(r"^/meetings$"), "/meetings"),
        (
            re.compile(r"^/meetings/(?P<meeting_id>[^/]+)/registrants/query$"),
            "/meetings/{meetingId}/registrants/query",
        ),
        (re.compile(r"^/meetings/(?P<meeting_id>[^/]+)/registrants$"), "/meetings/{meetingId}/registrants"),
        (
            re.compile(r"^/meetings/(?P<meeting_id>[^/]+)/registrants/(?P<registrant_id>[^/]+)$"),
            "/meetings/{meetingId}/registrants/{registrantId}",
        ),
        (re.compile(r"^/meetings/(?P<meeting_id>[^/]+)$"), "/meetings/{meetingId}"),
        (re.compile(r"^/meetingInvitees$"), "/meetingInvitees"),
        (re.compile(r"^/meetingInvitees/(?P<invitee_id>[^/]+)$"), "/meetingInvitees/{meetingInviteeId}"),
    ]
    # The fake's own paging parameter, carried only in the `Link` URLs it hands out (Webex's
    # next links carry opaque parameters of their own, not declared in the OpenAPI file).
    PAGE_PARAMETER = "fakeOffset"

    def __init__(self, openapi: WebexOpenAPI) -> None:
        self.openapi = openapi
        self.meetings: dict[str, dict[str, Any]] = {}
        self.invitees: list[dict[str, Any]] = []
        self.registrants: list[dict[str, Any]] = []
        self.requests: list[SeenRequest] = []
        self.tracking_ids: list[str] = []
        self._script: list[Scripted] = []
        self._stall_creates = 0
        self._stall_registrants = 0
        # (list, meetingId, lower-cased email) of every invitee and registrant added: Webex
        # answers 409 Conflict to adding someone twice. Checked against the lists on a hit, so
        # that a test clearing a list need not clear this.
        self._added: set[tuple[str, str, str]] = set()
        self._trickle: list[float] = []
        self.connections = 0
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.base_url = ""
        # OAuth: the one access token accepted, and the refresh token that makes a new one.
        self.client_id = "test-client"
        self.client_secret = "test-secret"
        self.access_token = "test-token"
        self.refresh_token = "test-refresh-token"
        self.access_token_expires_in = 1209599
        self._rotations = 0
        self.refresh_delay = 0.0  # seconds POST /access_token takes (to make workers overlap)

    # Scripting, per test.

    def answer_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        """The next `times` calls answer `status` (with `headers`) and do nothing."""
        with self.lock:
            self._script.extend(Scripted(status, dict(headers or {})) for _ in range(times))

    def stall_next_create(self) -> None:
        """The next POST /meetings stores the meeting, then answers only after the test ends."""
        with self.lock:
            self._stall_creates += 1

    def stall_next_registrant(self) -> None:
        """The next POST /meetings/{id}/registrants registers the person, then answers only
        after the test ends."""
        with self.lock:
            self._stall_registrants += 1

    def trickle_next(self, seconds_per_byte: float) -> None:
        """The next call is carried out, and its answer (status line, headers and body) is
        written one byte every `seconds_per_byte`: each read is quick, the whole answer is not."""
        with self.lock:
            self._trickle.append(seconds_per_byte)

    def requests_to(self, method: str, path: str) -> list[SeenRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # Handling.

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        method = handler.command
        url = urlsplit(handler.path)
        path = url.path.removeprefix("/v1")
        query = parse_qs(url.query)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        tracking_id = f"FAKE_{uuid.uuid4().hex.upper()}_{len(self.requests)}"
        self.tracking_ids.append(tracking_id)

        def reply(
            status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
        ) -> None:
            seen.status = status
            payload = b""
            if body is not None and status != 204:
                if status >= 400:
                    body = {**body, "trackingId": tracking_id}
                payload = json.dumps(body).encode()
            handler.send_response(status)
            handler.send_header("trackingId", tracking_id)
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            if payload:
                handler.send_header("Content-Type", "application/json;charset=UTF-8")
            handler.send_header("Content-Length", str(len(payload)))
            with self.lock:
                pause = self._trickle.pop(0) if self._trickle else None
            if pause is None:
                handler.end_headers()
                handler.wfile.write(payload)
                return
            # The buffered status line and headers, then the body, a byte at a time.
            handler._headers_buffer.append(b"\r\n")  # type: ignore[attr-defined]
            answer = b"".join(handler._headers_buffer) + payload  # type: ignore[attr-defined]
            handler._headers_buffer = []  # type: ignore[attr-defined]
            for index in range(len(answer)):
                if self.release.wait(pause):
                    return
                handler.wfile.write(answer[index : index + 1])

        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        seen = SeenRequest(method, path, query, dict(handler.headers.items()), body, [])
        with self.lock:
            self.requests.append(seen)
            scripted = self._script.pop(0) if self._script else None
        if scripted:
            return reply(scripted.status, scripted.body or {"message": "Scripted failure."}, scripted.headers)

        if method == "POST" and path == "/access_token":
            status, answer = self.post_access_token(raw, handler.headers.get("Content-Type") or "")
            return reply(status, answer)

        if handler.headers.get("Authorization", "") != f"Bearer {self.access_token}":
            return reply(
                401,
                {
                    "message": "The request requires a valid access token set in the Authorization request header."
                },
            )

        routed = next(((p.match(path), t) for p, t in self.ROUTES if p.match(path)), None)
        if routed is None:
            return reply(404, {"message": "The requested resource could not be found."})
        match, template = routed
        assert match is not None
        operation = self.openapi.document["paths"][template].get(method.lower())
        if operation is None:
            return reply(405, {"message": "Method not allowed."})

        query_problems = self.openapi.query_violations(template, method, query)
        if query_problems:
            seen.violations = query_problems
            return reply(
                400,
                {
                    "message": "The input parameters contain invalid items.",
                    "errors": [{"description": v} for v in query_problems],
                },
            )

        if "requestBody" in operation:
            content_type = (handler.headers.get("Content-Type") or "").split(";")[0].strip()
            allowed = self.openapi.content_types(template, method)
            if content_type not in allowed:
                return reply(
                    415, {"message": f"Content-Type must be one of {allowed}, not {content_type!r}."}
                )
            violations = self.openapi.violations(template, method, content_type, body)
            violations += [
                f"{name}: longer than {limit} characters"
                for name, limit in DOCUMENTED_LIMITS.items()
                if isinstance(body, dict) and isinstance(body.get(name), str) and len(body[name]) > limit
            ]
            seen.violations = violations
            if violations:
                return reply(
                    400,
                    {
                        "message": "The input parameters contain invalid items.",
                        "errors": [{"description": v} for v in violations],
                    },
                )

        # /meetings/{meetingId}/registrants/{registrantId} → meetings_one_registrants_one
        operation_name = re.sub(r"\{[^}]+\}", "one", template.strip("/")).replace("/", "_")
        handler_name = f"{method.lower()}_{operation_name}"
        status, answer = getattr(self, handler_name)(body, query, *(match.groups() or (None,)))
        if status == 200 and method == "POST" and template == "/meetings" and self._take_stall():
            self.release.wait(timeout=30)
        if (
            status == 200
            and template == "/meetings/{meetingId}/registrants"
            and self._take_registrant_stall()
        ):
            self.release.wait(timeout=30)
        headers: dict[str, str] = {}
        if isinstance(answer, Page):
            answer, headers = self._page(answer, handler.path)
        return reply(status, answer, headers)

    def _page(self, page: Page, target: str) -> tuple[dict[str, Any], dict[str, str]]:
        """One page of a list and, when more follow, the Link to the next one."""
        url = urlsplit(target)
        query = parse_qs(url.query)
        size = min(int(float(query.get("max", [page.default_max])[0])), 100)
        offset = int(query.get(self.PAGE_PARAMETER, ["0"])[0])
        items = page.items[offset : offset + size]
        if offset + size >= len(page.items):
            return {"items": items}, {}
        query[self.PAGE_PARAMETER] = [str(offset + size)]
        pairs = [(name, value) for name, values in query.items() for value in values]
        base = self.base_url.removesuffix("/v1")
        return {"items": items}, {"Link": f'<{base}{url.path}?{urlencode(pairs)}>; rel="next"'}

    def _take_stall(self) -> bool:
        with self.lock:
            if self._stall_creates:
                self._stall_creates -= 1
                return True
            return False

    def _take_registrant_stall(self) -> bool:
        with self.lock:
            if self._stall_registrants:
                self._stall_registrants -= 1
                return True
            return False

    def _already(self, kind: str, meeting_id: str, email: str, items: list[dict[str, Any]]) -> bool:
        """Whether someone is on a meeting's list already; notes them if not (under the lock)."""
        key = (kind, meeting_id, email.lower())
        if key in self._added and any(
            item["meetingId"] == meeting_id and item["email"].lower() == key[2] for item in items
        ):
            return True
        self._added.add(key)
        return False

    # The operations.

    def post_access_token(self, raw: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        """Webex's OAuth token endpoint, refresh_token grant: rotates both tokens."""
        if content_type.split(";")[0].strip() != "application/x-www-form-urlencoded":
            return 415, {"message": "Content-Type must be application/x-www-form-urlencoded."}
        form = {name: values[0] for name, values in parse_qs(raw.decode()).items()}
        if form.get("grant_type") != "refresh_token":
            return 400, {"message": "Unsupported grant_type."}
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return 401, {"message": "Invalid client credentials."}
        time.sleep(self.refresh_delay)
        with self.lock:
            if not self.refresh_token or form.get("refresh_token") != self.refresh_token:
                return 400, {"message": "The refresh token provided is invalid or expired."}
            self._rotations += 1
            self.access_token = f"access-{self._rotations}-{uuid.uuid4().hex}"
            self.refresh_token = f"refresh-{self._rotations}-{uuid.uuid4().hex}"
            return 200, {
                "access_token": self.access_token,
                "expires_in": self.access_token_expires_in,
                "refresh_token": self.refresh_token,
                "refresh_token_expires_in": 7775999,
            }

    def post_meetings(self, body: dict[str, Any], query: Any, _: None) -> tuple[int, dict[str, Any]]:
        meeting_id = uuid.uuid4().hex
        meeting = {
            "id": meeting_id,
            "meetingNumber": str(100000000 + len(self.meetings)),
            "meetingType": "meetingSeries",
            "state": "active",
            "scheduledType": body.get("scheduledType", "meeting"),
            "title": body["title"],
            "agenda": body.get("agenda", ""),
            "start": body["start"],
            "end": body["end"],
            "timezone": body.get("timezone", "UTC"),
            "hostEmail": body.get("hostEmail", "host@example.com"),
            "siteUrl": body.get("siteUrl", "example.webex.com"),
            "integrationTags": body.get("integrationTags", []),
            "webLink": f"https://example.webex.com/example/j.php?MTID=m{meeting_id}",
        }
        with self.lock:
            self.meetings[meeting_id] = meeting
            self.invitees.extend(
                {"id": f"{meeting_id}_{uuid.uuid4().hex[:8]}", "meetingId": meeting_id, **i}
                for i in body.get("invitees", [])
            )
            self._added.update(("invitee", meeting_id, i["email"].lower()) for i in body.get("invitees", []))
        return 200, meeting

    def get_meetings(self, body: None, query: dict[str, list[str]], _: None) -> tuple[int, dict[str, Any]]:
        now = datetime.now(UTC)
        start = _parse_time(query["from"][0]) if "from" in query else None
        end = _parse_time(query["to"][0]) if "to" in query else None
        # The API's defaults: a 7-day window.
        if start is None:
            start = end - timedelta(days=7) if end else now
        if end is None:
            end = start + timedelta(days=7)
        tag = query.get("integrationTag", [None])[0]
        items = [
            meeting
            for meeting in list(self.meetings.values())
            if (tag is None or tag in meeting["integrationTags"])
            and start <= _parse_time(meeting["start"]) < end
        ]
        return 200, {"items": items}

    def get_meetings_one(self, body: None, query: Any, meeting_id: str) -> tuple[int, dict[str, Any]]:
        if meeting_id not in self.meetings:
            return 404, {"message": "Meeting not found."}
        return 200, self.meetings[meeting_id]

    def patch_meetings_one(
        self, body: dict[str, Any], query: Any, meeting_id: str
    ) -> tuple[int, dict[str, Any]]:
        if meeting_id not in self.meetings:
            return 404, {"message": "Meeting not found."}
        meeting = self.meetings[meeting_id]
        for name in ("title", "agenda", "start", "end", "timezone", "integrationTags"):
            if name in body:
                meeting[name] = body[name]
        return 200, meeting

    def put_meetings_one(
        self, body: dict[str, Any], query: Any, meeting_id: str
    ) -> tuple[int, dict[str, Any]]:
        return self.patch_meetings_one(body, query, meeting_id)

    def delete_meetings_one(self, body: None, query: Any, meeting_id: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if self.meetings.pop(meeting_id, None) is None:
                return 404, {"message": "Meeting not found."}
        return 204, {}

    def post_meetingInvitees(self, body: dict[str, Any], query: Any, _: None) -> tuple[int, dict[str, Any]]:
        if body["meetingId"] not in self.meetings:
            return 404, {"message": "Meeting not found."}
        invitee = {"id": f"{body['meetingId']}_{uuid.uuid4().hex[:8]}", **body}
        with self.lock:
            if self._already("invitee", body["meetingId"], body["email"], self.invitees):
                return 409, {"message": "The invitee already exists."}
            self.invitees.append(invitee)
        return 200, invitee

    def get_meetingInvitees(self, body: None, query: dict[str, list[str]], _: None) -> tuple[int, Any]:
        """GET /meetingInvitees?meetingId=…: sorted by email, paged (max 10 by default, up to 100)."""
        meeting_id = query["meetingId"][0]
        if meeting_id not in self.meetings:
            return 404, {"message": "Meeting not found."}
        fields = ("id", "email", "displayName", "coHost", "meetingId", "panelist")
        items = sorted(
            (
                {"displayName": item["email"], **{k: v for k, v in item.items() if k in fields}}
                for item in self.invitees
                if item["meetingId"] == meeting_id
            ),
            key=lambda item: item["email"].lower(),
        )
        return 200, Page(items)

    def delete_meetingInvitees_one(
        self, body: None, query: Any, invitee_id: str
    ) -> tuple[int, dict[str, Any]]:
        with self.lock:
            kept = [item for item in self.invitees if item.get("id") != invitee_id]
            if len(kept) == len(self.invitees):
                return 404, {"message": "Meeting invitee not found."}
            self.invitees = kept
        return 204, {}

    def post_meetings_one_registrants(
        self, body: dict[str, Any], query: Any, meeting_id: str
    ) -> tuple[int, dict[str, Any]]:
        if meeting_id not in self.meetings:
            return 404, {"message": "Meeting not found."}
        registrant = {"id": uuid.uuid4().hex, "status": "approved", "meetingId": meeting_id, **body}
        with self.lock:
            if self._already("registrant", meeting_id, body["email"], self.registrants):
                return 409, {"message": "The registrant already exists."}
            self.registrants.append(registrant)
        return 200, registrant

    def post_meetings_one_registrants_query(
        self, body: dict[str, Any], query: Any, meeting_id: str
    ) -> tuple[int, Any]:
        """POST /meetings/{meetingId}/registrants/query: the registrants with the given emails."""
        if meeting_id not in self.meetings:
            return 404, {"message": "Meeting not found."}
        wanted = {email.lower() for email in body["emails"]}
        items = [
            {k: v for k, v in item.items() if k not in ("meetingId", "sendEmail")}
            for item in self.registrants
            if item["meetingId"] == meeting_id and item["email"].lower() in wanted
        ]
        return 200, Page(items)

    def delete_meetings_one_registrants_one(
        self, body: None, query: Any, meeting_id: str, registrant_id: str
    ) -> tuple[int, dict[str, Any]]:
        with self.lock:
            kept = [
                item
                for item in self.registrants
                if not (item["meetingId"] == meeting_id and item["id"] == registrant_id)
            ]
            if len(kept) == len(self.registrants):
                return 404, {"message": "Registrant not found."}
            self.registrants = kept
        return 204, {}

    # What a test reads.

    def invitees_of(self, meeting_id: str) -> list[str]:
        return sorted(item["email"] for item in self.invitees if item["meetingId"] == meeting_id)

    def registrants_of(self, meeting_id: str) -> list[str]:
        return sorted(item["email"] for item in self.registrants if item["meetingId"] == meeting_id)


def _handler_for(fake: FakeWebex) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The headers and the body go out in two writes: with Nagle, the body would wait for
        # the client's delayed ACK (40 ms a call on a kept-alive connection). Real servers don't.
        disable_nagle_algorithm = True

        def setup(self) -> None:
            with fake.lock:
                fake.connections += 1
            super().setup()

        def _any(self) -> None:
            # The client may have given up (a stalled create): nobody to answer then.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                fake.handle(self)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def fake_webex(webex_openapi: WebexOpenAPI) -> Iterator[FakeWebex]:
    """A running fake Webex on 127.0.0.1; its base_url ends in /v1 like the real one."""
    fake = FakeWebex(webex_openapi)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
    server.daemon_threads = True
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def fake_webex_url(fake_webex: FakeWebex) -> str:
    """The base URL of the running fake (for tests that need only the address)."""
    return fake_webex.base_url
