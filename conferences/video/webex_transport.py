"""The Webex backend's HTTP transport: httpx over a connection pool whose sockets
also honour a deadline for the whole exchange."""

from __future__ import annotations

import ssl
import time
from contextvars import ContextVar
from functools import cache
from typing import Any

import httpcore
import httpx

# httpx's timeouts bound each phase (connect, each write, each read) separately, so an answer
# that trickles in a byte at a time, each within the read timeout, could take any time at all.
# WEBEX_TIMEOUT is the most one exchange may take from connecting to the last byte: the backend
# sets DEADLINE around each exchange, and every socket operation of the exchange waits at most
# what is left of it.

# The monotonic time by which the current exchange must be over (None: no exchange running).
DEADLINE: ContextVar[float | None] = ContextVar("webex_deadline", default=None)


def _until_deadline(timeout: float | None, late: type[httpcore.TimeoutException]) -> float | None:
    """The shorter of a phase's timeout and what is left before the deadline."""
    deadline = DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise late("the exchange took longer than WEBEX_TIMEOUT")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _until_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # Our bodies are a few kilobytes: one send, bounded by what is left.
        self._stream.write(buffer, _until_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._stream.start_tls(
                ssl_context, server_hostname, _until_deadline(timeout, httpcore.ConnectTimeout)
            )
        )

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineNetwork(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._network = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        timeout = _until_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._network.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        timeout = _until_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._network.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._network.sleep(seconds)


@cache
def _tls_context() -> ssl.SSLContext:
    # The system's trust store, as http.client used (httpx alone would use certifi's), made
    # once per process: loading it costs milliseconds, and a context is safe to share.
    return ssl.create_default_context()


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport (its request, response and error mapping), over a pool
    whose network backend keeps to the deadline. httpx has no parameter for the network
    backend, so the pool it made is replaced by the same pool with ours (httpx is pinned
    exactly; the trickling-answer tests of test_webex_backend.py fail if this stops working)."""

    def __init__(self) -> None:
        super().__init__(verify=_tls_context(), trust_env=False)
        limits = httpx.Limits()
        self._pool = httpcore.ConnectionPool(
            ssl_context=_tls_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_DeadlineNetwork(),
        )
