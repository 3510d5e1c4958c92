"""Forms of the webinar programme and of the agents' webinar admin. They validate; services act."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from clinicians.choices import reference_choices
from clinicians.models import ERN, Clinician, Language
from cmss.fields import MultilineTextField
from cmss.timezones import time_zone_choices, validate_time_zone
from cmss.validators import no_control_characters
from cmss.widgets import (
    FastCheckboxSelectMultiple,
    FastSelect,
    NulSafeModelChoiceField,
    NulSafeModelMultipleChoiceField,
    fast_renderer,
)

from ..cases.forms import LOCAL_INPUT_FORMAT, InviteePicker, LocalDateTimeField, _future, is_id
from ..models import Registration, Webinar, WebinarRequest
from .requests import OutsideSpeaker


class ProgrammeFilterForm(forms.Form):
    """Filter the public programme by network and language (bad values are ignored)."""

    ern = forms.ModelChoiceField(
        label=_("European Reference Network"),
        queryset=ERN.objects.order_by("name"),
        required=False,
        empty_label=_("All networks"),
    )
    language = forms.ModelChoiceField(
        label=_("Language"),
        queryset=Language.objects.order_by("name"),
        required=False,
        empty_label=_("All languages"),
    )

    def filters(self) -> dict[str, Any]:
        self.is_valid()  # an unknown value is shown as an error and ignored
        data = getattr(self, "cleaned_data", {})
        return {"ern": data.get("ern"), "language": data.get("language")}


class WebinarAdminForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        label=_("organiser's time zone"),
        choices=time_zone_choices,
        initial="Europe/Brussels",
        validators=[validate_time_zone],
        help_text=_("The zone the provider webinar is scheduled in; everyone sees times in their own zone."),
    )

    recording_url = forms.URLField(
        label=_("recording link"),
        required=False,
        max_length=1000,
        assume_scheme="https",
        help_text=_("Once the webinar is held: confirmed registrants are sent it."),
    )

    class Meta:
        model = Webinar
        fields = [
            "title",
            "description",
            "erns",
            "language",
            "start",
            "duration_minutes",
            "time_zone",
            "capacity",
            "recorded",
            "recording_url",
        ]

    def clean_duration_minutes(self) -> int:
        value = self.cleaned_data["duration_minutes"]
        if not Webinar.MIN_DURATION <= value <= Webinar.MAX_DURATION:
            raise forms.ValidationError(
                _("A webinar lasts between %(low)d and %(high)d minutes.")
                % {"low": Webinar.MIN_DURATION, "high": Webinar.MAX_DURATION}
            )
        return value

    def clean_capacity(self) -> int:
        value = self.cleaned_data["capacity"]
        if value < 1 or value > Webinar.MAX_CAPACITY:
            raise forms.ValidationError(
                _("Give between 1 and %(high)d seats.") % {"high": Webinar.MAX_CAPACITY}
            )
        if self.instance.pk:
            confirmed = Registration.objects.filter(
                webinar=self.instance, status=Registration.Status.CONFIRMED
            ).count()
            if value < confirmed:
                raise forms.ValidationError(
                    _("%(count)d seats are already confirmed: the capacity cannot be lower.")
                    % {"count": confirmed}
                )
        return value

    def clean_start(self) -> Any:
        value = self.cleaned_data["start"]
        unchanged = self.instance.pk and value == self.instance.start
        if not unchanged and value <= timezone.now():
            raise forms.ValidationError(_("Choose a start time in the future."))
        if (
            self.instance.pk
            and not unchanged
            and self.instance.state
            in (
                Webinar.State.CANCELLED,
                Webinar.State.HELD,
            )
        ):
            raise forms.ValidationError(_("A cancelled or held webinar cannot be moved."))
        return value

    def clean_recording_url(self) -> str:
        value = self.cleaned_data.get("recording_url", "")
        if value and not value.lower().startswith("https://"):
            raise forms.ValidationError(_("Give an https:// link."))
        return value


class CancelWebinarForm(forms.Form):
    reason = MultilineTextField(label=_("Reason, told to everyone registered"), max_length=2000, rows=4)


class HeldForm(forms.Form):
    recording_url = forms.URLField(
        label=_("Recording link"),
        required=False,
        max_length=1000,
        assume_scheme="https",
        help_text=_("Optional now; it can be added later. Confirmed registrants are sent it."),
    )

    def clean_recording_url(self) -> str:
        value = self.cleaned_data.get("recording_url", "")
        if value and not value.lower().startswith("https://"):
            raise forms.ValidationError(_("Give an https:// link."))
        return value


# --- Webinar requests: the coordinator's form, the helpdesk's on the ticket page ----------------


class PreferredDatesInput(forms.Widget):
    """Three date-and-time boxes under one name, each with its label: the
    browser sends a list (and whoever posts more than three is told so)."""

    use_fieldset = True

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        getlist = getattr(data, "getlist", None)
        return getlist(name) if getlist is not None else data.get(name)

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in data

    def format_value(self, value: Any) -> list[str]:  # type: ignore[override]  # a list, not one string
        values = value if isinstance(value, list | tuple) else [value]
        shown = []
        for item in values:
            if isinstance(item, datetime):
                item = timezone.localtime(item).strftime(LOCAL_INPUT_FORMAT)
            shown.append("" if item is None else str(item))
        return shown

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        final = self.build_attrs(self.attrs, attrs)
        base_id = str(final.get("id", f"id_{name}"))
        values = [item for item in self.format_value(value) if item]
        values += [""] * (max(WebinarRequest.MAX_DATES, len(values)) - len(values))
        invalid = ' aria-invalid="true"' if final.get("aria-invalid") else ""
        parts = [f'<ol class="preferred-dates" id="{escape(base_id)}">']
        for number, item in enumerate(values, start=1):
            box = f"{base_id}_{number}"
            label = _("Choice %(number)d") % {"number": number}
            parts.append(
                f'<li><label for="{escape(box)}">{escape(str(label))}</label> '
                f'<input type="datetime-local" name="{escape(name)}" id="{escape(box)}" '
                f'value="{escape(item)}"{invalid}></li>'
            )
        parts.append("</ol>")
        # Every value and label above is escaped.
        return mark_safe("".join(parts))


class PreferredDatesField(forms.Field):
    """One to three dates and times, each typed in the viewer's zone (the
    active time zone), in the future and within twelve months."""

    widget = PreferredDatesInput
    default_error_messages = {"required": _("Propose at least one date.")}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.each = LocalDateTimeField(validators=[_future])

    def to_python(self, value: Any) -> list[datetime]:
        values = value if isinstance(value, list | tuple) else [value]
        typed = [(number, str(item).strip()) for number, item in enumerate(values, start=1) if item]
        typed = [(number, item) for number, item in typed if item]
        if len(typed) > WebinarRequest.MAX_DATES:
            raise forms.ValidationError(
                _("Propose at most %(count)d dates.") % {"count": WebinarRequest.MAX_DATES}, code="too_many"
            )
        dates: list[datetime] = []
        errors: list[str] = []
        for number, item in typed:
            try:
                dates.append(self.each.clean(item))
            except forms.ValidationError as error:
                errors += [
                    str(_("Choice %(number)d: %(error)s") % {"number": number, "error": message})
                    for message in error.messages
                ]
        if errors:
            raise forms.ValidationError(errors)
        if len(set(dates)) != len(dates):
            raise forms.ValidationError(_("The same date is proposed twice."), code="twice")
        return sorted(dates)


class SpeakersField(NulSafeModelMultipleChoiceField):
    default_error_messages = {
        "invalid_choice": _(
            "Choose speakers among the verified clinicians listed in the directory, with the search."
        ),
        "invalid_pk_value": _(
            "Choose speakers among the verified clinicians listed in the directory, with the search."
        ),
    }


class WebinarRequestForm(forms.Form):
    """A coordinator's webinar request (conferences/webinars/requests.py acts)."""

    default_renderer = fast_renderer

    topic = forms.CharField(
        label=_("Topic"),
        max_length=200,
        validators=[no_control_characters],
        help_text=_("What the webinar is about; it becomes its title."),
    )
    audience = MultilineTextField(
        label=_("Audience"),
        max_length=2000,
        rows=3,
        help_text=_("Who should attend: specialties, settings, experience."),
    )
    clinical_need = MultilineTextField(
        label=_("Why now: the clinical need"),
        max_length=4000,
        rows=5,
        help_text=_(
            "What clinicians struggle with today and what the webinar should change. No patient identifiers."
        ),
    )
    erns = NulSafeModelMultipleChoiceField(
        label=_("ERNs concerned"),
        queryset=ERN.objects.all(),
        widget=FastCheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one European Reference Network.")},
    )
    language = NulSafeModelChoiceField(
        label=_("Language of the webinar"), queryset=Language.objects.all(), widget=FastSelect
    )
    # The speaker picker: the directory's search, as the conference invitee picker;
    # the suggested speakers (SpeakerQueryForm, conferences/experts.py) are listed below it.
    speakers = SpeakersField(
        label=_("Speakers from the network"),
        queryset=Clinician.objects.listed(),
        required=False,
        widget=InviteePicker(find_name="find_speakers"),
        help_text=_("Search verified clinicians by name. Speakers from outside the network go below."),
    )
    dates = PreferredDatesField(label=_("Preferred dates"))
    duration_minutes = forms.IntegerField(
        label=_("Duration (minutes)"),
        min_value=Webinar.MIN_DURATION,
        max_value=Webinar.MAX_DURATION,
        initial=60,
        widget=forms.NumberInput(attrs={"step": 15, "inputmode": "numeric"}),
        help_text=_("From 15 to 480 minutes."),
    )
    audience_size = forms.IntegerField(
        label=_("Expected audience size"),
        min_value=1,
        max_value=WebinarRequest.MAX_AUDIENCE,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        help_text=_("How many clinicians you expect; the helpdesk sets the seats from it."),
    )
    recorded = forms.BooleanField(
        label=_("Record the webinar (registrants are told before they register)"), required=False
    )

    def __init__(self, *args: Any, requester: Clinician | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requester = requester
        # The widgets show the cached option lists of reference data; the
        # fields still validate against their querysets.
        choices = reference_choices()
        self.fields["erns"].widget.choices = choices.erns
        language = self.fields["language"]
        assert isinstance(language, forms.ModelChoiceField)
        language.widget.choices = choices.languages.with_empty(language.empty_label)
        self.fields["dates"].help_text = _(
            "One to three, your first choice first. Your time zone: %(zone)s"
        ) % {"zone": timezone.get_current_timezone_name()}
        self.fields["language"].initial = "en"
        if requester is not None:
            speakers = self.fields["speakers"]
            assert isinstance(speakers, forms.ModelMultipleChoiceField)
            speakers.queryset = Clinician.objects.listed().exclude(pk=requester.pk)
        for number in range(1, WebinarRequest.MAX_OUTSIDE_SPEAKERS + 1):
            self.fields[f"outside_{number}_name"] = forms.CharField(
                label=_("Name"), max_length=200, required=False, validators=[no_control_characters]
            )
            self.fields[f"outside_{number}_affiliation"] = forms.CharField(
                label=_("Affiliation"), max_length=300, required=False, validators=[no_control_characters]
            )
            self.fields[f"outside_{number}_email"] = forms.EmailField(
                label=_("Email address"), required=False
            )

    def outside_rows(self) -> list[tuple[int, list[forms.BoundField]]]:
        """The outside speakers' rows, for the template (one fieldset each)."""
        return [
            (number, [self[f"outside_{number}_{part}"] for part in ("name", "affiliation", "email")])
            for number in range(1, WebinarRequest.MAX_OUTSIDE_SPEAKERS + 1)
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if self.requester is not None and not self.requester.is_coordinator:
            # Checked on the hospital as it is now: the helpdesk may have changed it since the page opened.
            raise forms.ValidationError(
                _(
                    "%(hospital)s is no longer a reference centre: only coordinators of reference centres can "
                    "request webinars. Nothing was sent; ask the helpdesk if this is a mistake."
                )
                % {"hospital": self.requester.hospital.name},
                code="not_reference_centre",
            )
        outside: list[OutsideSpeaker] = []
        seen: set[str] = set()
        for number in range(1, WebinarRequest.MAX_OUTSIDE_SPEAKERS + 1):
            keys = [f"outside_{number}_{part}" for part in ("name", "affiliation", "email")]
            if any(key in self.errors for key in keys):
                continue
            name, affiliation, email = (data.get(key, "").strip() for key in keys)
            if not (name or affiliation or email):
                continue
            if not name:
                self.add_error(keys[0], _("Give the name of this speaker."))
            if not email:
                self.add_error(
                    keys[2], _("Give this speaker's email address: the helpdesk invites speakers by email.")
                )
            elif email.lower() in seen:
                self.add_error(keys[2], _("This speaker is already listed."))
            if name and email and email.lower() not in seen:
                seen.add(email.lower())
                outside.append(OutsideSpeaker(name=name, affiliation=affiliation, email=email))
        data["outside_speakers"] = outside
        return data


# How many chosen speakers a speaker suggestion reads (the form lists them all anyway).
_MAX_CHOSEN = 100


class SpeakerQueryForm(forms.Form):
    """What a webinar request holds so far, read to suggest speakers.

    It shares the request form's field names (erns, language, dates, speakers),
    so that the request form's data (sent back without JavaScript, or as the
    query string of the speaker suggestions' endpoint) is read as it is; a value
    that is not valid yet counts as empty, and so does a date that cannot be read."""

    erns = NulSafeModelMultipleChoiceField(queryset=ERN.objects.all(), required=False)
    language = NulSafeModelChoiceField(queryset=Language.objects.all(), required=False)

    def __init__(self, data: Any = None, **kwargs: Any) -> None:
        if data is not None and hasattr(data, "getlist"):
            # An id no table holds is left out before it reaches the database.
            data = data.copy()
            data.setlist("erns", [item for item in data.getlist("erns") if is_id(item)])
        super().__init__(data, **kwargs)

    def _dates(self) -> list[datetime]:
        typed = self.data.getlist("dates") if hasattr(self.data, "getlist") else []
        each = LocalDateTimeField(required=False)
        dates: list[datetime] = []
        for item in typed[: WebinarRequest.MAX_DATES]:
            try:
                value = each.clean(str(item).strip())
            except forms.ValidationError:
                continue
            if value is not None:
                dates.append(value)
        return dates

    def criteria(self) -> dict[str, Any]:
        """Keyword arguments of conferences.experts.suggest_speakers (but the requester)."""
        self.is_valid()
        data = self.cleaned_data
        chosen = self.data.getlist("speakers") if hasattr(self.data, "getlist") else []
        return {
            "erns": list(data.get("erns") or []),
            "language": data.get("language"),
            "dates": self._dates(),
            "exclude_clinicians": sorted({int(item) for item in chosen[:_MAX_CHOSEN] if is_id(item)}),
        }


class DraftWebinarForm(forms.Form):
    """The ticket panel's "Create the draft webinar": one of the preferred dates, or another time."""

    date = forms.ChoiceField(label=_("Preferred date"), required=False, widget=forms.RadioSelect)
    other = LocalDateTimeField(
        label=_("Or another time (your time zone)"), required=False, validators=[_future]
    )

    def __init__(self, *args: Any, webinar_request: WebinarRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dates = {str(item.pk): item.start for item in webinar_request.dates.all()}
        date = self.fields["date"]
        assert isinstance(date, forms.ChoiceField)
        zone = timezone.get_current_timezone_name()
        date.choices = [
            (pk, f"{date_format(timezone.localtime(start), 'DATETIME_FORMAT')} ({zone})")
            for pk, start in self.dates.items()
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("other"):
            data["start"] = data["other"]
        elif data.get("date"):
            start = self.dates[data["date"]]
            if start <= timezone.now():
                self.add_error("date", _("This date has passed: choose another time."))
            data["start"] = start
        elif not self.errors:
            raise forms.ValidationError(_("Choose one of the preferred dates or enter another time."))
        return data
