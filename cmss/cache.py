"""A Redis cache that fails open.

The cache holds only rate-limit counters and other disposable data. When
Redis is unreachable, reads miss and writes are dropped with a logged error,
so people can still sign in (sessions live in the database).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def _fail_open(default: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(self: FailOpenRedisCache, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except RedisError:
                logger.error("Cache unavailable during %s; failing open", method.__name__, exc_info=True)
                return default(*args, **kwargs) if callable(default) else default

        return wrapper

    return decorate


def _default_of_get(key: str, default: Any = None, *args: Any, **kwargs: Any) -> Any:
    return default


class FailOpenRedisCache(RedisCache):
    get = _fail_open(_default_of_get)(RedisCache.get)
    get_many = _fail_open({})(RedisCache.get_many)
    has_key = _fail_open(False)(RedisCache.has_key)
    set = _fail_open(None)(RedisCache.set)
    set_many = _fail_open([])(RedisCache.set_many)
    add = _fail_open(True)(RedisCache.add)
    touch = _fail_open(False)(RedisCache.touch)
    delete = _fail_open(False)(RedisCache.delete)
    delete_many = _fail_open(None)(RedisCache.delete_many)
    incr = _fail_open(1)(RedisCache.incr)
    clear = _fail_open(False)(RedisCache.clear)
