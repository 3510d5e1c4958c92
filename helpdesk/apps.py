from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class HelpdeskConfig(AppConfig):
    name = "helpdesk"
    verbose_name = _("Helpdesk")

    def ready(self) -> None:
        from clinicians import followups

        from . import panels, reference, services

        post_migrate.connect(reference.load_after_migrate, sender=self, dispatch_uid="helpdesk.holidays")
        # The clinicians app tells the helpdesk when a clinician moves to
        # another hospital (clinicians may not import helpdesk).
        followups.register("hospital_changed", services.open_hospital_tickets)
        panels.register_builtin_panels()

        from cmss import fragments

        from .models import CannedReply

        # The ticket page's canned replies are cached (services.canned_replies).
        fragments.watch("canned_replies", CannedReply)

        from cmss import retention

        retention.register("closed ticket text", services.purge_closed_ticket_text)
