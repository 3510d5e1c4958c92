"""The admin site: Django's, minus the work its pages do not show."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


class AdminSite(admin.AdminSite):
    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        """Django's context for every admin page, with the app list built only if a
        template reads it: only the navigation sidebar does, and it is off, yet
        building it asks every ModelAdmin for its permissions (and the retention
        policy's add permission queries the database) on every page."""
        script_name = request.META["SCRIPT_NAME"]
        site_url = script_name if self.site_url == "/" and script_name else self.site_url
        return {
            "site_title": self.site_title,
            "site_header": self.site_header,
            "site_url": site_url,
            "has_permission": self.has_permission(request),
            "available_apps": SimpleLazyObject(lambda: self.get_app_list(request)),
            "is_popup": False,
            "is_nav_sidebar_enabled": self.enable_nav_sidebar,
            "log_entries": self.get_log_entries(request),
        }


class AdminConfig(DjangoAdminConfig):
    """django.contrib.admin with the site above as admin.site."""

    default_site = "cmss.sites.AdminSite"
