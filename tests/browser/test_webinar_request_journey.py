"""A coordinator requests a webinar with a speaker from outside the network; an agent
turns it into a draft from the ticket panel and publishes it in the admin; the
coordinator sees it published among the hospital's webinar requests. And the
suggested speakers as the form is filled in, with JavaScript."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.utils import timezone

from clinicians.models import ERN
from conferences.models import Webinar, WebinarRequest
from tests.browser.journeys import email_to, sign_in_with_totp
from tests.factories import PASSWORD, ClinicianFactory, CoordinatorFactory, StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOPIC = "Managing COVID-19 in adults with myotonic dystrophy"


def shown(page: Any, text: str) -> bool:
    """Wait for the text (the page may still be loading after a click)."""
    page.get_by_text(text).first.wait_for(state="visible")
    return True


def test_a_requested_webinar_goes_from_the_form_to_the_programme(
    browser: Any, page: Any, live_server: Any, celery_worker: Any
) -> None:
    base = live_server.url
    coordinator = CoordinatorFactory.create(
        first_name="Clara", user__email="clara@hospital.example.org", user__time_zone="Europe/Lisbon"
    )

    # The coordinator finds the form from the conferences page and fills it in.
    page.goto(f"{base}/accounts/login/?next=/conferences/")
    page.get_by_label("Email").fill(coordinator.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r"/conferences/$"))
    page.get_by_role("link", name="Request a webinar").click()
    page.wait_for_url(re.compile(r"/webinars/request/$"))
    page.get_by_label("Topic").fill(TOPIC)
    page.get_by_label("Audience", exact=True).fill(
        "Intensivists and neurologists.\n\nPhysiotherapists welcome."
    )
    page.get_by_label("Why now: the clinical need").fill("Three patients this month; no shared protocol.")
    page.get_by_label("ERN EURO-NMD", exact=False).first.check()
    page.get_by_label("Language of the webinar").select_option(label="English")
    page.fill("#id_outside_1_name", "Prof. Maria Lindgren")
    page.fill("#id_outside_1_affiliation", "Karolinska University Hospital")
    page.fill("#id_outside_1_email", "maria.lindgren@karolinska.example.org")
    wanted = timezone.localtime(timezone.now() + timedelta(days=14), ZoneInfo("Europe/Lisbon")).replace(
        hour=15, minute=0, second=0, microsecond=0
    )
    page.fill("#id_dates_1", wanted.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Duration (minutes)").fill("60")
    page.get_by_label("Expected audience size").fill("80")
    page.get_by_label("Record the webinar").check()
    page.get_by_role("button", name="Send the request").click()
    assert shown(page, "Your request is with the helpdesk")
    assert shown(page, "Prof. Maria Lindgren")
    webinar_request = WebinarRequest.objects.get()
    assert webinar_request.ticket is not None
    email_to(coordinator.user.email, "Webinar request received")

    # The agent opens the ticket, makes the draft in one action and publishes it.
    agent = StaffFactory.create(display_name="Alex Agent")
    secret = generate_totp_secret()
    TOTP.activate(agent, secret)
    desk = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    desk.set_default_timeout(15000)
    sign_in_with_totp(desk, base, email=agent.email, secret=secret)
    desk.wait_for_url(re.compile(r"/admin/$"))
    desk.goto(f"{base}/admin/helpdesk/ticket/{webinar_request.ticket.pk}/change/")
    assert shown(desk, "Prof. Maria Lindgren")
    desk.check("#id_create_draft-date_0")
    desk.get_by_role("button", name="Create the draft webinar").click()
    desk.wait_for_url(re.compile(r"/admin/conferences/webinar/\d+/change/$"))
    assert shown(desk, "The draft webinar is made from the request")
    assert desk.input_value("#id_title") == TOPIC
    assert desk.input_value("#id_capacity") == "80"
    assert desk.input_value("#id_speakers-0-email") == "maria.lindgren@karolinska.example.org"
    desk.get_by_role("button", name="Publish").click()
    assert shown(desk, "The webinar is published")
    webinar = Webinar.objects.get()
    assert webinar.state == Webinar.State.PUBLISHED and webinar.start == wanted

    # The coordinator is told, and sees it published among the hospital's requests.
    published = email_to(coordinator.user.email, "is on the programme")
    assert f"/webinars/{webinar.pk}/" in str(published.body)
    page.goto(f"{base}/webinars/requests/")
    row = page.get_by_role("row", name=re.compile(TOPIC))
    assert row.get_by_text("published").is_visible()
    row.get_by_role("link", name=TOPIC).last.click()
    page.wait_for_url(re.compile(rf"/webinars/{webinar.pk}/$"))
    assert shown(page, "Prof. Maria Lindgren")


def test_with_javascript_the_suggested_speakers_follow_the_ern_and_one_click_adds_one(
    page: Any, live_server: Any
) -> None:
    base = live_server.url
    coordinator = CoordinatorFactory.create(
        first_name="Clara", user__email="clara@hospital.example.org", user__time_zone="Europe/Lisbon"
    )
    nmd, lung = ERN.objects.get(code="ern-euro-nmd"), ERN.objects.get(code="ern-lung")
    ingrid = ClinicianFactory.create(status="verified", first_name="Ingrid", last_name="Halvorsen")
    ingrid.erns.set([nmd])
    pia = ClinicianFactory.create(status="verified", first_name="Pia", last_name="Lund")
    pia.erns.set([lung])

    page.goto(f"{base}/accounts/login/?next=/webinars/request/")
    page.get_by_label("Email").fill(coordinator.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r"/webinars/request/$"))
    page.get_by_label("Topic").fill(TOPIC)
    suggestions = page.locator("[data-expert-suggestions]")
    assert suggestions.get_by_text("Choose the ERNs concerned to see speakers.").is_visible()

    # Choosing an ERN refreshes the list without a page load: its member, with why.
    page.get_by_label("ERN EURO-NMD", exact=False).first.check()
    add_ingrid = suggestions.get_by_role("button", name=re.compile(r"^Add as speaker Ingrid Halvorsen"))
    add_ingrid.wait_for(state="visible")
    assert suggestions.get_by_text("ERN EURO-NMD member", exact=False).first.is_visible()
    assert suggestions.get_by_text("Pia Lund").count() == 0
    page.get_by_label("ERN LUNG", exact=True).check()
    suggestions.get_by_role("button", name=re.compile(r"^Add as speaker Pia Lund")).wait_for(state="visible")

    # "Add as speaker" ticks her among the speakers, and she leaves the list.
    add_ingrid.click()
    assert page.get_by_role("checkbox", name=re.compile("Ingrid Halvorsen")).is_checked()
    add_ingrid.wait_for(state="detached")
    assert page.get_by_label("Topic").input_value() == TOPIC  # no page load: what was typed stays
