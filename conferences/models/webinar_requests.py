"""Webinar requests from reference centres: the request, its preferred dates,
its proposed speakers and its history. The draft webinar made from a request
links back to it (Webinar.request)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from clinicians.models import ERN, Clinician, Hospital, Language
from cmss.models import Event

from .webinars import Webinar

if TYPE_CHECKING:
    from cmss.models import User


class WebinarRequestQuerySet(models.QuerySet["WebinarRequest"]):
    def visible_to(self, user: User) -> WebinarRequestQuerySet:
        """The requests a person may open: those of the hospital they coordinate,
        and their own (verified clinicians only). Everyone else's answer 404."""
        clinician = Clinician.objects.filter(user=user).select_related("hospital").first()
        if clinician is None or not clinician.is_verified:
            return self.none()
        scope = Q(requested_by=user)
        if clinician.is_coordinator:
            scope |= Q(hospital_id=clinician.hospital_id)
        return self.filter(scope)

    def with_related(self) -> WebinarRequestQuerySet:
        return self.select_related(
            "hospital", "language", "webinar", "ticket", "requested_by"
        ).prefetch_related(
            models.Prefetch("erns", queryset=ERN.objects.order_by("name")),
            "dates",
            models.Prefetch(
                "speakers",
                queryset=ProposedSpeaker.objects.select_related("clinician__hospital", "clinician__user"),
            ),
        )


class WebinarRequest(models.Model):
    """A reference centre's request for a webinar; the helpdesk turns it into a
    draft webinar (conferences/webinars/requests.py) or declines it."""

    class State(models.TextChoices):
        REQUESTED = "requested", _("requested")
        ACCEPTED = "accepted", _("accepted: draft created")
        DECLINED = "declined", _("declined")

    # The allowed moves of the state, written once. A draft deleted in the admin
    # (the webinar link goes) may be created again.
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        State.REQUESTED: frozenset({State.ACCEPTED, State.DECLINED}),
        State.ACCEPTED: frozenset({State.ACCEPTED}),
        State.DECLINED: frozenset(),
    }

    MAX_DATES: ClassVar[int] = 3
    MAX_OUTSIDE_SPEAKERS: ClassVar[int] = 3
    MAX_AUDIENCE: ClassVar[int] = 100_000

    hospital = models.ForeignKey(
        Hospital, verbose_name=_("hospital"), on_delete=models.PROTECT, related_name="webinar_requests"
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
        related_name="webinar_request",
    )
    topic = models.CharField(_("topic"), max_length=200)
    audience = models.TextField(_("audience"), max_length=2000)
    clinical_need = models.TextField(_("why now (clinical need)"), max_length=4000)
    erns = models.ManyToManyField(ERN, verbose_name=_("ERNs concerned"), related_name="+")
    language = models.ForeignKey(
        Language, verbose_name=_("language"), on_delete=models.PROTECT, related_name="+"
    )
    duration_minutes = models.PositiveSmallIntegerField(_("proposed duration (minutes)"), default=60)
    audience_size = models.PositiveIntegerField(_("expected audience size"))
    recorded = models.BooleanField(_("recorded"), default=False)
    time_zone = models.CharField(_("requester's time zone"), max_length=64)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.REQUESTED)
    decline_reason = models.TextField(_("reason for declining"), blank=True, max_length=2000)
    webinar = models.OneToOneField(
        Webinar,
        verbose_name=_("webinar"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="request",
    )
    accepted_at = models.DateTimeField(_("draft created"), null=True, blank=True)
    declined_at = models.DateTimeField(_("declined"), null=True, blank=True)
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = WebinarRequestQuerySet.as_manager()

    PERSONAL_DATA_FIELDS = ("requested_by",)
    # Free text that may name a colleague (a speaker, the person declining).
    PERSONAL_DATA_MENTIONS = ("topic", "audience", "clinical_need", "decline_reason")

    class Meta:
        verbose_name = _("webinar request")
        verbose_name_plural = _("webinar requests")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["hospital", "created_at"], name="webinar_request_hospital")]
        constraints = [
            models.CheckConstraint(
                condition=Q(audience_size__gte=1), name="webinar_request_audience_positive"
            )
        ]

    def __str__(self) -> str:
        return self.topic

    @classmethod
    def personal_data_of(cls, user: User) -> models.QuerySet[WebinarRequest]:
        return cls.objects.filter(requested_by=user)

    def can_move_to(self, state: str) -> bool:
        return state in self.TRANSITIONS.get(self.state, frozenset())

    @property
    def can_create_draft(self) -> bool:
        return self.state == self.State.REQUESTED or (
            self.state == self.State.ACCEPTED and self.webinar_id is None
        )

    @property
    def progress(self) -> str:
        """Where the request stands for the requester: its state, or its webinar's once published."""
        webinar = self.webinar
        if self.state == self.State.ACCEPTED and webinar is not None and webinar.state != Webinar.State.DRAFT:
            return webinar.state
        return self.state

    def get_progress_display(self) -> str:
        progress = self.progress
        if progress in self.State.values:
            return str(self.State(progress).label)
        return str(Webinar.State(progress).label)


class PreferredDate(models.Model):
    """One of the one to three dates the requester would like (as a conference's ProposedSlot)."""

    request = models.ForeignKey(
        WebinarRequest, verbose_name=_("webinar request"), on_delete=models.CASCADE, related_name="dates"
    )
    start = models.DateTimeField(_("start"))

    PERSONAL_DATA_FIELDS = ()

    class Meta:
        verbose_name = _("preferred date")
        verbose_name_plural = _("preferred dates")
        ordering = ["start", "pk"]

    def __str__(self) -> str:
        return self.start.isoformat()


class ProposedSpeaker(models.Model):
    """A speaker the requester proposes: a clinician of the network, or someone
    outside it by name, affiliation and address."""

    request = models.ForeignKey(
        WebinarRequest, verbose_name=_("webinar request"), on_delete=models.CASCADE, related_name="speakers"
    )
    clinician = models.ForeignKey(
        Clinician,
        verbose_name=_("clinician"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="proposed_talks",
    )
    name = models.CharField(_("name"), max_length=200)
    affiliation = models.CharField(_("affiliation"), max_length=300, blank=True)
    email = models.EmailField(_("email"), blank=True)
    position = models.PositiveSmallIntegerField(_("order"), default=0)

    # As a webinar's Speaker: whoever it names, by profile, address or name.
    PERSONAL_DATA_FIELDS = ("name", "affiliation", "clinician", "email")
    PERSONAL_DATA_MENTIONS = ("name",)

    class Meta:
        verbose_name = _("proposed speaker")
        verbose_name_plural = _("proposed speakers")
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def personal_data_of(cls, user: object) -> models.QuerySet[ProposedSpeaker]:
        mine = Q(clinician__user=user)
        email = getattr(user, "email", "")
        if email:
            mine |= Q(email__iexact=email)
        return cls.objects.filter(mine).select_related("request", "clinician")

    @classmethod
    def erase_personal_data(cls, user: object, pseudonym: str) -> None:
        # The request stays with its hospital; who was proposed does not.
        cls.personal_data_of(user).update(name="[erased]", affiliation="", email="", clinician=None)

    @property
    def is_outside(self) -> bool:
        return self.clinician_id is None


class WebinarRequestEvent(Event):
    """One step of a webinar request (requested, draft created, declined,
    published), written by conferences/webinars/requests.py and shown on the
    ticket's panel. A note is at most an excerpt of a decline reason."""

    class Action(models.TextChoices):
        REQUESTED = "requested", _("requested")
        DRAFT_CREATED = "draft_created", _("draft webinar created")
        DECLINED = "declined", _("declined")
        PUBLISHED = "published", _("webinar published")

    NOTE_LENGTH: ClassVar[int] = 200

    request = models.ForeignKey(
        WebinarRequest, verbose_name=_("webinar request"), on_delete=models.CASCADE, related_name="events"
    )

    PERSONAL_DATA_FIELDS = ("actor", "note")
    PERSONAL_DATA_MENTIONS = ("note",)

    class Meta(Event.Meta):
        verbose_name = _("webinar request event")
        verbose_name_plural = _("webinar request events")

    @classmethod
    def personal_data_of(cls, user: User) -> models.QuerySet[WebinarRequestEvent]:
        """The history of the person's requests, and what they did."""
        return cls.objects.filter(Q(request__requested_by=user) | Q(actor=user))

    @classmethod
    def redact_for_export(cls, row: dict[str, Any], user: object) -> dict[str, Any]:
        # Who else acted (an agent) is not the requester's data (rows exported with str(user)).
        return {**row, "actor": row.get("actor") if row.get("actor") == str(user) else None}

    @property
    def action_label(self) -> str:
        try:
            return str(self.Action(self.action).label)
        except ValueError:
            return self.action
