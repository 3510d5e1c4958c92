"""Conferences and webinars: provider meetings, the local video backend and Webex tokens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def _drop_invitee(model: Any, user: object, *, address_of: Callable[[Any], str]) -> None:
    """Remove a person from the invitee lists of a meeting model (erasure)."""
    email = getattr(user, "email", "").lower()
    for meeting in model.objects.exclude(invitees=[]).only("pk", "invitees"):
        kept = [item for item in meeting.invitees if address_of(item).lower() != email]
        if kept != meeting.invitees:
            model.objects.filter(pk=meeting.pk).update(invitees=kept)


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

    class Meta:
        verbose_name = _("local video meeting")
        verbose_name_plural = _("local video meetings")
        ordering = ["start"]

    def __str__(self) -> str:
        return self.title

    @classmethod
    def erase_personal_data(cls, user: object, pseudonym: str) -> None:
        _drop_invitee(cls, user, address_of=str)


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

    MAX_ATTEMPTS: ClassVar[int] = 8

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
    last_error = models.TextField(_("last error"), blank=True)
    tracking_id = models.CharField(_("provider tracking id"), max_length=200, blank=True)
    provider_id = models.CharField(_("provider id"), max_length=200, blank=True)
    join_url = models.URLField(_("join link"), max_length=1000, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    PERSONAL_DATA_FIELDS = ("invitees",)

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
        """How long to wait before the next attempt: the provider's Retry-After
        when given, else 30 s doubling per attempt; never beyond the broker's
        visibility timeout, since a task scheduled further ahead runs twice."""
        if retry_after is not None and retry_after > 0:
            seconds = float(retry_after)
        else:
            seconds = 30.0 * 2 ** max(self.attempts - 1, 0)
        return timedelta(seconds=min(seconds, float(settings.CELERY_VISIBILITY_TIMEOUT)))

    def search_window(self) -> tuple[datetime, datetime]:
        return self.start - timedelta(days=1), self.start + timedelta(days=1)

    @classmethod
    def erase_personal_data(cls, user: object, pseudonym: str) -> None:
        _drop_invitee(cls, user, address_of=lambda item: str(item.get("email", "")))
