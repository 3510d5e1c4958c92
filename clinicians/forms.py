"""Forms of the clinicians network. They validate; services act."""

from __future__ import annotations

import functools
import uuid
from typing import TYPE_CHECKING, Any, cast

import phonenumbers
from allauth.account.forms import SignupForm
from django import forms
from django.conf import settings
from django.db import transaction
from django.db.models import Model
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from cmss.timezones import time_zone_choices
from cmss.validators import no_control_characters
from cmss.widgets import (
    FastCheckboxSelectMultiple,
    FastSelect,
    NulSafeModelMultipleChoiceField,
    StaticChoices,
    fast_renderer,
)

from .choices import reference_choices, with_empty
from .countries import NETWORK_COUNTRY_CODES, NetworkCountries
from .middleware import current_version as current_privacy_version
from .models import ERN, Clinician, Hospital, Language, PrivacyStatement, Specialty

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# Territories that dial with a network country's code and belong to it.
# Åland (Finland) and France's outermost regions, which are part of the EU.
_PHONE_REGION_ALIASES = {"AX": "FI", "GP": "FR", "GF": "FR", "MQ": "FR", "YT": "FR", "RE": "FR", "MF": "FR"}


def country_choices() -> list[tuple[str, StrOrPromise]]:
    return [("", _("Choose your country")), *reference_choices().countries]


def grouped_hospital_choices() -> list[tuple[str, Any]]:
    """Approved hospitals grouped by country, for a <select> with <optgroup>s."""
    return [("", _("Choose your hospital")), *reference_choices().hospitals]


@functools.cache
def _time_zones() -> tuple[tuple[str, str], ...]:
    return tuple(time_zone_choices())


class ClinicianDetailsForm(forms.Form):
    """The profile fields shared by registration and profile editing."""

    default_renderer = fast_renderer

    first_name = forms.CharField(
        label=_("First name"),
        max_length=100,
        validators=[no_control_characters],
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
    )
    last_name = forms.CharField(
        label=_("Last name"),
        max_length=100,
        validators=[no_control_characters],
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=40,
        help_text=_("With the country code, for example +32 2 299 11 11. The helpdesk may call you on it."),
        validators=[no_control_characters],
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel", "type": "tel"}),
    )
    country = forms.ChoiceField(
        label=_("Country where you work"),
        choices=country_choices,
        widget=FastSelect(attrs={"autocomplete": "country", "data-country-select": ""}),
    )
    hospital = forms.ModelChoiceField(
        label=_("Hospital or affiliation"),
        queryset=Hospital.objects.approved(),
        required=False,
        help_text=_("Hospitals are grouped by country."),
        widget=FastSelect(attrs={"data-hospital-select": ""}),
    )
    hospital_not_listed = forms.BooleanField(label=_("My hospital is not in the list"), required=False)
    new_hospital_name = forms.CharField(
        label=_("Name of your hospital"),
        max_length=200,
        required=False,
        validators=[no_control_characters],
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    new_hospital_city = forms.CharField(
        label=_("City of your hospital"), max_length=100, required=False, validators=[no_control_characters]
    )
    profession = forms.ChoiceField(
        label=_("Profession"),
        choices=StaticChoices(Clinician.Profession.choices, _("Choose your profession")),
        widget=FastSelect,
    )
    specialty = forms.ModelChoiceField(
        label=_("Specialty or role"),
        queryset=Specialty.objects.filter(active=True),
        empty_label=_("Choose your specialty"),
        widget=FastSelect,
    )
    languages = NulSafeModelMultipleChoiceField(
        label=_("Languages you can discuss a case in"),
        queryset=Language.objects.all(),
        widget=FastCheckboxSelectMultiple,
    )
    erns = forms.ModelMultipleChoiceField(
        label=_("European Reference Networks you are a member of"),
        queryset=ERN.objects.all(),
        required=False,
        widget=FastCheckboxSelectMultiple,
    )
    listed_in_directory = forms.BooleanField(
        label=_("List me in the directory of verified clinicians"),
        required=False,
        initial=True,
        help_text=_("Name, profession, specialty, hospital, country, ERNs and languages."),
    )
    show_email = forms.BooleanField(label=_("Show my email address to verified clinicians"), required=False)
    show_phone = forms.BooleanField(label=_("Show my phone number to verified clinicians"), required=False)
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        choices=StaticChoices(_time_zones, _("The time zone of my country")),
        required=False,
        help_text=_("Conference and webinar times are shown in this zone."),
        widget=FastSelect(attrs={"data-time-zone-select": ""}),
    )
    language = forms.ChoiceField(
        label=_("Language of the site and of our emails"),
        choices=StaticChoices(settings.LANGUAGES),
        initial="en",
        widget=FastSelect,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The widgets show the cached option lists (no query, no translation per
        # option); the fields still validate against their querysets and choices.
        choices = reference_choices()
        self.fields["country"].widget.choices = with_empty(_("Choose your country"), choices.countries)
        self.fields["hospital"].widget.choices = with_empty(_("Choose your hospital"), choices.hospitals)
        self.fields["hospital"].widget.attrs["data-search-label"] = _("Search hospitals by name or city")
        self.fields["specialty"].widget.choices = with_empty(
            _("Choose your specialty"), choices.active_specialties
        )
        self.fields["languages"].widget.choices = choices.languages_with_native
        self.fields["erns"].widget.choices = choices.erns_with_area
        # Required one way or the other: a listed hospital, or name and city.
        for name in ("hospital", "new_hospital_name", "new_hospital_city"):
            self.fields[name].conditionally_required = True  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        country = data.get("country")
        self._clean_phone(data, country)
        self._clean_hospital(data, country)
        return data

    def _clean_phone(self, data: dict[str, Any], country: str | None) -> None:
        raw = data.get("phone")
        if not raw:
            return
        try:
            number = phonenumbers.parse(raw, country or None)
        except phonenumbers.NumberParseException:
            self.add_error(
                "phone", _("Enter a phone number with its country code, for example +32 2 299 11 11.")
            )
            return
        if not phonenumbers.is_valid_number(number):
            self.add_error(
                "phone", _("This is not a valid phone number. Check the digits and the country code.")
            )
            return
        region = phonenumbers.region_code_for_number(number) or ""
        if _PHONE_REGION_ALIASES.get(region, region) not in NETWORK_COUNTRY_CODES:
            self.add_error(
                "phone",
                _("Enter a phone number of an EU or EEA country or the United Kingdom."),
            )
            return
        data["phone"] = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def _clean_hospital(self, data: dict[str, Any], country: str | None) -> None:
        if data.get("hospital_not_listed"):
            data["hospital"] = None
            for name in ("new_hospital_name", "new_hospital_city"):
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, _("Enter it so that the helpdesk can add your hospital."))
            return
        hospital = data.get("hospital")
        if hospital is None:
            if "hospital" not in self.errors:
                self.add_error(
                    "hospital", _("Choose your hospital, or tick “My hospital is not in the list”.")
                )
            return
        if country and hospital.country.code != country:
            self.add_error(
                "hospital",
                _("%(hospital)s is in %(other)s, not in the country you chose.")
                % {"hospital": hospital.name, "other": hospital.country.name},
            )


class RegistrationForm(ClinicianDetailsForm, SignupForm):
    """/register/: the account (allauth) and the clinician profile in one form."""

    accept_privacy = forms.BooleanField(
        label=_("I have read the privacy statement and accept it"),
        error_messages={
            "required": _("Tick this box to accept the privacy statement, or you cannot register.")
        },
    )
    privacy_version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Checked against the database when sent; an empty form shows the
        # version the privacy middleware keeps in the cache (for a minute).
        self.privacy_statement = PrivacyStatement.objects.current() if self.is_bound else None
        current = (
            (self.privacy_statement.version if self.privacy_statement is not None else None)
            if self.is_bound
            else current_privacy_version()
        )
        self.fields["privacy_version"].initial = current
        # The version the person read is checked, but a re-rendered form
        # carries the current one, so that accepting again goes through.
        self.version_read = self.data.get("privacy_version") if self.is_bound else None
        if self.is_bound and current is not None:
            data = cast(QueryDict, self.data).copy()  # allauth binds the form to request.POST
            data["privacy_version"] = str(current)
            self.data = data
        email = self.fields["email"]
        email.label = _("Professional email address")
        email.help_text = _("We send a link to this address to confirm it.")
        email.widget.attrs.pop("placeholder", None)
        password = self.fields["password1"]
        password.label = _("Password")
        password.help_text = _("At least 10 characters; not a common password.")
        password.widget.attrs.pop("placeholder", None)

    def clean_privacy_version(self) -> int:
        version = self.cleaned_data["privacy_version"]
        if self.privacy_statement is None or str(self.version_read) != str(self.privacy_statement.version):
            raise forms.ValidationError(
                _(
                    "The privacy statement has changed since you opened this page. Read it again and accept it."
                )
            )
        return version

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "privacy_version" in self.errors and "accept_privacy" not in self.errors:
            self.add_error("accept_privacy", self.errors["privacy_version"][0])
        data["privacy_statement"] = self.privacy_statement
        return data

    def try_save(self, request: Any) -> Any:
        # An address that already has an account is answered like a new one
        # (allauth emails its owner instead), and it must take as long: the
        # shortcut skipped hashing the password and every insert (34 ms against
        # 321 ms), which told anyone timing the sign-up who is registered.
        if self.account_already_exists:
            self._sign_up_and_roll_back(request)
        return super().try_save(request)

    def _sign_up_and_roll_back(self, request: Any) -> None:
        """The work of a new sign-up (password hash, the user, the clinician
        profile and everything it writes) under a throwaway address, in a
        savepoint that is rolled back: nothing of it stays, no email is queued
        (on-commit callbacks of a rolled-back savepoint are dropped)."""
        real_email = self.cleaned_data["email"]
        self.cleaned_data["email"] = f"signup-{uuid.uuid4().hex}@timing.invalid"
        self.account_already_exists = False
        try:
            with transaction.atomic():
                self.save(request)
                raise _RolledBack
        except _RolledBack:
            pass
        finally:
            self.cleaned_data["email"] = real_email
            self.account_already_exists = True


class _RolledBack(Exception):
    pass


class ProfileForm(ClinicianDetailsForm):
    """/profile/: everything the clinician keeps up to date."""

    @classmethod
    def initial_for(cls, clinician: Clinician) -> dict[str, Any]:
        user = clinician.user
        choices = reference_choices()
        return {
            "first_name": clinician.first_name,
            "last_name": clinician.last_name,
            "phone": clinician.phone.as_international if clinician.phone else "",
            "country": clinician.country.code,
            "hospital": clinician.hospital_id if clinician.hospital.approved else None,
            "hospital_not_listed": not clinician.hospital.approved,
            "new_hospital_name": "" if clinician.hospital.approved else clinician.hospital.name,
            "new_hospital_city": "" if clinician.hospital.approved else clinician.hospital.city,
            "profession": clinician.profession,
            "specialty": clinician.specialty_id,
            # From the copies on the clinician's row, which the services keep in step.
            "languages": choices.languages_of(clinician.language_bits),
            "erns": choices.erns_of(clinician.ern_bits),
            "listed_in_directory": clinician.listed_in_directory,
            "show_email": clinician.show_email,
            "show_phone": clinician.show_phone,
            "time_zone": user.time_zone,
            "language": user.language,
        }


class _ListedChoiceField(forms.ChoiceField):
    """A row of `model` chosen from a cached option list (reference_choices),
    which the form sets as the field's choices: the value is checked against
    the list, not looked up (no query). Cleaned to the row with that key, its
    other fields deferred: the directory's search reads only the key."""

    default_error_messages = {
        "invalid_choice": forms.ModelChoiceField.default_error_messages["invalid_choice"]
    }

    def __init__(self, *, model: type[Model], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model

    def clean(self, value: Any) -> Model | None:
        value = super().clean(value)
        if not value:
            return None
        key = self.model._meta.pk
        assert key is not None
        return self.model.from_db(None, [key.attname], [key.to_python(value)])


class DirectorySearchForm(forms.Form):
    """The directory's search and filters (GET). Invalid values are ignored, not errors."""

    q = forms.CharField(label=_("Name"), max_length=100, required=False, validators=[no_control_characters])
    country = forms.ChoiceField(
        widget=FastSelect,
        label=_("Country"),
        required=False,
        choices=lambda: [("", _("Any country")), *list(NetworkCountries())],
    )
    hospital = _ListedChoiceField(model=Hospital, widget=FastSelect, label=_("Hospital"), required=False)
    profession = forms.ChoiceField(
        widget=FastSelect,
        label=_("Profession"),
        required=False,
        choices=[("", _("Any profession")), *Clinician.Profession.choices],
    )
    specialty = _ListedChoiceField(model=Specialty, widget=FastSelect, label=_("Specialty"), required=False)
    ern = _ListedChoiceField(model=ERN, widget=FastSelect, label=_("ERN"), required=False)
    language = _ListedChoiceField(model=Language, widget=FastSelect, label=_("Language"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The fields offer and validate against the cached option lists of the
        # active language: no query, no translation per option (the country
        # field's own choices translate the 31 names again on every validation).
        choices = reference_choices()
        for name, empty_label, options in (
            ("country", _("Any country"), choices.countries),
            ("hospital", _("Any hospital"), choices.hospitals),
            ("specialty", _("Any specialty"), choices.specialties),
            ("ern", _("Any ERN"), choices.erns),
            ("language", _("Any language"), choices.languages),
        ):
            self.fields[name].choices = with_empty(empty_label, options)  # type: ignore[attr-defined]

    def filters(self) -> dict[str, Any]:
        """The valid filters as keyword arguments of ClinicianQuerySet.directory();
        a field with an invalid value is left out (and shown with its error)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "text": data.get("q") or "",
            "country": data.get("country") or "",
            "hospital": data.get("hospital"),
            "profession": data.get("profession") or "",
            "specialty": data.get("specialty"),
            "ern": data.get("ern"),
            "language": data.get("language"),
        }


class DeleteAccountForm(forms.Form):
    """Deleting the account is confirmed with the password."""

    password = forms.CharField(
        label=_("Your password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_("To be sure it is you."),
    )
    confirm = forms.BooleanField(
        label=_("I understand that my account and profile are deleted and cannot be restored"),
        error_messages={"required": _("Tick this box to confirm.")},
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("This is not your password."))
        return password


class AcceptPrivacyForm(forms.Form):
    accept = forms.BooleanField(
        label=_("I have read the new privacy statement and accept it"),
        error_messages={"required": _("Tick this box to accept the privacy statement, or sign out.")},
    )
