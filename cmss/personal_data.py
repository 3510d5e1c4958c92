"""Which fields of which models hold personal data.

Our own models declare it with a PERSONAL_DATA_FIELDS class attribute
(an empty tuple says "none, on purpose"). Third-party models are declared
here. Export and erasure are driven by these declarations, and a test fails
when a model that looks person-related has none.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from importlib import import_module
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import Q

THIRD_PARTY: dict[str, tuple[str, ...]] = {
    "account.emailaddress": ("user", "email"),
    "account.emailconfirmation": ("email_address", "key"),
    "admin.logentry": ("user", "object_repr", "change_message"),
    "sessions.session": ("session_data",),
    # allauth's record of each sign-in: where from and with which browser.
    "usersessions.usersession": ("user", "ip", "user_agent", "created_at", "last_seen_at", "data"),
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


# --- Mentions: free text that may name anyone -------------------------------------------
#
# A note on someone else's ticket, an email to another invitee, an admin log
# line: rows that belong to nobody in particular but name the person. Models
# list such text fields in PERSONAL_DATA_MENTIONS (third-party ones here); they
# are searched for the person's needles (their address, names and phone
# numbers, from `needles_for`). The export shows a row found only this way with
# its id and the fields that name the person, nothing else of it; erasure
# blacks out the person in those same fields.

THIRD_PARTY_MENTIONS: dict[str, tuple[str, ...]] = {
    "admin.logentry": ("object_repr", "change_message"),
    # A copy of the address on another account (which allauth allowed before
    # ACCOUNT_MAX_EMAIL_ADDRESSES = 1); erasure deletes it (THIRD_PARTY_ERASERS).
    "account.emailaddress": ("email",),
}
# Shorter strings would match inside ordinary words.
MIN_NEEDLE_LENGTH = 5


def mention_fields(model: type[models.Model]) -> tuple[str, ...]:
    own = model.__dict__.get("PERSONAL_DATA_MENTIONS")
    if own is not None:
        return tuple(own)
    return THIRD_PARTY_MENTIONS.get(model._meta.label_lower, ())


def needles_for(user: Any) -> list[str]:
    """What names the person in free text: their email address, and what each
    model adds with a `personal_needles(user)` classmethod (the clinician's
    names and phone numbers). The export and erasure both search for these."""
    found = [user.email]
    for model in apps.get_models():
        if "personal_needles" in model.__dict__:
            found += model.personal_needles(user)  # type: ignore[attr-defined]
    return _distinct(found)


def _distinct(needles: Iterable[str]) -> list[str]:
    result: list[str] = []
    seen: set[str] = set()
    for needle in needles:
        needle = " ".join((needle or "").split())
        if len(needle) >= MIN_NEEDLE_LENGTH and needle.casefold() not in seen:
            seen.add(needle.casefold())
            result.append(needle)
    return result


def _pattern(needles: list[str]) -> re.Pattern[str]:
    """The needles as whole words, in any case; the longest first, so that a
    full name is blacked out before a part of it."""
    alternatives = (re.escape(needle) for needle in sorted(needles, key=len, reverse=True))
    return re.compile("|".join(rf"(?<!\w){item}(?!\w)" for item in alternatives), re.IGNORECASE)


def _mentions(
    model: type[models.Model], fields: tuple[str, ...], needles: list[str], pattern: re.Pattern[str]
) -> dict[Any, dict[str, str]]:
    """pk → {field: text} of the rows whose declared text names the person."""
    query = Q()
    for name in fields:
        for needle in needles:
            query |= Q(**{f"{name}__icontains": needle})
    found: dict[Any, dict[str, str]] = {}
    for row in model._default_manager.filter(query).values("pk", *fields).iterator():
        hits = {name: row[name] for name in fields if row[name] and pattern.search(row[name])}
        if hits:
            found[row["pk"]] = hits
    return found


def _mentioning(needles: list[str]) -> Iterable[tuple[type[models.Model], dict[Any, dict[str, str]]]]:
    if not needles:
        return
    pattern = _pattern(needles)
    for model in apps.get_models():
        fields = mention_fields(model)
        if fields:
            yield model, _mentions(model, fields, needles, pattern)


# --- Export and erasure ------------------------------------------------------------------
#
# Our models say whose rows are whose with a classmethod
# `personal_data_of(user) -> QuerySet`, and may scrub what deleting the user
# does not with `erase_personal_data(user, pseudonym)`. Third-party models are
# handled here. cmss finds them through the app registry, so it imports no app.

THIRD_PARTY_OWNERS: dict[str, str] = {
    "account.emailaddress": "user",
    "mfa.authenticator": "user",
    "usersessions.usersession": "user",
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
NOT_EXPORTED = {
    ("cmss.user", "password"),
    ("mfa.authenticator", "data"),
    ("usersessions.usersession", "session_key"),
}


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
    """Everything held about a person, per model: each of their rows with its
    fields (the declared personal-data fields always among them), then the rows
    of others that mention them, with only the fields that do."""
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
    for model, found in _mentioning(needles_for(user)):
        label = model._meta.label_lower
        pk = model._meta.pk.name
        exported = result.setdefault(label, [])
        own = {row.get(pk) for row in exported}
        exported += [{pk: key, **hits} for key, hits in found.items() if key not in own]
        if not exported:
            del result[label]
    return result


def pseudonym_for(user: Any) -> str:
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:erased:{user.pk}".encode()).hexdigest()[:12]
    return f"erased-{digest}"


def _end_user_sessions(model: type[models.Model], user: Any) -> None:
    """Sign the person out everywhere: each of their sessions, found through
    allauth's user sessions (no need to decode every session row)."""
    for session in model._default_manager.filter(user=user):
        session.end()  # type: ignore[attr-defined]


def _drop_address_copies(model: type[models.Model], user: Any) -> None:
    """Unverified copies of the address on other accounts (their own go with the account)."""
    model._default_manager.filter(email__iexact=user.email, verified=False).delete()


THIRD_PARTY_ERASERS: dict[str, Callable[[type[models.Model], Any], None]] = {
    "usersessions.usersession": _end_user_sessions,
    "account.emailaddress": _drop_address_copies,
}


def _black_out(model: type[models.Model], found: dict[Any, dict[str, str]], pattern: re.Pattern[str]) -> None:
    for pk, hits in found.items():
        changes = {}
        for name, text in hits.items():
            limit = getattr(model._meta.get_field(name), "max_length", None)
            changes[name] = pattern.sub(ERASED, text)[:limit]
        model._default_manager.filter(pk=pk).update(**changes)


def erase(user: Any, *, needles: Iterable[str] = ()) -> str:
    """Delete or anonymise a person everywhere (call inside a transaction).

    Each model scrubs the person's rows; then the account goes (and with it
    what cascades), and last the person is blacked out of the free text that
    names them (`needles_for`, plus any extra `needles`), as the export finds it.
    """
    everything = _distinct([*needles_for(user), *needles])
    pseudonym = pseudonym_for(user)
    for model in apps.get_models():
        scrub = model.__dict__.get("erase_personal_data")
        if scrub is not None:
            model.erase_personal_data(user, pseudonym)  # type: ignore[attr-defined]
        eraser = THIRD_PARTY_ERASERS.get(model._meta.label_lower)
        if eraser is not None:
            eraser(model, user)
    user.delete()
    if everything:
        pattern = _pattern(everything)
        for model, found in _mentioning(everything):
            _black_out(model, found, pattern)
    return pseudonym


def clear_ended_sessions() -> int:
    """Delete expired sessions (what `clearsessions` does) and the user
    sessions whose session is gone; returns how many user sessions went."""
    engine = import_module(settings.SESSION_ENGINE)
    engine.SessionStore.clear_expired()
    if not apps.is_installed("allauth.usersessions"):
        return 0
    user_sessions = apps.get_model("usersessions", "UserSession")
    if settings.SESSION_ENGINE in {
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.cached_db",
    }:
        session = apps.get_model("sessions", "Session")
        ended = user_sessions.objects.exclude(session_key__in=session.objects.values("session_key"))
        return ended.delete()[0]
    return sum(1 for item in user_sessions.objects.iterator() if item.purge())
