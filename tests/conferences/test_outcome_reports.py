"""The advice that comes back: the outcome report the agent writes when a
conference is held, sent as a link to the requester, the hospital's
coordinators and the invitees who took part, read and rated by the requester."""

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
from django.utils import timezone

from cmss import personal_data, retention
from cmss.models import OutgoingEmail
from conferences.cases import outcomes
from conferences.cases import services as case_conferences
from conferences.meetings import pipeline
from conferences.models import Conference, ConferenceEvent, Invitation, OutcomeReport
from helpdesk.models import Ticket
from tests import factories
from tests.conftest import sign_in_staff

pytestmark = pytest.mark.django_db

QUESTION = "Should we restart enzyme replacement while the troponin is rising?"
SUMMARY = "Man in his forties, Fabry disease on ERT, admitted day 0 with COVID-19 pneumonia."
ADVICE = "Restart agalsidase at half dose once troponin has peaked; repeat cardiac MRI."
DISSENT = "One cardiologist would wait for the MRI before any ERT."
TESTS = "Cardiac MRI with late gadolinium enhancement at day 10."
WHERE = "Cardiology ICU of the reference centre"
# Everything clinical that the report holds: none of it may leave by email.
CLINICAL = [QUESTION, SUMMARY, ADVICE, DISSENT, TESTS, WHERE, "agalsidase", "troponin", "gadolinium"]


@pytest.fixture(autouse=True)
def local_backend(settings: Any) -> None:
    settings.VIDEO_BACKEND = "conferences.video.local.LocalBackend"


def person(first: str, last: str, *, zone: str, language: str = "en", **kwargs: Any) -> Any:
    clinician = factories.ClinicianFactory.create(
        status="verified", first_name=first, last_name=last, **kwargs
    )
    clinician.user.time_zone = zone
    clinician.user.language = language
    clinician.user.save()
    return clinician


@pytest.fixture
def cast(db: None) -> dict[str, Any]:
    """A scheduled conference that started two hours ago: the requester (Lisbon),
    a colleague coordinating the same hospital (Berlin), an expert who accepted
    (Helsinki, in French), one who declined, one who never answered; a
    coordinator of another hospital and a verified outsider."""
    requester = factories.CoordinatorFactory.create(first_name="Marta", last_name="Sousa")
    requester.user.time_zone = "Europe/Lisbon"
    requester.user.save()
    colleague = factories.CoordinatorFactory.create(
        hospital=requester.hospital, first_name="Karl", last_name="Becker"
    )
    colleague.user.time_zone = "Europe/Berlin"
    colleague.user.language = "de"
    colleague.user.save()
    expert = person("Ingrid", "Halvorsen", zone="Europe/Helsinki", language="fr")
    declined = person("Dario", "Conti", zone="Europe/Rome")
    silent = person("Pia", "Lund", zone="Europe/Stockholm")
    conference = factories.requested_conference(
        requester,
        invitees=[expert, declined, silent],
        title="Fabry and COVID-19",
        question=QUESTION,
        case_summary=SUMMARY,
        time_zone="Europe/Lisbon",
    )
    agent = factories.StaffFactory.create(display_name="Alex Agent")
    start = timezone.now() + timedelta(days=2)
    case_conferences.approve(conference=conference, start=start, by=agent)
    conference.refresh_from_db()
    assert conference.meeting_id is not None
    pipeline.realise_meeting(meeting_id=conference.meeting_id)
    case_conferences.respond(invitation=Invitation.objects.get(clinician=expert), accept=True)
    case_conferences.respond(invitation=Invitation.objects.get(clinician=declined), accept=False)
    Conference.objects.filter(pk=conference.pk).update(start=timezone.now() - timedelta(hours=2))
    conference.refresh_from_db()
    return {
        "conference": conference,
        "requester": requester,
        "colleague": colleague,
        "expert": expert,
        "declined": declined,
        "silent": silent,
        "agent": agent,
        "other_coordinator": factories.CoordinatorFactory.create(first_name="Olga", last_name="Other"),
        "outsider": person("Otto", "Outside", zone="Europe/Vienna"),
    }


def held_form(conference: Conference, **overrides: Any) -> dict[str, Any]:
    """The panel's "Mark held" form as an agent fills it in."""
    data: dict[str, Any] = {
        "question": QUESTION,
        "advice": ADVICE,
        "agreement": "majority",
        "dissent": DISSENT,
        "further_tests": TESTS,
        "transfer_advised": "on",
        "transfer_to": WHERE,
        "rediscuss_on": (timezone.localdate() + timedelta(days=14)).isoformat(),
        "participants": [
            str(item.clinician_id)
            for item in conference.invitations.filter(response=Invitation.Response.ACCEPTED)
        ],
        "requester_took_part": "on",
    }
    data.update(overrides)
    return {f"held-{name}": value for name, value in data.items() if value is not None}


def act(client: Client, conference: Conference, data: dict[str, Any]) -> Any:
    return client.post(reverse("admin:helpdesk_ticket_act", args=[conference.ticket_id, "held"]), data)


def hold(cast: dict[str, Any], **overrides: Any) -> OutcomeReport:
    data: dict[str, Any] = {
        "question": QUESTION,
        "advice": ADVICE,
        "agreement": "majority",
        "dissent": DISSENT,
        "further_tests": TESTS,
        "transfer_advised": True,
        "transfer_to": WHERE,
        "participants": [cast["expert"]],
    }
    data.update(overrides)
    return outcomes.mark_held(
        conference=cast["conference"], report=outcomes.ReportData(**data), by=cast["agent"]
    )


def form_row(html: str, name: str) -> str:
    """The panel's form row of one field (label, input, help and errors)."""
    rows = html.split('<div class="form-row">')
    [row] = [item for item in rows[1:] if f'name="held-{name}"' in item.split("</label>", 1)[-1][:4000]]
    return row


def page_of(client: Client, user: Any, conference: Conference) -> Any:
    client.force_login(user)
    return client.get(reverse("conferences:detail", args=[conference.pk]))


def report_emails() -> list[OutgoingEmail]:
    return list(OutgoingEmail.objects.filter(dedup_key__contains=":report:").order_by("pk"))


# --- The agent writes it --------------------------------------------------------------------


def test_the_agent_marks_the_conference_held_with_its_report_from_the_ticket_panel(
    client: Client, cast: dict[str, Any]
) -> None:
    conference, agent, expert = cast["conference"], cast["agent"], cast["expert"]
    sign_in_staff(client, agent)
    page = client.get(reverse("admin:helpdesk_ticket_change", args=[conference.ticket_id])).content.decode()

    # The form: the question as asked prefilled, the invitees as checkboxes
    # (who accepted ticked), and the fixed statement.
    assert "Mark held and send the outcome report" in page
    assert QUESTION in form_row(page, "question")
    assert "supports, but does not replace, the decision of the clinician treating the patient" in page
    ticked = set(
        re.findall(r'<input type="checkbox" name="held-participants" value="(\d+)"[^>]*checked', page)
    )
    offered = set(re.findall(r'<input type="checkbox" name="held-participants" value="(\d+)"', page))
    assert ticked == {str(expert.pk)}
    assert offered == {str(cast[name].pk) for name in ("expert", "declined", "silent")}

    response = act(client, conference, held_form(conference))

    assert response.status_code == 302
    conference.refresh_from_db()
    assert conference.state == Conference.State.HELD
    report = conference.report
    assert report.advice == ADVICE and report.question == QUESTION
    assert report.agreement == OutcomeReport.Agreement.MAJORITY and report.dissent == DISSENT
    assert report.transfer_advised and report.transfer_to == WHERE
    assert report.rediscuss_on == timezone.localdate() + timedelta(days=14)
    assert list(report.participants.all()) == [expert]
    assert report.written_by == agent and report.sent_at == conference.advice_at == conference.held_at
    assert conference.outcome == ""
    assert Ticket.objects.get(pk=conference.ticket_id).state == Ticket.State.RESOLVED
    # One event, without clinical text.
    held = ConferenceEvent.objects.get(conference=conference, action="held")
    assert (held.actor, held.from_value, held.to_value, held.note) == (agent, "", "", "")
    for event in ConferenceEvent.objects.filter(conference=conference):
        assert not any(text in f"{event.from_value}{event.to_value}{event.note}" for text in CLINICAL)

    panel = client.get(reverse("admin:helpdesk_ticket_change", args=[conference.ticket_id])).content.decode()
    assert "The conference is marked held. Its outcome report is sent as a link by email." in panel
    assert "Outcome report" in panel and ADVICE in panel and DISSENT in panel and WHERE in panel
    assert "Ingrid Halvorsen; the requester" in panel
    assert "Mark held and send the outcome report" not in panel  # no second report
    assert "not yet" in panel  # not read yet


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"advice": ""}, "advice", "Write the panel&#x27;s advice or recommendations."),
        ({"advice": "   \n  "}, "advice", "Write the panel&#x27;s advice or recommendations."),
        ({"dissent": ""}, "dissent", "Without consensus, note the dissent: who disagreed, and with what."),
        (
            {"agreement": "none", "dissent": ""},
            "dissent",
            "Without consensus, note the dissent: who disagreed, and with what.",
        ),
        ({"agreement": ""}, "agreement", "Say whether the panel agreed."),
        ({"transfer_to": ""}, "transfer_to", "Say where the patient should be transferred."),
        ({"rediscuss_on": "yesterday"}, "rediscuss_on", "Choose a re-discussion date from today on."),
        ({"participants": "outsider"}, "participants", "Only the conference&#x27;s invitees can be ticked"),
        ({"participants": "abc"}, "participants", "is not a valid value"),
        ({"participants": "a\x00b"}, "participants", "Only the conference&#x27;s invitees can be ticked"),
        ({"advice": "a\x00b"}, "advice", "invisible control characters"),
    ],
)
def test_a_report_with_bad_input_is_refused_with_the_message_next_to_the_field(
    client: Client, cast: dict[str, Any], overrides: dict[str, Any], field: str, message: str
) -> None:
    conference = cast["conference"]
    if overrides.get("rediscuss_on") == "yesterday":
        overrides["rediscuss_on"] = (timezone.localdate() - timedelta(days=1)).isoformat()
    if overrides.get("participants") == "outsider":
        overrides["participants"] = [str(cast["expert"].pk), str(cast["outsider"].pk)]
    sign_in_staff(client, cast["agent"])

    response = act(client, conference, held_form(conference, **overrides))

    assert response.status_code == 400
    html = response.content.decode()
    assert message in form_row(html, field), form_row(html, field)
    conference.refresh_from_db()
    assert conference.state == Conference.State.SCHEDULED
    assert not OutcomeReport.objects.exists() and report_emails() == []


def test_consensus_needs_no_dissent_and_the_follow_up_is_optional(
    client: Client, cast: dict[str, Any]
) -> None:
    conference = cast["conference"]
    sign_in_staff(client, cast["agent"])
    form = held_form(
        conference,
        agreement="consensus",
        dissent="",
        further_tests="",
        transfer_advised=None,
        transfer_to="",
        rediscuss_on="",
    )
    assert act(client, conference, form).status_code == 302
    report = OutcomeReport.objects.get()
    assert (report.agreement, report.dissent, report.transfer_advised, report.rediscuss_on) == (
        "consensus",
        "",
        False,
        None,
    )


def test_the_service_refuses_what_the_form_refuses(cast: dict[str, Any]) -> None:
    yesterday = timezone.localdate() - timedelta(days=1)
    refused: list[tuple[dict[str, Any], str]] = [
        ({"advice": " "}, "Write the panel's advice"),
        ({"dissent": ""}, "note the dissent"),
        ({"agreement": "maybe"}, "Say whether the panel agreed"),
        ({"transfer_to": ""}, "Say where the patient should be transferred"),
        ({"rediscuss_on": yesterday}, "Choose a re-discussion date from today on"),
        ({"participants": [cast["outsider"]]}, "Only the conference's invitees"),
    ]
    for overrides, message in refused:
        with pytest.raises(case_conferences.ConferenceError, match=message):
            hold(cast, **overrides)
    assert not OutcomeReport.objects.exists()
    hold(cast)
    with pytest.raises(case_conferences.ConferenceError, match="no longer possible"):
        hold(cast)  # held once


def test_a_conference_that_has_not_started_cannot_be_held(cast: dict[str, Any]) -> None:
    Conference.objects.filter(pk=cast["conference"].pk).update(start=timezone.now() + timedelta(hours=1))
    with pytest.raises(case_conferences.ConferenceError, match="has not started yet"):
        hold(cast)


def test_the_time_from_request_to_advice_is_recorded(cast: dict[str, Any], time_machine: Any) -> None:
    conference = cast["conference"]
    requested = conference.created_at
    assert conference.advice_at is None and conference.time_to_advice is None
    later = requested + timedelta(days=5, hours=3, minutes=20)
    time_machine.move_to(later, tick=False)

    report = hold(cast)

    conference.refresh_from_db()
    assert conference.advice_at == later == report.sent_at
    assert conference.time_to_advice == timedelta(days=5, hours=3, minutes=20)


# --- The emails ---------------------------------------------------------------------------


def test_the_report_is_emailed_as_a_link_to_requester_coordinators_and_participants(
    client: Client, cast: dict[str, Any], time_machine: Any
) -> None:
    time_machine.move_to(datetime(2027, 3, 4, 10, 0, tzinfo=UTC), tick=False)
    start = datetime(2027, 3, 4, 8, 0, tzinfo=UTC)
    Conference.objects.filter(pk=cast["conference"].pk).update(start=start)
    # Ticked as having taken part, but suspended since: they could not open the link.
    suspended = cast["silent"]
    suspended.status = "suspended"
    suspended.save()
    hold(cast, participants=[cast["expert"], suspended])

    emails = report_emails()
    recipients = {email.to_address for email in emails}
    assert recipients == {cast[name].user.email for name in ("requester", "colleague", "expert")}
    assert len(emails) == 3  # each once
    # The subject in each person's language: English, German, French.
    subjects = {
        cast["requester"].user.email: "Outcome report: Fabry and COVID-19",
        cast["colleague"].user.email: "Ergebnisbericht: Fabry and COVID-19",
        cast["expert"].user.email: "Compte rendu : Fabry and COVID-19",
    }
    for email in emails:
        body = f"{email.subject}\n{email.text_body}\n{email.html_body}"
        assert not [text for text in CLINICAL if text in body], email.to_address
        assert email.subject.endswith(subjects[email.to_address]), email.subject

    by_address = {email.to_address: email for email in emails}
    # In each person's language and zone: 08:00 UTC is 08:00 in Lisbon, 09:00 in
    # Berlin, 10:00 in Helsinki.
    lisbon = by_address[cast["requester"].user.email].text_body
    assert "Thursday 4 March 2027, 08:00 (Europe/Lisbon)" in lisbon and "The CMSS helpdesk" in lisbon
    berlin = by_address[cast["colleague"].user.email].text_body
    assert "Donnerstag 4 März 2027, 09:00 (Europe/Berlin)" in berlin and "Ihr CMSS-Helpdesk" in berlin
    helsinki = by_address[cast["expert"].user.email].text_body
    assert "jeudi 4 mars 2027, 10:00 (Europe/Helsinki)" in helsinki
    assert "Le service d’assistance du CMSS" in helsinki

    # The link works for each of them and opens the report.
    for name in ("requester", "colleague", "expert"):
        email = by_address[cast[name].user.email]
        link = re.search(r"http://testserver(/conferences/\d+/)#report", email.text_body)
        assert link is not None, email.text_body
        client.force_login(cast[name].user)
        response = client.get(link.group(1))
        assert response.status_code == 200 and ADVICE in response.content.decode(), name


def test_a_report_sent_twice_is_queued_once_per_person(cast: dict[str, Any]) -> None:
    report = hold(cast)
    assert outcomes.send_report(cast["conference"], report) == 3
    assert len(report_emails()) == 3


# --- Who sees it --------------------------------------------------------------------------


def test_the_report_is_shown_to_requester_coordinators_and_participants_only(
    client: Client, cast: dict[str, Any]
) -> None:
    conference = cast["conference"]
    hold(cast)

    # Each in their language (the requester English, the colleague German, the
    # expert French): the heading, the advice-only statement and who took part.
    expected = {
        "requester": (
            "Outcome report",
            "supports, but does not replace, the decision of the clinician treating the patient",
            "Ingrid Halvorsen; the requester",
        ),
        "colleague": (
            "Ergebnisbericht",
            "unterstützt die Entscheidung der behandelnden Ärztin oder des behandelnden Arztes, "
            "ersetzt sie aber nicht",
            "Ingrid Halvorsen; die anfragende Person",
        ),
        "expert": (
            "Compte rendu",
            "éclaire la décision du clinicien qui traite le patient, mais ne s’y substitue pas",
            "Ingrid Halvorsen; le demandeur",
        ),
    }
    for name, (heading, statement, took_part) in expected.items():
        html = page_of(client, cast[name].user, conference).content.decode()
        assert heading in html and ADVICE in html and DISSENT in html, name
        assert statement in html, name
        assert took_part in html, name
    # Invitees who did not take part see the conference, not its report.
    for name in ("declined", "silent"):
        response = page_of(client, cast[name].user, conference)
        html = response.content.decode()
        assert response.status_code == 200 and "Fabry and COVID-19" in html
        assert ADVICE not in html and "Outcome report" not in html, name
    # Another hospital's coordinator and anyone else: 404.
    for name in ("other_coordinator", "outsider"):
        assert page_of(client, cast[name].user, conference).status_code == 404, name
    # Only the requester is asked whether it was useful.
    requester_page = page_of(client, cast["requester"].user, conference).content.decode()
    assert "Was this advice useful?" in requester_page and 'id="useful-heading"' in requester_page
    # The colleague reads German and the expert French: the question's heading is
    # looked for by its id, whatever the language.
    for name in ("colleague", "expert"):
        assert 'id="useful-heading"' not in page_of(client, cast[name].user, conference).content.decode()


def test_the_requester_keeps_the_report_after_leaving_the_coordinator_role(
    client: Client, cast: dict[str, Any]
) -> None:
    hold(cast)
    requester = cast["requester"]
    requester.hospital_confirmed = False  # a change of hospital waiting for the helpdesk
    requester.save()
    assert ADVICE in page_of(client, requester.user, cast["conference"]).content.decode()


# --- Read, and was it useful? ---------------------------------------------------------------


def test_the_requester_marks_the_report_read_and_answers_and_the_helpdesk_sees_it(
    client: Client, cast: dict[str, Any]
) -> None:
    conference, requester = cast["conference"], cast["requester"]
    report = hold(cast)
    client.force_login(requester.user)
    detail = reverse("conferences:detail", args=[conference.pk])
    assert "outcome report to read" in client.get(reverse("conferences:list")).content.decode()

    response = client.post(reverse("conferences:report_read", args=[conference.pk]), follow=True)
    assert response.redirect_chain[-1][0] == detail + "#report"
    assert "The report is marked read." in response.content.decode()
    report.refresh_from_db()
    assert report.read_at is not None
    client.post(reverse("conferences:report_read", args=[conference.pk]))  # again: nothing new
    assert ConferenceEvent.objects.filter(conference=conference, action="report_read").count() == 1
    assert "outcome report to read" not in client.get(reverse("conferences:list")).content.decode()

    response = client.post(
        reverse("conferences:report_answer", args=[conference.pk]),
        {"usefulness": "partly", "comment": "The dose advice helped;\r\nthe MRI timing was unclear."},
        follow=True,
    )
    html = response.content.decode()
    assert "Thank you: the helpdesk sees your answer." in html
    assert "Your answer: partly useful" in html
    report.refresh_from_db()
    assert report.usefulness == "partly" and report.answered_at is not None
    assert report.usefulness_comment == "The dose advice helped;\nthe MRI timing was unclear."
    client.post(reverse("conferences:report_answer", args=[conference.pk]), {"usefulness": "yes"})
    report.refresh_from_db()
    assert (report.usefulness, report.usefulness_comment) == ("yes", "")

    sign_in_staff(client, cast["agent"])
    panel = client.get(reverse("admin:helpdesk_ticket_change", args=[conference.ticket_id])).content.decode()
    answered = panel.split("Was it useful?", 1)[1].split("</dd>", 1)[0]
    assert "<strong>useful</strong>" in answered
    history = panel.split('<ol class="events conference-history">', 1)[1].split("</ol>", 1)[0]
    assert "Marta Sousa · outcome report read" in history
    assert "Marta Sousa · outcome report rated: partly useful" in history
    assert "Marta Sousa · outcome report rated: useful" in history
    assert "MRI" not in history  # the comment stays on the report


def test_answering_without_a_choice_shows_the_message_next_to_the_field(
    client: Client, cast: dict[str, Any]
) -> None:
    conference = cast["conference"]
    hold(cast)
    client.force_login(cast["requester"].user)
    answer = reverse("conferences:report_answer", args=[conference.pk])

    response = client.post(answer, {"usefulness": "", "comment": "Kept text"})
    html = response.content.decode()
    assert response.status_code == 200
    assert (
        'id="id_usefulness_error"' in html and "Say whether the advice was useful: yes, partly or no." in html
    )
    assert 'aria-describedby="id_usefulness_error"' in html
    assert "Kept text" in html and ADVICE in html
    for bad in (
        {"usefulness": "maybe"},
        {"usefulness": "a\x00b"},
        {"usefulness": "yes", "comment": "a\x00b"},
    ):
        assert client.post(answer, bad).status_code == 200
    report = OutcomeReport.objects.get()
    assert report.usefulness == "" and report.read_at is None


def test_only_the_requester_may_mark_read_or_answer(client: Client, cast: dict[str, Any]) -> None:
    conference = cast["conference"]
    hold(cast)
    for name in ("colleague", "expert", "declined", "other_coordinator", "outsider"):
        client.force_login(cast[name].user)
        for route in ("conferences:report_read", "conferences:report_answer"):
            response = client.post(reverse(route, args=[conference.pk]), {"usefulness": "no"})
            assert response.status_code == 404, (name, route)
    client.force_login(cast["requester"].user)
    assert client.get(reverse("conferences:report_answer", args=[conference.pk])).status_code == 405
    report = OutcomeReport.objects.get()
    assert report.read_at is None and report.usefulness == ""
    with pytest.raises(case_conferences.ConferenceError, match="Only the clinician who requested"):
        outcomes.rate_usefulness(report=report, usefulness="yes", comment="", by=cast["colleague"].user)


def test_no_report_yet_means_nothing_to_answer(client: Client, cast: dict[str, Any]) -> None:
    client.force_login(cast["requester"].user)
    response = client.post(reverse("conferences:report_read", args=[cast["conference"].pk]))
    assert response.status_code == 404


# --- Personal data and retention ----------------------------------------------------------


def test_the_report_is_in_the_export_of_the_people_named_in_it_without_its_clinical_text(
    cast: dict[str, Any],
) -> None:
    report = hold(cast, participants=[cast["expert"], cast["silent"]])
    outcomes.rate_usefulness(
        report=report, usefulness="yes", comment="Clear advice.", by=cast["requester"].user
    )

    [mine] = personal_data.export_for(cast["expert"].user)["conferences.outcomereport"]
    assert mine["id"] == report.pk and mine["conference"] == "Fabry and COVID-19"
    assert mine["participants"] == ["Ingrid Halvorsen"]  # not the other participant
    assert report.sent_at is not None
    assert mine["agreement"] == "majority" and mine["sent_at"] == report.sent_at.isoformat()
    assert mine["advice"] == mine["question"] == mine["dissent"] == "[not exported]"
    assert mine["usefulness"] == "" and mine["usefulness_comment"] == ""  # the requester's answer
    assert mine["written_by"] is None  # staff are not named
    dump = str(personal_data.export_for(cast["expert"].user))
    assert not [text for text in CLINICAL if text in dump]

    [theirs] = personal_data.export_for(cast["requester"].user)["conferences.outcomereport"]
    assert theirs["usefulness"] == "yes" and theirs["usefulness_comment"] == "[not exported]"
    assert theirs["participants"] == []
    assert "conferences.outcomereport" not in personal_data.export_for(cast["declined"].user)
    [written] = personal_data.export_for(cast["agent"])["conferences.outcomereport"]
    assert written["written_by"] == str(cast["agent"])


def test_erasing_a_participant_removes_them_from_the_report(cast: dict[str, Any]) -> None:
    report = hold(cast, participants=[cast["expert"], cast["silent"]])
    outcomes.rate_usefulness(
        report=report, usefulness="no", comment="Marta Sousa wanted more.", by=cast["requester"].user
    )
    personal_data.erase(cast["expert"].user)
    assert list(report.participants.all()) == [cast["silent"]]
    personal_data.erase(cast["requester"].user)
    report.refresh_from_db()
    assert report.usefulness == "no" and report.usefulness_comment == "[erased]"
    assert report.advice == ADVICE  # clinical, not the requester's: kept until the purge


def test_the_purge_clears_the_reports_text_with_the_case_summary(
    client: Client, cast: dict[str, Any]
) -> None:
    conference = cast["conference"]
    report = hold(cast, rediscuss_on=timezone.localdate() + timedelta(days=3))
    outcomes.rate_usefulness(
        report=report, usefulness="partly", comment="Helpful.", by=cast["requester"].user
    )
    recent = factories.requested_conference(cast["requester"], invitees=[cast["expert"]])
    Conference.objects.filter(pk=recent.pk).update(state="held", start=timezone.now() - timedelta(days=10))
    OutcomeReport.objects.create(conference=recent, advice="Recent advice.", agreement="consensus")
    Conference.objects.filter(pk=conference.pk).update(start=timezone.now() - timedelta(days=400))

    results = retention.apply()

    assert results["conference case summaries"] == 1
    report.refresh_from_db()
    assert report.text_purged_at is not None
    assert [getattr(report, name) for name in OutcomeReport.CLINICAL_TEXT] == [""] * 6
    # What was decided, who took part and the requester's rating stay, for the figures.
    assert report.agreement == "majority" and report.usefulness == "partly" and report.transfer_advised
    assert list(report.participants.all()) == [cast["expert"]]
    assert OutcomeReport.objects.get(conference=recent).advice == "Recent advice."

    html = page_of(client, cast["requester"].user, conference).content.decode()
    assert "The text of this report (question, advice, dissent and follow-up) was deleted" in html
    assert "majority" in html and "Was this advice useful?" not in html
    assert not [text for text in CLINICAL if text in html]
    with pytest.raises(case_conferences.ConferenceError, match="deleted after the retention period"):
        outcomes.rate_usefulness(report=report, usefulness="yes", comment="", by=cast["requester"].user)


# --- Query counts ---------------------------------------------------------------------------


def test_the_conference_list_keeps_its_query_count_with_reports(client: Client, cast: dict[str, Any]) -> None:
    requester = cast["requester"]
    hold(cast)
    client.force_login(requester.user)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("conferences:list")).status_code == 200
        return len(queries)

    count()
    few = count()
    for n in range(12):
        extra = factories.requested_conference(requester, invitees=[cast["expert"]], title=f"Case {n}")
        Conference.objects.filter(pk=extra.pk).update(state="held", start=timezone.now() - timedelta(days=1))
        OutcomeReport.objects.create(conference=extra, advice="Advice.", agreement="consensus")
    html = client.get(reverse("conferences:list")).content.decode()
    assert html.count("outcome report to read") == 13
    assert count() == few


def test_the_ticket_panel_keeps_its_query_count_with_more_participants(
    client: Client, cast: dict[str, Any]
) -> None:
    conference = cast["conference"]
    report = hold(cast)
    sign_in_staff(client, cast["agent"])
    page = reverse("admin:helpdesk_ticket_change", args=[conference.ticket_id])
    client.get(page)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert ADVICE in client.get(page).content.decode()
        return len(queries)

    few = count()
    for n in range(8):
        clinician = factories.ClinicianFactory.create(
            status="verified", first_name="Expert", last_name=f"N{n}"
        )
        Invitation.objects.create(conference=conference, clinician=clinician, response="accepted")
        report.participants.add(clinician)
    # The new clinicians' hospitals are reference data: the first page after
    # them rebuilds the cached option lists once.
    client.get(page)
    assert count() == few
    assert "Expert N7" in client.get(page).content.decode()


def test_the_requesters_zone_shows_the_sent_time(
    client: Client, cast: dict[str, Any], time_machine: Any
) -> None:
    time_machine.move_to(datetime(2027, 7, 1, 12, 30, tzinfo=UTC), tick=False)
    # The cast's conference started two hours before the clock of the session (which may be moved ahead).
    Conference.objects.filter(pk=cast["conference"].pk).update(start=timezone.now() - timedelta(hours=2))
    hold(cast)
    html = page_of(client, cast["requester"].user, cast["conference"]).content.decode()
    lisbon = timezone.localtime(timezone.now(), ZoneInfo("Europe/Lisbon"))
    assert f"{lisbon:%-d} July 2027, {lisbon:%H:%M}</time> (Europe/Lisbon)" in html
