"""Which fields of which models hold personal data.

Our own models declare it with a PERSONAL_DATA_FIELDS class attribute
(an empty tuple says "none, on purpose"). Third-party models are declared
here. Export and erasure are driven by these declarations, and a test fails
when a model that looks person-related has none.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models

THIRD_PARTY: dict[str, tuple[str, ...]] = {
    "account.emailaddress": ("user", "email"),
    "account.emailconfirmation": ("email_address", "key"),
    "admin.logentry": ("user", "object_repr", "change_message"),
    "sessions.session": ("session_data",),
    "mfa.authenticator": ("user", "type", "created_at"),
    "auth.permission": (),
    "auth.group": (),
    "contenttypes.contenttype": (),
}


def declared_fields(model: type[models.Model]) -> tuple[str, ...] | None:
    """The declared personal-data fields of a model, or None if undeclared."""
    own = model.__dict__.get("PERSONAL_DATA_FIELDS")
    if own is not None:
        return tuple(own)
    return THIRD_PARTY.get(model._meta.label_lower)


def models_with_personal_data() -> list[tuple[type[models.Model], tuple[str, ...]]]:
    result = []
    for model in apps.get_models():
        fields = declared_fields(model)
        if fields:
            result.append((model, fields))
    return result


# --- Export and erasure ------------------------------------------------------------------
#
# Our models say whose rows are whose with a classmethod
# `personal_data_of(user) -> QuerySet`, and may scrub what deleting the user
# does not with `erase_personal_data(user, pseudonym)`. Third-party models are
# handled here. cmss finds them through the app registry, so it imports no app.

THIRD_PARTY_OWNERS: dict[str, str] = {
    "account.emailaddress": "user",
    "mfa.authenticator": "user",
}
ERASED = "[erased]"


def _owned(model: type[models.Model], user: Any) -> models.QuerySet[Any] | None:
    finder = model.__dict__.get("personal_data_of")
    if finder is not None:
        return model.personal_data_of(user)  # type: ignore[attr-defined]
    owner = THIRD_PARTY_OWNERS.get(model._meta.label_lower)
    if owner is not None:
        return model._default_manager.filter(**{owner: user})
    return None


# Never exported: credentials, not data about the person.
NOT_EXPORTED = {("cmss.user", "password"), ("mfa.authenticator", "data")}


def _value(obj: models.Model, name: str) -> Any:
    field = obj._meta.get_field(name)
    if field.many_to_many:
        return sorted(str(item) for item in getattr(obj, name).all())
    if field.is_relation:
        related = getattr(obj, name)
        return None if related is None else str(related)
    value = getattr(obj, name)
    if hasattr(value, "as_e164"):  # a phone number
        return value.as_e164
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    return str(value)


def export_for(user: Any) -> dict[str, list[dict[str, Any]]]:
    """Everything held about a person, per model: each row's fields, the
    declared personal-data fields always among them."""
    result: dict[str, list[dict[str, Any]]] = {}
    for model, fields in models_with_personal_data():
        rows = _owned(model, user)
        if rows is None:
            continue
        label = model._meta.label_lower
        names = [f.name for f in model._meta.concrete_fields if (label, f.name) not in NOT_EXPORTED]
        names += [name for name in fields if name not in names]
        redact = model.__dict__.get("redact_for_export")
        exported = [{name: _value(obj, name) for name in names} for obj in rows]
        if redact is not None:
            exported = [model.redact_for_export(row, user) for row in exported]  # type: ignore[attr-defined]
        result[label] = exported
    return result


def pseudonym_for(user: Any) -> str:
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:erased:{user.pk}".encode()).hexdigest()[:12]
    return f"erased-{digest}"


def erase(user: Any, *, needles: list[str]) -> str:
    """Delete or anonymise a person everywhere (call inside a transaction).

    `needles` are the person's email, names and phone numbers, used to scrub
    free text (admin log entries) that cannot be found by relation.
    """
    from django.contrib.admin.models import LogEntry
    from django.contrib.sessions.models import Session

    pseudonym = pseudonym_for(user)
    for model in apps.get_models():
        scrub = model.__dict__.get("erase_personal_data")
        if scrub is not None:
            model.erase_personal_data(user, pseudonym)  # type: ignore[attr-defined]
    for needle in filter(None, needles):
        LogEntry.objects.filter(object_repr__icontains=needle).update(object_repr=ERASED)
        LogEntry.objects.filter(change_message__icontains=needle).update(change_message="[]")
    user_id = str(user.pk)
    for session in Session.objects.iterator():
        if session.get_decoded().get("_auth_user_id") == user_id:
            session.delete()
    user.delete()
    return pseudonym
