"""Every limit of the registration form shows its message next to the field.

Each case posts a valid registration with one bad field; the page comes back
(200) with the message in that field's error list, the input marked
aria-invalid, and no account created.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.utils.html import escape

from clinicians.models import Clinician, Hospital, Specialty
from cmss.models import User
from tests.clinicians.test_registration import registration_data

pytestmark = pytest.mark.django_db

TOO_LONG = "Ensure this value has at most {limit} characters (it has {length})."
CONTROL = "Remove the invisible control characters from this text."
REQUIRED = "This field is required."
NO_COUNTRY_CODE = "Enter a phone number with its country code, for example +32 2 299 11 11."
INVALID_PHONE = "This is not a valid phone number. Check the digits and the country code."
NOT_EUROPEAN_PHONE = "Enter a phone number of an EU or EEA country or the United Kingdom."
NOT_LISTED = "Enter it so that the helpdesk can add your hospital."
STALE_PRIVACY = "The privacy statement has changed since you opened this page. Read it again and accept it."


def invalid_choice(value: str) -> str:
    return f"Select a valid choice. {value} is not one of the available choices."


def charite() -> str:
    return str(Hospital.objects.get(name="Charité – Universitätsmedizin Berlin").pk)


def missing_specialty() -> str:
    return str((Specialty.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000)


def resolve(overrides: dict[str, Any]) -> dict[str, Any]:
    """Overrides may be callables that need the database (primary keys)."""
    return {key: value() if callable(value) else value for key, value in overrides.items()}


def error_list(page: str, field: str) -> str:
    """The HTML of the error list rendered right after the field."""
    start = page.find(f'id="id_{field}_error"')
    assert start != -1, f"no error list next to {field}"
    end = page.find("</ul>", start)
    assert end != -1
    return page[start:end]


def widget_tags(page: str, field: str) -> list[str]:
    """The input/select tags of a field (checkbox lists have id_<field>_0, _1, …)."""
    pattern = rf'<(?:input|select|textarea)\b[^>]*\bid="id_{re.escape(field)}(?:_\d+)?"[^>]*>'
    return re.findall(pattern, page)


def post(client: Client, **overrides: Any) -> Any:
    return client.post("/register/", registration_data(**resolve(overrides)))


def assert_nothing_created(users_before: int) -> None:
    assert User.objects.count() == users_before
    assert not User.objects.filter(email__iexact="ana.novak@uzleuven.example.org").exists()
    assert not Clinician.objects.exists()


# (overrides, field whose error list shows the message, message)
BAD_VALUES = [
    pytest.param(
        {"first_name": "A" * 101},
        "first_name",
        TOO_LONG.format(limit=100, length=101),
        id="a first name of 101 characters is too long",
    ),
    pytest.param(
        {"last_name": "N" * 101},
        "last_name",
        TOO_LONG.format(limit=100, length=101),
        id="a last name of 101 characters is too long",
    ),
    pytest.param(
        {"phone": "+32 " + "1" * 37},
        "phone",
        TOO_LONG.format(limit=40, length=41),
        id="a phone number of 41 characters is too long",
    ),
    pytest.param(
        {
            "hospital": "",
            "hospital_not_listed": "on",
            "new_hospital_name": "H" * 201,
            "new_hospital_city": "Kortrijk",
        },
        "new_hospital_name",
        TOO_LONG.format(limit=200, length=201),
        id="a new hospital name of 201 characters is too long",
    ),
    pytest.param(
        {
            "hospital": "",
            "hospital_not_listed": "on",
            "new_hospital_name": "AZ Groeninge",
            "new_hospital_city": "K" * 101,
        },
        "new_hospital_city",
        TOO_LONG.format(limit=100, length=101),
        id="a new hospital city of 101 characters is too long",
    ),
    pytest.param(
        {"first_name": "Ana\x00"},
        "first_name",
        "Null characters are not allowed.",
        id="a first name with a null character is refused",
    ),
    pytest.param(
        {"first_name": "Ana\u200b"},
        "first_name",
        CONTROL,
        id="a first name with a zero width space is refused",
    ),
    pytest.param(
        {"last_name": "No\x07vak"},
        "last_name",
        CONTROL,
        id="a last name with a bell control character is refused",
    ),
    pytest.param(
        {"last_name": "\u202ekavoN"},
        "last_name",
        CONTROL,
        id="a last name with a right to left override is refused",
    ),
    pytest.param(
        {"phone": "+32 16 33 22 11\u202e"},
        "phone",
        CONTROL,
        id="a phone number with a right to left override is refused",
    ),
    pytest.param(
        {
            "hospital": "",
            "hospital_not_listed": "on",
            "new_hospital_name": "AZ\x1bGroeninge",
            "new_hospital_city": "Kortrijk",
        },
        "new_hospital_name",
        CONTROL,
        id="a new hospital name with an escape character is refused",
    ),
    pytest.param(
        {
            "hospital": "",
            "hospital_not_listed": "on",
            "new_hospital_name": "AZ Groeninge",
            "new_hospital_city": "Kort\u2066rijk",
        },
        "new_hospital_city",
        CONTROL,
        id="a new hospital city with a bidi isolate is refused",
    ),
    pytest.param(
        {"phone": "not a phone"},
        "phone",
        NO_COUNTRY_CODE,
        id="a phone that is not a number asks for the country code",
    ),
    pytest.param(
        {"phone": "+1 212 555 0100"},
        "phone",
        NOT_EUROPEAN_PHONE,
        id="a phone number of the united states is not european",
    ),
    pytest.param(
        {"phone": "+41 44 668 18 00"},
        "phone",
        NOT_EUROPEAN_PHONE,
        id="a phone number of switzerland is not in the network",
    ),
    pytest.param(
        {"phone": "+32 12"}, "phone", INVALID_PHONE, id="a belgian number that is too short is invalid"
    ),
    pytest.param({"phone": ""}, "phone", REQUIRED, id="a phone number is required"),
    pytest.param(
        {"country": "US"},
        "country",
        invalid_choice("US"),
        id="the united states are outside the 31 countries",
    ),
    pytest.param(
        {"country": "CH"}, "country", invalid_choice("CH"), id="switzerland is outside the 31 countries"
    ),
    pytest.param({"country": ""}, "country", REQUIRED, id="a country is required"),
    pytest.param(
        {"hospital": charite},
        "hospital",
        "Charité – Universitätsmedizin Berlin is in Germany, not in the country you chose.",
        id="a hospital in germany does not fit a clinician in belgium",
    ),
    pytest.param(
        {"hospital": ""},
        "hospital",
        "Choose your hospital, or tick “My hospital is not in the list”.",
        id="no hospital and the not listed box unticked asks for one or the other",
    ),
    pytest.param(
        {"hospital": "", "hospital_not_listed": "on"},
        "new_hospital_name",
        NOT_LISTED,
        id="a hospital not listed needs its name",
    ),
    pytest.param(
        {"hospital": "", "hospital_not_listed": "on"},
        "new_hospital_city",
        NOT_LISTED,
        id="a hospital not listed needs its city",
    ),
    pytest.param(
        {"hospital": "999999"},
        "hospital",
        "Select a valid choice. That choice is not one of the available choices.",
        id="a hospital that does not exist is refused",
    ),
    pytest.param(
        {"accept_privacy": None},
        "accept_privacy",
        "Tick this box to accept the privacy statement, or you cannot register.",
        id="the privacy statement must be accepted",
    ),
    pytest.param(
        {"privacy_version": "0"},
        "accept_privacy",
        STALE_PRIVACY,
        id="an outdated privacy statement must be read again",
    ),
    pytest.param(
        {"privacy_version": "2"},
        "accept_privacy",
        STALE_PRIVACY,
        id="a privacy statement that is not yet published cannot be accepted",
    ),
    pytest.param(
        {"time_zone": "Mars/Olympus"},
        "time_zone",
        invalid_choice("Mars/Olympus"),
        id="an unknown time zone is refused",
    ),
    pytest.param(
        {"language": "xx"}, "language", invalid_choice("xx"), id="an unknown site language is refused"
    ),
    pytest.param(
        {"email": "ana.novak-at-uzleuven"},
        "email",
        "Enter a valid email address.",
        id="an email address without an at sign is invalid",
    ),
    pytest.param({"email": ""}, "email", REQUIRED, id="an email address is required"),
    pytest.param(
        {"password1": "short1!"},
        "password1",
        "This password is too short. It must contain at least 10 characters.",
        id="a password shorter than 10 characters is refused",
    ),
    pytest.param(
        {"password1": "password123"},
        "password1",
        "This password is too common.",
        id="a common password is refused",
    ),
    pytest.param({"languages": []}, "languages", REQUIRED, id="at least one language is required"),
    pytest.param(
        {"languages": ["en", "xx"]}, "languages", invalid_choice("xx"), id="an unknown language is refused"
    ),
    pytest.param(
        {"specialty": missing_specialty},
        "specialty",
        "Select a valid choice. That choice is not one of the available choices.",
        id="a specialty that does not exist is refused",
    ),
    pytest.param(
        {"profession": "astronaut"},
        "profession",
        invalid_choice("astronaut"),
        id="an unknown profession is refused",
    ),
]


@pytest.mark.parametrize(("overrides", "field", "message"), BAD_VALUES)
def test_a_bad_value_is_refused_with_a_message_next_to_its_field(
    client: Client, overrides: dict[str, Any], field: str, message: str
) -> None:
    users_before = User.objects.count()
    response = post(client, **overrides)

    assert response.status_code == 200
    page = response.content.decode()
    assert escape(message) in error_list(page, field)
    tags = widget_tags(page, field)
    assert tags, f"no input for {field}"
    assert all('aria-invalid="true"' in tag for tag in tags), tags
    assert_nothing_created(users_before)


def test_the_error_summary_links_to_the_field_in_error(client: Client) -> None:
    response = post(client, phone="+1 212 555 0100")
    page = response.content.decode()
    summary = page[page.index('id="error-summary"') :]
    summary = summary[: summary.index("</div>")]
    assert 'href="#id_phone"' in summary
    assert escape(NOT_EUROPEAN_PHONE) in summary


def test_only_the_bad_field_is_marked_invalid(client: Client) -> None:
    page = post(client, phone="not a phone").content.decode()
    assert page.count('class="errors"') == 1
    for field in ("first_name", "last_name", "email", "country", "hospital"):
        assert f'id="id_{field}_error"' not in page
        assert all("aria-invalid" not in tag for tag in widget_tags(page, field))


@pytest.mark.parametrize(
    ("phone", "country", "stored"),
    [
        pytest.param("016 33 22 11", "BE", "+3216332211", id="a belgian number without its country code"),
        pytest.param("0032 16 33 22 11", "BE", "+3216332211", id="a belgian number with the 00 prefix"),
        pytest.param("+32 (0)16 33 22 11", "BE", "+3216332211", id="a belgian number with the trunk zero"),
        pytest.param(
            "+262 262 90 50 50", "BE", "+262262905050", id="a number in reunion, part of france and the eu"
        ),
        pytest.param("+358 18 25000", "BE", "+3581825000", id="a number in aland, part of finland"),
    ],
)
def test_a_phone_number_valid_for_the_chosen_country_is_accepted_in_e164(
    client: Client, phone: str, country: str, stored: str
) -> None:
    response = post(client, phone=phone, country=country)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Clinician.objects.values_list("phone", flat=True).get() == stored


def test_a_phone_number_of_another_network_country_is_accepted(client: Client) -> None:
    response = post(client, phone="+49 30 450 50")
    assert response.status_code == 302
    assert Clinician.objects.values_list("phone", flat=True).get() == "+493045050"


def test_a_national_number_is_read_with_the_chosen_country_code(client: Client) -> None:
    # 030 450 50 is Berlin for someone in Germany, not a Belgian number.
    hospital = Hospital.objects.get(name="Charité – Universitätsmedizin Berlin")
    response = post(client, phone="030 450 50", country="DE", hospital=str(hospital.pk))
    assert response.status_code == 302
    assert Clinician.objects.values_list("phone", flat=True).get() == "+493045050"


def test_nothing_typed_is_lost_when_one_field_is_refused(client: Client) -> None:
    specialty = Specialty.objects.get(name="Intensive care medicine")
    hospital = Hospital.objects.get(name="UZ Leuven")
    response = post(
        client,
        phone="not a phone",
        time_zone="Atlantic/Canary",
        language="fr",
        show_phone="on",
        listed_in_directory=None,
        erns=["1"],
    )
    assert response.status_code == 200
    page = response.content.decode()

    def tag(field: str) -> str:
        tags = widget_tags(page, field)
        assert len(tags) == 1, tags
        return tags[0]

    assert 'value="ana.novak@uzleuven.example.org"' in tag("email")
    assert 'value="Ana"' in tag("first_name")
    assert 'value="Novak"' in tag("last_name")
    assert 'value="not a phone"' in tag("phone")  # the refused value too, to correct it
    assert re.search(r'<option value="BE" selected>', page)
    assert re.search(rf'<option value="{hospital.pk}" selected>', page)
    assert re.search(r'<option value="physician" selected>', page)
    assert re.search(rf'<option value="{specialty.pk}" selected>', page)
    assert re.search(r'<option value="Atlantic/Canary" selected>', page)
    assert re.search(r'<option value="fr" selected>', page)
    checked = {
        match.group(1)
        for match in re.finditer(r'<input type="checkbox"[^>]*\bid="(id_[a-z_]+\d*)"[^>]*\bchecked\b', page)
    }
    language_boxes = re.findall(
        r'<input type="checkbox" name="languages" value="([a-z]+)"[^>]*\bchecked\b', page
    )
    assert sorted(language_boxes) == ["en", "nl"]
    assert re.search(r'<input type="checkbox" name="erns" value="1"[^>]*\bchecked\b', page)
    assert {"id_show_email", "id_show_phone", "id_accept_privacy"} <= checked
    assert "id_listed_in_directory" not in checked  # unticked stays unticked
    assert "id_hospital_not_listed" not in checked
    # Browsers never get a password back; the person types it again.
    assert "a-long-and-unusual-passphrase" not in page
    assert not User.objects.exists()


def test_a_hospital_not_listed_keeps_its_name_and_city_when_another_field_is_refused(client: Client) -> None:
    page = post(
        client,
        country="US",
        hospital="",
        hospital_not_listed="on",
        new_hospital_name="AZ Groeninge",
        new_hospital_city="Kortrijk",
    ).content.decode()
    assert 'value="AZ Groeninge"' in widget_tags(page, "new_hospital_name")[0]
    assert 'value="Kortrijk"' in widget_tags(page, "new_hospital_city")[0]
    assert "checked" in widget_tags(page, "hospital_not_listed")[0]
    assert not User.objects.exists()


def test_accepting_the_new_privacy_statement_on_the_re_rendered_form_registers(client: Client) -> None:
    page = post(client, privacy_version="0").content.decode()
    hidden = re.search(r'<input type="hidden" name="privacy_version"[^>]*>', page)
    assert hidden is not None
    version = re.search(r'value="([^"]*)"', hidden.group(0))
    response = post(client, privacy_version=version.group(1) if version else "")
    assert response.status_code == 302
