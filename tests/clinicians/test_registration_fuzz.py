"""Generated junk posted to /register/: never a server error, never an account from invalid data.

Each example starts from a valid registration, replaces or omits a random
selection of fields with junk (any unicode including control characters,
lookalike letters, very long text, empty values, script tags), and posts it.

The pytest-django `client` fixture is function-scoped, so it would be shared
by every example; each example makes its own Client, clears the cache (allauth
rate limits) and runs inside a savepoint that is rolled back, so no example
sees another's rows.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import phonenumbers
import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client
from hypothesis import event, given, settings
from hypothesis import strategies as st

from clinicians.countries import NETWORK_COUNTRY_CODES
from clinicians.forms import _PHONE_REGION_ALIASES
from clinicians.models import Clinician, Hospital, PrivacyAcceptance
from cmss.models import User
from tests.clinicians.test_registration import registration_data

SCRIPT = "<script>alert(1)</script>"
OMIT = object()  # the field is not posted at all

# Letters that look like Latin ones, invisible characters, full-width digits.
LOOKALIKES = [
    "Аna",  # Cyrillic capital A
    "Nоvak",  # Cyrillic small o
    "ΒΕ",  # Greek capitals
    "ＢＥ",  # full-width
    "+３２ １６ ３３ ２２ １１",
    "+32 16 33 22 11\u200b",
    "Ana\u00ad",  # soft hyphen
    "\u202eAna",
    "A\u0301na",  # combining accent
    "١",  # Arabic-Indic one
    "ｅｎ",
    "\ufeffen",
    "ana.novak@uzleuven.example.org\u200d",
    "аna.novak@uzleuven.example.org",  # Cyrillic small a
]
SCRIPTS = [
    SCRIPT,
    f'"><{SCRIPT[1:]}',
    f"'>{SCRIPT}",
    f"{SCRIPT}@example.org",
    f"Ana{SCRIPT}",
    f"</option>{SCRIPT}",
    f"</textarea>{SCRIPT}",
]

junk = st.one_of(
    st.text(max_size=50),  # any unicode, C0 and C1 controls included
    st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn"]), min_size=1, max_size=10),
    st.sampled_from(LOOKALIKES + SCRIPTS),
    st.builds(lambda text, n: (text or "x") * n, st.text(min_size=1, max_size=3), st.integers(100, 3000)),
    st.just(""),
    st.from_regex(r"\A[0-9 +().-]{0,25}\Z"),
)


def choices(values: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(values), junk)


def many(values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.one_of(values, junk), max_size=4)


checkbox = choices(["on", "", "false", "0", "1", "true"])
primary_keys = st.integers(-2, 400).map(str)

FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "email": st.one_of(st.emails().map(str), junk),
    "password1": choices(["a-long-and-unusual-passphrase", "password123", "short", "1234567890123"]),
    "first_name": junk,
    "last_name": junk,
    "phone": choices(
        [
            "+32 2 299 11 11",
            "016 33 22 11",
            "+49 30 450 50",
            "030 450 50",
            "+353 1 809 3000",
            "+44 20 7188 7188",
            "+358 18 5355",
            "+1 212 555 0100",
            "+41 44 668 18 00",
            "+7 495 123 45 67",
            "+262 262 90 50 50",
            "+32 12",
            "0",
            "+",
            "00",
        ]
    ),
    "country": choices([*NETWORK_COUNTRY_CODES, "US", "CH", "RU", "TR", "XK", "AX", "be", "BEL", "EU"]),
    "hospital": st.one_of(primary_keys, junk),
    "hospital_not_listed": checkbox,
    "new_hospital_name": choices(["AZ Groeninge", "Hôpital de la Citadelle"]),
    "new_hospital_city": choices(["Kortrijk", "Liège"]),
    "profession": choices([*Clinician.Profession.values, "astronaut"]),
    "specialty": st.one_of(primary_keys, junk),
    "languages": many(st.sampled_from(["en", "nl", "fr", "de", "ga", "xx", "EN"])),
    "erns": many(st.integers(-1, 30).map(str)),
    "listed_in_directory": checkbox,
    "show_email": checkbox,
    "show_phone": checkbox,
    "time_zone": choices(
        [
            "",
            "Europe/Brussels",
            "Atlantic/Canary",
            "UTC",
            "Mars/Olympus",
            "US/Eastern",
            "Etc/GMT+1",
            "europe/brussels",
        ]
    ),
    "language": choices(["en", "fr", "de", "xx", "EN"]),
    "accept_privacy": checkbox,
    "privacy_version": choices(["1", "0", "2", "-1", "1.0", " 1 ", "１", "9" * 30]),
}


@st.composite
def submissions(draw: st.DrawFn) -> dict[str, Any]:
    """Changes to a valid registration: a few fields (often), many (sometimes)."""
    names = st.sampled_from(sorted(FIELDS))
    changed = draw(st.one_of(st.sets(names, max_size=2), st.sets(names)))
    return {name: draw(st.one_of(st.just(OMIT), FIELDS[name])) for name in sorted(changed)}


def no_hidden_characters(text: str) -> bool:
    return not any(unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn"} for char in text)


def assert_refused(response: Any, users_before: int, clinicians_before: int, email: Any) -> None:
    assert User.objects.count() == users_before
    assert Clinician.objects.count() == clinicians_before
    if isinstance(email, str) and email and "\x00" not in email:  # PostgreSQL cannot even query NUL
        assert not User.objects.filter(email__iexact=email).exists()
    page = response.content.decode()
    assert SCRIPT not in page
    # Every refused field says why, next to the field (the hidden version speaks through the checkbox).
    form = response.context["form"]
    assert form.errors, "a refused registration must say why"
    for name in form.errors:
        shown_at = "accept_privacy" if name == "privacy_version" else name
        if name == "__all__":
            assert 'id="error-summary"' in page
        else:
            assert f'id="id_{shown_at}_error"' in page, f"no message next to {shown_at}: {form.errors[name]}"


def assert_registered_by_the_rules(response: Any, clinicians_before: int) -> None:
    assert response["Location"] == "/accounts/confirm-email/"
    assert Clinician.objects.count() == clinicians_before + 1
    clinician = Clinician.objects.select_related("hospital", "user").latest("pk")
    with connection.cursor() as cursor:  # the column itself, not PhoneNumberField's formatting
        cursor.execute(f"SELECT phone FROM {Clinician._meta.db_table} WHERE id = %s", [clinician.pk])  # noqa: S608
        (phone,) = cursor.fetchone()
    assert re.fullmatch(r"\+[1-9]\d{6,14}", phone), phone
    number = phonenumbers.parse(phone)
    assert phonenumbers.is_valid_number(number)
    region = phonenumbers.region_code_for_number(number)
    assert region is not None
    assert _PHONE_REGION_ALIASES.get(region, region) in NETWORK_COUNTRY_CODES, (
        region
    )  # same territories as the form
    assert clinician.country.code in NETWORK_COUNTRY_CODES
    assert clinician.hospital.country.code == clinician.country.code
    if not clinician.hospital.approved:
        assert clinician.hospital.name.strip() and clinician.hospital.city.strip()
        assert len(clinician.hospital.name) <= 200 and len(clinician.hospital.city) <= 100
        assert no_hidden_characters(clinician.hospital.name + clinician.hospital.city)
    for name in (clinician.first_name, clinician.last_name):
        assert name.strip() and len(name) <= 100 and no_hidden_characters(name)
    assert clinician.languages.exists()
    assert PrivacyAcceptance.objects.filter(user=clinician.user).exists()


def post_and_check(changes: dict[str, Any]) -> int:
    data = registration_data()
    for name, value in changes.items():
        if value is OMIT:
            data.pop(name, None)
        else:
            data[name] = value
    users_before, clinicians_before = User.objects.count(), Clinician.objects.count()

    response = Client().post("/register/", data)

    assert response.status_code in {200, 302, 429}, response.status_code
    if response.status_code == 200:
        assert_refused(response, users_before, clinicians_before, data.get("email"))
    elif response.status_code == 302:
        assert_registered_by_the_rules(response, clinicians_before)
    return response.status_code


@pytest.mark.django_db
@settings(max_examples=60)
@given(changes=submissions())
def test_junk_posted_to_register_never_errors_and_never_creates_an_invalid_account(
    changes: dict[str, Any],
) -> None:
    cache.clear()  # allauth's rate limits would turn later examples into 429s
    with transaction.atomic():  # a savepoint inside the test's transaction
        try:
            event(f"status {post_and_check(changes)}")
        finally:
            transaction.set_rollback(True)


@pytest.mark.django_db
def test_the_fuzzed_registration_starts_from_a_valid_one() -> None:
    """Without changes the post registers: the fuzz test explores around a valid point."""
    cache.clear()
    assert Hospital.objects.filter(name="UZ Leuven").exists()
    with transaction.atomic():
        assert post_and_check({}) == 302
        assert Clinician.objects.filter(first_name="Ana").exists()
        transaction.set_rollback(True)
    assert not Clinician.objects.exists()
