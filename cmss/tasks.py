"""Thin tasks: load by primary key, call one service."""

from __future__ import annotations

from celery import shared_task

from . import outbox


@shared_task(acks_late=True, ignore_result=True)
def send_email(email_id: int) -> str | None:
    state = outbox.deliver(email_id=email_id)
    return str(state) if state else None


@shared_task(ignore_result=True)
def sweep_outbox() -> int:
    return outbox.sweep()


@shared_task(ignore_result=True)
def apply_retention() -> dict[str, int]:
    from . import retention

    return retention.apply()


@shared_task(ignore_result=True)
def clear_sessions() -> int:
    from . import personal_data

    return personal_data.clear_ended_sessions()
