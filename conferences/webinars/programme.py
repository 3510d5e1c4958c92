"""The public programme, a webinar's page and the calendar feed, built once per change.

What these pages show is the same for every viewer of a language and time zone,
except for two things: the seats left, which every registration changes, and the
viewer's own seat or place on the waitlist (with the forms and their CSRF token).
The rest is cached under the "webinars" topic (cmss/fragments.py), whose
generation conferences/apps.py bumps on every change of a webinar, its ERNs, a
speaker, an ERN or a language; the seats and the viewer's registrations are
filled in on every request, from one aggregate query and one query of the
viewer's own rows.

Why seats are not in the cached part: a registration would then bump the topic,
and a burst (500 registrations for 200 seats within seconds) would make every
visitor rebuild the whole programme exactly when it is busiest. Counting the
confirmed seats of the listed webinars is one index-only scan.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import Count, FilteredRelation, Min, Prefetch, Q, QuerySet, prefetch_related_objects
from django.http import QueryDict
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from clinicians.models import ERN, Clinician
from cmss import fragments

from ..calendar import ics
from ..models import Registration, Speaker, Webinar
from . import notices
from .forms import ProgrammeFilterForm

TOPIC = "webinars"
# Every registration's save or delete bumps it (conferences/apps.py): the pages
# visitors get are kept whole with their seats (cmss/pagecache.py).
SEATS_TOPIC = "seats"
PAST_PAGE_SIZE = 10
UPCOMING_LIMIT = 100
# How far back the calendar feed goes: half a year of past webinars, and every
# coming one. A subscribed calendar mirrors the feed, so older webinars leave
# the subscribers' calendars; half a year keeps the feed near 1 KB a webinar
# for ~200 webinars. The window starts at a UTC midnight, so the feed's bytes
# (and its ETag) change at most once a day without a change of the data.
FEED_HISTORY = timedelta(days=180)

# Where an upcoming webinar's seats go in the cached programme. Everything the
# template prints from the data is escaped, so this comment cannot come from a title.
SEATS = "<!--seats-->"

# Bump when the shape of what is cached changes (old pickles are then never read).
_VERSION = 3

# The programme's address is cached only when it is one the page's own links and
# form make: anything else (unknown parameters, repeated ones, values no filter
# or page can have) is built for that request and not kept.
CACHEABLE = {
    "ern": re.compile(r"\d{0,9}"),
    "language": re.compile(r"[a-z-]{0,10}"),
    "page": re.compile(r"\d{0,4}"),
}


@dataclass(frozen=True)
class Programme:
    """The rendered programme, cut where each upcoming webinar's seats go."""

    chunks: tuple[str, ...]  # one more than upcoming
    upcoming: tuple[tuple[int, int], ...]  # (pk, capacity) of each upcoming webinar, in order
    last_start: datetime | None  # the start of the last of them
    page: str  # the page of past webinars shown, as the address asks for it
    valid: bool  # no filter value was refused
    # The first moment a listed webinar ends (it then moves from upcoming to past).
    until: datetime | None


def _cacheable(query: QueryDict) -> bool:
    for key, values in query.lists():
        pattern = CACHEABLE.get(key)
        if pattern is None or len(values) != 1 or not pattern.fullmatch(values[0]):
            return False
    return True


def _build_programme(query: QueryDict, now: datetime) -> Programme:
    form = ProgrammeFilterForm(query)
    filters = form.filters()
    listed = Webinar.objects.all()
    if filters["ern"] is not None:
        listed = listed.filter(erns=filters["ern"])
    if filters["language"] is not None:
        listed = listed.filter(language=filters["language"])
    upcoming = list(listed.upcoming(now).with_related()[:UPCOMING_LIMIT])
    past = Paginator(listed.past(now).with_related(), PAST_PAGE_SIZE).get_page(query.get("page"))
    rest = query.copy()
    rest.pop("page", None)
    # No request: nothing of the viewer (user, CSRF token) can reach this fragment.
    html = render_to_string(
        "conferences/_webinar_programme.html",
        {
            "form": form,
            "upcoming": upcoming,
            "past": past,
            "query": rest.urlencode(),
            "filtered": any(value is not None for value in filters.values()),
            "current_time_zone": timezone.get_current_timezone_name(),
            "seats": mark_safe(SEATS),
        },
    )
    chunks = tuple(html.split(SEATS))
    assert len(chunks) == len(upcoming) + 1, "one seats mark per upcoming webinar"
    until = Webinar.objects.on_programme().filter(end_at__gt=now).aggregate(until=Min("end_at"))["until"]
    return Programme(
        chunks=chunks,
        upcoming=tuple((webinar.pk, webinar.capacity) for webinar in upcoming),
        last_start=upcoming[-1].start if upcoming else None,
        page=str(past.number),
        valid=not form.errors,
        until=until,
    )


def programme(query: QueryDict, *, now: datetime | None = None) -> Programme:
    """The programme for this address (filters, page), from the cache when it is there."""
    now = now or timezone.now()
    if not _cacheable(query):
        return _build_programme(query, now)
    key = fragments.key_for((TOPIC,), ("programme", _VERSION, query.urlencode()))
    found = cache.get(key)
    if isinstance(found, Programme) and (found.until is None or now < found.until):
        return found
    built = _build_programme(query, now)
    # A page past the last one shows the last: kept only under its own address.
    if built.valid and built.page == (query.get("page") or "1"):
        timeout = fragments._timeout()
        if built.until is not None:
            timeout = max(1, min(timeout, int((built.until - now).total_seconds()) + 1))
        cache.set(key, built, timeout)
    return built


def confirmed_counts(pks: list[int]) -> dict[int, int]:
    """Confirmed seats of these webinars (an index-only scan of registration_queue)."""
    if not pks:
        return {}
    rows = (
        Registration.objects.filter(webinar_id__in=pks, status=Registration.Status.CONFIRMED)
        .order_by()
        .values_list("webinar_id")
        .annotate(n=Count("*"))
    )
    return dict(rows)


def _upcoming_until(built: Programme, now: datetime) -> Q:
    """The registrations of the upcoming webinars up to the last one listed: the
    database finds them from the webinars' index, with no list of ids to send."""
    return Q(
        webinar__state=Webinar.State.PUBLISHED, webinar__end_at__gt=now, webinar__start__lte=built.last_start
    )


def seats_taken(built: Programme, *, now: datetime | None = None) -> dict[int, int]:
    """Confirmed seats of the upcoming webinars of this programme (a superset when it is filtered)."""
    if built.last_start is None:
        return {}
    rows = (
        Registration.objects.filter(
            _upcoming_until(built, now or timezone.now()), status=Registration.Status.CONFIRMED
        )
        .order_by()
        .values_list("webinar_id")
        .annotate(n=Count("*"))
    )
    return dict(rows)


def registrations_of(user: Any, built: Programme, *, now: datetime | None = None) -> dict[int, Registration]:
    """The viewer's active registrations for the upcoming webinars (none for a visitor)."""
    if built.last_start is None or not user.is_authenticated:
        return {}
    mine = {
        registration.webinar_id: registration
        for registration in Registration.objects.active()
        .filter(_upcoming_until(built, now or timezone.now()), clinician__user=user)
        .only("pk", "webinar_id", "status")
    }
    # A place on a waitlist is rare: its position is asked only then (the
    # annotation costs more to build than the rest of the query).
    waiting = [item.pk for item in mine.values() if item.status == Registration.Status.WAITLISTED]
    if waiting:
        positions = dict(
            Registration.objects.filter(pk__in=waiting).with_position().values_list("pk", "waitlist_position")
        )
        for item in mine.values():
            if item.pk in positions:
                item.waitlist_position = positions[item.pk]  # type: ignore[attr-defined]
    return mine


def fill(built: Programme, *, seats: dict[int, int], mine: dict[int, Registration]) -> SafeString:
    """The programme with each upcoming webinar's seats, or the viewer's seat or place."""
    have_seat = conditional_escape(_("You have a seat"))
    full = conditional_escape(_("Full: waitlist open"))
    parts = [built.chunks[0]]
    for (pk, capacity), chunk in zip(built.upcoming, built.chunks[1:], strict=True):
        registration = mine.get(pk)
        if registration is not None and registration.status == Registration.Status.CONFIRMED:
            parts.append(f'<span class="badge badge-resolved">{have_seat}</span>')
        elif registration is not None and registration.status == Registration.Status.WAITLISTED:
            position = getattr(registration, "waitlist_position", None)
            text = _("You are number %(position)s on the waitlist") % {"position": position}
            parts.append(f'<span class="badge badge-waiting">{text}</span>')
        else:
            left = max(capacity - seats.get(pk, 0), 0)
            if left:
                text = ngettext("%(seats)s seat left", "%(seats)s seats left", left) % {"seats": left}
                parts.append(f'<span class="badge">{text}</span>')
            else:
                parts.append(f'<span class="badge badge-waiting">{full}</span>')
        parts.append(chunk)
    # The chunks were rendered with autoescaping; the badges hold translations and numbers.
    return mark_safe("".join(parts))


# --- A webinar's page ------------------------------------------------------------------------


@dataclass(frozen=True)
class About:
    """A webinar's row and the parts of its page that are the same for everyone
    allowed to see it (the caller checks who may: may_see())."""

    webinar: Webinar  # without its provider meeting: read live, for confirmed registrants only
    facts: str  # heading, state, when, networks, language, recording (an open <dl>)
    about: str  # description, speakers, recording link


def _build_about(pk: int) -> About | None:
    webinar = Webinar.objects.select_related("language").filter(pk=pk).first()
    if webinar is None:
        return None  # not kept: a missing page costs its query every time
    prefetch_related_objects(
        [webinar],
        Prefetch("erns", queryset=ERN.objects.order_by("name")),
        Prefetch("speakers", queryset=Speaker.objects.order_by("position", "pk")),
    )
    context = {"webinar": webinar, "current_time_zone": timezone.get_current_timezone_name()}
    facts = render_to_string("conferences/_webinar_facts.html", context)
    about = render_to_string("conferences/_webinar_about.html", context)
    webinar._prefetched_objects_cache = {}  # type: ignore[attr-defined]  # rendered: not kept
    return About(webinar=webinar, facts=facts, about=about)


def about(pk: int) -> About | None:
    """The webinar and the cached parts of its page; None when there is no such webinar."""
    return fragments.cached((TOPIC,), ("webinar", _VERSION, pk), lambda: _build_about(pk))


def may_see(user: Any, webinar: Webinar) -> bool:
    """Published, held, and cancelled-after-publishing webinars are public
    (a cancelled one says so to whoever follows an old link); drafts only to staff."""
    State = Webinar.State
    if webinar.state in (State.PUBLISHED, State.HELD):
        return True
    if webinar.state == State.CANCELLED:
        return webinar.published_at is not None
    return webinar.state == State.DRAFT and user.is_authenticated and user.is_staff


@dataclass(frozen=True)
class Viewer:
    """The signed-in person's clinician row and registration for one webinar."""

    clinician_status: str | None  # None: not a clinician (staff, or a visitor)
    registration: Registration | None


def viewer(user: Any, webinar: Webinar) -> Viewer:
    """Who is looking, in one query: their clinician status and their registration
    for this webinar (with their waitlist place, which costs a second one)."""
    if not user.is_authenticated:
        return Viewer(clinician_status=None, registration=None)
    row = (
        Clinician.objects.filter(user=user)
        .annotate(
            mine=FilteredRelation(
                "webinar_registrations", condition=Q(webinar_registrations__webinar=webinar.pk)
            )
        )
        .values("pk", "status", "mine__pk", "mine__status", "mine__registered_at", "mine__sent_sequence")
        .first()
    )
    if row is None:
        return Viewer(clinician_status=None, registration=None)
    registration = None
    if row["mine__pk"] is not None:
        registration = Registration(
            pk=row["mine__pk"],
            webinar=webinar,
            clinician_id=row["pk"],
            status=row["mine__status"],
            registered_at=row["mine__registered_at"],
            sent_sequence=row["mine__sent_sequence"],
        )
        registration.waitlist_position = (  # type: ignore[attr-defined]
            waitlist_position(registration) if registration.status == Registration.Status.WAITLISTED else None
        )
    return Viewer(clinician_status=row["status"], registration=registration)


def waitlist_position(registration: Registration) -> int | None:
    from .services import waitlist_position as position

    return position(registration)


# --- The calendar feed -----------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    etag: str  # quoted, as the header carries it
    last_modified: int  # a Unix time: when these bytes were first built
    body_key: str  # the bytes are cached apart, so a 304 never reads them


def feed_window(now: datetime) -> datetime:
    """Where the feed starts: FEED_HISTORY back, at that day's UTC midnight."""
    since = (now - FEED_HISTORY).astimezone(UTC)
    return since.replace(hour=0, minute=0, second=0, microsecond=0)


def _feed_listed(since: datetime) -> QuerySet[Webinar]:
    # end_at >= since lets the webinar_state_end index find the rows; start >= since is the window.
    return (
        Webinar.objects.filter(
            Q(state__in=[Webinar.State.PUBLISHED, Webinar.State.HELD])
            | Q(state=Webinar.State.CANCELLED, published_at__isnull=False),
            end_at__gte=since,
            start__gte=since,
        )
        .order_by("start", "pk")
        .only("pk", "title", "description", "start", "duration_minutes", "sequence", "state", "updated_at")
    )


def _build_feed_body(since: datetime) -> bytes:
    listed = list(_feed_listed(since))
    # DTSTAMP: when the data last changed, not when the bytes were built, so that
    # the same programme always gives the same bytes (and ETag).
    stamp = max((webinar.updated_at for webinar in listed), default=since)
    return ics.calendar(
        (notices.calendar_event(webinar) for webinar in listed),
        method="PUBLISH",
        name=_("CMSS webinars of the European Reference Networks"),
        stamp=stamp,
    )


def feed(*, now: datetime | None = None) -> tuple[Feed, bytes | None]:
    """The feed's validators, and its bytes when they had to be built (else None:
    read them with feed_body() unless the client already has them)."""
    now = now or timezone.now()
    since = feed_window(now)
    parts = ("feed", _VERSION, since.date().isoformat())
    key = fragments.key_for((TOPIC,), parts, per_zone=False)
    found = cache.get(key)
    if isinstance(found, Feed):
        return found, None
    body = _build_feed_body(since)
    etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    # The same bytes as last time (a rebuild after a change elsewhere, or after
    # the cache expired): keep their Last-Modified, so If-Modified-Since still holds.
    last_key = f"fragments:feed:last:{translation.get_language()}"
    last = cache.get(last_key)
    modified = last[1] if isinstance(last, tuple) and last[0] == etag else int(now.timestamp())
    built = Feed(etag=etag, last_modified=modified, body_key=key + ":body")
    timeout = fragments._timeout()
    cache.set_many({built.body_key: body, key: built}, timeout)
    cache.set(last_key, (etag, modified), fragments.GENERATION_TIMEOUT)
    return built, body


def feed_body(built: Feed, *, now: datetime | None = None) -> bytes:
    """The bytes of a feed found in the cache (built again if they were evicted)."""
    body = cache.get(built.body_key)
    if isinstance(body, bytes):
        return body
    return _build_feed_body(feed_window(now or timezone.now()))
