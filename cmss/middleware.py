"""Activate the signed-in person's time zone and language for the request."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers

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
        request.LANGUAGE_CODE = language  # type: ignore[attr-defined]
        request.time_zone_name = str(zone)  # type: ignore[attr-defined]
        try:
            response = self.get_response(request)
        finally:
            timezone.deactivate()
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ["Cookie"])
        return response
