"""The demo programme of `make run`: loaded twice, still one of everything."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from conferences.models import ProviderMeeting, Registration, Webinar

pytestmark = pytest.mark.django_db


def test_the_demo_has_published_webinars_ahead_and_held_ones_with_recordings(client: Client) -> None:
    with (
        mock.patch("conferences.tasks.realise_meeting.apply_async"),
        mock.patch("cmss.tasks.send_email.apply_async"),
    ):
        call_command("load_demo", verbosity=0)
        call_command("load_demo", verbosity=0)

    now = timezone.now()
    upcoming = Webinar.objects.upcoming(now)
    assert upcoming.count() == 4
    assert all(
        w.meeting is not None and w.meeting.state == ProviderMeeting.State.PENDING for w in upcoming
    )  # the worker makes them
    past = Webinar.objects.past(now)
    assert past.count() == 3 and past.exclude(recording_url="").count() == 2
    assert Webinar.objects.values("erns").distinct().count() >= 6
    full = Webinar.objects.with_seats().get(capacity=3)
    assert full.confirmed_count == 3 and full.waitlisted_count == 1  # type: ignore[attr-defined]  # with_seats() annotates them
    assert Registration.objects.filter(clinician__user__email="verified@cmss.example.org").count() == 2

    page = client.get("/webinars/").content.decode()
    for webinar in [*upcoming, *past]:
        assert webinar.title in page
    assert "Watch the recording" in page
