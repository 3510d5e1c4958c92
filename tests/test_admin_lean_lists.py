"""The changelists rendered in Python (cmss/admin_lists.py) are Django's pages, the same HTML,
and the clinicians list pages through an estimated count without a filter."""

from __future__ import annotations

import datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clinicians.models import Clinician
from cmss import admin_lists
from cmss.pagination import EstimatedCountPaginator
from tests.conftest import sign_in_staff
from tests.factories import ClinicianFactory, StaffFactory

pytestmark = pytest.mark.django_db


class _Tree(HTMLParser):
    """The page as tags, attributes and text: what a browser builds, whitespace aside."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[Any, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if named.get("name") == "csrfmiddlewaretoken":
            named["value"] = "token"  # masked afresh on every page
        self.items.append(("start", tag, tuple(sorted(named.items()))))

    def handle_endtag(self, tag: str) -> None:
        self.items.append(("end", tag))

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if text:
            self.items.append(("text", text))


def tree(html: str) -> list[tuple[Any, ...]]:
    parser = _Tree()
    parser.feed(html)
    return parser.items


def stock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render changelists with Django's own templates again."""
    monkeypatch.setattr(admin_lists.LeanChangeListMixin, "lean_changelist", False)


PAGES = [
    "/admin/clinicians/clinician/",
    "/admin/clinicians/clinician/?status__exact=verified&o=-7.1",
    "/admin/clinicians/clinician/?q=Ana&country__exact=PT",
    "/admin/clinicians/clinician/?p=2",
]


@pytest.mark.parametrize("path", PAGES)
def test_a_lean_changelist_is_the_stock_page(
    client: Client, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    sign_in_staff(client, StaffFactory.create(role="supervisors"))
    ClinicianFactory.create_batch(3, first_name="Ana", country="PT", hospital__country="PT")
    ClinicianFactory.create_batch(110, status="verified")
    ClinicianFactory.create(first_name="<b>Bold</b>", status="suspended")
    lean = client.get(path)
    assert lean.templates[0].name == "admin/lean_change_list.html"
    stock(monkeypatch)
    django = client.get(path)
    assert django.templates[0].name != "admin/lean_change_list.html"
    assert tree(lean.content.decode()) == tree(django.content.decode())


def test_the_lean_clinicians_list_shows_what_an_agent_needs(agent_client: Client) -> None:
    clinician = ClinicianFactory.create(
        first_name="Zoé", last_name="<Martin>", country="FR", hospital__country="FR"
    )
    page = agent_client.get("/admin/clinicians/clinician/").content.decode()
    assert f'<a href="/admin/clinicians/clinician/{clinician.pk}/change/">Zoé &lt;Martin&gt;</a>' in page
    assert '<td class="field-country">France</td>' in page
    assert '<td class="field-status">registered</td>' in page
    assert '<option value="suspend">' in page
    assert "By status" in page and "By country" in page


def test_a_page_of_clinicians_uses_the_name_index(postgres: None, agent_client: Client) -> None:
    ClinicianFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # a tiny table: make the planner show its index
        cursor.execute(
            "EXPLAIN SELECT id FROM clinicians_clinician ORDER BY last_name, first_name, id LIMIT 100"
        )
        plan = " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert "clinician_admin_name_idx" in plan and "Sort" not in plan


# --- The estimated pager --------------------------------------------------------------------


def test_without_a_filter_a_big_table_is_counted_by_the_planners_estimate(
    postgres: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    ClinicianFactory.create_batch(12)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE clinicians_clinician")
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'clinicians_clinician'")
        estimate = cursor.fetchone()[0]
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_FROM", 1)
    paginator = EstimatedCountPaginator(Clinician.objects.order_by("pk"), 5)
    assert paginator.count == estimate == 12
    assert paginator.num_pages == 3 and len(paginator.page(3).object_list) == 2


def test_with_a_filter_the_pager_counts_exactly_up_to_its_cap(
    postgres: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    ClinicianFactory.create_batch(4, country="PT", hospital__country="PT")
    ClinicianFactory.create_batch(3, country="FR", hospital__country="FR")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE clinicians_clinician")
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_FROM", 1)
    portuguese = EstimatedCountPaginator(Clinician.objects.filter(country="PT").order_by("pk"), 2)
    assert portuguese.count == 4 and portuguese.num_pages == 2
    monkeypatch.setattr(EstimatedCountPaginator, "CAP", 2)
    capped = EstimatedCountPaginator(Clinician.objects.filter(country="PT").order_by("pk"), 2)
    assert capped.count == 3  # "more than two": the pager offers one page beyond


def test_a_small_table_is_counted_exactly(postgres: None) -> None:
    ClinicianFactory.create_batch(3)
    assert EstimatedCountPaginator(Clinician.objects.order_by("pk"), 2).count == 3


def test_the_clinicians_list_pages_with_filters_and_counts_them(agent_client: Client) -> None:
    ClinicianFactory.create_batch(3, country="PT", hospital__country="PT", status="verified")
    ClinicianFactory.create_batch(2, country="FR", hospital__country="FR", status="verified")
    page = agent_client.get("/admin/clinicians/clinician/?country__exact=PT").content.decode()
    assert "3 results" in page and "3 clinicians" in page
    assert page.count('name="_selected_action"') == 3


# --- Every other lean changelist -------------------------------------------------------------


def other_changelists() -> dict[str, Any]:
    from tests import test_admin_changelists as counted

    return {
        **counted.CHANGELISTS,
        "/admin/conferences/registration/?status__exact=waitlisted": counted.make_webinars,
        "/admin/clinicians/ern/": lambda n: None,
        "/admin/clinicians/specialty/?active__exact=1": lambda n: None,
        "/admin/helpdesk/holiday/": lambda n: None,
        "/admin/cmss/auditevent/?o=-1": counted.make_audit_events,
        "/admin/cmss/user/?is_staff__exact=1": counted.make_clinicians,
    }


@pytest.mark.parametrize("path", list(other_changelists()))
def test_every_lean_changelist_is_the_stock_page(
    client: Client, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    sign_in_staff(client, StaffFactory.create(role="supervisors", is_superuser=True))
    other_changelists()[path](3)
    lean = client.get(path)
    assert lean.status_code == 200 and lean.templates[0].name == "admin/lean_change_list.html"
    stock(monkeypatch)
    django = client.get(path)
    assert tree(lean.content.decode()) == tree(django.content.decode())


DATETIME_FORMATS = ["DATETIME_FORMAT", "DATE_FORMAT", "SHORT_DATETIME_FORMAT", "D, d M y h:i:s.u A a f g G"]


@pytest.mark.parametrize("language", ["en", "fr", "de", "es", "it", "pl", "pt"])
@pytest.mark.parametrize("name", DATETIME_FORMATS)
def test_the_lists_date_formatter_writes_what_django_writes(language: str, name: str) -> None:
    from django.utils import dateformat, translation
    from django.utils.formats import get_format

    moments = [
        datetime.datetime(2026, month, day, hour, minute, second, 4021)
        for month, day in [(1, 1), (2, 28), (3, 29), (5, 3), (10, 25), (12, 31)]
        for hour, minute, second in [
            (0, 0, 0),
            (0, 1, 9),
            (1, 0, 0),
            (11, 59, 59),
            (12, 0, 0),
            (12, 30, 5),
            (23, 7, 0),
        ]
    ]
    with translation.override(language):
        format_string = get_format(name) if name.isupper() else name
        formatted = admin_lists.datetime_formatter(format_string)
        assert [formatted(moment) for moment in moments] == [
            dateformat.format(moment, format_string) for moment in moments
        ]


def test_a_format_with_a_zone_is_left_to_django() -> None:
    from django.utils import timezone

    moment = timezone.localtime(datetime.datetime(2026, 7, 1, 9, 30, tzinfo=datetime.UTC))
    assert admin_lists.datetime_formatter("j N Y, H:i T O")(moment) == "1 July 2026, 11:30 CEST +0200"


def test_a_renamed_ern_shows_at_once_in_the_webinars_filter(client: Client) -> None:
    from clinicians.models import ERN
    from tests.factories import WebinarFactory

    sign_in_staff(client, StaffFactory.create(role="supervisors", is_superuser=True))
    WebinarFactory.create()
    ern = ERN.objects.order_by("name").first()
    assert ern is not None
    before = client.get("/admin/conferences/webinar/").content.decode()
    assert f'?erns__id__exact={ern.pk}">{ern.name}</a>' in before
    # As a supervisor corrects it, in its admin form.
    response = client.post(
        f"/admin/clinicians/ern/{ern.pk}/change/",
        {"code": ern.code, "name": "ERN-RENAMED", "full_name": ern.full_name},
    )
    assert response.status_code == 302
    after = client.get("/admin/conferences/webinar/").content.decode()
    assert f'?erns__id__exact={ern.pk}">ERN-RENAMED</a>' in after
    assert f">{ern.name}</a>" not in after


def test_the_webinars_filters_are_read_from_the_cache(client: Client) -> None:
    from tests.factories import WebinarFactory

    sign_in_staff(client, StaffFactory.create(role="supervisors", is_superuser=True))
    WebinarFactory.create()
    client.get("/admin/conferences/webinar/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/conferences/webinar/").status_code == 200
    tables = " ".join(query["sql"] for query in queries.captured_queries)
    assert 'FROM "clinicians_ern"' not in tables and 'FROM "clinicians_language"' not in tables


def test_the_clinicians_search_finds_a_name_an_email_or_a_hospital_word_by_word(agent_client: Client) -> None:
    zsofia = ClinicianFactory.create(
        first_name="Zsófia",
        last_name="Horváth",
        user__email="zh@semmelweis.example.hu",
        hospital__name="Semmelweis",
    )
    other = ClinicianFactory.create(first_name="Ana", last_name="Novak", hospital__name="UMC Ljubljana")

    def found(term: str) -> set[int]:
        page = agent_client.get("/admin/clinicians/clinician/", {"q": term}).content.decode()
        return {pk for pk in (zsofia.pk, other.pk) if f'value="{pk}"' in page}

    assert found("horv") == {zsofia.pk}
    assert found("HORVÁTH zsofia") == {zsofia.pk}  # each word, accents and case aside
    assert found("semmelweis.example") == {zsofia.pk}  # the email
    assert found("ljubl") == {other.pk}  # the hospital
    assert found("novak semmelweis") == set()  # every word must match
    assert found('"ana novak"') == {other.pk}
    assert found("%") == set() and found("_") == set()  # LIKE's wildcards are letters


def test_the_audit_logs_filters_offer_every_action_and_object_type_there_is(
    postgres: None, client: Client
) -> None:
    from cmss import audit
    from cmss.models import AuditEvent

    sign_in_staff(client, StaffFactory.create(role="supervisors", is_superuser=True))
    for action in ["clinician.viewed", "ticket.viewed", "clinician.viewed", "export.downloaded"]:
        audit.record(action=action, actor=StaffFactory.create(), obj=ClinicianFactory.create())
    audit.record(action="staff.signed_in", actor=StaffFactory.create())  # no object: an empty type
    page = client.get("/admin/cmss/auditevent/").content.decode()
    for field in ("action", "object_type"):
        values = AuditEvent.objects.order_by(field).values_list(field, flat=True).distinct()
        links = [f"?{field}={value}" if value else f"?{field}=" for value in values]
        positions = [page.index(f'href="{link}"') for link in links]
        assert positions == sorted(positions), field  # each value once, in order
    audit.record(action="zzz.new_kind", actor=StaffFactory.create())
    assert 'href="?action=zzz.new_kind"' in client.get("/admin/cmss/auditevent/").content.decode()
