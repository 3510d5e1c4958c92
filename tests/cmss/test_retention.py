"""Retention periods are applied on a schedule (tested with a fixed 'now')."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from clinicians.models import Clinician
from cmss import audit, outbox
from cmss.models import AuditEvent, OutgoingEmail, RetentionPolicy, User
from cmss.tasks import apply_retention
from helpdesk import services as helpdesk
from helpdesk.models import Ticket, TicketMessage
from tests.conftest import sign_in_staff
from tests.factories import ClinicianFactory, StaffFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def days_ago(days: int) -> Any:
    return NOW - timedelta(days=days)


def run(now: Any = NOW) -> dict[str, int]:
    from cmss import retention

    return retention.apply(now=now)


def test_the_default_periods_are_the_ones_for_the_dpo_to_confirm() -> None:
    policy = RetentionPolicy.load()
    assert (
        policy.unconfirmed_signups_days,
        policy.rejected_registrations_days,
        policy.closed_ticket_text_days,
        policy.case_summaries_days,
        policy.sent_emails_days,
        policy.audit_events_days,
    ) == (7, 183, 730, 365, 365, 1826)
    assert policy.confirmed_by_dpo is False


def test_unconfirmed_sign_ups_go_after_7_days() -> None:
    old = ClinicianFactory.create(email_confirmed_at=None, created_at=days_ago(8))
    recent = ClinicianFactory.create(email_confirmed_at=None, created_at=days_ago(6))
    confirmed = ClinicianFactory.create(created_at=days_ago(30))
    assert run()["unconfirmed sign-ups"] == 1
    assert not User.objects.filter(pk=old.user_id).exists()
    assert Clinician.objects.filter(pk__in=[recent.pk, confirmed.pk]).count() == 2


def test_rejected_registrations_go_after_6_months() -> None:
    old = ClinicianFactory.create(status="rejected", status_changed_at=days_ago(184))
    recent = ClinicianFactory.create(status="rejected", status_changed_at=days_ago(100))
    run()
    assert not Clinician.objects.filter(pk=old.pk).exists()
    assert Clinician.objects.filter(pk=recent.pk).exists()


def test_the_text_of_tickets_closed_2_years_ago_goes_and_the_ticket_stays() -> None:
    agent = StaffFactory.create()

    def closed_ticket(days: int) -> Ticket:
        ticket = helpdesk.open_question(
            requester=ClinicianFactory.create().user, subject="About patient care", body="Details"
        )
        helpdesk.resolve(ticket=ticket, by=agent)
        helpdesk.change_state(ticket=ticket, to="closed", by=agent)
        Ticket.objects.filter(pk=ticket.pk).update(updated_at=days_ago(days))
        return ticket

    old, recent = closed_ticket(731), closed_ticket(700)
    assert run()["closed ticket text"] == 1
    old.refresh_from_db()
    assert old.subject == "[erased] Question" and old.state == "closed"
    assert set(TicketMessage.objects.filter(ticket=old).values_list("body", flat=True)) == {"[erased]"}
    assert TicketMessage.objects.get(ticket=recent).body == "Details"


def test_sent_emails_go_after_a_year_but_never_unsent_ones() -> None:
    old = outbox.queue_email(to="a@example.org", subject="Old", text="x")
    waiting = outbox.queue_email(to="b@example.org", subject="Waiting", text="x")
    recent = outbox.queue_email(to="c@example.org", subject="Recent", text="x")
    OutgoingEmail.objects.filter(pk=old.pk).update(state="sent", created_at=days_ago(366))
    OutgoingEmail.objects.filter(pk=waiting.pk).update(created_at=days_ago(400))
    OutgoingEmail.objects.filter(pk=recent.pk).update(state="sent", created_at=days_ago(300))
    run()
    assert set(OutgoingEmail.objects.values_list("subject", flat=True)) == {"Waiting", "Recent"}


def test_audit_events_go_after_5_years() -> None:
    old = audit.record(action="old")
    recent = audit.record(action="recent")
    AuditEvent.objects.filter(pk=old.pk).update(at=days_ago(1827))
    AuditEvent.objects.filter(pk=recent.pk).update(at=days_ago(1800))
    run()
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["recent"]


def test_supervisors_change_the_periods_and_the_task_uses_them(client: Client) -> None:
    sign_in_staff(client, StaffFactory.create(role="supervisors"))
    policy = RetentionPolicy.load()
    data = {
        field: getattr(policy, field)
        for field in [
            "unconfirmed_signups_days",
            "rejected_registrations_days",
            "closed_ticket_text_days",
            "case_summaries_days",
            "provider_meetings_days",
            "sent_emails_days",
            "audit_events_days",
        ]
    }
    data.update(audit_events_days=30, confirmed_by_dpo="on")
    response = client.post(f"/admin/cmss/retentionpolicy/{policy.pk}/change/", data)
    assert response.status_code == 302
    event = audit.record(action="month old")
    AuditEvent.objects.filter(pk=event.pk).update(at=timezone.now() - timedelta(days=31))
    assert apply_retention()["audit events"] >= 1
    assert not AuditEvent.objects.filter(action="month old").exists()


def test_an_agent_restricts_processing_on_a_data_protection_request(client: Client) -> None:
    clinician = ClinicianFactory.create(status="verified", last_name="Restrictme")
    viewer = ClinicianFactory.create(status="verified")
    ticket = helpdesk.open_ticket(kind="data_protection", subject="Please restrict", requester=clinician.user)
    agent_client = sign_in_staff(Client(), StaffFactory.create())
    done = agent_client.post(f"/admin/helpdesk/ticket/{ticket.pk}/act/restrict/", follow=True)
    assert "is restricted" in done.content.decode()
    client.force_login(viewer.user)
    assert "Restrictme" not in client.get("/directory/").content.decode()
    assert AuditEvent.objects.filter(
        action="clinician.restricted", subject_user_id=clinician.user_id
    ).exists()
    agent_client.post(f"/admin/helpdesk/ticket/{ticket.pk}/act/lift_restriction/")
    assert "Restrictme" in client.get("/directory/").content.decode()


def test_the_ticket_text_purge_scrubs_ticket_rows_in_one_update_however_many_there_are() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    agent = StaffFactory.create()

    def closed(count: int) -> int:
        for _ in range(count):
            ticket = helpdesk.open_question(
                requester=ClinicianFactory.create().user, subject="About patient care", body="Details"
            )
            helpdesk.resolve(ticket=ticket, by=agent)
            helpdesk.change_state(ticket=ticket, to="closed", by=agent)
        Ticket.objects.filter(state="closed").update(updated_at=days_ago(731))
        with CaptureQueriesContext(connection) as queries:
            assert helpdesk.purge_closed_ticket_text(RetentionPolicy.load(), NOW) == count
        return sum(1 for query in queries if query["sql"].startswith('UPDATE "helpdesk_ticket"'))

    assert closed(2) == closed(10) == 1
    assert set(Ticket.objects.values_list("subject", flat=True)) == {"[erased] Question"}
