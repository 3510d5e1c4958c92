"""What the ticket page shows and offers for each kind of ticket.

A small registry, the way healthchecks registers transports: helpdesk
registers the panels of its own kinds (registration, hospital tickets), and
apps above it (conferences) register theirs when they start, so that the
helpdesk never imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from clinicians.choices import reference_choices
from clinicians.models import Clinician

if TYPE_CHECKING:
    from cmss.models import User

    from .models import Ticket


@dataclass(frozen=True)
class Action:
    """A button (with a form) on the ticket page; `run` calls a service and
    returns the message shown to the agent."""

    name: str
    # Lazy: panels are registered once at start-up and shown in each viewer's language.
    label: str | Promise
    form_class: type[forms.Form]
    run: Callable[[Ticket, dict[str, Any], User], str]
    # True: the panel's template offers this action itself (a button on each
    # row of a list, posting its own values); the page does not list its form.
    own_buttons: bool = False
    form_kwargs: Callable[[Ticket], dict[str, Any]] = lambda ticket: {}
    available: Callable[[Ticket], bool] = lambda ticket: ticket.is_active
    style: str = "default"
    # Where the agent goes once it ran (a page it made); None: back to the ticket.
    then: Callable[[Ticket], str | None] = lambda ticket: None


@dataclass(frozen=True)
class Panel:
    title: str | Promise
    template: str
    context: Callable[[Ticket], dict[str, Any]]
    actions: tuple[Action, ...] = field(default_factory=tuple)


_PANELS: dict[str, Panel] = {}


def register(kind: str, panel: Panel) -> None:
    _PANELS[kind] = panel


def panel_for(kind: str) -> Panel | None:
    return _PANELS.get(kind)


def requester_clinician(ticket: Ticket) -> Clinician | None:
    """The requester's clinician profile with its user, hospital and specialty:
    fetched once per ticket object (one request), though the page's panel and
    each of its actions' availability checks ask for it. Its languages and ERNs
    are read from the bits on its row (clinician_context)."""
    if "_requester_clinician" not in ticket.__dict__:
        clinician = _loaded_clinician(ticket)
        if clinician is None and ticket.requester_id:
            clinician = Clinician.objects.with_related().filter(user_id=ticket.requester_id).first()
        ticket.__dict__["_requester_clinician"] = clinician
    found: Clinician | None = ticket.__dict__["_requester_clinician"]
    return found


def _loaded_clinician(ticket: Ticket) -> Clinician | None:
    """The requester's profile with its user, hospital and specialty if the ticket's
    query brought them (the ticket page's does: TicketAdmin._ticket), else None."""
    from .models import Ticket

    if not Ticket.requester.is_cached(ticket) or ticket.requester is None:
        return None
    requester = ticket.requester
    if not type(requester).clinician.related.is_cached(requester):
        return None
    clinician = getattr(requester, "clinician", None)
    if clinician is None or not all(
        getattr(Clinician, name).is_cached(clinician) for name in ("user", "hospital", "specialty")
    ):
        return None
    return clinician


def clinician_context(ticket: Ticket) -> dict[str, Any]:
    clinician = requester_clinician(ticket)
    languages: list[str] = []
    erns: list[str] = []
    if clinician is not None:
        # The names from the cached reference lists, by the bits on the clinician's
        # row (kept with the memberships by clinicians.services): not two queries.
        reference = reference_choices()
        language_names, ern_names = dict(reference.languages), dict(reference.erns)
        languages = [language_names[code] for code in reference.languages_of(clinician.language_bits)]
        erns = [ern_names[pk] for pk in reference.erns_of(clinician.ern_bits)]
    return {
        "clinician": clinician,
        "clinician_languages": languages,
        "clinician_erns": erns,
        "hospital": ticket.hospital,
    }


def register_builtin_panels() -> None:
    from . import forms as helpdesk_forms
    from . import services

    def verify(ticket: Ticket, data: dict[str, Any], by: User) -> str:
        clinician = services.verify_registration(ticket=ticket, by=by, contact_note=data["contact_note"])
        return str(_("%(name)s is verified and has been emailed.") % {"name": clinician.full_name})

    def reject(ticket: Ticket, data: dict[str, Any], by: User) -> str:
        clinician = services.reject_registration(ticket=ticket, by=by, reason=data["reason"])
        return str(_("%(name)s is rejected and has been emailed.") % {"name": clinician.full_name})

    def approve(ticket: Ticket, data: dict[str, Any], by: User) -> str:
        hospital = services.approve_hospital(ticket=ticket, by=by)
        return str(_("%(hospital)s is now in the list.") % {"hospital": hospital})

    def merge(ticket: Ticket, data: dict[str, Any], by: User) -> str:
        hospital = services.merge_hospital(ticket=ticket, into=data["into"], by=by)
        return str(_("The proposal is merged into %(hospital)s.") % {"hospital": hospital})

    def confirm(ticket: Ticket, data: dict[str, Any], by: User) -> str:
        clinician = services.confirm_hospital_change(ticket=ticket, by=by)
        return str(
            _("%(hospital)s is confirmed for %(name)s.")
            % {"hospital": clinician.hospital, "name": clinician.full_name}
        )

    def registered(ticket: Ticket) -> bool:
        clinician = requester_clinician(ticket)
        return ticket.is_active and clinician is not None and clinician.status == Clinician.Status.REGISTERED

    def proposed(ticket: Ticket) -> bool:
        return ticket.is_active and ticket.hospital is not None and not ticket.hospital.approved

    register(
        "registration",
        Panel(
            title=_("Registration"),
            template="admin/helpdesk/ticket/_panel_clinician.html",
            context=clinician_context,
            actions=(
                Action("verify", _("Verify"), helpdesk_forms.VerifyForm, verify, available=registered),
                Action(
                    "reject",
                    _("Reject"),
                    helpdesk_forms.RejectForm,
                    reject,
                    available=registered,
                    style="danger",
                ),
            ),
        ),
    )
    register(
        "hospital_proposal",
        Panel(
            title=_("Proposed hospital"),
            template="admin/helpdesk/ticket/_panel_clinician.html",
            context=clinician_context,
            actions=(
                Action(
                    "approve",
                    _("Approve the hospital"),
                    helpdesk_forms.EmptyForm,
                    approve,
                    available=proposed,
                ),
                Action(
                    "merge",
                    _("Merge into a listed hospital"),
                    helpdesk_forms.MergeHospitalForm,
                    merge,
                    form_kwargs=lambda ticket: {"hospital": ticket.hospital},
                    available=proposed,
                ),
            ),
        ),
    )

    def restriction(restricted: bool) -> Callable[[Ticket, dict[str, Any], User], str]:
        def run(ticket: Ticket, data: dict[str, Any], by: User) -> str:
            clinician = services.set_restriction(ticket=ticket, restricted=restricted, by=by)
            if restricted:
                return str(_("Processing of %(name)s's data is restricted.") % {"name": clinician.full_name})
            return str(_("The restriction on %(name)s's data is lifted.") % {"name": clinician.full_name})

        return run

    def restricted_is(value: bool) -> Callable[[Ticket], bool]:
        def check(ticket: Ticket) -> bool:
            clinician = requester_clinician(ticket)
            return ticket.is_active and clinician is not None and clinician.restricted is value

        return check

    register(
        "data_protection",
        Panel(
            title=_("Data-protection request"),
            template="admin/helpdesk/ticket/_panel_clinician.html",
            context=clinician_context,
            actions=(
                Action(
                    "restrict",
                    _("Restrict processing (hide from the directory and invitations)"),
                    helpdesk_forms.EmptyForm,
                    restriction(True),
                    available=restricted_is(False),
                ),
                Action(
                    "lift_restriction",
                    _("Lift the restriction"),
                    helpdesk_forms.EmptyForm,
                    restriction(False),
                    available=restricted_is(True),
                ),
            ),
        ),
    )
    register(
        "hospital_change",
        Panel(
            title=_("Hospital change"),
            template="admin/helpdesk/ticket/_panel_clinician.html",
            context=clinician_context,
            actions=(
                Action(
                    "confirm_hospital",
                    _("Confirm the new hospital"),
                    helpdesk_forms.EmptyForm,
                    confirm,
                    available=lambda ticket: (
                        ticket.is_active and ticket.hospital is not None and ticket.hospital.approved
                    ),
                ),
            ),
        ),
    )
