"""Case-discussion conferences: request, schedule, invite, move, cancel.

Every change locks the conference row, so that an agent and a coordinator
acting at once apply one after the other, and writes one ConferenceEvent (the
history on the ticket's panel) in its transaction. The meeting on the video provider is
a ProviderMeeting row (see conferences/meetings/pipeline.py): this module says what it should be,
a worker makes it so. Invitations, calendar files and reminders are in
invitations.py; marking a conference held, with its outcome report, is in
outcomes.py.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from clinicians.models import ERN, Clinician, Language, Specialty
from cmss.outbox import queue_templated_email
from helpdesk import services as helpdesk
from helpdesk.models import Ticket

from ..meetings import pipeline
from ..models import Conference, ConferenceEvent, Invitation, OutcomeReport, ProposedSlot
from .invitations import conference_link, invitee_of, send_cancellation, send_invitations

if TYPE_CHECKING:
    from cmss.models import User

logger = logging.getLogger(__name__)

State = Conference.State
Action = ConferenceEvent.Action


class ConferenceError(helpdesk.HelpdeskError):
    """A move the conference's state does not allow (shown to the person acting)."""


@dataclass(frozen=True)
class RequestData:
    title: str
    question: str
    case_summary: str
    urgency: str
    slots: Sequence[datetime]
    duration_minutes: int
    time_zone: str
    invitees: Sequence[Clinician]
    erns: Sequence[ERN] = ()
    specialties: Sequence[Specialty] = ()
    countries: Sequence[str] = ()
    language: Language | None = None


def _locked(conference: Conference) -> Conference:
    return (
        Conference.objects.select_for_update(of=("self",))
        .select_related("hospital", "meeting")
        .get(pk=conference.pk)
    )


def _require(conference: Conference, to: str) -> None:
    if not conference.can_move_to(to):
        raise ConferenceError(
            _("The conference is %(state)s: that is no longer possible.")
            % {"state": conference.get_state_display()}
        )


def _event(
    conference: Conference, *, action: str, by: User | None, old: str = "", new: str = "", note: str = ""
) -> None:
    """The history line of one action. A note is an excerpt of a reason
    written for the requester (it may name a colleague: declared as a mention),
    never the clinical question, summary or outcome."""
    note = " ".join(note.split())
    if len(note) > ConferenceEvent.NOTE_LENGTH:
        note = note[: ConferenceEvent.NOTE_LENGTH - 1] + "…"
    ConferenceEvent.objects.create(
        conference=conference, action=action, actor=by, from_value=old[:200], to_value=new[:200], note=note
    )


def _utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment is not None else ""


def _agenda(conference: Conference) -> str:
    """What the provider sees: never the clinical question or the summary."""
    with override(settings.LANGUAGE_CODE):
        return _(
            "Case-discussion conference requested by %(hospital)s through the CMSS. "
            "Invitees read the question and the anonymised summary on the CMSS: %(link)s"
        ) % {"hospital": conference.hospital.name, "link": conference_link(conference)}


# --- Requesting ---------------------------------------------------------------------------


@transaction.atomic
def request_conference(*, coordinator: Clinician, data: RequestData) -> Conference:
    """A coordinator's request: the conference, its proposed times and
    invitees, and a ticket in the helpdesk queue (urgent when urgent)."""
    if not coordinator.is_coordinator:
        raise ConferenceError(_("Only coordinators of reference centres can request conferences."))
    conference = Conference.objects.create(  # type: ignore[misc]  # django-countries types a multiple=True field as one code
        hospital=coordinator.hospital,
        requested_by=coordinator.user,
        title=data.title,
        question=data.question,
        case_summary=data.case_summary,
        urgency=data.urgency,
        duration_minutes=data.duration_minutes,
        time_zone=data.time_zone,
        language=data.language,
        countries=list(data.countries),
    )
    conference.erns.set(data.erns)
    conference.specialties.set(data.specialties)
    ProposedSlot.objects.bulk_create(ProposedSlot(conference=conference, start=start) for start in data.slots)
    Invitation.objects.bulk_create(
        Invitation(conference=conference, clinician=clinician)
        for clinician in data.invitees
        if clinician.pk != coordinator.pk
    )
    urgent = data.urgency == Conference.Urgency.URGENT
    ticket = helpdesk.open_ticket(
        kind=Ticket.Kind.CONFERENCE_REQUEST,
        subject=_("Conference: %(title)s") % {"title": data.title},
        requester=coordinator.user,
        priority=Ticket.Priority.URGENT if urgent else Ticket.Priority.NORMAL,
        hospital=coordinator.hospital,
    )
    conference.ticket = ticket
    conference.save(update_fields=["ticket"])
    _event(conference, action=Action.REQUESTED, by=coordinator.user)
    queue_templated_email(
        user=coordinator.user,
        template="conference_requested",
        context={"conference": conference, "link": conference_link(conference), "slots": list(data.slots)},
        dedup_key=f"conference-requested:{conference.pk}",
    )
    return conference


# --- The helpdesk's moves -----------------------------------------------------------------


def _tell_requester(conference: Conference, body: str, *, by: User, resolve: bool) -> None:
    """Reply on the conference's ticket. A scheduled conference's ticket stays
    open, due when the conference ends (the next step is marking it held), so
    that moving or cancelling it never means digging out a resolved ticket; it
    is resolved when the conference is held, declined or cancelled."""
    ticket = conference.ticket
    if ticket is None or ticket.requester_id is None or ticket.state == Ticket.State.CLOSED:
        return
    helpdesk.reply(
        ticket=ticket,
        body=body,
        by=by,
        then=Ticket.State.RESOLVED if resolve else Ticket.State.OPEN,
    )
    if not resolve and conference.end is not None:
        helpdesk.set_follow_up(
            ticket=ticket,
            due_at=conference.end,
            by=by,
            note=_("Mark the conference held, with its outcome, once it is over."),
        )


def _time_text(moment: datetime, zone: str) -> str:
    local = timezone.localtime(moment, timezone=_zone(zone))
    return f"{local:%Y-%m-%d %H:%M} ({zone})"


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(name)
    except Exception:
        return ZoneInfo(settings.TIME_ZONE)


@transaction.atomic
def approve(*, conference: Conference, start: datetime, by: User) -> Conference:
    """Schedule the conference at `start` (one of the proposed times or
    another): the meeting is created on the provider by a worker, and the
    invitations go out once it exists."""
    conference = _locked(conference)
    if conference.state != State.REQUESTED:
        _require(conference, State.SCHEDULED)
    if start <= timezone.now():
        raise ConferenceError(_("Choose a time in the future."))
    previous = conference.start
    conference.state = State.SCHEDULED
    conference.start = start
    conference.save(update_fields=["state", "start", "updated_at"])
    _event(conference, action=Action.APPROVED, by=by, old=_utc(previous), new=_utc(start))
    invitations = list(conference.invitations.select_related("clinician__user"))
    conference.meeting = pipeline.request_meeting(
        key=conference.meeting_key,
        owner="conference",
        title=conference.title,
        agenda=_agenda(conference),
        start=start,
        end=start + timedelta(minutes=conference.duration_minutes),
        time_zone=conference.time_zone,
        invitees=[invitee_of(item.clinician) for item in invitations],
    )
    conference.save(update_fields=["meeting"])
    _tell_requester(
        conference,
        _(
            "Your conference “%(title)s” is scheduled for %(time)s. Everyone invited, you "
            "included, will receive the join link and a calendar invitation by email shortly."
        )
        % {"title": conference.title, "time": _time_text(start, conference.time_zone)},
        by=by,
        resolve=False,
    )
    return conference


@transaction.atomic
def decline(*, conference: Conference, reason: str, by: User) -> Conference:
    conference = _locked(conference)
    _require(conference, State.DECLINED)
    conference.state = State.DECLINED
    conference.decline_reason = reason
    conference.save(update_fields=["state", "decline_reason", "updated_at"])
    _event(conference, action=Action.DECLINED, by=by, note=reason)
    _tell_requester(
        conference,
        _("We cannot organise your conference “%(title)s”.") % {"title": conference.title} + "\n\n" + reason,
        by=by,
        resolve=True,
    )
    return conference


@transaction.atomic
def move(*, conference: Conference, start: datetime, by: User) -> Conference:
    """A new time for a scheduled conference: the provider meeting is updated
    and everyone already invited gets an update (same UID, higher SEQUENCE)."""
    conference = _locked(conference)
    if conference.state != State.SCHEDULED:
        raise ConferenceError(_("Only a scheduled conference can be moved."))
    if start <= timezone.now():
        raise ConferenceError(_("Choose a time in the future."))
    if start == conference.start:
        raise ConferenceError(_("The conference is already at that time."))
    _event(conference, action=Action.MOVED, by=by, old=_utc(conference.start), new=_utc(start))
    conference.start = start
    conference.sequence += 1
    conference.save(update_fields=["start", "sequence", "updated_at"])
    if conference.meeting is not None:
        pipeline.update_meeting(
            meeting=conference.meeting,
            start=start,
            end=start + timedelta(minutes=conference.duration_minutes),
        )
        conference.meeting.refresh_from_db()
    send_invitations(conference)
    _tell_requester(
        conference,
        _("Your conference “%(title)s” has moved to %(time)s. Everyone invited is told.")
        % {"title": conference.title, "time": _time_text(start, conference.time_zone)},
        by=by,
        resolve=False,
    )
    return conference


@transaction.atomic
def cancel(*, conference: Conference, by: User, reason: str = "") -> Conference:
    """Cancel (the helpdesk, or a coordinator of the hospital): the provider
    meeting is cancelled and everyone who was invited gets METHOD:CANCEL."""
    conference = _locked(conference)
    _require(conference, State.CANCELLED)
    was_scheduled = conference.state == State.SCHEDULED
    # From which state: withdrawn before a time was set, or called off.
    _event(conference, action=Action.CANCELLED, by=by, old=conference.state, note=reason)
    conference.state = State.CANCELLED
    conference.cancel_reason = reason
    conference.sequence += 1
    conference.save(update_fields=["state", "cancel_reason", "sequence", "updated_at"])
    if conference.meeting is not None:
        pipeline.cancel_meeting(meeting=conference.meeting)
    if was_scheduled:
        for invitation in conference.invitations.filter(sent_sequence__isnull=False).select_related(
            "clinician__user"
        ):
            send_cancellation(conference, invitation.clinician.user, key=f"invitation-{invitation.pk}")
        if conference.requested_by is not None and conference.requester_sent_sequence is not None:
            send_cancellation(conference, conference.requested_by, key="requester")
    ticket = conference.ticket
    if by.is_staff:
        _tell_requester(
            conference,
            _("Your conference “%(title)s” is cancelled.") % {"title": conference.title}
            + ("\n\n" + reason if reason else ""),
            by=by,
            resolve=True,
        )
    elif ticket is not None and ticket.state != Ticket.State.CLOSED:
        helpdesk.requester_reply(
            ticket=ticket,
            body=_("I cancelled this conference.") + ("\n\n" + reason if reason else ""),
            by=by,
        )
    return conference


@transaction.atomic
def add_invitee(*, conference: Conference, clinician: Clinician, by: User) -> Invitation:
    conference = _locked(conference)
    if not conference.is_open:
        raise ConferenceError(_("The conference is %(state)s.") % {"state": conference.get_state_display()})
    if not Clinician.objects.listed().filter(pk=clinician.pk).exists():
        raise ConferenceError(_("Only verified clinicians listed in the directory can be invited."))
    if conference.requested_by_id == clinician.user_id:
        raise ConferenceError(_("The requester takes part anyway."))
    invitation, created = Invitation.objects.get_or_create(conference=conference, clinician=clinician)
    if not created:
        raise ConferenceError(_("%(name)s is already invited.") % {"name": clinician.full_name})
    _event(conference, action=Action.INVITEE_ADDED, by=by, new=clinician.full_name)
    if conference.meeting is not None:
        pipeline.add_meeting_invitee(meeting=conference.meeting, invitee=invitee_of(clinician))
    send_invitations(conference)
    return invitation


@transaction.atomic
def remove_invitee(*, conference: Conference, invitation: Invitation, by: User) -> None:
    conference = _locked(conference)
    if not conference.is_open:
        raise ConferenceError(_("The conference is %(state)s.") % {"state": conference.get_state_display()})
    invitation = Invitation.objects.select_related("clinician__user").get(
        pk=invitation.pk, conference=conference
    )
    # Named, not linked: the invitation row goes.
    _event(conference, action=Action.INVITEE_REMOVED, by=by, old=invitation.clinician.full_name)
    if conference.meeting is not None:
        pipeline.remove_meeting_invitee(meeting=conference.meeting, email=invitation.clinician.user.email)
    if invitation.sent_sequence is not None:
        send_cancellation(
            conference, invitation.clinician.user, key=f"invitation-{invitation.pk}", removed=True
        )
    invitation.delete()


# --- The invitee's answer -----------------------------------------------------------------


@transaction.atomic
def respond(*, invitation: Invitation, accept: bool) -> Invitation:
    """The invitee's answer; a change of mind is recorded, the same answer twice is not."""
    # The conference row is locked too, as by its other actions: its state cannot
    # change under the answer.
    invitation = (
        Invitation.objects.select_for_update(of=("self", "conference"))
        .select_related("conference", "clinician__user")
        .get(pk=invitation.pk)
    )
    if not invitation.conference.is_open:
        raise ConferenceError(
            _("The conference is %(state)s.") % {"state": invitation.conference.get_state_display()}
        )
    previous = invitation.response
    invitation.response = Invitation.Response.ACCEPTED if accept else Invitation.Response.DECLINED
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["response", "responded_at"])
    if invitation.response != previous:
        _event(
            invitation.conference,
            action=Action.INVITEE_ACCEPTED if accept else Action.INVITEE_DECLINED,
            by=invitation.clinician.user,
            old=previous,
            new=invitation.response,
        )
    return invitation


# --- Retention ----------------------------------------------------------------------------


def purge_case_summaries(policy: Any, now: datetime) -> int:
    """Clear question and summary of conferences over for longer than the
    retention period (held: from the start; declined or cancelled: from the
    last change), and with them the clinical text of their outcome reports.
    Returns how many conferences were cleared."""
    cutoff = policy.cutoff("case_summaries_days", now)
    over = Q(state=State.HELD, start__lt=cutoff) | Q(
        state__in=[State.DECLINED, State.CANCELLED], updated_at__lt=cutoff
    )
    due = Conference.objects.filter(over, summary_purged_at__isnull=True)
    OutcomeReport.objects.filter(conference__in=due.values("pk"), text_purged_at__isnull=True).update(
        **dict.fromkeys(OutcomeReport.CLINICAL_TEXT, ""), text_purged_at=now
    )
    return due.update(question="", case_summary="", outcome="", summary_purged_at=now)
