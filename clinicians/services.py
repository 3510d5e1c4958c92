"""Clinician workflows: every write to a clinician goes through here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from cmss import audit, personal_data
from cmss.outbox import queue_templated_email
from cmss.timezones import zone_for_country

from . import followups
from .models import Clinician, Hospital, PrivacyAcceptance, PrivacyStatement

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
def register_clinician(
    *, user: User, data: Mapping[str, Any], request: HttpRequest | None = None
) -> Clinician:
    """Create the clinician profile of a newly signed-up user (status registered)."""
    if data.get("privacy_statement") is None:
        raise ClinicianError("There is no published privacy statement to accept.")
    _apply_preferences(user, data)
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
    )
    clinician.refresh_search_name()
    clinician.save(update_fields=["search_name"])
    clinician.languages.set(data["languages"])
    clinician.erns.set(data.get("erns") or [])
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


@transaction.atomic
def update_profile(
    *, clinician: Clinician, data: Mapping[str, Any], by: User, request: HttpRequest | None = None
) -> Clinician:
    """Save the clinician's own edits. A verified clinician who moves to another
    hospital stays verified but needs the helpdesk to confirm the new hospital
    before coordinator rights return."""
    user = clinician.user
    _apply_preferences(user, data)
    hospital = _hospital_from(data, by=user)
    previous_hospital = clinician.hospital
    hospital_changed = hospital.pk != clinician.hospital_id
    if hospital_changed:
        clinician.hospital_confirmed = False
    clinician.hospital = hospital
    for name in ("first_name", "last_name"):
        setattr(clinician, name, data[name].strip())
    clinician.refresh_search_name()
    for name in ("phone", "country", "profession", "specialty"):
        setattr(clinician, name, data[name])
    for name in ("listed_in_directory", "show_email", "show_phone"):
        setattr(clinician, name, bool(data.get(name)))
    clinician.save()
    clinician.languages.set(data["languages"])
    clinician.erns.set(data.get("erns") or [])
    audit.record(action="clinician.profile_changed", actor=by, obj=clinician, subject=user, request=request)
    if hospital_changed:
        followups.run("hospital_changed", clinician=clinician, previous_hospital=previous_hospital)
    return clinician


_STATUS_EMAILS = {
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
    duplicate = (
        Hospital.objects.approved()
        .filter(name=hospital.name, city=hospital.city, country=hospital.country)
        .first()
    )
    if duplicate is not None:
        raise ClinicianError(f"{duplicate} is already in the list: merge into it instead.")
    hospital.approved = True
    hospital.save(update_fields=["approved"])
    audit.record(action="hospital.approved", actor=by, obj=hospital)
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
    that the person's tickets keep."""
    clinician = Clinician.objects.filter(user=user).first()
    needles = [user.email]
    if clinician is not None:
        needles += [clinician.full_name, clinician.first_name + " " + clinician.last_name]
        if clinician.phone:
            needles += [clinician.phone.as_e164, clinician.phone.as_international]
    audit.record(action="personal_data.erased", actor=user, subject=user, request=request)
    return personal_data.erase(user, needles=needles)


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
    clinician.restricted = restricted
    audit.record(
        action="clinician.restricted" if restricted else "clinician.restriction_lifted",
        actor=by,
        obj=clinician,
        subject=clinician.user,
    )
    return clinician
