"""Service levels: due times in Brussels working hours, and a clock that stops while waiting."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from helpdesk import services, sla
from helpdesk.models import Holiday, Ticket
from helpdesk.reference import HOLIDAYS
from tests.factories import ClinicianFactory, StaffFactory

BRUSSELS = zoneinfo.ZoneInfo("Europe/Brussels")
DAYS_OFF = frozenset(day for day, _name in HOLIDAYS)
NO_DAYS_OFF: frozenset[date] = frozenset()


def brussels(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BRUSSELS)


class Clock:
    """The test's clock (time-machine): it moves every clock of the process, so model
    defaults such as `default=timezone.now` follow it too (patching
    django.utils.timezone.now did not reach them: they hold the original function)."""

    def __init__(self, traveller: Any) -> None:
        self.traveller = traveller

    def __call__(self) -> datetime:
        return timezone.now()

    def set(self, moment: datetime) -> None:
        self.traveller.move_to(moment, tick=False)

    def advance(self, **delta: float) -> None:
        self.traveller.shift(timedelta(**delta))


@pytest.fixture
def clock(time_machine: Any) -> Clock:
    time_machine.move_to(datetime.now(UTC), tick=False)
    return Clock(time_machine)


def urgent_due(opened: datetime, holidays: frozenset[date] = DAYS_OFF) -> datetime:
    return sla.due_at(kind="question", priority="urgent", opened_at=opened, holidays=holidays)


def normal_due(opened: datetime, holidays: frozenset[date] = DAYS_OFF) -> datetime:
    return sla.due_at(kind="question", priority="normal", opened_at=opened, holidays=holidays)


# --- Working hours (pure) -------------------------------------------------------------------


def test_an_urgent_ticket_opened_friday_afternoon_is_due_monday_at_eleven() -> None:
    assert urgent_due(brussels(2026, 6, 12, 15)) == brussels(2026, 6, 15, 11)


def test_a_normal_ticket_is_due_two_working_days_later_at_the_same_time() -> None:
    assert normal_due(brussels(2026, 6, 8, 10)) == brussels(2026, 6, 10, 10)


def test_a_normal_ticket_opened_at_nine_is_due_the_next_day_at_five() -> None:
    assert normal_due(brussels(2026, 6, 8, 9)) == brussels(2026, 6, 9, 17)


def test_a_ticket_opened_on_saturday_counts_from_monday_nine() -> None:
    assert urgent_due(brussels(2026, 6, 13, 11, 30)) == brussels(2026, 6, 15, 13)
    assert normal_due(brussels(2026, 6, 14, 23, 59)) == brussels(2026, 6, 16, 17)


def test_a_ticket_opened_before_nine_counts_from_nine() -> None:
    assert urgent_due(brussels(2026, 6, 9, 7, 30)) == brussels(2026, 6, 9, 13)
    assert normal_due(brussels(2026, 6, 9, 0, 5)) == brussels(2026, 6, 10, 17)


def test_a_ticket_opened_after_five_counts_from_the_next_working_morning() -> None:
    assert urgent_due(brussels(2026, 6, 9, 17)) == brussels(2026, 6, 10, 13)
    assert urgent_due(brussels(2026, 6, 12, 18)) == brussels(2026, 6, 15, 13)


def test_a_ticket_opened_at_one_minute_to_five_uses_that_minute() -> None:
    assert urgent_due(brussels(2026, 6, 9, 16, 59)) == brussels(2026, 6, 10, 12, 59)
    assert normal_due(brussels(2026, 6, 8, 16, 59)) == brussels(2026, 6, 10, 16, 59)
    # On a Friday the rest carries over the weekend.
    assert urgent_due(brussels(2026, 6, 12, 16, 59)) == brussels(2026, 6, 15, 12, 59)


def test_a_ticket_due_exactly_at_closing_time_is_due_at_five_not_next_morning() -> None:
    assert urgent_due(brussels(2026, 6, 9, 13)) == brussels(2026, 6, 9, 17)


def test_easter_is_skipped_maundy_thursday_to_easter_monday() -> None:
    # 2026: Thursday 2 April to Monday 6 April are closed.
    assert urgent_due(brussels(2026, 4, 1, 15)) == brussels(2026, 4, 7, 11)
    # 2027: Thursday 25 March to Monday 29 March, across the switch to summer time.
    assert urgent_due(brussels(2027, 3, 24, 16)) == brussels(2027, 3, 30, 12)


def test_easter_monday_alone_pushes_the_due_time_a_day() -> None:
    only_easter_monday = frozenset({date(2027, 3, 29)})
    assert urgent_due(brussels(2027, 3, 26, 15), only_easter_monday) == brussels(2027, 3, 30, 11)


def test_the_christmas_closure_and_new_year_are_skipped() -> None:
    # Closed 24-31 December 2026 and 1 January 2027, then a weekend.
    assert urgent_due(brussels(2026, 12, 23, 15)) == brussels(2027, 1, 4, 11)
    assert normal_due(brussels(2026, 12, 22, 10)) == brussels(2027, 1, 4, 10)
    # 1 and 2 January 2026 (Thursday and Friday) are both closed.
    assert urgent_due(brussels(2025, 12, 31, 15)) == brussels(2026, 1, 5, 11)


def test_the_due_time_keeps_the_brussels_wall_clock_across_the_spring_dst_change() -> None:
    # Brussels moves to summer time on Sunday 28 March 2027.
    opened = brussels(2027, 3, 26, 15)  # 14:00 UTC
    due = urgent_due(opened, NO_DAYS_OFF)
    assert due == brussels(2027, 3, 29, 11)
    assert due.astimezone(UTC) == datetime(2027, 3, 29, 9, tzinfo=UTC)
    # The night of the change is an hour short.
    assert due.astimezone(UTC) - opened.astimezone(UTC) == timedelta(hours=67)
    assert sla.working_time_between(opened, due, NO_DAYS_OFF) == timedelta(hours=4)


def test_the_due_time_keeps_the_brussels_wall_clock_across_the_autumn_dst_change() -> None:
    # Back to winter time on Sunday 25 October 2026.
    opened = brussels(2026, 10, 23, 15)
    due = urgent_due(opened)
    assert due == brussels(2026, 10, 26, 11)
    assert due.astimezone(UTC) == datetime(2026, 10, 26, 10, tzinfo=UTC)
    assert due.astimezone(UTC) - opened.astimezone(UTC) == timedelta(hours=69)


def test_an_opening_time_in_another_zone_is_read_as_brussels_time() -> None:
    opened = datetime(2026, 6, 12, 13, tzinfo=UTC)  # 15:00 in Brussels (summer time)
    assert urgent_due(opened) == brussels(2026, 6, 15, 11)


def test_working_time_between_counts_only_working_hours() -> None:
    between = sla.working_time_between
    assert between(brussels(2026, 6, 12, 15), brussels(2026, 6, 15, 11), DAYS_OFF) == timedelta(hours=4)
    assert between(brussels(2026, 6, 13, 8), brussels(2026, 6, 14, 20), DAYS_OFF) == timedelta(0)
    assert between(brussels(2026, 12, 23, 8), brussels(2027, 1, 4, 20), DAYS_OFF) == timedelta(hours=16)
    # The wrong way round is no time at all.
    assert between(brussels(2026, 6, 15, 11), brussels(2026, 6, 12, 15), DAYS_OFF) == timedelta(0)


def test_a_data_protection_request_is_due_one_calendar_month_later() -> None:
    def due(opened: datetime) -> datetime:
        return sla.due_at(kind="data_protection", priority="normal", opened_at=opened, holidays=DAYS_OFF)

    assert due(brussels(2026, 6, 12, 15, 30)) == brussels(2026, 7, 12, 15, 30)
    # Weekends and holidays do not matter: the legal limit is a calendar month.
    assert due(brussels(2026, 11, 24, 10)) == brussels(2026, 12, 24, 10)
    assert due(brussels(2026, 12, 31, 10)) == brussels(2027, 1, 31, 10)
    # A shorter month clamps to its last day.
    assert due(brussels(2027, 1, 31, 10)) == brussels(2027, 2, 28, 10)
    assert due(brussels(2028, 1, 31, 10)) == brussels(2028, 2, 29, 10)
    assert due(brussels(2026, 3, 31, 10)) == brussels(2026, 4, 30, 10)
    # Across the change to summer time the wall-clock time stays.
    assert due(brussels(2027, 3, 10, 10)).astimezone(UTC) == datetime(2027, 4, 10, 8, tzinfo=UTC)


ZONES = st.sampled_from(
    [UTC, BRUSSELS, zoneinfo.ZoneInfo("America/New_York"), zoneinfo.ZoneInfo("Asia/Kolkata")]
)
MOMENTS = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=ZONES, allow_imaginary=False
)
AMOUNTS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=100))


@given(start=MOMENTS, amount=AMOUNTS)
def test_adding_working_time_and_measuring_it_back_round_trips(start: datetime, amount: timedelta) -> None:
    due = sla.add_working_time(start, amount, DAYS_OFF)
    assert due >= start
    assert sla.working_time_between(start, due, DAYS_OFF) == amount
    local = due.astimezone(BRUSSELS)
    assert sla.is_working_day(local.date(), DAYS_OFF)
    assert sla.DAY_START <= local.time() <= sla.DAY_END


@given(start=MOMENTS, first=AMOUNTS, second=AMOUNTS.filter(lambda amount: amount > timedelta(0)))
def test_working_time_adds_up_in_steps(start: datetime, first: timedelta, second: timedelta) -> None:
    in_two_steps = sla.add_working_time(sla.add_working_time(start, first, DAYS_OFF), second, DAYS_OFF)
    assert in_two_steps == sla.add_working_time(start, first + second, DAYS_OFF)


# --- Due times set by the services ---------------------------------------------------------------


@pytest.mark.django_db
def test_open_ticket_sets_the_due_time_from_the_priority(clock: Clock) -> None:
    clock.set(brussels(2026, 6, 12, 15))
    urgent = services.open_ticket(kind="question", subject="Oxygen supply", priority="urgent")
    normal = services.open_ticket(kind="question", subject="Directory question")
    assert urgent.due_at == brussels(2026, 6, 15, 11)
    assert normal.due_at == brussels(2026, 6, 16, 15)
    assert urgent.created_at == brussels(2026, 6, 12, 15)


@pytest.mark.django_db
def test_open_ticket_skips_the_days_in_the_holiday_table(clock: Clock) -> None:
    assert Holiday.objects.filter(date=date(2027, 3, 29), name="Easter Monday").exists()
    clock.set(brussels(2027, 3, 24, 16))
    assert services.open_ticket(kind="question", subject="Q", priority="urgent").due_at == brussels(
        2027, 3, 30, 12
    )
    # A day a supervisor adds to the table counts from then on.
    Holiday.objects.create(date=date(2026, 6, 15), name="Office move")
    clock.set(brussels(2026, 6, 12, 15))
    assert services.open_ticket(kind="question", subject="Q", priority="urgent").due_at == brussels(
        2026, 6, 16, 11
    )


@pytest.mark.django_db
def test_a_data_protection_ticket_opened_on_31_january_is_due_on_28_february(clock: Clock) -> None:
    clock.set(brussels(2027, 1, 31, 10))
    ticket = services.open_ticket(
        kind=Ticket.Kind.DATA_PROTECTION, subject="Access request", priority="urgent"
    )
    assert ticket.due_at == brussels(2027, 2, 28, 10)


@pytest.mark.django_db
def test_the_clock_stops_while_the_ticket_waits_on_the_requester(clock: Clock) -> None:
    agent = StaffFactory.create()
    clock.set(brussels(2026, 6, 8, 10))  # Monday
    ticket = services.open_ticket(kind="question", subject="Q")
    old_due = ticket.due_at
    assert old_due == brussels(2026, 6, 10, 10)

    paused = brussels(2026, 6, 8, 14)
    clock.set(paused)
    ticket = services.change_state(ticket=ticket, to=Ticket.State.WAITING, by=agent)
    assert ticket.waiting_since == paused
    assert ticket.time_left_when_paused == timedelta(hours=12)

    resumed = brussels(2026, 6, 9, 11)  # 3 h on Monday and 2 h on Tuesday spent waiting
    clock.set(resumed)
    ticket = services.change_state(ticket=ticket, to=Ticket.State.OPEN, by=agent)
    waited = sla.working_time_between(paused, resumed, DAYS_OFF)
    assert waited == timedelta(hours=5)
    assert ticket.due_at == sla.add_working_time(old_due, waited, DAYS_OFF) == brussels(2026, 6, 10, 15)
    ticket.refresh_from_db()
    assert ticket.due_at == brussels(2026, 6, 10, 15)
    assert ticket.waiting_since is None
    assert ticket.time_left_when_paused is None


@pytest.mark.django_db
def test_waiting_over_the_easter_closure_costs_only_the_working_hours_waited(clock: Clock) -> None:
    agent = StaffFactory.create()
    clock.set(brussels(2026, 4, 1, 15))  # Wednesday before Easter
    ticket = services.open_ticket(kind="question", subject="Q", priority="urgent")
    assert ticket.due_at == brussels(2026, 4, 7, 11)
    clock.set(brussels(2026, 4, 1, 16))
    services.change_state(ticket=ticket, to=Ticket.State.WAITING, by=agent)
    clock.set(brussels(2026, 4, 5, 20))  # Easter Sunday evening: one working hour was spent waiting
    ticket = services.change_state(ticket=ticket, to=Ticket.State.OPEN, by=agent)
    assert ticket.due_at == brussels(2026, 4, 7, 12)


@pytest.mark.django_db
def test_waiting_outside_working_hours_costs_nothing(clock: Clock) -> None:
    agent = StaffFactory.create()
    clock.set(brussels(2026, 4, 1, 15))
    ticket = services.open_ticket(kind="question", subject="Q", priority="urgent")
    clock.set(brussels(2026, 4, 1, 17, 30))
    services.change_state(ticket=ticket, to=Ticket.State.WAITING, by=agent)
    clock.set(brussels(2026, 4, 7, 8, 45))  # back before opening on Tuesday
    ticket = services.change_state(ticket=ticket, to=Ticket.State.OPEN, by=agent)
    assert ticket.due_at == brussels(2026, 4, 7, 11)


@pytest.mark.django_db
def test_the_clock_of_a_data_protection_ticket_stops_in_calendar_time(clock: Clock) -> None:
    agent = StaffFactory.create()
    clock.set(brussels(2027, 1, 31, 10))
    ticket = services.open_ticket(kind=Ticket.Kind.DATA_PROTECTION, subject="Erasure request")
    clock.set(brussels(2027, 2, 5, 12))
    services.change_state(ticket=ticket, to=Ticket.State.WAITING, by=agent)
    clock.set(brussels(2027, 2, 8, 12))  # three days
    ticket = services.change_state(ticket=ticket, to=Ticket.State.OPEN, by=agent)
    assert ticket.due_at == brussels(2027, 3, 3, 10)


@pytest.mark.django_db
def test_changing_the_priority_recomputes_the_due_time(clock: Clock) -> None:
    agent = StaffFactory.create()
    clock.set(brussels(2026, 6, 8, 10))
    ticket = services.open_ticket(kind="question", subject="Q")
    assert ticket.due_at == brussels(2026, 6, 10, 10)
    clock.set(brussels(2026, 6, 8, 11))
    ticket = services.set_priority(ticket=ticket, priority="urgent", by=agent)
    assert ticket.due_at == brussels(2026, 6, 8, 14)
    ticket = services.set_priority(ticket=ticket, priority="normal", by=agent)
    assert ticket.due_at == brussels(2026, 6, 10, 10)
    assert [(e.from_value, e.to_value) for e in ticket.events.filter(action="priority")] == [
        ("normal", "urgent"),
        ("urgent", "normal"),
    ]
    # Made urgent when more than four working hours have passed: overdue since 14:00 on the first day.
    clock.set(brussels(2026, 6, 9, 10))
    ticket = services.set_priority(ticket=ticket, priority="urgent", by=agent)
    assert ticket.due_at == brussels(2026, 6, 8, 14)
    assert ticket.is_overdue


@pytest.mark.django_db
def test_changing_the_priority_of_a_waiting_ticket_moves_the_time_left_on_the_paused_clock(
    clock: Clock,
) -> None:
    agent = StaffFactory.create()
    clock.set(brussels(2026, 6, 8, 10))
    ticket = services.open_ticket(kind="question", subject="Q")
    clock.set(brussels(2026, 6, 8, 11))
    services.change_state(ticket=ticket, to=Ticket.State.WAITING, by=agent)
    ticket = services.set_priority(ticket=ticket, priority="urgent", by=agent)
    assert ticket.time_left_when_paused == timedelta(hours=3)
    clock.set(brussels(2026, 6, 9, 9))
    ticket = services.change_state(ticket=ticket, to=Ticket.State.OPEN, by=agent)
    assert ticket.due_at == brussels(2026, 6, 9, 12)


@pytest.mark.django_db
def test_changing_the_priority_keeps_the_credit_for_time_spent_waiting(clock: Clock) -> None:
    agent = StaffFactory.create()
    clock.set(brussels(2026, 6, 8, 10))  # Monday; due Wednesday 10:00
    ticket = services.open_ticket(kind="question", subject="Q")
    clock.set(brussels(2026, 6, 8, 11))
    services.change_state(ticket=ticket, to=Ticket.State.WAITING, by=agent)
    clock.set(brussels(2026, 6, 10, 11))  # two working days waiting: due Friday 10:00
    ticket = services.change_state(ticket=ticket, to=Ticket.State.OPEN, by=agent)
    assert ticket.due_at == brussels(2026, 6, 12, 10)

    clock.set(brussels(2026, 6, 10, 12))
    ticket = services.set_priority(ticket=ticket, priority="urgent", by=agent)
    # One working hour was used before the wait: three are left from the moment it reopened.
    assert ticket.due_at == brussels(2026, 6, 10, 14)
    ticket = services.set_priority(ticket=ticket, priority="normal", by=agent)
    assert ticket.due_at == brussels(2026, 6, 12, 10)


@pytest.mark.django_db
def test_the_priority_of_a_data_protection_ticket_does_not_change_its_legal_limit(clock: Clock) -> None:
    agent = StaffFactory.create()
    clock.set(brussels(2027, 1, 31, 10))
    ticket = services.open_ticket(kind=Ticket.Kind.DATA_PROTECTION, subject="Erasure request")
    clock.set(brussels(2027, 2, 5, 12))
    services.change_state(ticket=ticket, to=Ticket.State.WAITING, by=agent)
    clock.set(brussels(2027, 2, 8, 12))
    ticket = services.change_state(ticket=ticket, to=Ticket.State.OPEN, by=agent)
    ticket = services.set_priority(ticket=ticket, priority="urgent", by=agent)
    assert ticket.due_at == brussels(2027, 3, 3, 10)


# --- Overdue --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_overdue_lists_new_and_open_tickets_past_due_but_not_waiting_or_resolved_ones(clock: Clock) -> None:
    agent = StaffFactory.create()
    requester = ClinicianFactory.create().user
    clock.set(brussels(2026, 6, 8, 10))

    def opened(subject: str, priority: str = "urgent") -> Ticket:
        return services.open_ticket(kind="question", subject=subject, priority=priority, requester=requester)

    new_late = opened("New and late")
    open_late = services.assign(ticket=opened("Open and late"), to=agent, by=agent)
    waiting = services.change_state(ticket=opened("Waiting"), to=Ticket.State.WAITING, by=agent)
    resolved = services.resolve(ticket=opened("Resolved"), by=agent)
    not_yet = opened("Not yet due", priority="normal")

    clock.set(brussels(2026, 6, 8, 15))  # the urgent ones were due at 14:00
    assert open_late.state == Ticket.State.OPEN
    assert set(Ticket.objects.overdue()) == {new_late, open_late}
    assert [t.subject for t in Ticket.objects.overdue().order_by("subject")] == [
        "New and late",
        "Open and late",
    ]
    assert Ticket.objects.overdue(now=brussels(2026, 6, 8, 13)).count() == 0

    for ticket in (new_late, open_late):
        ticket.refresh_from_db()
        assert ticket.is_overdue
    for ticket in (waiting, resolved, not_yet):
        ticket.refresh_from_db()
        assert not ticket.is_overdue

    clock.set(brussels(2026, 6, 8, 13, 59))
    new_late.refresh_from_db()
    assert not new_late.is_overdue
