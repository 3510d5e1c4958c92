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
    def visible_to(self, user: User, *, clinician: Clinician | None = None) -> ConferenceQuerySet:
        """The conferences a person may open: those of the hospital they
        coordinate, those they requested (their outcome report is sent to them
        even once they coordinate no more), and those they are invited to
        (verified clinicians only). Everyone else's answer 404. `clinician`:
        the person's own row with its hospital, if the caller has read it."""
        if clinician is None or clinician.user_id != user.pk:
            clinician = Clinician.objects.filter(user=user).select_related("hospital").first()
        if clinician is None or not clinician.is_verified:
            return self.none()
        invited = Invitation.objects.filter(conference=models.OuterRef("pk"), clinician=clinician)
        scope = Q(models.Exists(invited)) | Q(requested_by=user)
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
    # Free-text notes of the time before outcome reports (OutcomeReport): no
    # longer asked for; kept, and shown on the ticket panel, for the conferences
    # held before.
    outcome = models.TextField(_("outcome notes"), blank=True)
    held_at = models.DateTimeField(_("marked held"), null=True, blank=True)
    # When the outcome report was sent: the end of "waiting time for advice".
    advice_at = models.DateTimeField(_("report sent"), null=True, blank=True)
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
    def time_to_advice(self) -> timedelta | None:
        """From the request to the outcome report sent (none sent: None)."""
        return self.advice_at - self.created_at if self.advice_at is not None else None

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


class OutcomeReport(models.Model):
    """What the panel advised, written by the agent who marks the conference
    held and sent (as a link) to the requester, the hospital's coordinators
    and the invitees who took part.

    The statement that the advice supports but does not replace the treating
    clinician's decision is a fixed text of the form and the pages
    (templates/conferences/_advice_only.html), not stored. The clinical text
    (question, advice, dissent, follow-up, the requester's comment) is cleared
    by the retention purge together with the case summary.
    """

    class Agreement(models.TextChoices):
        CONSENSUS = "consensus", _("consensus")
        MAJORITY = "majority", _("majority")
        NONE = "none", _("no agreement")

    class Usefulness(models.TextChoices):
        YES = "yes", _("useful")
        PARTLY = "partly", _("partly useful")
        NO = "no", _("not useful")

    QUESTION_LENGTH: ClassVar[int] = 4000
    ADVICE_LENGTH: ClassVar[int] = 8000
    NOTE_LENGTH: ClassVar[int] = 2000

    conference = models.OneToOneField(
        Conference, verbose_name=_("conference"), on_delete=models.CASCADE, related_name="report"
    )
    question = models.TextField(_("question as asked"), max_length=QUESTION_LENGTH, blank=True)
    advice = models.TextField(_("advice and recommendations"), max_length=ADVICE_LENGTH, blank=True)
    agreement = models.CharField(_("agreement"), max_length=10, choices=Agreement.choices)
    dissent = models.TextField(_("dissent"), max_length=NOTE_LENGTH, blank=True)
    further_tests = models.TextField(_("further tests"), max_length=NOTE_LENGTH, blank=True)
    transfer_advised = models.BooleanField(_("transfer advised"), default=False)
    transfer_to = models.CharField(_("transfer to"), max_length=200, blank=True)
    rediscuss_on = models.DateField(_("re-discussion date"), null=True, blank=True)
    participants = models.ManyToManyField(
        Clinician, verbose_name=_("took part"), blank=True, related_name="outcome_reports"
    )
    requester_took_part = models.BooleanField(_("the requester took part"), default=True)
    written_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("written by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    written_at = models.DateTimeField(_("written"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    read_at = models.DateTimeField(_("read by the requester"), null=True, blank=True)
    usefulness = models.CharField(_("useful?"), max_length=10, choices=Usefulness.choices, blank=True)
    usefulness_comment = models.TextField(_("comment on usefulness"), max_length=NOTE_LENGTH, blank=True)
    answered_at = models.DateTimeField(_("usefulness answered"), null=True, blank=True)
    text_purged_at = models.DateTimeField(_("text purged"), null=True, blank=True)

    # Who took part, who wrote it, and the requester's answer; the advice or a
    # dissent may name a colleague ("Dr X disagreed").
    PERSONAL_DATA_FIELDS = (
        "participants",
        "written_by",
        "read_at",
        "usefulness",
        "usefulness_comment",
        "answered_at",
    )
    # The text about the patient, cleared by the retention purge.
    CLINICAL_TEXT: ClassVar[tuple[str, ...]] = (
        "question",
        "advice",
        "dissent",
        "further_tests",
        "transfer_to",
        "usefulness_comment",
    )
    PERSONAL_DATA_MENTIONS = CLINICAL_TEXT

    class Meta:
        verbose_name = _("outcome report")
        verbose_name_plural = _("outcome reports")
        ordering = ["-written_at", "pk"]

    def __str__(self) -> str:
        return str(_("Outcome report: %(title)s") % {"title": self.conference.title})

    @classmethod
    def personal_data_of(cls, user: User) -> models.QuerySet[OutcomeReport]:
        """The reports of the conferences the person requested, those they took
        part in, and those they wrote."""
        return (
            cls.objects.filter(
                Q(conference__requested_by=user) | Q(participants__user=user) | Q(written_by=user)
            )
            .distinct()
            .select_related("conference", "written_by")
            .prefetch_related("participants")
        )

    @classmethod
    def redact_for_export(cls, row: dict[str, Any], user: Any) -> dict[str, Any]:
        """As for the conference itself: the clinical text is about a patient,
        not about anyone named in the report, so it is not exported (it is read
        on the conference page). Of the people, only the person themself; the
        requester's answer only to the requester."""
        row = {**row, **{name: "[not exported]" for name in cls.CLINICAL_TEXT if row.get(name)}}
        me = str(user)
        clinician = Clinician.objects.filter(user=user).first()
        row["participants"] = [
            name for name in row.get("participants", []) if clinician and name == str(clinician)
        ]
        if row.get("written_by") != me:
            row["written_by"] = None
        requested = cls.objects.filter(pk=row.get("id"), conference__requested_by=user).exists()
        if not requested:
            row.update(read_at=None, usefulness="", usefulness_comment="", answered_at=None)
        return row

    @classmethod
    def erase_personal_data(cls, user: User, pseudonym: str) -> None:
        # A participant's row in `participants` goes with their profile (CASCADE),
        # the writer with the account (SET_NULL). The requester's comment is their
        # own words, scrubbed like their ticket messages; whether it was useful stays.
        cls.objects.filter(conference__requested_by=user).exclude(usefulness_comment="").update(
            usefulness_comment="[erased]"
        )

    @property
    def is_purged(self) -> bool:
        return self.text_purged_at is not None


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
        REPORT_READ = "report_read", _("outcome report read")
        REPORT_ANSWERED = "report_answered", _("outcome report rated")
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
