"""Service levels: due times in Brussels working hours.

Working hours are Monday to Friday, 09:00-17:00 Europe/Brussels, minus the
Commission's public holidays (an admin table). Urgent tickets are due in 4
working hours, normal ones in 2 working days; data-protection requests in one
calendar month, the legal limit. The clock stops while a ticket waits on its
requester.
"""

from __future__ import annotations

import calendar
import zoneinfo
from collections.abc import Collection
from datetime import date, datetime, time, timedelta

BRUSSELS = zoneinfo.ZoneInfo("Europe/Brussels")
DAY_START = time(9, 0)
DAY_END = time(17, 0)
WORKING_DAY = timedelta(hours=8)

URGENT = timedelta(hours=4)
NORMAL = 2 * WORKING_DAY


def is_working_day(day: date, holidays: Collection[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    return datetime.combine(day, DAY_START, BRUSSELS), datetime.combine(day, DAY_END, BRUSSELS)


def add_working_time(start: datetime, amount: timedelta, holidays: Collection[date]) -> datetime:
    """The moment `amount` of working time after `start` (an aware datetime)."""
    moment = start.astimezone(BRUSSELS)
    remaining = amount
    day = moment.date()
    while True:
        if is_working_day(day, holidays):
            opens, closes = _day_bounds(day)
            begin = max(moment, opens)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        day += timedelta(days=1)
        moment = datetime.combine(day, time(0, 0), BRUSSELS)


def working_time_between(start: datetime, end: datetime, holidays: Collection[date]) -> timedelta:
    """Working time from start to end (zero if end is not after start)."""
    if end <= start:
        return timedelta(0)
    start, end = start.astimezone(BRUSSELS), end.astimezone(BRUSSELS)
    total = timedelta(0)
    day = start.date()
    while day <= end.date():
        if is_working_day(day, holidays):
            opens, closes = _day_bounds(day)
            begin, finish = max(start, opens), min(end, closes)
            if finish > begin:
                total += finish - begin
        day += timedelta(days=1)
    return total


def add_calendar_month(start: datetime) -> datetime:
    """Same day and time next month; the month's last day if it is shorter."""
    local = start.astimezone(BRUSSELS)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)


def is_calendar_kind(kind: str) -> bool:
    return kind == "data_protection"


def service_level(priority: str) -> timedelta:
    """The working time a ticket of this priority gets."""
    return URGENT if priority == "urgent" else NORMAL


def due_at(*, kind: str, priority: str, opened_at: datetime, holidays: Collection[date]) -> datetime:
    if is_calendar_kind(kind):
        return add_calendar_month(opened_at)
    return add_working_time(opened_at, service_level(priority), holidays)


def remaining(*, kind: str, due: datetime, now: datetime, holidays: Collection[date]) -> timedelta:
    """Time left on the clock when it is paused at `now` (negative if overdue)."""
    if is_calendar_kind(kind):
        return due - now
    if due <= now:
        return -working_time_between(due, now, holidays)
    return working_time_between(now, due, holidays)


def resume(*, kind: str, left: timedelta, now: datetime, holidays: Collection[date]) -> datetime:
    """The new due time when the clock restarts at `now` with `left` on it."""
    if is_calendar_kind(kind) or left <= timedelta(0):
        return now + left
    return add_working_time(now, left, holidays)
