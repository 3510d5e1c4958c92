"""A conference's invitations and calendar files, and its reminders.

Invitations go out once the meeting exists on the video provider (they carry
its join link), from the hook the pipeline calls in the transaction that
records it (on_meeting_created); each email has a dedup key naming the
invitation and the calendar SEQUENCE, so a task run twice sends nothing more.
A move sends the same UID with a higher SEQUENCE; a cancellation METHOD:CANCEL.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from clinicians.models import Clinician
from cmss.outbox import queue_templated_email

from ..calendar import ics, reminders
from ..models import Conference, Invitation, ProviderMeeting
from ..video import Invitee

if TYPE_CHECKING:
    from datetime import datetime

    from cmss.models import User

State = Conference.State


def conference_link(conference: Conference) -> str:
    return settings.SITE_URL + reverse("conferences:detail", args=[conference.pk])


def invitee_of(clinician: Clinician) -> Invitee:
    return Invitee(email=clinician.user.email, name=clinician.full_name)


def calendar_event(conference: Conference, *, attendees: Iterable[tuple[str, str]] = ()) -> ics.Event:
    assert conference.start is not None
    return ics.Event(
        uid=ics.uid("conference", conference.pk),
        sequence=conference.sequence,
        title=conference.title,
        start=conference.start,
        end=conference.end or conference.start,
        description=_("Case-discussion conference. Join: %(join)s\nQuestion and summary: %(link)s")
        % {"join": conference.join_url, "link": conference_link(conference)},
        url=conference.join_url,
        attendees=tuple(attendees),
        cancelled=conference.state == State.CANCELLED,
    )


def email_context(conference: Conference) -> dict[str, Any]:
    return {
        "conference": conference,
        "link": conference_link(conference),
        "join_url": conference.join_url,
        "hospital": conference.hospital,
    }


def send_invitations(conference: Conference) -> int:
    """Email everyone not yet told about the current time (invitees and the
    requester), once the meeting exists. Returns how many were queued."""
    if conference.state != State.SCHEDULED or not conference.join_url:
        return 0
    sent = 0
    now = timezone.now()
    for invitation in conference.invitations.select_related("clinician__user"):
        if invitation.sent_sequence is not None and invitation.sent_sequence >= conference.sequence:
            continue
        user = invitation.clinician.user
        _send_invitation(
            conference,
            user,
            key=f"invitation-{invitation.pk}",
            update=invitation.sent_sequence is not None,
        )
        Invitation.objects.filter(pk=invitation.pk).update(
            sent_sequence=conference.sequence, invited_at=invitation.invited_at or now
        )
        sent += 1
    requester = conference.requested_by
    told = conference.requester_sent_sequence
    if requester is not None and (told is None or told < conference.sequence):
        _send_invitation(conference, requester, key="requester", update=told is not None)
        conference.requester_invited_at = conference.requester_invited_at or now
        Conference.objects.filter(pk=conference.pk).update(
            requester_sent_sequence=conference.sequence, requester_invited_at=conference.requester_invited_at
        )
        conference.requester_sent_sequence = conference.sequence
        sent += 1
    return sent


def _send_invitation(conference: Conference, user: User, *, key: str, update: bool) -> None:
    event = calendar_event(conference, attendees=[(user.email, user.get_full_name())])
    queue_templated_email(
        user=user,
        template="conference_updated" if update else "conference_invitation",
        context=email_context(conference),
        dedup_key=f"conference-{conference.pk}:{key}:seq{conference.sequence}",
        attachments=[ics.invitation(event)],
    )


def send_cancellation(conference: Conference, user: User, *, key: str, removed: bool = False) -> None:
    event = calendar_event(conference, attendees=[(user.email, user.get_full_name())])
    # Taking one person off: their copy is cancelled, one step past the others'.
    if removed:
        event = ics.Event(**{**event.__dict__, "sequence": conference.sequence + 1, "url": ""})
    queue_templated_email(
        user=user,
        template="conference_uninvited" if removed else "conference_cancelled",
        context={**email_context(conference), "join_url": ""},
        dedup_key=f"conference-{conference.pk}:{key}:cancel:seq{event.sequence}",
        attachments=[ics.invitation(event, cancel=True)],
    )


def on_meeting_created(meeting: ProviderMeeting) -> None:
    """The provider meeting exists: send the invitations with its join link."""
    conference = (
        Conference.objects.select_for_update(of=("self",))
        .select_related("hospital", "meeting", "requested_by")
        .filter(meeting=meeting)
        .first()
    )
    if conference is not None:
        send_invitations(conference)


# --- Reminders ----------------------------------------------------------------------------


def reminders_due(window_start: datetime, window_end: datetime) -> Iterable[reminders.Reminder]:
    conferences = (
        Conference.objects.filter(
            state=State.SCHEDULED,
            start__gte=window_start,
            start__lte=window_end,
            meeting__state=ProviderMeeting.State.CREATED,
            meeting__cancel_requested=False,
        )
        .select_related("hospital", "meeting", "requested_by")
        .prefetch_related("invitations__clinician__user")
    )
    for conference in conferences:
        assert conference.start is not None
        context = email_context(conference)
        item = f"conference-{conference.pk}"
        for invitation in conference.invitations.all():
            if invitation.response == Invitation.Response.DECLINED or invitation.sent_sequence is None:
                continue
            yield reminders.Reminder(
                item=item,
                user=invitation.clinician.user,
                start=conference.start,
                template="conference_reminder",
                context=context,
                since=invitation.invited_at,
            )
        if conference.requested_by is not None and conference.requester_sent_sequence is not None:
            yield reminders.Reminder(
                item=item,
                user=conference.requested_by,
                start=conference.start,
                template="conference_reminder",
                context=context,
                since=conference.requester_invited_at,
            )
