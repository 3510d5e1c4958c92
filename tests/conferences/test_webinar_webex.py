"""A webinar end to end with a real Celery worker and the fake Webex server (every
body checked against Cisco's OpenAPI file): publish → the worker creates the
webinar with the speakers as panelists → registrants are added as they get seats
→ cancelling the webinar takes it off Webex."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.db import transaction

from conferences.models import ProviderMeeting, Webinar
from conferences.webinars import services as webinars
from tests import factories
from tests.conferences.fake_webex import FakeWebex
from tests.conftest import wait_for


@pytest.fixture
def webex(fake_webex: FakeWebex, settings: Any) -> FakeWebex:
    settings.VIDEO_BACKEND = "conferences.video.webex.WebexBackend"
    settings.WEBEX_BASE_URL = fake_webex.base_url
    settings.WEBEX_ACCESS_TOKEN = "test-token"
    settings.WEBEX_HOST_EMAIL = "host@example.org"
    settings.WEBEX_TIMEOUT = 2
    return fake_webex


def meeting_of(webinar: Webinar) -> ProviderMeeting:
    meeting_id = Webinar.objects.get(pk=webinar.pk).meeting_id
    assert meeting_id is not None
    return ProviderMeeting.objects.get(pk=meeting_id)


def test_a_published_webinar_is_made_on_webex_with_panelists_and_registrants(
    webex: FakeWebex, celery_worker: Any
) -> None:
    agent = factories.StaffFactory.create(role="agents")
    with transaction.atomic():
        webinar = factories.WebinarFactory.create(capacity=1)
        factories.SpeakerFactory.create(webinar=webinar, name="Prof. Panel", email="panel@ern.example.org")
        webinars.publish_webinar(webinar=webinar, by=agent)

    wait_for(lambda: meeting_of(webinar).state == ProviderMeeting.State.CREATED)
    (made,) = webex.meetings.values()
    assert made["scheduledType"] == "webinar"
    assert f"webinar-{webinar.pk}" in made["integrationTags"]
    assert {"email": "panel@ern.example.org", "panelist": True}.items() <= webex.invitees[0].items()

    seated, waiting = factories.ClinicianFactory.create_batch(2)
    with transaction.atomic():
        webinars.register(webinar=webinar, clinician=seated)
    with transaction.atomic():
        webinars.register(webinar=webinar, clinician=waiting)
    wait_for(lambda: [r["email"] for r in webex.registrants] == [seated.user.email])
    wait_for(
        lambda: any(seated.user.email in m.to for m in mail.outbox)
    )  # the confirmation, sent by the worker

    with transaction.atomic():
        webinars.cancel_webinar(webinar=webinar, by=agent, reason="The speaker is ill.")
    wait_for(lambda: meeting_of(webinar).state == ProviderMeeting.State.CANCELLED)
    assert webex.meetings == {}
    wait_for(lambda: sum(1 for m in mail.outbox if "Webinar cancelled" in m.subject) == 2)
