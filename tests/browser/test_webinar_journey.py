"""An agent publishes a two-seat webinar; three clinicians register; one cancels and
the one waiting is promoted and emailed the calendar invitation."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.utils import timezone

from conferences.models import Registration, Webinar
from tests.browser.journeys import email_to, sign_in_with_totp
from tests.conftest import wait_for
from tests.factories import PASSWORD, ClinicianFactory, StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TITLE = "COVID-19 in children with rare liver disease"


def shown(page: Any, text: str) -> bool:
    """Wait for the text (the page may still be loading after a click)."""
    page.get_by_text(text).first.wait_for(state="visible")
    return True


def sign_in(page: Any, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/accounts/login/?next=/webinars/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r"/webinars/$"))


def test_an_agent_publishes_a_webinar_and_the_waitlist_moves_up_when_someone_cancels(
    browser: Any, page: Any, live_server: Any, celery_worker: Any
) -> None:
    base = live_server.url
    agent = StaffFactory.create(display_name="Alex Agent")
    secret = generate_totp_secret()
    TOTP.activate(agent, secret)
    desk = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in_with_totp(desk, base, email=agent.email, secret=secret)
    desk.wait_for_url(re.compile(r"/admin/$"))

    # The agent creates the webinar, with a speaker, and publishes it.
    desk.goto(f"{base}/admin/conferences/webinar/add/")
    desk.fill("#id_title", TITLE)
    desk.fill("#id_description", "How ERN RARE-LIVER centres adapt immunosuppression.")
    desk.select_option("#id_erns_from", label="ERN RARE-LIVER")
    desk.click("#id_erns_add")
    desk.select_option("#id_language", label="English")
    start = timezone.localtime(timezone.now() + timedelta(days=5))
    desk.fill("#id_start_0", start.strftime("%Y-%m-%d"))
    desk.fill("#id_start_1", "15:00:00")
    desk.fill("#id_duration_minutes", "60")
    desk.fill("#id_capacity", "2")
    desk.check("#id_recorded")
    desk.fill("#id_speakers-0-name", "Prof. Hepa Tico")
    desk.fill("#id_speakers-0-affiliation", "Hôpital Bicêtre, Paris")
    desk.fill("#id_speakers-0-email", "hepa.tico@ern.example.org")
    desk.get_by_role("button", name="Save and continue editing").click()
    desk.wait_for_url(re.compile(r"/admin/conferences/webinar/\d+/change/$"))
    desk.get_by_role("button", name="Publish").click()
    assert shown(desk, "The webinar is published")
    webinar = Webinar.objects.get(title=TITLE)
    assert webinar.state == "published" and webinar.capacity == 2
    wait_for(lambda: Webinar.objects.get(pk=webinar.pk).join_url)  # the worker made it on the provider

    # Three clinicians register from the programme: two seats, one on the waitlist.
    clinicians = [
        ClinicianFactory.create(status="verified", first_name="Ana", user__email="ana@hospital.example.org"),
        ClinicianFactory.create(
            status="registered", first_name="Bea", user__email="bea@hospital.example.org"
        ),
        ClinicianFactory.create(status="verified", first_name="Cai", user__email="cai@hospital.example.org"),
    ]
    pages = []
    for clinician in clinicians:
        tab = browser.new_context(
            viewport={"width": 390, "height": 844}, timezone_id="Europe/Lisbon"
        ).new_page()
        sign_in(tab, base, clinician.user.email)
        tab.get_by_role("link", name=TITLE).click()
        assert shown(tab, "Please note: this webinar is recorded.")
        tab.get_by_role("button", name=re.compile("^(Register|Join the waitlist)$")).click()
        pages.append(tab)
    ana, bea, cai = pages
    assert shown(ana, "Your seat is confirmed")
    assert shown(bea, "Your seat is confirmed")
    assert shown(cai, "you are number 1 on the waitlist")
    assert bea.get_by_role("link", name="Join the webinar").is_visible()
    assert cai.get_by_role("link", name="Join the webinar").count() == 0
    email_to("ana@hospital.example.org", "Your seat is confirmed")

    # Ana cancels; Cai gets her seat and the email with the calendar invitation.
    ana.get_by_role("button", name="Cancel my registration").click()
    assert shown(ana, "Your registration is cancelled")
    promoted = email_to("cai@hospital.example.org", "A seat is yours")
    (filename, content, mimetype) = promoted.attachments[0]
    assert filename == "invite.ics" and mimetype.startswith("text/calendar")
    calendar = content.decode() if isinstance(content, bytes) else content
    assert "METHOD:REQUEST" in calendar and f"UID:webinar-{webinar.pk}@" in calendar
    assert TITLE in calendar
    cai.reload()
    assert shown(cai, "You have a seat.")
    assert cai.get_by_role("link", name="Join the webinar").is_visible()
    statuses = dict(Registration.objects.values_list("clinician__first_name", "status"))
    assert statuses == {"Ana": "cancelled", "Bea": "confirmed", "Cai": "confirmed"}

    # The agent sees it in the registrations list.
    desk.goto(f"{base}/admin/conferences/registration/?webinar__id__exact={webinar.pk}")
    assert shown(desk, "cai@hospital.example.org")
