"""Every changelist the helpdesk works in keeps the same number of queries at 2 and 50 rows,
and opening a person's record in the admin is audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clinicians.models import Hospital
from cmss import audit, outbox
from cmss.models import AuditEvent
from helpdesk import services as helpdesk
from tests.conftest import sign_in_staff
from tests.factories import ClinicianFactory, HospitalFactory, StaffFactory

pytestmark = pytest.mark.django_db


def make_clinicians(n: int) -> None:
    ClinicianFactory.create_batch(n)


def make_emails(n: int) -> None:
    for i in range(n):
        outbox.queue_email(
            to=f"p{i}@example.org", subject="Hello", text="x", user=ClinicianFactory.create().user
        )


def make_audit_events(n: int) -> None:
    for _ in range(n):
        audit.record(action="clinician.viewed", actor=StaffFactory.create(), obj=ClinicianFactory.create())


def make_messages(n: int) -> None:
    agent = StaffFactory.create()
    for _ in range(n):
        helpdesk.add_note(
            ticket=helpdesk.open_question(requester=ClinicianFactory.create().user, subject="Q", body="B"),
            body="n",
            by=agent,
        )


def make_hospitals(n: int) -> None:
    HospitalFactory.create_batch(n, approved=False, proposed_by=ClinicianFactory.create().user)


def make_provider_meetings(n: int) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from conferences.meetings import pipeline as meetings

    start = timezone.now() + timedelta(days=2)
    for _ in range(n):
        meetings.request_meeting(
            key=f"m-{ClinicianFactory.create().pk}", title="Case", start=start, end=start, time_zone="UTC"
        )


def make_conferences(n: int) -> None:
    from conferences.models import Conference, ProviderMeeting

    make_provider_meetings(n)
    for meeting in ProviderMeeting.objects.filter(conference__isnull=True)[:n]:
        Conference.objects.create(
            hospital=HospitalFactory.create(is_reference_centre=True),
            requested_by=ClinicianFactory.create().user,
            title="Case",
            question="Q",
            case_summary="S",
            time_zone="UTC",
            state=Conference.State.SCHEDULED,
            start=meeting.start,
            meeting=meeting,
            ticket=helpdesk.open_question(requester=ClinicianFactory.create().user, subject="C", body="B"),
        )


def make_webinars(n: int) -> None:
    from conferences.webinars import services as webinars
    from tests.factories import WebinarFactory

    for _ in range(n):
        webinar = WebinarFactory.create(state="published", capacity=1)
        for _ in range(2):  # a seat taken, one on the waitlist
            webinars.register(webinar=webinar, clinician=ClinicianFactory.create(status="verified"))


def make_acceptances(n: int) -> None:
    from clinicians.models import PrivacyAcceptance, PrivacyStatement

    statement = PrivacyStatement.objects.order_by("-version").first()
    assert statement is not None
    for _ in range(n):
        PrivacyAcceptance.objects.get_or_create(user=ClinicianFactory.create().user, statement=statement)


CHANGELISTS: dict[str, Callable[[int], None]] = {
    "/admin/conferences/webinar/": make_webinars,
    "/admin/conferences/registration/": make_webinars,
    "/admin/clinicians/privacyacceptance/": make_acceptances,
    "/admin/conferences/providermeeting/": make_provider_meetings,
    "/admin/conferences/conference/": make_conferences,
    "/admin/clinicians/clinician/": make_clinicians,
    "/admin/cmss/outgoingemail/": make_emails,
    "/admin/cmss/auditevent/": make_audit_events,
    "/admin/helpdesk/ticketmessage/": make_messages,
    "/admin/clinicians/hospital/": make_hospitals,
    "/admin/cmss/user/": make_clinicians,
}


@pytest.mark.parametrize("path", list(CHANGELISTS))
def test_the_changelist_keeps_the_same_number_of_queries_at_2_and_50_rows(client: Client, path: str) -> None:
    sign_in_staff(client, StaffFactory.create(role="supervisors", is_superuser=True))
    CHANGELISTS[path](2)
    client.get(path)
    with CaptureQueriesContext(connection) as small:
        assert client.get(path).status_code == 200
    CHANGELISTS[path](48)
    # Once more first: the rows made may be reference data (a webinar's language and
    # ERNs) whose cached filter choices the first page after the change builds again.
    client.get(path)
    with CaptureQueriesContext(connection) as large:
        assert client.get(path).status_code == 200
    assert len(large) == len(small), [q["sql"][:200] for q in large.captured_queries]


def test_opening_a_clinician_record_or_a_ticket_in_the_admin_is_audited(client: Client) -> None:
    agent = StaffFactory.create()
    sign_in_staff(client, agent)
    clinician = ClinicianFactory.create()
    ticket = helpdesk.open_registration_ticket(clinician=clinician)
    client.get(f"/admin/clinicians/clinician/{clinician.pk}/change/")
    client.get(f"/admin/helpdesk/ticket/{ticket.pk}/change/")
    actions = set(
        AuditEvent.objects.filter(actor_id=agent.pk, subject_user_id=clinician.user_id).values_list(
            "action", flat=True
        )
    )
    assert actions == {"clinician.viewed", "ticket.viewed"}
    assert Hospital.objects.exists()


def test_a_supervisor_cannot_grant_themselves_superuser_or_change_sign_in_addresses(client: Client) -> None:
    supervisor = StaffFactory.create(role="supervisors")
    sign_in_staff(client, supervisor)
    clinician = ClinicianFactory.create()
    client.post(
        f"/admin/cmss/user/{supervisor.pk}/change/",
        {
            "email": supervisor.email,
            "display_name": "Me",
            "time_zone": "Europe/Brussels",
            "language": "en",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
        },
    )
    client.post(
        f"/admin/cmss/user/{clinician.user.pk}/change/",
        {
            "email": "attacker@example.org",
            "display_name": "",
            "time_zone": "Europe/Brussels",
            "language": "en",
            "is_active": "on",
        },
    )
    supervisor.refresh_from_db()
    clinician.user.refresh_from_db()
    assert supervisor.is_superuser is False
    assert clinician.user.email != "attacker@example.org"


def test_nobody_reads_password_reset_links_in_the_outbox(client: Client) -> None:
    clinician = ClinicianFactory.create()
    Client().post("/accounts/password/reset/", {"email": clinician.user.email})
    email = outbox_rows_to(clinician.user.email)
    assert "/accounts/password/reset/key/" in email.text_body
    sign_in_staff(client, StaffFactory.create(role="supervisors"))
    page = client.get(f"/admin/cmss/outgoingemail/{email.pk}/change/").content.decode()
    assert "/accounts/password/reset/key/" not in page


def outbox_rows_to(address: str) -> Any:
    from cmss.models import OutgoingEmail

    return OutgoingEmail.objects.filter(to_address=address).latest("pk")


@pytest.mark.parametrize(
    "path",
    [
        "/admin/helpdesk/ticket/abc/change/",
        "/admin/helpdesk/ticket/1/change/?canned=%C2%B2",
        "/admin/clinicians/clinician/%C2%B2/change/",
    ],
)
def test_odd_addresses_in_the_admin_are_not_server_errors(client: Client, path: str) -> None:
    sign_in_staff(client, StaffFactory.create())
    helpdesk.open_question(requester=ClinicianFactory.create().user, subject="Q", body="B")
    assert client.get(path).status_code < 500


def test_the_webinars_list_counts_each_webinars_seats_and_waitlist(agent_client: Client) -> None:
    make_webinars(2)
    page = agent_client.get("/admin/conferences/webinar/").content.decode()
    assert page.count('<td class="field-seats">1 / 1</td>') == 2
    assert page.count('<td class="field-waiting">1</td>') == 2
