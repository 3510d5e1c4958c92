"""Webinar requests from reference centres: the coordinator's request, the
helpdesk's one action that turns it into a draft webinar, or its decline, and
the requester told at each step (that the webinar is published: from
publish_webinar, through on_webinar_published).

Each step locks the request row, writes one WebinarRequestEvent (the history
on the ticket's panel) and queues its email in the same transaction, with a
dedup key naming the step, so that nobody is told twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from clinicians.models import ERN, Clinician, Hospital, Language
from cmss.outbox import queue_templated_email
from helpdesk import services as helpdesk
from helpdesk.models import Ticket

from ..models import PreferredDate, ProposedSpeaker, Speaker, Webinar, WebinarRequest, WebinarRequestEvent
from . import services as webinars
from .notices import page_url

if TYPE_CHECKING:
    from cmss.models import User

State = WebinarRequest.State
Action = WebinarRequestEvent.Action


class WebinarRequestError(helpdesk.HelpdeskError):
    """A step the request's state (or the hospital's) does not allow; the message is for the person acting."""


@dataclass(frozen=True)
class OutsideSpeaker:
    """A speaker outside the network: the helpdesk invites them by email."""

    name: str
    email: str
    affiliation: str = ""


@dataclass(frozen=True)
class RequestData:
    topic: str
    audience: str
    clinical_need: str
    erns: Sequence[ERN]
    language: Language
    dates: Sequence[datetime]
    duration_minutes: int
    audience_size: int
    recorded: bool
    time_zone: str
    speakers: Sequence[Clinician] = ()
    outside_speakers: Sequence[OutsideSpeaker] = ()


def request_link(webinar_request: WebinarRequest) -> str:
    return settings.SITE_URL + reverse("conferences:webinar_request_detail", args=[webinar_request.pk])


def _locked(webinar_request: WebinarRequest) -> WebinarRequest:
    return (
        WebinarRequest.objects.select_for_update(of=("self",))
        .select_related("ticket", "requested_by", "language", "hospital")
        .get(pk=webinar_request.pk)
    )


def _event(webinar_request: WebinarRequest, action: str, *, by: User | None, note: str = "") -> None:
    note = " ".join(note.split())
    if len(note) > WebinarRequestEvent.NOTE_LENGTH:
        note = note[: WebinarRequestEvent.NOTE_LENGTH - 1] + "…"
    WebinarRequestEvent.objects.create(request=webinar_request, action=action, actor=by, note=note)


def _tell(webinar_request: WebinarRequest, what: str, *, key: str = "", **context: Any) -> None:
    """Queue emails/webinar_request_<what> to the requester (in their language
    and zone), once per step."""
    user = webinar_request.requested_by
    if user is None:  # the account was erased
        return
    queue_templated_email(
        user=user,
        template=f"webinar_request_{what}",
        context={"webinar_request": webinar_request, "link": request_link(webinar_request), **context},
        dedup_key=f"webinar-request-{what}:{webinar_request.pk}{key}",
    )


def _check(coordinator: Clinician, data: RequestData) -> None:
    if not 1 <= len(data.dates) <= WebinarRequest.MAX_DATES:
        raise WebinarRequestError(_("Propose one to three dates."))
    if len(data.outside_speakers) > WebinarRequest.MAX_OUTSIDE_SPEAKERS:
        raise WebinarRequestError(_("Propose at most three speakers from outside the network."))
    if any(not item.name.strip() or not item.email.strip() for item in data.outside_speakers):
        raise WebinarRequestError(
            _("Give the name and the email address of each speaker from outside the network.")
        )
    wanted = {clinician.pk for clinician in data.speakers}
    if Clinician.objects.listed().filter(pk__in=wanted).count() != len(wanted):
        raise WebinarRequestError(
            _("Only verified clinicians listed in the directory can be proposed as speakers.")
        )


@transaction.atomic
def request_webinar(*, coordinator: Clinician, data: RequestData) -> WebinarRequest:
    """A coordinator's request: the request with its dates and speakers, and a
    ticket in the helpdesk queue. The hospital's row is locked and read again,
    so that a hospital that stopped being a reference centre a moment ago
    cannot ask any more."""
    coordinator = Clinician.objects.select_related("user").get(pk=coordinator.pk)
    hospital = Hospital.objects.select_for_update().get(pk=coordinator.hospital_id)
    coordinator.hospital = hospital
    if not coordinator.is_coordinator:
        raise WebinarRequestError(
            _(
                "%(hospital)s is no longer a reference centre: only coordinators of reference centres can "
                "request webinars. Nothing was sent; ask the helpdesk if this is a mistake."
            )
            % {"hospital": hospital.name}
        )
    _check(coordinator, data)
    webinar_request = WebinarRequest.objects.create(
        hospital=hospital,
        requested_by=coordinator.user,
        topic=data.topic,
        audience=data.audience,
        clinical_need=data.clinical_need,
        language=data.language,
        duration_minutes=data.duration_minutes,
        audience_size=data.audience_size,
        recorded=data.recorded,
        time_zone=data.time_zone,
    )
    webinar_request.erns.set(data.erns)
    PreferredDate.objects.bulk_create(
        PreferredDate(request=webinar_request, start=start) for start in sorted(set(data.dates))
    )
    named = Clinician.objects.filter(pk__in=[item.pk for item in data.speakers]).select_related("hospital")
    by_pk = {clinician.pk: clinician for clinician in named}
    rows = [
        ProposedSpeaker(
            request=webinar_request,
            clinician=by_pk[item.pk],
            name=by_pk[item.pk].full_name,
            affiliation=by_pk[item.pk].hospital.name,
        )
        for item in data.speakers
    ]
    rows += [
        ProposedSpeaker(
            request=webinar_request,
            name=item.name.strip(),
            affiliation=item.affiliation.strip(),
            email=item.email.strip(),
        )
        for item in data.outside_speakers
    ]
    for position, row in enumerate(rows, start=1):
        row.position = position
    ProposedSpeaker.objects.bulk_create(rows)
    ticket = helpdesk.open_ticket(
        kind=Ticket.Kind.WEBINAR,
        subject=_("Webinar request: %(topic)s") % {"topic": data.topic},
        requester=coordinator.user,
        hospital=hospital,
    )
    webinar_request.ticket = ticket
    webinar_request.save(update_fields=["ticket"])
    _event(webinar_request, Action.REQUESTED, by=coordinator.user)
    _tell(webinar_request, "received", dates=sorted(set(data.dates)))
    return webinar_request


def _description(webinar_request: WebinarRequest) -> str:
    return f"{webinar_request.audience.strip()}\n\n{webinar_request.clinical_need.strip()}"[:8000]


@transaction.atomic
def create_draft_webinar(*, request: WebinarRequest, start: datetime, by: User) -> Webinar:
    """The helpdesk's one action: a draft webinar prefilled from the request
    (title, description, ERNs, language, speakers, start, duration, seats from
    the expected audience, recording, zone) and linked to it. The agent edits
    and publishes it in the webinar admin as any other; the requester is told."""
    webinar_request = _locked(request)
    if not webinar_request.can_create_draft:
        raise WebinarRequestError(
            _("The request is %(state)s: a draft webinar can no longer be made from it.")
            % {"state": webinar_request.get_state_display()}
        )
    if start <= timezone.now():
        raise WebinarRequestError(_("Choose a time in the future."))
    webinar = webinars.create_webinar(
        webinar=Webinar(
            title=webinar_request.topic[:200],
            description=_description(webinar_request),
            language=webinar_request.language,
            start=start,
            duration_minutes=webinar_request.duration_minutes,
            time_zone=webinar_request.time_zone,
            capacity=min(max(webinar_request.audience_size, 1), Webinar.MAX_CAPACITY),
            recorded=webinar_request.recorded,
        ),
        by=by,
    )
    webinar.erns.set(webinar_request.erns.all())
    Speaker.objects.bulk_create(
        Speaker(
            webinar=webinar,
            name=speaker.clinician.full_name if speaker.clinician else speaker.name,
            affiliation=speaker.affiliation,
            clinician=speaker.clinician,
            # A clinician is invited at their own address (Speaker.invite_email).
            email="" if speaker.clinician else speaker.email,
            position=speaker.position,
        )
        for speaker in webinar_request.speakers.select_related("clinician")
    )
    webinar_request.webinar = webinar
    webinar_request.state = State.ACCEPTED
    webinar_request.accepted_at = timezone.now()
    webinar_request.save(update_fields=["webinar", "state", "accepted_at", "updated_at"])
    _event(webinar_request, Action.DRAFT_CREATED, by=by)
    ticket = webinar_request.ticket
    if ticket is not None and ticket.is_active:
        if ticket.assignee_id is None:
            helpdesk.assign(ticket=ticket, to=by, by=by)
        if ticket.state == Ticket.State.NEW:
            helpdesk.change_state(
                ticket=ticket,
                to=Ticket.State.OPEN,
                by=by,
                note=_("Draft webinar created; publish it when ready."),
            )
    _tell(webinar_request, "accepted", key=f":{webinar.pk}", webinar=webinar)
    return webinar


@transaction.atomic
def decline_request(*, request: WebinarRequest, reason: str, by: User) -> WebinarRequest:
    """Decline with a reason, which the requester is sent; the ticket is resolved."""
    webinar_request = _locked(request)
    if webinar_request.state != State.REQUESTED:
        raise WebinarRequestError(
            _("The request is %(state)s: it can no longer be declined.")
            % {"state": webinar_request.get_state_display()}
        )
    webinar_request.state = State.DECLINED
    webinar_request.decline_reason = reason.strip()
    webinar_request.declined_at = timezone.now()
    webinar_request.save(update_fields=["state", "decline_reason", "declined_at", "updated_at"])
    _event(webinar_request, Action.DECLINED, by=by, note=reason)
    ticket = webinar_request.ticket
    if ticket is not None and ticket.is_active:
        helpdesk.resolve(ticket=ticket, by=by, note=_("The webinar request is declined."))
    _tell(webinar_request, "declined")
    return webinar_request


def on_webinar_published(*, webinar: Webinar, by: User) -> None:
    """publish_webinar's hook, in its transaction: a webinar made from a request
    tells the requester, once, with the link to its page, and resolves the ticket."""
    webinar_request = (
        WebinarRequest.objects.select_for_update(of=("self",))
        .select_related("ticket", "requested_by")
        .filter(webinar=webinar)
        .first()
    )
    if webinar_request is None:
        return
    _event(webinar_request, Action.PUBLISHED, by=by)
    ticket = webinar_request.ticket
    if ticket is not None and ticket.is_active:
        helpdesk.resolve(ticket=ticket, by=by, note=_("The requested webinar is published."))
    _tell(webinar_request, "published", webinar=webinar, page_url=page_url(webinar))


# --- Retention ----------------------------------------------------------------------------


def purge_request_speakers(policy: Any, now: datetime) -> int:
    """Proposed speakers (outside ones are people with no account here) and the
    reason for declining go once a settled request is as old as the text of
    closed tickets; the webinar's own speakers stay on the programme."""
    cutoff = policy.cutoff("closed_ticket_text_days", now)
    settled = WebinarRequest.objects.exclude(state=State.REQUESTED).filter(updated_at__lt=cutoff)
    deleted, _counts = ProposedSpeaker.objects.filter(request__in=settled).delete()
    settled.exclude(decline_reason="").update(decline_reason="")
    return deleted
