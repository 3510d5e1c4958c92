"""The local video backend: the adapter interface, with no provider account."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from conferences.models import LocalVideoMeeting
from conferences.video import Invitee, MeetingSpec, PermanentVideoError, get_backend
from conferences.video.local import LocalBackend

pytestmark = pytest.mark.django_db

START = timezone.now() + timedelta(days=2)


def spec(key: str = "conference:1:v1", **changes: Any) -> MeetingSpec:
    values: dict[str, Any] = {
        "key": key,
        "title": "Case discussion: ECMO and MetabERN",
        "start": START,
        "end": START + timedelta(hours=1),
        "time_zone": "Europe/Brussels",
        "invitees": (Invitee(email="ana@hospital.example.org", name="Ana Novak"),),
    }
    values.update(changes)
    return MeetingSpec(**values)


def test_the_setting_chooses_the_backend(settings: Any) -> None:
    settings.VIDEO_BACKEND = "conferences.video.local.LocalBackend"
    assert isinstance(get_backend(), LocalBackend)


def test_each_meeting_gets_its_own_join_link_that_opens_the_demo_room(client: Client) -> None:
    backend = LocalBackend()
    first = backend.create(spec("conference:1:v1"))
    second = backend.create(spec("conference:2:v1"))
    assert first.join_url != second.join_url
    assert first.join_url.startswith("http://testserver/video/local/")
    page = client.get(first.join_url.removeprefix("http://testserver"))
    assert page.status_code == 200
    assert "Case discussion: ECMO and MetabERN" in page.content.decode()


def test_a_retried_create_finds_the_meeting_it_already_made() -> None:
    backend = LocalBackend()
    first = backend.create(spec())
    again = backend.create(spec())
    assert again.provider_id == first.provider_id
    assert LocalVideoMeeting.objects.count() == 1
    found = backend.find_by_key(
        "conference:1:v1", start=START - timedelta(days=1), end=START + timedelta(days=1)
    )
    assert found is not None and found.provider_id == first.provider_id
    assert (
        backend.find_by_key("conference:1:v1", start=START + timedelta(days=1), end=START + timedelta(days=3))
        is None
    )


def test_update_cancel_and_invitees() -> None:
    backend = LocalBackend()
    meeting = backend.create(spec())
    moved = backend.update(
        meeting.provider_id, spec(start=START + timedelta(hours=2), end=START + timedelta(hours=3))
    )
    assert moved.start == START + timedelta(hours=2)
    backend.add_invitee(meeting.provider_id, Invitee(email="jan@hospital.example.org"))
    backend.add_invitee(meeting.provider_id, Invitee(email="jan@hospital.example.org"))
    assert LocalVideoMeeting.objects.get().invitees == [
        "ana@hospital.example.org",
        "jan@hospital.example.org",
    ]
    backend.cancel(meeting.provider_id)
    backend.cancel(meeting.provider_id)  # already gone counts as done
    assert LocalVideoMeeting.objects.get().cancelled_at is not None
    with pytest.raises(PermanentVideoError):
        backend.update(meeting.provider_id, spec())


def test_remove_invitee_and_remove_registrant_take_the_person_off_the_local_meeting() -> None:
    backend = LocalBackend()
    made = backend.create(spec(kind="webinar"))
    backend.add_registrant(made.provider_id, Invitee(email="eva@hospital.example.org", registrant=True))
    assert backend.remove_registrant(made.provider_id, "EVA@hospital.example.org") is True
    assert backend.remove_invitee(made.provider_id, "ana@hospital.example.org") is True
    assert backend.remove_invitee(made.provider_id, "ana@hospital.example.org") is False
    assert LocalVideoMeeting.objects.get().invitees == []
