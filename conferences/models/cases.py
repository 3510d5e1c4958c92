"""Case-discussion conferences: the request, its proposed times, its invitations and its history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from clinicians.countries import NetworkCountryField
from clinicians.models import ERN, Clinician, Hospital, Language, Specialty
from cmss.models import ChangeEvent

if TYPE_CHECKING:
    from cmss.models import User


from .meetings import ProviderMeeting


class ConferenceQuerySet(models.QuerySet["Conference"]):
    def visible_to(self, user: User) -> ConferenceQuerySet:
        """The conferences a person may open: those of the hospital they
        coordinate, and those they are invited to (verified clinicians only).
        Everyone else's answer 404."""
        clinician = Clinician.objects.filter(user=user).select_related("hospital").first()
        if clinician is None or not clinician.is_verified:
            return self.none()
        invited = Invitation.objects.filter(conference=models.OuterRef("pk"), clinician=clinician)
        scope = Q(models.Exists(invited))
        if clinician.is_coordinator:
            scope |= Q(hospital_id=clinician.hospital_id)
        return self.filter(scope)

    def with_related(self) -> ConferenceQuerySet:
        return self.select_related("hospital", "meeting", "requested_by", "language")


class Conference(models.Model):
    """A case-discussion web conference asked for by a reference centre."""

    class Urgency(models.TextChoices):
        ROUTINE = "routine", _("routine")
        URGENT = "urgent", _("urgent")

    class State(models.TextChoices):
        REQUESTED = "requested", _("requested")
        SCHEDULED = "scheduled", _("scheduled")
        HELD = "held", _("held")
        DECLINED = "declined", _("declined")
        CANCELLED = "cancelled", _("cancelled")

    # The allowed moves of the state, written once.
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        State.REQUESTED: frozenset({State.SCHEDULED, State.DECLINED, State.CANCELLED}),
        State.SCHEDULED: frozenset({State.SCHEDULED, State.HELD, State.CANCELLED}),
        State.HELD: frozenset(),
        State.DECLINED: frozenset(),
        State.CANCELLED: frozenset(),
    }

    MIN_DURATION: ClassVar[int] = 30
    MAX_DURATION: ClassVar[int] = 180

    hospital = models.ForeignKey(
        Hospital, verbose_name=_("hospital"), on_delete=models.PROTECT, related_name="conferences"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    ticket = models.OneToOneField(
        "helpdesk.Ticket",
        verbose_name=_("ticket"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conference",
    )
    title = models.CharField(_("title"), max_length=200)
    question = models.TextField(_("clinical question"), max_length=4000)
    case_summary = models.TextField(_("anonymised case summary"), max_length=8000)
    summary_purged_at = models.DateTimeField(_("summary purged"), null=True, blank=True)
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices, default=Urgency.ROUTINE)
    erns = models.ManyToManyField(ERN, verbose_name=_("wanted ERNs"), blank=True, related_name="+")
    specialties = models.ManyToManyField(
        Specialty, verbose_name=_("wanted specialties"), blank=True, related_name="+"
    )
    countries = NetworkCountryField(verbose_name=_("wanted countries"), multiple=True, blank=True)
    language = models.ForeignKey(
        Language,
        verbose_name=_("language"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    duration_minutes = models.PositiveSmallIntegerField(_("duration (minutes)"), default=60)
    time_zone = models.CharField(_("requester's time zone"), max_length=64)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.REQUESTED)
    start = models.DateTimeField(_("start"), null=True, blank=True)
    # The iCalendar SEQUENCE: raised on every move and on cancellation.
    sequence = models.PositiveIntegerField(_("calendar sequence"), default=0)
    # The SEQUENCE last emailed to the requester (none yet: not told).
    requester_sent_sequence = models.PositiveIntegerField(
        _("requester told (sequence)"), null=True, blank=True
    )
    # When the requester was first sent the invitation: like an invitee's
    # invited_at, it keeps a late-scheduled conference from sending a
    # "tomorrow" reminder right after the invitation.
    requester_invited_at = models.DateTimeField(_("requester invited"), null=True, blank=True)
    meeting = models.OneToOneField(
        ProviderMeeting,
        verbose_name=_("provider meeting"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conference",
    )
    decline_reason = models.TextField(_("reason for declining"), blank=True)
    cancel_reason = models.TextField(_("reason for cancelling"), blank=True)
    outcome = models.TextField(_("outcome notes"), blank=True)
    held_at = models.DateTimeField(_("marked held"), null=True, blank=True)
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ConferenceQuerySet.as_manager()

    PERSONAL_DATA_FIELDS = ("requested_by",)
    # An outcome names who advised; a reason or a summary may name a colleague.
    PERSONAL_DATA_MENTIONS = (
        "title",
        "question",
        "case_summary",
        "decline_reason",
        "cancel_reason",
        "outcome",
    )

    class Meta:
        verbose_name = _("conference")
        verbose_name_plural = _("conferences")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "start"], name="conference_state_start")]

    def __str__(self) -> str:
        return self.title

    @classmethod
    def personal_data_of(cls, user: User) -> models.QuerySet[Conference]:
        return cls.objects.filter(requested_by=user)

    @classmethod
    def redact_for_export(cls, row: dict[str, Any], user: object) -> dict[str, Any]:
        # The clinical content is about a patient, not the requester.
        return {**row, "question": "[not personal data of the requester]", "case_summary": "[not exported]"}

    def can_move_to(self, state: str) -> bool:
        return state in self.TRANSITIONS.get(self.state, frozenset())

    @property
    def end(self) -> datetime | None:
        return self.start + timedelta(minutes=self.duration_minutes) if self.start else None

    @property
    def is_open(self) -> bool:
        return self.state in (self.State.REQUESTED, self.State.SCHEDULED)

    @property
    def join_url(self) -> str:
        meeting = self.meeting
        if self.state != self.State.SCHEDULED or meeting is None:
            return ""
        if meeting.state != ProviderMeeting.State.CREATED or meeting.cancel_requested:
            return ""
        return meeting.join_url

    @property
    def meeting_key(self) -> str:
        return f"conference-{self.pk}"


class ProposedSlot(models.Model):
    conference = models.ForeignKey(
        Conference, verbose_name=_("conference"), on_delete=models.CASCADE, related_name="slots"
    )
    start = models.DateTimeField(_("start"))

    PERSONAL_DATA_FIELDS = ()

    class Meta:
        verbose_name = _("proposed time")
        verbose_name_plural = _("proposed times")
        ordering = ["start"]

    def __str__(self) -> str:
        return self.start.isoformat()


class Invitation(models.Model):
    """A verified clinician invited to a conference, and their answer."""

    class Response(models.TextChoices):
        PENDING = "pending", _("no answer yet")
        ACCEPTED = "accepted", _("accepted")
        DECLINED = "declined", _("declined")

    conference = models.ForeignKey(
        Conference, verbose_name=_("conference"), on_delete=models.CASCADE, related_name="invitations"
    )
    clinician = models.ForeignKey(
        Clinician,
        verbose_name=_("clinician"),
        on_delete=models.CASCADE,
        related_name="conference_invitations",
    )
    response = models.CharField(
        _("answer"), max_length=10, choices=Response.choices, default=Response.PENDING
    )
    responded_at = models.DateTimeField(_("answered"), null=True, blank=True)
    # The calendar SEQUENCE last emailed to this person (none yet: not told).
    sent_sequence = models.PositiveIntegerField(_("invitation sent (sequence)"), null=True, blank=True)
    invited_at = models.DateTimeField(_("invitation sent"), null=True, blank=True)
    created_at = models.DateTimeField(_("added"), auto_now_add=True)

    PERSONAL_DATA_FIELDS = ("clinician", "response", "responded_at", "invited_at")

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["conference", "clinician"], name="invitation_once_per_clinician")
        ]

    def __str__(self) -> str:
        return f"{self.clinician} → {self.conference}"

    @classmethod
    def personal_data_of(cls, user: object) -> models.QuerySet[Invitation]:
        return cls.objects.filter(clinician__user=user).select_related("conference", "clinician")


class ConferenceEvent(ChangeEvent):
    """One step of a conference, written by the service that took it
    (conferences/cases/services.py) and shown on its ticket's panel.

    Start times are from/to values in UTC ISO 8601; an invitee is named by
    their full name (the invitation itself may be gone); a note is at most an
    excerpt of a decline or cancel reason, never clinical content (the
    question, the summary and the outcome stay on the conference, where the
    retention purge clears them).
    """

    class Action(models.TextChoices):
        REQUESTED = "requested", _("requested")
        APPROVED = "approved", _("approved and scheduled")
        DECLINED = "declined", _("declined")
        MOVED = "moved", _("moved")
        CANCELLED = "cancelled", _("cancelled")
        HELD = "held", _("marked held")
        INVITEE_ADDED = "invitee_added", _("invitee added")
        INVITEE_REMOVED = "invitee_removed", _("invitee removed")
        INVITEE_ACCEPTED = "invitee_accepted", _("invitation accepted")
        INVITEE_DECLINED = "invitee_declined", _("invitation declined")

    # The events whose from/to values name a clinician, not a state or a time.
    NAMING: ClassVar[frozenset[str]] = frozenset({Action.INVITEE_ADDED, Action.INVITEE_REMOVED})
    NOTE_LENGTH: ClassVar[int] = 200

    conference = models.ForeignKey(
        Conference, verbose_name=_("conference"), on_delete=models.CASCADE, related_name="events"
    )

    # Who acted (an agent, the coordinator, an invitee answering), and a reason
    # that may name a colleague; an invitee added or removed is named in a value.
    PERSONAL_DATA_FIELDS = ("actor", "note")
    PERSONAL_DATA_MENTIONS = ("from_value", "to_value", "note")

    class Meta(ChangeEvent.Meta):
        verbose_name = _("conference event")
        verbose_name_plural = _("conference events")

    @classmethod
    def personal_data_of(cls, user: User) -> models.QuerySet[ConferenceEvent]:
        """The history of the conferences the person requested, and what they did."""
        return cls.objects.filter(
            models.Q(conference__in=Conference.personal_data_of(user)) | models.Q(actor=user)
        )

    @classmethod
    def redact_for_export(cls, row: dict[str, Any], user: object) -> dict[str, Any]:
        """Who else acted, or was invited, is their data, not the requester's
        (rows exported with str(user); an invitee finds their own name through
        the mentions)."""
        row = {**row, "actor": row.get("actor") if row.get("actor") == str(user) else None}
        if row.get("action") in cls.NAMING:
            row["from_value"] = row["to_value"] = None
        return row

    @property
    def action_label(self) -> str:
        try:
            return str(self.Action(self.action).label)
        except ValueError:
            return self.action
