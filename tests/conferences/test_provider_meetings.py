"""Provider meetings: rows first, created once on the provider, retried with backoff."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, ClassVar
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone

from cmss import jobs
from conferences.meetings import pipeline
from conferences.meetings import sync as syncing
from conferences.models import LocalVideoMeeting, MeetingInvitee, ProviderMeeting
from conferences.tasks import realise_meeting, sweep_meetings
from conferences.video import (
    AmbiguousVideoError,
    Invitee,
    MeetingSpec,
    PermanentVideoError,
    RateLimitedVideoError,
    TransientVideoError,
    _backend_class,
)
from conferences.video import ProviderMeeting as RemoteMeeting
from conferences.video.local import LocalBackend

pytestmark = pytest.mark.django_db

START = timezone.now() + timedelta(days=3)
SCRIPTED = "tests.conferences.test_provider_meetings.ScriptedBackend"


class ScriptedBackend(LocalBackend):
    """The local backend, with failures scripted per create call."""

    script: ClassVar[list[Exception | str | Callable[[], object]]] = []
    calls: ClassVar[list[str]] = []
    # Run after the next add_registrant calls (something else happening meanwhile).
    after_registrant: ClassVar[list[Callable[[], None]]] = []

    def create(self, spec: MeetingSpec) -> RemoteMeeting:
        self.calls.append("create")
        step = self.script.pop(0) if self.script else None
        if step == "made-then-timeout":
            super().create(spec)
            raise AmbiguousVideoError("Timed out after sending the create.")
        if isinstance(step, Exception):
            raise step
        if callable(step):
            step()
        return super().create(spec)

    def find_by_key(self, key: str, *, start: datetime, end: datetime) -> RemoteMeeting | None:
        self.calls.append("find_by_key")
        return super().find_by_key(key, start=start, end=end)

    def update(self, provider_id: str, spec: MeetingSpec) -> RemoteMeeting:
        self.calls.append("update")
        return super().update(provider_id, spec)

    def add_registrant(self, provider_id: str, invitee: Invitee) -> None:
        self.calls.append("add_registrant")
        super().add_registrant(provider_id, invitee)
        if self.after_registrant:
            self.after_registrant.pop(0)()


@pytest.fixture(autouse=True)
def backend(settings: Any) -> Iterator[None]:
    settings.VIDEO_BACKEND = "conferences.video.local.LocalBackend"
    _backend_class.cache_clear()
    ScriptedBackend.script = []
    ScriptedBackend.calls = []
    ScriptedBackend.after_registrant = []
    yield
    _backend_class.cache_clear()


@pytest.fixture
def scripted(settings: Any) -> type[ScriptedBackend]:
    settings.VIDEO_BACKEND = SCRIPTED
    return ScriptedBackend


@pytest.fixture(autouse=True)
def apply_async() -> Iterator[mock.MagicMock]:
    with mock.patch("conferences.tasks.realise_meeting.apply_async") as patched:
        yield patched


def request(key: str = "conference:1:v1") -> ProviderMeeting:
    return pipeline.request_meeting(
        key=key,
        title="Case discussion: ECMO and MetabERN",
        start=START,
        end=START + timedelta(hours=1),
        time_zone="Europe/Brussels",
        invitees=[Invitee(email="ana@hospital.example.org", name="Ana Novak")],
    )


def live_on_provider() -> int:
    return LocalVideoMeeting.objects.filter(cancelled_at__isnull=True).count()


def test_the_task_is_enqueued_only_after_commit(
    django_capture_on_commit_callbacks: Any, apply_async: mock.MagicMock
) -> None:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        meeting = request()
        assert apply_async.call_count == 0
    apply_async.assert_called_once_with((meeting.pk,))
    assert meeting.state == "pending"


def test_requesting_the_same_key_twice_keeps_one_row(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        first = request()
        second = request()
    assert first.pk == second.pk and ProviderMeeting.objects.count() == 1
    assert len(callbacks) == 1


def test_the_task_run_twice_makes_one_meeting_on_the_provider() -> None:
    meeting = request()
    assert realise_meeting(meeting.pk) == "created"
    assert realise_meeting(meeting.pk) is None
    meeting.refresh_from_db()
    assert meeting.state == "created" and meeting.attempts == 1
    remote = LocalVideoMeeting.objects.get()
    assert meeting.provider_id == str(remote.provider_id)
    assert meeting.join_url.endswith(f"/video/local/{remote.provider_id}/")
    assert remote.invitees == ["ana@hospital.example.org"]


def test_a_transient_error_puts_the_row_back_for_later_and_the_next_attempt_succeeds(
    scripted: type[ScriptedBackend], apply_async: mock.MagicMock
) -> None:
    scripted.script = [TransientVideoError("503 Service Unavailable", tracking_id="ROUTER_1")]
    meeting = request()
    now = timezone.now()
    assert pipeline.realise_meeting(meeting_id=meeting.pk, now=now) == "pending"
    meeting.refresh_from_db()
    assert meeting.state == "pending" and meeting.attempts == 1
    assert meeting.next_attempt_at == now + timedelta(seconds=30)
    assert "503" in meeting.last_error and meeting.tracking_id == "ROUTER_1"
    apply_async.assert_called_once_with((meeting.pk,), countdown=30.0)
    # Not due yet: nothing is asked of the provider.
    assert pipeline.realise_meeting(meeting_id=meeting.pk, now=now + timedelta(seconds=10)) is None
    assert pipeline.realise_meeting(meeting_id=meeting.pk, now=now + timedelta(seconds=30)) == "created"
    meeting.refresh_from_db()
    assert meeting.state == "created" and meeting.attempts == 2 and meeting.last_error == ""
    assert live_on_provider() == 1


def test_a_rate_limited_call_waits_as_long_as_the_provider_asks(
    scripted: type[ScriptedBackend], apply_async: mock.MagicMock
) -> None:
    scripted.script = [RateLimitedVideoError("429 Too Many Requests", retry_after=30)]
    meeting = request()
    now = timezone.now()
    pipeline.realise_meeting(meeting_id=meeting.pk, now=now)
    meeting.refresh_from_db()
    assert meeting.state == "pending"
    assert meeting.next_attempt_at == now + timedelta(seconds=30)
    apply_async.assert_called_once_with((meeting.pk,), countdown=30.0)


def test_a_permanent_error_fails_the_row_visibly_and_a_retry_puts_it_back(
    scripted: type[ScriptedBackend], django_capture_on_commit_callbacks: Any, apply_async: mock.MagicMock
) -> None:
    scripted.script = [PermanentVideoError("400 Bad Request: title too long", tracking_id="ROUTER_9")]
    meeting = request()
    assert realise_meeting(meeting.pk) == "failed"
    meeting.refresh_from_db()
    assert meeting.state == "failed" and meeting.tracking_id == "ROUTER_9"
    assert "title too long" in meeting.last_error
    assert live_on_provider() == 0
    apply_async.assert_not_called()

    with django_capture_on_commit_callbacks(execute=True):
        assert pipeline.retry_meeting(meeting=meeting)
    apply_async.assert_called_once_with((meeting.pk,))
    assert realise_meeting(meeting.pk) == "created"
    meeting.refresh_from_db()
    assert meeting.state == "created" and live_on_provider() == 1
    assert not pipeline.retry_meeting(meeting=meeting)


def test_after_an_ambiguous_error_the_retry_adopts_the_meeting_it_already_made(
    scripted: type[ScriptedBackend],
) -> None:
    scripted.script = ["made-then-timeout"]
    meeting = request()
    now = timezone.now()
    assert pipeline.realise_meeting(meeting_id=meeting.pk, now=now) == "pending"
    assert live_on_provider() == 1
    assert pipeline.realise_meeting(meeting_id=meeting.pk, now=now + timedelta(minutes=1)) == "created"
    assert scripted.calls == ["create", "find_by_key"]
    meeting.refresh_from_db()
    assert LocalVideoMeeting.objects.count() == 1
    assert meeting.provider_id == str(LocalVideoMeeting.objects.get().provider_id)


def test_cancelling_while_the_worker_creates_leaves_nothing_on_the_provider(
    scripted: type[ScriptedBackend],
) -> None:
    meeting = request()
    scripted.script = [lambda: pipeline.cancel_meeting(meeting=meeting)]
    assert realise_meeting(meeting.pk) == "cancelled"
    meeting.refresh_from_db()
    assert meeting.state == "cancelled" and meeting.join_url == ""
    assert LocalVideoMeeting.objects.count() == 1 and live_on_provider() == 0


def test_cancelling_a_pending_meeting_that_was_never_sent_needs_no_provider_call(
    scripted: type[ScriptedBackend],
) -> None:
    meeting = request()
    assert pipeline.cancel_meeting(meeting=meeting) == "cancelled"
    assert realise_meeting(meeting.pk) is None
    assert scripted.calls == [] and LocalVideoMeeting.objects.count() == 0


def test_cancelling_a_created_meeting_takes_it_off_the_provider(
    django_capture_on_commit_callbacks: Any, apply_async: mock.MagicMock
) -> None:
    meeting = request()
    realise_meeting(meeting.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert pipeline.cancel_meeting(meeting=meeting) == "created"
    apply_async.assert_called_with((meeting.pk,))
    assert live_on_provider() == 1
    assert realise_meeting(meeting.pk) == "cancelled"
    meeting.refresh_from_db()
    assert meeting.state == "cancelled" and live_on_provider() == 0


def test_cancelling_after_an_ambiguous_error_finds_and_cancels_what_was_made(
    scripted: type[ScriptedBackend],
) -> None:
    scripted.script = ["made-then-timeout"]
    meeting = request()
    now = timezone.now()
    pipeline.realise_meeting(meeting_id=meeting.pk, now=now)
    assert pipeline.cancel_meeting(meeting=meeting) == "pending"
    assert pipeline.realise_meeting(meeting_id=meeting.pk, now=now + timedelta(seconds=1)) == "cancelled"
    assert LocalVideoMeeting.objects.count() == 1 and live_on_provider() == 0


def test_the_sweeper_enqueues_a_row_whose_task_never_ran_and_frees_an_expired_lease(
    apply_async: mock.MagicMock, time_machine: Any
) -> None:
    time_machine.move_to(timezone.now(), tick=False)
    now = timezone.now()
    fresh = request("conference:fresh")
    lost = request("conference:lost")
    stuck = request("conference:stuck")
    ProviderMeeting.objects.filter(pk=lost.pk).update(next_attempt_at=now - timedelta(minutes=5))
    ProviderMeeting.objects.filter(pk=stuck.pk).update(
        state="creating",
        attempts=1,
        lease_expires_at=now - timedelta(seconds=1),
        next_attempt_at=now - timedelta(minutes=10),
    )
    assert sweep_meetings() == 2
    assert sorted(call.args[0] for call in apply_async.call_args_list) == sorted([(lost.pk,), (stuck.pk,)])
    stuck.refresh_from_db()
    assert stuck.state == "pending" and stuck.lease_expires_at is None
    fresh.refresh_from_db()
    assert fresh.state == "pending"
    # The freed row is created, looking first for what the dead worker made.
    assert pipeline.realise_meeting(meeting_id=stuck.pk, now=now) == "created"
    assert live_on_provider() == 1


def test_a_worker_may_take_over_a_row_whose_lease_expired() -> None:
    meeting = request()
    now = timezone.now()
    ProviderMeeting.objects.filter(pk=meeting.pk).update(
        state="creating", attempts=1, lease_expires_at=now + timedelta(minutes=1)
    )
    assert pipeline.realise_meeting(meeting_id=meeting.pk, now=now) is None
    assert pipeline.realise_meeting(meeting_id=meeting.pk, now=now + timedelta(minutes=2)) == "created"
    meeting.refresh_from_db()
    assert meeting.attempts == 2


def test_backoff_never_goes_beyond_the_visibility_timeout_and_gives_up_after_eight_failures(
    scripted: type[ScriptedBackend], settings: Any, apply_async: mock.MagicMock
) -> None:
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
    scripted.script = [
        *[TransientVideoError("503")] * 7,
        RateLimitedVideoError("429", retry_after=7200),
        TransientVideoError("503"),
    ]
    meeting = request()
    now = timezone.now()
    delays = []
    for _ in range(8):
        assert pipeline.realise_meeting(meeting_id=meeting.pk, now=now) == "pending"
        meeting.refresh_from_db()
        delays.append((meeting.next_attempt_at - now).total_seconds())
        now = meeting.next_attempt_at
    assert delays == [30, 60, 120, 240, 480, 600, 600, 600]
    assert all(call.kwargs["countdown"] <= 600 for call in apply_async.call_args_list)
    # The 429 did not count: the eighth real failure is the last.
    assert pipeline.realise_meeting(meeting_id=meeting.pk, now=now) == "failed"
    meeting.refresh_from_db()
    assert meeting.state == "failed" and meeting.attempts == 8
    assert ProviderMeeting(attempts=1).backoff(retry_after=7200) == timedelta(seconds=600)


def test_a_short_run_of_429s_waits_at_least_the_backoff_and_does_not_fail_the_meeting(
    scripted: type[ScriptedBackend], settings: Any
) -> None:
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    settings.JOBS_BACKOFF_CAP_SECONDS = 3600
    storm = jobs.policy().max_attempts + 2
    scripted.script = [RateLimitedVideoError("429", retry_after=1)] * storm
    meeting = request()
    now = timezone.now()
    waits = []
    for _ in range(storm):
        assert pipeline.realise_meeting(meeting_id=meeting.pk, now=now) == "pending"
        meeting.refresh_from_db()
        waits.append((meeting.next_attempt_at - now).total_seconds())
        now = meeting.next_attempt_at
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert pipeline.realise_meeting(meeting_id=meeting.pk, now=now) == "created"
    assert live_on_provider() == 1


def test_an_endless_429_storm_still_fails_the_meeting_after_a_larger_cap_of_its_own(
    scripted: type[ScriptedBackend],
) -> None:
    scripted.script = [RateLimitedVideoError("429 Too Many Requests", retry_after=1)] * 100
    meeting = request()
    now = timezone.now()
    states = []
    while (state := pipeline.realise_meeting(meeting_id=meeting.pk, now=now)) == "pending":
        states.append(state)
        now = ProviderMeeting.objects.get(pk=meeting.pk).next_attempt_at
    assert state == "failed"
    assert jobs.policy().max_attempts < len(states) + 1 == ProviderMeeting.MAX_RATE_LIMITED < 100
    meeting.refresh_from_db()
    assert "429" in meeting.last_error and live_on_provider() == 0


def test_the_states_move_only_along_the_moves_written_on_the_model() -> None:
    meeting = ProviderMeeting(state="pending")
    assert meeting.can_move_to("creating") and meeting.can_move_to("cancelled")
    assert not meeting.can_move_to("created")
    meeting.state = "cancelled"
    assert not any(meeting.can_move_to(state) for state in ProviderMeeting.State.values)


def test_a_key_longer_than_webex_allows_is_refused() -> None:
    with pytest.raises(ValueError):
        request("x" * 65)


# --- Leases, registrants and what the admin shows ---------------------------------------------


def webinar_meeting() -> ProviderMeeting:
    return pipeline.request_meeting(
        key="webinar-1",
        title="ERN LUNG webinar",
        start=START,
        end=START + timedelta(hours=1),
        time_zone="Europe/Brussels",
        kind=ProviderMeeting.Kind.WEBINAR,
    )


def test_a_registrant_added_while_a_sync_runs_reaches_the_provider_at_once(
    scripted: type[ScriptedBackend], apply_async: mock.MagicMock
) -> None:
    meeting = webinar_meeting()
    assert realise_meeting(meeting.pk) == "created"
    pipeline.add_meeting_invitee(
        meeting=meeting, invitee=Invitee(email="first@hospital.example.org", registrant=True)
    )
    second = Invitee(email="second@hospital.example.org", registrant=True)
    scripted.after_registrant = [lambda: pipeline.add_meeting_invitee(meeting=meeting, invitee=second)]
    apply_async.reset_mock()

    now = timezone.now()
    assert pipeline.realise_meeting(meeting_id=meeting.pk, now=now) == "created"
    # The second registration came in while the worker held the row: the same run
    # pushed it (it reads the rows not yet synced until there are none), and the
    # row is free for the next run (no five-minute lease left behind).
    assert set(LocalVideoMeeting.objects.get().invitees) == {
        "first@hospital.example.org",
        "second@hospital.example.org",
    }
    meeting.refresh_from_db()
    assert meeting.lease_expires_at is None and meeting.in_sync()
    assert scripted.calls.count("add_registrant") == 2


def test_every_change_to_a_provider_meeting_moves_its_updated_at() -> None:
    meeting = request()
    seen = [meeting.updated_at]
    realise_meeting(meeting.pk)
    seen.append(ProviderMeeting.objects.get(pk=meeting.pk).updated_at)
    pipeline.update_meeting(meeting=meeting, title="Renamed")
    seen.append(ProviderMeeting.objects.get(pk=meeting.pk).updated_at)
    assert seen == sorted(seen) and len(set(seen)) == 3


def test_failed_meetings_are_listed_first_in_their_admin(client: Any) -> None:
    from tests.conftest import sign_in_staff
    from tests.factories import StaffFactory

    working = request("conference-working")
    ProviderMeeting.objects.filter(pk=working.pk).update(title="Working meeting", start=START)
    failed = request("conference-failed")
    ProviderMeeting.objects.filter(pk=failed.pk).update(
        title="Failed meeting", state="failed", start=START + timedelta(days=30)
    )
    refused = request("conference-refused")
    ProviderMeeting.objects.filter(pk=refused.pk).update(
        title="Refused update", state="created", sync_failed=True, start=START + timedelta(days=20)
    )
    sign_in_staff(client, StaffFactory.create(role="agents"))
    page = client.get("/admin/conferences/providermeeting/").content.decode()
    order = sorted(["Working meeting", "Failed meeting", "Refused update"], key=page.index)
    assert order[-1] == "Working meeting"


# --- Taking people off the provider meeting ----------------------------------------------------


def remote_invitees() -> list[str]:
    return sorted(LocalVideoMeeting.objects.get().invitees)


def wanted(meeting: ProviderMeeting) -> list[str]:
    """Who the row asks for on the provider."""
    return sorted(meeting.invitees.wanted().values_list("email", flat=True))


def on_provider(meeting: ProviderMeeting) -> list[str]:
    """The addresses that are (or may be) on the provider, as the row knows them."""
    return sorted(meeting.invitees.on_provider().values_list("email", flat=True))


def test_an_invitee_removed_from_a_created_meeting_is_removed_on_the_provider_by_the_worker(
    apply_async: mock.MagicMock, django_capture_on_commit_callbacks: Any
) -> None:
    meeting = request()
    realise_meeting(meeting.pk)
    with django_capture_on_commit_callbacks(execute=True):
        pipeline.remove_meeting_invitee(meeting=meeting, email="ANA@hospital.example.org")
    apply_async.assert_called_with((meeting.pk,))
    assert wanted(meeting) == [] and on_provider(meeting) == ["ana@hospital.example.org"]
    assert remote_invitees() == ["ana@hospital.example.org"]

    realise_meeting(meeting.pk)
    assert remote_invitees() == [] and on_provider(meeting) == []


@pytest.mark.parametrize("state", ["cancelled", "failed", "never created"])
def test_erasure_on_a_meeting_not_on_the_provider_drops_the_address_at_once(state: str) -> None:
    from tests.factories import ClinicianFactory

    person = ClinicianFactory.create(user__email="ana@hospital.example.org")
    meeting = request()
    if state != "never created":
        ProviderMeeting.objects.filter(pk=meeting.pk).update(state=state, attempts=1)
        meeting.invitees.update(sent_at=timezone.now())
    MeetingInvitee.erase_personal_data(person.user, "erased-x")
    assert wanted(meeting) == [] and on_provider(meeting) == []


def test_erasure_keeps_the_address_only_until_the_worker_removed_it_from_the_provider() -> None:
    from tests.factories import ClinicianFactory

    person = ClinicianFactory.create(user__email="ana@hospital.example.org")
    meeting = request()
    realise_meeting(meeting.pk)
    MeetingInvitee.erase_personal_data(person.user, "erased-x")
    assert wanted(meeting) == [] and on_provider(meeting) == ["ana@hospital.example.org"]
    assert not meeting.in_sync()

    realise_meeting(meeting.pk)
    assert on_provider(meeting) == [] and remote_invitees() == []


# --- Retention ---------------------------------------------------------------------------------


def test_provider_meetings_over_for_longer_than_the_retention_period_lose_invitees_and_agenda() -> None:
    from cmss import retention
    from cmss.models import RetentionPolicy

    now = timezone.now()
    assert RetentionPolicy.load().provider_meetings_days == 365

    def held(key: str, days_ago: int) -> tuple[ProviderMeeting, LocalVideoMeeting]:
        start = now - timedelta(days=days_ago)
        meeting = pipeline.request_meeting(
            key=key,
            title="Case",
            agenda="https://cmss.example.org/conferences/1/",
            start=start,
            end=start + timedelta(hours=1),
            time_zone="UTC",
            invitees=[Invitee(email=f"{key}@hospital.example.org")],
        )
        realise_meeting(meeting.pk)
        return ProviderMeeting.objects.get(pk=meeting.pk), LocalVideoMeeting.objects.get(key=key)

    old, old_room = held("old", 400)
    recent, recent_room = held("recent", 300)

    assert retention.apply(now=now)["provider meetings"] == 2

    old.refresh_from_db()
    old_room.refresh_from_db()
    assert (wanted(old), on_provider(old), old.agenda) == ([], [], "")
    assert (old_room.invitees, old_room.agenda) == ([], "")
    recent.refresh_from_db()
    recent_room.refresh_from_db()
    assert wanted(recent) != [] and on_provider(recent) == ["recent@hospital.example.org"]
    assert recent.agenda and recent_room.invitees == ["recent@hospital.example.org"] and recent_room.agenda
    assert retention.apply(now=now)["provider meetings"] == 0


# --- Invitees as rows ---------------------------------------------------------------------------


def registration_queries(meeting: ProviderMeeting, number: int) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    invitee = Invitee(email=f"seat{number}@hospital.example.org", name="A Clinician", registrant=True)
    with CaptureQueriesContext(connection) as queries:
        pipeline.add_meeting_invitee(meeting=meeting, invitee=invitee)
    return [query["sql"] for query in queries]


def test_registering_the_201st_person_writes_what_the_2nd_did_and_never_locks_the_meeting_row() -> None:
    meeting = webinar_meeting()
    assert realise_meeting(meeting.pk) == "created"
    second = registration_queries(meeting, 2)
    for number in range(3, 201):
        registration_queries(meeting, number)
    last = registration_queries(meeting, 201)
    assert len(last) == len(second)
    assert not [
        sql for sql in last if "FOR UPDATE" in sql or sql.startswith('UPDATE "conferences_providermeeting"')
    ]
    assert sum(1 for sql in last if sql.startswith("INSERT")) == 1


def test_a_worker_that_dies_mid_sync_never_sends_again_the_rows_it_had_marked_synced(
    scripted: type[ScriptedBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    from conferences.meetings import invitees

    class WorkerLost(BaseException):
        pass

    def die() -> None:
        raise WorkerLost

    monkeypatch.setattr(invitees, "BATCH", 5)
    meeting = webinar_meeting()
    assert realise_meeting(meeting.pk) == "created"
    for number in range(20):
        pipeline.add_meeting_invitee(
            meeting=meeting, invitee=Invitee(email=f"seat{number:02}@hospital.example.org", registrant=True)
        )
    scripted.after_registrant = [lambda: None] * 11 + [die]
    now = timezone.now()
    with pytest.raises(WorkerLost):
        pipeline.realise_meeting(meeting_id=meeting.pk, now=now)
    # Two batches of five marked synced; the third was on its way (two sent, unmarked).
    assert meeting.invitees.filter(synced_at__isnull=False).count() == 10
    scripted.calls = []
    assert pipeline.realise_meeting(meeting_id=meeting.pk, now=now + jobs.policy().lease) is None  # leased
    assert pipeline.realise_meeting(meeting_id=meeting.pk, now=now + jobs.policy().lease * 2) == "created"
    # Only the third batch is sent again (the local backend, like Webex, keeps one entry each).
    assert scripted.calls.count("add_registrant") == 10
    assert sorted(remote_invitees()) == [f"seat{number:02}@hospital.example.org" for number in range(20)]
    assert meeting.in_sync()


def test_a_long_sync_renews_its_lease_and_hands_over_to_a_fresh_task_past_its_budget(
    scripted: type[ScriptedBackend], monkeypatch: pytest.MonkeyPatch, apply_async: mock.MagicMock
) -> None:
    meeting = webinar_meeting()
    assert realise_meeting(meeting.pk) == "created"
    for number in range(3):
        pipeline.add_meeting_invitee(
            meeting=meeting, invitee=Invitee(email=f"seat{number}@hospital.example.org", registrant=True)
        )
    leases: list[Any] = []
    scripted.after_registrant = [
        lambda: leases.append(ProviderMeeting.objects.get(pk=meeting.pk).lease_expires_at)
    ] * 3
    monkeypatch.setattr(syncing, "LEASE_RENEWAL", timedelta(0))
    monkeypatch.setattr(syncing, "SYNC_BUDGET", timedelta(0))
    apply_async.reset_mock()
    claimed_at = timezone.now()
    assert pipeline.realise_meeting(meeting_id=meeting.pk, now=claimed_at) == "created"
    # Out of time after one registrant: the row is let go and queued again at once.
    assert remote_invitees() == ["seat0@hospital.example.org"]
    apply_async.assert_called_once_with((meeting.pk,))
    assert ProviderMeeting.objects.get(pk=meeting.pk).lease_expires_at is None
    pipeline.realise_meeting(meeting_id=meeting.pk)
    pipeline.realise_meeting(meeting_id=meeting.pk)
    assert len(remote_invitees()) == 3 and meeting.in_sync()

    # With a budget, one run does it all, renewing its lease as it goes.
    monkeypatch.setattr(syncing, "SYNC_BUDGET", timedelta(minutes=2))
    for number in range(3, 6):
        pipeline.add_meeting_invitee(
            meeting=meeting, invitee=Invitee(email=f"seat{number}@hospital.example.org", registrant=True)
        )
    leases.clear()
    scripted.after_registrant = [
        lambda: leases.append(ProviderMeeting.objects.get(pk=meeting.pk).lease_expires_at)
    ] * 3
    started = timezone.now()
    assert pipeline.realise_meeting(meeting_id=meeting.pk, now=started) == "created"
    assert len(remote_invitees()) == 6 and meeting.in_sync()
    # Renewed after each call: never less than a full lease ahead of that moment.
    assert leases[0] == started + jobs.policy().lease and leases == sorted(leases) and leases[-1] > leases[0]


def test_someone_who_cancels_and_registers_again_before_the_worker_runs_stays_on_the_provider(
    scripted: type[ScriptedBackend],
) -> None:
    meeting = webinar_meeting()
    realise_meeting(meeting.pk)
    person = Invitee(email="ana@hospital.example.org", name="Ana Novak", registrant=True)
    pipeline.add_meeting_invitee(meeting=meeting, invitee=person)
    realise_meeting(meeting.pk)
    pipeline.remove_meeting_invitee(meeting=meeting, email=person.email)
    pipeline.add_meeting_invitee(meeting=meeting, invitee=person)
    scripted.calls = []
    assert realise_meeting(meeting.pk) is None  # nothing to push
    assert remote_invitees() == ["ana@hospital.example.org"] and scripted.calls == []
    assert meeting.in_sync() and meeting.invitees.get().removed_at is None


def test_the_hook_run_once_the_meeting_exists_is_chosen_by_its_owner_not_by_its_key() -> None:
    told: list[str] = []
    pipeline.on_created("test-owner", lambda made: told.append(made.key))
    try:
        meeting = pipeline.request_meeting(
            key="webinar-but-not-really",
            owner="test-owner",
            title="Case",
            start=START,
            end=START + timedelta(hours=1),
            time_zone="UTC",
        )
        assert realise_meeting(meeting.pk) == "created"
    finally:
        pipeline._CREATED_HOOKS.pop("test-owner")
    assert told == ["webinar-but-not-really"]
    assert ProviderMeeting.objects.get(pk=meeting.pk).owner == "test-owner"


def test_erasure_finds_a_persons_invitee_rows_through_the_email_index(postgres: None) -> None:
    from django.db import connection

    meeting = request()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = MeetingInvitee.objects.of_address("Ana@Hospital.example.org").query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "meetinginvitee_email" in plan
    assert list(MeetingInvitee.objects.of_address("Ana@Hospital.example.org")) == list(meeting.invitees.all())
