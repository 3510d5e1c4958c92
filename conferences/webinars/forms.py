"""Forms of the webinar programme and of the agents' webinar admin. They validate; services act."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinicians.models import ERN, Language
from cmss.fields import MultilineTextField
from cmss.timezones import time_zone_choices, validate_time_zone

from ..models import Registration, Webinar


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
