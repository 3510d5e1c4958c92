"""Helpdesk workflows: every write to a ticket goes through here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Ticket, TicketEvent

if TYPE_CHECKING:
    from clinicians.models import Clinician
    from cmss.models import User


class HelpdeskError(Exception):
    """A helpdesk action that cannot be done; the message is for people."""


def open_ticket(
    *,
    kind: str,
    subject: str,
    requester: User | None = None,
    requester_name: str = "",
    requester_email: str = "",
    priority: str = Ticket.Priority.NORMAL,
    by: User | None = None,
) -> Ticket:
    """Open a ticket in the queue and record the event."""
    now = timezone.now()
    ticket = Ticket.objects.create(
        kind=kind,
        subject=subject[:200],
        requester=requester,
        requester_name=requester_name or (requester.get_full_name() if requester else ""),
        requester_email=requester_email or (requester.email if requester else ""),
        priority=priority,
        created_at=now,
        updated_at=now,
    )
    TicketEvent.objects.create(
        ticket=ticket, at=now, actor=by or requester, action="opened", to_value=Ticket.State.NEW
    )
    return ticket


def open_registration_ticket(*, clinician: Clinician) -> Ticket:
    """The one "contact and verify" ticket of a clinician whose email is confirmed.

    Idempotent: a database constraint allows one per requester, so a second
    confirmation (or a race) returns the existing ticket.
    """
    existing = Ticket.objects.filter(kind=Ticket.Kind.REGISTRATION, requester=clinician.user).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return open_ticket(
                kind=Ticket.Kind.REGISTRATION,
                subject=f"Contact and verify {clinician.full_name} ({clinician.hospital.name})",
                requester=clinician.user,
            )
    except IntegrityError:
        return Ticket.objects.get(kind=Ticket.Kind.REGISTRATION, requester=clinician.user)
