"""Webinar requests of reference centres: the coordinator's form, the helpdesk's
one-action draft webinar or decline on the ticket panel, the requester told at
each step, who sees which request, and the requester's and speakers' data."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinicians.models import ERN, Language
from cmss import personal_data
from cmss.models import OutgoingEmail, RetentionPolicy
from conferences.models import (
    PreferredDate,
    ProposedSpeaker,
    Speaker,
    Webinar,
    WebinarRequest,
    WebinarRequestEvent,
)
from conferences.webinars import requests as webinar_requests
from conferences.webinars import services as webinars
from helpdesk.models import Ticket
from tests import factories
from tests.conftest import sign_in_staff

pytestmark = pytest.mark.django_db

LOCAL = "%Y-%m-%dT%H:%M"
TOPIC = "Ventilating adults with cystic fibrosis and COVID-19"


@pytest.fixture(autouse=True)
def local_backend(settings: Any) -> None:
    settings.VIDEO_BACKEND = "conferences.video.local.LocalBackend"


def local(moment: Any, zone: str = "Europe/Lisbon") -> str:
    return timezone.localtime(moment, ZoneInfo(zone)).strftime(LOCAL)


def soon(days: int = 10, hour: int = 15, zone: str = "Europe/Lisbon") -> Any:
    base = timezone.localtime(timezone.now() + timedelta(days=days), ZoneInfo(zone))
    return base.replace(hour=hour, minute=0, second=0, microsecond=0)


@pytest.fixture
def coordinator_user(coordinator: Any) -> Any:
    coordinator.user.time_zone = "Europe/Lisbon"
    coordinator.user.save()
    return coordinator


@pytest.fixture
def expert(db: None) -> Any:
    clinician = factories.ClinicianFactory.create(
        status="verified", first_name="Ingrid", last_name="Halvorsen", user__email="ingrid@ern.example.org"
    )
    return clinician


def request_form(expert: Any, **overrides: Any) -> dict[str, Any]:
    data = {
        "topic": TOPIC,
        "audience": "Intensivists and respiratory physicians of adult CF centres.",
        "clinical_need": "Since the winter wave, adults with CF are admitted with COVID-19 pneumonia.",
        "erns": [str(ERN.objects.get(code="ern-lung").pk)],
        "language": "en",
        "speakers": [str(expert.pk)],
        "outside_1_name": "Prof. Otto Außenseiter",
        "outside_1_affiliation": "Medizinische Universität Wien",
        "outside_1_email": "otto@meduniwien.example.org",
        "dates": [local(soon(10)), local(soon(12))],
        "duration_minutes": "90",
        "audience_size": "150",
        "recorded": "on",
    }
    data.update(overrides)
    return data


def emails_to(address: str) -> list[OutgoingEmail]:
    return list(OutgoingEmail.objects.filter(to_address=address).order_by("pk"))


def act(client: Client, ticket: Ticket, action: str, data: dict[str, Any]) -> Any:
    return client.post(reverse("admin:helpdesk_ticket_act", args=[ticket.pk, action]), data)


def ticket_of(webinar_request: WebinarRequest) -> Ticket:
    assert webinar_request.ticket is not None, "every request opens a ticket"
    return webinar_request.ticket


# --- Requesting ----------------------------------------------------------------------------


def test_a_coordinator_requests_a_webinar_which_becomes_a_ticket(
    client: Client, coordinator_user: Any, expert: Any
) -> None:
    client.force_login(coordinator_user.user)
    page = client.get(reverse("conferences:webinar_request"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Your time zone: Europe/Lisbon" in html
    # The speaker picker searches the directory as you type, through the invitee endpoint.
    assert f'data-search-url="{reverse("conferences:invitee_search")}"' in html

    response = client.post(reverse("conferences:webinar_request"), request_form(expert))

    made = WebinarRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("conferences:webinar_request_detail", args=[made.pk])
    assert (made.topic, made.state, made.hospital) == (TOPIC, "requested", coordinator_user.hospital)
    assert (made.duration_minutes, made.audience_size, made.recorded) == (90, 150, True)
    assert made.time_zone == "Europe/Lisbon" and made.language.code == "en"
    assert [ern.code for ern in made.erns.all()] == ["ern-lung"]
    # Typed in Lisbon: 15:00 there.
    assert [date.start for date in made.dates.all()] == [soon(10), soon(12)]
    speakers = [(s.position, s.clinician_id, s.name, s.email) for s in made.speakers.all()]
    assert speakers == [
        (1, expert.pk, "Ingrid Halvorsen", ""),
        (2, None, "Prof. Otto Außenseiter", "otto@meduniwien.example.org"),
    ]
    ticket = ticket_of(made)
    assert ticket.kind == Ticket.Kind.WEBINAR and ticket.get_kind_display() == "Webinar request"
    assert ticket.subject == f"Webinar request: {TOPIC}"
    assert (ticket.requester, ticket.hospital) == (coordinator_user.user, coordinator_user.hospital)
    assert [event.action for event in made.events.all()] == ["requested"]

    [received] = emails_to(coordinator_user.user.email)
    assert received.subject.endswith(f"Webinar request received: {TOPIC}")
    assert f"http://testserver/webinars/requests/{made.pk}/" in received.text_body
    assert f"{soon(10):%H}:00 (Europe/Lisbon)" in received.text_body

    detail = client.get(response["Location"]).content.decode()
    assert "Your request is with the helpdesk" in detail and "Prof. Otto Außenseiter" in detail
    assert "Ingrid Halvorsen" in detail and "requested" in detail


def test_the_request_page_is_for_coordinators(
    client: Client, registered: Any, verified: Any, agent: Any, supervisor: Any
) -> None:
    url = reverse("conferences:webinar_request")
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    for person in (registered, verified):
        client.force_login(person.user)
        response = client.get(url)
        assert response.status_code == 403
        assert "Webinars are requested by the coordinators" in response.content.decode()
    client.force_login(registered.user)
    assert "Your registration is not verified yet." in client.get(url).content.decode()
    assert client.post(url, {"topic": "Anything"}).status_code == 403
    for staff in (agent, supervisor):
        assert sign_in_staff(Client(), staff).get(url).status_code == 403
    assert WebinarRequest.objects.count() == 0


HORIZON_DAYS = 400


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"dates": ["2001-05-04T10:00"]}, "dates", "Choice 1: Choose a time in the future."),
        ("far", "dates", "Choice 2: Choose a time within the next twelve months."),
        ("four", "dates", "Propose at most 3 dates."),
        ({"dates": ["", ""]}, "dates", "Propose at least one date."),
        ("twice", "dates", "The same date is proposed twice."),
        ({"dates": ["tomorrow at ten"]}, "dates", "Choice 1: Enter a valid date/time."),
        ({"speakers": ["999999"]}, "speakers", "Choose speakers among the verified clinicians listed"),
        ("unlisted", "speakers", "Choose speakers among the verified clinicians listed"),
        ({"speakers": ["x"]}, "speakers", "Choose speakers among the verified clinicians listed"),
        ({"outside_1_email": ""}, "outside_1_email", "Give this speaker&#x27;s email address"),
        ({"outside_1_name": ""}, "outside_1_name", "Give the name of this speaker."),
        (
            {"outside_2_name": "Dr Twice", "outside_2_email": "OTTO@meduniwien.example.org"},
            "outside_2_email",
            "This speaker is already listed.",
        ),
        ({"outside_1_email": "not an address"}, "outside_1_email", "Enter a valid email address."),
        ({"erns": []}, "erns", "Choose at least one European Reference Network."),
        ({"audience_size": "0"}, "audience_size", "Ensure this value is greater than or equal to 1."),
        ({"duration_minutes": "5"}, "duration_minutes", "Ensure this value is greater than or equal to 15."),
        ({"topic": ""}, "topic", "This field is required."),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_bad_input_is_shown_next_to_the_field_and_nothing_is_saved(
    client: Client, coordinator_user: Any, expert: Any, overrides: Any, field: str, message: str
) -> None:
    if overrides == "far":
        overrides = {"dates": [local(soon(10)), local(soon(HORIZON_DAYS))]}
    elif overrides == "four":
        overrides = {"dates": [local(soon(days)) for days in (10, 11, 12, 13)]}
    elif overrides == "twice":
        overrides = {"dates": [local(soon(10)), local(soon(10))]}
    elif overrides == "unlisted":
        hidden = factories.ClinicianFactory.create(status="verified", listed_in_directory=False)
        overrides = {"speakers": [str(expert.pk), str(hidden.pk)]}
    client.force_login(coordinator_user.user)

    response = client.post(reverse("conferences:webinar_request"), request_form(expert, **overrides))

    assert response.status_code == 400
    html = response.content.decode()
    errors = re.search(rf'<ul class="errors" id="id_{field}_error">(.*?)</ul>', html, re.S)
    assert errors is not None, f"no error next to {field}"
    assert message in errors.group(1)
    # The error is tied to its box (or, for a group of boxes, to its fieldset).
    assert re.search(rf'aria-describedby="[^"]*id_{field}_error', html)
    assert WebinarRequest.objects.count() == 0 and Ticket.objects.count() == 0
    assert not OutgoingEmail.objects.exists()


def test_a_hospital_that_is_no_longer_a_reference_centre_cannot_send_the_form(
    client: Client, coordinator_user: Any, expert: Any
) -> None:
    client.force_login(coordinator_user.user)
    assert client.get(reverse("conferences:webinar_request")).status_code == 200
    # The helpdesk takes the flag away while the coordinator is typing.
    hospital = coordinator_user.hospital
    hospital.is_reference_centre = False
    hospital.save()

    response = client.post(reverse("conferences:webinar_request"), request_form(expert))

    assert response.status_code == 400
    html = response.content.decode()
    assert f"{hospital.name} is no longer a reference centre" in html
    assert 'class="error-summary"' in html
    assert WebinarRequest.objects.count() == 0 and Ticket.objects.count() == 0
    # And the form is closed from then on.
    assert client.get(reverse("conferences:webinar_request")).status_code == 403


def test_the_service_checks_the_hospital_again(coordinator: Any) -> None:
    coordinator.hospital.is_reference_centre = False
    coordinator.hospital.save()
    with pytest.raises(webinar_requests.WebinarRequestError, match="no longer a reference centre"):
        factories.requested_webinar(coordinator)
    assert WebinarRequest.objects.count() == 0


def test_the_service_refuses_bad_data_whoever_calls_it(coordinator: Any) -> None:
    now = timezone.now()
    with pytest.raises(webinar_requests.WebinarRequestError, match="one to three dates"):
        factories.requested_webinar(coordinator, dates=[now + timedelta(days=d) for d in (3, 4, 5, 6)])
    with pytest.raises(webinar_requests.WebinarRequestError, match="name and the email address"):
        factories.requested_webinar(coordinator, outside=[("Dr No Address", "", "")])
    unlisted = factories.ClinicianFactory.create(status="registered")
    with pytest.raises(webinar_requests.WebinarRequestError, match="listed in the directory"):
        factories.requested_webinar(coordinator, speakers=[unlisted])
    assert WebinarRequest.objects.count() == 0


def test_without_javascript_find_lists_speakers_to_tick(
    client: Client, coordinator_user: Any, expert: Any
) -> None:
    client.force_login(coordinator_user.user)
    data = request_form(expert, speakers=[], find_speakers="1", speakers_search="halvor", topic="")
    response = client.post(reverse("conferences:webinar_request"), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'name="speakers" value="{expert.pk}"' in html and "Ingrid Halvorsen" in html
    assert "This field is required." not in html  # only searched: no errors yet
    assert 'value="Prof. Otto Außenseiter"' in html  # what was typed stays
    assert WebinarRequest.objects.count() == 0


# --- Suggested speakers ------------------------------------------------------------------------

# A Tuesday; the preferred date is the next Tuesday, 08:00 in Lisbon (the
# coordinator's zone): 09:00 in Paris and Berlin, 03:00 in New York.
SUGGEST_NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
SUGGEST_DATE = datetime(2026, 3, 10, 8, 0, tzinfo=ZoneInfo("Europe/Lisbon"))


def member(first: str, last: str, *, erns: tuple[str, ...], languages: tuple[str, ...], zone: str) -> Any:
    person = factories.ClinicianFactory.create(
        status="verified",
        first_name=first,
        last_name=last,
        languages=list(Language.objects.filter(code__in=languages)),
    )
    person.erns.set(ERN.objects.filter(code__in=erns))
    person.user.time_zone = zone
    person.user.save()
    return person


@pytest.fixture
def speakers_network(time_machine: Any, coordinator_user: Any) -> dict[str, Any]:
    """Members of ERN LUNG (and one of ERN ITHACA only); the coordinator is an
    ERN LUNG member who speaks French too."""
    time_machine.move_to(SUGGEST_NOW, tick=False)
    coordinator_user.erns.set(ERN.objects.filter(code="ern-lung"))
    coordinator_user.languages.set(Language.objects.filter(code__in=["fr", "pt"]))
    return {
        # ERN LUNG, French, 09:00 in Paris: 70 points.
        "roux": member("Amélie", "Roux", erns=("ern-lung",), languages=("fr", "en"), zone="Europe/Paris"),
        # ERN LUNG, no French, 09:00 in Berlin: 50.
        "abel": member("Dora", "Abel", erns=("ern-lung",), languages=("de",), zone="Europe/Berlin"),
        # ERN LUNG, French, 03:00 in New York: 60.
        "cole": member("Ezra", "Cole", erns=("ern-lung",), languages=("fr",), zone="America/New_York"),
        # Not in ERN LUNG: never suggested for it, however French.
        "ithaca": member("Fanny", "Blanc", erns=("ern-ithaca",), languages=("fr",), zone="Europe/Paris"),
    }


def speakers_form(expert: Any, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "language": "fr",
        "speakers": [],
        "dates": [SUGGEST_DATE.strftime(LOCAL), (SUGGEST_DATE + timedelta(days=2)).strftime(LOCAL)],
        "clinical_need": "Since the winter wave:\nadults with CF are admitted with COVID-19 pneumonia.",
    }
    return request_form(expert, **{**data, **overrides})


def suggested_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'name="add_speaker" value="(\d+)"', html)]


def test_without_javascript_speakers_are_suggested_with_their_reasons(
    client: Client, coordinator_user: Any, expert: Any, speakers_network: dict[str, Any]
) -> None:
    client.force_login(coordinator_user.user)
    page = client.get(reverse("conferences:webinar_request")).content.decode()
    assert "Suggested speakers" in page and "Choose the ERNs concerned to see speakers." in page

    response = client.post(
        reverse("conferences:webinar_request"), speakers_form(expert, suggest_speakers="1")
    )

    html = response.content.decode()
    assert response.status_code == 200
    people = speakers_network
    # Best first; the ERN ITHACA member and the coordinator are not suggested.
    assert suggested_ids(html) == [people[key].pk for key in ("roux", "cole", "abel")]
    assert "ERN LUNG member · speaks French · 9 a.m. their time" in html
    assert "ERN LUNG member · speaks French</span>" in html  # 03:00 in New York: no working hours
    assert "ERN LUNG member · 9 a.m. their time" in html
    assert "Add as speaker" in html
    assert 'class="errors"' not in html
    assert WebinarRequest.objects.count() == 0


def test_adding_a_suggested_speaker_keeps_everything_typed(
    client: Client, coordinator_user: Any, expert: Any, speakers_network: dict[str, Any]
) -> None:
    client.force_login(coordinator_user.user)
    roux, cole = speakers_network["roux"], speakers_network["cole"]
    url = reverse("conferences:webinar_request")

    added = client.post(url, speakers_form(expert, speakers=[str(expert.pk)], add_speaker=str(roux.pk)))

    html = added.content.decode()
    assert added.status_code == 200
    assert f'name="speakers" value="{roux.pk}" checked' in html
    assert f'name="speakers" value="{expert.pk}" checked' in html  # the one chosen before stays
    assert roux.pk not in suggested_ids(html) and cole.pk in suggested_ids(html)
    # Everything typed is there again, line breaks included.
    assert f'value="{TOPIC}"' in html
    assert "Since the winter wave:\nadults with CF are admitted with COVID-19 pneumonia.</textarea>" in html
    assert 'value="Prof. Otto Außenseiter"' in html and 'value="otto@meduniwien.example.org"' in html
    assert f'value="{SUGGEST_DATE.strftime(LOCAL)}"' in html
    assert f'value="{(SUGGEST_DATE + timedelta(days=2)).strftime(LOCAL)}"' in html
    assert re.search(r'value="fr"[^>]*selected', html)
    assert re.search(r'name="recorded"[^>]*checked', html)
    assert 'value="150"' in html and 'value="90"' in html
    assert 'class="errors"' not in html
    assert WebinarRequest.objects.count() == 0

    sent = client.post(url, speakers_form(expert, speakers=[str(expert.pk), str(roux.pk)]))

    assert sent.status_code == 302
    made = WebinarRequest.objects.get()
    assert {item.clinician for item in made.speakers.filter(clinician__isnull=False)} == {expert, roux}


def test_the_requester_and_the_chosen_speakers_are_never_suggested(
    client: Client, coordinator_user: Any, expert: Any, speakers_network: dict[str, Any]
) -> None:
    client.force_login(coordinator_user.user)
    cole = speakers_network["cole"]
    html = client.post(
        reverse("conferences:webinar_request"),
        speakers_form(expert, speakers=[str(cole.pk)], suggest_speakers="1"),
    ).content.decode()
    ids = suggested_ids(html)
    assert ids == [speakers_network[key].pk for key in ("roux", "abel")]
    assert coordinator_user.pk not in ids and cole.pk not in ids
    # Asking to add oneself (a hand-made button) adds nobody: the requester is no speaker.
    html = client.post(
        reverse("conferences:webinar_request"), speakers_form(expert, add_speaker=str(coordinator_user.pk))
    ).content.decode()
    assert f'name="speakers" value="{coordinator_user.pk}"' not in html


def test_hostile_values_in_the_speaker_buttons_are_ignored(
    client: Client, coordinator_user: Any, expert: Any, speakers_network: dict[str, Any]
) -> None:
    client.force_login(coordinator_user.user)
    for value in ("a\x00b", "9" * 25, "-1", "", '"><script>alert(1)</script>'):
        response = client.post(
            reverse("conferences:webinar_request"),
            speakers_form(expert, add_speaker=value, erns=[value], dates=[value], speakers=[value]),
        )
        assert response.status_code == 200, value
        assert "<script>alert(1)" not in response.content.decode()
    assert WebinarRequest.objects.count() == 0


def test_suggested_speakers_keep_their_query_count_as_the_network_grows(
    client: Client, coordinator_user: Any, expert: Any, speakers_network: dict[str, Any]
) -> None:
    client.force_login(coordinator_user.user)
    url, data = reverse("conferences:webinar_request"), speakers_form(expert, suggest_speakers="1")

    def count(expected: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            html = client.post(url, data).content.decode()
        assert len(suggested_ids(html)) == expected
        return len(queries)

    count(3)  # the first request of a session also loads the session's user
    few = count(3)
    for n in range(20):
        member("Ana", f"More{n}", erns=("ern-lung",), languages=("fr",), zone="Europe/Paris")
    # Each new member came with a new listed hospital: the first page after
    # that rebuilds the form's cached option lists (clinicians/choices.py).
    count(10)
    assert count(10) == few


def test_the_speaker_endpoint_answers_coordinators_with_the_suggestions_and_their_reasons(
    client: Client, coordinator_user: Any, expert: Any, speakers_network: dict[str, Any], verified: Any
) -> None:
    url = reverse("conferences:speaker_suggestions")
    query = speakers_form(expert, speakers=[str(speakers_network["abel"].pk)])
    assert client.get(url, query).status_code == 302  # signed out: to the sign-in page
    client.force_login(verified.user)
    assert client.get(url, query).status_code == 404
    client.force_login(coordinator_user.user)

    answer = client.get(url, query)

    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [item["id"] for item in results] == [speakers_network[key].pk for key in ("roux", "cole")]
    assert results[0]["label"].startswith("Amélie Roux — ")
    assert results[0]["why"] == "ERN LUNG member · speaks French · 9 a.m. their time"
    assert results[0]["reasons"] == ["ERN LUNG member", "speaks French", "9 a.m. their time"]
    assert client.get(url, {"language": "fr"}).json() == {
        "results": [],
        "message": "Choose the ERNs concerned to see speakers.",
    }


def test_the_speaker_endpoint_has_a_rate_limit(
    client: Client, coordinator_user: Any, expert: Any, speakers_network: dict[str, Any], monkeypatch: Any
) -> None:
    from cmss import ratelimit

    client.force_login(coordinator_user.user)
    monkeypatch.setattr(ratelimit, "allow", lambda **kwargs: False)
    answer = client.get(reverse("conferences:speaker_suggestions"), speakers_form(expert))
    assert answer.status_code == 429
    assert answer.json()["results"] == [] and "wait a minute" in answer.json()["message"]


# --- The helpdesk's panel --------------------------------------------------------------------


def test_the_ticket_panel_shows_the_request_in_the_agents_zone(
    client: Client, coordinator: Any, expert: Any, agent: Any
) -> None:
    agent.time_zone = "Europe/Helsinki"
    agent.save()
    made = factories.requested_webinar(
        coordinator, speakers=[expert], dates=[soon(10, zone="Europe/Brussels")]
    )
    sign_in_staff(client, agent)
    page = client.get(reverse("admin:helpdesk_ticket_change", args=[ticket_of(made).pk])).content.decode()
    assert "Webinar request" in page and made.topic in page
    assert "Ingrid Halvorsen" in page and "ingrid@ern.example.org" in page and "in the network" in page
    assert (
        "Dr Outside Speaker" in page and "outside@ern.example.org" in page and "outside the network" in page
    )
    helsinki = timezone.localtime(soon(10, zone="Europe/Brussels"), ZoneInfo("Europe/Helsinki"))
    assert f"{helsinki:%H}:00" in page and "(Europe/Helsinki)" in page
    assert "ERN LUNG" in page and "120 clinicians" in page
    assert "Create the draft webinar" in page and "Decline the request" in page


def test_the_agent_creates_the_draft_webinar_in_one_action(
    client: Client, coordinator: Any, expert: Any, agent: Any
) -> None:
    made = factories.requested_webinar(coordinator, speakers=[expert], time_zone="Europe/Lisbon")
    first, second = made.dates.all()
    sign_in_staff(client, agent)

    response = act(client, ticket_of(made), "create_draft", {"create_draft-date": str(second.pk)})

    webinar = Webinar.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:conferences_webinar_change", args=[webinar.pk])
    assert webinar.state == Webinar.State.DRAFT and webinar.created_by == agent
    assert webinar.title == "COVID-19 in adults with cystic fibrosis"
    assert webinar.description == (
        "Intensivists and respiratory physicians of adult CF centres.\n\n"
        "Adults with CF are admitted with COVID-19 and we lack shared guidance on ventilation."
    )
    assert [ern.code for ern in webinar.erns.all()] == ["ern-lung"]
    assert (webinar.language.code, webinar.start, webinar.duration_minutes) == ("en", second.start, 90)
    assert (webinar.capacity, webinar.recorded, webinar.time_zone) == (120, True, "Europe/Lisbon")
    copied = [(s.position, s.name, s.clinician_id, s.email, s.invite_email) for s in webinar.speakers.all()]
    assert copied == [
        (1, "Ingrid Halvorsen", expert.pk, "", "ingrid@ern.example.org"),
        (2, "Dr Outside Speaker", None, "outside@ern.example.org", "outside@ern.example.org"),
    ]
    assert webinar.speakers.get(position=1).affiliation == expert.hospital.name
    made.refresh_from_db()
    assert (made.state, made.webinar, made.accepted_at is not None) == ("accepted", webinar, True)
    assert webinar.request == made  # the webinar links back to the request
    assert [event.action for event in made.events.all()] == ["requested", "draft_created"]
    ticket = ticket_of(made)
    ticket.refresh_from_db()
    assert (ticket.state, ticket.assignee) == (Ticket.State.OPEN, agent)

    accepted = emails_to(coordinator.user.email)[-1]
    assert accepted.subject.endswith(
        "Your webinar is being prepared: COVID-19 in adults with cystic fibrosis"
    )
    assert f"http://testserver/webinars/requests/{made.pk}/" in accepted.text_body

    # The draft's admin page, where the agent edits and publishes, links back to the request.
    page = client.get(response["Location"]).content.decode()
    assert reverse("admin:helpdesk_ticket_change", args=[ticket.pk]) in page
    assert f"Requested by {coordinator.hospital.name}" in page
    # Nothing more to do on the panel but open the draft.
    panel = client.get(reverse("admin:helpdesk_ticket_change", args=[ticket.pk])).content.decode()
    assert "Create the draft webinar" not in panel and "Decline the request" not in panel
    assert reverse("admin:conferences_webinar_change", args=[webinar.pk]) in panel
    # Once made, a second draft is refused.
    with pytest.raises(webinar_requests.WebinarRequestError):
        webinar_requests.create_draft_webinar(request=made, start=first.start, by=agent)


def test_seats_follow_the_audience_but_never_beyond_the_maximum(coordinator: Any, agent: Any) -> None:
    made = factories.requested_webinar(coordinator, audience_size=WebinarRequest.MAX_AUDIENCE)
    webinar = webinar_requests.create_draft_webinar(request=made, start=made.dates.first().start, by=agent)
    assert webinar.capacity == Webinar.MAX_CAPACITY


def test_another_time_or_no_time_on_the_panel(client: Client, coordinator: Any, agent: Any) -> None:
    made = factories.requested_webinar(coordinator)
    sign_in_staff(client, agent)
    ticket = ticket_of(made)

    response = act(client, ticket, "create_draft", {})
    assert response.status_code == 400
    assert "Choose one of the preferred dates or enter another time." in response.content.decode()
    response = act(client, ticket, "create_draft", {"create_draft-other": "2001-01-01T10:00"})
    assert response.status_code == 400 and "Choose a time in the future." in response.content.decode()
    assert not Webinar.objects.exists()

    other = soon(20, zone="Europe/Brussels")
    act(client, ticket, "create_draft", {"create_draft-other": local(other, "Europe/Brussels")})
    assert Webinar.objects.get().start == other


def test_a_preferred_date_that_has_passed_is_refused(
    client: Client, coordinator: Any, agent: Any, time_machine: Any
) -> None:
    made = factories.requested_webinar(coordinator)
    first = made.dates.first()
    time_machine.move_to(first.start + timedelta(hours=1))
    sign_in_staff(client, agent)
    response = act(client, ticket_of(made), "create_draft", {"create_draft-date": str(first.pk)})
    assert response.status_code == 400
    assert "This date has passed: choose another time." in response.content.decode()


def test_decline_tells_the_requester_with_the_reason(client: Client, coordinator: Any, agent: Any) -> None:
    made = factories.requested_webinar(coordinator)
    sign_in_staff(client, agent)
    ticket = ticket_of(made)

    response = act(client, ticket, "decline_request", {"decline_request-reason": ""})
    assert response.status_code == 400 and "This field is required." in response.content.decode()
    response = act(
        client, ticket, "decline_request", {"decline_request-reason": "ERN LUNG held one on this in May."}
    )

    assert response.status_code == 302
    made.refresh_from_db()
    ticket.refresh_from_db()
    assert (made.state, made.decline_reason) == ("declined", "ERN LUNG held one on this in May.")
    assert ticket.state == Ticket.State.RESOLVED
    assert [(e.action, e.note) for e in made.events.all()][-1] == (
        "declined",
        "ERN LUNG held one on this in May.",
    )
    declined = emails_to(coordinator.user.email)[-1]
    assert declined.subject.endswith("Your webinar request: COVID-19 in adults with cystic fibrosis")
    assert "ERN LUNG held one on this in May." in declined.text_body
    assert f"http://testserver/webinars/requests/{made.pk}/" in declined.text_body
    panel = client.get(reverse("admin:helpdesk_ticket_change", args=[ticket.pk])).content.decode()
    assert "Create the draft webinar" not in panel and "Decline the request" not in panel
    with pytest.raises(webinar_requests.WebinarRequestError):
        webinar_requests.decline_request(request=made, reason="again", by=agent)

    client.force_login(coordinator.user)
    page = client.get(reverse("conferences:webinar_request_detail", args=[made.pk])).content.decode()
    assert "The helpdesk cannot organise this webinar." in page and "held one on this in May" in page


def test_publishing_the_draft_emails_the_requester_once_with_the_link(
    client: Client, coordinator: Any, agent: Any
) -> None:
    made = factories.requested_webinar(coordinator)
    webinar = webinar_requests.create_draft_webinar(request=made, start=made.dates.first().start, by=agent)
    sign_in_staff(client, agent)

    client.post(reverse("admin:conferences_webinar_publish", args=[webinar.pk]))
    client.post(reverse("admin:conferences_webinar_publish", args=[webinar.pk]))  # a second click

    webinar.refresh_from_db()
    assert webinar.state == Webinar.State.PUBLISHED
    published = [e for e in emails_to(coordinator.user.email) if "is on the programme" in e.subject]
    assert len(published) == 1
    assert published[0].subject.endswith(
        "The webinar you requested is on the programme: COVID-19 in adults with cystic fibrosis"
    )
    assert f"http://testserver/webinars/{webinar.pk}/" in published[0].text_body
    assert [event.action for event in made.events.all()][-1] == "published"
    assert WebinarRequestEvent.objects.filter(request=made, action="published").count() == 1
    ticket = ticket_of(made)
    ticket.refresh_from_db()
    assert ticket.state == Ticket.State.RESOLVED

    client.force_login(coordinator.user)
    listing = client.get(reverse("conferences:webinar_requests")).content.decode()
    assert "published" in listing and reverse("conferences:webinar_detail", args=[webinar.pk]) in listing
    # The public page says nothing about the request: it is the hospital's, not the programme's.
    public = Client().get(reverse("conferences:webinar_detail", args=[webinar.pk])).content.decode()
    assert "/webinars/requests/" not in public and coordinator.hospital.name not in public


def test_a_webinar_without_a_request_is_published_as_before(agent: Any) -> None:
    webinar = factories.WebinarFactory.create()
    webinars.publish_webinar(webinar=webinar, by=agent)
    assert not OutgoingEmail.objects.exists()


def test_the_requester_is_emailed_in_their_language_and_zone(coordinator: Any, agent: Any) -> None:
    coordinator.user.language = "fr"
    coordinator.user.time_zone = "Europe/Paris"
    coordinator.user.save()
    brussels = soon(10, zone="Europe/Brussels")
    made = factories.requested_webinar(coordinator, dates=[brussels])
    webinar = webinar_requests.create_draft_webinar(request=made, start=brussels, by=agent)
    webinars.publish_webinar(webinar=webinar, by=agent)

    received, accepted, published = emails_to(coordinator.user.email)
    for email in (received, accepted, published):
        assert email.to_address == coordinator.user.email
        assert "Le service d’assistance du CMSS" in email.text_body  # the French signature
    day = timezone.localtime(brussels, ZoneInfo("Europe/Paris"))
    french_days = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
    assert f"{french_days[day.weekday()]} {day.day}" in received.text_body
    assert f"{day:%H}:00 (Europe/Paris)" in received.text_body
    assert "Suivez la demande ici" in received.text_body
    assert "Webinaire" in published.text_body


# --- Who sees what -------------------------------------------------------------------------


def test_each_role_on_the_list_and_the_detail(
    client: Client, coordinator: Any, verified: Any, agent: Any, supervisor: Any
) -> None:
    made = factories.requested_webinar(coordinator)
    colleague = factories.CoordinatorFactory.create(hospital=coordinator.hospital)
    other_coordinator = factories.CoordinatorFactory.create()
    listing = reverse("conferences:webinar_requests")
    detail = reverse("conferences:webinar_request_detail", args=[made.pk])

    for url in (listing, detail):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")

    for person in (coordinator, colleague):  # the hospital's coordinators
        client.force_login(person.user)
        assert made.topic in client.get(listing).content.decode()
        page = client.get(detail)
        assert page.status_code == 200 and "Dr Outside Speaker" in page.content.decode()

    for stranger in (other_coordinator, verified):
        client.force_login(stranger.user)
        assert made.topic not in client.get(listing).content.decode()
        assert client.get(detail).status_code == 404
    for staff in (agent, supervisor):  # outside the admin, staff are nobody special
        staff_client = sign_in_staff(Client(), staff)
        assert made.topic not in staff_client.get(listing).content.decode()
        assert staff_client.get(detail).status_code == 404

    # The requester keeps following their own request after leaving the hospital's coordinators.
    coordinator.hospital_confirmed = False
    coordinator.save()
    client.force_login(coordinator.user)
    assert client.get(detail).status_code == 200
    client.force_login(colleague.user)
    assert client.get(detail).status_code == 200


def test_coordinators_find_the_pages_from_their_conferences(client: Client, coordinator: Any) -> None:
    client.force_login(coordinator.user)
    page = client.get(reverse("conferences:list")).content.decode()
    assert reverse("conferences:webinar_request") in page and reverse("conferences:webinar_requests") in page
    listing = client.get(reverse("conferences:webinar_requests")).content.decode()
    assert "Request a webinar" in listing and "No webinar request yet." in listing


def test_the_list_keeps_its_query_count(client: Client, coordinator: Any, agent: Any) -> None:
    client.force_login(coordinator.user)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("conferences:webinar_requests")).status_code == 200
        return len(queries)

    def add(n: int) -> None:
        for index in range(n):
            made = factories.requested_webinar(coordinator, topic=f"Topic {index}")
            if index % 2:
                webinar = webinar_requests.create_draft_webinar(
                    request=made, start=made.dates.first().start, by=agent
                )
                webinars.publish_webinar(webinar=webinar, by=agent)

    add(2)
    count()  # the first request of a session also loads the session's user
    few = count()
    add(20)
    assert count() == few


# --- Personal data and retention --------------------------------------------------------------


def test_the_requester_and_a_named_speaker_find_the_request_in_their_export(
    client: Client, coordinator: Any, expert: Any, agent: Any
) -> None:
    made = factories.requested_webinar(coordinator, speakers=[expert])
    webinar_requests.decline_request(request=made, reason="Not this year.", by=agent)

    mine = personal_data.export_for(coordinator.user)
    [row] = mine["conferences.webinarrequest"]
    assert (row["topic"], row["requested_by"], row["decline_reason"]) == (
        made.topic,
        str(coordinator.user),
        "Not this year.",
    )
    events = mine["conferences.webinarrequestevent"]
    assert [event["action"] for event in events] == ["requested", "declined"]
    assert events[0]["actor"] == str(coordinator.user) and events[1]["actor"] is None  # not the agent

    theirs = personal_data.export_for(expert.user)
    [speaker] = theirs["conferences.proposedspeaker"]
    assert (speaker["name"], speaker["clinician"], speaker["request"]) == (
        "Ingrid Halvorsen",
        str(expert),
        made.topic,
    )
    assert "conferences.webinarrequest" not in theirs  # someone else's request

    client.force_login(coordinator.user)
    download = json.loads(client.post("/profile/data/").content)["data"]
    assert download["conferences.webinarrequest"][0]["topic"] == made.topic


def test_erasing_the_requester_or_a_named_speaker(coordinator: Any, expert: Any) -> None:
    outsider = factories.ClinicianFactory.create(
        status="verified", first_name="Olaf", last_name="Outside", user__email="olaf@ern.example.org"
    )
    made = factories.requested_webinar(
        coordinator,
        speakers=[expert],
        outside=[("Olaf Outside", "Oslo University Hospital", "olaf@ern.example.org")],
    )

    personal_data.erase(expert.user)
    personal_data.erase(outsider.user)

    speakers = [(s.name, s.affiliation, s.email, s.clinician_id) for s in made.speakers.all()]
    assert speakers == [("[erased]", "", "", None), ("[erased]", "", "", None)]

    personal_data.erase(coordinator.user)
    made.refresh_from_db()
    assert made.requested_by is None and made.topic  # the hospital's request stays
    ticket = ticket_of(made)
    ticket.refresh_from_db()
    assert ticket.requester_name.startswith("erased-")


def test_proposed_speakers_go_after_the_retention_period(
    coordinator: Any, agent: Any, time_machine: Any
) -> None:
    from cmss import retention

    declined = factories.requested_webinar(coordinator, topic="Declined long ago")
    webinar_requests.decline_request(request=declined, reason="Ask Dr Outside Speaker directly.", by=agent)
    pending = factories.requested_webinar(coordinator, topic="Still pending")
    days = RetentionPolicy.load().closed_ticket_text_days

    time_machine.move_to(timezone.now() + timedelta(days=days - 1))
    retention.apply()
    assert ProposedSpeaker.objects.filter(request=declined).exists()

    time_machine.move_to(timezone.now() + timedelta(days=2))
    results = retention.apply()

    assert results["webinar request speakers"] == 1
    declined.refresh_from_db()
    assert not declined.speakers.exists() and declined.decline_reason == ""
    assert pending.speakers.count() == 1  # a pending request keeps its speakers
    assert PreferredDate.objects.filter(request=declined).exists()


def test_a_deleted_draft_can_be_made_again(coordinator: Any, agent: Any) -> None:
    made = factories.requested_webinar(coordinator)
    webinar = webinar_requests.create_draft_webinar(request=made, start=made.dates.first().start, by=agent)
    Speaker.objects.filter(webinar=webinar).delete()
    webinar.delete()  # a supervisor deleted the draft in the admin
    made.refresh_from_db()
    assert made.state == "accepted" and made.webinar is None and made.can_create_draft
    again = webinar_requests.create_draft_webinar(request=made, start=made.dates.first().start, by=agent)
    made.refresh_from_db()
    assert made.webinar == again
