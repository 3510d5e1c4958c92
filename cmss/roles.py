"""Staff roles are Django groups, defined here once and synced after every migrate.

Clinician roles (registered, verified, coordinator) are derived from the
clinician's status and hospital and never stored.
"""

from __future__ import annotations

import logging
from typing import Any

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS

logger = logging.getLogger(__name__)

AGENTS = "Helpdesk agents"
SUPERVISORS = "Helpdesk supervisors"

# "app_label.codename" for each group. Supervisors hold everything agents do.
_AGENT_PERMISSIONS = [
    "cmss.view_outgoingemail",
    "cmss.change_outgoingemail",
    "clinicians.view_clinician",
    "clinicians.change_clinician",
    "clinicians.view_hospital",
    "clinicians.view_ern",
    "clinicians.view_specialty",
    "clinicians.view_language",
    "clinicians.view_privacystatement",
    "helpdesk.view_ticket",
    "helpdesk.change_ticket",
    "helpdesk.view_ticketevent",
    "helpdesk.view_ticketmessage",
    "helpdesk.view_cannedreply",
    "helpdesk.view_holiday",
    "conferences.view_conference",
    "conferences.view_providermeeting",
    "conferences.change_providermeeting",
    # Agents run webinars: create, edit, publish, cancel, hold, registrations, attendee lists.
    "conferences.view_webinar",
    "conferences.add_webinar",
    "conferences.change_webinar",
    "conferences.export_attendees",
    "conferences.view_speaker",
    "conferences.add_speaker",
    "conferences.change_speaker",
    "conferences.delete_speaker",
    "conferences.view_webinarevent",
    "conferences.view_registration",
    "conferences.change_registration",
]
_SUPERVISOR_PERMISSIONS = [
    *_AGENT_PERMISSIONS,
    "conferences.delete_webinar",
    # Users are read-only for supervisors: only superusers manage staff accounts
    # (cmss/staff.py), and clinicians' accounts change through the clinician services.
    "cmss.view_user",
    "cmss.view_auditevent",
    "cmss.view_retentionpolicy",
    "cmss.change_retentionpolicy",
    "clinicians.add_hospital",
    "clinicians.change_hospital",
    "clinicians.delete_hospital",
    "clinicians.add_ern",
    "clinicians.change_ern",
    "clinicians.add_specialty",
    "clinicians.change_specialty",
    "clinicians.add_privacystatement",
    "clinicians.change_privacystatement",
    "clinicians.view_privacyacceptance",
    "clinicians.export_directory",
    "helpdesk.add_cannedreply",
    "helpdesk.change_cannedreply",
    "helpdesk.delete_cannedreply",
    "helpdesk.add_holiday",
    "helpdesk.change_holiday",
    "helpdesk.delete_holiday",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    AGENTS: _AGENT_PERMISSIONS,
    SUPERVISORS: _SUPERVISOR_PERMISSIONS,
}


def sync_roles(apps: Any = global_apps, using: str = DEFAULT_DB_ALIAS) -> None:
    """Create the staff groups and give each exactly its permissions (idempotent)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.using(using).get_or_create(name=name)
        permissions = []
        for label in wanted:
            app_label, codename = label.split(".", 1)
            found = (
                Permission.objects.using(using)
                .filter(content_type__app_label=app_label, codename=codename)
                .first()
            )
            if found is None:
                logger.debug("Permission %s does not exist yet; skipped", label)
                continue
            permissions.append(found)
        group.permissions.set(permissions)
    # The staff's kept permissions are read again (the models above may be a
    # migration's, whose changes send no signal to cmss.apps' watch).
    from . import auth_backends, fragments

    fragments.bump(auth_backends.TOPIC)


def sync_roles_after_migrate(sender: Any, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    # post_migrate fires once per installed app, and the permissions of an
    # app are created by a receiver of its own signal: run after the last app.
    if sender is not list(global_apps.get_app_configs())[-1]:
        return
    sync_roles(using=using)
