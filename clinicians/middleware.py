"""A new version of the privacy statement is accepted before anything else."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from cmss import fragments

from .models import PrivacyAcceptance, PrivacyStatement

SESSION_KEY = "privacy_accepted_version"
CACHE_KEY = "privacy-current-version"
# The pages that show the current statement or its version (the privacy page,
# the registration form) are cached under this topic (cmss/pagecache.py).
PRIVACY_TOPIC = "privacy"
# What someone who has not accepted the new version may still do.
OPEN_PATHS = ("/privacy/", "/accounts/logout/", "/profile/data/", "/profile/delete/", "/static/", "/healthz/")


def current_version() -> int | None:
    version = cache.get(CACHE_KEY)
    if version is None:
        statement = PrivacyStatement.objects.current()
        version = statement.version if statement else 0
        cache.set(CACHE_KEY, version, 60)
    return version or None


def forget_current_version() -> None:
    """A version was published: everyone (and the registration form) reads it at once."""
    cache.delete(CACHE_KEY)
    # After the version is forgotten: a page rebuilt in between read the old one.
    fragments.bump(PRIVACY_TOPIC)


class PrivacyAcceptanceMiddleware:
    """Signed-in clinicians who have not accepted the current privacy statement
    are asked to before they go on (staff accept theirs as employees)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or user.is_staff or request.path.startswith(OPEN_PATHS):
            return self.get_response(request)
        version = current_version()
        if version is None or request.session.get(SESSION_KEY) == version:
            return self.get_response(request)
        if PrivacyAcceptance.objects.filter(user=user, statement__version=version).exists():
            request.session[SESSION_KEY] = version
            return self.get_response(request)
        return redirect(
            f"{reverse('clinicians:privacy_accept')}?{urlencode({'next': request.get_full_path()})}"
        )
