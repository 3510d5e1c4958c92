"""What a webinar's registrants are told: the emails (one per intent, by dedup
key), the calendar event under one UID for the webinar's whole life, and the
reminders the sweep sends 24 hours and one hour before."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from cmss.outbox import Attachment, Rendered, queue_email_later, queue_templated_email, render_email

from ..calendar import ics, reminders
from ..models import Registration, Webinar

Status = Registration.Status
State = Webinar.State


def page_url(webinar: Webinar) -> str:
    return settings.SITE_URL + reverse("conferences:webinar_detail", args=[webinar.pk])


def calendar_event(webinar: Webinar, *, attendee: Registration | None = None) -> ics.Event:
    """The webinar as a calendar event: one UID for its whole life; the page
    link (where confirmed registrants find the join link) as its location."""
    url = page_url(webinar)
    attendees: tuple[tuple[str, str], ...] = ()
    if attendee is not None:
        attendees = ((attendee.clinician.user.email, attendee.clinician.full_name),)
    return ics.Event(
        uid=ics.uid("webinar", webinar.pk),
        sequence=webinar.sequence,
        title=webinar.title,
        start=webinar.start,
        end=webinar.end,
        description=f"{webinar.description}\n\n{url}",
        url=url,
        attendees=attendees,
        cancelled=webinar.state == State.CANCELLED,
    )


def stamp(moment: datetime | None) -> str:
    return (moment or timezone.now()).strftime("%Y%m%dT%H%M%S%f")


def tell(
    registration: Registration,
    webinar: Webinar,
    what: str,
    *,
    key: str,
    attachments: Iterable[Attachment] = (),
    **context: Any,
) -> None:
    """Queue emails/webinar_<what> to the registrant, once per key."""
    user = registration.clinician.user
    queue_templated_email(
        user=user,
        template=f"webinar_{what}",
        context={
            "webinar": webinar,
            "registration": registration,
            "clinician": registration.clinician,
            "page_url": page_url(webinar),
            **context,
        },
        dedup_key=f"webinar:{webinar.pk}:{registration.pk}:{key}",
        attachments=tuple(attachments),
    )


def tell_later(registration: Registration, what: str, *, key: str) -> None:
    """Like tell(), for a seat decided under the webinar's lock: the row is queued
    now, the email (and its calendar invitation) rendered once the lock is gone."""
    queue_email_later(
        user=registration.clinician.user,
        render_with="conferences.webinars.notices.render_notice",
        args={"registration": registration.pk, "what": what},
        dedup_key=f"webinar:{registration.webinar_id}:{registration.pk}:{key}",
    )


# What each notice queued by tell_later() attaches and adds to the context.
LATER = frozenset({"confirmed", "promoted", "waitlisted"})


def render_notice(*, registration: int, what: str) -> Rendered | None:
    """The email tell_later() queued, from the registration as it is now."""
    if what not in LATER:
        raise ValueError(f"not a registration notice: {what}")
    found = (
        Registration.objects.select_related("webinar__language", "clinician__user")
        .filter(pk=registration)
        .first()
    )
    if found is None:
        return None
    from .services import waitlist_position

    webinar, user = found.webinar, found.clinician.user
    context: dict[str, Any] = {
        "user": user,
        "webinar": webinar,
        "registration": found,
        "clinician": found.clinician,
        "page_url": page_url(webinar),
    }
    attachments: tuple[Attachment, ...] = ()
    # The seat or place changed before the email was written (a quick cancel, a
    # promotion): the newer state has its own email, this one is not sent.
    if found.status != (Status.WAITLISTED if what == "waitlisted" else Status.CONFIRMED):
        return None
    if what == "waitlisted":
        context["position"] = waitlist_position(found)
    else:
        attachments = (ics.invitation(calendar_event(webinar, attendee=found)),)
    subject, text, html = render_email(f"webinar_{what}", context, language=user.language)
    return Rendered(subject=subject, text=text, html=html, attachments=attachments)


def tell_recording(webinar: Webinar) -> None:
    if not webinar.recording_url:
        return
    digest = hashlib.sha256(webinar.recording_url.encode()).hexdigest()[:16]
    for registration in registrations_of(webinar, Status.CONFIRMED):
        tell(registration, webinar, "recording", key=f"recording:{digest}")


def registrations_of(webinar: Webinar, *statuses: str) -> Iterator[Registration]:
    return (
        Registration.objects.filter(webinar=webinar, status__in=statuses)
        .select_related("clinician", "clinician__user")
        .order_by("pk")
        .iterator(chunk_size=500)
    )


def reminders_due(window_start: datetime, window_end: datetime) -> Iterator[reminders.Reminder]:
    """The reminder sweep's source: confirmed registrants of published webinars
    starting in the window (two queries however many)."""
    webinars = {
        webinar.pk: webinar
        for webinar in Webinar.objects.filter(
            state=State.PUBLISHED, start__gte=window_start, start__lte=window_end
        ).select_related("meeting", "language")
    }
    if not webinars:
        return
    confirmed = (
        Registration.objects.filter(webinar_id__in=webinars, status=Status.CONFIRMED)
        .select_related("clinician", "clinician__user")
        .order_by("pk")
    )
    for registration in confirmed.iterator(chunk_size=500):
        webinar = webinars[registration.webinar_id]
        yield reminders.Reminder(
            item=webinar.meeting_key,
            user=registration.clinician.user,
            start=webinar.start,
            template="webinar_reminder",
            context={
                "webinar": webinar,
                "clinician": registration.clinician,
                "page_url": page_url(webinar),
                "join_url": webinar.join_url,
            },
            since=registration.confirmed_at,
        )
