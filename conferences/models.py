"""Conferences and webinars: provider meetings, the local video backend and Webex tokens."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict, cast

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinicians.countries import NetworkCountryField
from clinicians.models import ERN, Clinician, Hospital, Language, Specialty

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    from cmss.models import User


def _address(item: Any) -> str:
    return str(item.get("email", "")) if isinstance(item, dict) else str(item)


def _listing_invitee(model: Any, user: object) -> models.QuerySet[Any]:
    """The meetings of a meeting model whose invitee lists hold the person (export)."""
    email = getattr(user, "email", "").lower()
    lists = [field.name for field in model._meta.concrete_fields if field.name.endswith("invitees")]
    candidates = Q()
    for name in lists:
        candidates |= Q(**{f"{name}__icontains": email})
    found = [
        meeting.pk
        for meeting in model.objects.filter(candidates).only("pk", *lists)
        if any(_address(item).lower() == email for name in lists for item in getattr(meeting, name))
    ]
    return model.objects.filter(pk__in=found)


def _only_their_entries(row: dict[str, Any], user: object) -> dict[str, Any]:
    """An exported meeting lists the person, not the other invitees."""
    email = getattr(user, "email", "").lower()
    for name in ("invitees", "provider_invitees"):
        if name in row:
            row[name] = [item for item in row[name] if _address(item).lower() == email]
    return row


class LocalVideoMeeting(models.Model):
    """A meeting of the local video backend (the demo's stand-in for Webex)."""

    key = models.CharField(_("our key"), max_length=100, unique=True)
    provider_id = models.UUIDField(_("provider id"), unique=True)
    kind = models.CharField(_("kind"), max_length=10, default="meeting")
    title = models.CharField(_("title"), max_length=200)
    agenda = models.TextField(_("agenda"), blank=True)
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    time_zone = models.CharField(_("time zone"), max_length=64)
    invitees = models.JSONField(_("invitees' email addresses"), default=list, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    PERSONAL_DATA_FIELDS = ("invitees",)
    PERSONAL_DATA_MENTIONS = ("title", "agenda")

    class Meta:
        verbose_name = _("local video meeting")
        verbose_name_plural = _("local video meetings")
        ordering = ["start"]

    def __str__(self) -> str:
        return self.title

    @classmethod
    def personal_data_of(cls, user: object) -> models.QuerySet[LocalVideoMeeting]:
        return _listing_invitee(cls, user)

    @classmethod
    def redact_for_export(cls, row: dict[str, Any], user: object) -> dict[str, Any]:
        return _only_their_entries(row, user)

    @classmethod
    def erase_personal_data(cls, user: object, pseudonym: str) -> None:
        # These rows are the local backend's side (what Webex holds in production): the
        # address goes at once. The provider meetings that sent it here call
        # LocalBackend.remove_invitee, which then finds nothing to remove.
        email = getattr(user, "email", "").lower()
        for meeting in cls.objects.exclude(invitees=[]).only("pk", "invitees"):
            kept = [item for item in meeting.invitees if item.lower() != email]
            if kept != meeting.invitees:
                cls.objects.filter(pk=meeting.pk).update(invitees=kept)


class WebexToken(models.Model):
    """The Webex OAuth tokens, in one row (pk=1) that every worker shares.

    Used when WEBEX_ACCESS_TOKEN is empty and WEBEX_CLIENT_ID, WEBEX_CLIENT_SECRET and
    WEBEX_REFRESH_TOKEN are set. The Webex backend refreshes the access token under a row
    lock (select_for_update), so only one worker refreshes at a time and the others use
    what it stored. A refused refresh marks the row `failed`: every call then fails at once,
    without asking Webex, until an operator sets a new refresh token with
    `WebexToken.reset(refresh_token=...)` (or sets WEBEX_REFRESH_TOKEN and calls
    `WebexToken.reset()`), which also clears the failure.
    """

    SINGLETON_PK = 1

    access_token = models.TextField(_("access token"), blank=True)
    refresh_token = models.TextField(_("refresh token"), blank=True)
    expires_at = models.DateTimeField(_("access token expires"), null=True, blank=True)
    refreshed_at = models.DateTimeField(_("last refreshed"), null=True, blank=True)
    last_error = models.TextField(_("last refresh error"), blank=True)
    failed = models.BooleanField(_("refresh failed"), default=False)

    PERSONAL_DATA_FIELDS = ()

    class Meta:
        verbose_name = _("Webex token")
        verbose_name_plural = _("Webex tokens")

    def __str__(self) -> str:
        return "Webex token" + (" (refresh failed)" if self.failed else "")

    @classmethod
    def load(cls) -> WebexToken:
        """The row, made on first use with WEBEX_REFRESH_TOKEN as its refresh token."""
        seed = getattr(settings, "WEBEX_REFRESH_TOKEN", "")
        row, created = cls.objects.get_or_create(pk=cls.SINGLETON_PK, defaults={"refresh_token": seed})
        if not created and not row.refresh_token and seed:
            cls.objects.filter(pk=row.pk, refresh_token="").update(refresh_token=seed)
            row.refresh_from_db()
        return row

    @classmethod
    def reset(cls, refresh_token: str = "") -> WebexToken:
        """After a failed refresh: a new refresh token (default WEBEX_REFRESH_TOKEN), no
        access token, and the failure cleared, so that the next call refreshes again."""
        token = refresh_token or getattr(settings, "WEBEX_REFRESH_TOKEN", "")
        cls.objects.update_or_create(
            pk=cls.SINGLETON_PK,
            defaults={
                "refresh_token": token,
                "access_token": "",
                "expires_at": None,
                "failed": False,
                "last_error": "",
            },
        )
        return cls.objects.get(pk=cls.SINGLETON_PK)


class ProviderMeetingQuerySet(models.QuerySet["ProviderMeeting"]):
    def update(self, **kwargs: Any) -> int:
        """Every write stamps `updated_at`: the pipeline writes with conditional
        updates, which `auto_now` (save() only) never sees."""
        kwargs.setdefault("updated_at", timezone.now())
        return super().update(**kwargs)

    def needing_attention(self) -> ProviderMeetingQuerySet:
        return self.filter(NEEDS_ATTENTION)


class ProviderMeeting(models.Model):
    """A meeting or webinar we want on the video provider: the intent, stored
    before any call is made, and what the provider gave back.

    `key` is ours, unique, and sent to the provider (Webex's integrationTag, at
    most 64 characters), so a retried create finds the meeting it already made.
    """

    class Kind(models.TextChoices):
        MEETING = "meeting", _("meeting")
        WEBINAR = "webinar", _("webinar")

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        CREATING = "creating", _("creating")
        CREATED = "created", _("created")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    # The allowed moves of the state, written once.
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        State.PENDING: frozenset({State.CREATING, State.CANCELLED}),
        State.CREATING: frozenset({State.CREATED, State.PENDING, State.FAILED, State.CANCELLED}),
        State.CREATED: frozenset({State.CANCELLED}),
        State.FAILED: frozenset({State.PENDING, State.CANCELLED}),
        State.CANCELLED: frozenset(),
    }

    # Real failures (5xx, timeouts) give up after MAX_ATTEMPTS; answers "429 Too
    # Many Requests" have a budget of their own, larger, so that a short run of
    # them never fails a meeting and an endless one still ends (about 14 hours
    # of waits with the default visibility timeout).
    MAX_ATTEMPTS: ClassVar[int] = 8
    MAX_RATE_LIMITED: ClassVar[int] = 20
    # Where a retried create looks for the meeting by key: this far either side
    # of each start a create was sent with (the provider's search needs a window).
    SEARCH_MARGIN: ClassVar[timedelta] = timedelta(days=1)

    key = models.CharField(_("our key"), max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.MEETING)
    title = models.CharField(_("title"), max_length=200)
    agenda = models.TextField(_("agenda"), blank=True)
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    time_zone = models.CharField(_("time zone"), max_length=64)
    invitees = models.JSONField(_("invitees"), default=list, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    rate_limited = models.PositiveIntegerField(_("attempts refused for too many requests"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    tracking_id = models.CharField(_("provider tracking id"), max_length=200, blank=True)
    provider_id = models.CharField(_("provider id"), max_length=200, blank=True)
    join_url = models.URLField(_("join link"), max_length=1000, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)
    # The claim of the worker holding the lease, new for each claim: its writes
    # are conditional on it, so a worker whose lease was taken over writes nothing.
    lease_token = models.UUIDField(_("lease token"), null=True, blank=True, editable=False)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    # Changes after creation (a move, a new invitee or registrant) bump
    # `version`; a worker brings the provider up to it and records
    # `synced_version`. `provider_invitees` are the addresses that may be on the
    # provider (noted before a create is sent, added after an add succeeds); one
    # no longer in `invitees` is removed there by the worker, then dropped.
    version = models.PositiveIntegerField(_("version"), default=0)
    synced_version = models.PositiveIntegerField(_("version on the provider"), default=0)
    provider_invitees = models.JSONField(_("addresses on the provider"), default=list, blank=True)
    # fields_digest() of what the provider was last sent successfully: the worker
    # updates the provider meeting only when title, agenda, times or zone differ.
    provider_digest = models.CharField(_("fields on the provider (digest)"), max_length=64, blank=True)
    # Each create sent, noted before sending: {"start": ISO time, "digest": ...}. A
    # retry looks for the meeting around every one of these starts, and updates the
    # meeting it finds unless every create sent the row's current fields.
    sent_creates = models.JSONField(_("create requests sent"), default=list, blank=True, editable=False)
    sync_failed = models.BooleanField(
        _("update failed"),
        default=False,
        help_text=_("The provider refused a change: fix the cause and retry."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ProviderMeetingQuerySet.as_manager()

    PERSONAL_DATA_FIELDS = ("invitees", "provider_invitees")
    # A provider's error may quote an invitee's address.
    PERSONAL_DATA_MENTIONS = ("title", "agenda", "last_error")
    # What an invitee's export shows of a meeting (not the pipeline's internals).
    EXPORTED_TO_INVITEES: ClassVar[tuple[str, ...]] = (
        "id",
        "key",
        "kind",
        "title",
        "start",
        "end",
        "time_zone",
        "state",
        "join_url",
        "invitees",
        "provider_invitees",
        "created_at",
    )

    class Meta:
        verbose_name = _("provider meeting")
        verbose_name_plural = _("provider meetings")
        ordering = ["start"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="providermeeting_due")]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_state_display()})"

    def can_move_to(self, state: str) -> bool:
        return state in self.TRANSITIONS.get(self.state, frozenset())

    @classmethod
    def sources_of(cls, state: str) -> list[str]:
        """The states from which a row may move to `state` (for conditional updates)."""
        return [source for source, targets in cls.TRANSITIONS.items() if state in targets]

    def backoff(self, *, retry_after: float | None = None) -> timedelta:
        """How long to wait before the next attempt: 30 s doubling with every
        attempt made (rate-limited ones included), or the provider's Retry-After
        when that is longer; never beyond the broker's visibility timeout, since
        a task scheduled further ahead runs twice."""
        seconds = 30.0 * 2 ** max(self.attempts + self.rate_limited - 1, 0)
        if retry_after is not None and retry_after > seconds:
            seconds = float(retry_after)
        return timedelta(seconds=min(seconds, float(settings.CELERY_VISIBILITY_TIMEOUT)))

    @property
    def needs_attention(self) -> bool:
        return self.state == self.State.FAILED or self.sync_failed

    @property
    def may_be_on_provider(self) -> bool:
        """Whether the meeting exists on the provider, or may (a create was sent)
        and is not being cancelled: who was sent there must be removed there."""
        if self.cancel_requested or self.state in (self.State.CANCELLED, self.State.FAILED):
            return False
        return self.state != self.State.PENDING or bool(self.sent_creates) or self.attempts > 0

    def fields_digest(self) -> str:
        """A digest of what the provider meeting is made of, bar the invitees."""
        fields = [self.title, self.agenda, self.start.isoformat(), self.end.isoformat(), self.time_zone]
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()

    def search_windows(self) -> list[tuple[datetime, datetime]]:
        """Where a retry looks for a meeting an earlier create may have made: a
        day either side of every start a create was sent with and of the current
        one, overlapping windows merged (usually one; more after a long move)."""
        starts = {self.start, *(datetime.fromisoformat(item["start"]) for item in self.sent_creates)}
        windows: list[tuple[datetime, datetime]] = []
        for start in sorted(starts):
            low, high = start - self.SEARCH_MARGIN, start + self.SEARCH_MARGIN
            if windows and low <= windows[-1][1]:
                windows[-1] = (windows[-1][0], high)
            else:
                windows.append((low, high))
        return windows

    @classmethod
    def personal_data_of(cls, user: object) -> models.QuerySet[ProviderMeeting]:
        """The meetings and webinars on the video provider that list the person."""
        return _listing_invitee(cls, user)

    @classmethod
    def redact_for_export(cls, row: dict[str, Any], user: object) -> dict[str, Any]:
        shown = {name: row[name] for name in cls.EXPORTED_TO_INVITEES if name in row}
        return _only_their_entries(shown, user)

    @classmethod
    def erase_personal_data(cls, user: object, pseudonym: str) -> None:
        # Row first, as when an agent removes an invitee: the address leaves the
        # invitee lists now, and stays in provider_invitees only until the worker
        # has taken it off the provider meeting.
        from .services import forget_address

        forget_address(email=getattr(user, "email", ""))


# A meeting that failed, or whose last change the provider refused: the admin lists them first.
NEEDS_ATTENTION = Q(state=ProviderMeeting.State.FAILED) | Q(sync_failed=True)


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


# --- Webinars: the ERN expert programme ------------------------------------------------------


class WebinarQuerySet(models.QuerySet["Webinar"]):
    def on_programme(self) -> WebinarQuerySet:
        """What the public programme lists: published and held webinars."""
        return self.filter(state__in=[Webinar.State.PUBLISHED, Webinar.State.HELD])

    def upcoming(self, now: datetime | None = None) -> WebinarQuerySet:
        """Published webinars not over yet, soonest first."""
        now = now or timezone.now()
        return self.filter(state=Webinar.State.PUBLISHED, end_at__gt=now).order_by("start", "pk")

    def past(self, now: datetime | None = None) -> WebinarQuerySet:
        """Held webinars, and published ones that are over, latest first."""
        now = now or timezone.now()
        return self.on_programme().filter(end_at__lte=now).order_by("-start", "-pk")

    def with_seats(self) -> WebinarQuerySet:
        """Annotate `confirmed_count` and `waitlisted_count` (one query for a whole list)."""
        return self.annotate(
            confirmed_count=models.Count(
                "registrations", filter=Q(registrations__status=Registration.Status.CONFIRMED)
            ),
            waitlisted_count=models.Count(
                "registrations", filter=Q(registrations__status=Registration.Status.WAITLISTED)
            ),
        )

    def with_related(self) -> WebinarQuerySet:
        return self.select_related("language", "meeting").prefetch_related(
            models.Prefetch("erns", queryset=ERN.objects.order_by("name")),
            models.Prefetch("speakers", queryset=Speaker.objects.order_by("position", "pk")),
        )


class Webinar(models.Model):
    """A webinar of the ERN expert programme, given by speakers to registered clinicians."""

    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        PUBLISHED = "published", _("published")
        CANCELLED = "cancelled", _("cancelled")
        HELD = "held", _("held")

    # The allowed moves of the state, written once.
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        State.DRAFT: frozenset({State.PUBLISHED, State.CANCELLED}),
        State.PUBLISHED: frozenset({State.CANCELLED, State.HELD}),
        State.CANCELLED: frozenset(),
        State.HELD: frozenset(),
    }

    MIN_DURATION: ClassVar[int] = 15
    MAX_DURATION: ClassVar[int] = 480
    MAX_CAPACITY: ClassVar[int] = 10_000

    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), max_length=8000)
    erns = models.ManyToManyField(ERN, verbose_name=_("European Reference Networks"), related_name="webinars")
    language = models.ForeignKey(
        Language, verbose_name=_("language"), on_delete=models.PROTECT, related_name="+"
    )
    start = models.DateTimeField(_("start"))
    duration_minutes = models.PositiveSmallIntegerField(_("duration (minutes)"), default=60)
    # start + duration, stored so that "upcoming" and "past" are index lookups.
    end_at = models.DateTimeField(_("end"), editable=False)
    time_zone = models.CharField(
        _("organiser's time zone"),
        max_length=64,
        default="Europe/Brussels",
        help_text=_("The zone the provider webinar is scheduled in; everyone sees times in their own zone."),
    )
    capacity = models.PositiveIntegerField(_("seats"), default=100)
    recorded = models.BooleanField(
        _("recorded"), default=False, help_text=_("Registrants are told before they register.")
    )
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.DRAFT)
    meeting = models.OneToOneField(
        ProviderMeeting,
        verbose_name=_("provider webinar"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="webinar",
    )
    recording_url = models.URLField(_("recording link"), max_length=1000, blank=True)
    # The iCalendar SEQUENCE: raised on every move and on cancellation.
    sequence = models.PositiveIntegerField(_("calendar sequence"), default=0)
    cancel_reason = models.TextField(_("reason for cancelling"), blank=True, max_length=2000)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    held_at = models.DateTimeField(_("marked held"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = WebinarQuerySet.as_manager()

    # Which staff member made it; deleting the account clears it (SET_NULL).
    # Not in the person's export: it is the helpdesk's record, not the person's.
    PERSONAL_DATA_FIELDS = ("created_by",)
    # The programme announces speakers by name.
    PERSONAL_DATA_MENTIONS = ("title", "description", "cancel_reason")

    class Meta:
        verbose_name = _("webinar")
        verbose_name_plural = _("webinars")
        ordering = ["-start"]
        indexes = [models.Index(fields=["state", "end_at"], name="webinar_state_end")]
        constraints = [models.CheckConstraint(condition=Q(capacity__gte=1), name="webinar_capacity_positive")]
        permissions = [("export_attendees", "Can export the attendee list of a webinar")]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Derived, not domain logic: the end always follows start and duration.
        self.end_at = self.start + timedelta(minutes=self.duration_minutes)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"start", "duration_minutes"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "end_at"}
        super().save(*args, **kwargs)

    def can_move_to(self, state: str) -> bool:
        return state in self.TRANSITIONS.get(self.state, frozenset())

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.duration_minutes)

    @property
    def meeting_key(self) -> str:
        return f"webinar-{self.pk}"

    @property
    def is_public(self) -> bool:
        return self.state in (self.State.PUBLISHED, self.State.HELD)

    def has_started(self, now: datetime | None = None) -> bool:
        return self.start <= (now or timezone.now())

    def is_over(self, now: datetime | None = None) -> bool:
        return self.end <= (now or timezone.now())

    def registration_open(self, now: datetime | None = None) -> bool:
        """Clinicians may register until the webinar starts."""
        return self.state == self.State.PUBLISHED and not self.has_started(now)

    @property
    def seats_left(self) -> int:
        """Free seats; needs `confirmed_count` from with_seats(), else counts."""
        confirmed = getattr(self, "confirmed_count", None)
        if confirmed is None:
            confirmed = self.registrations.filter(status=Registration.Status.CONFIRMED).count()
        return max(self.capacity - confirmed, 0)

    @property
    def join_url(self) -> str:
        """The provider's join link, once the webinar exists there (confirmed registrants only)."""
        meeting = self.meeting
        if self.state != self.State.PUBLISHED or meeting is None:
            return ""
        if meeting.state != ProviderMeeting.State.CREATED or meeting.cancel_requested:
            return ""
        return meeting.join_url


class Speaker(models.Model):
    """A speaker of a webinar; invited to the provider webinar as a panelist when
    an address is known (the clinician's, or the one given)."""

    webinar = models.ForeignKey(
        Webinar, verbose_name=_("webinar"), on_delete=models.CASCADE, related_name="speakers"
    )
    name = models.CharField(_("name"), max_length=200)
    affiliation = models.CharField(_("affiliation"), max_length=300, blank=True)
    clinician = models.ForeignKey(
        Clinician,
        verbose_name=_("clinician"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="webinar_talks",
        help_text=_("Optional: the speaker's profile in the network."),
    )
    email = models.EmailField(
        _("email for the panelist invitation"),
        blank=True,
        help_text=_("Optional; the clinician's address is used when a clinician is chosen."),
    )
    position = models.PositiveSmallIntegerField(_("order"), default=0)

    PERSONAL_DATA_FIELDS = ("name", "affiliation", "clinician", "email")
    # A speaker typed in by name, without a profile or an address.
    PERSONAL_DATA_MENTIONS = ("name",)

    class Meta:
        verbose_name = _("speaker")
        verbose_name_plural = _("speakers")
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def personal_data_of(cls, user: object) -> models.QuerySet[Speaker]:
        """Talks given with a profile, or with the person's address (as erasure finds them)."""
        mine = Q(clinician__user=user)
        email = getattr(user, "email", "")
        if email:
            mine |= Q(email__iexact=email)
        return cls.objects.filter(mine).select_related("webinar", "clinician")

    @classmethod
    def erase_personal_data(cls, user: object, pseudonym: str) -> None:
        # A talk given stays on the programme; who gave it does not.
        mine = Q(clinician__user=user)
        email = getattr(user, "email", "")
        if email:
            mine |= Q(email__iexact=email)
        cls.objects.filter(mine).update(name="[erased]", affiliation="", email="", clinician=None)

    @property
    def invite_email(self) -> str:
        if self.clinician is not None:
            return self.clinician.user.email
        return self.email


class WaitlistPosition(TypedDict):
    """What RegistrationQuerySet.with_position() annotates."""

    waitlist_position: int | None


class RegistrationQuerySet(models.QuerySet["Registration"]):
    def active(self) -> RegistrationQuerySet:
        return self.filter(status__in=[Registration.Status.CONFIRMED, Registration.Status.WAITLISTED])

    def waiting_in_order(self) -> RegistrationQuerySet:
        """The waitlist, first come first served."""
        return self.filter(status=Registration.Status.WAITLISTED).order_by("registered_at", "pk")

    def with_position(self) -> models.QuerySet[WithAnnotations[Registration, WaitlistPosition]]:
        """Annotate `waitlist_position` (1 = next to be promoted) in the same query."""
        from django.db.models.functions import Coalesce

        ahead = (
            Registration.objects.filter(
                webinar=models.OuterRef("webinar"), status=Registration.Status.WAITLISTED
            )
            .filter(
                Q(registered_at__lt=models.OuterRef("registered_at"))
                | Q(registered_at=models.OuterRef("registered_at"), pk__lt=models.OuterRef("pk"))
            )
            .order_by()
            .values("webinar")
            .annotate(n=models.Count("pk"))
            .values("n")
        )
        annotated = self.annotate(
            waitlist_position=models.Case(
                models.When(
                    status=Registration.Status.WAITLISTED,
                    then=Coalesce(models.Subquery(ahead), 0) + 1,
                ),
                default=None,
                output_field=models.IntegerField(),
            )
        )
        # django-stubs types annotate() with a TypedDict of its own making; this is its shape, named.
        return cast("models.QuerySet[WithAnnotations[Registration, WaitlistPosition]]", annotated)

    def with_related(self) -> RegistrationQuerySet:
        return self.select_related("webinar", "clinician", "clinician__user", "clinician__hospital")


class Registration(models.Model):
    """A clinician's seat (or place on the waitlist) at a webinar. One row per
    clinician and webinar: registering again after cancelling reuses it."""

    class Status(models.TextChoices):
        CONFIRMED = "confirmed", _("confirmed")
        WAITLISTED = "waitlisted", _("on the waitlist")
        CANCELLED = "cancelled", _("cancelled")

    webinar = models.ForeignKey(
        Webinar, verbose_name=_("webinar"), on_delete=models.CASCADE, related_name="registrations"
    )
    clinician = models.ForeignKey(
        Clinician,
        verbose_name=_("clinician"),
        on_delete=models.CASCADE,
        related_name="webinar_registrations",
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    # When the clinician (last) registered: the waitlist is served in this order.
    registered_at = models.DateTimeField(_("registered"), default=timezone.now)
    confirmed_at = models.DateTimeField(_("seat confirmed"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    # The calendar SEQUENCE last emailed to this person (none yet: no invitation sent).
    sent_sequence = models.PositiveIntegerField(_("invitation sent (sequence)"), null=True, blank=True)

    objects = RegistrationQuerySet.as_manager()

    PERSONAL_DATA_FIELDS = ("clinician", "status", "registered_at", "confirmed_at", "cancelled_at")

    class Meta:
        verbose_name = _("webinar registration")
        verbose_name_plural = _("webinar registrations")
        ordering = ["registered_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["webinar", "clinician"], name="registration_once_per_clinician")
        ]
        indexes = [
            models.Index(fields=["webinar", "status", "registered_at"], name="registration_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.clinician} → {self.webinar}"

    @classmethod
    def personal_data_of(cls, user: User) -> models.QuerySet[Registration]:
        return cls.objects.filter(clinician__user=user).select_related("webinar", "clinician")

    @classmethod
    def erase_personal_data(cls, user: User, pseudonym: str) -> None:
        # The rows go with the clinician (CASCADE); first give their seats to
        # the people waiting, as a cancellation would.
        from .webinars import release_seats_of

        release_seats_of(user=user)

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.CONFIRMED, self.Status.WAITLISTED)


class WebinarEvent(models.Model):
    """What happened to a webinar, and who did it (the admin's history)."""

    webinar = models.ForeignKey(
        Webinar, verbose_name=_("webinar"), on_delete=models.CASCADE, related_name="events"
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    action = models.CharField(_("action"), max_length=40)
    note = models.TextField(_("note"), blank=True)

    # The staff member who acted (cleared with the account); notes should hold no names.
    PERSONAL_DATA_FIELDS = ("actor",)
    PERSONAL_DATA_MENTIONS = ("note",)

    class Meta:
        verbose_name = _("webinar event")
        verbose_name_plural = _("webinar events")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.action} at {self.at:%Y-%m-%d %H:%M}"
