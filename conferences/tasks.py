"""Thin tasks: load by primary key, call one service. Their names
(conferences.tasks.*) are held by queued messages and beat: keep them."""

from __future__ import annotations

from celery import shared_task

from .meetings import pipeline


@shared_task(acks_late=True, ignore_result=True)
def realise_meeting(meeting_id: int) -> str | None:
    state = pipeline.realise_meeting(meeting_id=meeting_id)
    return str(state) if state else None


@shared_task(ignore_result=True)
def sweep_meetings() -> int:
    return pipeline.sweep_meetings()


@shared_task(ignore_result=True)
def send_reminders() -> int:
    from .calendar import reminders

    return reminders.sweep()
