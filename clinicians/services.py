"""Clinician workflows: every write to a clinician goes through here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.db.models import F, OuterRef, Subquery, Sum, Value
from django.db.models.expressions import Combinable, CombinedExpression
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from cmss import audit, fragments, personal_data
from cmss.outbox import queue_templated_email
from cmss.timezones import zone_for_country

from . import followups
from .models import ERN, Clinician, Hospital, Language, PrivacyAcceptance, PrivacyStatement

if TYPE_CHECKING:
    from django.http import HttpRequest

    from cmss.models import User


class ClinicianError(Exception):
    """A clinician workflow that cannot go ahead; the message is for people."""


def propose_hospital(*, name: str, city: str, country: str, by: User) -> Hospital:
    """A hospital that was not in the list waits, unapproved, for the helpdesk.

    An approved hospital with the same name, city and country is reused
    instead of proposing a duplicate.
    """
    same = Hospital.objects.filter(name__iexact=name.strip(), city__iexact=city.strip(), country=country)
    # A listed hospital, or the one this person proposed already (saving the
    # profile again must not propose it again).
    existing = same.filter(approved=True).first() or same.filter(approved=False, proposed_by=by).first()
    if existing is not None:
        return existing
    return Hospital.objects.create(name=name.strip(), city=city.strip(), country=country, proposed_by=by)


def _hospital_from(data: Mapping[str, Any], *, by: User) -> Hospital:
    if data.get("hospital") is not None:
        return data["hospital"]
    return propose_hospital(
        name=data["new_hospital_name"], city=data["new_hospital_city"], country=data["country"], by=by
    )


def _apply_preferences(user: User, data: Mapping[str, Any]) -> None:
    user.time_zone = data.get("time_zone") or zone_for_country(data["country"])
    user.language = data.get("language") or user.language
    user.save(update_fields=["time_zone", "language"])


def accept_privacy_statement(
    *, user: User, statement: PrivacyStatement, request: HttpRequest | None = None
) -> PrivacyAcceptance:
    acceptance, _created = PrivacyAcceptance.objects.get_or_create(user=user, statement=statement)
    audit.record(action="privacy.accepted", actor=user, obj=acceptance, subject=user, request=request)
    return acceptance


@transaction.atomic
def save_privacy_statement(
    *, statement: PrivacyStatement, by: User, request: HttpRequest | None = None
) -> PrivacyStatement:
    """Save a new or edited draft of the privacy statement. A published version
    is what people accepted: it is never changed (publish a new version)."""
    if statement.pk is not None:
        stored = PrivacyStatement.objects.select_for_update().get(pk=statement.pk)
        if stored.published_at is not None:
            raise ClinicianError(_("A published privacy statement cannot be changed: write a new version."))
    statement.published_at = None
    statement.save()
    audit.record(action="privacy_statement.saved", actor=by, obj=statement, request=request)
    return statement


@transaction.atomic
def publish_privacy_statement(
    *, statement: PrivacyStatement, by: User, request: HttpRequest | None = None, now: Any = None
) -> PrivacyStatement:
    """Publish a draft: from now on everyone signed in accepts it before anything else."""
    now = now or timezone.now()
    statement = PrivacyStatement.objects.select_for_update().get(pk=statement.pk)
    if statement.published_at is not None:
        raise ClinicianError(_("Version %(version)d is already published.") % {"version": statement.version})
    current = PrivacyStatement.objects.current()
    if current is not None and current.version >= statement.version:
        raise ClinicianError(
            _("Version %(version)d is published already: give the draft a higher version number.")
            % {"version": current.version}
        )
    statement.published_at = now
    statement.save(update_fields=["published_at"])
    audit.record(action="privacy_statement.published", actor=by, obj=statement, request=request)
    from .middleware import forget_current_version

    transaction.on_commit(forget_current_version)
    return statement


@transaction.atomic
def register_clinician(
    *, user: User, data: Mapping[str, Any], request: HttpRequest | None = None
) -> Clinician:
    """Create the clinician profile of a newly signed-up user (status registered)."""
    if data.get("privacy_statement") is None:
        raise ClinicianError("There is no published privacy statement to accept.")
    _apply_preferences(user, data)
    languages, erns = list(data["languages"]), list(data.get("erns") or [])
    clinician = Clinician.objects.create(
        user=user,
        first_name=data["first_name"].strip(),
        last_name=data["last_name"].strip(),
        phone=data["phone"],
        country=data["country"],
        hospital=_hospital_from(data, by=user),
        profession=data["profession"],
        specialty=data["specialty"],
        listed_in_directory=data.get("listed_in_directory", True),
        show_email=data.get("show_email", False),
        show_phone=data.get("show_phone", False),
        time_zone=user.time_zone,
    )
    clinician.refresh_search_name()
    clinician.refresh_expertise_bits(erns=erns, languages=languages)
    clinician.save(update_fields=["search_name", "ern_bits", "language_bits"])
    clinician.languages.set(languages)
    clinician.erns.set(erns)
    accept_privacy_statement(user=user, statement=data["privacy_statement"], request=request)
    audit.record(action="clinician.registered", actor=user, obj=clinician, subject=user, request=request)
    return clinician


@transaction.atomic
def confirm_registration(*, user: User) -> Clinician | None:
    """The clinician confirmed the email address: tell them what happens next.

    Idempotent (confirming again, or another address, sends nothing more).
    Returns the clinician, or None for users who have no clinician profile.
    """
    clinician = Clinician.objects.select_for_update().filter(user=user).select_related("hospital").first()
    if clinician is None:
        return None
    if clinician.email_confirmed_at is None:
        clinician.email_confirmed_at = timezone.now()
        clinician.save(update_fields=["email_confirmed_at", "updated_at"])
        queue_templated_email(
            user=user,
            template="registration_received",
            context={"clinician": clinician},
            dedup_key=f"registration-received:{clinician.pk}",
        )
    return clinician


def _apply_profile(clinician: Clinician, values: Mapping[str, Any]) -> list[str]:
    """Set the profile fields given in values and return the names of those that
    changed. Keeps the search name in step with the name; a move to another
    hospital needs the helpdesk to confirm it (the hospital_changed follow-ups)."""
    changed = []
    previous_hospital = clinician.hospital
    for name in ("first_name", "last_name"):
        if name in values and getattr(clinician, name) != values[name].strip():
            setattr(clinician, name, values[name].strip())
            changed.append(name)
    for name in ("phone", "country", "hospital", "profession", "specialty"):
        if name in values and getattr(clinician, name) != values[name]:
            setattr(clinician, name, values[name])
            changed.append(name)
    for name in ("listed_in_directory", "show_email", "show_phone"):
        if name in values and getattr(clinician, name) != bool(values[name]):
            setattr(clinician, name, bool(values[name]))
            changed.append(name)
    hospital_changed = "hospital" in changed
    if hospital_changed:
        clinician.hospital_confirmed = False
    clinician.refresh_search_name()
    if "erns" in values or "languages" in values:
        clinician.refresh_expertise_bits(
            erns=values["erns"] or [] if "erns" in values else clinician.erns.all(),
            languages=values["languages"] or [] if "languages" in values else clinician.languages.all(),
        )
    clinician.save()
    for name in ("languages", "erns"):
        if name in values:
            wanted = {item.pk for item in values[name] or []}
            if wanted != set(getattr(clinician, name).values_list("pk", flat=True)):
                getattr(clinician, name).set(wanted)
                changed.append(name)
    if hospital_changed:
        followups.run("hospital_changed", clinician=clinician, previous_hospital=previous_hospital)
    return changed


@transaction.atomic
def update_profile(
    *, clinician: Clinician, data: Mapping[str, Any], by: User, request: HttpRequest | None = None
) -> Clinician:
    """Save the clinician's own edits. A verified clinician who moves to another
    hospital stays verified but needs the helpdesk to confirm the new hospital
    before coordinator rights return."""
    user = clinician.user
    _apply_preferences(user, data)
    clinician.time_zone = user.time_zone
    values = {
        **{
            name: data[name]
            for name in ("first_name", "last_name", "phone", "country", "profession", "specialty")
        },
        "hospital": _hospital_from(data, by=user),
        "languages": data["languages"],
        "erns": data.get("erns") or [],
        **{name: bool(data.get(name)) for name in ("listed_in_directory", "show_email", "show_phone")},
    }
    _apply_profile(clinician, values)
    audit.record(action="clinician.profile_changed", actor=by, obj=clinician, subject=user, request=request)
    return clinician


# What the helpdesk may correct for a clinician (the admin's change form). Status,
# restriction and the hospital's confirmation have their own services behind ticket
# actions; directory visibility, time zone and language are the person's own choices.
CORRECTABLE_FIELDS = (
    "first_name",
    "last_name",
    "phone",
    "country",
    "hospital",
    "profession",
    "specialty",
    "languages",
    "erns",
)


@transaction.atomic
def correct_profile(
    *, clinician: Clinician, data: Mapping[str, Any], by: User, request: HttpRequest | None = None
) -> list[str]:
    """The helpdesk corrects a clinician's profile (a misspelt name, a wrong
    phone number): the directory and invitee search find the corrected name,
    a new hospital waits for confirmation, and each changed field is audited by
    name (never its value). Returns the names of the changed fields."""
    clinician = Clinician.objects.select_for_update().select_related("user", "hospital").get(pk=clinician.pk)
    changed = _apply_profile(clinician, {name: data[name] for name in CORRECTABLE_FIELDS if name in data})
    for name in changed:
        audit.record(
            action=f"clinician.corrected.{name}",
            actor=by,
            obj=clinician,
            subject=clinician.user,
            request=request,
        )
    return changed


_STATUS_EMAILS: dict[str, str] = {
    Clinician.Status.VERIFIED: "clinician_verified",
    Clinician.Status.REJECTED: "clinician_rejected",
    Clinician.Status.SUSPENDED: "clinician_suspended",
}


@transaction.atomic
def change_status(*, clinician: Clinician, to: str, by: User, reason: str = "") -> Clinician:
    """Move a clinician along the allowed status moves and tell them by email.

    Verifying also confirms the current hospital (the agent checked it);
    reinstating a suspended clinician is a move back to verified.
    """
    clinician = Clinician.objects.select_for_update().select_related("user", "hospital").get(pk=clinician.pk)
    if not clinician.can_move_to(to):
        raise ClinicianError(
            f"A {clinician.get_status_display()} clinician cannot become {Clinician.Status(to).label}."
        )
    previous = clinician.status
    now = timezone.now()
    clinician.status = to
    clinician.status_changed_at = now
    update = ["status", "status_changed_at", "updated_at"]
    if to == Clinician.Status.VERIFIED and previous == Clinician.Status.REGISTERED:
        clinician.hospital_confirmed = True
        update.append("hospital_confirmed")
    clinician.save(update_fields=update)
    audit.record(action=f"clinician.{to}", actor=by, obj=clinician, subject=clinician.user)
    template = "clinician_reinstated" if previous == Clinician.Status.SUSPENDED else _STATUS_EMAILS[to]
    queue_templated_email(
        user=clinician.user,
        template=template,
        context={"clinician": clinician, "reason": reason},
        dedup_key=f"clinician-status:{clinician.pk}:{to}:{now.isoformat()}",
    )
    return clinician


@transaction.atomic
def confirm_hospital(*, clinician: Clinician, by: User) -> Clinician:
    """The helpdesk confirms the clinician's current hospital (coordinator rights return)."""
    if not clinician.hospital.approved:
        raise ClinicianError("Approve or merge the hospital first.")
    Clinician.objects.filter(pk=clinician.pk).update(hospital_confirmed=True)
    clinician.hospital_confirmed = True
    audit.record(action="clinician.hospital_confirmed", actor=by, obj=clinician, subject=clinician.user)
    return clinician


@transaction.atomic
def approve_hospital(*, hospital: Hospital, by: User) -> Hospital:
    """A proposed hospital joins the list."""
    if hospital.approved:
        raise ClinicianError(f"{hospital} is already in the list.")
    duplicate = listed_duplicate(name=hospital.name, city=hospital.city, country=hospital.country)
    if duplicate is not None:
        raise ClinicianError(f"{duplicate} is already in the list: merge into it instead.")
    hospital.approved = True
    hospital.save(update_fields=["approved"])
    audit.record(action="hospital.approved", actor=by, obj=hospital)
    return hospital


def listed_duplicate(
    *, name: str, city: str, country: str, exclude: Hospital | None = None
) -> Hospital | None:
    """The listed hospital with this name, city and country, ignoring case and
    surrounding spaces (how propose_hospital matches too)."""
    same = Hospital.objects.approved().filter(
        name__iexact=name.strip(), city__iexact=city.strip(), country=country
    )
    if exclude is not None and exclude.pk is not None:
        same = same.exclude(pk=exclude.pk)
    return same.first()


def _audit_reference_centre(hospital: Hospital, *, by: User, request: HttpRequest | None) -> None:
    # The flag gives the hospital's confirmed clinicians coordinator rights.
    action = (
        "hospital.reference_centre_set"
        if hospital.is_reference_centre
        else "hospital.reference_centre_cleared"
    )
    audit.record(action=action, actor=by, obj=hospital, request=request)


@transaction.atomic
def add_hospital(
    *,
    name: str,
    city: str,
    country: str,
    is_reference_centre: bool,
    by: User,
    request: HttpRequest | None = None,
) -> Hospital:
    """A supervisor adds a hospital to the list (approved at once), unless it is
    already there."""
    duplicate = listed_duplicate(name=name, city=city, country=country)
    if duplicate is not None:
        raise ClinicianError(_("%(hospital)s is already in the list.") % {"hospital": duplicate})
    hospital = Hospital.objects.create(
        name=name.strip(),
        city=city.strip(),
        country=country,
        is_reference_centre=is_reference_centre,
        approved=True,
    )
    audit.record(action="hospital.added", actor=by, obj=hospital, request=request)
    if is_reference_centre:
        _audit_reference_centre(hospital, by=by, request=request)
    return hospital


@transaction.atomic
def change_hospital(
    *,
    hospital: Hospital,
    name: str,
    city: str,
    country: str,
    is_reference_centre: bool,
    by: User,
    request: HttpRequest | None = None,
) -> Hospital:
    """Correct a hospital's name or place, or set or clear its reference-centre
    flag (audited). A listed hospital may not become a duplicate of another."""
    hospital = Hospital.objects.select_for_update().get(pk=hospital.pk)
    if hospital.approved:
        duplicate = listed_duplicate(name=name, city=city, country=country, exclude=hospital)
        if duplicate is not None:
            raise ClinicianError(_("%(hospital)s is already in the list.") % {"hospital": duplicate})
    values = {"name": name.strip(), "city": city.strip(), "country": country}
    changed = [field for field, value in values.items() if getattr(hospital, field) != value]
    for field in changed:
        setattr(hospital, field, values[field])
    flag_changed = hospital.is_reference_centre != is_reference_centre
    hospital.is_reference_centre = is_reference_centre
    hospital.save()
    if changed:
        audit.record(action="hospital.changed", actor=by, obj=hospital, request=request)
    if flag_changed:
        _audit_reference_centre(hospital, by=by, request=request)
    return hospital


@transaction.atomic
def merge_hospital(*, hospital: Hospital, into: Hospital, by: User) -> Hospital:
    """A proposed hospital is a duplicate of a listed one: move its clinicians and delete it."""
    if hospital.pk == into.pk:
        raise ClinicianError("Choose another hospital to merge into.")
    if hospital.approved:
        raise ClinicianError("Only proposed hospitals can be merged.")
    if not into.approved:
        raise ClinicianError("Merge into a hospital that is in the list.")
    Clinician.objects.filter(hospital=hospital).update(hospital=into)
    fragments.bump("directory")  # update() sends no signal
    audit.record(action="hospital.merged", actor=by, obj=into)
    hospital.delete()
    return into


def export_personal_data(*, user: User, request: HttpRequest | None = None) -> dict[str, Any]:
    """Everything held about the person (Article 17 and 22 of Regulation 2018/1725); audited."""
    audit.record(action="personal_data.exported", actor=user, obj=user, subject=user, request=request)
    return {
        "exported_at": timezone.now().isoformat(),
        "about": "Personal data held by the COVID-19 Clinical Management Support System (CMSS).",
        "data": personal_data.export_for(user),
    }


@transaction.atomic
def erase_account(*, user: User, request: HttpRequest | None = None) -> str:
    """Delete the account and anonymise the person everywhere; returns the pseudonym
    that the person's tickets keep. Free text naming them is found as the export
    finds it (personal_data.needles_for: Clinician.personal_needles adds names and phone)."""
    audit.record(action="personal_data.erased", actor=user, subject=user, request=request)
    return personal_data.erase(user)


def _erase_each(clinicians: Any) -> int:
    count = 0
    for clinician in clinicians.select_related("user"):
        erase_account(user=clinician.user)
        count += 1
    return count


def purge_unconfirmed_signups(policy: Any, now: Any) -> int:
    """Sign-ups whose email was never confirmed are erased after the retention period."""
    cutoff = policy.cutoff("unconfirmed_signups_days", now)
    return _erase_each(Clinician.objects.filter(email_confirmed_at__isnull=True, created_at__lt=cutoff))


def purge_rejected_registrations(policy: Any, now: Any) -> int:
    cutoff = policy.cutoff("rejected_registrations_days", now)
    return _erase_each(
        Clinician.objects.filter(status=Clinician.Status.REJECTED, status_changed_at__lt=cutoff)
    )


@transaction.atomic
def set_restriction(*, clinician: Clinician, restricted: bool, by: User) -> Clinician:
    """Restrict processing (Article 20): hidden from the directory and invitations, nothing deleted."""
    Clinician.objects.filter(pk=clinician.pk).update(restricted=restricted)
    fragments.bump("directory")  # update() sends no signal
    clinician.restricted = restricted
    audit.record(
        action="clinician.restricted" if restricted else "clinician.restriction_lifted",
        actor=by,
        obj=clinician,
        subject=clinician.user,
    )
    return clinician


# --- What the suggested experts rank by, copied onto the clinician's row ---------------------
#
# Registration and the profile (the person's, the helpdesk's correction) set
# Clinician.ern_bits, language_bits and time_zone with what they save. The
# receivers below, connected in CliniciansConfig.ready, are the safety net for
# writes made elsewhere: memberships added from the ERN's side or by the demo
# and the test factories, a time zone changed in the admin's user form, an ERN
# deleted. Signals break the house rule of greppable data flow on purpose: a
# stale copy would quietly rank people by what they no longer are.

_COPIES: dict[type[models.Model], tuple[str, str]] = {
    # through model: (the clinician's column, the related model's name in the through model)
    Clinician.erns.through: ("ern_bits", "ern"),
    Clinician.languages.through: ("language_bits", "language"),
}


def _bits(through: type[models.Model], to: str) -> Coalesce:
    """The bits of a clinician's rows of `through` (their sum: each bit once)."""
    one = Cast(Value(1), models.BigIntegerField())
    total = (
        through._default_manager.filter(clinician_id=OuterRef("pk"))
        .order_by()
        .values("clinician_id")
        .annotate(bits=Sum(CombinedExpression(one, Combinable.BITLEFTSHIFT, F(f"{to}__bit"))))
        .values("bits")
    )
    return Coalesce(Subquery(total, output_field=models.BigIntegerField()), Value(0))


def refresh_expertise(clinicians: models.QuerySet[Clinician]) -> int:
    """Copy onto `clinicians` their ERN memberships and languages as bits and
    their user's time zone, in one UPDATE; returns how many rows it changed."""
    from cmss.models import User

    return clinicians.update(
        **{column: _bits(through, to) for through, (column, to) in _COPIES.items()},
        time_zone=Subquery(User.objects.filter(pk=OuterRef("user_id")).values("time_zone")[:1]),
    )


def _having_bit(column: str, bit: int) -> models.QuerySet[Clinician]:
    mask = 1 << bit
    return Clinician.objects.alias(has=F(column).bitand(mask)).exclude(has=0)


def expertise_changed(
    *, sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[Any] | None, **kwargs: Any
) -> None:
    """m2m_changed of Clinician.erns and Clinician.languages: the bits follow."""
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    column, to = _COPIES[sender]
    if not reverse:
        # One clinician's memberships or languages; the instance follows too.
        taken = sender._default_manager.filter(clinician_id=instance.pk).values_list(f"{to}__bit", flat=True)
        bits = sum(1 << bit for bit in set(taken))
        Clinician.objects.filter(pk=instance.pk).update(**{column: bits})
        setattr(instance, column, bits)
    elif action == "post_clear":
        refresh_expertise(_having_bit(column, instance.bit))
    else:
        refresh_expertise(Clinician.objects.filter(pk__in=pk_set or ()))


def bit_deleted(*, sender: Any, instance: ERN | Language, **kwargs: Any) -> None:
    """post_delete of an ERN or a language: its members' rows went with it (no m2m_changed)."""
    column = "ern_bits" if sender is ERN else "language_bits"
    refresh_expertise(_having_bit(column, instance.bit))


def user_saved(*, instance: User, created: bool, raw: bool, update_fields: Any, **kwargs: Any) -> None:
    """post_save of a user: their clinician row keeps a copy of the time zone."""
    if created or raw or (update_fields is not None and "time_zone" not in update_fields):
        return
    Clinician.objects.filter(user=instance).exclude(time_zone=instance.time_zone).update(
        time_zone=instance.time_zone
    )
    cached = instance._state.fields_cache.get("clinician")
    if cached is not None:
        cached.time_zone = instance.time_zone


def clinician_saving(*, instance: Clinician, raw: bool, **kwargs: Any) -> None:
    """pre_save of a clinician: a new one starts with the user's time zone."""
    if instance._state.adding and not raw:
        instance.time_zone = instance.user.time_zone
