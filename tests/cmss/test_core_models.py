"""Cross-cutting rules: personal-data declarations, roles, reference data, audit log."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import IntegrityError, models
from django.test import Client

from clinicians.models import ERN, Clinician, Hospital, Language, PrivacyStatement, Specialty
from clinicians.reference import ERNS, HOSPITALS, load_reference_data
from cmss import audit, roles
from cmss.models import AuditEvent
from cmss.personal_data import declared_fields
from helpdesk.models import Ticket
from helpdesk.services import open_registration_ticket
from tests.factories import ClinicianFactory, UserFactory

PERSON_FIELD_HINTS = ("email", "phone", "first_name", "last_name", "ip_address", "address", "name")
PERSON_MODELS = {settings.AUTH_USER_MODEL.lower(), "clinicians.clinician"}


def looks_person_related(model: type[models.Model]) -> bool:
    for field in model._meta.get_fields():
        related = getattr(field, "related_model", None)
        if field.concrete and related is not None and related._meta.label_lower in PERSON_MODELS:
            return True
        if (
            field.concrete
            and any(hint in field.name for hint in PERSON_FIELD_HINTS)
            and model._meta.app_label in {"cmss", "clinicians", "helpdesk", "conferences"}
            and model._meta.label_lower
            not in {"clinicians.hospital", "clinicians.ern", "clinicians.language", "clinicians.specialty"}
        ):
            return True
    return False


def test_every_model_that_relates_to_a_person_declares_its_personal_data() -> None:
    undeclared = [
        model._meta.label
        for model in apps.get_models()
        if looks_person_related(model) and declared_fields(model) is None
    ]
    assert undeclared == []


def test_declared_personal_data_fields_exist() -> None:
    for model in apps.get_models():
        names = {field.name for field in model._meta.get_fields()}
        for name in declared_fields(model) or ():
            assert name in names, f"{model._meta.label}.{name} is declared but does not exist"


def test_the_declaration_test_notices_a_new_undeclared_model() -> None:
    class Undeclared(models.Model):
        owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)

        class Meta:
            app_label = "helpdesk"

    assert looks_person_related(Undeclared) and declared_fields(Undeclared) is None
    apps.all_models["helpdesk"].pop("undeclared", None)
    apps.clear_cache()


@pytest.mark.django_db
def test_staff_roles_are_groups_with_the_permissions_defined_in_code() -> None:
    agents = Group.objects.get(name=roles.AGENTS)
    supervisors = Group.objects.get(name=roles.SUPERVISORS)
    agent_perms = {
        f"{p.content_type.app_label}.{p.codename}" for p in agents.permissions.select_related("content_type")
    }
    assert "helpdesk.change_ticket" in agent_perms
    assert "cmss.view_auditevent" not in agent_perms
    assert "clinicians.change_hospital" not in agent_perms
    assert supervisors.permissions.filter(codename="view_auditevent").exists()
    # Syncing again changes nothing; a permission removed by hand comes back.
    agents.permissions.remove(agents.permissions.get(codename="change_ticket"))
    roles.sync_roles()
    roles.sync_roles()
    assert agents.permissions.filter(codename="change_ticket").exists()
    assert Group.objects.filter(name__in=[roles.AGENTS, roles.SUPERVISORS]).count() == 2


@pytest.mark.django_db
def test_reference_data_is_loaded_and_reloading_keeps_supervisor_edits() -> None:
    assert ERN.objects.count() == 24 == len(ERNS)
    assert Hospital.objects.approved().count() >= len(HOSPITALS)
    assert Specialty.objects.filter(kind="nursing").exists()
    assert Language.objects.filter(code="ga").exists()
    current = PrivacyStatement.objects.current()
    assert current is not None and current.version == 1
    ERN.objects.filter(code="ern-eye").update(full_name="Edited by a supervisor")
    load_reference_data()
    load_reference_data()
    assert ERN.objects.count() == 24
    assert ERN.objects.get(code="ern-eye").full_name == "Edited by a supervisor"


@pytest.mark.django_db(transaction=True)
def test_reference_data_survives_the_flush_between_transactional_tests() -> None:
    assert ERN.objects.count() == 24
    assert Group.objects.filter(name=roles.AGENTS).exists()


@pytest.mark.django_db
def test_the_database_allows_one_registration_ticket_per_clinician() -> None:
    clinician = ClinicianFactory.create()
    first = open_registration_ticket(clinician=clinician)
    assert open_registration_ticket(clinician=clinician) == first
    with pytest.raises(IntegrityError):
        Ticket.objects.create(kind="registration", requester=clinician.user, subject="Another")


@pytest.mark.django_db
def test_clinician_status_moves_are_written_once_next_to_the_model() -> None:
    clinician = ClinicianFactory.create(status="registered")
    assert clinician.can_move_to("verified") and clinician.can_move_to("rejected")
    assert not clinician.can_move_to("suspended")
    clinician.status = "verified"
    assert clinician.can_move_to("suspended") and not clinician.can_move_to("registered")
    clinician.status = "rejected"
    assert not any(clinician.can_move_to(status) for status in Clinician.Status.values)


@pytest.mark.django_db
def test_coordinator_rights_are_derived_from_status_and_a_confirmed_reference_centre() -> None:
    clinician = ClinicianFactory.create(status="verified", hospital__is_reference_centre=True)
    assert clinician.is_coordinator
    clinician.hospital_confirmed = False
    assert not clinician.is_coordinator
    clinician.hospital_confirmed = True
    clinician.status = "suspended"
    assert not clinician.is_coordinator
    other = ClinicianFactory.create(status="verified", hospital__is_reference_centre=False)
    assert other.is_verified and not other.is_coordinator


@pytest.mark.django_db
def test_the_audit_log_is_append_only_and_holds_no_personal_data() -> None:
    user = UserFactory.create(email="secret.person@example.org")
    clinician = ClinicianFactory.create(user=user)
    event = audit.record(action="clinician.viewed", actor=user, obj=clinician, subject=user)
    assert (event.actor_id, event.subject_user_id) == (user.pk, user.pk)
    assert (event.object_type, event.object_id) == ("clinicians.clinician", str(clinician.pk))
    values = " ".join(str(value) for value in AuditEvent.objects.values().get().values())
    assert "secret.person" not in values and clinician.last_name not in values
    event.action = "changed"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()


@pytest.mark.django_db
def test_supervisors_read_the_audit_log_filtered_by_actor_and_nobody_edits_it(client: Client) -> None:
    from tests.conftest import sign_in_staff
    from tests.factories import StaffFactory

    supervisor = StaffFactory.create(role="supervisors")
    agent = StaffFactory.create()
    audit.record(action="directory.exported", actor=agent)
    audit.record(action="clinician.viewed", actor=supervisor)
    sign_in_staff(client, supervisor)
    response = client.get(f"/admin/cmss/auditevent/?actor_id={agent.pk}")
    assert response.status_code == 200, response.get("Location")
    page = response.content.decode()
    assert '<td class="field-action">directory.exported</td>' in page
    assert '<td class="field-action">clinician.viewed</td>' not in page
    event = AuditEvent.objects.get(action="directory.exported")
    change = client.post(f"/admin/cmss/auditevent/{event.pk}/change/", {"action": "tampered"})
    assert change.status_code == 403 or AuditEvent.objects.get(pk=event.pk).action == "directory.exported"
    assert client.post(f"/admin/cmss/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk, action="directory.exported").exists()
