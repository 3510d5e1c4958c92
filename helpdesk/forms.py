"""Forms of the requester's side of the helpdesk and of the agent's ticket page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy as _

from clinicians.models import Hospital
from cmss.fields import MultilineTextField
from cmss.validators import no_control_characters

from .models import Ticket

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

REQUESTER_KINDS = [
    (Ticket.Kind.QUESTION, _("A question for the helpdesk")),
    (Ticket.Kind.DATA_PROTECTION, _("A data-protection request (access, correction, erasure, restriction)")),
]


def message_field(label: StrOrPromise) -> forms.CharField:
    return MultilineTextField(label=label, max_length=5000, rows=8)


class MessageForm(forms.Form):
    body = message_field(_("Your message"))


class QuestionForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("What is it about?"), choices=REQUESTER_KINDS, initial=Ticket.Kind.QUESTION
    )
    subject = forms.CharField(label=_("Subject"), max_length=200, validators=[no_control_characters])
    body = message_field(_("Your message"))


class ContactForm(QuestionForm):
    name = forms.CharField(
        label=_("Your name"),
        max_length=200,
        validators=[no_control_characters],
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        max_length=254,
        label=_("Your email address"),
        help_text=_("We answer by email, with a link to follow your request."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    field_order = ["name", "email", "kind", "subject", "body"]


# --- The agent's ticket page -------------------------------------------------------------


class ReplyForm(forms.Form):
    THEN_CHOICES = [
        (Ticket.State.WAITING, _("then wait for the requester")),
        (Ticket.State.OPEN, _("then keep it open")),
        (Ticket.State.RESOLVED, _("then resolve it")),
    ]
    body = message_field(_("Reply to the requester"))
    then = forms.ChoiceField(label=_("After sending"), choices=THEN_CHOICES, initial=Ticket.State.WAITING)


class NoteForm(forms.Form):
    body = message_field(_("Internal note (never shown to the requester)"))


class StateForm(forms.Form):
    state = forms.ChoiceField(label=_("Move to"), choices=Ticket.State.choices)
    note = forms.CharField(
        label=_("Why (optional)"), max_length=500, required=False, validators=[no_control_characters]
    )


class PriorityForm(forms.Form):
    priority = forms.ChoiceField(label=_("Priority"), choices=Ticket.Priority.choices)


class VerifyForm(forms.Form):
    contact_note = MultilineTextField(
        label=_("How you contacted the clinician"),
        max_length=1000,
        rows=3,
        help_text=_("For example: called +32 2 … on 3 March, confirmed ICU consultant at the hospital."),
    )


class RejectForm(forms.Form):
    reason = MultilineTextField(label=_("Reason (sent to the clinician)"), max_length=1000, rows=3)


class MergeHospitalForm(forms.Form):
    into = forms.ModelChoiceField(
        label=_("Merge into"),
        queryset=Hospital.objects.approved(),
        help_text=_("A hospital in the list that the proposal duplicates."),
    )

    def __init__(self, *args: Any, hospital: Hospital | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if hospital is not None:
            into = self.fields["into"]
            assert isinstance(into, forms.ModelChoiceField)
            into.queryset = Hospital.objects.approved().in_country(hospital.country.code)


class EmptyForm(forms.Form):
    """Actions that need only a confirming click."""
