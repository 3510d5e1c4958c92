from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConferencesConfig(AppConfig):
    name = "conferences"
    verbose_name = _("Conferences and webinars")

    def ready(self) -> None:
        # Registries of the apps below (they never import conferences).
        from cmss import retention

        from . import case_conferences, panels, reminders, services

        panels.register_conference_panel()
        services.on_created("conference", case_conferences.on_meeting_created)
        reminders.register("conferences", case_conferences.reminders_due)
        retention.register("conference case summaries", case_conferences.purge_case_summaries)
        retention.register("provider meetings", services.purge_meeting_invitees)

        # Webinars: reminders 24 h and 1 h before, and the provider webinar's creation.
        from . import webinars

        reminders.register("webinars", webinars.reminders_due)
        services.on_created("webinar", webinars.on_meeting_created)
