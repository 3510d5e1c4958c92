"""What each staff role may edit in every admin form, written down once.

For every ModelAdmin registered on the admin site (a new one fails here until
it is added to EDITABLE) and each staff role, the add page and the change page
of real objects are opened, and the form fields rendered as inputs (not
read-only, not hidden, not disabled) are compared with the table. The fields
in the table are saved through services, except the reference data that holds
no personal data (marked as such below); everything else is read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from clinicians.models import ERN, Hospital, Language, PrivacyAcceptance, PrivacyStatement, Specialty
from cmss import audit, outbox
from cmss.models import RetentionPolicy
from conferences.meetings import pipeline
from conferences.webinars import services as webinars
from helpdesk import services as helpdesk
from helpdesk.models import CannedReply, Holiday
from tests import factories
from tests.conftest import sign_in_staff

pytestmark = pytest.mark.django_db

ROLES = ("agent", "supervisor", "superuser")
Page = dict[str, frozenset[str] | None]  # role → editable fields; None: the page answers 403


class _FormFields(HTMLParser):
    """The names of the inputs a person can change in the admin's model form."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.names: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form" and attributes.get("id") == self.form_id:
            self.inside = True
        if not self.inside or tag not in {"input", "select", "textarea"}:
            return
        name = attributes.get("name") or ""
        kind = (attributes.get("type") or "").lower()
        if (
            not name
            or kind in {"hidden", "submit", "button", "reset", "image"}
            or "disabled" in attributes
            or "readonly" in attributes
            or "__prefix__" in name
            or name == "csrfmiddlewaretoken"
        ):
            return
        self.names.add(name)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False


def _normalise(name: str) -> str:
    """ "speakers-0-name" → "speakers.name"; "start_0" (a split widget) → "start"."""
    parts = name.split("-")
    if len(parts) == 3 and parts[1].isdecimal():
        name = f"{parts[0]}.{parts[2]}"
    head, _sep, tail = name.rpartition("_")
    if head and tail.isdecimal():
        name = head
    return name


def editable_fields(client: Client, url: str, model_name: str) -> frozenset[str] | None:
    response = client.get(url)
    if response.status_code == 403:
        return None
    assert response.status_code == 200, (url, response.status_code)
    parser = _FormFields(f"{model_name}_form")
    parser.feed(response.content.decode())
    return frozenset(_normalise(name) for name in parser.names)


# --- Real objects to open ---------------------------------------------------------------------

People = dict[str, Any]


def _registration(people: People) -> Any:
    webinar = factories.WebinarFactory.create(state="published")
    return webinars.register(webinar=webinar, clinician=people["clinician"])


def _webinar_with_speaker(people: People) -> Any:
    return factories.SpeakerFactory.create().webinar


# label (and variant after ":") → the object whose change page is opened.
SAMPLES: dict[str, Callable[[People], Any]] = {
    "auth.group": lambda people: Group.objects.first(),
    "cmss.user": lambda people: people["clinician"].user,
    "cmss.user:staff": lambda people: factories.StaffFactory.create(role="agents"),
    "cmss.outgoingemail": lambda people: outbox.queue_email(to="a@example.org", subject="Hi", text="Hi"),
    "cmss.auditevent": lambda people: audit.record(action="test", actor=people["clinician"].user),
    "cmss.retentionpolicy": lambda people: RetentionPolicy.load(),
    "clinicians.ern": lambda people: ERN.objects.first(),
    "clinicians.specialty": lambda people: Specialty.objects.first(),
    "clinicians.language": lambda people: Language.objects.first(),
    "clinicians.hospital": lambda people: Hospital.objects.filter(approved=True).first(),
    "clinicians.hospital:proposed": lambda people: factories.HospitalFactory.create(
        approved=False, proposed_by=people["clinician"].user
    ),
    "clinicians.clinician": lambda people: people["clinician"],
    "clinicians.privacystatement": lambda people: PrivacyStatement.objects.current(),
    "clinicians.privacystatement:draft": lambda people: PrivacyStatement.objects.create(
        version=PrivacyStatement.objects.order_by("-version").first().version + 1,  # type: ignore[union-attr]
        title="Draft",
        body="## Who\n\nDG SANTE",
    ),
    "clinicians.privacyacceptance": lambda people: PrivacyAcceptance.objects.first(),
    "helpdesk.ticket": lambda people: helpdesk.open_registration_ticket(clinician=people["clinician"]),
    "helpdesk.ticketmessage": lambda people: helpdesk.add_note(
        ticket=helpdesk.open_registration_ticket(clinician=people["clinician"]),
        body="Called",
        by=people["agent"],
    ),
    "helpdesk.cannedreply": lambda people: CannedReply.objects.create(title="Hello", body="Thank you."),
    "helpdesk.holiday": lambda people: Holiday.objects.first(),
    "account.emailaddress": lambda people: EmailAddress.objects.filter(user=people["clinician"].user).first(),
    "mfa.authenticator": lambda people: Authenticator.objects.get_or_create(
        user=people["agent"], type=Authenticator.Type.TOTP, defaults={"data": {"secret": "JBSWY3DPEHPK3PXP"}}
    )[0],
    "conferences.conference": lambda people: _conference(people),
    "conferences.providermeeting": lambda people: pipeline.request_meeting(
        key="test-meeting", title="Case", start=timezone.now(), end=timezone.now(), time_zone="UTC"
    ),
    "conferences.webinar": _webinar_with_speaker,
    "conferences.registration": _registration,
}


def _conference(people: People) -> Any:

    return factories.requested_conference()


@pytest.fixture
def people(db: None) -> People:
    return {
        "clinician": factories.ClinicianFactory.create(status="verified"),
        "agent": factories.StaffFactory.create(role="agents"),
        "supervisor": factories.StaffFactory.create(role="supervisors"),
        "superuser": factories.StaffFactory.create(role="supervisors", is_superuser=True),
    }


def _registered() -> list[tuple[str, str]]:
    found = []
    for model in admin.site._registry:
        assert model._meta.model_name is not None  # None only on an abstract model
        found.append((model._meta.label_lower, model._meta.model_name))
    return sorted(found)


# --- The spec: who may edit what -----------------------------------------------------------------

NONE: frozenset[str] | None = None  # the page answers 403
SEES = frozenset[str]()  # the page opens; nothing on it can be changed


def by_role(
    agent: frozenset[str] | None, supervisor: frozenset[str] | None, superuser: frozenset[str] | None
) -> Page:
    return {"agent": agent, "supervisor": supervisor, "superuser": superuser}


def everyone(fields: frozenset[str] | None) -> Page:
    return by_role(fields, fields, fields)


# What the helpdesk may correct in a clinician's profile (clinicians.services.correct_profile).
# Status, restriction and the hospital's confirmation move through the ticket actions; the
# directory-visibility choices are the clinician's own consent, made on their profile.
CLINICIAN = frozenset(
    {
        "first_name",
        "last_name",
        "phone",
        "country",
        "hospital",
        "profession",
        "specialty",
        "languages",
        "erns",
    }
)
# clinicians.services.add_hospital / change_hospital; approving is an action.
HOSPITAL = frozenset({"name", "city", "country", "is_reference_centre"})
# A draft statement (save_privacy_statement); publishing is an action; a published one is frozen.
PRIVACY_DRAFT = frozenset({"version", "title", "body"})
# The staff accounts, for superusers only (cmss.staff.invite_staff / change_staff). No passwords.
STAFF_INVITE = frozenset({"email", "display_name", "role"})
STAFF_CHANGE = frozenset({"display_name", "role", "is_active", "time_zone", "language"})
# Webinars: conferences.webinars.services.create_webinar / change_webinar, speakers through save_speakers.
SPEAKERS = frozenset(
    {f"speakers.{name}" for name in ("position", "name", "affiliation", "clinician", "email")}
)
WEBINAR = frozenset(
    {
        "title",
        "description",
        "erns",
        "language",
        "start",
        "duration_minutes",
        "time_zone",
        "capacity",
        "recorded",
        "recording_url",
    }
)
# Reference data that holds no personal data, kept by supervisors (the admin's own history
# records each change).
ERN_FIELDS = frozenset({"code", "name", "full_name"})
SPECIALTY = frozenset({"name", "kind", "active"})
CANNED_REPLY = frozenset({"title", "body", "active"})
HOLIDAY = frozenset({"date", "name"})
# Every retention period, and the data protection officer's confirmation of them.
RETENTION = frozenset(
    {field.name for field in RetentionPolicy._meta.fields if field.name.endswith("_days")}
    | {"confirmed_by_dpo"}
)

EDITABLE: dict[str, dict[str, Page]] = {
    # Roles are defined in cmss/roles.py and synced after every migrate.
    "auth.group": {"add": everyone(NONE), "change": by_role(NONE, NONE, SEES)},
    "cmss.user": {
        "add": by_role(NONE, NONE, STAFF_INVITE),
        # A clinician's account: suspended and reinstated through the clinician services.
        "change": by_role(NONE, SEES, SEES),
        "change:staff": by_role(NONE, SEES, STAFF_CHANGE),
    },
    # Addresses are the person's own (allauth's pages); TOTP secrets are never shown.
    "account.emailaddress": {"add": everyone(NONE), "change": by_role(NONE, NONE, SEES)},
    "mfa.authenticator": {"add": everyone(NONE), "change": by_role(NONE, NONE, SEES)},
    "cmss.outgoingemail": {"add": everyone(NONE), "change": everyone(SEES)},
    "cmss.auditevent": {"add": everyone(NONE), "change": by_role(NONE, SEES, SEES)},
    "cmss.retentionpolicy": {"add": everyone(NONE), "change": by_role(NONE, RETENTION, RETENTION)},
    "clinicians.clinician": {"add": everyone(NONE), "change": everyone(CLINICIAN)},
    "clinicians.hospital": {
        "add": by_role(NONE, HOSPITAL, HOSPITAL),
        "change": by_role(SEES, HOSPITAL, HOSPITAL),
        "change:proposed": by_role(SEES, HOSPITAL, HOSPITAL),
    },
    "clinicians.privacystatement": {
        "add": by_role(NONE, PRIVACY_DRAFT, PRIVACY_DRAFT),
        "change": everyone(SEES),
        "change:draft": by_role(SEES, PRIVACY_DRAFT, PRIVACY_DRAFT),
    },
    "clinicians.privacyacceptance": {"add": everyone(NONE), "change": by_role(NONE, SEES, SEES)},
    "clinicians.language": {"add": everyone(NONE), "change": everyone(SEES)},
    "clinicians.ern": {
        "add": by_role(NONE, ERN_FIELDS, ERN_FIELDS),
        "change": by_role(SEES, ERN_FIELDS, ERN_FIELDS),
    },
    "clinicians.specialty": {
        "add": by_role(NONE, SPECIALTY, SPECIALTY),
        "change": by_role(SEES, SPECIALTY, SPECIALTY),
    },
    # The ticket page's forms post to its actions, each a helpdesk service.
    "helpdesk.ticket": {"add": everyone(NONE), "change": everyone(SEES)},
    "helpdesk.ticketmessage": {"add": everyone(NONE), "change": everyone(SEES)},
    "helpdesk.cannedreply": {
        "add": by_role(NONE, CANNED_REPLY, CANNED_REPLY),
        "change": by_role(SEES, CANNED_REPLY, CANNED_REPLY),
    },
    "helpdesk.holiday": {"add": by_role(NONE, HOLIDAY, HOLIDAY), "change": by_role(SEES, HOLIDAY, HOLIDAY)},
    "conferences.conference": {"add": everyone(NONE), "change": everyone(SEES)},
    "conferences.providermeeting": {"add": everyone(NONE), "change": everyone(SEES)},
    "conferences.webinar": {
        "add": everyone(WEBINAR | SPEAKERS),
        "change": everyone(WEBINAR | SPEAKERS | {"speakers.DELETE"}),
    },
    "conferences.registration": {"add": everyone(NONE), "change": everyone(SEES)},
}


def test_every_admin_of_the_site_is_in_the_table() -> None:
    registered = {label for label, _name in _registered()}
    assert registered - set(EDITABLE) == set(), "add the new admin's forms to EDITABLE"
    assert set(EDITABLE) - registered == set()
    for label in EDITABLE:
        assert any(key.split(":")[0] == label for key in SAMPLES), f"add a sample {label} to SAMPLES"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_can_edit_exactly_the_fields_in_the_table(role: str, people: People) -> None:
    client = sign_in_staff(Client(), people[role])
    wrong = []
    for label, model_name in _registered():
        app_label = label.split(".")[0]
        urls = {"add": f"/admin/{app_label}/{model_name}/add/"}
        for key, maker in SAMPLES.items():
            if key.split(":")[0] == label:
                urls["change" + key[len(label) :]] = (
                    f"/admin/{app_label}/{model_name}/{maker(people).pk}/change/"
                )
        expected = EDITABLE.get(label, {})
        for page, url in urls.items():
            found = editable_fields(client, url, model_name)
            wanted = expected.get(page, {}).get(role, NONE)
            if found != wanted:
                wrong.append(f"{label} {page}: {_show(found)}, the table says {_show(wanted)}")
    assert not wrong, "\n" + "\n".join(wrong)


def _show(fields: frozenset[str] | None) -> str:
    return "403" if fields is None else "{" + ", ".join(sorted(fields)) + "}"


@pytest.mark.parametrize("role", ROLES)
def test_no_role_can_set_anyones_password_in_the_admin(role: str, people: People) -> None:
    client = sign_in_staff(Client(), people[role])
    for target in (people["clinician"].user, people["superuser"], people[role]):
        url = f"/admin/cmss/user/{target.pk}/password/"
        assert client.get(url).status_code in {403, 404}, url
        response = client.post(url, {"password1": "taken-over-42!", "password2": "taken-over-42!"})
        assert response.status_code in {403, 404}, url
        target.refresh_from_db()
        assert target.check_password(factories.PASSWORD), f"{role} changed the password of {target}"


@pytest.mark.parametrize("role", ROLES)
def test_no_role_can_deactivate_a_clinicians_account_in_the_admin(role: str, people: People) -> None:
    client = sign_in_staff(Client(), people[role])
    user = people["clinician"].user
    # Everything the old form had, with "active" unticked.
    client.post(
        f"/admin/cmss/user/{user.pk}/change/",
        {
            "email": user.email,
            "display_name": "",
            "time_zone": user.time_zone,
            "language": user.language,
            "is_staff": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
        },
    )
    user.refresh_from_db()
    assert user.is_active is True
