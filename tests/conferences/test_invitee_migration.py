"""Migration 0010: the JSON invitee lists of provider meetings become MeetingInvitee rows
(and back), and each meeting's owner is read from its key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("conferences", "0008_conference_events")]
AFTER = [("conferences", "0011_drop_invitee_lists")]


def migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_apps() -> Iterator[Any]:
    try:
        yield migrate(BEFORE)
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_the_invitee_lists_become_rows_and_back(old_apps: Any) -> None:
    meetings = old_apps.get_model("conferences", "ProviderMeeting")
    start = timezone.now() + timedelta(days=3)
    times = {"start": start, "end": start + timedelta(hours=1), "time_zone": "UTC", "title": "T"}
    webinar = meetings.objects.create(
        key="webinar-7",
        kind="webinar",
        state="created",
        invitees=[
            {"email": "Panel@ERN.example.org", "name": "Prof. Panel", "panelist": True, "registrant": False},
            {"email": "seat@hospital.example.org", "name": "A Seat", "panelist": False, "registrant": True},
            {"email": "new@hospital.example.org", "name": "New", "panelist": False, "registrant": True},
        ],
        provider_invitees=["panel@ern.example.org", "seat@hospital.example.org", "left@hospital.example.org"],
        **times,
    )
    conference = meetings.objects.create(
        key="conference-3",
        state="pending",
        attempts=1,
        invitees=[
            {"email": "ana@hospital.example.org", "name": "Ana", "panelist": False, "registrant": False}
        ],
        provider_invitees=["ana@hospital.example.org"],
        **times,
    )
    other = meetings.objects.create(key="erasure-test", **times)

    new_apps = migrate(AFTER)
    rows = new_apps.get_model("conferences", "MeetingInvitee").objects
    found = {
        (row.meeting_id, row.email): (
            row.role,
            row.sent_at is not None,
            row.synced_at is not None,
            row.removed_at is not None,
        )
        for row in rows.all()
    }
    assert found == {
        (webinar.pk, "panel@ern.example.org"): ("panelist", True, True, False),
        (webinar.pk, "seat@hospital.example.org"): ("registrant", True, True, False),
        (webinar.pk, "new@hospital.example.org"): ("registrant", False, False, False),
        # Left since it was sent: the worker takes it off Webex, then forgets it.
        (webinar.pk, "left@hospital.example.org"): ("registrant", True, True, True),
        # Sent with a create not yet confirmed: may be on the provider.
        (conference.pk, "ana@hospital.example.org"): ("invitee", True, False, False),
    }
    assert rows.get(email="seat@hospital.example.org").name == "A Seat"
    owners = dict(new_apps.get_model("conferences", "ProviderMeeting").objects.values_list("key", "owner"))
    assert owners == {"webinar-7": "webinar", "conference-3": "conference", "erasure-test": ""}

    back = migrate(BEFORE).get_model("conferences", "ProviderMeeting").objects
    webinar, conference, other = (back.get(pk=pk) for pk in (webinar.pk, conference.pk, other.pk))
    assert [item["email"] for item in webinar.invitees] == [
        "panel@ern.example.org",
        "seat@hospital.example.org",
        "new@hospital.example.org",
    ]
    assert webinar.invitees[0]["panelist"] and webinar.invitees[1]["registrant"]
    assert sorted(webinar.provider_invitees) == [
        "left@hospital.example.org",
        "panel@ern.example.org",
        "seat@hospital.example.org",
    ]
    assert conference.provider_invitees == ["ana@hospital.example.org"]
    assert (other.invitees, other.provider_invitees) == ([], [])
