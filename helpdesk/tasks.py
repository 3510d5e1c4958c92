"""Thin tasks: call one service."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def close_resolved_tickets() -> int:
    return services.close_stale_resolved()
