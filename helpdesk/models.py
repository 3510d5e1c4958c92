"""The helpdesk's tickets and their event history."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TicketQuerySet(models.QuerySet["Ticket"]):
    def with_related(self) -> TicketQuerySet:
        return self.select_related("requester", "requester__clinician", "assignee")

    def open(self) -> TicketQuerySet:
        return self.exclude(state__in=[Ticket.State.RESOLVED, Ticket.State.CLOSED])

    def for_requester(self, user: object) -> TicketQuerySet:
        return self.filter(requester=user)


class Ticket(models.Model):
    """A request in the helpdesk queue."""

    class Kind(models.TextChoices):
        REGISTRATION = "registration", _("Registration: contact and verify")
        HOSPITAL_PROPOSAL = "hospital_proposal", _("Hospital proposal")
        CONFERENCE_REQUEST = "conference_request", _("Conference request")
        WEBINAR = "webinar", _("Webinar")
        QUESTION = "question", _("Question")
        DATA_PROTECTION = "data_protection", _("Data-protection request")

    class State(models.TextChoices):
        NEW = "new", _("new")
        OPEN = "open", _("open")
        WAITING = "waiting", _("waiting on requester")
        RESOLVED = "resolved", _("resolved")
        CLOSED = "closed", _("closed")

    # The allowed moves of the state, written once.
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        State.NEW: frozenset({State.OPEN, State.WAITING, State.RESOLVED}),
        State.OPEN: frozenset({State.WAITING, State.RESOLVED}),
        State.WAITING: frozenset({State.OPEN, State.RESOLVED}),
        State.RESOLVED: frozenset({State.OPEN, State.CLOSED}),
        State.CLOSED: frozenset(),
    }

    class Priority(models.TextChoices):
        URGENT = "urgent", _("urgent")
        NORMAL = "normal", _("normal")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.NEW)
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL
    )
    subject = models.CharField(_("subject"), max_length=200)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requester"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
    )
    # For requesters without an account (the public contact form), and kept
    # so that a ticket still says who asked after the account is gone.
    requester_name = models.CharField(_("requester name"), max_length=200, blank=True)
    requester_email = models.EmailField(_("requester email"), max_length=254, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
        limit_choices_to={"is_staff": True},
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("last activity"), default=timezone.now)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)

    objects = TicketQuerySet.as_manager()

    PERSONAL_DATA_FIELDS = ("requester", "requester_name", "requester_email", "subject")

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        ordering = ["due_at", "created_at"]
        constraints = [
            # Confirming a registration opens exactly one "contact and verify" ticket.
            models.UniqueConstraint(
                fields=["requester"],
                condition=Q(kind="registration"),
                name="one_registration_ticket_per_requester",
            )
        ]
        indexes = [
            models.Index(fields=["state", "due_at"], name="ticket_queue_idx"),
            models.Index(fields=["requester", "updated_at"], name="ticket_requester_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    def can_move_to(self, state: str) -> bool:
        return state in self.TRANSITIONS.get(self.state, frozenset())


class TicketEvent(models.Model):
    """One change of a ticket: who, when, what, from → to."""

    ticket = models.ForeignKey(
        Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="events"
    )
    at = models.DateTimeField(_("when"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    action = models.CharField(_("what"), max_length=40)
    from_value = models.CharField(_("from"), max_length=200, blank=True)
    to_value = models.CharField(_("to"), max_length=200, blank=True)
    note = models.TextField(_("note"), blank=True)

    PERSONAL_DATA_FIELDS = ("actor", "note")

    class Meta:
        verbose_name = _("ticket event")
        verbose_name_plural = _("ticket events")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.action}: {self.from_value} → {self.to_value}"
