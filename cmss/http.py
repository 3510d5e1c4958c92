"""The request a signed-in person makes, for the type checker.

Django types `request.user` as a user or AnonymousUser. Behind `login_required` and in the admin,
someone is signed in: views say so with `AuthenticatedHttpRequest`; methods whose signature Django
fixes (a ModelAdmin's) ask `signed_in_user(request)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

if TYPE_CHECKING:
    from cmss.models import User


class AuthenticatedHttpRequest(HttpRequest):
    """A request to a view behind `login_required`. Only an annotation: Django still builds
    its own request objects."""

    user: User


def signed_in_user(request: HttpRequest) -> User:
    """The person signed in, where only signed-in people get (the admin, `login_required`)."""
    if not request.user.is_authenticated:
        raise PermissionDenied  # unreachable behind the admin site's or login_required's check
    return request.user
