"""Validators shared by every form that takes free text."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Line breaks and tabs are ordinary in multi-line text; everything else in
# the control (Cc) and format (Cf) categories hides or reorders text.
_ALLOWED_IN_MULTILINE = {"\n", "\r", "\t"}


def _bad_characters(value: str, *, multiline: bool) -> bool:
    for char in value:
        if multiline and char in _ALLOWED_IN_MULTILINE:
            continue
        if unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn"}:
            return True
    return False


def no_control_characters(value: str) -> None:
    """Reject invisible control and formatting characters in one-line text."""
    if value and _bad_characters(str(value), multiline=False):
        raise ValidationError(
            _("Remove the invisible control characters from this text."), code="control_characters"
        )


def no_control_characters_multiline(value: str) -> None:
    """Like no_control_characters, but line breaks and tabs are fine."""
    if value and _bad_characters(str(value), multiline=True):
        raise ValidationError(
            _("Remove the invisible control characters from this text."), code="control_characters"
        )
