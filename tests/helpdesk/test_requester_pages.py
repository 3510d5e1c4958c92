"""The requester's side of the helpdesk: their tickets, new questions, replies,
the public contact form and the signed links sent to people without an account."""

from __future__ import annotations

import html
import re
import time
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from cmss.models import OutgoingEmail
from helpdesk import services
from helpdesk.models import Ticket, TicketMessage
from tests import factories

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"


# --- Helpers ---------------------------------------------------------------------------


def signed_in(clinician: Any) -> Client:
    client = Client()
    client.force_login(clinician.user)
    return client


def page_text(response: Any) -> str:
    return response.content.decode()


def field_errors(response: Any, field: str) -> str:
    """The errors shown next to a field (empty when there are none)."""
    match = re.search(rf'<ul class="errors" id="id_{field}_error">(.*?)</ul>', page_text(response), re.S)
    return html.unescape(match.group(1)) if match else ""


def question(requester: Any, subject: str = "How do I change my hospital?", **kwargs: Any) -> Ticket:
    kwargs.setdefault("body", "I moved to another hospital last month.")
    return services.open_ticket(kind=Ticket.Kind.QUESTION, subject=subject, requester=requester, **kwargs)


def contact_question(
    email: str = "jo.peeters@example.org", subject: str = "Access to the directory"
) -> Ticket:
    return services.open_contact_question(
        name="Jo Peeters", email=email, subject=subject, body="Can a nurse be listed too?"
    )


def contact_data(**overrides: str) -> dict[str, str]:
    data = {
        "name": "Jo Peeters",
        "email": "jo.peeters@example.org",
        "kind": "question",
        "subject": "Access to the directory",
        "body": "Can a nurse be listed too?",
    }
    data.update(overrides)
    return data


def link_path(ticket: Ticket) -> str:
    return f"/helpdesk/t/{services.ticket_token(ticket)}/"


def link_in(email: OutgoingEmail) -> str:
    match = re.search(r"http://testserver(/helpdesk/t/[^/\s]+/)", email.text_body)
    assert match, email.text_body
    return match.group(1)


def assert_not_cached(response: Any) -> None:
    cache_control = response.get("Cache-Control", "")
    assert "no-store" in cache_control or "no-cache" in cache_control, cache_control


# --- /helpdesk/: my requests -------------------------------------------------------------


def test_a_visitor_is_sent_to_sign_in_for_the_helpdesk_pages(client: Client, registered: Any) -> None:
    ticket = question(registered.user)
    for url in ["/helpdesk/", "/helpdesk/new/", f"/helpdesk/{ticket.pk}/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
        assert url in response["Location"]


def test_my_requests_lists_subject_state_and_last_activity(registered: Any) -> None:
    ticket = question(registered.user, subject="Where is the case conference list?")
    Ticket.objects.filter(pk=ticket.pk).update(
        state=Ticket.State.WAITING, updated_at=timezone.make_aware(datetime(2025, 3, 4, 10, 30))
    )

    response = signed_in(registered).get("/helpdesk/")

    assert response.status_code == 200
    page = page_text(response)
    assert "My requests to the helpdesk" in page
    assert "Where is the case conference list?" in page
    assert f'href="/helpdesk/{ticket.pk}/"' in page
    assert "waiting on requester" in page
    assert "4 Mar 2025" in page


def test_my_requests_never_shows_another_persons_ticket(registered: Any, verified: Any) -> None:
    question(registered.user, subject="My own question")
    theirs = question(verified.user, subject="Somebody else's question")
    contact_question(email=registered.user.email, subject="Sent through the contact form")

    page = page_text(signed_in(registered).get("/helpdesk/"))

    assert "My own question" in page
    assert "Somebody else's question" not in page
    assert f"/helpdesk/{theirs.pk}/" not in page
    # The contact form never attaches a ticket to an account, even with its address.
    assert "Sent through the contact form" not in page


def test_my_requests_shows_the_most_recent_activity_first(registered: Any) -> None:
    now = timezone.now()
    for subject, days_ago in [("Oldest request", 30), ("Newest request", 1), ("Middle request", 10)]:
        ticket = question(registered.user, subject=subject)
        Ticket.objects.filter(pk=ticket.pk).update(updated_at=now - timedelta(days=days_ago))

    page = page_text(signed_in(registered).get("/helpdesk/"))

    assert page.index("Newest request") < page.index("Middle request") < page.index("Oldest request")


def test_my_requests_keep_their_query_count_and_count_nothing(registered: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = signed_in(registered)

    def queries() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/helpdesk/").status_code == 200
        return [query["sql"] for query in captured.captured_queries]

    question(registered.user, subject="First request", body="")
    queries()  # the first request of a session also loads the session's user
    few = queries()
    for number in range(30):
        question(registered.user, subject=f"Request number {number:02d}", body="")
    many = queries()
    assert len(many) == len(few), many
    assert not any("COUNT(" in sql.upper() for sql in many)
    page = client.get("/helpdesk/").content.decode()
    assert page.count(" · Question</span>") == 25
    assert page.count('<span class="badge badge-new">new</span>') == 25


def test_my_requests_come_25_to_a_page(registered: Any) -> None:
    now = timezone.now()
    for number in range(30):
        ticket = question(registered.user, subject=f"Request number {number:02d}", body="")
        Ticket.objects.filter(pk=ticket.pk).update(updated_at=now - timedelta(hours=number))
    client = signed_in(registered)

    first = page_text(client.get("/helpdesk/"))
    second = page_text(client.get("/helpdesk/?page=2"))

    assert len(re.findall(r'href="/helpdesk/\d+/"', first)) == 25
    assert "Request number 00" in first and "Request number 24" in first
    assert "Request number 25" not in first
    assert 'href="?page=2"' in first
    assert len(re.findall(r'href="/helpdesk/\d+/"', second)) == 5
    assert "Request number 29" in second and "Request number 24" not in second
    assert "Page 2" in second


def test_with_no_requests_the_list_says_so(registered: Any) -> None:
    page = page_text(signed_in(registered).get("/helpdesk/"))
    assert "You have no requests yet." in page


# --- /helpdesk/new/: asking a question --------------------------------------------------------


def test_asking_a_question_opens_a_ticket_with_the_message(registered: Any) -> None:
    client = signed_in(registered)
    response = client.post(
        "/helpdesk/new/",
        {"kind": "question", "subject": "Can I add a second hospital?", "body": "I also work at UZ Gent."},
    )

    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/helpdesk/{ticket.pk}/"
    assert ticket.kind == Ticket.Kind.QUESTION
    assert ticket.state == Ticket.State.NEW
    assert ticket.requester == registered.user
    assert ticket.requester_email == registered.user.email
    message = ticket.messages.get()
    assert message.kind == TicketMessage.Kind.REQUESTER
    assert message.author == registered.user
    assert message.body == "I also work at UZ Gent."

    detail = page_text(client.get(response["Location"]))
    assert "Can I add a second hospital?" in detail
    assert "I also work at UZ Gent." in detail
    assert f"Your request #{ticket.pk} is with the helpdesk." in detail
    assert "Can I add a second hospital?" in page_text(client.get("/helpdesk/"))


def test_a_data_protection_request_gets_its_own_kind(registered: Any) -> None:
    signed_in(registered).post(
        "/helpdesk/new/",
        {"kind": "data_protection", "subject": "Erase my account", "body": "Please erase my data."},
    )
    ticket = Ticket.objects.get()
    assert ticket.kind == Ticket.Kind.DATA_PROTECTION
    assert ticket.messages.get().body == "Please erase my data."


def test_the_new_question_form_offers_only_requester_kinds(registered: Any) -> None:
    client = signed_in(registered)
    page = page_text(client.get("/helpdesk/new/"))
    assert 'value="question"' in page and 'value="data_protection"' in page
    assert 'value="registration"' not in page

    response = client.post("/helpdesk/new/", {"kind": "registration", "subject": "Verify me", "body": "Hi"})
    assert response.status_code == 200
    assert field_errors(response, "kind")
    assert not Ticket.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("subject", "", "This field is required."),
        ("subject", "x" * 201, "Ensure this value has at most 200 characters (it has 201)."),
        ("subject", "Hello\x00world", "Remove the invisible control characters from this text."),
        ("subject", "Hello\u202eworld", "Remove the invisible control characters from this text."),
        ("subject", "Two\nlines", "Remove the invisible control characters from this text."),
        ("body", "", "This field is required."),
        ("body", "x" * 5001, "Ensure this value has at most 5000 characters (it has 5001)."),
        ("body", "Bell\x07here", "Remove the invisible control characters from this text."),
    ],
)
def test_bad_input_in_a_new_question_is_shown_next_to_the_field(
    registered: Any, field: str, value: str, error: str
) -> None:
    data = {"kind": "question", "subject": "A fine subject", "body": "A fine message.", field: value}

    response = signed_in(registered).post("/helpdesk/new/", data)

    assert response.status_code == 200
    assert error in field_errors(response, field)
    assert "Please correct the following" in page_text(response)
    assert not Ticket.objects.exists()
    assert not TicketMessage.objects.exists()


def test_a_message_of_exactly_5000_characters_is_accepted(registered: Any) -> None:
    response = signed_in(registered).post(
        "/helpdesk/new/", {"kind": "question", "subject": "x" * 200, "body": "y\n" * 2500}
    )
    assert response.status_code == 302
    assert Ticket.objects.get().subject == "x" * 200


# --- /helpdesk/<pk>/: the thread ---------------------------------------------------------------


def test_the_ticket_page_shows_replies_and_my_messages_but_never_internal_notes(
    registered: Any, agent: Any
) -> None:
    ticket = question(registered.user, body="My first message.")
    services.add_note(ticket=ticket, body="INTERNAL: called the hospital switchboard", by=agent)
    services.reply(ticket=ticket, body="We have updated your hospital.", by=agent)
    services.add_note(ticket=ticket, body="INTERNAL: second note after the reply", by=agent)

    response = signed_in(registered).get(f"/helpdesk/{ticket.pk}/")

    assert response.status_code == 200
    page = page_text(response)
    assert "My first message." in page
    assert "We have updated your hospital." in page
    assert agent.display_name in page
    assert "INTERNAL" not in page
    assert "switchboard" not in page
    assert "waiting on requester" in page


def test_another_clinician_gets_404_for_my_ticket(registered: Any, verified: Any) -> None:
    ticket = question(registered.user)
    other = signed_in(verified)

    assert other.get(f"/helpdesk/{ticket.pk}/").status_code == 404
    assert other.post(f"/helpdesk/{ticket.pk}/", {"body": "Let me in"}).status_code == 404
    assert ticket.messages.count() == 1


def test_a_contact_form_ticket_has_no_page_under_helpdesk_for_the_account_with_that_address(
    registered: Any,
) -> None:
    ticket = contact_question(email=registered.user.email)
    assert signed_in(registered).get(f"/helpdesk/{ticket.pk}/").status_code == 404


def test_a_missing_ticket_gives_404(registered: Any) -> None:
    assert signed_in(registered).get("/helpdesk/999999/").status_code == 404


def test_replying_reopens_a_waiting_ticket_and_tells_the_assignee(registered: Any, agent: Any) -> None:
    ticket = question(registered.user)
    services.reply(ticket=ticket, body="Which hospital do you mean?", by=agent)
    ticket.refresh_from_db()
    assert ticket.state == Ticket.State.WAITING
    assert ticket.assignee == agent
    client = signed_in(registered)

    response = client.post(f"/helpdesk/{ticket.pk}/", {"body": "UZ Gent, since March."})

    assert response.status_code == 302
    assert response["Location"] == f"/helpdesk/{ticket.pk}/"
    ticket.refresh_from_db()
    assert ticket.state == Ticket.State.OPEN
    latest = ticket.messages.last()
    assert latest is not None
    assert latest.kind == TicketMessage.Kind.REQUESTER
    assert latest.author == registered.user
    assert latest.body == "UZ Gent, since March."
    to_agent = OutgoingEmail.objects.get(to_address=agent.email)
    assert f"#{ticket.pk}" in to_agent.subject
    assert f"http://testserver/admin/helpdesk/ticket/{ticket.pk}/change/" in to_agent.text_body

    page = page_text(client.get(response["Location"]))
    assert "Your reply is with the helpdesk." in page
    assert "UZ Gent, since March." in page


def test_replying_to_an_unassigned_ticket_emails_nobody(registered: Any) -> None:
    ticket = question(registered.user)
    signed_in(registered).post(f"/helpdesk/{ticket.pk}/", {"body": "Any news?"})
    assert ticket.messages.count() == 2
    assert not OutgoingEmail.objects.exists()


def test_an_empty_reply_is_refused_next_to_the_field(registered: Any) -> None:
    ticket = question(registered.user)
    response = signed_in(registered).post(f"/helpdesk/{ticket.pk}/", {"body": ""})
    assert response.status_code == 200
    assert "This field is required." in field_errors(response, "body")
    assert ticket.messages.count() == 1


def test_a_closed_ticket_says_so_and_refuses_replies(registered: Any, agent: Any) -> None:
    ticket = question(registered.user)
    services.resolve(ticket=ticket, by=agent)
    services.change_state(ticket=ticket, to=Ticket.State.CLOSED, by=agent)
    client = signed_in(registered)

    page = page_text(client.get(f"/helpdesk/{ticket.pk}/"))
    assert "This request is closed." in page
    assert "Send reply" not in page

    response = client.post(f"/helpdesk/{ticket.pk}/", {"body": "One more thing"})
    assert response.status_code == 200
    assert "This request is closed." in page_text(response)
    assert ticket.messages.count() == 1
    ticket.refresh_from_db()
    assert ticket.state == Ticket.State.CLOSED


# --- /contact/: people without an account ----------------------------------------------------


def test_the_contact_form_opens_a_ticket_and_emails_a_link_to_follow_it(client: Client) -> None:
    response = client.post("/contact/", contact_data())

    assert response.status_code == 302
    assert response["Location"] == "/contact/sent/"
    ticket = Ticket.objects.get()
    assert ticket.requester is None
    assert ticket.requester_name == "Jo Peeters"
    assert ticket.requester_email == "jo.peeters@example.org"
    assert ticket.kind == Ticket.Kind.QUESTION
    assert ticket.subject == "Access to the directory"
    assert ticket.messages.get().body == "Can a nurse be listed too?"

    email = OutgoingEmail.objects.get()
    assert email.to_address == "jo.peeters@example.org"
    assert email.user is None
    assert f"[#{ticket.pk}]" in email.subject
    assert "Dear Jo Peeters," in email.text_body
    link = link_in(email)

    sent = page_text(client.get("/contact/sent/"))
    assert "your message is with the helpdesk" in sent

    thread = client.get(link)
    assert thread.status_code == 200
    assert "Access to the directory" in page_text(thread)
    assert "Can a nurse be listed too?" in page_text(thread)


def test_the_contact_form_can_carry_a_data_protection_request(client: Client) -> None:
    client.post("/contact/", contact_data(kind="data_protection"))
    assert Ticket.objects.get().kind == Ticket.Kind.DATA_PROTECTION


def test_the_contact_form_answers_the_same_whether_or_not_the_address_has_an_account(
    client: Client, registered: Any
) -> None:
    unknown = client.post("/contact/", contact_data(email="nobody@example.org"))
    known = client.post("/contact/", contact_data(email=registered.user.email))

    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    assert known["Location"] == "/contact/sent/"
    assert Ticket.objects.count() == 2
    assert not Ticket.objects.filter(requester__isnull=False).exists()
    assert not registered.user.tickets.exists()
    # The email to an account's address is the same signed link, not a sign-in page.
    email = OutgoingEmail.objects.get(to_address=registered.user.email)
    assert email.user is None
    assert "/helpdesk/t/" in email.text_body
    assert not OutgoingEmail.objects.exclude(to_address__in=["nobody@example.org", registered.user.email])


def test_the_contact_form_shows_bad_input_next_to_the_field(client: Client) -> None:
    response = client.post("/contact/", contact_data(email="not-an-address", subject=""))
    assert response.status_code == 200
    assert "Enter a valid email address." in field_errors(response, "email")
    assert "This field is required." in field_errors(response, "subject")
    assert not Ticket.objects.exists()
    assert not OutgoingEmail.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Jo\x1bPeeters"),
        ("subject", "y" * 201),
        ("body", "z" * 5001),
    ],
)
def test_the_contact_form_refuses_control_characters_and_overlong_text(
    client: Client, field: str, value: str
) -> None:
    response = client.post("/contact/", contact_data(**{field: value}))
    assert response.status_code == 200
    assert field_errors(response, field)
    assert not Ticket.objects.exists()


def test_a_signed_in_person_is_sent_from_contact_to_their_helpdesk(registered: Any) -> None:
    client = signed_in(registered)
    for response in [client.get("/contact/"), client.post("/contact/", contact_data())]:
        assert response.status_code == 302
        assert response["Location"] == "/helpdesk/new/"
    assert not Ticket.objects.exists()


def test_the_contact_form_allows_five_messages_an_hour_from_one_address(client: Client) -> None:
    for number in range(5):
        response = client.post("/contact/", contact_data(subject=f"Message {number}"))
        assert response.status_code == 302

    sixth = client.post("/contact/", contact_data(subject="Message 5"))

    assert sixth.status_code == 429
    assert Ticket.objects.count() == 5
    assert OutgoingEmail.objects.count() == 5
    # Another address is not held back by the first one's messages.
    other = client.post("/contact/", contact_data(subject="From elsewhere"), REMOTE_ADDR="192.0.2.7")
    assert other.status_code == 302


def test_invalid_contact_posts_count_towards_the_limit(client: Client) -> None:
    for _ in range(5):
        assert client.post("/contact/", contact_data(subject="")).status_code == 200
    assert client.post("/contact/", contact_data()).status_code == 429
    assert not Ticket.objects.exists()


# --- /helpdesk/t/<token>/: the signed link ---------------------------------------------------


def test_the_link_opens_the_thread_without_internal_notes(client: Client, agent: Any) -> None:
    ticket = contact_question()
    services.add_note(ticket=ticket, body="INTERNAL: looks like spam?", by=agent)
    services.reply(ticket=ticket, body="Nurses can be listed, yes.", by=agent)

    response = client.get(link_path(ticket))

    assert response.status_code == 200
    page = page_text(response)
    assert "Can a nurse be listed too?" in page
    assert "Nurses can be listed, yes." in page
    assert "INTERNAL" not in page
    assert "All my requests" not in page  # a visitor has no list of requests


def test_the_reply_email_carries_a_working_link(client: Client, agent: Any) -> None:
    ticket = contact_question()
    services.reply(ticket=ticket, body="Nurses can be listed, yes.", by=agent)
    reply_email = OutgoingEmail.objects.exclude(dedup_key__startswith="ticket-received").get()
    assert reply_email.to_address == "jo.peeters@example.org"
    assert client.get(link_in(reply_email)).status_code == 200


def test_replying_through_the_link_adds_a_message_and_reopens_the_ticket(client: Client, agent: Any) -> None:
    ticket = contact_question()
    services.reply(ticket=ticket, body="Which profession exactly?", by=agent)
    link = link_in(OutgoingEmail.objects.get(dedup_key=f"ticket-received:{ticket.pk}"))

    response = client.post(link, {"body": "A specialised ICU nurse."})

    assert response.status_code == 302
    assert response["Location"] == link
    ticket.refresh_from_db()
    assert ticket.state == Ticket.State.OPEN
    latest = ticket.messages.last()
    assert latest is not None
    assert latest.kind == TicketMessage.Kind.REQUESTER
    assert latest.author is None
    assert latest.body == "A specialised ICU nurse."
    assert OutgoingEmail.objects.filter(to_address=agent.email).count() == 1
    page = page_text(client.get(link))
    assert "A specialised ICU nurse." in page
    assert "Your reply is with the helpdesk." in page


def test_replies_through_a_link_are_limited_to_30_an_hour_per_ticket(client: Client) -> None:
    ticket = contact_question()
    link = link_path(ticket)
    for number in range(30):
        assert client.post(link, {"body": f"Reply {number}"}).status_code == 302

    assert client.post(link, {"body": "Reply 30"}).status_code == 429
    assert ticket.messages.count() == 31  # the first message and 30 replies
    # Another ticket's link is counted apart.
    other = contact_question(email="someone.else@example.org")
    assert client.post(link_path(other), {"body": "Hello"}).status_code == 302


def test_a_signed_in_requester_may_send_30_messages_an_hour(registered: Any) -> None:
    ticket = question(registered.user)
    client = signed_in(registered)
    for number in range(30):
        assert client.post(f"/helpdesk/{ticket.pk}/", {"body": f"Reply {number}"}).status_code == 302

    assert client.post(f"/helpdesk/{ticket.pk}/", {"body": "Reply 30"}).status_code == 429
    assert client.post("/helpdesk/new/", {"kind": "question", "subject": "S", "body": "B"}).status_code == 429
    assert ticket.messages.count() == 31
    assert Ticket.objects.count() == 1


def test_a_closed_ticket_refuses_replies_through_the_link(client: Client, agent: Any) -> None:
    ticket = contact_question()
    services.resolve(ticket=ticket, by=agent)
    services.change_state(ticket=ticket, to=Ticket.State.CLOSED, by=agent)

    response = client.post(link_path(ticket), {"body": "Hello again"})

    assert response.status_code == 200
    assert "This request is closed." in page_text(response)
    assert ticket.messages.count() == 1


def test_a_tampered_link_gives_404(client: Client) -> None:
    ticket = contact_question()
    other = contact_question(email="someone.else@example.org", subject="Theirs")
    payload, stamp, signature = services.ticket_token(ticket).split(":")
    other_payload = services.ticket_token(other).split(":")[0]
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]

    for tampered in [
        f"{other_payload}:{stamp}:{signature}",  # another ticket's payload under this signature
        f"{payload}:{stamp}:{flipped}",
        f"{payload}:{stamp}:",
        "not-a-token",
    ]:
        assert client.get(f"/helpdesk/t/{tampered}/").status_code == 404
        assert client.post(f"/helpdesk/t/{tampered}/", {"body": "Hi"}).status_code == 404
    assert TicketMessage.objects.count() == 2


def test_a_link_opens_only_its_own_ticket(client: Client) -> None:
    mine = contact_question(subject="Mine")
    theirs = contact_question(email="someone.else@example.org", subject="Theirs")

    page = page_text(client.get(link_path(mine)))
    assert "Mine" in page and "Theirs" not in page

    # A link signed for another purpose, or naming a ticket with another
    # address, or a ticket of an account, opens nothing.
    wrong_salt = signing.dumps({"t": theirs.pk, "e": theirs.requester_email}, compress=True)
    wrong_email = signing.dumps(
        {"t": theirs.pk, "e": mine.requester_email}, salt=services.TOKEN_SALT, compress=True
    )
    account_ticket = question(factories.UserFactory.create())
    account_token = signing.dumps(
        {"t": account_ticket.pk, "e": account_ticket.requester_email}, salt=services.TOKEN_SALT, compress=True
    )
    for token in [wrong_salt, wrong_email, account_token]:
        assert client.get(f"/helpdesk/t/{token}/").status_code == 404


def test_a_link_older_than_60_days_gives_404(client: Client) -> None:
    ticket = contact_question()
    now = time.time()
    with mock.patch("django.core.signing.time.time", return_value=now - 59 * 24 * 3600):
        recent = services.ticket_token(ticket)
    with mock.patch(
        "django.core.signing.time.time",
        return_value=now - services.TOKEN_MAX_AGE.total_seconds() - 60,
    ):
        expired = services.ticket_token(ticket)

    assert client.get(f"/helpdesk/t/{recent}/").status_code == 200
    assert client.get(f"/helpdesk/t/{expired}/").status_code == 404
    assert client.post(f"/helpdesk/t/{expired}/", {"body": "Still there?"}).status_code == 404
    assert ticket.messages.count() == 1


def test_a_link_stops_working_60_days_after_it_was_sent(client: Client) -> None:
    ticket = contact_question()
    token = services.ticket_token(ticket)
    later = time.time() + services.TOKEN_MAX_AGE.total_seconds() + 60
    with mock.patch("django.core.signing.time.time", return_value=later):
        assert services.ticket_from_token(token) is None
    assert services.ticket_from_token(token) == ticket


# --- Caching and escaping ---------------------------------------------------------------


def test_the_requesters_pages_are_not_cached(client: Client, registered: Any) -> None:
    ticket = question(registered.user)
    contact_ticket = contact_question()
    assert_not_cached(client.get("/contact/"))
    assert_not_cached(client.get(link_path(contact_ticket)))
    assert_not_cached(client.get("/helpdesk/"))  # the redirect to sign in, too

    client.force_login(registered.user)
    for url in ["/helpdesk/", "/helpdesk/new/", f"/helpdesk/{ticket.pk}/"]:
        response = client.get(url)
        assert response.status_code == 200
        assert_not_cached(response)


def test_what_the_requester_types_is_escaped(registered: Any) -> None:
    client = signed_in(registered)
    client.post("/helpdesk/new/", {"kind": "question", "subject": SCRIPT, "body": f"Body {SCRIPT}"})
    ticket = Ticket.objects.get()
    assert ticket.subject == SCRIPT

    for url in ["/helpdesk/", f"/helpdesk/{ticket.pk}/"]:
        page = page_text(client.get(url))
        assert ESCAPED_SCRIPT in page
        assert SCRIPT not in page


def test_what_a_visitor_types_is_escaped_on_the_link_page(client: Client) -> None:
    client.post("/contact/", contact_data(subject=SCRIPT, body=f"<img src=x onerror=alert(1)> {SCRIPT}"))
    ticket = Ticket.objects.get()

    page = page_text(client.get(link_path(ticket)))

    assert ESCAPED_SCRIPT in page
    assert SCRIPT not in page
    assert "<img src=x" not in page


@pytest.mark.django_db
def test_an_email_address_too_long_to_store_is_refused_next_to_the_field(client: Client) -> None:
    from helpdesk.models import Ticket as TicketModel

    address = "a" * 250 + "@example.org"
    response = client.post(
        "/contact/", {"name": "A", "email": address, "kind": "question", "subject": "S", "body": "B"}
    )
    assert response.status_code == 200
    assert 'id="id_email_error"' in response.content.decode()
    assert not TicketModel.objects.exists()
