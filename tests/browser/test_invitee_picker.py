"""The coordinator's invitee picker: whoever is ticked stays ticked through every
later search, with JavaScript (search as you type) and without it ("Find")."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from conferences.models import Conference
from tests.browser.test_conference_journey import sign_in
from tests.factories import ClinicianFactory, CoordinatorFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUESTION = "Restart enzyme replacement while troponin rises?\nOr wait until the myocarditis settles?"
SUMMARY = (
    "Man in his forties, Fabry disease on ERT since 2019.\n"
    "\n"
    "Day 0: COVID-19 pneumonia, SpO₂ 91 %.\n"
    "Day 3: troponin T 84 ng/l, rising; échographie: FEVG 45 %."
)


@pytest.fixture
def people(db: None) -> dict[str, Any]:
    coordinator = CoordinatorFactory.create(first_name="Marta", last_name="Sousa")
    coordinator.user.time_zone = "Europe/Lisbon"
    coordinator.user.save()
    return {
        "coordinator": coordinator,
        "ingrid": ClinicianFactory.create(status="verified", first_name="Ingrid", last_name="Halvorsen"),
        "pia": ClinicianFactory.create(status="verified", first_name="Pia", last_name="Lund"),
    }


def fill_request(page: Any) -> None:
    start = timezone.localtime(timezone.now() + timedelta(days=3), ZoneInfo("Europe/Lisbon"))
    page.get_by_label("Title").fill("Fabry disease and COVID-19 myocarditis")
    # Typed the way a person types: paragraphs, with Enter between them.
    page.get_by_label("Clinical question").press_sequentially(QUESTION)
    page.get_by_label("Anonymised case summary").press_sequentially(SUMMARY)
    page.get_by_label("I confirm that the summary contains no information").check()
    page.get_by_label("Proposed time 1").fill(start.strftime("%Y-%m-%dT10:00"))


def find(page: Any, query: str) -> None:
    page.get_by_label("Invite clinicians").fill(query)
    page.get_by_role("button", name="Find").click()
    page.wait_for_load_state()


def invited(conference: Conference) -> set[str]:
    return {item.clinician.full_name for item in conference.invitations.select_related("clinician")}


def test_with_javascript_a_match_ticked_after_find_survives_the_next_search(
    page: Any, live_server: Any, people: dict[str, Any]
) -> None:
    sign_in(page, live_server.url, people["coordinator"].user.email)
    page.goto(f"{live_server.url}/conferences/request/")
    fill_request(page)

    find(page, "halvor")  # the server lists the matches as checkboxes
    page.get_by_role("checkbox", name=re.compile("Ingrid Halvorsen")).check()
    page.get_by_label("Invite clinicians").fill("lund")  # search as you type replaces the results
    page.get_by_role("button", name=re.compile("Pia Lund")).click()

    assert page.get_by_role("checkbox", name=re.compile("Ingrid Halvorsen")).is_checked()
    assert page.get_by_role("checkbox", name=re.compile("Pia Lund")).is_checked()
    page.get_by_role("button", name="Send the request").click()
    page.wait_for_url(re.compile(r"/conferences/\d+/$"))
    conference = Conference.objects.get()
    assert invited(conference) == {"Ingrid Halvorsen", "Pia Lund"}
    assert conference.question == QUESTION
    assert conference.case_summary == SUMMARY


def test_without_javascript_every_match_ticked_after_find_is_kept(
    browser: Any, live_server: Any, people: dict[str, Any]
) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15000)
    sign_in(page, live_server.url, people["coordinator"].user.email)
    page.goto(f"{live_server.url}/conferences/request/")
    fill_request(page)

    find(page, "halvor")
    page.get_by_role("checkbox", name=re.compile("Ingrid Halvorsen")).check()
    find(page, "lund")
    assert page.get_by_role("checkbox", name=re.compile("Ingrid Halvorsen")).is_checked()
    page.get_by_role("checkbox", name=re.compile("Pia Lund")).check()

    page.get_by_role("button", name="Send the request").click()
    page.wait_for_url(re.compile(r"/conferences/\d+/$"))
    conference = Conference.objects.get()
    assert invited(conference) == {"Ingrid Halvorsen", "Pia Lund"}
    # What was typed before the searches was kept through them, line breaks included.
    assert conference.case_summary == SUMMARY
    context.close()


def test_with_javascript_a_suggested_expert_is_invited_in_one_click(
    page: Any, live_server: Any, people: dict[str, Any]
) -> None:
    from clinicians.models import ERN

    lung = ERN.objects.get(name="ERN LUNG")
    people["pia"].erns.set([lung])
    sign_in(page, live_server.url, people["coordinator"].user.email)
    page.goto(f"{live_server.url}/conferences/request/")
    fill_request(page)
    suggestions = page.locator("[data-expert-suggestions] .suggestions")
    assert "Choose the wanted ERNs or specialties" in suggestions.inner_text()

    # Ticking a wanted ERN asks for suggestions again, without sending the form.
    page.get_by_label("ERN LUNG").check()
    invite = page.get_by_role("button", name="Invite Pia Lund")
    invite.wait_for()
    assert "ERN LUNG member" in suggestions.inner_text()
    invite.click()

    assert page.get_by_role("checkbox", name=re.compile("Pia Lund")).is_checked()
    assert page.get_by_role("button", name="Invite Pia Lund").count() == 0
    assert page.get_by_label("Title").input_value() == "Fabry disease and COVID-19 myocarditis"
    page.get_by_role("button", name="Send the request").click()
    page.wait_for_url(re.compile(r"/conferences/\d+/$"))
    assert invited(Conference.objects.get()) == {"Pia Lund"}
