"""Speakers edited on the webinar's admin page are saved through conferences.webinars.services:
the webinar's history records it and the provider webinar's panelists follow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.test import Client

from conferences.models import Webinar, WebinarEvent
from conferences.video import _backend_class
from conferences.webinars import services as webinars
from tests.factories import SpeakerFactory, WebinarFactory
from tests.forms import form_as_posted

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def local_backend(settings: Any) -> Iterator[None]:
    settings.VIDEO_BACKEND = "conferences.video.local.LocalBackend"
    _backend_class.cache_clear()
    with (
        mock.patch("conferences.tasks.realise_meeting.apply_async"),
        mock.patch("cmss.tasks.send_email.apply_async"),
    ):
        yield
    _backend_class.cache_clear()


def published_with_speaker(agent: Any) -> Webinar:
    webinar = WebinarFactory.create()
    SpeakerFactory.create(webinar=webinar, name="Dr Ana Pulmo", email="ana.pulmo@ern.example.org")
    return webinars.publish_webinar(webinar=webinar, by=agent)


def panelists(webinar: Webinar) -> set[str]:
    assert webinar.meeting is not None
    return set(webinar.meeting.invitees.wanted().filter(role="panelist").values_list("email", flat=True))


def test_a_speaker_added_in_the_admin_is_invited_and_recorded(agent_client: Client, agent: Any) -> None:
    webinar = published_with_speaker(agent)
    assert panelists(webinar) == {"ana.pulmo@ern.example.org"}
    url = f"/admin/conferences/webinar/{webinar.pk}/change/"
    data = form_as_posted(agent_client, url, "webinar_form")
    data.update(
        {
            "speakers-1-position": "2",
            "speakers-1-name": "Prof. Hepa Tico",
            "speakers-1-affiliation": "Hôpital Bicêtre, Paris",
            "speakers-1-email": "hepa.tico@ern.example.org",
        }
    )
    response = agent_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert [s.name for s in webinar.speakers.all()] == ["Dr Ana Pulmo", "Prof. Hepa Tico"]
    assert panelists(webinar) == {"ana.pulmo@ern.example.org", "hepa.tico@ern.example.org"}
    event = WebinarEvent.objects.get(webinar=webinar, action="speakers_changed")
    assert event.actor == agent
    # The history names no one: it is kept after the speakers' data is erased.
    assert "Hepa" not in event.note
    history = agent_client.get(url).content.decode()
    assert "speakers_changed" in history


def test_a_speaker_removed_in_the_admin_is_no_longer_a_panelist(agent_client: Client, agent: Any) -> None:
    webinar = published_with_speaker(agent)
    url = f"/admin/conferences/webinar/{webinar.pk}/change/"
    data = form_as_posted(agent_client, url, "webinar_form")
    data["speakers-0-DELETE"] = "on"
    assert agent_client.post(url, data).status_code == 302
    assert not webinar.speakers.exists()
    assert panelists(webinar) == set()
    assert WebinarEvent.objects.filter(webinar=webinar, action="speakers_changed", actor=agent).count() == 1


def test_saving_the_webinar_without_touching_the_speakers_records_no_speaker_change(
    agent_client: Client, agent: Any
) -> None:
    webinar = published_with_speaker(agent)
    url = f"/admin/conferences/webinar/{webinar.pk}/change/"
    assert agent_client.post(url, form_as_posted(agent_client, url, "webinar_form")).status_code == 302
    assert not WebinarEvent.objects.filter(webinar=webinar, action="speakers_changed").exists()
    assert panelists(webinar) == {"ana.pulmo@ern.example.org"}
