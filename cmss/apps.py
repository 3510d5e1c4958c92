from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CmssConfig(AppConfig):
    name = "cmss"
    verbose_name = _("CMSS core")

    def ready(self) -> None:
        from . import roles

        # Groups and their permissions follow the code after every migrate,
        # and after every flush of a transactional test.
        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="cmss.sync_roles")
        _watch_permissions()
        _hide_user_sessions_from_the_admin()


def _hide_user_sessions_from_the_admin() -> None:
    """People see and end their own sessions at /accounts/sessions/; staff get
    no list of everyone's addresses and browsers (allauth's stock admin page
    also searches a username this user model does not have). Importing its
    admin module registers the page now; the admin's autodiscovery, which runs
    after this, finds the module loaded and does not register it again."""
    from allauth.usersessions import admin as stock
    from django.contrib import admin

    admin.site.unregister(stock.UserSession)


def _watch_permissions() -> None:
    """Staff permissions are kept per user (cmss/auth_backends.py) until a group
    or a permission changes, or the user's groups or own permissions do."""
    from django.contrib.auth.models import Group, Permission
    from django.db.models.signals import m2m_changed

    from . import auth_backends, fragments
    from .models import User

    fragments.watch(auth_backends.TOPIC, Group, Permission)

    def membership_changed(
        sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
    ) -> None:
        if not action.startswith("post_"):
            return
        if isinstance(instance, User):
            fragments.bump(auth_backends.user_topic(instance.pk))
        elif action == "post_clear" or pk_set is None:
            fragments.bump(auth_backends.TOPIC)  # a group's users all cleared: who they were is gone
        else:
            for pk in pk_set:
                fragments.bump(auth_backends.user_topic(pk))

    for through in (User.groups.through, User.user_permissions.through):
        m2m_changed.connect(
            membership_changed,
            sender=through,
            weak=False,
            dispatch_uid=f"cmss.permissions:{through._meta.label}",
        )
