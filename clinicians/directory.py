"""One page of the directory: which clinicians, and what each entry shows.

Finding a page. The directory is ordered by last name, then first name
(case-insensitive, DIRECTORY_ORDER), and the partial index
clinician_directory_order_idx holds that order with every column a filter reads
except the two many-to-many ones. A page is first looked for by walking the
first rows of that index (an index-only scan: no table row is read) and keeping
those that match; when enough of them match (a common name such as "mar", the
whole directory, a country), the page is found without looking at any other
row. When they do not (a rare name, or a last name that sorts far down, such as
"silva", whose matches all sit together late in the order), the query that
finds every match through the trigram index and sorts them is the cheaper one,
and it is the one asked. A fixed walk makes the first attempt cost the same
whatever PostgreSQL would estimate: its estimate of a name's matches is good,
but it cannot know that they sit together in name order, and walking to them
would read most of the index.

What an entry shows is the same for every verified clinician who sees it;
contact details are never part of it (they are revealed one entry at a time, on
request, and audited: views.directory_contact). So a page of entries is cached
per search, page number and language (cmss/fragments.py), under the topics
"directory" (bumped on every change of a clinician, their ERNs or languages:
clinicians/apps.py, and by hand where services use update()) and "reference"
(hospitals, specialties, ERN and language names). The page's form, its CSRF
token and the viewer's own data are never part of it.

The search form above the entries (search_form) is cached too, per submitted
query and language under "reference": what it shows (the values sent, their
errors, the option lists) follows from those alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat, Lower
from django.forms import Form
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from cmss import fragments

from .choices import reference_choices
from .models import DIRECTORY_ORDER, ERN, Clinician, Hospital, Language, Specialty, normalise_name

# Bump when the shape of Page or Entry changes (old pickles are then never read).
_VERSION = 2

# How many rows of the index the first attempt walks: at least WALK (about
# 0.5 ms; enough for page 1 of a filter or name that matches one clinician in
# 200), and WALK_PER_ROW for each row up to the end of the page asked for.
WALK = 5000
WALK_PER_ROW = 20


def page_ids(*, offset: int, limit: int, **filters: Any) -> list[int]:
    """The primary keys of the clinicians at positions offset … offset + limit
    of Clinician.objects.directory(**filters), in its order: one query."""
    sql, params = _page_query(offset=offset, limit=limit, **filters)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    # UNION ALL promises no order: the rows carry the values they are ordered by.
    return [pk for pk, _last, _first in sorted(rows, key=lambda row: (row[1], row[2], row[0]))]


def _page_query(
    *,
    offset: int,
    limit: int,
    text: str = "",
    country: str = "",
    hospital: Hospital | None = None,
    profession: str = "",
    specialty: Specialty | None = None,
    ern: ERN | None = None,
    language: Language | None = None,
) -> tuple[str, list[Any]]:
    """SQL and parameters of those clinicians' (pk, lower(last name), lower(first name))."""
    queryset = Clinician.objects.directory(
        text=text,
        country=country,
        hospital=hospital,
        profession=profession,
        specialty=specialty,
        ern=ern,
        language=language,
    )
    words = normalise_name(text).split()[:5]
    if words:
        # Ordered by the same values through an expression that no index
        # provides, PostgreSQL finds the matches with the trigram index and sorts
        # them, instead of walking the order index to matches that the walk
        # below has just shown to be rare or far away.
        first, second, pk = DIRECTORY_ORDER
        queryset = queryset.order_by(Concat(first, Value("")), second, pk)
    everything = queryset.annotate(
        order_last=Lower("last_name"), order_first=Lower("first_name")
    ).values_list("pk", "order_last", "order_first")[offset : offset + limit]
    fallback, fallback_params = everything.query.sql_with_params()
    if connection.vendor != "postgresql":
        return fallback, list(fallback_params)

    walk, walk_params = _walk(
        window=max(WALK, WALK_PER_ROW * (offset + limit)),
        words=words,
        columns={
            "country": country,
            "hospital_id": hospital.pk if hospital else None,
            "profession": profession,
            "specialty_id": specialty.pk if specialty else None,
        },
        members={"erns": ern.pk if ern else None, "languages": language.pk if language else None},
    )
    # The walk's page when it found a whole one; otherwise the page among every
    # match (PostgreSQL runs that branch only then: a one-time filter).
    whole = "EXISTS (SELECT 1 FROM walked OFFSET %s)"  # the walk found `limit` rows
    sql = (
        f"WITH walked AS MATERIALIZED ({walk} LIMIT %s OFFSET %s) "  # noqa: S608 (names and placeholders only)
        f"SELECT * FROM walked WHERE {whole} "
        f"UNION ALL SELECT * FROM ({fallback}) AS everything WHERE NOT {whole}"
    )
    return sql, [*walk_params, limit, offset, limit - 1, *fallback_params, limit - 1]


def _walk(
    *, window: int, words: list[str], columns: dict[str, Any], members: dict[str, Any]
) -> tuple[str, list[Any]]:
    """SQL and parameters of the matches among the first `window` clinicians of
    the directory's order (pk, order_last, order_first), in that order: the
    walk reads the order index alone. `columns` are the filters on the
    clinician's own columns, `members` those on Clinician.erns and .languages
    (None or "" where not filtered)."""
    first = (
        Clinician.objects.listed()
        .order_by(*DIRECTORY_ORDER)
        .annotate(order_last=Lower("last_name"), order_first=Lower("first_name"))
        .values("pk", "order_last", "order_first", "search_name", *columns)[:window]
    )
    inner, params = first.query.sql_with_params()
    conditions: list[str] = []
    arguments: list[Any] = list(params)
    for word in words:
        conditions.append("walked.search_name LIKE %s")
        arguments.append(f"%{connection.ops.prep_for_like_query(word)}%")
    for column, value in columns.items():
        if value:
            conditions.append(f"walked.{column} = %s")
            arguments.append(value)
    for name, value in members.items():
        if value:
            field: Any = Clinician._meta.get_field(name)
            table = connection.ops.quote_name(field.remote_field.through._meta.db_table)
            conditions.append(
                f"EXISTS (SELECT 1 FROM {table} AS member WHERE member.{field.m2m_column_name()} = walked.pk"  # noqa: S608
                f" AND member.{field.m2m_reverse_name()} = %s)"
            )
            arguments.append(value)
    where = " AND ".join(conditions) or "TRUE"
    sql = (
        "SELECT walked.pk, walked.order_last, walked.order_first "  # noqa: S608 (names and placeholders only)
        f"FROM ({inner}) AS walked WHERE {where} ORDER BY walked.order_last, walked.order_first, walked.pk"
    )
    return sql, arguments


@dataclass(frozen=True)
class Entry:
    """One clinician as the directory shows them (no contact details)."""

    pk: int
    full_name: str
    profession: str
    specialty: str
    hospital: str
    city: str
    country: str
    erns: str  # their ERNs' names, in the ERNs' order, ", "-separated
    languages: str  # the names of the languages they speak, likewise
    shares_contact_details: bool
    contact_url: str  # where its "Show contact details" button posts
    reveal_label: str  # that button's text


def _bit_names() -> tuple[tuple[tuple[int, str], ...], tuple[tuple[int, str], ...]]:
    """(bit, name) of the ERNs and of the languages, each in the model's order (by name)."""

    def build() -> tuple[tuple[tuple[int, str], ...], tuple[tuple[int, str], ...]]:
        return (
            tuple(ERN.objects.values_list("bit", "name")),
            tuple(Language.objects.values_list("bit", "name")),
        )

    return fragments.cached(
        ("reference",), ("directory-bits", _VERSION), build, per_language=False, per_zone=False
    )


def _rows(*, offset: int, limit: int, filters: dict[str, Any]) -> list[dict[str, Any]]:
    """What the entries at positions offset … offset + limit show, in the
    directory's order: the page's query and the rows it finds, one query."""
    sql, params = _page_query(offset=offset, limit=limit, **filters)
    rows = (
        Clinician.objects.filter(pk__in=RawSQL(f"SELECT page.pk FROM ({sql}) AS page", params))  # noqa: S608, S611
        .annotate(order_last=Lower("last_name"), order_first=Lower("first_name"))
        .values(
            "pk",
            "order_last",
            "order_first",
            "first_name",
            "last_name",
            "profession",
            "specialty__name",
            "hospital__name",
            "hospital__city",
            "country",
            "ern_bits",
            "language_bits",
            "show_email",
            "show_phone",
        )
        .order_by()
    )
    return sorted(rows, key=lambda row: (row["order_last"], row["order_first"], row["pk"]))


def entries(rows: list[dict[str, Any]]) -> list[Entry]:
    """The entries of these rows (_rows), in the active language, each label
    translated once. ERNs and languages are read from the copies on the
    clinician's row (Clinician.ern_bits, language_bits, which clinicians.services
    keeps in step with the memberships)."""
    if not rows:
        return []
    countries = dict(reference_choices().countries)
    ern_bits, language_bits = _bit_names()
    professions = {value: str(label) for value, label in Clinician.Profession.choices}
    reveal = gettext("Show contact details of %(name)s")

    # One reverse() for the page (each costs 40 µs): entry 0's URL, each pk in its place.
    before, after = reverse("clinicians:directory_contact", args=[0]).rsplit("/0/", 1)

    def names(bits: int, known: tuple[tuple[int, str], ...]) -> str:
        return ", ".join(name for bit, name in known if bits >> bit & 1)

    result = []
    for row in rows:
        pk = row["pk"]
        full_name = f"{row['first_name']} {row['last_name']}".strip()
        result.append(
            Entry(
                pk=pk,
                full_name=full_name,
                profession=professions.get(row["profession"], row["profession"]),
                specialty=row["specialty__name"],
                hospital=row["hospital__name"],
                city=row["hospital__city"],
                country=countries.get(row["country"], row["country"]),
                erns=names(row["ern_bits"], ern_bits),
                languages=names(row["language_bits"], language_bits),
                shares_contact_details=row["show_email"] or row["show_phone"],
                contact_url=f"{before}/{pk}/{after}",
                reveal_label=reveal % {"name": full_name},
            )
        )
    return result


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    html: SafeString  # the entries as the page shows them (an <ol>), without any form
    has_next: bool


def page(*, number: int, size: int, filters: dict[str, Any]) -> Page:
    """Page `number` (from 1) of the directory with these filters (those of
    Clinician.objects.directory), `size` entries long, as it is now."""
    offset = (number - 1) * size

    def build() -> Page:
        # One more than a page: whether there is a next one.
        rows = _rows(offset=offset, limit=size + 1, filters=filters)
        found = entries(rows[:size])
        html = render_to_string(
            "clinicians/_directory_entries.html", {"entries": found, "first_number": offset + 1}
        )
        return Page(entries=found, html=html, has_next=len(rows) > size)

    return fragments.cached(
        ("directory", "reference"),
        ("directory-page", _VERSION, *_key(filters), offset, size),
        build,
        per_zone=False,
    )


def search_form(form: Form, *, searched: bool) -> SafeString:
    """The directory's search form (DirectorySearchForm, bound to the query
    and validated) as the page shows it: the same for everyone who sends the
    same query in the same language."""
    return fragments.cached(
        ("reference",),
        # A value sent empty is rendered differently from one not sent at all.
        ("directory-search", _VERSION, *(_sent(form.data.get(name)) for name in form.fields)),
        lambda: render_to_string("clinicians/_directory_search.html", {"form": form, "searched": searched}),
        per_zone=False,
    )


def _sent(value: Any) -> str:
    return "-" if value is None else f"={value}"


def _key(filters: dict[str, Any]) -> tuple[Any, ...]:
    """The filters as the search reads them: "Zsófia  HORVÁTH" and "zsofia horvath" are one search."""
    return (
        tuple(normalise_name(filters.get("text") or "").split()[:5]),
        *(
            getattr(value, "pk", value) or ""
            for value in (
                filters.get(name)
                for name in ("country", "hospital", "profession", "specialty", "ern", "language")
            )
        ),
    )


# What puts a clinician in the directory or takes them out of it (Clinician.is_listed).
_LISTING_FIELDS = frozenset({"status", "listed_in_directory", "restricted"})


def clinician_changed(
    sender: Any,
    instance: Any,
    created: bool = False,
    action: str = "",
    update_fields: Any = None,
    **kwargs: Any,
) -> None:
    """post_save, post_delete and m2m_changed of clinicians and their ERNs and
    languages: pages of the directory may have changed. Not when the clinician
    is not in the directory and the change cannot have taken them out of it: a
    new registration, a save of other fields than those that list them, or
    the ERNs or languages of someone who is not listed."""
    if action and not action.startswith("post_"):
        return
    if isinstance(instance, Clinician) and not instance.is_listed:
        unlisting = update_fields is None or bool(_LISTING_FIELDS & set(update_fields))
        if created or action or not unlisting:
            return
    fragments.bump("directory")
