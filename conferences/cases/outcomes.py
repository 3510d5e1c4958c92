"""The advice that comes back: a held conference's outcome report.

Marking a conference held asks for the report (the question as asked, the
advice, whether the panel agreed, the suggested follow-up, who took part); it
is saved and sent in one transaction: an email with a link only (no clinical
text leaves the CMSS by email) to the requester, the hospital's coordinators
and the invitees who took part, each in their own language and zone. The
requester then marks it read and says whether it was useful, which the
helpdesk sees on the ticket's panel. Every step writes one ConferenceEvent,
never with clinical text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinicians.models import Clinician
from cmss.outbox import queue_templated_email
from helpdesk import services as helpdesk

from ..models import Conference, ConferenceEvent, Invitation, OutcomeReport
from .invitations import conference_link
from .services import ConferenceError, _event, _locked, _require

if TYPE_CHECKING:
    from cmss.models import User

State = Conference.State
Action = ConferenceEvent.Action
Agreement = OutcomeReport.Agreement


@dataclass(frozen=True)
class ReportData:
    """What the agent writes when marking a conference held."""

    question: str
    advice: str
    agreement: str
    dissent: str = ""
    further_tests: str = ""
    transfer_advised: bool = False
    transfer_to: str = ""
    rediscuss_on: date | None = None
    participants: Sequence[Clinician] = ()
    requester_took_part: bool = True


def _check(conference: Conference, data: ReportData) -> None:
    """The rules the form shows next to its fields, kept here for every other caller."""
    if not data.advice.strip():
        raise ConferenceError(_("Write the panel's advice or recommendations."))
    if data.agreement not in Agreement.values:
        raise ConferenceError(_("Say whether the panel agreed."))
    if data.agreement != Agreement.CONSENSUS and not data.dissent.strip():
        raise ConferenceError(_("Without consensus, note the dissent: who disagreed, and with what."))
    if data.transfer_advised and not data.transfer_to.strip():
        raise ConferenceError(_("Say where the patient should be transferred."))
    if data.rediscuss_on is not None and data.rediscuss_on < timezone.localdate():
        raise ConferenceError(_("Choose a re-discussion date from today on."))
    invited = set(Invitation.objects.filter(conference=conference).values_list("clinician_id", flat=True))
    if any(clinician.pk not in invited for clinician in data.participants):
        raise ConferenceError(_("Only the conference's invitees can be ticked as having taken part."))


@transaction.atomic
def mark_held(*, conference: Conference, report: ReportData, by: User) -> OutcomeReport:
    """The conference took place: save its outcome report, mark it held, send
    the report (a link by email) and resolve the ticket. The time from the
    request to the advice is `conference.advice_at - conference.created_at`."""
    conference = _locked(conference)
    _require(conference, State.HELD)
    if conference.start is None or conference.start > timezone.now():
        raise ConferenceError(_("The conference has not started yet."))
    _check(conference, report)
    now = timezone.now()
    outcome = OutcomeReport.objects.create(
        conference=conference,
        question=report.question,
        advice=report.advice,
        agreement=report.agreement,
        dissent=report.dissent if report.agreement != Agreement.CONSENSUS else "",
        further_tests=report.further_tests,
        transfer_advised=report.transfer_advised,
        transfer_to=report.transfer_to if report.transfer_advised else "",
        rediscuss_on=report.rediscuss_on,
        requester_took_part=report.requester_took_part,
        written_by=by,
        sent_at=now,
    )
    outcome.participants.set(report.participants)
    conference.state = State.HELD
    conference.held_at = now
    conference.advice_at = now
    conference.save(update_fields=["state", "held_at", "advice_at", "updated_at"])
    # The report is clinical: it stays on its row (and is purged with the case summary).
    _event(conference, action=Action.HELD, by=by)
    send_report(conference, outcome)
    ticket = conference.ticket
    if ticket is not None and ticket.is_active:
        helpdesk.resolve(ticket=ticket, by=by, note=_("The conference was held; its outcome report is sent."))
    return outcome


def recipients(conference: Conference, report: OutcomeReport) -> list[User]:
    """Who is sent the report, each once: the requester, the hospital's
    coordinators and the invitees who took part, of those who can open the
    conference's page (so that the link works for everyone it reaches)."""
    candidates: list[User] = []
    if conference.requested_by is not None:
        candidates.append(conference.requested_by)
    coordinators = Clinician.objects.filter(
        hospital=conference.hospital,
        status=Clinician.Status.VERIFIED,
        hospital_confirmed=True,
        hospital__approved=True,
        hospital__is_reference_centre=True,
    ).select_related("user")
    candidates += [clinician.user for clinician in coordinators]
    candidates += [clinician.user for clinician in report.participants.select_related("user")]
    people: dict[int, User] = {}
    for user in candidates:
        if user.pk in people or not user.is_active:
            continue
        if Conference.objects.visible_to(user).filter(pk=conference.pk).exists():
            people[user.pk] = user
    return list(people.values())


def send_report(conference: Conference, report: OutcomeReport) -> int:
    """Queue the report's email (the link only) to each recipient; returns how many."""
    people = recipients(conference, report)
    for user in people:
        queue_templated_email(
            user=user,
            template="conference_report",
            context={"conference": conference, "link": conference_link(conference) + "#report"},
            dedup_key=f"conference-{conference.pk}:report:{user.pk}",
        )
    return len(people)


def _requesters(report: OutcomeReport, by: User) -> OutcomeReport:
    report = (
        OutcomeReport.objects.select_for_update(of=("self",)).select_related("conference").get(pk=report.pk)
    )
    if report.conference.requested_by_id != by.pk:
        raise ConferenceError(_("Only the clinician who requested the conference answers for it."))
    return report


@transaction.atomic
def mark_read(*, report: OutcomeReport, by: User) -> OutcomeReport:
    """The requester has read the report (once; reading again changes nothing)."""
    report = _requesters(report, by)
    if report.read_at is None:
        report.read_at = timezone.now()
        report.save(update_fields=["read_at"])
        _event(report.conference, action=Action.REPORT_READ, by=by)
    return report


@transaction.atomic
def rate_usefulness(*, report: OutcomeReport, usefulness: str, comment: str, by: User) -> OutcomeReport:
    """The requester's answer to "was this useful?" (yes, partly, no, and a
    comment); it marks the report read. A change of mind is recorded; the
    comment stays on the report, out of the history."""
    report = _requesters(report, by)
    if usefulness not in OutcomeReport.Usefulness.values:
        raise ConferenceError(_("Say whether the advice was useful."))
    if report.is_purged:
        raise ConferenceError(_("The text of this report was deleted after the retention period."))
    now = timezone.now()
    if report.read_at is None:
        report.read_at = now
        _event(report.conference, action=Action.REPORT_READ, by=by)
    previous = report.usefulness
    report.usefulness = usefulness
    report.usefulness_comment = comment
    report.answered_at = now
    report.save(update_fields=["read_at", "usefulness", "usefulness_comment", "answered_at"])
    _event(report.conference, action=Action.REPORT_ANSWERED, by=by, old=previous, new=usefulness)
    return report
