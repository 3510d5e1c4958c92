from __future__ import annotations

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
