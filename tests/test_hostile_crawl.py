"""Hostile values in every query parameter and every form field of every page.

The pages, their forms and their links are found, not listed: every URL of the
project is opened as a visitor, a coordinator and a supervisor (the URL table of
test_urls_by_role), each page's forms and links are read from its HTML, and then
every query parameter a link or a search form uses (admin filters included) and
every field of every form is sent hostile values. No answer may be a server
error or echo a script unescaped. POSTs run inside a transaction that is rolled
back, and the client's cookies are put back, so nothing they do lasts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client

from tests.conftest import sign_in_staff
from tests.test_urls_by_role import ALL_ROUTES, expectation, path_for, people  # noqa: F401

SCRIPT = '"><script>alert(1)</script>'
# Every form and query gets the NUL byte (PostgreSQL refuses it in any query) in all its
# fields at once, then each field one of these in turn.
OTHERS = [SCRIPT, "9" * 25, "-1' OR '1'='1", "\u202egnp.exe", "ＡＢＣ" * 700, "{{ 7*7 }}%s%n"]
NUL = "a\x00b"


@dataclass
class Form:
    method: str
    action: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # default values, in order
    names: set[str] = field(default_factory=set)
    buttons: list[tuple[str, str]] = field(default_factory=list)  # named submit buttons


class PageReader(HTMLParser):
    """The forms (with their default values) and the links of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.links: list[str] = []
        self._form: Form | None = None
        self._select: tuple[str, bool] | None = None
        self._select_first: str | None = None
        self._select_chosen = False
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "form":
            self._form = Form(method=a.get("method", "get").lower(), action=a.get("action", ""))
            self.forms.append(self._form)
            return
        form = self._form
        if form is None:
            return
        name = a.get("name", "")
        if tag == "input" and name:
            form.names.add(name)
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    form.fields.append((name, a.get("value", "on")))
            elif kind == "submit":
                form.buttons.append((name, a.get("value", "")))
            elif kind not in ("button", "image", "file", "reset"):
                form.fields.append((name, a.get("value", "")))
        elif tag == "button" and name and a.get("type", "submit").lower() == "submit":
            form.buttons.append((name, a.get("value", "")))
        elif tag == "select" and name:
            form.names.add(name)
            self._select = (name, "multiple" in a)
            self._select_first, self._select_chosen = None, False
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in a:
                form.fields.append((self._select[0], value))
                self._select_chosen = True
        elif tag == "textarea" and name:
            form.names.add(name)
            self._textarea, self._text = name, []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None and self._form is not None:
            name, multiple = self._select
            if not self._select_chosen and not multiple and self._select_first is not None:
                self._form.fields.append((name, self._select_first))
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form.fields.append((self._textarea, "".join(self._text)))
            self._textarea = None


def client_for(role: str, people: dict[str, Any]) -> Client:  # noqa: F811
    # A server error is collected with the others, not raised at the first.
    client = Client(raise_request_exception=False)
    if role == "supervisor":
        sign_in_staff(client, people[role])
    elif role != "visitor":
        client.force_login(people[role])
    return client


class _Rollback(Exception):
    pass


def check(response: Any, what: str) -> str | None:
    if response.status_code >= 500:
        return f"{what}: {response.status_code}"
    body = response.content.decode(errors="replace")
    if "<script>alert(1)</script>" in body:
        return f"{what}: the script came back unescaped"
    return None


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["visitor", "coordinator", "supervisor"])
def test_every_parameter_and_field_of_every_page_survives_hostile_values(
    role: str,
    people: dict[str, Any],  # noqa: F811
) -> None:
    client = client_for(role, people)
    pages: dict[str, PageReader] = {}
    for route in ALL_ROUTES:
        expected = expectation(route)
        if expected is None or expected[role] != 200:
            continue
        path = path_for(route, people)
        response = client.get(path)
        if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
            reader = PageReader()
            reader.feed(response.content.decode())
            pages[path] = reader
    assert len(pages) > (25 if role == "supervisor" else 8), sorted(pages)

    others = itertools.cycle(OTHERS)
    problems: list[str] = []
    parameters_tried = fields_tried = 0
    posted: set[tuple[str, frozenset[str]]] = set()

    for path, reader in pages.items():
        # Query parameters: those the page's own links use (admin filters,
        # ordering, paging) and the fields of its search forms.
        names = {
            name
            for href in reader.links
            if urlsplit(urljoin(path, href)).path == path
            for name, _value in parse_qsl(urlsplit(urljoin(path, href)).query, keep_blank_values=True)
        }
        for form in reader.forms:
            if form.method == "get" and urlsplit(urljoin(path, form.action or path)).path == path:
                names |= form.names
        # One request with the NUL byte in all of them, then each in turn with another value.
        attempts = [dict.fromkeys(names, NUL)] if names else []
        attempts += [{name: next(others)} for name in sorted(names)]
        for query in attempts:
            cache.clear()
            problem = check(client.get(path, query), f"GET {path}?{urlencode(query)[:200]}")
            if problem:
                problems.append(problem)
        parameters_tried += len(names)

        # Every field of every form the page posts, one at a time, from the form's own defaults.
        for form in reader.forms:
            if form.method != "post":
                continue
            target = urlsplit(urljoin(path, form.action or path)).path
            signature = (target, frozenset(form.names))
            if signature in posted:
                continue
            posted.add(signature)
            defaults: dict[str, list[str]] = {}
            for key, default in form.fields:
                defaults.setdefault(key, []).append(default)
            field_names = sorted(form.names - {"csrfmiddlewaretoken"})
            # The form with the NUL byte in every field, then each field in turn with another value.
            posts = [
                (f"POST {target} every field NUL", {**defaults, **{name: [NUL] for name in field_names}})
            ]
            # A named button can take the view down another path (the invitee picker's "Find").
            posts += [
                (f"POST {target} {button}= with every field NUL", {**posts[0][1], button: [value]})
                for button, value in form.buttons
            ]
            for name in field_names:
                value = next(others)
                posts.append((f"POST {target} {name}={value[:30]!r}", {**defaults, name: [value]}))
            for what, data in posts:
                cookies = client.cookies
                client.cookies = cookies.__class__(cookies)
                cache.clear()
                try:
                    with transaction.atomic():
                        problem = check(client.post(target, data), what)
                        raise _Rollback
                except _Rollback:
                    pass
                finally:
                    client.cookies = cookies
                if problem:
                    problems.append(problem)
            fields_tried += len(field_names)

    assert problems == [], "\n" + "\n".join(problems)
    assert parameters_tried >= 2 and fields_tried > 10, (parameters_tried, fields_tried)


@pytest.mark.django_db
def test_a_nul_byte_in_the_invitee_search_finds_nothing_and_keeps_the_form(
    people: dict[str, Any],  # noqa: F811
) -> None:
    client = client_for("coordinator", people)
    response = client.post(
        "/conferences/request/", {"title": "Kept", "invitees_search": "a\x00b", "find_invitees": "1"}
    )
    assert response.status_code == 200
    assert 'value="Kept"' in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "/conferences/invitees/", {"q": "\x00"}),
        ("get", "/conferences/experts/", {"erns": "\x00", "slot_1": "\x00"}),
        ("get", "/webinars/request/speakers/", {"erns": "\x00", "dates": "\x00"}),
        ("get", "/admin/helpdesk/ticket/", {"kind__exact": "\x00"}),
        ("get", "/admin/helpdesk/ticket/", {"country": "\x00"}),
        ("get", "/directory/", {"q": "Mar\x00ia"}),
    ],
)
def test_a_nul_byte_is_answered_with_a_page_that_says_so(
    method: str,
    path: str,
    data: dict[str, str],
    people: dict[str, Any],  # noqa: F811
) -> None:
    client = client_for("supervisor" if path.startswith("/admin/") else "coordinator", people)
    response = getattr(client, method)(path, data)
    assert response.status_code == 400
    assert "invisible NUL character" in response.content.decode()
