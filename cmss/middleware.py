"""The project's middleware: the viewer's time zone and language, staff two-factor,
private pages never cached, and addresses carrying NUL bytes refused."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import add_never_cache_headers, patch_cache_control, patch_vary_headers
from django.utils.translation import gettext as _

from .timezones import DEFAULT_TIME_ZONE


class UserPreferencesMiddleware:
    """Times are stored in UTC and shown in the viewer's zone; text in the
    viewer's language. Without a signed-in person: Europe/Brussels and English."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.languages = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone_name, language = DEFAULT_TIME_ZONE, settings.LANGUAGE_CODE
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            zone_name = user.time_zone or DEFAULT_TIME_ZONE
            if user.language in self.languages:
                language = user.language
        try:
            zone = zoneinfo.ZoneInfo(zone_name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = zoneinfo.ZoneInfo(DEFAULT_TIME_ZONE)
        timezone.activate(zone)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        request.time_zone_name = str(zone)  # type: ignore[attr-defined]
        try:
            response = self.get_response(request)
        finally:
            timezone.deactivate()
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ["Cookie"])
        return response


class StaffTwoFactorMiddleware:
    """Staff reach the admin only with a second factor (TOTP) used in this session.

    A staff member without TOTP is sent to enrol; one who signed in with the
    password alone is asked for a code. STAFF_MFA_REQUIRED=0 turns this off
    for the local demo only.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            settings.STAFF_MFA_REQUIRED
            and user is not None
            and user.is_authenticated
            and user.is_staff
            and request.path.startswith(reverse("admin:index"))
        ):
            from allauth.account.authentication import get_authentication_records
            from allauth.mfa.models import Authenticator

            # A second factor used in this session is enough (and costs no query).
            if not any(record.get("method") == "mfa" for record in get_authentication_records(request, user)):
                target = f"?{urlencode({'next': request.get_full_path()})}"
                if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
                    messages.info(request, _("Set up two-factor sign-in before you open the helpdesk admin."))
                    return redirect(reverse("mfa_activate_totp") + target)
                return redirect(reverse("mfa_reauthenticate") + target)
        return self.get_response(request)


class PrivatePagesMiddleware:
    """Pages shown to a signed-in person carry personal data: no cache may keep them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        elif user is not None and user.is_authenticated:
            patch_cache_control(response, no_store=True, private=True)
        return response


class RefuseNulBytesMiddleware:
    """A NUL byte is never text a person typed: it comes from a fuzzer or from
    binary pasted by mistake, and PostgreSQL refuses it in any query. In an
    address (a path, an admin filter, a search link) it turned the page into a
    server error; such a request is answered 400 with a page that says so.

    Form data is left to the forms: their fields refuse a NUL with a message
    next to the field, and what was typed is shown again."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path_info or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            return render(request, "400_nul.html", status=400)
        return self.get_response(request)
