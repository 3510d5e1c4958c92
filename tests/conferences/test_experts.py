"""Experts suggested for a conference, with their reasons: the ranking, who is
never suggested, working hours in each person's zone, and where the
suggestions show (the coordinator's request form with and without
JavaScript's endpoint, the agent's ticket panel)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from clinicians import services as clinician_services
from clinicians.models import ERN, Clinician, Language, Specialty
from cmss.models import User
from conferences import experts
from conferences.cases import services as case_conferences
from conferences.models import Conference, ConferenceEvent, Invitation
from tests import factories
from tests.clinicians.test_profile import profile_post
from tests.clinicians.test_registration import registration_data
from tests.conftest import sign_in_staff
from tests.forms import form_as_posted

pytestmark = pytest.mark.django_db

# The clock is frozen on a Tuesday; the proposed time is the next Tuesday,
# 09:00 in Brussels (08:00 UTC: 09:00 in Paris, 03:00 in New York).
NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
SLOT = datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("Europe/Brussels"))


@pytest.fixture(autouse=True)
def frozen(time_machine: Any) -> None:
    time_machine.move_to(NOW, tick=False)


@pytest.fixture(autouse=True)
def local_backend(settings: Any) -> None:
    settings.VIDEO_BACKEND = "conferences.video.local.LocalBackend"


def ern(code: str) -> ERN:
    return ERN.objects.get(code=code)


def specialty(name: str) -> Specialty:
    return Specialty.objects.get(name=name)


def speaking(*codes: str) -> list[Language]:
    return list(Language.objects.filter(code__in=codes))


def clinician(
    first: str,
    last: str,
    *,
    erns: tuple[str, ...] = (),
    field: str = "Cardiology",
    languages: tuple[str, ...] = ("en",),
    zone: str = "Europe/Paris",
    **fields: Any,
) -> Clinician:
    person = factories.ClinicianFactory.create(
        status=fields.pop("status", "verified"),
        first_name=first,
        last_name=last,
        specialty=specialty(field),
        languages=speaking(*languages),
        **fields,
    )
    person.erns.set([ern(code) for code in erns])
    person.user.time_zone = zone
    person.user.save()
    return person


@pytest.fixture
def requester(db: None) -> Clinician:
    coordinator = factories.CoordinatorFactory.create(first_name="Marta", last_name="Sousa")
    coordinator.languages.set(speaking("en", "pt"))
    coordinator.user.time_zone = "Europe/Lisbon"
    coordinator.user.save()
    return coordinator


def conference_with(invitee: Clinician, *, state: str, response: str, start: datetime) -> Conference:
    """A past or coming conference with `invitee` invited (rows only: the
    history a person brings, not a workflow under test)."""
    conference = Conference.objects.create(
        hospital=factories.HospitalFactory.create(is_reference_centre=True),
        title="Earlier case",
        question="?",
        case_summary="Anonymised.",
        time_zone="Europe/Brussels",
        state=state,
        start=start,
    )
    Invitation.objects.create(conference=conference, clinician=invitee, response=response)
    return conference


def suggest(requester: Clinician, **overrides: Any) -> list[experts.Suggestion]:
    arguments: dict[str, Any] = {
        "erns": [ern("ern-lung"), ern("ern-ithaca")],
        "specialties": [specialty("Respiratory medicine")],
        "language": Language.objects.get(code="fr"),
        "slots": [SLOT],
        "exclude_clinicians": [],
        "requester": requester,
    }
    arguments.update(overrides)
    return experts.suggest_experts(**arguments)


def names(suggestions: list[experts.Suggestion]) -> list[str]:
    return [item.clinician.full_name for item in suggestions]


# --- The ranking and its reasons ---------------------------------------------------------------


@pytest.fixture
def network(requester: Clinician) -> dict[str, Clinician]:
    people = {
        # Both wanted ERNs, the specialty, French, at work at 09:00 Paris time: 140 points.
        "both": clinician(
            "Amélie",
            "Roux",
            erns=("ern-lung", "ern-ithaca"),
            field="Respiratory medicine",
            languages=("fr", "en"),
        ),
        # One ERN, French, at work, three conferences held: 40 + 20 + 10 + (3 + 3) * 2 = 82.
        "seasoned": clinician("Bruno", "Lefort", erns=("ern-lung",), languages=("fr",)),
        # One ERN, French, at work, one invitation accepted, two conferences in
        # the coming days: 40 + 20 + 10 + 2 - 10 = 62.
        "busy": clinician("Chloé", "Martin", erns=("ern-lung",), languages=("fr",)),
        # One ERN, no French, at work: 50, like the next one; ordered by name.
        "zed": clinician(
            "Zoltan", "Zed", erns=("ern-ithaca",), languages=("hu", "en"), zone="Europe/Budapest"
        ),
        "abel": clinician("Dora", "Abel", erns=("ern-lung",), languages=("de",), zone="Europe/Berlin"),
        # The specialty alone, in New York (03:00 there): 30.
        "far": clinician("Ezra", "Cole", field="Respiratory medicine", zone="America/New_York"),
        # Neither the ERNs nor the specialty: not a candidate, however French.
        "outsider": clinician("Fanny", "Blanc", languages=("fr",)),
    }
    for days in (30, 60, 90):
        conference_with(
            people["seasoned"], state="held", response="accepted", start=NOW - timedelta(days=days)
        )
    for days in (2, 9):
        conference_with(
            people["busy"], state="scheduled", response="pending", start=NOW + timedelta(days=days)
        )
    # Declined, or beyond the next 14 days: no load.
    conference_with(people["busy"], state="scheduled", response="declined", start=NOW + timedelta(days=3))
    conference_with(people["busy"], state="scheduled", response="accepted", start=NOW + timedelta(days=20))
    return people


def test_experts_are_ranked_by_ern_specialty_language_hours_past_and_load(
    requester: Clinician, network: dict[str, Clinician]
) -> None:
    suggestions = suggest(requester)

    assert names(suggestions) == [
        "Amélie Roux",
        "Bruno Lefort",
        "Chloé Martin",
        "Dora Abel",  # 50 points each: Abel before Zed
        "Zoltan Zed",
        "Ezra Cole",
    ]
    assert [item.score for item in suggestions] == [140, 82, 62, 50, 50, 30]


def test_each_suggestion_says_why_in_words(requester: Clinician, network: dict[str, Clinician]) -> None:
    with translation.override("en"):
        why = {item.clinician.full_name: item.why for item in suggest(requester)}

    assert why["Amélie Roux"] == (
        "ERN ITHACA member · ERN LUNG member · Respiratory medicine · speaks French · 9 a.m. their time"
    )
    assert why["Bruno Lefort"] == "ERN LUNG member · speaks French · 9 a.m. their time · 3 conferences held"
    assert why["Chloé Martin"] == (
        "ERN LUNG member · speaks French · 9 a.m. their time · 1 invitation accepted"
        " · 2 conferences in the next 14 days"
    )
    # In their own zone: Budapest is Paris's hour, New York six hours behind (not working).
    assert why["Zoltan Zed"] == "ERN ITHACA member · 9 a.m. their time"
    assert why["Ezra Cole"] == "Respiratory medicine"


def test_the_time_is_written_the_viewers_way_in_the_persons_zone(
    requester: Clinician, network: dict[str, Clinician]
) -> None:
    late = SLOT + timedelta(hours=5, minutes=30)  # 14:30 in Paris
    with translation.override("fr"):
        [first, *_rest] = suggest(requester, slots=[late])
    assert first.clinician.full_name == "Amélie Roux"
    assert "14:30" in first.why
    with translation.override("en"):
        [first, *_rest] = suggest(requester, slots=[late])
    assert "2:30 p.m." in first.why


def test_without_a_conference_language_one_of_the_requesters_counts(requester: Clinician) -> None:
    clinician("Paulo", "Reis", erns=("ern-lung",), languages=("pt",), zone="Europe/Lisbon")
    clinician("Hans", "Beck", erns=("ern-lung",), languages=("de",), zone="Europe/Berlin")

    with translation.override("en"):
        suggestions = suggest(requester, language=None)

    assert names(suggestions) == ["Paulo Reis", "Hans Beck"]
    assert "speaks Portuguese" in suggestions[0].why
    assert "speaks" not in suggestions[1].why


def test_nothing_is_suggested_without_a_wanted_ern_or_specialty(
    requester: Clinician, network: dict[str, Clinician]
) -> None:
    french = Language.objects.get(code="fr")
    with CaptureQueriesContext(connection) as queries:
        found = experts.suggest_experts(
            erns=[], specialties=[], language=french, slots=[SLOT], exclude_clinicians=[], requester=requester
        )
    assert found == []
    assert len(queries) == 0


def test_the_same_question_gets_the_same_answer(requester: Clinician) -> None:
    for n in range(12):
        clinician("Ana", f"Novak{n % 3}", erns=("ern-lung",))
    first = names(suggest(requester))
    assert len(first) == 10
    assert first == names(suggest(requester))
    assert [item.clinician.last_name for item in suggest(requester)] == sorted(
        item.clinician.last_name for item in suggest(requester)
    )


def test_the_limit_caps_the_list(requester: Clinician, network: dict[str, Clinician]) -> None:
    assert names(suggest(requester, limit=2)) == ["Amélie Roux", "Bruno Lefort"]


# --- Who is never suggested --------------------------------------------------------------------


def test_the_requester_the_unlisted_the_restricted_the_unverified_and_the_invited_are_never_suggested(
    requester: Clinician,
) -> None:
    requester.erns.set([ern("ern-lung")])
    kept = clinician("Kept", "Listed", erns=("ern-lung",))
    clinician("Hidden", "Unlisted", erns=("ern-lung",), listed_in_directory=False)
    clinician("Hidden", "Restricted", erns=("ern-lung",), restricted=True)
    clinician("Hidden", "Registered", erns=("ern-lung",), status="registered")
    clinician("Hidden", "Suspended", erns=("ern-lung",), status="suspended")
    invited = clinician("Already", "Invited", erns=("ern-lung",))

    suggestions = suggest(requester, exclude_clinicians=[invited])

    assert names(suggestions) == [kept.full_name]


# --- Working hours in each person's zone -------------------------------------------------------


def test_working_hours_follow_each_zone_across_a_daylight_saving_change(
    requester: Clinician, time_machine: Any
) -> None:
    # Europe moves its clocks on Sunday 29 March 2026; a Friday and a Monday
    # 07:30 UTC either side of it.
    time_machine.move_to(datetime(2026, 3, 20, 12, 0, tzinfo=UTC), tick=False)
    friday = datetime(2026, 3, 27, 7, 30, tzinfo=UTC)  # Lisbon 07:30 (before work), Helsinki 09:30
    monday = datetime(2026, 3, 30, 7, 30, tzinfo=UTC)  # Lisbon 08:30 (summer time), Helsinki 10:30
    saturday = datetime(2026, 3, 28, 9, 0, tzinfo=UTC)
    clinician("Lia", "Lisboa", erns=("ern-lung",), languages=("de",), zone="Europe/Lisbon")
    clinician("Hilla", "Helsinki", erns=("ern-lung",), languages=("de",), zone="Europe/Helsinki")

    assert "Europe/Lisbon" not in experts.zones_working_at([friday])
    assert "Europe/Lisbon" in experts.zones_working_at([monday])
    assert "Europe/Helsinki" in experts.zones_working_at([friday])
    assert "Europe/Helsinki" not in experts.zones_working_at([saturday])

    with translation.override("en"):
        on_friday = suggest(requester, language=None, slots=[friday])
        either = {
            item.clinician.last_name: item.why
            for item in suggest(requester, language=None, slots=[monday, friday])
        }
        weekend = suggest(requester, language=None, slots=[saturday])

    assert names(on_friday) == ["Hilla Helsinki", "Lia Lisboa"]
    assert on_friday[0].why == "ERN LUNG member · 9:30 a.m. their time"
    assert on_friday[1].why == "ERN LUNG member"
    # The first proposed time within their working hours, in their zone.
    assert either == {
        "Helsinki": "ERN LUNG member · 9:30 a.m. their time",
        "Lisboa": "ERN LUNG member · 8:30 a.m. their time",
    }
    assert [item.why for item in weekend] == ["ERN LUNG member", "ERN LUNG member"]


# --- A constant number of queries --------------------------------------------------------------


def test_suggestions_take_the_same_queries_for_3_or_30_clinicians(requester: Clinician) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            found = suggest(requester)
        assert found
        return len(queries)

    for n in range(3):
        clinician("Ana", f"Few{n}", erns=("ern-lung",), languages=("fr",))
    few = count()
    for n in range(27):
        person = clinician("Ana", f"Many{n}", erns=("ern-lung", "ern-ithaca"), field="Respiratory medicine")
        conference_with(person, state="held", response="accepted", start=NOW - timedelta(days=n + 1))
    assert count() == few


# --- The coordinator's request form ------------------------------------------------------------


def request_form(**overrides: Any) -> dict[str, Any]:
    local = SLOT.astimezone(ZoneInfo("Europe/Lisbon"))
    data: dict[str, Any] = {
        "title": "Post-COVID fibrosis in a child with a rare lung disease",
        "question": "Antifibrotics now?\nOr wait for the next CT?",
        "case_summary": "Girl of 9, surfactant protein C deficiency.\n\nDay 0: COVID-19 pneumonia.",
        "anonymised": "on",
        "urgency": "urgent",
        "slot_1": local.strftime("%Y-%m-%dT%H:%M"),
        "duration_minutes": "90",
        "erns": [str(ern("ern-lung").pk)],
        "specialties": [str(specialty("Respiratory medicine").pk)],
        "language": "fr",
        "countries": ["FR"],
    }
    data.update(overrides)
    return data


def test_without_javascript_suggest_then_invite_keeps_everything_typed(
    client: Client, requester: Clinician, network: dict[str, Clinician]
) -> None:
    client.force_login(requester.user)
    page = client.get(reverse("conferences:request"))
    assert "Choose the wanted ERNs or specialties to see experts." in page.content.decode()

    suggested = client.post(reverse("conferences:request"), request_form(suggest_experts="1"))

    html = suggested.content.decode()
    assert suggested.status_code == 200
    both = network["both"]
    assert f'name="invite_expert" value="{both.pk}"' in html
    assert "ERN LUNG member · Respiratory medicine · speaks French · 9 a.m. their time" in html
    assert 'class="errors"' not in html
    assert not Conference.objects.filter(hospital=requester.hospital).exists()

    invited = client.post(
        reverse("conferences:request"), request_form(invitees=[], invite_expert=str(both.pk))
    )

    html = invited.content.decode()
    assert invited.status_code == 200
    assert f'name="invitees" value="{both.pk}" checked' in html
    assert f'name="invite_expert" value="{both.pk}"' not in html  # no longer suggested
    assert f'name="invite_expert" value="{network["seasoned"].pk}"' in html
    # Everything typed is there again, line breaks included.
    assert 'value="Post-COVID fibrosis in a child with a rare lung disease"' in html
    assert "Antifibrotics now?\nOr wait for the next CT?</textarea>" in html
    assert re.search(r'value="urgent"[^>]*checked', html)
    assert 'value="90"' in html
    assert 'value="FR" selected' in html
    assert 'class="errors"' not in html

    sent = client.post(reverse("conferences:request"), request_form(invitees=[str(both.pk)]))

    assert sent.status_code == 302
    conference = Conference.objects.get(hospital=requester.hospital)
    assert [item.clinician for item in conference.invitations.all()] == [both]


def test_a_second_invite_keeps_the_first(
    client: Client, requester: Clinician, network: dict[str, Clinician]
) -> None:
    client.force_login(requester.user)
    both, seasoned = network["both"], network["seasoned"]

    html = client.post(
        reverse("conferences:request"),
        request_form(invitees=[str(both.pk)], invite_expert=str(seasoned.pk)),
    ).content.decode()

    assert f'name="invitees" value="{both.pk}" checked' in html
    assert f'name="invitees" value="{seasoned.pk}" checked' in html


def test_hostile_values_in_the_suggestion_buttons_are_ignored(
    client: Client, requester: Clinician, network: dict[str, Clinician]
) -> None:
    client.force_login(requester.user)
    for value in ("a\x00b", "9" * 25, "-1", ""):
        response = client.post(
            reverse("conferences:request"),
            request_form(invite_expert=value, erns=[value], slot_1=value, invitees=[value]),
        )
        assert response.status_code == 200, value
    assert not Conference.objects.filter(hospital=requester.hospital).exists()


# --- The endpoint the form's script asks -------------------------------------------------------


def test_the_endpoint_answers_coordinators_with_the_suggestions_and_their_reasons(
    client: Client, requester: Clinician, network: dict[str, Clinician]
) -> None:
    client.force_login(requester.user)
    query = request_form(invitees=[str(network["seasoned"].pk)])

    answer = client.get(reverse("conferences:expert_suggestions"), query)

    assert answer.status_code == 200
    results = answer.json()["results"]
    # ERN LUNG and respiratory medicine wanted; Bruno Lefort is chosen already.
    assert [item["id"] for item in results] == [network[key].pk for key in ("both", "busy", "abel", "far")]
    assert results[0]["label"].startswith("Amélie Roux — Respiratory medicine, ")
    assert results[0]["reasons"][:2] == ["ERN LUNG member", "Respiratory medicine"]
    assert results[0]["why"] == "ERN LUNG member · Respiratory medicine · speaks French · 9 a.m. their time"


def test_the_endpoint_says_what_to_choose_first(client: Client, requester: Clinician) -> None:
    client.force_login(requester.user)
    answer = client.get(reverse("conferences:expert_suggestions"), {"language": "fr"}).json()
    assert answer == {"results": [], "message": "Choose the wanted ERNs or specialties to see experts."}


def test_the_endpoint_is_for_coordinators_only(client: Client, verified: Clinician) -> None:
    url = reverse("conferences:expert_suggestions")
    anonymous = client.get(url, {"erns": "1"})
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("account_login"))
    client.force_login(verified.user)
    assert client.get(url, {"erns": "1"}).status_code == 404


def test_the_endpoint_has_a_rate_limit(
    client: Client, requester: Clinician, network: dict[str, Clinician], monkeypatch: Any
) -> None:
    from cmss import ratelimit

    client.force_login(requester.user)
    monkeypatch.setattr(ratelimit, "allow", lambda **kwargs: False)
    answer = client.get(reverse("conferences:expert_suggestions"), request_form())
    assert answer.status_code == 429
    assert answer.json()["results"] == []
    assert "wait a minute" in answer.json()["message"]


def test_the_endpoint_keeps_its_query_count_as_the_network_grows(
    client: Client, requester: Clinician, network: dict[str, Clinician]
) -> None:
    client.force_login(requester.user)
    url, query = reverse("conferences:expert_suggestions"), request_form()
    client.get(url, query)
    with CaptureQueriesContext(connection) as small:
        assert len(client.get(url, query).json()["results"]) == 5
    for n in range(20):
        clinician("Ana", f"More{n}", erns=("ern-lung",), languages=("fr",))
    with CaptureQueriesContext(connection) as large:
        assert len(client.get(url, query).json()["results"]) == 10
    assert len(large) == len(small)


# --- The agent's ticket panel ------------------------------------------------------------------


@pytest.fixture
def requested(requester: Clinician, network: dict[str, Clinician]) -> Conference:
    conference = case_conferences.request_conference(
        coordinator=requester,
        data=case_conferences.RequestData(
            title="Rare lung disease and COVID-19",
            question="What now?",
            case_summary="Anonymised summary.",
            urgency="routine",
            slots=[SLOT],
            duration_minutes=60,
            time_zone="Europe/Lisbon",
            invitees=[network["seasoned"]],
            erns=[ern("ern-lung"), ern("ern-ithaca")],
            specialties=[specialty("Respiratory medicine")],
            language=Language.objects.get(code="fr"),
        ),
    )
    return conference


def panel_html(client: Client, conference: Conference) -> str:
    page = client.get(reverse("admin:helpdesk_ticket_change", args=[conference.ticket_id]))
    assert page.status_code == 200
    return page.content.decode().split('id="suggested-experts"', 1)[1].split("</ul>", 1)[0]


def test_the_agent_sees_the_suggestions_and_invites_one_in_one_click(
    client: Client, agent: Any, requested: Conference, network: dict[str, Clinician]
) -> None:
    sign_in_staff(client, agent)
    both = network["both"]

    panel = panel_html(client, requested)

    assert "Amélie Roux — Respiratory medicine" in panel
    assert (
        "ERN ITHACA member · ERN LUNG member · Respiratory medicine · speaks French · 9 a.m. their time"
        in panel
    )
    assert "Bruno Lefort" not in panel  # invited already
    assert f'name="invite_suggested-clinician" value="{both.pk}"' in panel

    act = reverse("admin:helpdesk_ticket_act", args=[requested.ticket_id, "invite_suggested"])
    response = client.post(act, {"invite_suggested-clinician": str(both.pk)})

    assert response.status_code == 302
    assert Invitation.objects.filter(conference=requested, clinician=both).exists()
    assert ConferenceEvent.objects.filter(
        conference=requested, action="invitee_added", to_value="Amélie Roux", actor=agent
    ).exists()
    page = client.get(response["Location"]).content.decode()
    assert "Amélie Roux is invited." in page
    assert "Amélie Roux — Respiratory medicine" not in panel_html(client, requested)


def test_the_panel_refuses_someone_who_can_no_longer_be_invited(
    client: Client, agent: Any, requested: Conference, network: dict[str, Clinician]
) -> None:
    sign_in_staff(client, agent)
    act = reverse("admin:helpdesk_ticket_act", args=[requested.ticket_id, "invite_suggested"])
    network["outsider"].listed_in_directory = False
    network["outsider"].save()

    gone = client.post(act, {"invite_suggested-clinician": str(network["outsider"].pk)})
    twice = client.post(act, {"invite_suggested-clinician": str(network["seasoned"].pk)})

    assert gone.status_code == 400
    assert "This clinician can no longer be invited: suggest again." in gone.content.decode()
    assert twice.status_code == 400
    assert "Bruno Lefort is already invited." in twice.content.decode()
    assert list(requested.invitations.values_list("clinician__last_name", flat=True)) == ["Lefort"]


def test_a_declined_conference_has_no_suggestions_and_no_invite_action(
    client: Client, agent: Any, requested: Conference, network: dict[str, Clinician]
) -> None:
    Conference.objects.filter(pk=requested.pk).update(state=Conference.State.DECLINED)
    sign_in_staff(client, agent)
    page = client.get(reverse("admin:helpdesk_ticket_change", args=[requested.ticket_id])).content.decode()
    assert 'id="suggested-experts"' not in page
    act = reverse("admin:helpdesk_ticket_act", args=[requested.ticket_id, "invite_suggested"])
    assert client.post(act, {"invite_suggested-clinician": str(network["both"].pk)}).status_code == 404


def test_the_ticket_page_keeps_its_query_count_as_suggestions_grow(
    client: Client, agent: Any, requested: Conference
) -> None:
    sign_in_staff(client, agent)
    page = reverse("admin:helpdesk_ticket_change", args=[requested.ticket_id])
    client.get(page)
    with CaptureQueriesContext(connection) as small:
        client.get(page)
    for n in range(20):
        clinician("Ana", f"Extra{n}", erns=("ern-lung",), languages=("fr",))
    client.get(page)  # the new people's hospitals are reference data: the cached lists are rebuilt once
    with CaptureQueriesContext(connection) as large:
        assert panel_html(client, requested).count("invite_suggested-clinician") == 10
    assert len(large) == len(small)


# --- For the webinar speaker picker ------------------------------------------------------------


def test_speakers_are_suggested_by_the_webinars_erns_language_and_dates(
    requester: Clinician, network: dict[str, Clinician]
) -> None:
    with translation.override("en"):
        speakers = experts.suggest_speakers(
            erns=[ern("ern-lung")],
            language=Language.objects.get(code="fr"),
            dates=[SLOT],
            requester=requester,
            exclude_clinicians=[network["busy"]],
        )
    assert names(speakers) == ["Bruno Lefort", "Amélie Roux", "Dora Abel"]
    assert speakers[1].why == "ERN LUNG member · speaks French · 9 a.m. their time"
    assert speakers[0].label.startswith("Bruno Lefort — Cardiology, ")


def test_timezone_of_the_viewer_does_not_change_the_persons_time(requester: Clinician) -> None:
    clinician("Hilla", "Helsinki", erns=("ern-lung",), zone="Europe/Helsinki")
    with timezone.override(ZoneInfo("America/New_York")), translation.override("en"):
        [only] = suggest(requester, language=None)
    assert only.why == "ERN LUNG member · speaks English · 10 a.m. their time"


def test_hostile_values_in_the_endpoints_query_are_ignored(
    client: Client, requester: Clinician, network: dict[str, Clinician]
) -> None:
    client.force_login(requester.user)
    url = reverse("conferences:expert_suggestions")
    for value in ('"><script>alert(1)</script>', "9" * 25, "-1' OR '1'='1", "ＡＢＣ" * 700):
        query = request_form(erns=[value, str(ern("ern-lung").pk)], language=value, slot_2=value)
        answer = client.get(url, {**query, "invitees": [value, "9" * 25], "specialties": value})
        assert answer.status_code == 200, value
        assert "<script>" not in answer.content.decode()


def reference_ranking(
    requester: Clinician, erns: list[ERN], fields: list[Specialty], codes: set[str], slots: list[datetime]
) -> list[tuple[int, int]]:
    """The ranking worked out in Python, clinician by clinician, from the weights."""
    wanted_erns, wanted_fields = {item.pk for item in erns}, {item.pk for item in fields}
    ranked = []
    for person in Clinician.objects.listed().exclude(pk=requester.pk).select_related("user"):
        member = {item.pk for item in person.erns.all()} & wanted_erns
        if not member and person.specialty_id not in wanted_fields:
            continue
        invitations = list(Invitation.objects.filter(clinician=person).select_related("conference"))
        accepted = [item for item in invitations if item.response == "accepted"]
        held = [item for item in accepted if item.conference.state == "held"]
        load = [
            item
            for item in invitations
            if item.response != "declined"
            and item.conference.state == "scheduled"
            and item.conference.start is not None
            and NOW <= item.conference.start < NOW + timedelta(days=14)
        ]
        score = (
            40 * len(member)
            + 30 * (person.specialty_id in wanted_fields)
            + 20 * bool(codes & set(person.languages.values_list("code", flat=True)))
            + 10 * any(experts.in_working_hours(slot, person.user.time_zone) for slot in slots)
            + 2 * min(len(accepted), 5)
            + 2 * min(len(held), 5)
            - 5 * min(len(load), 4)
        )
        ranked.append((-score, person.last_name, person.first_name, person.pk))
    return [(pk, -score) for score, _last, _first, pk in sorted(ranked)[:10]]


@pytest.mark.parametrize(
    ("language", "slot"),
    [("fr", SLOT), ("hu", SLOT), (None, SLOT), ("fr", SLOT + timedelta(days=4))],  # the last on a Saturday
)
def test_the_ranking_is_the_weights_worked_out_person_by_person(
    requester: Clinician, language: str | None, slot: datetime
) -> None:
    # What the SQL reads (bits and a time zone copied onto each row) gives the
    # ranking of the profiles themselves, ties and all.
    zones = ["Europe/Paris", "America/New_York", "Europe/Helsinki", "Asia/Tokyo"]
    tongues = [("fr",), ("en",), ("hu", "fr"), ("de",), ("pt",)]
    for n in range(48):
        person = clinician(
            "Ana" if n % 5 else "Zoé",
            f"Name{n % 9}",  # many the same: ties broken by first name, then id
            erns=(("ern-lung",) if n % 2 else ()) + (("ern-ithaca",) if n % 3 == 0 else ()),
            field="Respiratory medicine" if n % 4 == 0 else "Cardiology",
            languages=tongues[n % 5],
            zone=zones[n % 4],
        )
        for m in range(n % 7):
            conference_with(
                person,
                state="held" if m % 2 else "scheduled",
                response="declined" if m == 5 else "accepted" if m % 3 else "pending",
                start=NOW + timedelta(days=(-30 if m % 2 else 3 + m)),
            )
    erns, fields = [ern("ern-lung"), ern("ern-ithaca")], [specialty("Respiratory medicine")]
    codes = {language} if language else {"en", "pt"}  # the requester's

    found = suggest(
        requester,
        erns=erns,
        specialties=fields,
        language=Language.objects.get(code=language) if language else None,
        slots=[slot],
    )

    assert [(item.clinician.pk, item.score) for item in found] == reference_ranking(
        requester, erns, fields, codes, [slot]
    )


# --- What the ranking reads follows every change -----------------------------------------------
#
# ERN memberships, languages and the time zone are copied onto the clinician's
# row for the ranking; each way of changing them changes the suggestions.


def suggested(requester: Clinician, *codes: str, **overrides: Any) -> dict[str, tuple[int, str]]:
    """Name: (score, why) of the suggestions for these ERNs (ERN LUNG by default), French, SLOT."""
    wanted = [ern(code) for code in codes or ("ern-lung",)]
    with translation.override("en"):
        found = suggest(requester, erns=wanted, specialties=[], **overrides)
    return {item.clinician.full_name: (item.score, item.why) for item in found}


def test_an_ern_and_a_language_added_in_the_profile_count_at_once(
    client: Client, requester: Clinician
) -> None:
    person = clinician("Inés", "Prado", languages=("es",))
    client.force_login(person.user)
    assert suggested(requester) == {}

    added = client.post("/profile/", profile_post(person, erns=[ern("ern-lung").pk], languages=["es", "fr"]))

    assert added.status_code == 302
    assert suggested(requester) == {"Inés Prado": (70, "ERN LUNG member · speaks French · 9 a.m. their time")}
    removed = client.post("/profile/", profile_post(Clinician.objects.get(pk=person.pk), erns=[]))
    assert removed.status_code == 302
    assert suggested(requester) == {}


def test_a_time_zone_chosen_in_the_profile_moves_the_working_hours(
    client: Client, requester: Clinician
) -> None:
    person = clinician("Inés", "Prado", erns=("ern-lung",), languages=("es",), zone="Europe/Madrid")
    client.force_login(person.user)
    assert suggested(requester) == {"Inés Prado": (50, "ERN LUNG member · 9 a.m. their time")}

    client.post("/profile/", profile_post(person, time_zone="America/New_York"))

    assert suggested(requester) == {"Inés Prado": (40, "ERN LUNG member")}  # 3 a.m. there


def test_the_helpdesks_correction_in_the_admin_counts(agent_client: Client, requester: Clinician) -> None:
    person = clinician("Inés", "Prado", erns=("ern-lung",), languages=("es",))
    url = f"/admin/clinicians/clinician/{person.pk}/change/"
    data = {
        **form_as_posted(agent_client, url, "clinician_form"),
        "erns": [str(ern("ern-ithaca").pk)],
        "languages": ["fr"],
    }

    assert agent_client.post(url, data).status_code == 302

    assert suggested(requester) == {}
    assert suggested(requester, "ern-ithaca") == {
        "Inés Prado": (70, "ERN ITHACA member · speaks French · 9 a.m. their time")
    }


def test_a_registration_counts_once_the_person_is_verified(client: Client, requester: Clinician) -> None:
    data = registration_data(erns=[str(ern("ern-lung").pk)], languages=["fr"], time_zone="America/New_York")
    assert client.post("/register/", data).status_code == 302
    person = Clinician.objects.get(user__email=data["email"])
    clinician_services.change_status(clinician=person, to="verified", by=factories.StaffFactory.create())

    assert suggested(requester) == {"Ana Novak": (60, "ERN LUNG member · speaks French")}


def test_members_added_and_removed_on_the_erns_side_count(requester: Clinician) -> None:
    ines, jan = clinician("Inés", "Prado"), clinician("Jan", "Vos")
    lung = ern("ern-lung")

    lung.members.add(ines, jan)
    assert set(suggested(requester)) == {"Inés Prado", "Jan Vos"}
    lung.members.remove(ines)
    assert set(suggested(requester)) == {"Jan Vos"}
    lung.members.clear()
    assert suggested(requester) == {}
    # The clinician as loaded before keeps the ERN it has of its own, saved again.
    jan.erns.add(ern("ern-ithaca"))
    jan.save()
    assert set(suggested(requester, "ern-ithaca")) == {"Jan Vos"}


def test_a_new_ern_takes_a_free_bit_and_a_deleted_one_takes_its_members_along(requester: Clinician) -> None:
    old = ERN.objects.create(code="ern-test", name="ERN TEST", full_name="A test network")
    assert old.bit not in set(ERN.objects.exclude(pk=old.pk).values_list("bit", flat=True))
    clinician("Inés", "Prado", erns=("ern-test", "ern-lung"))
    assert suggested(requester, "ern-test") == {"Inés Prado": (50, "ERN TEST member · 9 a.m. their time")}

    old.delete()
    new = ERN.objects.create(code="ern-new", name="ERN NEW", full_name="A network that came later")

    assert new.bit == old.bit  # the bit is free again, and nobody has it
    assert suggested(requester, "ern-new") == {}
    assert suggested(requester) == {"Inés Prado": (50, "ERN LUNG member · 9 a.m. their time")}


def test_rows_written_around_the_services_are_copied_again_by_refresh_expertise(
    requester: Clinician,
) -> None:
    # As bench/seed.py writes them: memberships and time zones in bulk, no signal.
    person = clinician("Inés", "Prado", languages=("es",))
    Clinician.erns.through.objects.bulk_create(
        [Clinician.erns.through(clinician=person, ern=ern("ern-lung"))]
    )
    User.objects.filter(pk=person.user_id).update(time_zone="America/New_York")
    assert suggested(requester) == {}

    assert clinician_services.refresh_expertise(Clinician.objects.filter(pk=person.pk)) == 1

    assert suggested(requester) == {"Inés Prado": (40, "ERN LUNG member")}
