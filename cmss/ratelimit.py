"""A fixed-window counter for limits allauth's rate limiter does not cover
(it never counts GET requests). Uses the cache, so it fails open with it."""

from __future__ import annotations

import time

from django.core.cache import cache


def allow(*, key: str, limit: int, window: int) -> bool:
    """Count one hit for `key`; False once `limit` hits fell in the current window (seconds)."""
    bucket = f"cmss-rl:{key}:{int(time.time()) // window}"
    cache.add(bucket, 0, timeout=window + 60)
    try:
        hits = cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.set(bucket, 1, timeout=window + 60)
        hits = 1
    return hits <= limit


def parse(rate: str) -> tuple[int, int]:
    """'300/h' → (300, 3600); units s, m, h, d."""
    amount, _sep, unit = rate.partition("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit[:1] or "h"]
    return int(amount), seconds
