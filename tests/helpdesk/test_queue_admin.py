"""The helpdesk's workplace in the admin: two-factor sign-in, the queue, the ticket page."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinicians.models import Clinician
from cmss.models import OutgoingEmail
from helpdesk import services
from helpdesk.models import CannedReply, Ticket, TicketMessage
from tests.factories import PASSWORD, ClinicianFactory, StaffFactory

pytestmark = pytest.mark.django_db


def current_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def question(subject: str = "How do I request a conference?", **kwargs: Any) -> Ticket:
    requester = kwargs.pop("requester", None) or ClinicianFactory.create().user
    return services.open_ticket(kind="question", subject=subject, requester=requester, body="Hello", **kwargs)


# --- Signing in --------------------------------------------------------------------------


def test_a_password_alone_never_reaches_the_admin(client: Client, settings: Any) -> None:
    assert settings.STAFF_MFA_REQUIRED is True  # the production default
    agent = StaffFactory.create()
    response = client.post("/accounts/login/", {"login": agent.email, "password": PASSWORD})
    assert response.status_code == 302
    # Without two-factor set up, the admin sends staff to set it up first.
    for path in ["/admin/", "/admin/helpdesk/ticket/", "/admin/clinicians/clinician/"]:
        page = client.get(path)
        assert page.status_code == 302
        assert page["Location"].startswith("/accounts/2fa/totp/activate/")


def test_staff_with_totp_need_the_code_before_the_admin_opens(client: Client) -> None:
    agent = StaffFactory.create()
    secret = generate_totp_secret()
    TOTP.activate(agent, secret)
    response = client.post("/accounts/login/?next=/admin/", {"login": agent.email, "password": PASSWORD})
    assert response["Location"].startswith("/accounts/2fa/authenticate/")
    assert client.get("/admin/").status_code == 302  # not signed in yet
    assert "login" in client.get("/admin/")["Location"]

    wrong = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert wrong.status_code == 200
    assert client.get("/admin/").status_code == 302

    done = client.post("/accounts/2fa/authenticate/", {"code": current_code(secret)})
    assert done.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_the_admin_login_form_is_allauths(client: Client) -> None:
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_clinicians_are_refused_the_admin(client: Client) -> None:
    client.force_login(ClinicianFactory.create(status="verified").user)
    assert client.get("/admin/login/").status_code == 403
    assert client.get("/admin/").status_code == 302


# --- The queue --------------------------------------------------------------------------


def test_the_queue_lists_active_tickets_most_urgent_first(agent_client: Client) -> None:
    normal = question("Normal question")
    urgent = question("Urgent question", priority="urgent")
    done = question("Answered question")
    services.resolve(ticket=done, by=StaffFactory.create())
    page = agent_client.get("/admin/helpdesk/ticket/").content.decode()
    assert "Helpdesk queue" in page
    assert "Urgent question" in page and "Normal question" in page
    assert "Answered question" not in page  # the default filter shows active tickets
    assert page.index("Urgent question") < page.index("Normal question")
    all_page = agent_client.get("/admin/helpdesk/ticket/?queue=all").content.decode()
    assert "Answered question" in all_page
    assert normal.pk and urgent.pk


def test_overdue_tickets_stand_out_and_can_be_filtered(agent_client: Client) -> None:
    late = question("Late question")
    Ticket.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(hours=1))
    question("Fresh question")
    page = agent_client.get("/admin/helpdesk/ticket/").content.decode()
    assert 'class="due-overdue"' in page
    overdue = agent_client.get("/admin/helpdesk/ticket/?overdue=yes").content.decode()
    assert "Late question" in overdue and "Fresh question" not in overdue


def test_the_queue_filters_mine_unassigned_and_country(agent_client: Client, agent: Any) -> None:
    mine = question("Taken-by-me question")
    services.assign(ticket=mine, to=agent, by=agent)
    question(
        "French-unassigned question",
        requester=ClinicianFactory.create(country="FR", hospital__country="FR").user,
    )
    page = agent_client.get("/admin/helpdesk/ticket/?assignee=mine").content.decode()
    assert "Taken-by-me question" in page and "French-unassigned question" not in page
    unassigned = agent_client.get("/admin/helpdesk/ticket/?assignee=unassigned").content.decode()
    assert "French-unassigned question" in unassigned and "Taken-by-me question" not in unassigned
    french = agent_client.get("/admin/helpdesk/ticket/?country=FR").content.decode()
    assert "French-unassigned question" in french and "Taken-by-me question" not in french


def test_searching_finds_tickets_by_requester_name_and_email(agent_client: Client) -> None:
    clinician = ClinicianFactory.create(first_name="Zsófia", last_name="Horváth")
    services.open_registration_ticket(clinician=clinician)
    question("Unrelated")
    page = agent_client.get("/admin/helpdesk/ticket/?q=Horváth").content.decode()
    assert "Zsófia Horváth" in page and "Unrelated" not in page
    page = agent_client.get(f"/admin/helpdesk/ticket/?q={clinician.user.email}").content.decode()
    assert "Zsófia Horváth" in page


def test_take_next_gives_the_agent_the_most_urgent_unassigned_ticket(
    agent_client: Client, agent: Any
) -> None:
    question("Later")
    urgent = question("Sooner", priority="urgent")
    response = agent_client.post("/admin/helpdesk/ticket/take-next/", follow=True)
    assert response.redirect_chain[-1][0] == f"/admin/helpdesk/ticket/{urgent.pk}/change/"
    assert f"Ticket #{urgent.pk} is yours." in response.content.decode()
    urgent.refresh_from_db()
    assert urgent.assignee == agent and urgent.state == "open"


def test_take_next_on_an_empty_queue_says_so(agent_client: Client) -> None:
    response = agent_client.post("/admin/helpdesk/ticket/take-next/", follow=True)
    assert "The queue is empty" in response.content.decode()


def test_bulk_actions_go_through_services_and_write_events(agent_client: Client, agent: Any) -> None:
    tickets = [question(f"Question {n}") for n in range(3)]
    ids = [ticket.pk for ticket in tickets]
    response = agent_client.post(
        "/admin/helpdesk/ticket/", {"action": "assign_to_me", "_selected_action": ids}, follow=True
    )
    assert "3 tickets assigned to you." in response.content.decode()
    agent_client.post("/admin/helpdesk/ticket/", {"action": "make_urgent", "_selected_action": ids[:1]})
    agent_client.post("/admin/helpdesk/ticket/", {"action": "resolve_selected", "_selected_action": ids[1:]})
    states = dict(Ticket.objects.filter(pk__in=ids).values_list("pk", "state"))
    assert states == {ids[0]: "open", ids[1]: "resolved", ids[2]: "resolved"}
    assert Ticket.objects.get(pk=ids[0]).priority == "urgent"
    first = Ticket.objects.get(pk=ids[0])
    assert [e.action for e in first.events.all()] == ["opened", "assignee", "state", "priority"]
    assert all(Ticket.objects.get(pk=pk).assignee == agent for pk in ids)


def make_tickets(count: int, agent: Any) -> None:
    for n in range(count):
        ticket = services.open_registration_ticket(clinician=ClinicianFactory.create())
        if n % 2:
            services.assign(ticket=ticket, to=agent, by=agent)


def test_the_queue_keeps_the_same_number_of_queries_at_2_and_50_tickets(
    agent_client: Client, agent: Any
) -> None:
    make_tickets(2, agent)
    agent_client.get("/admin/helpdesk/ticket/")  # warm the permission and content-type caches
    with CaptureQueriesContext(connection) as small:
        assert agent_client.get("/admin/helpdesk/ticket/").status_code == 200
    make_tickets(48, agent)
    with CaptureQueriesContext(connection) as large:
        page = agent_client.get("/admin/helpdesk/ticket/")
    assert page.status_code == 200
    assert page.content.decode().count('name="_selected_action"') == 25  # one page of the 50
    assert len(large) == len(small), [q["sql"] for q in large.captured_queries]


def test_the_ticket_page_keeps_the_same_number_of_queries_at_2_and_50_messages(
    agent_client: Client, agent: Any
) -> None:
    ticket = services.open_registration_ticket(clinician=ClinicianFactory.create())
    CannedReply.objects.create(title="Welcome", body="Dear {name}, welcome.")

    def add_messages(count: int) -> None:
        for n in range(count):
            services.add_note(ticket=ticket, body=f"Note {n}", by=agent)

    add_messages(2)
    agent_client.get(f"/admin/helpdesk/ticket/{ticket.pk}/change/")
    with CaptureQueriesContext(connection) as small:
        agent_client.get(f"/admin/helpdesk/ticket/{ticket.pk}/change/")
    add_messages(48)
    with CaptureQueriesContext(connection) as large:
        page = agent_client.get(f"/admin/helpdesk/ticket/{ticket.pk}/change/")
    assert page.content.decode().count("Note ") >= 50
    assert len(large) == len(small), [q["sql"] for q in large.captured_queries]


# --- The ticket page ------------------------------------------------------------------------


def test_the_ticket_page_shows_the_requester_thread_events_and_canned_replies(
    agent_client: Client, agent: Any
) -> None:
    clinician = ClinicianFactory.create(first_name="Marta", last_name="Rossi", phone="+39 02 5550 1001")
    ticket = services.open_registration_ticket(clinician=clinician)
    services.add_note(ticket=ticket, body="Tried to call, no answer.", by=agent)
    canned = CannedReply.objects.create(title="Call back", body="Dear {name}, when can we call you?")
    page = agent_client.get(f"/admin/helpdesk/ticket/{ticket.pk}/change/").content.decode()
    for text in [
        "Marta Rossi",
        "+39 02 5550 1001",
        clinician.user.email,
        "Tried to call, no answer.",
        "Call back",
        "Verify",
        "Reject",
        "opened",
    ]:
        assert text in page
    filled = agent_client.get(
        f"/admin/helpdesk/ticket/{ticket.pk}/change/?canned={canned.pk}"
    ).content.decode()
    assert "Dear Marta Rossi, when can we call you?" in filled


def test_an_agent_replies_and_the_requester_is_emailed(agent_client: Client, agent: Any) -> None:
    ticket = question("Where is the directory?")
    response = agent_client.post(
        f"/admin/helpdesk/ticket/{ticket.pk}/act/reply/",
        {"reply-body": "It opens once you are verified.", "reply-then": "waiting"},
        follow=True,
    )
    assert "Your reply is on its way" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.state == "waiting" and ticket.assignee == agent
    email = OutgoingEmail.objects.get(dedup_key__startswith="ticket-reply:")
    assert ticket.requester is not None
    assert email.to_address == ticket.requester.email
    assert "It opens once you are verified." in email.text_body
    assert f"/helpdesk/{ticket.pk}/" in email.text_body


def test_an_empty_reply_is_refused_next_to_the_field(agent_client: Client) -> None:
    ticket = question()
    response = agent_client.post(
        f"/admin/helpdesk/ticket/{ticket.pk}/act/reply/", {"reply-body": "", "reply-then": "open"}
    )
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not TicketMessage.objects.filter(kind="reply").exists()


def test_verifying_from_the_ticket_emails_the_clinician_and_resolves_the_ticket(agent_client: Client) -> None:
    clinician = ClinicianFactory.create(status="registered")
    ticket = services.open_registration_ticket(clinician=clinician)
    response = agent_client.post(
        f"/admin/helpdesk/ticket/{ticket.pk}/act/verify/",
        {"verify-contact_note": "Called the ICU, confirmed consultant."},
        follow=True,
    )
    assert f"{clinician.full_name} is verified and has been emailed." in response.content.decode()
    clinician.refresh_from_db()
    ticket.refresh_from_db()
    assert clinician.status == Clinician.Status.VERIFIED
    assert ticket.state == "resolved"
    assert OutgoingEmail.objects.filter(
        to_address=clinician.user.email, subject__contains="you are verified"
    ).exists()
    assert "Called the ICU" in ticket.events.get(action="verified").note


def test_rejecting_needs_a_reason(agent_client: Client) -> None:
    clinician = ClinicianFactory.create(status="registered")
    ticket = services.open_registration_ticket(clinician=clinician)
    response = agent_client.post(f"/admin/helpdesk/ticket/{ticket.pk}/act/reject/", {"reject-reason": ""})
    assert response.status_code == 400
    clinician.refresh_from_db()
    assert clinician.status == Clinician.Status.REGISTERED


def test_a_forbidden_state_move_is_explained_to_the_agent(agent_client: Client, agent: Any) -> None:
    ticket = question()
    services.resolve(ticket=ticket, by=agent)
    services.change_state(ticket=ticket, to="closed", by=agent)
    response = agent_client.post(
        f"/admin/helpdesk/ticket/{ticket.pk}/act/state/", {"state-state": "open"}, follow=True
    )
    assert "it cannot become open" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.state == "closed"


def test_agents_suspend_and_reinstate_clinicians_from_the_clinician_list(agent_client: Client) -> None:
    clinician = ClinicianFactory.create(status="verified")
    waiting = ClinicianFactory.create(status="registered")
    agent_client.post(
        "/admin/clinicians/clinician/", {"action": "suspend", "_selected_action": [clinician.pk]}
    )
    clinician.refresh_from_db()
    assert clinician.status == "suspended"
    agent_client.post(
        "/admin/clinicians/clinician/",
        {"action": "reinstate", "_selected_action": [clinician.pk, waiting.pk]},
    )
    clinician.refresh_from_db()
    waiting.refresh_from_db()
    assert clinician.status == "verified"
    assert waiting.status == "registered"  # reinstating never verifies a newcomer
    subjects = list(
        OutgoingEmail.objects.filter(to_address=clinician.user.email).values_list("subject", flat=True)
    )
    assert any("suspended" in s for s in subjects) and any("restored" in s for s in subjects)


# --- Concurrency (PostgreSQL) ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_agents_pressing_take_next_together_never_get_the_same_ticket(postgres: None) -> None:
    agents = [StaffFactory.create() for _ in range(10)]
    requester = ClinicianFactory.create().user
    for n in range(100):
        services.open_ticket(kind="question", subject=f"Q{n}", requester=requester)
    claims: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(agents))
    lock = threading.Lock()

    def work(agent: Any) -> None:
        try:
            barrier.wait()
            while (ticket := services.take_next(agent=agent)) is not None:
                with lock:
                    claims.append((ticket.pk, agent.pk))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(claims) == 100
    assert len({pk for pk, _agent in claims}) == 100
    assert Ticket.objects.filter(assignee__isnull=True).count() == 0
    assert len({agent for _pk, agent in claims}) > 1  # the work really was shared


def test_the_ticket_page_speaks_the_agents_language_panels_included(client: Client) -> None:
    # Panels are registered once when the process starts; their titles and
    # buttons must still follow each agent's language, not the first one's.
    from tests.conftest import sign_in_staff
    from tests.factories import requested_conference

    french = StaffFactory.create(language="fr")
    sign_in_staff(client, french)
    registration = services.open_registration_ticket(clinician=ClinicianFactory.create(status="registered"))
    page = client.get(f"/admin/helpdesk/ticket/{registration.pk}/change/").content.decode()
    assert "Vérifier" in page and "Refuser" in page and "Inscription" in page
    assert ">Verify<" not in page and ">Reject<" not in page

    conference = requested_conference(title="Cas", question="Question ?", case_summary="Résumé.")
    page = client.get(f"/admin/helpdesk/ticket/{conference.ticket_id}/change/").content.decode()
    assert "Demande de conférence" in page and "Approuver et planifier" in page
    assert "Approve and schedule" not in page

    english = StaffFactory.create(language="en")
    sign_in_staff(client, english)
    page = client.get(f"/admin/helpdesk/ticket/{registration.pk}/change/").content.decode()
    assert ">Verify<" in page and "Vérifier" not in page


# --- The lean queue page (helpdesk/queue.py) --------------------------------------------------


def test_the_queue_page_has_the_filters_search_sorting_actions_and_pager_an_agent_uses(
    agent_client: Client,
) -> None:
    for n in range(30):
        question(f"Question {n:02d}")
    page = agent_client.get("/admin/helpdesk/ticket/?q=Question").content.decode()
    # The six filters, each with its choices as links.
    for title in ["By state", "By kind", "By priority", "By assignee", "By service level", "By country"]:
        assert title in page
    assert '<a href="?q=Question&amp;queue=all">All</a>' in page
    assert '<a href="?kind__exact=question&amp;q=Question">Question</a>' in page
    assert '<a href="?country=PT&amp;q=Question">Portugal</a>' in page
    # The search box keeps the query; the sortable headers link to ?o=.
    assert 'name="q" value="Question" id="searchbar"' in page
    assert '<a href="?o=1.9&amp;q=Question">Ticket</a>' in page
    assert 'class="sortable column-due sorted ascending"' in page
    # The actions, the select-all box and one checkbox per row of the first page.
    assert '<option value="assign_to_me">Assign to me</option>' in page
    assert '<input type="checkbox" id="action-toggle"' in page
    assert page.count('name="_selected_action"') == 25
    assert '<span class="action-counter" data-actions-icnt="25">0 of 25 selected</span>' in page
    assert '<a href="?p=2&amp;q=Question" class="end">2</a>' in page and "30 tickets" in page
    second = agent_client.get("/admin/helpdesk/ticket/?q=Question&p=2").content.decode()
    assert second.count('name="_selected_action"') == 5


def test_the_queue_sorts_by_the_column_the_agent_chooses(agent_client: Client) -> None:
    first, second = question("First asked"), question("Second asked")
    newest_first = agent_client.get("/admin/helpdesk/ticket/?o=-1").content.decode()
    assert newest_first.index("Second asked") < newest_first.index("First asked")
    oldest_first = agent_client.get("/admin/helpdesk/ticket/?o=1").content.decode()
    assert oldest_first.index("First asked") < oldest_first.index("Second asked")
    assert first.pk < second.pk


def test_the_queue_rows_show_what_the_agent_needs(agent_client: Client, agent: Any) -> None:
    requester = ClinicianFactory.create(
        first_name="Ana", last_name="Sousa", country="PT", hospital__country="PT"
    )
    ticket = question("Is <b>this</b> escaped?", requester=requester.user, priority="urgent")
    services.assign(ticket=ticket, to=agent, by=agent)
    page = agent_client.get("/admin/helpdesk/ticket/").content.decode()
    row = page[page.index(f'value="{ticket.pk}"') :]
    row = row[: row.index("</tr>")]
    assert (
        f'<a href="/admin/helpdesk/ticket/{ticket.pk}/change/">Is &lt;b&gt;this&lt;/b&gt; escaped?</a>' in row
    )
    for cell in [
        f'<td class="field-number">{ticket.number}</td>',
        '<td class="field-kind">Question</td>',
        '<td class="field-requester_name">Ana Sousa</td>',
        '<td class="field-country">PT</td>',
        '<td class="field-state">open</td>',
        '<td class="field-priority">urgent</td>',
        f'<td class="field-assignee nowrap">{agent.email}</td>',
    ]:
        assert cell in row
    assert "<b>this</b>" not in page


def test_a_bad_filter_value_is_explained_not_a_server_error(agent_client: Client) -> None:
    response = agent_client.get("/admin/helpdesk/ticket/?priority__exact=x&nonsense=1")
    assert response.status_code == 302 and response["Location"].endswith("?e=1")
    assert agent_client.get(response["Location"]).status_code == 200


def test_the_raw_id_lookup_of_tickets_is_still_the_stock_popup(agent_client: Client) -> None:
    question("Looked up")
    page = agent_client.get("/admin/helpdesk/ticket/?_popup=1&_to_field=id").content.decode()
    assert "Looked up" in page and 'name="_popup"' in page


def test_the_queue_names_countries_in_each_agents_language(client: Client) -> None:
    # The country filter's names are kept per language (helpdesk.admin._country_lookups).
    from tests.conftest import sign_in_staff

    sign_in_staff(client, StaffFactory.create(language="de"))
    german = client.get("/admin/helpdesk/ticket/").content.decode()
    assert ">Deutschland</a>" in german and ">Germany</a>" not in german
    sign_in_staff(client, StaffFactory.create(language="en"))
    english = client.get("/admin/helpdesk/ticket/").content.decode()
    assert ">Germany</a>" in english and ">Deutschland</a>" not in english


def test_a_clinician_or_a_signed_out_visitor_never_sees_the_queue(client: Client) -> None:
    question("Private question")
    assert client.get("/admin/helpdesk/ticket/").status_code == 302
    client.force_login(ClinicianFactory.create(status="verified").user)
    response = client.get("/admin/helpdesk/ticket/")
    assert response.status_code == 302 and "Private question" not in response.content.decode()


def test_the_ticket_page_forms_keep_their_labels_and_choices(agent_client: Client) -> None:
    # helpdesk/rendering.py writes labels, empty error lists and selects in Python.
    ticket = question("Labels?")
    page = agent_client.get(f"/admin/helpdesk/ticket/{ticket.pk}/change/").content.decode()
    assert '<label for="id_reply-then">After sending:</label>' in page
    assert '<select name="reply-then" id="id_reply-then">' in page
    assert '<option value="waiting" selected>then wait for the requester</option>' in page
    assert '<label for="id_priority-priority">Priority:</label>' in page
    assert '<option value="normal" selected>' in page
    assert 'class="errorlist"' not in page
    refused = agent_client.post(f"/admin/helpdesk/ticket/{ticket.pk}/act/reply/", {"reply-then": "nonsense"})
    assert refused.status_code == 400
    assert 'class="errorlist"' in refused.content.decode()


def test_the_conference_ticket_page_checks_its_actions_in_one_query(agent_client: Client) -> None:
    from tests.factories import requested_conference

    conference = requested_conference(title="Case", question="What now?", case_summary="Summary.")
    url = f"/admin/helpdesk/ticket/{conference.ticket_id}/change/"
    agent_client.get(url)
    with CaptureQueriesContext(connection) as queries:
        page = agent_client.get(url).content.decode()
    assert "Approve and schedule" in page and "Decline the request" in page
    assert "Move to another time" not in page  # only once scheduled
    sql = [q["sql"] for q in queries.captured_queries if 'FROM "conferences_conference"' in q["sql"]]
    # The eight actions' availability: one query (it was one each), then the approve
    # form's conference and the panel's.
    assert len([q for q in sql if "EXISTS" in q]) == 1
    assert len(sql) == 3, [q[:120] for q in sql]


def test_the_ticket_pages_canned_replies_follow_the_admin_at_once(agent_client: Client) -> None:
    # helpdesk.services.canned_replies is cached for every agent (topic "canned_replies").
    from tests.conftest import sign_in_staff

    supervisor = sign_in_staff(Client(), StaffFactory.create(role="supervisors"))
    ticket = question("Canned?")
    page = f"/admin/helpdesk/ticket/{ticket.pk}/change/"
    assert "Canned replies:" not in agent_client.get(page).content.decode()
    supervisor.post(
        "/admin/helpdesk/cannedreply/add/", {"title": "Call us back", "body": "Dear {name},", "active": "on"}
    )
    reply = CannedReply.objects.get(title="Call us back")
    assert f'?canned={reply.pk}#id_reply-body">Call us back</a>' in agent_client.get(page).content.decode()
    supervisor.post(
        f"/admin/helpdesk/cannedreply/{reply.pk}/change/",
        {"title": "Call us later", "body": "Dear {name},", "active": "on"},
    )
    assert ">Call us later</a>" in agent_client.get(page).content.decode()
    supervisor.post(
        f"/admin/helpdesk/cannedreply/{reply.pk}/change/", {"title": "Call us later", "body": "Dear {name},"}
    )
    assert "Canned replies:" not in agent_client.get(page).content.decode()  # no longer active


def test_the_ticket_page_shows_the_requesters_languages_and_erns_as_they_are_now(
    agent_client: Client, agent: Any
) -> None:
    from clinicians import services as clinicians
    from clinicians.models import ERN, Language

    clinician = ClinicianFactory.create()  # speaks English and French, in no ERN
    ticket = services.open_ticket(kind=Ticket.Kind.QUESTION, subject="Access", requester=clinician.user)
    page = agent_client.get(f"/admin/helpdesk/ticket/{ticket.pk}/change/").content.decode()
    assert "<dt>Languages</dt><dd>English, French</dd>" in page
    assert "<dt>ERNs</dt><dd>—</dd>" in page
    # The helpdesk corrects the profile: the next view of the ticket shows it.
    clinicians.correct_profile(
        clinician=clinician,
        data={
            "first_name": clinician.first_name,
            "last_name": clinician.last_name,
            "phone": clinician.phone,
            "country": clinician.country,
            "hospital": clinician.hospital,
            "profession": clinician.profession,
            "specialty": clinician.specialty,
            "languages": list(Language.objects.filter(code__in=["de", "en"])),
            "erns": list(ERN.objects.filter(code__in=["ern-lung", "ern-bond"])),
        },
        by=agent,
    )
    erns = ", ".join(
        ERN.objects.filter(code__in=["ern-lung", "ern-bond"]).order_by("name").values_list("name", flat=True)
    )
    page = agent_client.get(f"/admin/helpdesk/ticket/{ticket.pk}/change/").content.decode()
    assert "<dt>Languages</dt><dd>English, German</dd>" in page
    assert f"<dt>ERNs</dt><dd>{erns}</dd>" in page and "," in erns
