"""The demo data of `make run`: loaded twice, still one of everything."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from clinicians.models import Clinician
from conferences.models import Conference, ProviderMeeting

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_coordinator_and_a_scheduled_conference(settings: object) -> None:
    call_command("load_demo", verbosity=0)
    call_command("load_demo", verbosity=0)

    coordinator = Clinician.objects.get(user__email="coordinator@cmss.example.org")
    assert coordinator.is_coordinator
    scheduled = Conference.objects.get(state=Conference.State.SCHEDULED)
    assert scheduled.hospital == coordinator.hospital
    assert scheduled.invitations.filter(clinician__user__email="verified@cmss.example.org").exists()
    assert scheduled.meeting is not None
    assert scheduled.meeting.state == ProviderMeeting.State.PENDING  # the worker of `make run` creates it
    assert Conference.objects.filter(state=Conference.State.REQUESTED, ticket__isnull=False).count() == 1
