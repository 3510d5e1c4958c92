"""Calendar invitations (.ics, RFC 5545 / iTIP RFC 5546) for conferences and webinars.

One event per meeting, with a stable UID: an invitation is METHOD:REQUEST, a
move is the same UID with a higher SEQUENCE, a cancellation is METHOD:CANCEL.
Times are written in UTC (the trailing Z), which every calendar program reads
and shows in its own zone: no VTIMEZONE to get wrong. The `icalendar` package
writes the format (escaping, line folding, CRLF).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr

import icalendar
from django.conf import settings
from django.utils import timezone

from cmss.outbox import Attachment

PRODID = "-//European Commission DG SANTE//CMSS//EN"


@dataclass(frozen=True)
class Event:
    uid: str
    sequence: int
    title: str
    start: datetime
    end: datetime
    description: str = ""
    url: str = ""
    # (email, name) of the people invited; with METHOD:REQUEST each gets RSVP.
    attendees: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    cancelled: bool = False


def _sender() -> tuple[str, str]:
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return name or "CMSS", address or "helpdesk@cmss.localhost"


def uid(kind: str, pk: int) -> str:
    """A UID that stays the same for the life of the meeting."""
    return f"{kind}-{pk}@{_sender()[1].rsplit('@', 1)[-1]}"


def _organizer() -> icalendar.vCalAddress:
    name, email = _sender()
    address = icalendar.vCalAddress(f"mailto:{email}")
    address.params["CN"] = icalendar.vText(name)
    return address


def _vevent(event: Event, *, method: str, now: datetime) -> icalendar.Event:
    item = icalendar.Event()
    item.add("uid", event.uid)
    item.add("sequence", event.sequence)
    item.add("dtstamp", now.astimezone(UTC))
    item.add("dtstart", event.start.astimezone(UTC))
    item.add("dtend", event.end.astimezone(UTC))
    item.add("summary", event.title)
    if event.description:
        item.add("description", event.description)
    if event.url:
        item.add("url", event.url)
        item.add("location", event.url)
    item.add("organizer", _organizer())
    for email, name in event.attendees:
        attendee = icalendar.vCalAddress(f"mailto:{email}")
        if name:
            attendee.params["CN"] = icalendar.vText(name)
        attendee.params["ROLE"] = icalendar.vText("REQ-PARTICIPANT")
        if method == "REQUEST":
            attendee.params["PARTSTAT"] = icalendar.vText("NEEDS-ACTION")
        item.add("attendee", attendee, encode=False)
    cancelled = event.cancelled or method == "CANCEL"
    item.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    item.add("transp", "OPAQUE")
    return item


def calendar(
    events: Iterable[Event], *, method: str = "PUBLISH", name: str = "", stamp: datetime | None = None
) -> bytes:
    """A VCALENDAR with the events: REQUEST, CANCEL (one event) or PUBLISH (a feed).
    `stamp` is the DTSTAMP (now by default): a feed gives the time its data last
    changed, so that the same data always makes the same bytes."""
    now = stamp or timezone.now()
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    if name:
        cal.add("x-wr-calname", name)
    for event in events:
        cal.add_component(_vevent(event, method=method, now=now))
    return cal.to_ical()


def invitation(event: Event, *, cancel: bool = False) -> Attachment:
    """The .ics attachment of an invitation, update or cancellation email."""
    method = "CANCEL" if cancel else "REQUEST"
    return Attachment(
        filename="cancel.ics" if cancel else "invite.ics",
        content=calendar([event], method=method),
        mimetype="text/calendar",
    )
