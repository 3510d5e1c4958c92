"""Form fields for the text people type.

A one-line CharField refuses every invisible control character; a text that
spans lines (a question, a case summary, a reason, a reply) must keep its line
breaks and tabs. The two used to be chosen by hand, validator next to widget,
and the multi-line fields got the one-line rule: pasted paragraphs were
refused. MultilineTextField owns both the Textarea and the matching rule.
"""

from __future__ import annotations

from typing import Any

from django import forms

from .validators import no_control_characters_multiline


class MultilineTextField(forms.CharField):
    """A Textarea whose text may hold line breaks and tabs, but no other
    invisible control or formatting characters."""

    default_validators = [no_control_characters_multiline]

    def __init__(self, *, rows: int = 4, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": rows}))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> str | None:
        # Browsers send a text area's line breaks as CR LF: keep one kind, "\n",
        # so that emails, calendar files and the pages show what was typed.
        text = super().to_python(value)
        if text is None:  # an empty value with empty_value=None, as CharField
            return None
        return text.replace("\r\n", "\n").replace("\r", "\n")
