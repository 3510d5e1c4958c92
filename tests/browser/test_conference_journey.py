"""A coordinator requests a conference, an agent approves a slot, a worker
creates the meeting on (fake) Webex, the invitee gets the invitation with a
valid .ics and the join link; another verified clinician gets 404."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.utils import timezone

from conferences.models import Conference
from tests.browser.journeys import email_to, sign_in_with_totp
from tests.conferences.fake_webex import FakeWebex
from tests.factories import PASSWORD, ClinicianFactory, CoordinatorFactory, StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page: Any, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r"/profile/$"))


def test_a_conference_from_request_to_join_link(
    browser: Any,
    page: Any,
    live_server: Any,
    celery_worker: Any,
    fake_webex: FakeWebex,
    settings: Any,
) -> None:
    settings.VIDEO_BACKEND = "conferences.video.webex.WebexBackend"
    settings.WEBEX_BASE_URL = fake_webex.base_url
    settings.WEBEX_ACCESS_TOKEN = "test-token"
    settings.WEBEX_TIMEOUT = 3
    coordinator = CoordinatorFactory.create(first_name="Marta", last_name="Sousa")
    coordinator.user.time_zone = "Europe/Lisbon"
    coordinator.user.save()
    expert = ClinicianFactory.create(status="verified", first_name="Ingrid", last_name="Halvorsen")
    outsider = ClinicianFactory.create(status="verified", first_name="Otto", last_name="Outside")
    start = timezone.localtime(timezone.now() + timedelta(days=3), ZoneInfo("Europe/Lisbon")).replace(
        hour=9, minute=30, second=0, microsecond=0
    )

    # The coordinator asks, on a phone, in Lisbon time.
    sign_in(page, live_server.url, coordinator.user.email)
    page.get_by_role("link", name="Conferences").click()
    page.get_by_role("link", name="Request a conference").click()
    page.get_by_label("Title").fill("Fabry disease and COVID-19 myocarditis")
    page.get_by_label("Clinical question").fill("Restart enzyme replacement while troponin rises?")
    page.get_by_label("Anonymised case summary").fill(
        "Man in his forties with Fabry disease, day 3 of COVID-19."
    )
    page.get_by_label("I confirm that the summary contains no information").check()
    page.get_by_label("Proposed time 1").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Invite clinicians").fill("halvor")
    page.get_by_role("button", name=re.compile("Ingrid Halvorsen")).click()
    assert page.get_by_role("checkbox", name=re.compile("Ingrid Halvorsen")).is_checked()
    page.get_by_role("button", name="Send the request").click()
    page.wait_for_url(re.compile(r"/conferences/\d+/$"))
    assert page.get_by_text("To be scheduled by the helpdesk").is_visible()
    conference = Conference.objects.get()
    assert conference.slots.get().start == start

    # The agent approves the proposed time on the ticket.
    agent = StaffFactory.create(display_name="Alex Agent")
    secret = generate_totp_secret()
    TOTP.activate(agent, secret)
    desk = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in_with_totp(desk, live_server.url, email=agent.email, secret=secret)
    desk.wait_for_url(re.compile(r"/admin/$"))
    desk.goto(f"{live_server.url}/admin/helpdesk/ticket/{conference.ticket_id}/change/")
    assert desk.get_by_text("Restart enzyme replacement while troponin rises?").is_visible()
    desk.locator("input[name=approve-slot]").first.check()
    desk.get_by_role("button", name="Approve and schedule").click()
    assert desk.get_by_text(re.compile("Scheduled for")).is_visible()

    # The worker creates the meeting on Webex; the invitation arrives.
    invitation = email_to(expert.user.email, "Invitation")
    [stored] = fake_webex.meetings.values()
    assert stored["webLink"] in invitation.body
    [(filename, content, mimetype)] = invitation.attachments
    assert filename == "invite.ics" and mimetype.startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(content)
    assert calendar["METHOD"] == "REQUEST"
    [event] = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == start
    assert event["UID"] == f"conference-{conference.pk}@cmss.example.org"
    assert all(request.violations == [] for request in fake_webex.requests)

    # The invitee sees the join link; another verified clinician gets 404.
    guest = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    sign_in(guest, live_server.url, expert.user.email)
    guest.goto(f"{live_server.url}/conferences/")
    guest.get_by_role("link", name="Fabry disease and COVID-19 myocarditis").click()
    join = guest.get_by_role("link", name="Join the web conference")
    assert join.get_attribute("href") == stored["webLink"]
    guest.get_by_role("button", name="Accept").click()
    assert guest.get_by_text("You accepted the invitation.").is_visible()

    other = browser.new_context().new_page()
    sign_in(other, live_server.url, outsider.user.email)
    response = other.goto(f"{live_server.url}/conferences/{conference.pk}/")
    assert response.status == 404
