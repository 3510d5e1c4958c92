"""A staff member's permissions: one query, and kept per user until they change."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Q

from . import fragments

# Bumped by every save or delete of a group or permission and every change of
# what a group may do (cmss/apps.py), and after the roles are synced (cmss/roles.py).
TOPIC = "permissions"


def user_topic(pk: Any) -> str:
    """Bumped when this user's groups or own permissions change (cmss/apps.py)."""
    return f"permissions:user:{pk}"


# However a change reached the database, a user's kept permissions are read again
# after this long.
KEEP_SECONDS = 300


class PermissionsBackend(DjangoModelBackend):
    """Every admin page asks for the staff member's permissions: Django's
    ModelBackend reads their own and their groups' in two queries, on every
    request. This backend, listed first, reads both in one query and keeps
    the set in the cache per user, under the generations of the "permissions"
    topic (any change to a group or a permission) and of the user's own (their
    groups, their own permissions), so a removed permission counts from the
    next page on; whether they are a superuser is part of the key. Without a shared cache (no Redis:
    each process would see only its own bumps) nothing is kept. The backends
    after it find the set on the user object, as Django keeps it there for the
    request. It authenticates nobody: sign-in stays Django's and allauth's."""

    def authenticate(self, request: Any, username: Any = None, password: Any = None, **kwargs: Any) -> None:
        return None

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if settings.REDIS_URL:
                user_obj._perm_cache = set(
                    fragments.cached(
                        (TOPIC, user_topic(user_obj.pk)),
                        ("user", user_obj.pk, user_obj.is_superuser),
                        lambda: frozenset(_read(user_obj)),
                        timeout=KEEP_SECONDS,
                        per_language=False,
                        per_zone=False,
                    )
                )
            else:
                user_obj._perm_cache = _read(user_obj)
        permissions: set[str] = user_obj._perm_cache
        return permissions


def _read(user: Any) -> set[str]:
    if user.is_superuser:
        permissions = Permission.objects.all()
    else:
        permissions = Permission.objects.filter(
            Q(pk__in=user.user_permissions.values("pk"))
            | Q(pk__in=Permission.objects.filter(group__user=user).values("pk"))
        )
    return {
        f"{app_label}.{codename}"
        for app_label, codename in permissions.values_list("content_type__app_label", "codename").order_by()
    }
