"""A Redis cache that fails open.

The cache holds only rate-limit counters and other disposable data. When
Redis is unreachable, reads miss and writes are dropped, so people can still
sign in (sessions live in the database).

An outage is logged once, as a warning, when it starts, and once when Redis
answers again: a page makes several cache calls, and a traceback for each of
them on every request buried everything else in the logs. After a failure the
process does not try Redis again for RETRY_AFTER seconds, so requests during
an outage don't each wait for connection timeouts.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# Seconds during which a process that saw Redis fail answers from the defaults without asking it.
RETRY_AFTER = 5.0


class _Outage:
    """Whether this process is in a Redis outage (shared by its threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down = False
        self.retry_at = 0.0

    def skip(self) -> bool:
        return self.down and time.monotonic() < self.retry_at

    def failed(self, error: Exception) -> None:
        with self.lock:
            self.retry_at = time.monotonic() + RETRY_AFTER
            if self.down:
                return
            self.down = True
        logger.warning(
            "Cache (Redis) unavailable, failing open (rate limits are not counted) until it answers: %s",
            error,
        )

    def answered(self) -> None:
        if not self.down:
            return
        with self.lock:
            if not self.down:
                return
            self.down = False
        logger.warning("Cache (Redis) answers again; the outage is over")


outage = _Outage()


def _fail_open(default: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(self: FailOpenRedisCache, *args: Any, **kwargs: Any) -> Any:
            fallback = default(*args, **kwargs) if callable(default) else default
            if outage.skip():
                return fallback
            try:
                result = method(self, *args, **kwargs)
            except RedisError as error:
                outage.failed(error)
                return fallback
            outage.answered()
            return result

        return wrapper

    return decorate


def _default_of_get(key: str, default: Any = None, *args: Any, **kwargs: Any) -> Any:
    return default


class _OneClientPerPool(RedisCacheClient):
    """Django builds a new redis.Redis for every cache call, and with it the
    client's table of ~170 response callbacks: 0.1 to 0.2 ms of CPU per call, on
    every page that reads a fragment or a rate limit. One client per
    connection pool does the same (a client is thread-safe and holds no
    connection of its own)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # django-stubs leave the client's private attributes out.
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class FailOpenRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _OneClientPerPool

    get = _fail_open(_default_of_get)(RedisCache.get)
    get_many = _fail_open(lambda *args, **kwargs: {})(RedisCache.get_many)
    has_key = _fail_open(False)(RedisCache.has_key)
    set = _fail_open(None)(RedisCache.set)
    set_many = _fail_open(lambda *args, **kwargs: [])(RedisCache.set_many)
    add = _fail_open(True)(RedisCache.add)
    touch = _fail_open(False)(RedisCache.touch)
    delete = _fail_open(False)(RedisCache.delete)
    delete_many = _fail_open(None)(RedisCache.delete_many)
    incr = _fail_open(1)(RedisCache.incr)
    clear = _fail_open(False)(RedisCache.clear)
