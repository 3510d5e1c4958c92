"""Forms of case-discussion conferences. They validate; case_conferences acts."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from html import escape
from typing import Any

from django import forms
from django.forms.utils import flatatt
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from clinicians.choices import reference_choices
from clinicians.countries import NetworkCountries
from clinicians.models import ERN, Clinician, Language, Specialty
from cmss.fields import MultilineTextField
from cmss.validators import no_control_characters
from cmss.widgets import (
    FastCheckboxSelectMultiple,
    FastRadioSelect,
    FastSelect,
    FastSelectMultiple,
    NulSafeModelChoiceField,
    NulSafeModelMultipleChoiceField,
    fast_renderer,
)

from ..models import Conference, Invitation, OutcomeReport

LOCAL_INPUT_FORMAT = "%Y-%m-%dT%H:%M"
# How far ahead a conference may be asked for.
HORIZON = timedelta(days=366)


def invitee_label(clinician: Clinician) -> str:
    return (
        f"{clinician.full_name} — {clinician.specialty}, {clinician.hospital.name} ({clinician.country.name})"
    )


class InviteePicker(forms.SelectMultiple):
    """The invitees chosen so far as ticked checkboxes, and a search box.

    With JavaScript (static/js/conferences.js) the box searches as you type
    through /conferences/invitees/; without it, its "Find" button sends the
    form back and the page lists the matches (`candidates`) to tick. The
    button is named `find_name`, so that a form with two pickers (or the
    webinar request's speaker picker) knows which one searched."""

    def __init__(self, attrs: dict[str, Any] | None = None, *, find_name: str = "find_invitees") -> None:
        super().__init__(attrs)
        self.find_name = find_name
        self.candidates: list[Clinician] = []
        self.query = ""

    def id_for_label(self, id_: str, index: str = "0") -> str:
        return f"{id_}_search" if id_ else id_

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        final = self.build_attrs(self.attrs, attrs)
        base_id = final.get("id", f"id_{name}")
        chosen_ids = [str(item) for item in self.format_value(value) if is_id(str(item))]
        chosen = (
            list(Clinician.objects.listed().filter(pk__in=chosen_ids).select_related("hospital", "specialty"))
            if chosen_ids
            else []  # none chosen yet: not even a query to compile
        )
        shown = {str(item.pk) for item in chosen}

        def box(clinician: Clinician, checked: bool) -> str:
            mark = " checked" if checked else ""
            return (
                f'<li><label><input type="checkbox" name="{escape(name)}" value="{clinician.pk}"{mark}> '
                f"{escape(invitee_label(clinician))}</label></li>"
            )

        described = final.get("aria-describedby", "")
        parts = [
            f'<div class="invitee-picker" data-invitee-picker data-search-url="{escape(reverse("conferences:invitee_search"))}">',
            f'<ul class="chosen" id="{escape(base_id)}_chosen" aria-live="polite">',
            *(box(item, True) for item in chosen),
            "</ul>",
            '<div class="search-row">',
            f'<input type="search" id="{escape(base_id)}_search" name="{escape(name)}_search" '
            f'value="{escape(self.query)}" autocomplete="off" '
            f'aria-controls="{escape(base_id)}_results"'
            + (f' aria-describedby="{escape(described)}"' if described else "")
            + ">",
            f'<button type="submit" name="{escape(self.find_name)}" value="1" class="button button-secondary">{escape(str(_("Find")))}</button>',
            "</div>",
            f'<ul class="results" id="{escape(base_id)}_results" aria-live="polite"'
            f"{flatatt({'data-empty': str(_('No verified clinician matches.'))})}>",
            *(box(item, False) for item in self.candidates if str(item.pk) not in shown),
            "</ul>",
            "</div>",
        ]
        # Every value and label above is escaped.
        return mark_safe("".join(parts))


class LocalDateTimeField(forms.DateTimeField):
    """A date and time typed in the viewer's zone (the active time zone)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_INPUT_FORMAT)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("input_formats", [LOCAL_INPUT_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"])
        super().__init__(**kwargs)


def _future(value: datetime | None) -> None:
    if value is None:
        return
    now = timezone.now()
    if value <= now:
        raise forms.ValidationError(_("Choose a time in the future."))
    if value > now + HORIZON:
        raise forms.ValidationError(_("Choose a time within the next twelve months."))


class ConferenceRequestForm(forms.Form):
    default_renderer = fast_renderer

    title = forms.CharField(
        label=_("Title"),
        max_length=120,
        validators=[no_control_characters],
        help_text=_("A short description of the case, without anything that identifies the patient."),
    )
    question = MultilineTextField(
        label=_("Clinical question"),
        max_length=4000,
        rows=4,
    )
    case_summary = MultilineTextField(
        label=_("Anonymised case summary"),
        max_length=8000,
        rows=8,
        help_text=_(
            "Do not enter the patient's name, date of birth, address, record number, or any image "
            "that could identify them. Give ages in years and dates relative to admission (day 3)."
        ),
    )
    anonymised = forms.BooleanField(
        label=_("I confirm that the summary contains no information that identifies the patient."),
        error_messages={
            "required": _("Confirm that the summary is anonymised, or remove what identifies the patient.")
        },
    )
    urgency = forms.ChoiceField(
        label=_("Urgency"),
        choices=Conference.Urgency.choices,
        initial=Conference.Urgency.ROUTINE,
        widget=FastRadioSelect,
    )
    slot_1 = LocalDateTimeField(label=_("Proposed time 1"), validators=[_future])
    slot_2 = LocalDateTimeField(label=_("Proposed time 2"), required=False, validators=[_future])
    slot_3 = LocalDateTimeField(label=_("Proposed time 3"), required=False, validators=[_future])
    duration_minutes = forms.IntegerField(
        label=_("Duration (minutes)"),
        min_value=Conference.MIN_DURATION,
        max_value=Conference.MAX_DURATION,
        initial=60,
        widget=forms.NumberInput(attrs={"step": 15, "inputmode": "numeric"}),
        help_text=_("From 30 to 180 minutes."),
    )
    invitees = NulSafeModelMultipleChoiceField(
        label=_("Invite clinicians"),
        queryset=Clinician.objects.listed(),
        required=False,
        widget=InviteePicker,
        help_text=_("Search verified clinicians by name; the helpdesk can add more experts."),
    )
    erns = NulSafeModelMultipleChoiceField(
        label=_("Wanted expertise: ERNs"),
        queryset=ERN.objects.all(),
        required=False,
        widget=FastCheckboxSelectMultiple,
    )
    specialties = NulSafeModelMultipleChoiceField(
        label=_("Wanted expertise: specialties"),
        queryset=Specialty.objects.all(),
        required=False,
        widget=FastSelectMultiple(attrs={"size": 6}),
    )
    countries = forms.MultipleChoiceField(
        label=_("Wanted expertise: countries"),
        choices=lambda: list(NetworkCountries()),
        required=False,
        widget=FastSelectMultiple(attrs={"size": 6}),
    )
    language = NulSafeModelChoiceField(
        label=_("Language of the conference"),
        queryset=Language.objects.all(),
        required=False,
        widget=FastSelect,
        empty_label=_("English, or any shared language"),
    )

    def __init__(self, *args: Any, requester: Clinician | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requester = requester
        # The widgets show the cached option lists of reference data; the
        # fields still validate against their querysets.
        choices = reference_choices()
        self.fields["erns"].widget.choices = choices.erns
        self.fields["specialties"].widget.choices = choices.specialties
        self.fields["countries"].widget.choices = choices.countries
        language = self.fields["language"]
        assert isinstance(language, forms.ModelChoiceField)
        language.widget.choices = choices.languages.with_empty(language.empty_label)
        zone = timezone.get_current_timezone_name()
        for name in ("slot_1", "slot_2", "slot_3"):
            self.fields[name].help_text = _("Your time zone: %(zone)s") % {"zone": zone}
        if requester is not None:
            invitees = self.fields["invitees"]
            assert isinstance(invitees, forms.ModelMultipleChoiceField)
            invitees.queryset = Clinician.objects.listed().exclude(pk=requester.pk)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        slots = [data.get(name) for name in ("slot_1", "slot_2", "slot_3") if data.get(name)]
        if len(set(slots)) != len(slots):
            self.add_error(
                "slot_2" if data.get("slot_2") in slots[:1] else "slot_3", _("This time is proposed twice.")
            )
        data["slots"] = sorted(set(slots))
        return data


# The largest id a bigint primary key holds: a bigger "id" is no clinician.
_MAX_ID = 2**63 - 1
# How many chosen invitees an expert search reads (the form lists them all anyway).
_MAX_CHOSEN = 100


def is_id(value: str) -> bool:
    """A value that can be a row's id: digits, within a bigint."""
    return value.isdigit() and value.isascii() and int(value) <= _MAX_ID


class ExpertQueryForm(forms.Form):
    """What a conference request holds so far, read to suggest experts.

    It shares the request form's field names, so that the request form's data
    (sent back without JavaScript, or as the query string of
    /conferences/experts/) is read as it is; a field that does not hold a valid
    value yet counts as empty."""

    erns = NulSafeModelMultipleChoiceField(queryset=ERN.objects.all(), required=False)
    specialties = NulSafeModelMultipleChoiceField(queryset=Specialty.objects.all(), required=False)
    language = NulSafeModelChoiceField(queryset=Language.objects.all(), required=False)
    slot_1 = LocalDateTimeField(required=False)
    slot_2 = LocalDateTimeField(required=False)
    slot_3 = LocalDateTimeField(required=False)

    def __init__(self, data: Any = None, **kwargs: Any) -> None:
        if data is not None and hasattr(data, "getlist"):
            # An id no table holds is left out before it reaches the database
            # (SQLite refuses integers past 64 bits instead of finding nothing).
            data = data.copy()
            for name in ("erns", "specialties"):
                data.setlist(name, [item for item in data.getlist(name) if is_id(item)])
        super().__init__(data, **kwargs)

    def criteria(self) -> dict[str, Any]:
        """Keyword arguments of conferences.experts.suggest_experts (but the requester)."""
        self.is_valid()
        data = self.cleaned_data
        chosen = self.data.getlist("invitees") if hasattr(self.data, "getlist") else []
        return {
            "erns": list(data.get("erns") or []),
            "specialties": list(data.get("specialties") or []),
            "language": data.get("language"),
            "slots": [data[name] for name in ("slot_1", "slot_2", "slot_3") if data.get(name)],
            "exclude_clinicians": sorted({int(item) for item in chosen[:_MAX_CHOSEN] if is_id(item)}),
        }


class InviteSuggestedForm(forms.Form):
    """The agent's one-click "Invite" next to a suggested expert on the ticket panel."""

    clinician = NulSafeModelChoiceField(
        queryset=Clinician.objects.listed(),
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": _("This clinician can no longer be invited: suggest again.")},
    )


class ResponseForm(forms.Form):
    response = forms.ChoiceField(choices=[("accept", _("Accept")), ("decline", _("Decline"))])


class CancelForm(forms.Form):
    reason = MultilineTextField(
        label=_("Reason (sent to the helpdesk and the invitees)"),
        max_length=2000,
        required=False,
        rows=3,
    )


# --- The helpdesk's forms on the ticket page ------------------------------------------------


class ApproveForm(forms.Form):
    slot = forms.ChoiceField(label=_("Proposed time"), required=False, widget=forms.RadioSelect)
    other = LocalDateTimeField(
        label=_("Or another time (your time zone)"), required=False, validators=[_future]
    )

    def __init__(self, *args: Any, conference: Conference, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conference = conference
        self.slots = {str(slot.pk): slot.start for slot in conference.slots.all()}
        slot = self.fields["slot"]
        assert isinstance(slot, forms.ChoiceField)
        slot.choices = [
            (pk, timezone.localtime(start).strftime("%a %d %b %Y %H:%M %Z"))
            for pk, start in self.slots.items()
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("other"):
            data["start"] = data["other"]
        elif data.get("slot"):
            start = self.slots[data["slot"]]
            if start <= timezone.now():
                self.add_error("slot", _("This time has passed: choose another."))
            data["start"] = start
        elif not self.errors:
            raise forms.ValidationError(_("Choose one of the proposed times or enter another."))
        return data


class MoveForm(forms.Form):
    start = LocalDateTimeField(label=_("New time (your time zone)"), validators=[_future])


class ReasonForm(forms.Form):
    reason = MultilineTextField(
        label=_("Reason (sent to the requester)"),
        max_length=2000,
        rows=3,
    )


class OptionalReasonForm(ReasonForm):
    reason = MultilineTextField(
        label=_("Reason (sent to the requester and the invitees)"),
        max_length=2000,
        required=False,
        rows=3,
    )


# The fixed statement of every outcome report (shown, never stored); the pages
# say it with the same words (templates/conferences/_advice_only.html).
ADVICE_ONLY = _(
    "The panel's advice supports, but does not replace, the decision of the clinician treating the patient."
)


class ParticipantsField(NulSafeModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.full_name} — {obj.hospital.name}"


class OutcomeReportForm(forms.Form):
    """Marking a conference held: its outcome report (the panel's "Mark held")."""

    question = MultilineTextField(
        label=_("Question as asked"),
        max_length=OutcomeReport.QUESTION_LENGTH,
        rows=3,
        required=False,
        help_text=_("The requester's question; correct it if the panel answered it as reworded."),
    )
    advice = MultilineTextField(
        label=_("Advice and recommendations"),
        max_length=OutcomeReport.ADVICE_LENGTH,
        rows=6,
        help_text=ADVICE_ONLY,
        error_messages={"required": _("Write the panel's advice or recommendations.")},
    )
    agreement = forms.ChoiceField(
        label=_("Did the panel agree?"),
        choices=OutcomeReport.Agreement.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Say whether the panel agreed.")},
    )
    dissent = MultilineTextField(
        label=_("Dissent"),
        max_length=OutcomeReport.NOTE_LENGTH,
        rows=3,
        required=False,
        help_text=_("Required without consensus: who disagreed, and with what."),
    )
    further_tests = MultilineTextField(
        label=_("Suggested further tests"),
        max_length=OutcomeReport.NOTE_LENGTH,
        rows=3,
        required=False,
    )
    transfer_advised = forms.BooleanField(label=_("Transfer of the patient advised"), required=False)
    transfer_to = forms.CharField(
        label=_("Transfer to (hospital or unit)"),
        max_length=200,
        required=False,
        validators=[no_control_characters],
    )
    rediscuss_on = forms.DateField(
        label=_("Discuss the case again on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
    )
    participants = ParticipantsField(
        label=_("Who took part"),
        queryset=Clinician.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The invitees who took part (those who accepted are ticked). They are sent the report."),
        error_messages={
            "invalid_choice": _("Only the conference's invitees can be ticked as having taken part."),
        },
    )
    requester_took_part = forms.BooleanField(label=_("The requester took part"), required=False, initial=True)

    def __init__(self, *args: Any, conference: Conference, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conference = conference
        invitations = list(conference.invitations.select_related("clinician__hospital"))
        participants = self.fields["participants"]
        assert isinstance(participants, forms.ModelMultipleChoiceField)
        participants.queryset = (
            Clinician.objects.filter(conference_invitations__conference=conference)
            .select_related("hospital")
            .order_by("last_name", "first_name", "pk")
        )
        self.fields["question"].initial = conference.question
        participants.initial = [
            item.clinician_id for item in invitations if item.response == Invitation.Response.ACCEPTED
        ]
        # "(optional)" would mislead: it is required without consensus.
        self.fields["dissent"].conditionally_required = True  # type: ignore[attr-defined]

    def clean_rediscuss_on(self) -> date | None:
        value = self.cleaned_data.get("rediscuss_on")
        if value is not None and value < timezone.localdate():
            raise forms.ValidationError(_("Choose a re-discussion date from today on."))
        return value

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        agreement = data.get("agreement")
        if (
            agreement
            and agreement != OutcomeReport.Agreement.CONSENSUS
            and not data.get("dissent", "").strip()
        ):
            self.add_error("dissent", _("Without consensus, note the dissent: who disagreed, and with what."))
        if data.get("transfer_advised") and not data.get("transfer_to", "").strip():
            self.add_error("transfer_to", _("Say where the patient should be transferred."))
        return data


class UsefulnessForm(forms.Form):
    """The requester's answer on the conference page: was the advice useful?"""

    usefulness = forms.ChoiceField(
        label=_("Was this advice useful?"),
        choices=[
            (OutcomeReport.Usefulness.YES, _("Yes")),
            (OutcomeReport.Usefulness.PARTLY, _("Partly")),
            (OutcomeReport.Usefulness.NO, _("No")),
        ],
        widget=forms.RadioSelect,
        error_messages={"required": _("Say whether the advice was useful: yes, partly or no.")},
    )
    comment = MultilineTextField(
        label=_("Comment for the helpdesk"),
        max_length=OutcomeReport.NOTE_LENGTH,
        rows=3,
        required=False,
        help_text=_("What helped, what was missing. Do not name the patient."),
    )


class AddInviteeForm(forms.Form):
    email = forms.EmailField(
        label=_("Email address of a verified clinician"),
        help_text=_("Find them in the clinician admin or the directory."),
    )

    def clean_email(self) -> Clinician:
        email = self.cleaned_data["email"]
        clinician = (
            Clinician.objects.listed().select_related("user").filter(user__email__iexact=email).first()
        )
        if clinician is None:
            raise forms.ValidationError(_("No verified clinician listed in the directory has this address."))
        return clinician


class RemoveInviteeForm(forms.Form):
    invitation = forms.ChoiceField(label=_("Invitee"))

    def __init__(self, *args: Any, conference: Conference, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        invitation = self.fields["invitation"]
        assert isinstance(invitation, forms.ChoiceField)
        invitation.choices = [
            (str(item.pk), item.clinician.full_name)
            for item in conference.invitations.select_related("clinician")
        ]
