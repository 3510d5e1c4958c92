"""The admin's change forms of clinicians, hospitals and privacy statements save through the
clinicians services: the directory keeps finding people, duplicates are refused, flags and
corrections are audited, and a published privacy statement never changes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from clinicians import services
from clinicians.models import Hospital, PrivacyStatement
from cmss.models import AuditEvent
from helpdesk.models import Ticket
from tests.conftest import sign_in_staff
from tests.factories import ClinicianFactory, HospitalFactory, StaffFactory
from tests.forms import form_as_posted

pytestmark = pytest.mark.django_db


def form_data(client: Client, url: str) -> dict[str, Any]:
    model_name = url.split("/")[3]
    return form_as_posted(client, url, f"{model_name}_form")


def audited(obj: Any) -> set[str]:
    return set(
        AuditEvent.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))
        .exclude(action="clinician.viewed")
        .values_list("action", flat=True)
    )


# --- Clinicians ----------------------------------------------------------------------------------


def test_an_agent_corrects_a_last_name_and_the_directory_finds_the_new_one(
    agent_client: Client, agent: Any
) -> None:
    clinician = ClinicianFactory.create(
        status="verified", first_name="Maria", last_name="Szmitt", country="BE"
    )
    clinician.user.time_zone, clinician.user.language = "Europe/Lisbon", "fr"
    clinician.user.save()
    url = f"/admin/clinicians/clinician/{clinician.pk}/change/"
    data = {**form_data(agent_client, url), "last_name": "Schmitt"}
    assert agent_client.post(url, data).status_code == 302

    viewer = Client()
    viewer.force_login(ClinicianFactory.create(status="verified").user)
    found = [entry.full_name for entry in viewer.get("/directory/", {"q": "schmitt"}).context["entries"]]
    assert found == ["Maria Schmitt"]
    assert viewer.get("/directory/", {"q": "szmitt"}).context["entries"] == []
    event = AuditEvent.objects.get(action__startswith="clinician.corrected")
    assert (event.action, event.actor_id, event.subject_user_id) == (
        "clinician.corrected.last_name",
        agent.pk,
        clinician.user_id,
    )
    clinician.user.refresh_from_db()
    # The helpdesk corrects the profile; the person's own preferences stay.
    assert (clinician.user.time_zone, clinician.user.language) == ("Europe/Lisbon", "fr")


def test_the_admin_form_cannot_lift_a_restriction_or_confirm_a_hospital(agent_client: Client) -> None:
    clinician = ClinicianFactory.create(status="verified", restricted=True, hospital_confirmed=False)
    url = f"/admin/clinicians/clinician/{clinician.pk}/change/"
    data = form_data(agent_client, url)
    data.pop("restricted", None)
    agent_client.post(url, {**data, "hospital_confirmed": "on", "show_phone": "on"})
    clinician.refresh_from_db()
    assert (clinician.restricted, clinician.hospital_confirmed, clinician.show_phone) == (True, False, False)


def test_a_hospital_corrected_by_an_agent_waits_for_confirmation(agent_client: Client) -> None:
    clinician = ClinicianFactory.create(status="verified", hospital_confirmed=True)
    other = HospitalFactory.create(is_reference_centre=True)
    url = f"/admin/clinicians/clinician/{clinician.pk}/change/"
    agent_client.post(url, {**form_data(agent_client, url), "hospital": other.pk})
    clinician.refresh_from_db()
    assert clinician.hospital == other and clinician.hospital_confirmed is False
    assert Ticket.objects.filter(kind=Ticket.Kind.HOSPITAL_CHANGE, requester=clinician.user).exists()
    assert audited(clinician) == {"clinician.corrected.hospital"}


def test_nobody_adds_a_clinician_in_the_admin(client: Client) -> None:
    sign_in_staff(client, StaffFactory.create(role="supervisors", is_superuser=True))
    assert client.get("/admin/clinicians/clinician/add/").status_code == 403


# --- Hospitals -----------------------------------------------------------------------------------


def test_a_supervisor_cannot_add_a_hospital_already_listed_in_another_case(supervisor_client: Client) -> None:
    before = Hospital.objects.count()
    response = supervisor_client.post(
        "/admin/clinicians/hospital/add/",
        {"name": "  charité – universitätsmedizin BERLIN", "city": "berlin", "country": "DE"},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["name"] == ["Charité – Universitätsmedizin Berlin, Berlin is already in the list."]
    assert Hospital.objects.count() == before


def test_a_supervisor_adds_a_reference_centre_and_the_flag_is_audited(supervisor_client: Client) -> None:
    response = supervisor_client.post(
        "/admin/clinicians/hospital/add/",
        {"name": "Clinique Saint-Pierre", "city": "Ottignies", "country": "BE", "is_reference_centre": "on"},
    )
    assert response.status_code == 302
    hospital = Hospital.objects.get(name="Clinique Saint-Pierre")
    assert hospital.approved is True and hospital.is_reference_centre is True
    assert audited(hospital) == {"hospital.added", "hospital.reference_centre_set"}

    url = f"/admin/clinicians/hospital/{hospital.pk}/change/"
    data = form_data(supervisor_client, url)
    data.pop("is_reference_centre")
    supervisor_client.post(url, data)
    hospital.refresh_from_db()
    assert hospital.is_reference_centre is False
    assert "hospital.reference_centre_cleared" in audited(hospital)


def test_approved_is_not_a_checkbox_and_approving_checks_for_duplicates(supervisor_client: Client) -> None:
    proposer = ClinicianFactory.create().user
    copy = HospitalFactory.create(
        name="CHARITÉ – UNIVERSITÄTSMEDIZIN BERLIN", city="BERLIN", country="DE", approved=False
    )
    new = HospitalFactory.create(
        name="Klinikum Nord", city="Hamburg", country="DE", approved=False, proposed_by=proposer
    )
    url = f"/admin/clinicians/hospital/{copy.pk}/change/"
    supervisor_client.post(url, {**form_data(supervisor_client, url), "approved": "on"})
    copy.refresh_from_db()
    assert copy.approved is False

    response = supervisor_client.post(
        "/admin/clinicians/hospital/",
        {"action": "approve_selected", "_selected_action": [copy.pk, new.pk]},
        follow=True,
    )
    text = response.content.decode()
    assert "is already in the list: merge into it instead." in text
    assert "1 hospital approved." in text
    copy.refresh_from_db()
    new.refresh_from_db()
    assert (copy.approved, new.approved) == (False, True)
    assert audited(new) == {"hospital.approved"}


def test_approving_ignores_case_when_it_looks_for_a_listed_copy(supervisor: Any) -> None:
    copy = HospitalFactory.create(name="hospital de santa maria", city="LISBON", country="PT", approved=False)
    with pytest.raises(services.ClinicianError):
        services.approve_hospital(hospital=copy, by=supervisor)


# --- Privacy statements --------------------------------------------------------------------------


def test_a_published_privacy_statement_cannot_be_edited_or_deleted(client: Client) -> None:
    current = PrivacyStatement.objects.current()
    assert current is not None
    sign_in_staff(client, StaffFactory.create(role="supervisors", is_superuser=True))
    url = f"/admin/clinicians/privacystatement/{current.pk}/change/"
    response = client.post(url, {"version": current.version, "title": "Changed", "body": "Nothing."})
    assert response.status_code == 403
    assert client.get(f"/admin/clinicians/privacystatement/{current.pk}/delete/").status_code == 403
    assert (
        client.post(f"/admin/clinicians/privacystatement/{current.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    client.post(
        "/admin/clinicians/privacystatement/",
        {"action": "delete_selected", "_selected_action": [current.pk], "post": "yes"},
    )
    current.refresh_from_db()
    assert current.title != "Changed" and current.body != "Nothing."


def test_a_draft_is_written_then_published_and_frozen(supervisor_client: Client, supervisor: Any) -> None:
    current = PrivacyStatement.objects.current()
    assert current is not None
    version = current.version + 1
    response = supervisor_client.post(
        "/admin/clinicians/privacystatement/add/",
        {"version": version, "title": "Privacy statement", "body": "## Who\n\nDG SANTE."},
    )
    assert response.status_code == 302
    draft = PrivacyStatement.objects.get(version=version)
    assert draft.published_at is None and PrivacyStatement.objects.current() == current
    url = f"/admin/clinicians/privacystatement/{draft.pk}/change/"
    supervisor_client.post(
        url, {"version": version, "title": "Privacy statement", "body": "## Who\n\nDG SANTE, B3."}
    )
    draft.refresh_from_db()
    assert draft.body.endswith("B3.")

    response = supervisor_client.post(
        "/admin/clinicians/privacystatement/",
        {"action": "publish_selected", "_selected_action": [draft.pk]},
        follow=True,
    )
    assert f"Version {version} is published." in response.content.decode()
    assert PrivacyStatement.objects.current() == draft
    assert audited(draft) == {"privacy_statement.saved", "privacy_statement.published"}
    assert supervisor_client.post(url, {"version": version, "title": "x", "body": "y"}).status_code == 403


def test_a_draft_numbered_below_the_published_version_is_not_published(supervisor: Any) -> None:
    current = PrivacyStatement.objects.current()
    assert current is not None
    draft = PrivacyStatement.objects.create(version=current.version + 10, title="T", body="B")
    services.publish_privacy_statement(statement=draft, by=supervisor)
    older = PrivacyStatement.objects.create(version=current.version + 5, title="T", body="B")
    with pytest.raises(services.ClinicianError, match="give the draft a higher version number"):
        services.publish_privacy_statement(statement=older, by=supervisor)
