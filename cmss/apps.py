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
