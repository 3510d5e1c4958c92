"""A staff member's permissions are read in one query (cmss.auth_backends) and kept per user
until a user, group or permission changes: a removed permission counts from the next page."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from cmss import roles
from cmss.auth_backends import PermissionsBackend
from cmss.models import User
from tests.conftest import sign_in_staff
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)  # no permissions kept on the object


def test_permissions_come_from_the_users_groups_and_their_own_in_one_query() -> None:
    agent = StaffFactory.create(role="agents")
    agent.user_permissions.add(Permission.objects.get(codename="export_directory"))
    user = fresh(agent)
    with CaptureQueriesContext(connection) as queries:
        permissions = PermissionsBackend().get_all_permissions(user)
        assert user.has_perm("helpdesk.change_ticket") and user.has_perm("clinicians.export_directory")
    assert "helpdesk.change_ticket" in permissions and "clinicians.export_directory" in permissions
    assert len(queries) == 1
    assert not user.has_perm("cmss.view_auditevent")  # a supervisor's, not an agent's


def test_a_removed_permission_takes_effect_on_the_next_page(client: Client) -> None:
    agent = StaffFactory.create(role="agents")
    sign_in_staff(client, agent)
    assert client.get("/admin/helpdesk/ticket/").status_code == 200
    group = Group.objects.get(name=roles.AGENTS)
    group.permissions.remove(*Permission.objects.filter(codename__in=["view_ticket", "change_ticket"]))
    assert client.get("/admin/helpdesk/ticket/").status_code == 403
    agent.groups.clear()
    assert client.get("/admin/clinicians/clinician/").status_code == 403


def test_an_inactive_or_former_superuser_has_no_permissions_left() -> None:
    boss = StaffFactory.create(role="supervisors", is_superuser=True)
    assert fresh(boss).has_perm("cmss.delete_user")
    User.objects.filter(pk=boss.pk).update(is_superuser=False)
    assert not fresh(boss).has_perm("cmss.delete_user")
    User.objects.filter(pk=boss.pk).update(is_active=False)
    assert PermissionsBackend().get_all_permissions(fresh(boss)) == set()


def test_the_backend_signs_nobody_in() -> None:
    agent = StaffFactory.create()
    signed_in: object = PermissionsBackend().authenticate(None, username=agent.email, password="x")  # type: ignore[func-returns-value]
    assert signed_in is None


def permission_queries(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if 'FROM "auth_permission"' in q["sql"]]


def test_the_next_page_reads_the_kept_permissions_not_the_database(client: Client, settings: Any) -> None:
    if not settings.REDIS_URL:
        pytest.skip("permissions are kept only in a shared cache (Redis)")
    sign_in_staff(client, StaffFactory.create(role="agents"))
    client.get("/admin/helpdesk/ticket/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/helpdesk/ticket/").status_code == 200
    assert permission_queries(queries) == []


def test_without_a_shared_cache_nothing_is_kept(client: Client, settings: Any) -> None:
    settings.REDIS_URL = ""
    sign_in_staff(client, StaffFactory.create(role="agents"))
    client.get("/admin/helpdesk/ticket/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/helpdesk/ticket/").status_code == 200
    assert len(permission_queries(queries)) == 1


def test_a_removed_own_permission_or_a_deleted_group_counts_at_once(client: Client) -> None:
    agent = StaffFactory.create(role="agents")
    export = Permission.objects.get(codename="export_directory")
    agent.user_permissions.add(export)
    sign_in_staff(client, agent)
    assert client.get("/admin/clinicians/clinician/export-directory/").status_code == 200
    agent.user_permissions.remove(export)
    assert client.get("/admin/clinicians/clinician/export-directory/").status_code == 403
    assert client.get("/admin/helpdesk/ticket/").status_code == 200
    Group.objects.get(name=roles.AGENTS).delete()
    assert client.get("/admin/helpdesk/ticket/").status_code == 403


def test_a_role_changed_by_a_superuser_counts_at_once(client: Client) -> None:
    from cmss import staff

    supervisor = StaffFactory.create(role="supervisors")
    sign_in_staff(client, supervisor)
    assert client.get("/admin/cmss/auditevent/").status_code == 200
    boss = StaffFactory.create(role="supervisors", is_superuser=True)
    staff.change_staff(
        user=supervisor,
        by=boss,
        display_name=supervisor.display_name,
        role=staff.Role.AGENT,
        is_active=True,
        time_zone=supervisor.time_zone,
        language=supervisor.language,
        request=None,
    )
    assert client.get("/admin/cmss/auditevent/").status_code == 403


def test_taking_a_user_out_of_a_group_from_the_groups_side_counts_at_once(client: Client) -> None:
    agent = StaffFactory.create(role="agents")
    sign_in_staff(client, agent)
    assert client.get("/admin/helpdesk/ticket/").status_code == 200
    Group.objects.get(name=roles.AGENTS).user_set.remove(agent)
    assert client.get("/admin/helpdesk/ticket/").status_code == 403
    Group.objects.get(name=roles.AGENTS).user_set.add(agent)
    assert client.get("/admin/helpdesk/ticket/").status_code == 200
    Group.objects.get(name=roles.AGENTS).user_set.clear()
    assert client.get("/admin/helpdesk/ticket/").status_code == 403
