"""Every URL of the project, requested as each role, answers what DESIGN.md says.

A URL without an expectation fails the test: extend the tables when you add one.
Admin model pages follow from ADMIN_PERMISSIONS, which restates in the test what
each staff role may do with each model (so a change to cmss/roles.py that widens
access shows up here).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from clinicians.models import ERN, Hospital, Language, PrivacyAcceptance, PrivacyStatement, Specialty
from cmss import audit, outbox
from cmss.models import RetentionPolicy
from conferences.meetings import pipeline
from conferences.webinars import services as webinars
from helpdesk import services
from helpdesk.models import CannedReply, Holiday
from helpdesk.services import open_registration_ticket
from tests import factories
from tests.conftest import sign_in_staff

ROLES = ("visitor", "registered", "verified", "coordinator", "agent", "supervisor")
CLINICIANS = ("registered", "verified", "coordinator")
STAFF = ("agent", "supervisor")


def every(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


def signed_in(status: int, visitor: int = 302) -> dict[str, int]:
    return {**every(status), "visitor": visitor}


def visitor_only(status: int = 200, others: int = 302) -> dict[str, int]:
    return {**every(others), "visitor": status}


# Routes outside the admin: route → role → status.
EXPECTED: dict[str, dict[str, int]] = {
    "": every(200),
    "healthz/": every(200),
    "privacy/": every(200),
    "privacy/accept/": signed_in(200),
    # The directory is for verified clinicians; others are told why (403).
    "directory/": {**every(403), "visitor": 302, "verified": 200, "coordinator": 200},
    # Contact details are revealed by POST only.
    "directory/<int:pk>/contact/": signed_in(405),
    "admin/clinicians/clinician/export-directory/": {**every(302), "agent": 403, "supervisor": 200},
    # Staff have no clinician profile: they are sent to the admin.
    "profile/": {**signed_in(200), "agent": 302, "supervisor": 302},
    "register/": visitor_only(),
    "profile/data/": signed_in(200),
    "profile/delete/": signed_in(200),
    # The requester's side of the helpdesk; a ticket is its requester's alone.
    "helpdesk/": signed_in(200),
    "helpdesk/new/": signed_in(200),
    "helpdesk/<int:pk>/": {**signed_in(404), "registered": 200},
    "helpdesk/t/<str:token>/": every(200),
    "contact/": visitor_only(),
    "contact/sent/": every(200),
    # Case-discussion conferences. The sample conference is the coordinator's
    # hospital's, with the verified clinician invited; anyone else's is 404.
    "conferences/": signed_in(200),
    "conferences/request/": {**every(403), "visitor": 302, "coordinator": 200},
    "conferences/invitees/": {**signed_in(404), "coordinator": 200},
    # The request form's suggested experts, asked by its script.
    "conferences/experts/": {**signed_in(404), "coordinator": 200},
    "conferences/<int:pk>/": {**signed_in(404), "verified": 200, "coordinator": 200},
    "conferences/<int:pk>/respond/": signed_in(405),
    "conferences/<int:pk>/cancel/": {**signed_in(404), "coordinator": 200},
    # The requester marks the outcome report read and rates it: POSTs only.
    "conferences/<int:pk>/report/read/": signed_in(405),
    "conferences/<int:pk>/report/answer/": signed_in(405),
    # A join link of the local video backend opens for whoever has it, like a provider's.
    "video/local/<uuid:provider_id>/": every(200),
    # --- Webinars: the programme, its pages and feed are public; registering and
    # cancelling are POSTs of signed-in people (a GET is 405). The sample is published.
    "webinars/": every(200),
    "webinars/feed.ics": every(200),
    "webinars/<int:pk>/": every(200),
    "webinars/<int:pk>/register/": signed_in(405),
    "webinars/<int:pk>/cancel/": signed_in(405),
    # Webinar requests: coordinators ask; the sample request is the coordinator's
    # hospital's, so anyone else's answer is 404 (staff too, outside the admin).
    "webinars/request/": {**every(403), "visitor": 302, "coordinator": 200},
    # The request form's suggested speakers, asked by its script.
    "webinars/request/speakers/": {**signed_in(404), "coordinator": 200},
    "webinars/requests/": signed_in(200),
    "webinars/requests/<int:pk>/": {**signed_in(404), "coordinator": 200},
    # The agents' webinar pages (publish is a POST: a GET goes back to the webinar).
    "admin/conferences/webinar/<int:pk>/publish/": every(302),
    "admin/conferences/webinar/<int:pk>/cancel/": {**every(302), "agent": 200, "supervisor": 200},
    "admin/conferences/webinar/<int:pk>/held/": {**every(302), "agent": 200, "supervisor": 200},
    "admin/conferences/webinar/<int:pk>/attendees.csv": {**every(302), "agent": 200, "supervisor": 200},
    # --- End of webinars.
    "accounts/signup/": visitor_only(),
    "accounts/login/": visitor_only(),
    "accounts/logout/": signed_in(200),
    "accounts/inactive/": every(200),
    "accounts/reauthenticate/": signed_in(200),
    "accounts/reauthenticate/code/": signed_in(200),
    "accounts/reauthenticate/code/confirm/": signed_in(302),
    "accounts/email/": signed_in(200),
    # allauth's user sessions: each person's own sign-ins, signed out from there.
    "accounts/sessions/": signed_in(200),
    "accounts/confirm-email/": every(200),
    "accounts/password/change/": signed_in(200),
    "accounts/password/set/": signed_in(302),
    "accounts/password/reset/": every(200),
    "accounts/login/code/confirm/": every(302),
    "accounts/^confirm-email/(?P<key>[-:\\w]+)/$": every(200),
    "accounts/password/reset/key/done/": every(200),
    "accounts/^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$": every(200),
    "accounts/password/reset/done/": every(200),
    "accounts/2fa/": signed_in(200),
    "accounts/2fa/authenticate/": every(302),
    # Staff have TOTP (the admin requires it); clinicians have not set it up.
    "accounts/2fa/reauthenticate/": {**signed_in(302), "agent": 200, "supervisor": 200},
    # Activating two-factor sign-in asks for the password again first; the
    # rest exists only once it is active.
    "accounts/2fa/totp/activate/": signed_in(302),
    "accounts/2fa/totp/deactivate/": {**signed_in(404), "agent": 302, "supervisor": 302},
    "accounts/2fa/recovery-codes/": signed_in(404),
    "accounts/2fa/recovery-codes/generate/": signed_in(302),
    "accounts/2fa/recovery-codes/download/": signed_in(404),
    # The admin itself: clinicians and visitors are sent to its sign-in page.
    "admin/": {**every(302), "agent": 200, "supervisor": 200},
    # allauth's sign-in guards the admin's: visitors go there, clinicians are refused.
    "admin/login/": {**every(403), "visitor": 302, "agent": 302, "supervisor": 302},
    "admin/helpdesk/ticket/take-next/": {**every(302), "agent": 403, "supervisor": 403},
    "admin/helpdesk/ticket/<int:pk>/act/<slug:action>/": {**every(302), "agent": 404, "supervisor": 404},
    "admin/logout/": {**every(302), "agent": 405, "supervisor": 405},
    # Nobody sets another person's password: the old user-admin page answers 404.
    "admin/cmss/user/<id>/password/": {**every(302), "agent": 404, "supervisor": 404},
    "admin/password_change/": {**every(302), "agent": 200, "supervisor": 200},
    "admin/password_change/done/": {**every(302), "agent": 200, "supervisor": 200},
    "admin/autocomplete/": {**every(302), "agent": 403, "supervisor": 403},
    "admin/jsi18n/": {**every(302), "agent": 200, "supervisor": 200},
    "admin/r/<path:content_type_id>/<path:object_id>/": {**every(302), "agent": 404, "supervisor": 404},
    "admin/(?P<url>.*)$": {**every(302), "agent": 404, "supervisor": 404},
}

# Sample values for route parameters, by route.
SAMPLE_PATHS: dict[str, str] = {
    "accounts/^confirm-email/(?P<key>[-:\\w]+)/$": "/accounts/confirm-email/not-a-real-key/",
    "accounts/^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$": "/accounts/password/reset/key/1-not-a-key/",
    "admin/(?P<url>.*)$": "/admin/no-such-page/",
}

V, A, C, D = "view", "add", "change", "delete"
# What each staff role may do with each model in the admin (DESIGN.md: agents
# work the queue and verify clinicians; supervisors also keep reference data,
# read the audit log and manage users).
ADMIN_PERMISSIONS: dict[str, dict[str, set[str]]] = {
    "auth.group": {"agent": set(), "supervisor": set()},
    # Supervisors see accounts; only superusers manage staff accounts (tests/test_admin_forms.py).
    "cmss.user": {"agent": set(), "supervisor": {V}},
    "cmss.outgoingemail": {"agent": {V, C}, "supervisor": {V, C}},
    "cmss.auditevent": {"agent": set(), "supervisor": {V}},
    "cmss.retentionpolicy": {"agent": set(), "supervisor": {V, C}},
    "clinicians.ern": {"agent": {V}, "supervisor": {V, A, C}},
    "clinicians.specialty": {"agent": {V}, "supervisor": {V, A, C}},
    "clinicians.language": {"agent": {V}, "supervisor": {V}},
    "clinicians.hospital": {"agent": {V}, "supervisor": {V, A, C, D}},
    "clinicians.clinician": {"agent": {V, C}, "supervisor": {V, C}},
    "clinicians.privacystatement": {"agent": {V}, "supervisor": {V, A, C}},
    "clinicians.privacyacceptance": {"agent": set(), "supervisor": {V}},
    "helpdesk.ticket": {"agent": {V, C}, "supervisor": {V, C}},
    "helpdesk.ticketmessage": {"agent": {V}, "supervisor": {V}},
    "helpdesk.cannedreply": {"agent": {V}, "supervisor": {V, A, C, D}},
    "helpdesk.holiday": {"agent": {V}, "supervisor": {V, A, C, D}},
    "account.emailaddress": {"agent": set(), "supervisor": set()},
    "mfa.authenticator": {"agent": set(), "supervisor": set()},
    # Conferences are worked from their ticket; failed provider meetings are retried here.
    "conferences.conference": {"agent": {V}, "supervisor": {V}},
    "conferences.providermeeting": {"agent": {V, C}, "supervisor": {V, C}},
    # Webinars: agents run them; supervisors may also delete a draft.
    "conferences.webinar": {"agent": {V, A, C}, "supervisor": {V, A, C, D}},
    "conferences.registration": {"agent": {V, C}, "supervisor": {V, C}},
}
# Models whose admin refuses some actions to everyone (append-only or fixed lists).
ADMIN_NEVER: dict[str, set[str]] = {
    "cmss.outgoingemail": {A},
    "cmss.auditevent": {A, C, D},
    "cmss.retentionpolicy": {D},
    "clinicians.language": {A, D},
    "clinicians.privacyacceptance": {A},
    "helpdesk.ticket": {A, D},
    "helpdesk.ticketmessage": {A, C},
    "conferences.conference": {A, C, D},
    "conferences.providermeeting": {A, D},
    # Clinicians register themselves; a registration is cancelled, never deleted.
    "conferences.registration": {A, D},
}
ADMIN_MODEL_ROUTE = re.compile(r"^admin/(?P<app>\w+)/(?P<model>\w+)/(?P<rest>.*)$")


def admin_expectation(route: str) -> dict[str, int] | None:
    match = ADMIN_MODEL_ROUTE.match(route)
    if match is None or match["app"].startswith("^"):
        if route.startswith("admin/^(?P<app_label>"):
            return {**every(302), "agent": 200, "supervisor": 200}
        return None
    label = f"{match['app']}.{match['model']}"
    if label not in ADMIN_PERMISSIONS:
        return None
    rest = match["rest"]
    needed = {
        "": {V, C},
        "add/": {A},
        "<path:object_id>/history/": {V, C},
        "<path:object_id>/delete/": {D},
        "<path:object_id>/change/": {V, C},
        "<path:object_id>/": {V, C},
    }[rest]
    expected = every(302)
    for role in STAFF:
        allowed = ADMIN_PERMISSIONS[label][role] - ADMIN_NEVER.get(label, set())
        expected[role] = 200 if needed & allowed else 403
    if rest == "<path:object_id>/":  # the old-style URL redirects to /change/
        expected = {role: 302 for role in ROLES}
    return expected


def walk(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


ALL_ROUTES = sorted(set(walk(get_resolver().url_patterns)))


@pytest.fixture
def people(db: None) -> dict[str, Any]:
    registered = factories.ClinicianFactory.create(status="registered")
    verified = factories.ClinicianFactory.create(status="verified")
    coordinator = factories.CoordinatorFactory.create()
    agent = factories.StaffFactory.create(role="agents")
    supervisor = factories.StaffFactory.create(role="supervisors")
    return {
        "registered": registered.user,
        "verified": verified.user,
        "coordinator": coordinator.user,
        "agent": agent,
        "supervisor": supervisor,
    }


def sample_object(label: str, people: dict[str, Any]) -> Any:
    user = people["registered"]
    makers = {
        "auth.group": lambda: Group.objects.first(),
        "cmss.user": lambda: user,
        "cmss.outgoingemail": lambda: outbox.queue_email(to=user.email, subject="Hi", text="Hi", user=user),
        "cmss.auditevent": lambda: audit.record(action="test", actor=user),
        "cmss.retentionpolicy": RetentionPolicy.load,
        "clinicians.ern": lambda: ERN.objects.first(),
        "clinicians.specialty": lambda: Specialty.objects.first(),
        "clinicians.language": lambda: Language.objects.first(),
        "clinicians.hospital": lambda: Hospital.objects.first(),
        "clinicians.clinician": lambda: user.clinician,
        "clinicians.privacystatement": lambda: PrivacyStatement.objects.first(),
        "clinicians.privacyacceptance": lambda: PrivacyAcceptance.objects.filter(user=user).first(),
        "helpdesk.ticket": lambda: open_registration_ticket(clinician=user.clinician),
        "helpdesk.ticketmessage": lambda: services.add_note(
            ticket=open_registration_ticket(clinician=user.clinician), body="Called", by=people["agent"]
        ),
        "helpdesk.cannedreply": lambda: CannedReply.objects.create(title="Hello", body="Dear {name}"),
        "helpdesk.holiday": lambda: Holiday.objects.first(),
        "account.emailaddress": lambda: EmailAddress.objects.filter(user=user).first(),
        "conferences.conference": lambda: sample_conference(people),
        "conferences.providermeeting": lambda: pipeline.request_meeting(
            key="test-meeting", title="Case", start=timezone.now(), end=timezone.now(), time_zone="UTC"
        ),
        "mfa.authenticator": lambda: Authenticator.objects.create(
            user=factories.UserFactory.create(), type="totp", data={"secret": "x"}
        ),
        # Webinars: a draft for the admin pages (a supervisor may delete it), a
        # published one for the public pages, a registration to it.
        "conferences.webinar": lambda: factories.WebinarFactory.create(),
        "conferences.webinar:published": lambda: factories.WebinarFactory.create(state="published"),
        "conferences.webinarrequest": lambda: factories.requested_webinar(people["coordinator"].clinician),
        "conferences.registration": lambda: webinars.register(
            webinar=sample_object("conferences.webinar:published", people), clinician=user.clinician
        ),
    }
    samples = people.setdefault("samples", {})
    if label not in samples:
        samples[label] = makers[label]()
    return samples[label]


def sample_conference(people: dict[str, Any]) -> Any:
    return factories.requested_conference(
        people["coordinator"].clinician, invitees=[people["verified"].clinician], title="Case"
    )


def path_for(route: str, people: dict[str, Any]) -> str:
    if route in SAMPLE_PATHS:
        return SAMPLE_PATHS[route]
    if route == "video/local/<uuid:provider_id>/":
        from django.utils import timezone

        from conferences.video import MeetingSpec
        from conferences.video.local import LocalBackend

        now = timezone.now()
        meeting = LocalBackend().create(
            MeetingSpec(key=f"test:{route}", title="Case", start=now, end=now, time_zone="UTC")
        )
        return meeting.join_url.removeprefix("http://testserver")
    if route == "webinars/requests/<int:pk>/":
        return f"/webinars/requests/{sample_object('conferences.webinarrequest', people).pk}/"
    if route.startswith("webinars/<int:pk>/"):
        return "/" + route.replace("<int:pk>", str(sample_object("conferences.webinar:published", people).pk))
    if route.startswith("conferences/<int:pk>/"):
        return "/" + route.replace("<int:pk>", str(sample_object("conferences.conference", people).pk))
    if route == "directory/<int:pk>/contact/":
        return f"/directory/{people['verified'].clinician.pk}/contact/"
    if route == "helpdesk/<int:pk>/":
        return f"/helpdesk/{sample_object('helpdesk.ticket', people).pk}/"
    if route == "helpdesk/t/<str:token>/":
        ticket = services.open_contact_question(
            name="Visitor", email="visitor@example.org", subject="Hi", body="Hello"
        )
        return f"/helpdesk/t/{services.ticket_token(ticket)}/"
    if route == "admin/helpdesk/ticket/<int:pk>/act/<slug:action>/":
        return f"/admin/helpdesk/ticket/{sample_object('helpdesk.ticket', people).pk}/act/reply/"
    path = "/" + route
    match = ADMIN_MODEL_ROUTE.match(route)
    if "<" in route and match is not None:
        obj = sample_object(f"{match['app']}.{match['model']}", people)
        path = re.sub(r"<[^>]+>", str(obj.pk), path)
    elif route.startswith("admin/r/"):
        hospital = Hospital.objects.first()
        assert hospital is not None
        from django.contrib.contenttypes.models import ContentType

        path = f"/admin/r/{ContentType.objects.get_for_model(Hospital).pk}/{hospital.pk}/"
    elif route.startswith("admin/^(?P<app_label>"):
        path = "/admin/helpdesk/"
    return path


def expectation(route: str) -> dict[str, int] | None:
    return EXPECTED.get(route) or admin_expectation(route)


def test_every_url_has_an_expectation_for_every_role() -> None:
    missing = [route for route in ALL_ROUTES if expectation(route) is None]
    assert missing == []
    for route in ALL_ROUTES:
        assert set(expectation(route) or {}) == set(ROLES), route
    stale = [route for route in EXPECTED if route not in ALL_ROUTES]
    assert stale == []


@pytest.mark.parametrize("role", ROLES)
def test_every_url_answers_each_role_as_expected(role: str, people: dict[str, Any]) -> None:
    client = Client()
    if role in STAFF:
        sign_in_staff(client, people[role])
    elif role != "visitor":
        client.force_login(people[role])
    wrong = []
    for route in ALL_ROUTES:
        expected = expectation(route)
        assert expected is not None
        path = path_for(route, people)
        status = client.get(path).status_code
        if status != expected[role]:
            wrong.append(f"{path}: {status}, expected {expected[role]}")
    assert not wrong, "\n" + "\n".join(wrong)
