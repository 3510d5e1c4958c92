"""Thin tasks: load by primary key, call one service."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True, ignore_result=True)
def realise_meeting(meeting_id: int) -> str | None:
    state = services.realise_meeting(meeting_id=meeting_id)
    return str(state) if state else None


@shared_task(ignore_result=True)
def sweep_meetings() -> int:
    return services.sweep_meetings()


@shared_task(ignore_result=True)
def send_reminders() -> int:
    from . import reminders

    return reminders.sweep()
