from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConferencesConfig(AppConfig):
    name = "conferences"
    verbose_name = _("Conferences and webinars")

    def ready(self) -> None:
        # Registries of the apps below (they never import conferences).
        from cmss import retention

        from .calendar import reminders
        from .cases import invitations, panels
        from .cases import services as cases
        from .meetings import pipeline
        from .webinars import notices
        from .webinars import panels as webinar_panels
        from .webinars import programme as cached
        from .webinars import requests as webinar_requests
        from .webinars import services as webinars

        panels.register_conference_panel()
        pipeline.on_created("conference", invitations.on_meeting_created)
        reminders.register("conferences", invitations.reminders_due)
        retention.register("conference case summaries", cases.purge_case_summaries)
        retention.register("provider meetings", pipeline.purge_meeting_invitees)

        # Webinars: reminders 24 h and 1 h before, and the provider webinar's creation.
        reminders.register("webinars", notices.reminders_due)
        pipeline.on_created("webinar", webinars.on_meeting_created)

        # The public programme, the webinar pages and the calendar feed are cached
        # under this topic (webinars/programme.py), where the seats are counted per
        # request; the pages visitors get are kept whole (cmss/pagecache.py), seats
        # and all, until a registration changes (every status change is a save).
        from clinicians.models import ERN, Language
        from cmss import fragments

        from .models import Registration, Speaker, Webinar

        fragments.watch(cached.TOPIC, Webinar, Speaker, ERN, Language)
        fragments.watch(cached.SEATS_TOPIC, Registration)

        # Webinar requests of reference centres: their ticket panel, and their speakers' retention.
        webinar_panels.register_webinar_request_panel()
        retention.register("webinar request speakers", webinar_requests.purge_request_speakers)
