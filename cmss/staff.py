"""Helpdesk staff accounts: invited, changed and reset here only.

Nobody sets a staff member's password for them: an invitation email carries a
set-password link (allauth's password-reset key), the person chooses the
password, and the admin then makes them enrol TOTP (cmss.middleware). Only
superusers manage staff accounts; clinicians' accounts are never changed here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress
from allauth.account.utils import user_pk_to_url_str
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import audit, roles
from .models import User
from .outbox import queue_templated_email

if TYPE_CHECKING:
    from django.http import HttpRequest


class Role(models.TextChoices):
    AGENT = "agent", gettext_lazy("helpdesk agent")
    SUPERVISOR = "supervisor", gettext_lazy("helpdesk supervisor")
    SUPERUSER = "superuser", gettext_lazy("superuser (manages staff accounts)")


_GROUPS = {Role.AGENT: roles.AGENTS, Role.SUPERVISOR: roles.SUPERVISORS, Role.SUPERUSER: roles.SUPERVISORS}


class StaffError(Exception):
    """A staff-account change that cannot be made; the message is for people."""


def role_of(user: User) -> str:
    """The staff role of a user ("" for a clinician)."""
    if not user.is_staff:
        return ""
    if user.is_superuser:
        return Role.SUPERUSER
    names = {group.name for group in user.groups.all()}
    if roles.SUPERVISORS in names:
        return Role.SUPERVISOR
    if roles.AGENTS in names:
        return Role.AGENT
    return ""


def set_password_url(user: User) -> str:
    """A link to choose a password: allauth's password-reset key, valid for
    PASSWORD_RESET_TIMEOUT and until the password is set (the key signs the
    password hash)."""
    path = reverse(
        "account_reset_password_from_key",
        kwargs={"uidb36": user_pk_to_url_str(user), "key": default_token_generator.make_token(user)},
    )
    return settings.SITE_URL + path


def _apply_role(user: User, role: str) -> None:
    user.is_staff = True
    user.is_superuser = role == Role.SUPERUSER
    user.save(update_fields=["is_staff", "is_superuser"])
    user.groups.set([Group.objects.get(name=_GROUPS[Role(role)])])


def _send_invitation(user: User) -> None:
    queue_templated_email(
        user=user,
        template="staff_invitation",
        context={
            "name": user.display_name or user.email,
            "role": Role(role_of(user)).label,
            "set_password_url": set_password_url(user),
            "valid_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
            "sign_in_url": settings.SITE_URL + reverse("account_login"),
        },
        dedup_key=f"staff-invitation:{user.pk}:{timezone.now().isoformat()}",
    )


def check_change(*, user: User, by: User | None, role: str, is_active: bool) -> None:
    """Refuse changes a superuser would regret: locking themselves out."""
    if by is not None and by.pk == user.pk:
        if not is_active:
            raise StaffError(_("You cannot deactivate your own account."))
        if role != role_of(user):
            raise StaffError(_("You cannot change your own role: ask another superuser."))


@transaction.atomic
def invite_staff(
    *, email: str, name: str, role: str, by: User | None = None, request: HttpRequest | None = None
) -> User:
    """Create a staff account (or find the existing one) and email it an
    invitation to choose a password.

    The account has no usable password and a verified primary address, so
    there is no confirmation step; the role's group gives its permissions.
    Inviting an existing staff member again sets the role and name given and
    sends a fresh invitation; no second account is made.
    """
    email = User.objects.normalize_email(email.strip()).lower()
    role = Role(role)
    user = User.objects.select_for_update().filter(email__iexact=email).first()
    if user is not None and not user.is_staff:
        raise StaffError(_("%(email)s is a clinician's account, not a staff account.") % {"email": email})
    if user is not None and not user.is_active:
        raise StaffError(
            _("%(email)s was deactivated: a superuser reactivates it in the admin first.") % {"email": email}
        )
    created = user is None
    if user is None:
        user = User(email=email, display_name=name.strip(), is_staff=True)
        user.set_unusable_password()
        user.save()
    elif name.strip() and name.strip() != user.display_name:
        user.display_name = name.strip()
        user.save(update_fields=["display_name"])
    _apply_role(user, role)
    EmailAddress.objects.filter(user=user).exclude(email__iexact=email).update(primary=False)
    address, _created = EmailAddress.objects.get_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    if not (address.verified and address.primary):
        address.verified = address.primary = True
        address.save(update_fields=["verified", "primary"])
    _send_invitation(user)
    audit.record(
        action="staff.invited" if created else "staff.invitation_resent",
        actor=by,
        obj=user,
        subject=user,
        request=request,
    )
    return user


@transaction.atomic
def change_staff(
    *,
    user: User,
    by: User,
    display_name: str,
    role: str,
    is_active: bool,
    time_zone: str,
    language: str,
    request: HttpRequest | None = None,
) -> User:
    """A superuser's edit of a staff account; each kind of change is audited.

    A deactivated staff member is signed out at their next request (Django
    refuses sessions of inactive users) and can no longer sign in.
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.is_staff:
        raise StaffError(
            _(
                "A clinician’s account is changed on the Clinicians page and their tickets (suspend, reinstate, "
                "restrict), not here."
            )
        )
    check_change(user=user, by=by, role=role, is_active=is_active)
    if role != role_of(user):
        _apply_role(user, role)
        audit.record(action="staff.role_changed", actor=by, obj=user, subject=user, request=request)
    if is_active != user.is_active:
        user.is_active = is_active
        user.save(update_fields=["is_active"])
        action = "staff.reactivated" if is_active else "staff.deactivated"
        audit.record(action=action, actor=by, obj=user, subject=user, request=request)
    details = {"display_name": display_name.strip(), "time_zone": time_zone, "language": language}
    changed = [field for field, value in details.items() if getattr(user, field) != value]
    for field in changed:
        setattr(user, field, details[field])
    if changed:
        user.save(update_fields=changed)
        audit.record(action="staff.changed", actor=by, obj=user, subject=user, request=request)
    return user


@transaction.atomic
def reset_two_factor(*, user: User, by: User, request: HttpRequest | None = None) -> int:
    """Remove a staff member's TOTP and recovery codes (both lost): at the next
    sign-in with their password the admin makes them enrol again."""
    if not user.is_staff:
        raise StaffError(_("Only staff accounts have their two-factor sign-in reset here."))
    removed, _by_model = Authenticator.objects.filter(user=user).delete()
    if removed:
        audit.record(action="staff.two_factor_reset", actor=by, obj=user, subject=user, request=request)
    return removed
