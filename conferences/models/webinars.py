"""Webinars of the ERN expert programme: speakers, registrations with a waitlist, and their history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict, cast

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clinicians.models import ERN, Clinician, Language
from cmss import fragments
from cmss.models import Event

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    from cmss.models import User


from .meetings import ProviderMeeting


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
        PUBLISHED = "published", pgettext_lazy("webinar state", "published")
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
        # update() sends no signal: the programme's cached pages name the speakers.
        fragments.bump("webinars")

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
        from conferences.webinars.services import release_seats_of

        release_seats_of(user=user)

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.CONFIRMED, self.Status.WAITLISTED)


class WebinarEvent(Event):
    """What happened to a webinar, and who did it (the admin's history)."""

    webinar = models.ForeignKey(
        Webinar, verbose_name=_("webinar"), on_delete=models.CASCADE, related_name="events"
    )

    # The staff member who acted (cleared with the account); notes should hold no names.
    PERSONAL_DATA_FIELDS = ("actor",)
    PERSONAL_DATA_MENTIONS = ("note",)

    class Meta(Event.Meta):
        verbose_name = _("webinar event")
        verbose_name_plural = _("webinar events")
