"""Hostile input to every form a visitor or a clinician can reach: never a server
error, never rendered unescaped, nothing saved that breaks the rules."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from helpdesk import services as helpdesk
from tests.factories import ClinicianFactory

SCRIPT = "<script>alert(1)</script>"
PAYLOADS = [
    SCRIPT,
    '"><img src=x onerror=alert(1)>',
    "\u202eevil\u202c",
    "\x00",
    "\x07bell",
    "\u0430dmin",  # a Cyrillic a that looks Latin
    "ＡＢＣ１２３",  # full-width
    "' OR 1=1 --",
    "{{ 7*7 }}{% debug %}",
    "%s%s%n",
    "a" * 6000,
    "",
    "+32 2 299 11 11",
    "12345",
    "BE",
    "US",
    "on",
]
hostile = st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=300))

# (path, role, fields)
FORMS: list[tuple[str, str, list[str]]] = [
    ("/contact/", "visitor", ["name", "email", "kind", "subject", "body"]),
    ("/accounts/login/", "visitor", ["login", "password"]),
    ("/accounts/password/reset/", "visitor", ["email"]),
    ("/helpdesk/new/", "clinician", ["kind", "subject", "body"]),
    ("/helpdesk/{ticket}/", "clinician", ["body"]),
    (
        "/profile/",
        "clinician",
        [
            "first_name",
            "last_name",
            "phone",
            "country",
            "hospital",
            "hospital_not_listed",
            "new_hospital_name",
            "new_hospital_city",
            "profession",
            "specialty",
            "languages",
            "erns",
            "listed_in_directory",
            "show_email",
            "show_phone",
            "time_zone",
            "language",
        ],
    ),
    ("/profile/delete/", "clinician", ["password", "confirm"]),
    ("/privacy/accept/", "clinician", ["accept", "next"]),
    (
        "/directory/",
        "clinician",
        ["q", "country", "hospital", "profession", "specialty", "ern", "language", "page"],
    ),
]


class _Rollback(Exception):
    pass


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "role", "fields"), FORMS, ids=[form[0] for form in FORMS])
def test_hostile_input_never_breaks_a_page(path: str, role: str, fields: list[str]) -> None:
    @settings(max_examples=25)
    @given(values=st.fixed_dictionaries({name: hostile for name in fields}))
    def post(values: dict[str, Any]) -> None:
        cache.clear()
        try:
            with transaction.atomic():
                client = Client()
                target = path
                if role == "clinician":
                    clinician = ClinicianFactory.create(status="verified")
                    client.force_login(clinician.user)
                    ticket = helpdesk.open_question(requester=clinician.user, subject="Hello", body="Hi")
                    target = path.format(ticket=ticket.pk)
                if path == "/directory/":
                    response = client.get(target, values)
                else:
                    response = client.post(target, values)
                assert response.status_code < 500, (target, values)
                body = response.content.decode(errors="replace")
                assert SCRIPT not in body and "onerror=alert(1)>" not in body, target
                raise _Rollback
        except _Rollback:
            pass

    post()
