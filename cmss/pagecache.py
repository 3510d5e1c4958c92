"""Whole public pages for visitors, built once per change.

A visitor's page (the programme, a webinar's page, the registration and
contact forms, the privacy statement) is the same for every visitor of a
language and time zone, but for two things: the CSRF token of its forms and
flash messages. `@visitor_page` keeps the page's HTML in the cache with a
sentinel where the token goes, and puts the visitor's own token there on every
request; a visitor with a message waiting, anyone signed in, and any address
the page itself does not make are served by the view as before.

    @visitor_page(topics=("webinars", "seats"), query={"page": r"\\d{0,4}"})
    def programme(request): ...

It is a view decorator, not a middleware, so everything around the view still
runs on every request: the CSRF middleware sets the cookie of a new visitor
(get_token() is called on every hit), and the security, CSP and cache-control
headers are added to the cached page as to any other.

The key holds the path, the query string (sorted), the language, the time zone
and the generations of the page's topics (cmss/fragments.py), so a change of
the data shows at once. A view may say how long its page holds
(keep_until(request, when): a webinar that starts or ends), or that this one
is not to be kept (do_not_keep(request): a refused filter value).

The sentinel is put in place of the token by the context processor
`csrf_sentinel` (settings.TEMPLATES), only while a page is built here, and it is
replaced before the response leaves the decorator, on a miss as on a hit. So
a fragment cached elsewhere is never rendered with the request (as
cmss/fragments.py asks): it would keep the sentinel.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import connections, transaction
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.template.response import SimpleTemplateResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.safestring import mark_safe

from . import fragments

# Where each visitor's CSRF token goes. A comment: everything a page prints from
# the data is escaped, so this text cannot come from a title or a name.
SENTINEL = mark_safe("<!--cmss:csrf-token-->")
_SENTINEL = SENTINEL.encode()

# Bump when the shape of what is cached changes.
_VERSION = 1

# Set on the request while its page is built to be kept (see csrf_sentinel).
_BUILDING = "_visitor_page_building"
_KEEP = "_visitor_page_keep"  # False, or the moment the page stops holding (None: no end)

View = Callable[..., HttpResponse]

# Headers of the view's response that are not kept: the moment it was sent,
# the length (set again), cookies (never someone else's).
_NOT_KEPT_HEADERS = {"expires", "date", "content-length", "set-cookie"}


@dataclass(frozen=True)
class _Page:
    body: bytes  # with the sentinel where a token goes
    headers: tuple[tuple[str, str], ...]  # the view's own (Content-Type, Cache-Control ...)
    never_cache: bool  # the view said so (Expires is then the moment of each response)
    until: float | None  # a Unix time after which the page is built again
    has_token: bool


def csrf_sentinel(request: HttpRequest) -> dict[str, Any]:
    """Context processor: while a page is built to be kept, {% csrf_token %}
    writes the sentinel (the view's own context still wins)."""
    if getattr(request, _BUILDING, False):
        return {"csrf_token": SENTINEL}
    return {}


def keep_until(request: HttpRequest, when: datetime | None) -> None:
    """The page being built shows what it shows until `when` (None: until its data changes)."""
    keep = getattr(request, _KEEP, None)
    if keep is False or when is None:
        return
    if keep is None or when < keep:
        setattr(request, _KEEP, when)


def do_not_keep(request: HttpRequest) -> None:
    """The page being built is for this request only (an address no link makes)."""
    setattr(request, _KEEP, False)


def _query_key(request: HttpRequest, allowed: Mapping[str, re.Pattern[str]]) -> str | None:
    """The query string in a canonical form, or None when it is not one the page makes."""
    items = []
    for name, values in request.GET.lists():
        pattern = allowed.get(name)
        if pattern is None or len(values) != 1 or not pattern.fullmatch(values[0]):
            return None
        items.append((name, values[0]))
    return "&".join(f"{name}={value}" for name, value in sorted(items))


def _may_use(request: HttpRequest) -> bool:
    if request.method not in ("GET", "HEAD"):
        return False
    user = getattr(request, "user", None)
    if user is None or user.is_authenticated:
        return False
    # len() loads the messages without marking them read: the view shows them.
    return not len(get_messages(request))


def _with_token(request: HttpRequest, body: bytes, has_token: bool) -> bytes:
    if not has_token:
        return body
    # get_token() also tells the CSRF middleware to set the cookie of a new visitor.
    return body.replace(_SENTINEL, get_token(request).encode())


def visitor_page(
    *, topics: Iterable[str] = (), query: Mapping[str, str | re.Pattern[str]] | None = None
) -> Callable[[View], View]:
    """Keep the page a visitor gets for the current generations of `topics`,
    for the addresses whose query string has only these parameters (once each,
    matching its pattern). Only GET and HEAD, only 200 responses."""
    topics = tuple(topics)
    allowed = {name: re.compile(pattern) for name, pattern in (query or {}).items()}

    def decorate(view: View) -> View:
        # A kept page costs no transaction (BEGIN, COMMIT and the connection's
        # health check: a round trip to PostgreSQL); the view still runs in one
        # whenever it would have (ATOMIC_REQUESTS, not @non_atomic_requests).
        own: set[str] = getattr(view, "_non_atomic_requests", set())
        atomic = view
        for alias, database in connections.settings.items():
            if database.get("ATOMIC_REQUESTS") and alias not in own:
                atomic = transaction.atomic(using=alias)(atomic)

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not _may_use(request):
                return atomic(request, *args, **kwargs)
            query_key = _query_key(request, allowed)
            if query_key is None:
                return atomic(request, *args, **kwargs)
            key = fragments.key_for(topics, ("page", _VERSION, request.path, query_key))
            found = cache.get(key)
            if isinstance(found, _Page) and (found.until is None or timezone.now().timestamp() < found.until):
                response = HttpResponse(_with_token(request, found.body, found.has_token))
                for name, value in found.headers:
                    response[name] = value
                if found.never_cache:
                    add_never_cache_headers(response)
                return response
            return _build(request, key, atomic, args, kwargs)

        wrapper._non_atomic_requests = set(connections.settings)  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _build(request: HttpRequest, key: str, view: View, args: Any, kwargs: Any) -> HttpResponse:
    setattr(request, _BUILDING, True)
    setattr(request, _KEEP, None)
    try:
        response = view(request, *args, **kwargs)
        if isinstance(response, SimpleTemplateResponse):
            response.render()  # now, with the sentinel (allauth's views answer with these)
    finally:
        setattr(request, _BUILDING, False)
    if response.streaming:
        return response  # never built from a template here: no sentinel in it
    body = response.content
    has_token = _SENTINEL in body
    keep = getattr(request, _KEEP, None)
    session = getattr(request, "session", None)
    if (
        response.status_code == 200
        and keep is not False
        and not response.cookies  # a page that sets a cookie is someone's own
        and not (session is not None and session.modified)
        and not getattr(get_messages(request), "added_new", False)  # a message for this visitor
    ):
        until = keep.timestamp() if isinstance(keep, datetime) else None
        timeout = fragments._timeout()
        if until is not None:
            timeout = max(1, min(timeout, int(until - timezone.now().timestamp()) + 1))
        headers = tuple(
            (name, value) for name, value in response.items() if name.lower() not in _NOT_KEPT_HEADERS
        )
        never_cache = "no-store" in response.get("Cache-Control", "")
        cache.set(key, _Page(body, headers, never_cache, until, has_token), timeout)
    if has_token:
        response.content = _with_token(request, body, has_token)
    return response
