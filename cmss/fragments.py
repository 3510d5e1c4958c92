"""Cached fragments of pages, invalidated by generation.

A fragment (the rendered programme of webinars, the directory's filter choices,
a form's option lists) depends on some kinds of data: it is cached under a key
that holds the current *generation* of each, and the language and time zone it
was rendered for. When data of a kind changes, its generation is bumped after
the transaction commits, so every fragment built from the old data is never
read again and expires on its own.

    TOPICS: reference (specialties, languages, ERNs, hospitals), webinars, ...

    html = fragments.cached(("webinars",), ("programme", page), lambda: render(...))
    fragments.watch("webinars", Webinar, Speaker)   # in AppConfig.ready()

Only data that is the same for everyone who sees it may be cached here: the
key says nothing about the viewer beyond language and time zone. The cache
fails open (cmss.cache): with Redis down, fragments are built every time.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import transaction
from django.db.models import Model
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone, translation

T = TypeVar("T")


def _timeout() -> int:
    """How long a fragment lives at most, whatever happens to its data: an hour
    with Redis; without it (make run) each process has its own memory cache and
    sees only its own bumps, so half a minute."""
    return int(getattr(settings, "FRAGMENT_CACHE_SECONDS", 3600 if settings.REDIS_URL else 30))


# A generation key lives far longer than any fragment built from it.
GENERATION_TIMEOUT = 30 * 24 * 3600


def _generation_key(topic: str) -> str:
    return f"fragments:generation:{topic}"


class _RequestMemo(threading.local):
    """The generations read during the current request, and the fragments. A
    page reads several fragments, most of them under the same topics: one
    round trip for the generations of each topic, not one per fragment. Only
    between request_started and request_finished (a task or a shell always
    asks Redis); a bump in this process forgets that topic's generation, and
    with it every key built from it."""

    def __init__(self) -> None:  # in each thread
        self.generations: dict[str, int] | None = None
        self.values: dict[str, Any] = {}


_memo = _RequestMemo()


def _request_started(**kwargs: Any) -> None:
    _memo.generations = {}
    _memo.values = {}


def _request_finished(**kwargs: Any) -> None:
    _memo.generations = None
    _memo.values = {}


request_started.connect(_request_started, dispatch_uid="fragments:request_started")
request_finished.connect(_request_finished, dispatch_uid="fragments:request_finished")


def generations(topics: Iterable[str]) -> list[int]:
    topics = tuple(topics)
    memo = _memo.generations
    known = memo if memo is not None else {}
    missing = {_generation_key(topic): topic for topic in topics if topic not in known}
    if missing:
        found = cache.get_many(list(missing))
        fresh = {topic: int(found.get(key, 0)) for key, topic in missing.items()}
        if memo is not None:
            memo.update(fresh)
        known = {**known, **fresh}
    return [known[topic] for topic in topics]


def bump(topic: str) -> None:
    """Make every fragment of this topic stale: now, and again when the current
    transaction commits (another process may have rebuilt a fragment from the
    data as it was before the commit in between; a rollback costs one extra miss)."""

    def increment() -> None:
        key = _generation_key(topic)
        # add() then incr() keeps concurrent bumps from losing one another.
        cache.add(key, 0, timeout=GENERATION_TIMEOUT)
        cache.incr(key)
        if _memo.generations is not None:
            _memo.generations.pop(topic, None)

    increment()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(increment)


def key_for(
    topics: Iterable[str], parts: Iterable[Any], *, per_language: bool = True, per_zone: bool = True
) -> str:
    topics = tuple(topics)
    context = [
        translation.get_language() if per_language else "",
        timezone.get_current_timezone_name() if per_zone else "",
    ]
    raw = "|".join([*topics, *map(str, generations(topics)), *context, *map(str, parts)])
    return "fragments:" + hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


def cached(
    topics: Iterable[str],
    parts: Iterable[Any],
    build: Callable[[], T],
    *,
    timeout: int | None = None,
    per_language: bool = True,
    per_zone: bool = True,
) -> T:
    """The fragment for these topics' current generations and these parts, built once."""
    key = key_for(topics, parts, per_language=per_language, per_zone=per_zone)
    # A fragment read twice in a request (the option lists, by a form and its initial data) is fetched once.
    value = _memo.values.get(key)
    if value is None:
        value = cache.get(key)
    if value is None:
        value = build()
        cache.set(key, value, timeout or _timeout())
    if _memo.generations is not None:
        _memo.values[key] = value
    return value


def watch(topic: str, *models: type[Model]) -> None:
    """Bump `topic` whenever a row of these models is saved or deleted, or one
    of their many-to-many relations changes."""

    def changed(sender: Any, **kwargs: Any) -> None:
        if kwargs.get("action", "post_").startswith("post_"):
            bump(topic)

    for model in models:
        uid = f"fragments:{topic}:{model._meta.label}"
        post_save.connect(changed, sender=model, weak=False, dispatch_uid=uid + ":save")
        post_delete.connect(changed, sender=model, weak=False, dispatch_uid=uid + ":delete")
        for field in model._meta.local_many_to_many:
            through = field.remote_field.through
            m2m_changed.connect(changed, sender=through, weak=False, dispatch_uid=f"{uid}:{field.name}")
