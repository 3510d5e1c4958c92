"""Provider meetings (the row-first pipeline's intents), the local video backend's meetings and the
Webex OAuth tokens."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cmss import jobs


def _local_meetings_listing(user: object) -> models.QuerySet[LocalVideoMeeting]:
    """The local backend's meetings whose invitee list holds the person (export)."""
    email = getattr(user, "email", "").lower()
    found = [
        meeting.pk
        for meeting in LocalVideoMeeting.objects.filter(invitees__icontains=email).only("pk", "invitees")
        if any(str(item).lower() == email for item in meeting.invitees)
    ]
    return LocalVideoMeeting.objects.filter(pk__in=found)


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
        return _local_meetings_listing(user)

    @classmethod
    def redact_for_export(cls, row: dict[str, Any], user: object) -> dict[str, Any]:
        """An exported meeting lists the person, not the other invitees."""
        email = getattr(user, "email", "").lower()
        return {**row, "invitees": [item for item in row.get("invitees", []) if str(item).lower() == email]}

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

    def needing_sync(self) -> ProviderMeetingQuerySet:
        """Created meetings with something to push: changed details (a version not
        yet synced) or invitees to add or to remove."""
        return self.filter(
            Q(synced_version__lt=F("version"))
            | Exists(MeetingInvitee.objects.filter(meeting=OuterRef("pk")).pending()),
            state=ProviderMeeting.State.CREATED,
            cancel_requested=False,
            sync_failed=False,
        )


class ProviderMeeting(models.Model):
    """A meeting or webinar we want on the video provider: the intent, stored
    before any call is made, and what the provider gave back.

    `key` is ours, unique, and sent to the provider (Webex's integrationTag, at
    most 64 characters), so a retried create finds the meeting it already made.
    `owner` says which domain is told once it exists there (pipeline.on_created).
    Who is invited or registered are MeetingInvitee rows.
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

    # Real failures (5xx, timeouts) give up after JOBS_MAX_ATTEMPTS (cmss.jobs);
    # answers "429 Too Many Requests" have a budget of their own, larger, so that a
    # short run of them never fails a meeting and an endless one still ends (about
    # 8 hours of waits with the default backoff cap).
    MAX_RATE_LIMITED: ClassVar[int] = 20
    # Where a retried create looks for the meeting by key: this far either side
    # of each start a create was sent with (the provider's search needs a window).
    SEARCH_MARGIN: ClassVar[timedelta] = timedelta(days=1)

    key = models.CharField(_("our key"), max_length=64, unique=True)
    owner = models.CharField(
        _("owner"),
        max_length=20,
        blank=True,
        help_text=_("What the meeting is for (conference, webinar): who is told once it exists."),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.MEETING)
    title = models.CharField(_("title"), max_length=200)
    agenda = models.TextField(_("agenda"), blank=True)
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    time_zone = models.CharField(_("time zone"), max_length=64)
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
    # A change of the meeting's details after creation (a move, a new title) bumps
    # `version`; a worker brings the provider up to it and records `synced_version`.
    # Invitees carry their own state (MeetingInvitee.synced_at, removed_at).
    version = models.PositiveIntegerField(_("version"), default=0)
    synced_version = models.PositiveIntegerField(_("version on the provider"), default=0)
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

    # Who is invited lives in MeetingInvitee rows; a provider's error may quote an address.
    PERSONAL_DATA_FIELDS = ()
    PERSONAL_DATA_MENTIONS = ("title", "agenda", "last_error")

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
        """How long to wait before the next attempt: cmss.jobs's backoff counting every
        attempt made (rate-limited ones included), or the provider's Retry-After when
        that is longer; never beyond the broker's visibility timeout."""
        return jobs.backoff(self.attempts + self.rate_limited, retry_after=retry_after)

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

    def in_sync(self) -> bool:
        """Whether the provider has everything the row asks for: the details of the
        current version, every invitee added and nobody left to remove (a query)."""
        return self.synced_version == self.version and not self.invitees.pending().exists()


class MeetingInviteeQuerySet(models.QuerySet["MeetingInvitee"]):
    def wanted(self) -> MeetingInviteeQuerySet:
        return self.filter(removed_at__isnull=True)

    def to_add(self) -> MeetingInviteeQuerySet:
        return self.filter(removed_at__isnull=True, synced_at__isnull=True)

    def to_remove(self) -> MeetingInviteeQuerySet:
        return self.filter(removed_at__isnull=False)

    def pending(self) -> MeetingInviteeQuerySet:
        """Work for the sync: someone to add or someone to take off (PENDING_INVITEES)."""
        return self.filter(PENDING_INVITEES)

    def on_provider(self) -> MeetingInviteeQuerySet:
        """Who is (or may be) on the provider meeting: added, or sent in a create or
        an add whose answer never came."""
        return self.filter(Q(synced_at__isnull=False) | Q(sent_at__isnull=False))

    def never_sent(self) -> MeetingInviteeQuerySet:
        return self.filter(synced_at__isnull=True, sent_at__isnull=True)

    def of_address(self, email: str) -> MeetingInviteeQuerySet:
        return self.filter(email=email.lower())


# Work for the sync: someone to add, or someone to take off the provider.
PENDING_INVITEES = Q(synced_at__isnull=True) | Q(removed_at__isnull=False)


class MeetingInvitee(models.Model):
    """Someone invited to a provider meeting (or a panelist or registrant of a
    webinar), one row each: adding someone is one INSERT, and the worker pushes
    the rows not yet synced.

    - `sent_at`: a create or an add carrying them was sent (noted before sending),
      so they may be on the provider even if the answer never came.
    - `synced_at`: the provider confirmed them (or answered that they were there).
    - `removed_at`: taken off on our side; if they may be on the provider, the
      worker removes them there and then deletes the row. The address is kept only
      that long (a row never sent is deleted at once).
    """

    class Role(models.TextChoices):
        INVITEE = "invitee", _("invitee")
        PANELIST = "panelist", _("panelist")
        REGISTRANT = "registrant", _("registrant")

    meeting = models.ForeignKey(
        ProviderMeeting, verbose_name=_("meeting"), on_delete=models.CASCADE, related_name="invitees"
    )
    # Lower-cased: one row per address and meeting, found by erasure through its index.
    email = models.EmailField(_("email address"), max_length=254)
    name = models.CharField(_("name"), max_length=200, blank=True)
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.INVITEE)
    added_at = models.DateTimeField(_("added"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent to the provider"), null=True, blank=True)
    synced_at = models.DateTimeField(_("on the provider since"), null=True, blank=True)
    removed_at = models.DateTimeField(_("removed"), null=True, blank=True)

    objects = MeetingInviteeQuerySet.as_manager()

    PERSONAL_DATA_FIELDS = ("email", "name")

    class Meta:
        verbose_name = _("meeting invitee")
        verbose_name_plural = _("meeting invitees")
        ordering = ["meeting", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "email"], name="meetinginvitee_once_per_meeting"),
        ]
        indexes = [
            models.Index(fields=["email"], name="meetinginvitee_email"),
            # The sync's and the sweeper's question, "who is left to push", read in order.
            models.Index(fields=["meeting", "id"], condition=PENDING_INVITEES, name="meetinginvitee_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.get_role_display()})"

    @classmethod
    def personal_data_of(cls, user: object) -> models.QuerySet[MeetingInvitee]:
        """The person on the meetings and webinars of the video provider."""
        return cls.objects.of_address(getattr(user, "email", "")).select_related("meeting")

    @classmethod
    def erase_personal_data(cls, user: object, pseudonym: str) -> None:
        # Row first, as when an agent removes an invitee: the name goes now, the
        # address stays only until the worker has taken it off the provider.
        from conferences.meetings.invitees import forget_address

        forget_address(email=getattr(user, "email", ""))


# A meeting that failed, or whose last change the provider refused: the admin lists them first.
NEEDS_ATTENTION = Q(state=ProviderMeeting.State.FAILED) | Q(sync_failed=True)
