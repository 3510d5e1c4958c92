"""A tiny reverse proxy: the TLS-terminating hop in front of gunicorn.

It listens on plain HTTP on loopback and forwards every request to gunicorn the way
nginx does with `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for` and
`X-Forwarded-Proto https`: the client's own X-Forwarded-For (if it sent one, true or
forged) is kept and the client's address is appended. The Host header passes unchanged.

Every test client is on loopback, so a test says which address the proxy sees it
connect from with the CLIENT_HEADER header (the proxy consumes it; without it a client
is DEFAULT_CLIENT). Chromium can then play several people at several addresses.

The browser speaks plain HTTP to it while the application believes it is served over
HTTPS. To stand in for the TLS hop, the proxy rewrites what a browser would have said
over TLS: `Origin`/`Referer` of this proxy's http:// origin become https:// on the way
in (Django's CSRF check compares them with the HTTPS origin), and a `Location` on this
proxy's https:// origin becomes http:// on the way out. Secure cookies work because
Chromium treats http://localhost as a secure context.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CLIENT_HEADER = "X-Test-Client-Address"
DEFAULT_CLIENT = "192.0.2.1"

# RFC 9110 §7.6.1 hop-by-hop headers, never forwarded.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


@dataclass(frozen=True)
class Forwarded:
    """One request as the proxy passed it on (for tests that check the chain)."""

    method: str
    path: str
    x_forwarded_for: str
    status: int


class ReverseProxy:
    def __init__(self, upstream_host: str, upstream_port: int, timeout: float = 60.0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.timeout = timeout
        self.forwarded: deque[Forwarded] = deque(maxlen=2000)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def host(self) -> str:
        return f"localhost:{self.port}"

    @property
    def url(self) -> str:
        """Where the browser connects: plain HTTP on loopback."""
        return f"http://{self.host}"

    @property
    def public_url(self) -> str:
        """What the application is told it is served at (SITE_URL): HTTPS."""
        return f"https://{self.host}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- Rewriting ---------------------------------------------------------------

    def request_headers(self, incoming: Any) -> list[tuple[str, str]]:
        client = incoming.get(CLIENT_HEADER) or DEFAULT_CLIENT
        prior = ", ".join(value.strip() for value in incoming.get_all("X-Forwarded-For") or [])
        headers = []
        for name, value in incoming.items():
            lowered = name.lower()
            if lowered in HOP_BY_HOP or lowered in {
                CLIENT_HEADER.lower(),
                "x-forwarded-for",
                "x-forwarded-proto",
                "content-length",
            }:
                continue
            if lowered in {"origin", "referer"} and value.startswith(self.url):
                value = self.public_url + value.removeprefix(self.url)
            headers.append((name, value))
        headers.append(("X-Forwarded-For", f"{prior}, {client}" if prior else client))
        headers.append(("X-Forwarded-Proto", "https"))
        return headers

    def response_headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        kept = []
        for name, value in headers:
            lowered = name.lower()
            if lowered in HOP_BY_HOP or lowered == "content-length":
                continue
            if lowered == "location" and value.startswith(self.public_url):
                value = self.url + value.removeprefix(self.public_url)
            kept.append((name, value))
        return kept


def _handler_for(proxy: ReverseProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = proxy.request_headers(self.headers)
            upstream = http.client.HTTPConnection(*proxy.upstream, timeout=proxy.timeout)
            try:
                upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    upstream.putheader(name, value)
                if body is not None:
                    upstream.putheader("Content-Length", str(len(body)))
                upstream.endheaders(body)
                response = upstream.getresponse()
                payload = response.read()
                status, reason, answer = response.status, response.reason, response.getheaders()
            except OSError as exc:
                status, reason, answer = 502, "Bad Gateway", [("Content-Type", "text/plain")]
                payload = f"proxy: upstream unreachable: {exc}".encode()
            finally:
                upstream.close()
            forwarded_for = next(value for name, value in headers if name == "X-Forwarded-For")
            proxy.forwarded.append(Forwarded(self.command, self.path, forwarded_for, status))
            self.send_response_only(status, reason)
            for name, value in proxy.response_headers(answer):
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _any(self) -> None:
            # The browser may close a connection mid-answer (a navigation elsewhere).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._forward()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
