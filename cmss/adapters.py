"""django-allauth wired to CMSS: registration creates the clinician profile,
confirming the email opens the helpdesk ticket, and every email allauth
sends goes through the outbox.

This module is wiring on top of the apps, so it may import any of them.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from django.core.exceptions import PermissionDenied
from django.forms import BaseForm
from django.http import HttpRequest

from clinicians.forms import RegistrationForm
from clinicians.services import confirm_registration, register_clinician
from helpdesk.services import open_registration_ticket

from . import clientip, outbox
from .models import RetentionPolicy, User


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: HttpRequest, user: Any, form: BaseForm, commit: bool = True) -> Any:
        user = super().save_user(request, user, form, commit=True)
        if isinstance(form, RegistrationForm):
            register_clinician(user=user, data=form.cleaned_data, request=request)
        return user

    def confirm_email(self, request: HttpRequest, email_address: EmailAddress) -> bool:
        confirmed = super().confirm_email(request, email_address)
        if confirmed:
            clinician = confirm_registration(user=email_address.user)
            if clinician is not None:
                open_registration_ticket(clinician=clinician)
        return confirmed

    def get_client_ip(self, request: HttpRequest) -> str:
        # Rate limits and user sessions key on the client behind the trusted proxies.
        address = clientip.client_ip(request)
        if not address:
            raise PermissionDenied("Unable to determine the client's address.")
        return address

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        from allauth.core import context as allauth_context
        from django.contrib.sites.shortcuts import get_current_site

        request = allauth_context.request
        ctx = {
            "request": request,
            "email": email,
            "current_site": get_current_site(request),
            # The sign-up email says how long an unconfirmed registration is kept.
            "unconfirmed_days": RetentionPolicy.load().unconfirmed_signups_days,
            **context,
        }
        message = self.render_mail(template_prefix, email, ctx)
        user = context.get("user") or User.objects.filter(email__iexact=email).first()
        outbox.queue_message(message, user=user if isinstance(user, User) else None)
