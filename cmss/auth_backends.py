"""A user's permissions read in one query instead of Django's two."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Q


class PermissionsBackend(DjangoModelBackend):
    """Every admin page asks for the staff member's permissions: Django's
    ModelBackend reads their own and their groups' in two queries (then keeps
    them on the user object for the request). This backend, listed first,
    reads both in one query and keeps them the same way, where the backends
    after it find them; nothing is kept beyond the request, so a removed
    permission counts from the next page on. It authenticates nobody: sign-in
    stays Django's and allauth's (and sessions keep naming their backend)."""

    def authenticate(self, request: Any, username: Any = None, password: Any = None, **kwargs: Any) -> None:
        return None

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                permissions = Permission.objects.all()
            else:
                permissions = Permission.objects.filter(
                    Q(pk__in=user_obj.user_permissions.values("pk"))
                    | Q(pk__in=Permission.objects.filter(group__user=user_obj).values("pk"))
                )
            user_obj._perm_cache = {
                f"{app_label}.{codename}"
                for app_label, codename in permissions.values_list(
                    "content_type__app_label", "codename"
                ).order_by()
            }
        permissions_: set[str] = user_obj._perm_cache
        return permissions_
