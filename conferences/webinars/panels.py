"""The webinar request's panel on the helpdesk ticket page (helpdesk.panels registry)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Prefetch
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from helpdesk import panels
from helpdesk.models import Ticket

from ..cases.forms import ReasonForm
from ..models import WebinarRequest, WebinarRequestEvent
from . import requests as webinar_requests
from .forms import DraftWebinarForm

if TYPE_CHECKING:
    from cmss.models import User

State = WebinarRequest.State


def _request(ticket: Ticket) -> WebinarRequest | None:
    return (
        WebinarRequest.objects.with_related()
        .prefetch_related(
            Prefetch("events", queryset=WebinarRequestEvent.objects.select_related("actor__clinician"))
        )
        .filter(ticket=ticket)
        .first()
    )


def context(ticket: Ticket) -> dict[str, Any]:
    return {**panels.clinician_context(ticket), "webinar_request": _request(ticket)}


def _state_of(ticket: Ticket) -> WebinarRequest | None:
    """The ticket's request, its state and webinar only: read once per ticket
    object (one request) for both actions' availability."""
    if "_webinar_request_state" not in ticket.__dict__:
        ticket.__dict__["_webinar_request_state"] = (
            WebinarRequest.objects.filter(ticket=ticket).only("state", "webinar_id").first()
        )
    found: WebinarRequest | None = ticket.__dict__["_webinar_request_state"]
    return found


def _draftable(ticket: Ticket) -> bool:
    # The request's actions follow the request, not the ticket.
    webinar_request = _state_of(ticket)
    return webinar_request is not None and webinar_request.can_create_draft


def _declinable(ticket: Ticket) -> bool:
    webinar_request = _state_of(ticket)
    return webinar_request is not None and webinar_request.state == State.REQUESTED


def _draft_page(ticket: Ticket) -> str | None:
    webinar_id = WebinarRequest.objects.filter(ticket=ticket).values_list("webinar_id", flat=True).first()
    return reverse("admin:conferences_webinar_change", args=[webinar_id]) if webinar_id else None


def register_webinar_request_panel() -> None:
    def create_draft(ticket: Ticket, data: dict[str, Any], by: User) -> str:
        webinar_requests.create_draft_webinar(
            request=WebinarRequest.objects.get(ticket=ticket), start=data["start"], by=by
        )
        return _(
            "The draft webinar is made from the request: check it, then publish it. The requester is told."
        )

    def decline(ticket: Ticket, data: dict[str, Any], by: User) -> str:
        webinar_requests.decline_request(
            request=WebinarRequest.objects.get(ticket=ticket), reason=data["reason"], by=by
        )
        return _("The request is declined and the requester told.")

    panels.register(
        Ticket.Kind.WEBINAR,
        panels.Panel(
            title=gettext_lazy("Webinar request"),
            template="admin/conferences/_panel_webinar_request.html",
            context=context,
            actions=(
                panels.Action(
                    "create_draft",
                    gettext_lazy("Create the draft webinar"),
                    DraftWebinarForm,
                    create_draft,
                    form_kwargs=lambda ticket: {"webinar_request": WebinarRequest.objects.get(ticket=ticket)},
                    available=_draftable,
                    then=_draft_page,
                ),
                panels.Action(
                    "decline_request",
                    gettext_lazy("Decline the request"),
                    ReasonForm,
                    decline,
                    available=_declinable,
                    style="danger",
                ),
            ),
        ),
    )
