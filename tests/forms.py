"""Read a rendered HTML form the way a browser would submit it, to post it back with changes."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from django.test import Client


class _Form(HTMLParser):
    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.data: dict[str, list[str]] = {}
        self._select: str | None = None
        self._option: dict[str, str | None] | None = None
        self._option_text = ""
        self._textarea: str | None = None
        self._textarea_text = ""

    def _add(self, name: str, value: str) -> None:
        self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form" and attributes.get("id") == self.form_id:
            self.inside = True
        if not self.inside:
            return
        name = attributes.get("name") or ""
        if tag == "input" and name and "disabled" not in attributes:
            kind = (attributes.get("type") or "text").lower()
            if kind in {"submit", "button", "reset", "image", "file"}:
                return
            if kind in {"checkbox", "radio"}:
                if "checked" in attributes:
                    self._add(name, attributes.get("value") or "on")
                return
            self._add(name, attributes.get("value") or "")
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select is not None:
            self._option, self._option_text = attributes, ""
        elif tag == "textarea" and name:
            self._textarea, self._textarea_text = name, ""

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self._option_text += data
        if self._textarea is not None:
            self._textarea_text += data

    def _end_option(self) -> None:
        if self._option is not None and self._select is not None and "selected" in self._option:
            value = self._option.get("value")
            self._add(self._select, self._option_text.strip() if value is None else value)
        self._option = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "option":
            self._end_option()
        elif tag == "select":
            self._end_option()
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            # The browser drops the one newline that follows <textarea>.
            self._add(self._textarea, self._textarea_text.removeprefix("\n").replace("\r\n", "\n"))
            self._textarea = None
        elif tag == "form":
            self.inside = False


def form_as_posted(client: Client, url: str, form_id: str) -> dict[str, Any]:
    """GET url and return what submitting the form with id form_id unchanged would post."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    parser = _Form(form_id)
    parser.feed(response.content.decode())
    assert parser.data, f"no form #{form_id} at {url}"
    return {name: values if len(values) > 1 else values[0] for name, values in parser.data.items()}
