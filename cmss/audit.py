"""The one way to write the audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

from . import clientip
from .models import AuditEvent

if TYPE_CHECKING:
    from django.http import HttpRequest

    from .models import User


def client_ip(request: HttpRequest | None) -> str | None:
    return clientip.client_ip(request) if request is not None else None


def record(
    *,
    action: str,
    actor: User | None = None,
    obj: models.Model | None = None,
    subject: User | None = None,
    request: HttpRequest | None = None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
) -> AuditEvent:
    """Append one audit event: who (actor) did what (action) to which object,
    whose personal data it was (subject), from where, with what outcome."""
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    return AuditEvent.objects.create(
        action=action,
        actor_id=actor.pk if actor is not None else None,
        subject_user_id=subject.pk if subject is not None else None,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        ip_address=client_ip(request),
        outcome=outcome,
    )
