"""Retention: each app registers how to purge its data past the periods of the
RetentionPolicy row; a beat task applies them all. The registry keeps cmss
from importing the apps (they register in their AppConfig.ready)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .models import AuditEvent, OutgoingEmail, RetentionPolicy

logger = logging.getLogger(__name__)

Purge = Callable[[RetentionPolicy, datetime], int]
_PURGES: dict[str, Purge] = {}


def register(name: str, purge: Purge) -> None:
    _PURGES[name] = purge


def purge_sent_emails(policy: RetentionPolicy, now: datetime) -> int:
    done = [OutgoingEmail.State.SENT, OutgoingEmail.State.FAILED, OutgoingEmail.State.CANCELLED]
    deleted, _ = OutgoingEmail.objects.filter(
        state__in=done, created_at__lt=policy.cutoff("sent_emails_days", now)
    ).delete()
    return deleted


def purge_audit_events(policy: RetentionPolicy, now: datetime) -> int:
    # A queryset delete: the model refuses deleting one event; retention is the one way out.
    deleted, _ = AuditEvent.objects.filter(at__lt=policy.cutoff("audit_events_days", now)).delete()
    return deleted


register("sent emails", purge_sent_emails)
register("audit events", purge_audit_events)


def apply(*, now: datetime | None = None) -> dict[str, int]:
    """Run every registered purge; one failing purge does not stop the others."""
    now = now or timezone.now()
    policy = RetentionPolicy.load()
    results: dict[str, int] = {}
    for name, purge in _PURGES.items():
        try:
            with transaction.atomic():
                results[name] = purge(policy, now)
        except Exception:
            logger.exception("Retention purge %s failed", name)
            results[name] = -1
    logger.info("Retention applied: %s", results)
    return results
