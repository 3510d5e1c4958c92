"""Core models: the user, the outgoing-mail table, the audit log and the shape of every history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .timezones import DEFAULT_TIME_ZONE, validate_time_zone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """Everyone who signs in: clinicians (who also have a Clinician row) and staff.

    The email address is the sign-in; there is no username.
    """

    email = models.EmailField(_("email address"), max_length=254, unique=True)
    display_name = models.CharField(
        _("display name"), max_length=150, blank=True, help_text=_("How staff sign their replies.")
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default=DEFAULT_TIME_ZONE, validators=[validate_time_zone]
    )
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    is_staff = models.BooleanField(
        _("staff status"), default=False, help_text=_("Helpdesk staff who may sign in to the admin.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []
    PERSONAL_DATA_FIELDS = ("email", "display_name", "time_zone", "language", "last_login", "date_joined")

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    @classmethod
    def personal_data_of(cls, user: User) -> models.QuerySet[User]:
        return cls.objects.filter(pk=user.pk)

    def get_full_name(self) -> str:
        # Staff have no clinician profile: don't pay a query to find that out.
        clinician = None if self.is_staff else getattr(self, "clinician", None)
        if clinician is not None:
            return clinician.full_name
        return self.display_name or self.email

    def get_short_name(self) -> str:
        return self.get_full_name()


class OutgoingEmail(models.Model):
    """An email is a row first (the outbox); a task sends it after commit.

    The row is written in the same transaction as the change that causes it,
    so a rollback sends nothing and a broker outage only delays it.
    """

    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    dedup_key = models.CharField(_("deduplication key"), max_length=200, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient user"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="outgoing_emails",
    )
    to_address = models.EmailField(_("to"), max_length=254)
    from_address = models.CharField(_("from"), max_length=254)
    subject = models.CharField(_("subject"), max_length=500)
    text_body = models.TextField(_("text body"))
    html_body = models.TextField(_("HTML body"), blank=True)
    attachments = models.JSONField(_("attachments"), default=list, blank=True)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    # Still to be rendered: {"with": "<dotted path of a renderer>", "args": {...}}
    # (cmss.outbox.queue_email_later); empty once subject and body are written.
    render = models.JSONField(_("to be rendered"), default=dict, blank=True)
    message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    PERSONAL_DATA_FIELDS = (
        "user",
        "to_address",
        "subject",
        "text_body",
        "html_body",
        "attachments",
        "headers",
    )
    # Mail to someone else may name the person (a reply about them, an outcome report).
    PERSONAL_DATA_MENTIONS = ("subject", "text_body", "html_body")

    class Meta:
        verbose_name = _("outgoing email")
        verbose_name_plural = _("outgoing emails")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="outbox_due_idx"),
            models.Index(fields=["state", "lease_expires_at"], name="outbox_lease_idx"),
            # The admin's list, newest first (ordering, then the key): a page is read
            # from the index, not sorted from every email ever sent.
            models.Index(fields=["created_at", "id"], name="outbox_admin_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to_address}"

    @classmethod
    def personal_data_of(cls, user: User) -> models.QuerySet[OutgoingEmail]:
        return cls.objects.filter(models.Q(user=user) | models.Q(to_address__iexact=user.email))

    @classmethod
    def erase_personal_data(cls, user: User, pseudonym: str) -> None:
        """Drop what is still waiting; scrub what went out (the row stays as a record)."""
        rows = cls.personal_data_of(user)
        rows.filter(state__in=[cls.State.QUEUED, cls.State.FAILED]).update(state=cls.State.CANCELLED)
        rows.update(
            user=None,
            to_address=f"{pseudonym}@erased.invalid",
            subject="[erased]",
            text_body="",
            html_body="",
            attachments=[],
            headers={},
        )


class AuditEvent(models.Model):
    """Append-only record of access to and changes of personal data.

    It names who did what to which object, from where and with what outcome,
    never the personal data itself. Written only through cmss.audit.record().
    """

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("success")
        DENIED = "denied", _("denied")
        FAILED = "failed", _("failed")

    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    actor_id = models.BigIntegerField(_("actor (user id)"), null=True, blank=True, db_index=True)
    subject_user_id = models.BigIntegerField(_("whose data (user id)"), null=True, blank=True, db_index=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(_("from (IP address)"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)

    PERSONAL_DATA_FIELDS = ("ip_address",)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args: object, **kwargs: object) -> None:
        # Integrity, not domain logic: an audit row is never rewritten.
        if self.pk is not None and not self._state.adding:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise PermissionError("Audit events are append-only.")

    @classmethod
    def personal_data_of(cls, user: User) -> models.QuerySet[AuditEvent]:
        return cls.objects.filter(models.Q(actor_id=user.pk) | models.Q(subject_user_id=user.pk))

    @classmethod
    def redact_for_export(cls, row: dict[str, object], user: User) -> dict[str, object]:
        """Events about me done by someone else: not their address, nor who they are."""
        if row.get("actor_id") != user.pk:
            row["ip_address"] = None
            row["actor_id"] = None
        return row

    @classmethod
    def erase_personal_data(cls, user: User, pseudonym: str) -> None:
        # The events stay (who did what, by id); the address they came from goes.
        cls.objects.filter(actor_id=user.pk).update(ip_address=None)


class Event(models.Model):
    """One line of an object's history: when, who, what, and a short note.

    The shape every history shares (tickets, webinars, conferences). Each
    concrete event adds the foreign key to what it is the history of, and
    declares its own personal data (PERSONAL_DATA_FIELDS, PERSONAL_DATA_MENTIONS,
    personal_data_of...): cmss.personal_data reads those on the concrete class
    only, so that a new history never inherits a declaration by accident.
    Written only by the services of its app.
    """

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
    note = models.TextField(_("note"), blank=True)

    class Meta:
        abstract = True
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.action} at {self.at:%Y-%m-%d %H:%M}"

    @property
    def actor_label(self) -> str:
        """Who acted, as the helpdesk reads it (a pending account or an erased one: "system")."""
        if self.actor is None:
            return str(_("system"))
        return self.actor.display_name or self.actor.email


class ChangeEvent(Event):
    """An event that moves a value: from → to (a state, an assignee, a start time)."""

    from_value = models.CharField(_("from"), max_length=200, blank=True)
    to_value = models.CharField(_("to"), max_length=200, blank=True)

    class Meta(Event.Meta):
        abstract = True

    def __str__(self) -> str:
        return f"{self.action}: {self.from_value} → {self.to_value}"


class RetentionPolicy(models.Model):
    """How long personal data is kept: one row, edited in the admin by supervisors.

    The defaults are for the data protection officer to confirm.
    """

    unconfirmed_signups_days = models.PositiveIntegerField(_("unconfirmed sign-ups (days)"), default=7)
    rejected_registrations_days = models.PositiveIntegerField(_("rejected registrations (days)"), default=183)
    closed_ticket_text_days = models.PositiveIntegerField(_("text of closed tickets (days)"), default=730)
    case_summaries_days = models.PositiveIntegerField(
        _("case summaries after the conference (days)"), default=365
    )
    provider_meetings_days = models.PositiveIntegerField(
        _("invitee lists of video meetings after their end (days)"), default=365
    )
    sent_emails_days = models.PositiveIntegerField(_("sent emails (days)"), default=365)
    audit_events_days = models.PositiveIntegerField(_("audit events (days)"), default=1826)
    confirmed_by_dpo = models.BooleanField(_("confirmed by the data protection officer"), default=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    PERSONAL_DATA_FIELDS = ()

    class Meta:
        verbose_name = _("retention policy")
        verbose_name_plural = _("retention policy")

    def __str__(self) -> str:
        return str(_("Retention periods"))

    @classmethod
    def load(cls) -> RetentionPolicy:
        policy, _created = cls.objects.get_or_create(pk=1)
        return policy

    def cutoff(self, field: str, now: datetime) -> datetime:
        return now - timedelta(days=getattr(self, field))
