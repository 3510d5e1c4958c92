"""The directory in a browser: a verified clinician finds a colleague by name and by a
filter, and reveals the contact details that colleague shares, with the one form of the page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from clinicians.models import ERN
from cmss.models import AuditEvent
from tests.browser.test_conference_journey import sign_in
from tests.factories import ClinicianFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_clinician_finds_a_colleague_and_reveals_the_shared_contact_details(
    page: Any, live_server: Any
) -> None:
    viewer = ClinicianFactory.create(status="verified", first_name="Jan", last_name="Novak")
    marta = ClinicianFactory.create(
        status="verified", first_name="Marta", last_name="Rossi", show_email=True, country="BE"
    )
    marta.erns.add(ERN.objects.get(name="ERN LUNG"))
    ClinicianFactory.create(status="verified", first_name="Mario", last_name="Bianchi", show_email=False)
    sign_in(page, live_server.url, viewer.user.email)

    page.goto(f"{live_server.url}/directory/")
    page.get_by_label("Name").fill("ROSSI")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/directory/\?q=ROSSI"))
    entries = page.locator("ol.directory > li")
    assert entries.count() == 1
    assert "Marta Rossi" in entries.first.inner_text() and "ERN LUNG" in entries.first.inner_text()

    # A filter (the details open once something is searched).
    page.get_by_label("ERN").select_option(label="ERN LUNG")
    page.get_by_label("Name").fill("")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    assert [name.strip() for name in page.locator("ol.directory h3").all_inner_texts()] == ["Marta Rossi"]

    page.get_by_role("button", name="Show contact details of Marta Rossi").click()
    page.wait_for_url(re.compile(rf"/directory/{marta.pk}/contact/$"))
    assert marta.user.email in page.content()
    assert AuditEvent.objects.filter(action="directory.contact_revealed", object_id=str(marta.pk)).exists()
    page.get_by_role("link", name="Back to the directory").click()
    page.wait_for_url(re.compile(r"/directory/\?"))
    assert "ern=" in page.url
