"""The conference request's panel on the helpdesk ticket page (helpdesk.panels registry)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Exists, OuterRef, Prefetch
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinicians.models import Clinician
from helpdesk import panels
from helpdesk.models import Ticket

from .. import experts
from ..models import Conference, ConferenceEvent, Invitation, OutcomeReport
from . import forms, outcomes
from . import services as case_conferences

if TYPE_CHECKING:
    from cmss.models import User

State = Conference.State
Action = ConferenceEvent.Action


def _conference(ticket: Ticket) -> Conference | None:
    return (
        Conference.objects.with_related()
        .select_related("report__written_by")
        .prefetch_related(
            "slots",
            "erns",
            "specialties",
            "invitations__clinician__user",
            "report__participants",
            # Who acted, by name: a clinician's comes from their profile.
            Prefetch("events", queryset=ConferenceEvent.objects.select_related("actor__clinician")),
        )
        .filter(ticket=ticket)
        .first()
    )


@dataclass(frozen=True)
class HistoryLine:
    """One line of the conference's history as the panel shows it: the times
    are aware datetimes, shown in the agent's zone by the template."""

    at: datetime
    who: str
    what: str
    times: tuple[datetime, ...] = ()
    detail: str = ""
    note: str = ""


def _moment(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _detail(event: ConferenceEvent) -> str:
    if event.action in ConferenceEvent.NAMING:
        return event.to_value or event.from_value
    if event.action == Action.CANCELLED and event.from_value in State.values:
        return _("was %(state)s") % {"state": State(event.from_value).label}
    # A change of mind (a first answer has no "from" worth showing).
    if event.action in (Action.INVITEE_ACCEPTED, Action.INVITEE_DECLINED) and event.from_value in (
        Invitation.Response.ACCEPTED,
        Invitation.Response.DECLINED,
    ):
        return _("changed from %(answer)s") % {"answer": Invitation.Response(event.from_value).label}
    if event.action == Action.REPORT_ANSWERED and event.to_value in OutcomeReport.Usefulness.values:
        return str(OutcomeReport.Usefulness(event.to_value).label)
    return ""


def history(conference: Conference) -> list[HistoryLine]:
    """The conference's events (prefetched), oldest first."""
    lines = []
    for event in conference.events.all():
        times: tuple[datetime, ...] = ()
        if event.action in (Action.APPROVED, Action.MOVED):
            times = tuple(
                moment
                for moment in (_moment(event.from_value), _moment(event.to_value))
                if moment is not None
            )
        lines.append(
            HistoryLine(
                at=event.at,
                who=event.actor.get_full_name() if event.actor is not None else _("system"),
                what=event.action_label,
                times=times,
                detail=_detail(event),
                note=event.note,
            )
        )
    return lines


def report_of(conference: Conference | None) -> OutcomeReport | None:
    """The conference's outcome report, if one was written (select_related: no query)."""
    try:
        return conference.report if conference is not None else None
    except OutcomeReport.DoesNotExist:
        return None


def suggestions(conference: Conference, requester: Clinician | None) -> list[experts.Suggestion]:
    """Experts to invite to an open conference (its relations prefetched by
    `_conference`): for its wanted expertise and language, at its time or its
    proposed times, never the requester or someone already invited."""
    if not conference.is_open:
        return []
    if requester is not None and requester.user_id != conference.requested_by_id:
        requester = None
    moments = [conference.start] if conference.start else [slot.start for slot in conference.slots.all()]
    return experts.suggest_experts(
        erns=conference.erns.all(),
        specialties=conference.specialties.all(),
        language=conference.language,
        slots=moments,
        exclude_clinicians=[invitation.clinician_id for invitation in conference.invitations.all()],
        requester=requester,
    )


def context(ticket: Ticket) -> dict[str, Any]:
    conference = _conference(ticket)
    requester = panels.clinician_context(ticket)
    return {
        **requester,
        "conference": conference,
        "report": report_of(conference),
        "history": history(conference) if conference is not None else [],
        "suggestions": suggestions(conference, requester["clinician"]) if conference is not None else [],
    }


def _when(conference: Conference) -> str:
    assert conference.start is not None
    return date_format(timezone.localtime(conference.start), "DATETIME_FORMAT")


def _facts(ticket: Ticket) -> tuple[str | None, bool]:
    """The ticket's conference's state and whether anyone is invited: read once
    per ticket object (one request) for the eight actions' availability."""
    if "_conference_facts" not in ticket.__dict__:
        invited = Exists(Invitation.objects.filter(conference=OuterRef("pk")))
        row = Conference.objects.filter(ticket=ticket).values_list("state", invited).first()
        ticket.__dict__["_conference_facts"] = (row[0], bool(row[1])) if row else (None, False)
    facts: tuple[str | None, bool] = ticket.__dict__["_conference_facts"]
    return facts


def _in_state(*states: str) -> Callable[[Ticket], bool]:
    # Conference actions follow the conference, not the ticket: a scheduled
    # conference can be moved or cancelled after its ticket is resolved.
    def check(ticket: Ticket) -> bool:
        return _facts(ticket)[0] in states

    return check


def _with_conference(ticket: Ticket) -> dict[str, Any]:
    return {"conference": Conference.objects.get(ticket=ticket)}


def register_conference_panel() -> None:
    def approve(ticket: Ticket, data: dict[str, Any], by: User) -> str:
        conference = case_conferences.approve(
            conference=Conference.objects.get(ticket=ticket), start=data["start"], by=by
        )
        return _("Scheduled for %(when)s. The meeting is being created; invitations follow.") % {
            "when": _when(conference)
        }

    def decline(ticket: Ticket, data: dict[str, Any], by: User) -> str:
        case_conferences.decline(
            conference=Conference.objects.get(ticket=ticket), reason=data["reason"], by=by
        )
        return _("The request is declined and the requester told.")

    def move(ticket: Ticket, data: dict[str, Any], by: User) -> str:
        conference = case_conferences.move(
            conference=Conference.objects.get(ticket=ticket), start=data["start"], by=by
        )
        return _("Moved to %(when)s. Everyone invited gets the update.") % {"when": _when(conference)}

    def cancel(ticket: Ticket, data: dict[str, Any], by: User) -> str:
        case_conferences.cancel(
            conference=Conference.objects.get(ticket=ticket), reason=data["reason"], by=by
        )
        return _("The conference is cancelled. The requester and the invitees are told.")

    def held(ticket: Ticket, data: dict[str, Any], by: User) -> str:
        outcomes.mark_held(
            conference=Conference.objects.get(ticket=ticket),
            report=outcomes.ReportData(
                question=data["question"],
                advice=data["advice"],
                agreement=data["agreement"],
                dissent=data["dissent"],
                further_tests=data["further_tests"],
                transfer_advised=data["transfer_advised"],
                transfer_to=data["transfer_to"],
                rediscuss_on=data["rediscuss_on"],
                participants=list(data["participants"]),
                requester_took_part=data["requester_took_part"],
            ),
            by=by,
        )
        return _("The conference is marked held. Its outcome report is sent as a link by email.")

    def add(ticket: Ticket, data: dict[str, Any], by: User) -> str:
        invitation = case_conferences.add_invitee(
            conference=Conference.objects.get(ticket=ticket), clinician=data["email"], by=by
        )
        return _("%(name)s is invited.") % {"name": invitation.clinician.full_name}

    def invite_suggested(ticket: Ticket, data: dict[str, Any], by: User) -> str:
        invitation = case_conferences.add_invitee(
            conference=Conference.objects.get(ticket=ticket), clinician=data["clinician"], by=by
        )
        return _("%(name)s is invited.") % {"name": invitation.clinician.full_name}

    def remove(ticket: Ticket, data: dict[str, Any], by: User) -> str:
        conference = Conference.objects.get(ticket=ticket)
        invitation = conference.invitations.select_related("clinician").get(pk=data["invitation"])
        case_conferences.remove_invitee(conference=conference, invitation=invitation, by=by)
        return _("%(name)s is no longer invited.") % {"name": invitation.clinician.full_name}

    def has_invitees(ticket: Ticket) -> bool:
        state, invited = _facts(ticket)
        return invited and state in (State.REQUESTED, State.SCHEDULED)

    panels.register(
        Ticket.Kind.CONFERENCE_REQUEST,
        panels.Panel(
            title=gettext_lazy("Conference request"),
            template="admin/conferences/_panel_conference.html",
            context=context,
            actions=(
                panels.Action(
                    "approve",
                    gettext_lazy("Approve and schedule"),
                    forms.ApproveForm,
                    approve,
                    form_kwargs=_with_conference,
                    available=_in_state(State.REQUESTED),
                ),
                panels.Action(
                    "add_invitee",
                    gettext_lazy("Invite a clinician"),
                    forms.AddInviteeForm,
                    add,
                    available=_in_state(State.REQUESTED, State.SCHEDULED),
                ),
                panels.Action(
                    "invite_suggested",
                    gettext_lazy("Invite"),
                    forms.InviteSuggestedForm,
                    invite_suggested,
                    # One button on each suggested expert (_panel_conference.html).
                    own_buttons=True,
                    available=_in_state(State.REQUESTED, State.SCHEDULED),
                ),
                panels.Action(
                    "remove_invitee",
                    gettext_lazy("Remove an invitee"),
                    forms.RemoveInviteeForm,
                    remove,
                    form_kwargs=_with_conference,
                    available=has_invitees,
                ),
                panels.Action(
                    "move",
                    gettext_lazy("Move to another time"),
                    forms.MoveForm,
                    move,
                    available=_in_state(State.SCHEDULED),
                ),
                panels.Action(
                    "held",
                    gettext_lazy("Mark held and send the outcome report"),
                    forms.OutcomeReportForm,
                    held,
                    form_kwargs=_with_conference,
                    available=_in_state(State.SCHEDULED),
                ),
                panels.Action(
                    "decline",
                    gettext_lazy("Decline the request"),
                    forms.ReasonForm,
                    decline,
                    available=_in_state(State.REQUESTED),
                    style="danger",
                ),
                panels.Action(
                    "cancel_conference",
                    gettext_lazy("Cancel the conference"),
                    forms.OptionalReasonForm,
                    cancel,
                    available=_in_state(State.REQUESTED, State.SCHEDULED),
                    style="danger",
                ),
            ),
        ),
    )
