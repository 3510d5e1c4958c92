"""Which fields of which models hold personal data.

Our own models declare it with a PERSONAL_DATA_FIELDS class attribute
(an empty tuple says "none, on purpose"). Third-party models are declared
here. Export and erasure are driven by these declarations, and a test fails
when a model that looks person-related has none.
"""

from __future__ import annotations

from django.apps import apps
from django.db import models

THIRD_PARTY: dict[str, tuple[str, ...]] = {
    "account.emailaddress": ("user", "email"),
    "account.emailconfirmation": ("email_address", "key"),
    "admin.logentry": ("user", "object_repr", "change_message"),
    "sessions.session": ("session_data",),
    "mfa.authenticator": ("user", "data"),
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
