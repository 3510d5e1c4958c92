"""Helpdesk workflows: every write to a ticket goes through here.

Each function runs in one transaction, records a TicketEvent for every change
and raises HelpdeskError with a message for people when it cannot go ahead.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from clinicians import services as clinician_services
from clinicians.models import Clinician, Hospital
from cmss import fragments
from cmss.outbox import queue_email, queue_templated_email, render_email

from . import sla
from .models import CannedReply, Holiday, Ticket, TicketEvent, TicketMessage

if TYPE_CHECKING:
    from cmss.models import User

AUTO_CLOSE_AFTER = timedelta(days=7)
TOKEN_SALT = "helpdesk.ticket"  # noqa: S105 (a signing namespace, not a secret)
TOKEN_MAX_AGE = timedelta(days=60)


class HelpdeskError(Exception):
    """A helpdesk action that cannot be done; the message is for people."""


def holidays() -> set[date]:
    return set(Holiday.objects.values_list("date", flat=True))


def _event(
    ticket: Ticket, *, by: User | None, action: str, old: str = "", new: str = "", note: str = ""
) -> None:
    now = timezone.now()
    TicketEvent.objects.create(
        ticket=ticket, at=now, actor=by, action=action, from_value=old[:200], to_value=new[:200], note=note
    )
    ticket.updated_at = now


def _locked(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


# --- Opening ----------------------------------------------------------------------


def open_ticket(
    *,
    kind: str,
    subject: str,
    requester: User | None = None,
    requester_name: str = "",
    requester_email: str = "",
    priority: str = Ticket.Priority.NORMAL,
    hospital: Hospital | None = None,
    body: str = "",
    by: User | None = None,
) -> Ticket:
    """Open a ticket in the queue with its due time, and record the event."""
    now = timezone.now()
    ticket = Ticket.objects.create(
        kind=kind,
        subject=subject[:200],
        requester=requester,
        requester_name=requester_name or (requester.get_full_name() if requester else ""),
        requester_email=requester_email or (requester.email if requester else ""),
        priority=priority,
        hospital=hospital,
        created_at=now,
        updated_at=now,
        due_at=sla.due_at(kind=kind, priority=priority, opened_at=now, holidays=holidays()),
    )
    TicketEvent.objects.create(
        ticket=ticket, at=now, actor=by or requester, action="opened", to_value=Ticket.State.NEW
    )
    if body:
        TicketMessage.objects.create(
            ticket=ticket, kind=TicketMessage.Kind.REQUESTER, author=requester, body=body, created_at=now
        )
    return ticket


def _open_once(**kwargs: object) -> Ticket:
    """Open a ticket guarded by a unique constraint; on a race, return the winner."""
    lookup = {"kind": kwargs["kind"]}
    if kwargs["kind"] == Ticket.Kind.HOSPITAL_PROPOSAL:
        lookup["hospital"] = kwargs["hospital"]
    else:
        lookup["requester"] = kwargs["requester"]
    existing = Ticket.objects.filter(**lookup).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return open_ticket(**kwargs)  # type: ignore[arg-type]
    except IntegrityError:
        return Ticket.objects.get(**lookup)


def open_registration_ticket(*, clinician: Clinician) -> Ticket:
    """The one "contact and verify" ticket of a clinician whose email is confirmed.

    Idempotent: a database constraint allows one per requester. A hospital
    proposed at registration gets its own proposal ticket.
    """
    ticket = _open_once(
        kind=Ticket.Kind.REGISTRATION,
        subject=f"Contact and verify {clinician.full_name} ({clinician.hospital.name})",
        requester=clinician.user,
    )
    if not clinician.hospital.approved:
        open_hospital_proposal_ticket(hospital=clinician.hospital, clinician=clinician)
    return ticket


def open_hospital_proposal_ticket(*, hospital: Hospital, clinician: Clinician) -> Ticket:
    return _open_once(
        kind=Ticket.Kind.HOSPITAL_PROPOSAL,
        subject=f"New hospital proposed: {hospital.name}, {hospital.city} ({hospital.country.code})",
        requester=clinician.user,
        hospital=hospital,
    )


def open_hospital_tickets(*, clinician: Clinician, previous_hospital: Hospital) -> None:
    """A clinician moved to another hospital (a clinicians follow-up).

    A hospital not in the list needs approving; a verified clinician needs the
    new hospital confirmed before coordinator rights return.
    """
    if not clinician.hospital.approved:
        open_hospital_proposal_ticket(hospital=clinician.hospital, clinician=clinician)
    if clinician.status == Clinician.Status.VERIFIED:
        already = Ticket.objects.open().filter(kind=Ticket.Kind.HOSPITAL_CHANGE, requester=clinician.user)
        for ticket in already:
            _event(ticket, by=clinician.user, action="hospital_changed_again", new=clinician.hospital.name)
            ticket.hospital = clinician.hospital
            ticket.save(update_fields=["hospital", "updated_at"])
        if not already:
            open_ticket(
                kind=Ticket.Kind.HOSPITAL_CHANGE,
                subject=f"Confirm the new hospital of {clinician.full_name}: {clinician.hospital.name} "
                f"(was {previous_hospital.name})",
                requester=clinician.user,
                hospital=clinician.hospital,
            )


def open_question(*, requester: User, subject: str, body: str) -> Ticket:
    """A signed-in person asks the helpdesk something."""
    return open_ticket(kind=Ticket.Kind.QUESTION, subject=subject, requester=requester, body=body)


def open_contact_question(
    *, name: str, email: str, subject: str, body: str, kind: str = Ticket.Kind.QUESTION
) -> Ticket:
    """Someone without an account writes through /contact/. They get a signed
    link to follow the ticket; nothing tells them whether the address has an account."""
    ticket = open_ticket(kind=kind, subject=subject, requester_name=name, requester_email=email, body=body)
    text_subject, text, html = render_email(
        "ticket_received", {"ticket": ticket, "name": name, "link": ticket_link(ticket)}
    )
    queue_email(
        to=email, subject=text_subject, text=text, html=html, dedup_key=f"ticket-received:{ticket.pk}"
    )
    return ticket


# --- Links for requesters ---------------------------------------------------------------


def ticket_token(ticket: Ticket) -> str:
    return signing.dumps(
        {"t": ticket.pk, "e": ticket.requester_email.lower()}, salt=TOKEN_SALT, compress=True
    )


def ticket_from_token(token: str) -> Ticket | None:
    """The ticket a signed link opens, or None when it is forged or expired."""
    try:
        data = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    return Ticket.objects.filter(
        pk=data.get("t"), requester_email__iexact=data.get("e", ""), requester__isnull=True
    ).first()


def ticket_link(ticket: Ticket) -> str:
    """Where the requester follows the ticket: their helpdesk page, or a signed link."""
    if ticket.requester_id is not None:
        return settings.SITE_URL + reverse("helpdesk:ticket_detail", args=[ticket.pk])
    return settings.SITE_URL + reverse("helpdesk:ticket_by_link", args=[ticket_token(ticket)])


# --- State, assignment, priority ---------------------------------------------------------


def _apply_state(ticket: Ticket, to: str, *, by: User | None, note: str = "") -> None:
    """Move the state (on a locked ticket), stopping or restarting the clock."""
    if ticket.state == to:
        return
    if not ticket.can_move_to(to):
        raise HelpdeskError(
            f"Ticket {ticket.number} is {ticket.get_state_display()}; it cannot become {Ticket.State(to).label}."
        )
    now = timezone.now()
    days_off = holidays()
    if to == Ticket.State.WAITING and ticket.due_at is not None:
        ticket.time_left_when_paused = sla.remaining(
            kind=ticket.kind, due=ticket.due_at, now=now, holidays=days_off
        )
        ticket.waiting_since = now
    if ticket.state == Ticket.State.WAITING and ticket.time_left_when_paused is not None:
        ticket.due_at = sla.resume(
            kind=ticket.kind, left=ticket.time_left_when_paused, now=now, holidays=days_off
        )
        ticket.time_left_when_paused = None
        ticket.waiting_since = None
    if to == Ticket.State.RESOLVED:
        ticket.resolved_at = now
    elif to == Ticket.State.OPEN:
        ticket.resolved_at = None
    _event(ticket, by=by, action="state", old=ticket.state, new=to, note=note)
    ticket.state = to


@transaction.atomic
def change_state(*, ticket: Ticket, to: str, by: User | None, note: str = "") -> Ticket:
    ticket = _locked(ticket)
    _apply_state(ticket, to, by=by, note=note)
    ticket.save()
    return ticket


def resolve(*, ticket: Ticket, by: User, note: str = "") -> Ticket:
    return change_state(ticket=ticket, to=Ticket.State.RESOLVED, by=by, note=note)


@transaction.atomic
def set_follow_up(*, ticket: Ticket, due_at: datetime, by: User, note: str = "") -> Ticket:
    """Keep an open ticket in the queue until its next step is due (a conference
    ticket: marking it held once it is over). Its due time becomes `due_at`."""
    ticket = _locked(ticket)
    if ticket.state not in (Ticket.State.NEW, Ticket.State.OPEN):
        raise HelpdeskError(f"Ticket {ticket.number} is {ticket.get_state_display()}.")
    if ticket.due_at != due_at:
        old = timezone.localtime(ticket.due_at).isoformat(timespec="minutes") if ticket.due_at else ""
        new = timezone.localtime(due_at).isoformat(timespec="minutes")
        _event(ticket, by=by, action="follow_up", old=old, new=new, note=note)
        ticket.due_at = due_at
        ticket.save()
    return ticket


def _apply_assignee(ticket: Ticket, agent: User | None, *, by: User) -> None:
    if agent is not None and not agent.is_staff:
        raise HelpdeskError("Only helpdesk staff can be assigned a ticket.")
    if ticket.assignee_id == (agent.pk if agent else None):
        return
    _event(ticket, by=by, action="assignee", old=str(ticket.assignee or ""), new=str(agent or ""))
    ticket.assignee = agent
    if agent is not None and ticket.state == Ticket.State.NEW:
        _apply_state(ticket, Ticket.State.OPEN, by=by)


@transaction.atomic
def assign(*, ticket: Ticket, to: User | None, by: User) -> Ticket:
    ticket = _locked(ticket)
    if not ticket.is_active:
        raise HelpdeskError(f"Ticket {ticket.number} is {ticket.get_state_display()}.")
    _apply_assignee(ticket, to, by=by)
    ticket.save()
    return ticket


@transaction.atomic
def take_next(*, agent: User) -> Ticket | None:
    """Give the agent the most urgent unassigned ticket.

    Rows locked by another agent's transaction are skipped (SKIP LOCKED), so
    agents pressing "take next" at the same moment never get the same ticket.
    """
    ticket = (
        Ticket.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(state__in=[Ticket.State.NEW, Ticket.State.OPEN], assignee__isnull=True)
        .queue_order()
        .first()
    )
    if ticket is None:
        return None
    _apply_assignee(ticket, agent, by=agent)
    ticket.save()
    return ticket


@transaction.atomic
def set_priority(*, ticket: Ticket, priority: str, by: User) -> Ticket:
    """Change the priority: the clock gains or loses the difference between the
    two service levels, keeping the credit for time spent waiting. A calendar
    deadline (data protection) does not depend on the priority."""
    ticket = _locked(ticket)
    if ticket.priority == priority:
        return ticket
    _event(ticket, by=by, action="priority", old=ticket.priority, new=priority)
    shift = sla.service_level(priority) - sla.service_level(ticket.priority)
    ticket.priority = priority
    if ticket.due_at is None or sla.is_calendar_kind(ticket.kind):
        pass
    elif ticket.state == Ticket.State.WAITING and ticket.time_left_when_paused is not None:
        ticket.time_left_when_paused += shift
    else:
        now, days_off = timezone.now(), holidays()
        left = sla.remaining(kind=ticket.kind, due=ticket.due_at, now=now, holidays=days_off) + shift
        if left > timedelta(0):
            ticket.due_at = sla.add_working_time(now, left, days_off)
        else:  # overdue at the new level either way: due when it would have been from the opening
            ticket.due_at = sla.due_at(
                kind=ticket.kind, priority=priority, opened_at=ticket.created_at, holidays=days_off
            )
    ticket.save()
    return ticket


# --- Messages ------------------------------------------------------------------------


def _requester_address(ticket: Ticket) -> str:
    return ticket.requester.email if ticket.requester is not None else ticket.requester_email


# How replies open in the helpdesk's languages; the reply email greets the
# requester itself unless the agent's text already does.
_GREETING = re.compile(
    r"^(dear|hello|hi|good (morning|afternoon|evening)|cher|chère|chers|bonjour|madame|monsieur"
    r"|liebe|lieber|sehr geehrte[rs]?|hallo|guten (morgen|tag|abend))\b[^\n]{0,80}[,!]?$",
    re.IGNORECASE,
)


def opens_with_greeting(body: str) -> bool:
    """True when the first line of a reply greets the reader ("Dear Ana,")."""
    lines = body.strip().splitlines()
    return bool(lines) and _GREETING.match(lines[0].strip()) is not None


@transaction.atomic
def reply(*, ticket: Ticket, body: str, by: User, then: str = Ticket.State.WAITING) -> TicketMessage:
    """Answer the requester (emailed with a link back to the ticket), then move
    the ticket to `then` (waiting on the requester, open, or resolved)."""
    ticket = _locked(ticket)
    if ticket.state == Ticket.State.CLOSED:
        raise HelpdeskError(f"Ticket {ticket.number} is closed.")
    message = TicketMessage.objects.create(ticket=ticket, kind=TicketMessage.Kind.REPLY, author=by, body=body)
    _event(ticket, by=by, action="reply")
    if ticket.assignee_id is None:
        _apply_assignee(ticket, by, by=by)
    if ticket.state in (Ticket.State.NEW, Ticket.State.RESOLVED):
        _apply_state(ticket, Ticket.State.OPEN, by=by)
    if then != ticket.state:
        _apply_state(ticket, then, by=by)
    ticket.save()
    context = {
        "ticket": ticket,
        "message": message,
        "agent": by,
        "link": ticket_link(ticket),
        "greeted": opens_with_greeting(body),
    }
    key = f"ticket-reply:{message.pk}"
    if ticket.requester is not None:
        queue_templated_email(user=ticket.requester, template="ticket_reply", context=context, dedup_key=key)
    else:
        subject, text, html = render_email("ticket_reply", context)
        queue_email(to=ticket.requester_email, subject=subject, text=text, html=html, dedup_key=key)
    return message


@transaction.atomic
def add_note(*, ticket: Ticket, body: str, by: User) -> TicketMessage:
    """An internal note: never shown or sent to the requester."""
    ticket = _locked(ticket)
    message = TicketMessage.objects.create(ticket=ticket, kind=TicketMessage.Kind.NOTE, author=by, body=body)
    _event(ticket, by=by, action="note")
    ticket.save(update_fields=["updated_at"])
    return message


@transaction.atomic
def requester_reply(*, ticket: Ticket, body: str, by: User | None) -> TicketMessage:
    """The requester writes back: the ticket opens again and the assignee is told."""
    ticket = _locked(ticket)
    if ticket.state == Ticket.State.CLOSED:
        raise HelpdeskError("This request is closed. Open a new one if you need more help.")
    message = TicketMessage.objects.create(
        ticket=ticket, kind=TicketMessage.Kind.REQUESTER, author=by, body=body
    )
    _event(ticket, by=by, action="requester_reply")
    if ticket.state in (Ticket.State.WAITING, Ticket.State.RESOLVED):
        _apply_state(ticket, Ticket.State.OPEN, by=by, note="The requester replied.")
    ticket.save()
    if ticket.assignee is not None:
        queue_templated_email(
            user=ticket.assignee,
            template="ticket_requester_replied",
            context={
                "ticket": ticket,
                "message": message,
                "link": settings.SITE_URL + reverse("admin:helpdesk_ticket_change", args=[ticket.pk]),
            },
            dedup_key=f"ticket-requester-replied:{message.pk}",
        )
    return message


def canned_replies() -> list[CannedReply]:
    """The active canned replies, the same for every agent: cached under the
    "canned_replies" topic, which every save or delete of one bumps (apps.py)."""
    return fragments.cached(
        ("canned_replies",),
        ("active",),
        lambda: list(CannedReply.objects.filter(active=True)),
        per_language=False,
        per_zone=False,
    )


# --- Kind-specific actions (registration and hospital tickets) ------------------------------


def _clinician_of(ticket: Ticket) -> Clinician:
    clinician = Clinician.objects.select_related("user", "hospital").filter(user=ticket.requester_id).first()
    if clinician is None:
        raise HelpdeskError("The requester has no clinician profile (any more).")
    return clinician


def _wrap(error: Exception) -> HelpdeskError:
    return HelpdeskError(str(error))


@transaction.atomic
def verify_registration(*, ticket: Ticket, by: User, contact_note: str) -> Clinician:
    """The agent contacted the clinician and verifies them; the ticket is resolved."""
    clinician = _clinician_of(ticket)
    if not clinician.hospital.approved:
        raise HelpdeskError(f"First approve or merge the proposed hospital {clinician.hospital}.")
    try:
        clinician = clinician_services.change_status(clinician=clinician, to=Clinician.Status.VERIFIED, by=by)
    except clinician_services.ClinicianError as error:
        raise _wrap(error) from error
    locked = _locked(ticket)
    _event(locked, by=by, action="verified", new=clinician.full_name, note=contact_note)
    TicketMessage.objects.create(
        ticket=locked, kind=TicketMessage.Kind.NOTE, author=by, body=f"Verified. {contact_note}"
    )
    _apply_state(locked, Ticket.State.RESOLVED, by=by)
    locked.save()
    return clinician


@transaction.atomic
def reject_registration(*, ticket: Ticket, by: User, reason: str) -> Clinician:
    clinician = _clinician_of(ticket)
    try:
        clinician = clinician_services.change_status(
            clinician=clinician, to=Clinician.Status.REJECTED, by=by, reason=reason
        )
    except clinician_services.ClinicianError as error:
        raise _wrap(error) from error
    locked = _locked(ticket)
    _event(locked, by=by, action="rejected", new=clinician.full_name, note=reason)
    _apply_state(locked, Ticket.State.RESOLVED, by=by)
    locked.save()
    return clinician


@transaction.atomic
def approve_hospital(*, ticket: Ticket, by: User) -> Hospital:
    if ticket.hospital is None:
        raise HelpdeskError("This ticket names no hospital (it was merged or deleted).")
    try:
        hospital = clinician_services.approve_hospital(hospital=ticket.hospital, by=by)
    except clinician_services.ClinicianError as error:
        raise _wrap(error) from error
    locked = _locked(ticket)
    _event(locked, by=by, action="hospital_approved", new=str(hospital))
    _apply_state(locked, Ticket.State.RESOLVED, by=by)
    locked.save()
    return hospital


@transaction.atomic
def merge_hospital(*, ticket: Ticket, into: Hospital, by: User) -> Hospital:
    if ticket.hospital is None:
        raise HelpdeskError("This ticket names no hospital (it was merged or deleted).")
    proposed = str(ticket.hospital)
    # Tickets that pointed at the duplicate now point at the listed hospital.
    Ticket.objects.filter(hospital=ticket.hospital).exclude(kind=Ticket.Kind.HOSPITAL_PROPOSAL).update(
        hospital=into
    )
    try:
        hospital = clinician_services.merge_hospital(hospital=ticket.hospital, into=into, by=by)
    except clinician_services.ClinicianError as error:
        raise _wrap(error) from error
    locked = _locked(ticket)
    _event(locked, by=by, action="hospital_merged", old=proposed, new=str(hospital))
    _apply_state(locked, Ticket.State.RESOLVED, by=by)
    locked.save()
    return hospital


@transaction.atomic
def set_restriction(*, ticket: Ticket, restricted: bool, by: User) -> Clinician:
    """On a data-protection request: restrict (or free again) the processing of the requester's data."""
    clinician = _clinician_of(ticket)
    clinician = clinician_services.set_restriction(clinician=clinician, restricted=restricted, by=by)
    locked = _locked(ticket)
    _event(locked, by=by, action="restricted" if restricted else "restriction_lifted")
    locked.save(update_fields=["updated_at"])
    return clinician


@transaction.atomic
def confirm_hospital_change(*, ticket: Ticket, by: User) -> Clinician:
    clinician = _clinician_of(ticket)
    try:
        clinician = clinician_services.confirm_hospital(clinician=clinician, by=by)
    except clinician_services.ClinicianError as error:
        raise _wrap(error) from error
    locked = _locked(ticket)
    _event(locked, by=by, action="hospital_confirmed", new=str(clinician.hospital))
    _apply_state(locked, Ticket.State.RESOLVED, by=by)
    locked.save()
    return clinician


# --- Housekeeping ------------------------------------------------------------------------


def close_stale_resolved(*, now: datetime | None = None) -> int:
    """Resolved tickets with no activity for 7 days close themselves."""
    now = now or timezone.now()
    closed = 0
    stale = Ticket.objects.filter(state=Ticket.State.RESOLVED, updated_at__lt=now - AUTO_CLOSE_AFTER)
    for pk in stale.values_list("pk", flat=True)[:1000]:
        with transaction.atomic():
            ticket = (
                Ticket.objects.select_for_update(skip_locked=True)
                .filter(Q(pk=pk), Q(state=Ticket.State.RESOLVED), Q(updated_at__lt=now - AUTO_CLOSE_AFTER))
                .first()
            )
            if ticket is None:
                continue
            _apply_state(ticket, Ticket.State.CLOSED, by=None, note="Closed after 7 days without activity.")
            ticket.save()
            closed += 1
    return closed


def purge_closed_ticket_text(policy: Any, now: datetime) -> int:
    """The text of tickets closed long ago goes; the ticket (kind, dates, states) stays."""
    stale = Ticket.objects.filter(
        state=Ticket.State.CLOSED, updated_at__lt=policy.cutoff("closed_ticket_text_days", now)
    )
    stale = stale.exclude(subject__startswith="[erased]")
    ids = list(stale.values_list("pk", flat=True)[:5000])
    TicketMessage.objects.filter(ticket_id__in=ids).update(body="[erased]")
    TicketEvent.objects.filter(ticket_id__in=ids).update(note="")
    TicketEvent.objects.filter(ticket_id__in=ids).exclude(action__in=["opened", "state", "priority"]).update(
        from_value="", to_value=""
    )
    Ticket.objects.filter(pk__in=ids).update(
        subject=Ticket.erased_subject(), requester_name="", requester_email=""
    )
    return len(ids)
