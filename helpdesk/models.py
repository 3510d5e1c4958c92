"""The helpdesk's tickets and their event history."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Concat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cmss.models import ChangeEvent

if TYPE_CHECKING:
    from cmss.models import User


def _only_if_theirs(value: object, user: object) -> object:
    """A user named in an exported row (rows are exported with str(user)): the
    person themself stays, staff do not (as AuditEvent.redact_for_export)."""
    return value if value == str(user) else None


class TicketQuerySet(models.QuerySet["Ticket"]):
    def with_related(self) -> TicketQuerySet:
        return self.select_related("requester", "requester__clinician", "assignee", "hospital")

    def open(self) -> TicketQuerySet:
        return self.filter(state__in=Ticket.ACTIVE_STATES)

    def unassigned(self) -> TicketQuerySet:
        return self.filter(assignee__isnull=True)

    def overdue(self, now: datetime | None = None) -> TicketQuerySet:
        """Open tickets past their due time (the clock is stopped while waiting)."""
        return self.filter(state__in=[Ticket.State.NEW, Ticket.State.OPEN], due_at__lt=now or timezone.now())

    def for_requester(self, user: User) -> TicketQuerySet:
        return self.filter(requester=user)

    def queue_order(self) -> TicketQuerySet:
        """Most urgent first: earliest due, then oldest."""
        return self.order_by(F("due_at").asc(nulls_last=True), "created_at", "pk")


class Ticket(models.Model):
    """A request in the helpdesk queue."""

    class Kind(models.TextChoices):
        REGISTRATION = "registration", _("Registration: contact and verify")
        HOSPITAL_PROPOSAL = "hospital_proposal", _("Hospital proposal")
        CONFERENCE_REQUEST = "conference_request", _("Conference request")
        WEBINAR = "webinar", _("Webinar request")
        HOSPITAL_CHANGE = "hospital_change", _("Hospital change: confirm")
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

    ACTIVE_STATES: ClassVar[tuple[str, ...]] = (State.NEW, State.OPEN, State.WAITING)

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
    hospital = models.ForeignKey(
        "clinicians.Hospital",
        verbose_name=_("hospital"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The hospital a hospital-proposal or hospital-change ticket is about."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("last activity"), default=timezone.now)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    # While the ticket waits on the requester the clock stops: what was left
    # on it is kept here and added back when the ticket opens again.
    waiting_since = models.DateTimeField(_("waiting since"), null=True, blank=True)
    time_left_when_paused = models.DurationField(_("time left when paused"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)

    objects = TicketQuerySet.as_manager()

    PERSONAL_DATA_FIELDS = ("requester", "requester_name", "requester_email", "subject")
    # Another ticket may be about the person, or signed with their name.
    PERSONAL_DATA_MENTIONS = ("subject", "requester_name")

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
            ),
            # One proposal ticket per proposed hospital.
            models.UniqueConstraint(
                fields=["hospital"],
                condition=Q(kind="hospital_proposal"),
                name="one_proposal_ticket_per_hospital",
            ),
        ]
        indexes = [
            # The queue: active tickets in due order, read in index order so
            # that a page of 50 never sorts the whole queue.
            # (PostgreSQL sorts ascending with NULLS LAST by default, as the queue does.)
            models.Index(
                fields=["due_at", "created_at", "id"],
                condition=Q(state__in=["new", "open", "waiting"]),
                name="ticket_active_queue_idx",
            ),
            models.Index(fields=["state", "due_at", "created_at"], name="ticket_queue_idx"),
            models.Index(fields=["assignee", "state", "due_at"], name="ticket_assignee_idx"),
            models.Index(fields=["requester", "updated_at"], name="ticket_requester_idx"),
            models.Index(fields=["kind", "state", "due_at"], name="ticket_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    def can_move_to(self, state: str) -> bool:
        return state in self.TRANSITIONS.get(self.state, frozenset())

    @classmethod
    def personal_data_of(cls, user: object) -> models.QuerySet[Ticket]:
        """The person's tickets, and those sent through /contact/ from their address."""
        email = getattr(user, "email", "")
        return cls.objects.filter(
            Q(requester=user) | Q(requester__isnull=True, requester_email__iexact=email)
        )

    @classmethod
    def redact_for_export(cls, row: dict[str, object], user: object) -> dict[str, object]:
        return {**row, "assignee": _only_if_theirs(row.get("assignee"), user)}

    @classmethod
    def erase_personal_data(cls, user: object, pseudonym: str) -> None:
        """The person's tickets stay, under a pseudonym, with their text scrubbed:
        a few UPDATEs however many tickets they have."""
        tickets = list(cls.personal_data_of(user).values_list("pk", flat=True))
        TicketMessage.objects.filter(models.Q(ticket__in=tickets) | models.Q(author=user)).update(
            body="[erased]"
        )
        TicketEvent.objects.filter(ticket__in=tickets).exclude(
            action__in=["opened", "state", "priority"]
        ).update(from_value="", to_value="")
        TicketEvent.objects.filter(models.Q(ticket__in=tickets) | models.Q(actor=user)).update(note="")
        cls.objects.filter(pk__in=tickets).update(
            requester_name=pseudonym, requester_email="", subject=cls.erased_subject()
        )

    @classmethod
    def erased_subject(cls) -> models.Case:
        """The subject an erased ticket keeps, "[erased] <kind>", for a bulk UPDATE:
        the kind's label in the active language, as get_kind_display() gave it when
        tickets were scrubbed one by one."""
        return models.Case(
            *(
                models.When(kind=value, then=models.Value(f"[erased] {label}"))
                for value, label in cls.Kind.choices
            ),
            default=Concat(models.Value("[erased] "), F("kind")),
            output_field=models.CharField(),
        )

    @property
    def number(self) -> str:
        return f"#{self.pk}"

    @property
    def assignee_label(self) -> str:
        if self.assignee is None:
            return str(_("nobody"))
        return self.assignee.display_name or self.assignee.email

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def is_overdue(self) -> bool:
        return (
            self.state in (self.State.NEW, self.State.OPEN)
            and self.due_at is not None
            and self.due_at < timezone.now()
        )


class TicketEvent(ChangeEvent):
    """One change of a ticket: who, when, what, from → to."""

    ticket = models.ForeignKey(
        Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="events"
    )

    PERSONAL_DATA_FIELDS = ("actor", "note")
    # "verified: <name>", a note with a phone number, on anyone's ticket.
    PERSONAL_DATA_MENTIONS = ("from_value", "to_value", "note")

    class Meta(ChangeEvent.Meta):
        verbose_name = _("ticket event")
        verbose_name_plural = _("ticket events")

    @classmethod
    def personal_data_of(cls, user: object) -> models.QuerySet[TicketEvent]:
        """What happened to the person's tickets (whoever did it), and what they did."""
        return cls.objects.filter(models.Q(ticket__in=Ticket.personal_data_of(user)) | models.Q(actor=user))

    @classmethod
    def redact_for_export(cls, row: dict[str, object], user: object) -> dict[str, object]:
        """Who on the staff acted, or was assigned, is not the person's data."""
        row = {**row, "actor": _only_if_theirs(row.get("actor"), user)}
        if row.get("action") == "assignee":
            row["from_value"] = _only_if_theirs(row.get("from_value"), user)
            row["to_value"] = _only_if_theirs(row.get("to_value"), user)
        return row


class TicketMessage(models.Model):
    """A reply to the requester, the requester's own message, or an internal note."""

    class Kind(models.TextChoices):
        REPLY = "reply", _("reply to the requester")
        REQUESTER = "requester", _("message from the requester")
        NOTE = "note", _("internal note")

    ticket = models.ForeignKey(
        Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="messages"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    body = models.TextField(_("text"), max_length=10000)
    created_at = models.DateTimeField(_("sent"), default=timezone.now)

    PERSONAL_DATA_FIELDS = ("author", "body")
    PERSONAL_DATA_MENTIONS = ("body",)

    class Meta:
        verbose_name = _("ticket message")
        verbose_name_plural = _("ticket messages")
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="message_ticket_idx"),
            # The admin's list in its order: a page is read, not 200,000 messages sorted.
            models.Index(fields=["created_at", "id"], name="message_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on #{self.ticket_id}"

    @classmethod
    def personal_data_of(cls, user: object) -> models.QuerySet[TicketMessage]:
        """Everything on the person's tickets, the helpdesk's internal notes about
        them included (Article 17), and what they wrote elsewhere; not a staff
        member's notes about other people."""
        mine = models.Q(ticket__in=Ticket.personal_data_of(user))
        written = models.Q(author=user) & ~models.Q(kind=cls.Kind.NOTE)
        return cls.objects.filter(mine | written)

    @classmethod
    def redact_for_export(cls, row: dict[str, object], user: object) -> dict[str, object]:
        return {**row, "author": _only_if_theirs(row.get("author"), user)}

    @property
    def is_public(self) -> bool:
        return self.kind != self.Kind.NOTE

    @property
    def author_label(self) -> str:
        if self.author is None:
            return self.ticket.requester_name if self.kind == self.Kind.REQUESTER else ""
        return self.author.display_name or self.author.email


class CannedReply(models.Model):
    """A reply text supervisors keep ready; {name} becomes the requester's name."""

    title = models.CharField(_("title"), max_length=100, unique=True)
    body = models.TextField(
        _("text"),
        help_text=_(
            "Write {name} where the requester's name goes. Replies open with the greeting (“Dear …,”) "
            "by themselves: start with what you have to say."
        ),
    )
    active = models.BooleanField(_("offered to agents"), default=True)

    PERSONAL_DATA_FIELDS = ()

    class Meta:
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def render(self, *, name: str) -> str:
        return self.body.replace("{name}", name)


class Holiday(models.Model):
    """A day the Brussels helpdesk is closed; service levels skip it."""

    date = models.DateField(_("date"), unique=True)
    name = models.CharField(_("name"), max_length=100)

    PERSONAL_DATA_FIELDS = ()

    class Meta:
        verbose_name = _("public holiday")
        verbose_name_plural = _("public holidays")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}"
