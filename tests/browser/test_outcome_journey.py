"""After a scheduled conference, the agent writes the outcome report on the
ticket's panel; the worker emails the requester a link (no clinical text);
the requester reads the report on the conference page, marks it read and
answers "useful", which the agent then sees on the ticket. And the whole way:
a coordinator invites two suggested experts, the agent approves, the two take
part and are the report's participants, and the requester finds it useful."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.utils import timezone

from clinicians.models import ERN
from conferences.cases import services as case_conferences
from conferences.models import Conference, Invitation, OutcomeReport
from tests.browser.journeys import email_to, sign_in_with_totp
from tests.factories import PASSWORD, ClinicianFactory, CoordinatorFactory, StaffFactory, requested_conference

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADVICE = "Restart agalsidase at half dose once troponin has peaked."
DISSENT = "One cardiologist would wait for the cardiac MRI first."


def sign_in(page: Any, base_url: str, email: str, next_path: str = "") -> None:
    page.goto(f"{base_url}/accounts/login/" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()


def test_the_agent_writes_the_outcome_report_and_the_requester_finds_it_useful(
    browser: Any, page: Any, live_server: Any, celery_worker: Any, settings: Any
) -> None:
    settings.VIDEO_BACKEND = "conferences.video.local.LocalBackend"
    coordinator = CoordinatorFactory.create(first_name="Marta", last_name="Sousa")
    coordinator.user.time_zone = "Europe/Lisbon"
    coordinator.user.save()
    expert = ClinicianFactory.create(status="verified", first_name="Ingrid", last_name="Halvorsen")
    agent = StaffFactory.create(display_name="Alex Agent")
    conference = requested_conference(
        coordinator,
        invitees=[expert],
        title="Fabry disease and COVID-19 myocarditis",
        question="Restart enzyme replacement while troponin rises?",
        time_zone="Europe/Lisbon",
    )
    case_conferences.approve(conference=conference, start=timezone.now() + timedelta(days=1), by=agent)
    case_conferences.respond(invitation=Invitation.objects.get(clinician=expert), accept=True)
    # It took place this morning.
    Conference.objects.filter(pk=conference.pk).update(start=timezone.now() - timedelta(hours=3))

    # The agent writes the report on the ticket's panel.
    secret = generate_totp_secret()
    TOTP.activate(agent, secret)
    desk = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    desk.set_default_timeout(15000)
    sign_in_with_totp(desk, live_server.url, email=agent.email, secret=secret)
    desk.wait_for_url(re.compile(r"/admin/$"))
    ticket_page = f"{live_server.url}/admin/helpdesk/ticket/{conference.ticket_id}/change/"
    desk.goto(ticket_page)
    form = desk.locator("form", has=desk.get_by_role("button", name="Mark held and send the outcome report"))
    assert (
        form.get_by_label("Question as asked").input_value()
        == "Restart enzyme replacement while troponin rises?"
    )
    assert form.get_by_text(
        "does not replace, the decision of the clinician treating the patient"
    ).is_visible()
    assert form.get_by_label(re.compile("Ingrid Halvorsen")).is_checked()  # she accepted
    form.get_by_label("Advice and recommendations").fill(ADVICE)
    form.get_by_label("majority", exact=True).check()
    # Without consensus the dissent is needed: the form says so next to the field.
    form.get_by_role("button", name="Mark held and send the outcome report").click()
    assert desk.get_by_text("Without consensus, note the dissent: who disagreed, and with what.").is_visible()
    form = desk.locator("form", has=desk.get_by_role("button", name="Mark held and send the outcome report"))
    form.get_by_label("Dissent").fill(DISSENT)
    form.get_by_label("Discuss the case again on").fill(
        (timezone.localdate() + timedelta(days=14)).isoformat()
    )
    form.get_by_role("button", name="Mark held and send the outcome report").click()
    assert desk.get_by_text(
        "The conference is marked held. Its outcome report is sent as a link by email."
    ).is_visible()
    assert desk.get_by_text(ADVICE).is_visible()

    # The worker sends the requester a link, and nothing clinical.
    message = email_to(coordinator.user.email, "Outcome report")
    body = str(message.body)
    assert ADVICE not in body and DISSENT not in body and "troponin" not in body
    link = re.search(r"https?://\S+/conferences/\d+/#report", body)
    assert link is not None, body

    # The requester reads it, marks it read and answers "useful".
    sign_in(page, live_server.url, coordinator.user.email)
    page.wait_for_url(re.compile(r"/profile/$"))
    page.goto(link.group(0).replace("http://testserver", live_server.url))
    assert page.get_by_role("heading", name="Outcome report").is_visible()
    assert page.get_by_text(ADVICE).is_visible() and page.get_by_text(DISSENT).is_visible()
    assert page.get_by_text(
        "does not replace, the decision of the clinician treating the patient"
    ).is_visible()
    page.get_by_role("button", name="Mark as read").click()
    assert page.get_by_text("The report is marked read.").is_visible()
    page.get_by_label("Yes", exact=True).check()
    page.get_by_label("Comment for the helpdesk").fill("Clear, and in time for the ward round.")
    page.get_by_role("button", name="Send my answer").click()
    assert page.get_by_text("Thank you: the helpdesk sees your answer.").is_visible()
    report = OutcomeReport.objects.get(conference=conference)
    assert report.read_at is not None and report.usefulness == OutcomeReport.Usefulness.YES

    # The agent sees the answer on the ticket.
    desk.goto(ticket_page)
    assert desk.get_by_text("Clear, and in time for the ward round.").is_visible()
    assert desk.locator(".conference-history").get_by_text("outcome report rated: useful").is_visible()


def test_two_suggested_experts_are_invited_take_part_and_the_requester_finds_the_advice_useful(
    browser: Any, page: Any, live_server: Any, celery_worker: Any, settings: Any
) -> None:
    settings.VIDEO_BACKEND = "conferences.video.local.LocalBackend"
    base = live_server.url
    coordinator = CoordinatorFactory.create(first_name="Marta", last_name="Sousa")
    coordinator.user.time_zone = "Europe/Lisbon"
    coordinator.user.save()
    lung = ERN.objects.get(code="ern-lung")
    experts = {}
    for first, last in (("Amélie", "Roux"), ("Bruno", "Lefort"), ("Chloé", "Martin")):
        expert = ClinicianFactory.create(status="verified", first_name=first, last_name=last)
        expert.erns.set([lung])
        experts[last] = expert
    ClinicianFactory.create(status="verified", first_name="Otto", last_name="Outside")  # no ERN LUNG
    roux, lefort = experts["Roux"], experts["Lefort"]
    start = timezone.localtime(timezone.now() + timedelta(days=3), ZoneInfo("Europe/Lisbon")).replace(
        hour=10, minute=0, second=0, microsecond=0
    )

    # The coordinator fills in the request; choosing ERN LUNG brings the suggestions.
    sign_in(page, base, coordinator.user.email, "/conferences/request/")
    page.wait_for_url(re.compile(r"/conferences/request/$"))
    page.get_by_label("Title").fill("Fibrotic lung disease after COVID-19")
    page.get_by_label("Clinical question").fill("Start an antifibrotic now or wait for the next CT?")
    page.get_by_label("Anonymised case summary").fill("Woman in her sixties, day 40 after COVID-19 ARDS.")
    page.get_by_label("I confirm that the summary contains no information").check()
    page.get_by_label("Proposed time 1").fill(start.strftime("%Y-%m-%dT%H:%M"))
    suggestions = page.locator("[data-expert-suggestions]")
    assert suggestions.get_by_text("Choose the wanted ERNs or specialties to see experts.").is_visible()
    page.get_by_label("ERN LUNG", exact=True).check()
    invite_roux = suggestions.get_by_role("button", name=re.compile(r"^Invite Amélie Roux"))
    invite_roux.wait_for(state="visible")  # the list refreshed without a page load
    assert suggestions.get_by_text("ERN LUNG member", exact=False).first.is_visible()
    assert suggestions.get_by_text("Otto Outside").count() == 0
    invite_roux.click()
    assert page.get_by_role("checkbox", name=re.compile("Amélie Roux")).is_checked()
    suggestions.get_by_role("button", name=re.compile(r"^Invite Bruno Lefort")).click()
    assert page.get_by_role("checkbox", name=re.compile("Bruno Lefort")).is_checked()
    # Those invited are no longer suggested; the third member still is.
    suggestions.get_by_role("button", name=re.compile(r"^Invite Chloé Martin")).wait_for(state="visible")
    assert (
        suggestions.get_by_role("button", name=re.compile(r"^Invite (Amélie Roux|Bruno Lefort)")).count() == 0
    )
    page.get_by_role("button", name="Send the request").click()
    page.wait_for_url(re.compile(r"/conferences/\d+/$"))
    conference = Conference.objects.get()
    assert {item.clinician for item in conference.invitations.all()} == {roux, lefort}

    # The agent approves it on the ticket's panel; the worker invites the two.
    agent = StaffFactory.create(display_name="Alex Agent")
    secret = generate_totp_secret()
    TOTP.activate(agent, secret)
    desk = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    desk.set_default_timeout(15000)
    sign_in_with_totp(desk, base, email=agent.email, secret=secret)
    desk.wait_for_url(re.compile(r"/admin/$"))
    ticket_page = f"{base}/admin/helpdesk/ticket/{conference.ticket_id}/change/"
    desk.goto(ticket_page)
    desk.locator("input[name=approve-slot]").first.check()
    desk.get_by_role("button", name="Approve and schedule").click()
    assert desk.get_by_text(re.compile("Scheduled for")).is_visible()
    for expert in (roux, lefort):
        email_to(expert.user.email, "Invitation")
        case_conferences.respond(invitation=Invitation.objects.get(clinician=expert), accept=True)
    # It took place this morning.
    Conference.objects.filter(pk=conference.pk).update(start=timezone.now() - timedelta(hours=3))

    # The agent writes the outcome report with the two as participants.
    desk.goto(ticket_page)
    form = desk.locator("form", has=desk.get_by_role("button", name="Mark held and send the outcome report"))
    for name in ("Amélie Roux", "Bruno Lefort"):
        assert form.get_by_label(re.compile(name)).is_checked()  # they accepted
    form.get_by_label("Advice and recommendations").fill(ADVICE)
    form.get_by_label("consensus", exact=True).check()
    form.get_by_role("button", name="Mark held and send the outcome report").click()
    assert desk.get_by_text(
        "The conference is marked held. Its outcome report is sent as a link by email."
    ).is_visible()

    # The requester reads it from the emailed link and answers "useful".
    message = email_to(coordinator.user.email, "Outcome report")
    link = re.search(r"https?://\S+/conferences/\d+/#report", str(message.body))
    assert link is not None, message.body
    for expert in (roux, lefort):
        email_to(expert.user.email, "Outcome report")  # each participant is sent the link too
    requester = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    requester.set_default_timeout(15000)
    sign_in(requester, base, coordinator.user.email)
    requester.wait_for_url(re.compile(r"/profile/$"))
    requester.goto(link.group(0).replace("http://testserver", base))
    assert requester.get_by_role("heading", name="Outcome report").is_visible()
    assert requester.get_by_text(ADVICE).is_visible()
    took_part = requester.locator("dt", has_text="Who took part").locator("xpath=following-sibling::dd[1]")
    assert "Amélie Roux" in took_part.inner_text() and "Bruno Lefort" in took_part.inner_text()
    requester.get_by_role("button", name="Mark as read").click()
    assert requester.get_by_text("The report is marked read.").is_visible()
    requester.get_by_label("Yes", exact=True).check()
    requester.get_by_role("button", name="Send my answer").click()
    assert requester.get_by_text("Thank you: the helpdesk sees your answer.").is_visible()
    report = OutcomeReport.objects.get(conference=conference)
    assert set(report.participants.all()) == {roux, lefort}
    assert report.read_at is not None and report.usefulness == OutcomeReport.Usefulness.YES
