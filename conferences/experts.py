"""Experts suggested for a conference (or a webinar's speakers), each with its reasons.

One selector, `suggest_experts`, ranks the directory's clinicians
(`Clinician.objects.listed()`: verified, listed, not restricted) in SQL, in a
constant number of queries whatever the size of the network: one ranks
(_ranked), one reads the few suggested again with their history, from which
their reasons are written in the viewer's language. The requester and anyone
already invited are never suggested.

Candidates are the clinicians with the wanted expertise: a member of one of
the wanted ERNs or of one of the wanted specialties. Without either there is
nothing to rank by expertise and nobody is suggested (a shared language alone
does not make an expert, and ranking the whole directory by language would
read every row).

The score, in points (the weights are the constants below):

- ERN_POINTS (40) for each wanted ERN the person is a member of;
- SPECIALTY_POINTS (30) when their specialty is one of the wanted ones;
- LANGUAGE_POINTS (20) when they speak the conference's language, or, with
  none chosen, one of the requester's languages;
- HOURS_POINTS (10) when one of the proposed times falls within their working
  hours in their own time zone. There is no working-hours field: WORKING_DAYS
  (Monday to Friday) from WORKING_HOURS (08:00 to 18:00) local time are taken
  as working hours, the zones where a time falls inside them are found in
  Python (a few hundred IANA zones), and the query asks whether the person's
  zone is among them;
- PAST_POINTS (2) for each accepted invitation and each conference held with
  them as an accepted invitee, at most PAST_CAP (5) of each counted;
- minus LOAD_POINTS (5) for each invitation (not declined) to a scheduled
  conference starting in the next LOAD_DAYS (14) days, at most LOAD_CAP (4).

A request can have thousands of candidates (ERN LUNG alone has thousands of
members), so all but the history is read from the candidate's own row, with
integer arithmetic: the clinician keeps copies of their ERN memberships and
languages as bits (Clinician.ern_bits, language_bits: one bit per ERN.bit and
Language.bit) and of their user's time zone, kept in step by
clinicians.services. On PostgreSQL a GIN index of the ERN bits (migration
clinicians 0005) finds the members of the wanted ERNs. The history is counted
from the invitations only for the people ever invited.

Equal scores are ordered by name, then id: the same question always gets the
same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from django.db import connections, transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Least
from django.db.models.lookups import GreaterThan
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language_info, gettext, ngettext

from clinicians.models import ERN, Clinician, Language, Specialty
from cmss.timezones import time_zone_names

from .cases.forms import invitee_label
from .models import Conference, Invitation

ERN_POINTS = 40
SPECIALTY_POINTS = 30
LANGUAGE_POINTS = 20
HOURS_POINTS = 10
PAST_POINTS = 2
PAST_CAP = 5
LOAD_POINTS = 5
LOAD_CAP = 4
LOAD_DAYS = 14

WORKING_DAYS = frozenset(range(5))  # Monday to Friday
WORKING_HOURS = (time(8, 0), time(18, 0))  # from, until (exclusive)

DEFAULT_LIMIT = 10

_T = TypeVar("_T")


@dataclass(frozen=True)
class Suggestion:
    """A clinician worth inviting, and why, in the viewer's language."""

    clinician: Clinician
    reasons: tuple[str, ...]
    score: int

    @property
    def why(self) -> str:
        return " · ".join(self.reasons)

    @property
    def label(self) -> str:
        """Name, specialty, hospital and country, as the invitee picker names people."""
        return invitee_label(self.clinician)


# --- Working hours ----------------------------------------------------------------------------


def in_working_hours(moment: datetime, zone: str) -> bool:
    local = moment.astimezone(ZoneInfo(zone))
    return local.weekday() in WORKING_DAYS and WORKING_HOURS[0] <= local.time() < WORKING_HOURS[1]


@lru_cache(maxsize=512)
def _zones_working_at(moment: datetime) -> frozenset[str]:
    return frozenset(zone for zone in time_zone_names() if in_working_hours(moment, zone))


def zones_working_at(moments: Iterable[datetime]) -> frozenset[str]:
    """The time zones (of those people may choose) where one of `moments` is within working hours."""
    zones: frozenset[str] = frozenset()
    for moment in moments:
        # One cache entry per instant, whatever zone it was typed in.
        zones |= _zones_working_at(moment.astimezone(ZoneInfo("UTC")).replace(microsecond=0))
    return zones


def first_working_moment(moments: Sequence[datetime], zone: str) -> datetime | None:
    """The earliest of `moments` within working hours in `zone`, as a time there."""
    try:
        place = ZoneInfo(zone)
    except (ValueError, KeyError):
        return None
    for moment in sorted(moments):
        if in_working_hours(moment, zone):
            return moment.astimezone(place)
    return None


# --- The ranking ------------------------------------------------------------------------------


def _ids(items: Iterable[Any]) -> list[Any]:
    return sorted({getattr(item, "pk", item) for item in items if item is not None})


def _flag(condition: Any) -> Case:
    return Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())


def _has_bits(column: str, mask: int) -> GreaterThan:
    """`column & mask > 0`: one of the bits of `mask` is set (masks are positive: bits 0 to 62)."""
    return GreaterThan(F(column).bitand(mask), 0)


@dataclass(frozen=True)
class _Wanted:
    ern_ids: list[int]
    ern_bits: list[int]  # ERN.bit of each, in the order of ern_ids
    specialty_ids: list[int]
    language_codes: list[str]
    language_bits: dict[str, int]  # Language.bit by code
    zones: frozenset[str]
    now: datetime

    @property
    def language_mask(self) -> int:
        return sum(1 << bit for bit in set(self.language_bits.values()))

    @property
    def zones_off_work(self) -> frozenset[str]:
        """The zones people may choose where none of the times is in working hours."""
        return frozenset(time_zone_names()) - self.zones if self.zones else frozenset()

    def at_work(self, zone: str) -> bool:
        """The test the ranking makes of a person's zone (see _score)."""
        if not self.zones:
            return False
        off = self.zones_off_work
        return zone not in off if len(off) < len(self.zones) else zone in self.zones

    def shared_language(self, clinician: Clinician) -> str | None:
        """The first (by code) of the wanted languages that `clinician` speaks."""
        spoken = [code for code, bit in self.language_bits.items() if clinician.language_bits >> bit & 1]
        return min(spoken) if spoken else None


def _count_of(invitations: QuerySet[Invitation]) -> Coalesce:
    """How many of `invitations` are this clinician's (a correlated count)."""
    count = (
        invitations.filter(clinician_id=OuterRef("pk"))
        .order_by()
        .values("clinician_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(count, output_field=IntegerField()), Value(0))


def _history(wanted: _Wanted) -> dict[str, Coalesce]:
    """Accepted invitations, conferences held as an accepted invitee, and
    invitations (not declined) to conferences scheduled in the next LOAD_DAYS."""
    accepted = Invitation.objects.filter(response=Invitation.Response.ACCEPTED)
    upcoming = Invitation.objects.exclude(response=Invitation.Response.DECLINED).filter(
        conference__state=Conference.State.SCHEDULED,
        conference__start__gte=wanted.now,
        conference__start__lt=wanted.now + timedelta(days=LOAD_DAYS),
    )
    return {
        "accepted_count": _count_of(accepted),
        "held_count": _count_of(accepted.filter(conference__state=Conference.State.HELD)),
        "load_count": _count_of(upcoming),
    }


def _past_and_load(wanted: _Wanted) -> Coalesce:
    """Past participation minus current load, in points, in one correlated
    subquery (one index scan of the person's invitations)."""
    accepted = Q(response=Invitation.Response.ACCEPTED)
    upcoming = ~Q(response=Invitation.Response.DECLINED) & Q(
        conference__state=Conference.State.SCHEDULED,
        conference__start__gte=wanted.now,
        conference__start__lt=wanted.now + timedelta(days=LOAD_DAYS),
    )
    points = (
        Least(Count("pk", filter=accepted), Value(PAST_CAP))
        + Least(Count("pk", filter=accepted & Q(conference__state=Conference.State.HELD)), Value(PAST_CAP))
    ) * Value(PAST_POINTS) - Least(Count("pk", filter=upcoming), Value(LOAD_CAP)) * Value(LOAD_POINTS)
    value = (
        Invitation.objects.filter(clinician_id=OuterRef("pk"))
        .order_by()
        .values("clinician_id")
        .annotate(points=points)
        .values("points")
    )
    return Coalesce(Subquery(value, output_field=IntegerField()), Value(0))


def _hours(wanted: _Wanted) -> Any:
    """1 when one of the times is within the person's working hours in their
    zone (copied onto the clinician's row), else 0. The zones are computed in
    Python and asked of the shorter list: at 10:00 in Brussels on a weekday,
    the zones at work are hundreds and those off work a few dozen (a zone
    outside the list people choose from counts as at work then)."""
    off = wanted.zones_off_work
    if len(off) < len(wanted.zones):
        return Value(1) - _flag(_Among("time_zone", off))
    return _flag(_Among("time_zone", wanted.zones))


def _score(wanted: _Wanted) -> Any:
    """The score (see the weights above). All but past participation and load
    is read from the candidate's own row: the ERNs and languages as bits,
    the specialty, the time zone. Those are counted from the invitations only
    for the people ever invited: a few among thousands of candidates."""
    score: Any = Value(0)
    for bit in wanted.ern_bits:
        score += _flag(_has_bits("ern_bits", 1 << bit)) * Value(ERN_POINTS)
    if wanted.specialty_ids:
        score += _flag(Q(specialty_id__in=wanted.specialty_ids)) * Value(SPECIALTY_POINTS)
    if wanted.language_bits:
        score += _flag(_has_bits("language_bits", wanted.language_mask)) * Value(LANGUAGE_POINTS)
    if wanted.zones:
        score += _hours(wanted) * Value(HOURS_POINTS)
    return score + Case(
        When(pk__in=Invitation.objects.values("clinician_id"), then=_past_and_load(wanted)),
        default=Value(0),
        output_field=IntegerField(),
    )


ORDER = ("-score", "last_name", "first_name", "pk")


def _ranked(wanted: _Wanted, excluded: Sequence[int], limit: int) -> list[tuple[int, int]]:
    """The best `limit` candidates by score, then name: (id, score) pairs. One
    pass over the candidates' rows (thousands: ERN LUNG alone has thousands of
    members), with integer arithmetic on each."""
    ranked = candidates(wanted=wanted, excluded=excluded).annotate(score=_score(wanted)).order_by(*ORDER)
    return list(ranked.values_list("pk", "score")[:limit])


class _AnyBit(Func):
    """One of `bits` is set in ern_bits: a member of one of these ERNs.

    On PostgreSQL, as the GIN index of migration clinicians 0005 has it
    (the bits set, as an array, of the directory's clinicians): the wanted
    ERNs' members are found in the index and their rows read once, in table
    order (ORed with the specialty's index when there is one). Elsewhere, as
    integer arithmetic."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, bits: Sequence[int]) -> None:
        super().__init__(F("ern_bits"))
        self.bits = sorted(set(bits))

    def as_sql(self, compiler: Any, connection: Any, *args: Any, **extra: Any) -> Any:
        column, params = compiler.compile(self.source_expressions[0])
        return f"({column} & %s) > 0", (*params, sum(1 << bit for bit in self.bits))

    def as_postgresql(self, compiler: Any, connection: Any, *args: Any, **extra: Any) -> Any:
        column, params = compiler.compile(self.source_expressions[0])
        return f"clinician_bits_set({column}) && %s::smallint[]", (*params, self.bits)


class _Among(Func):
    """`column IN (values)`; on PostgreSQL `column = ANY(%s)` with the values
    as one array, which PostgreSQL hashes: hundreds of time zones, one parameter."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, column: str, values: Iterable[str]) -> None:
        super().__init__(F(column))
        self.values = sorted(values)

    def as_sql(self, compiler: Any, connection: Any, *args: Any, **extra: Any) -> Any:
        column, params = compiler.compile(self.source_expressions[0])
        if not self.values:
            return "1 = 0", ()
        return f"{column} IN ({', '.join(['%s'] * len(self.values))})", (*params, *self.values)

    def as_postgresql(self, compiler: Any, connection: Any, *args: Any, **extra: Any) -> Any:
        column, params = compiler.compile(self.source_expressions[0])
        return f"{column} = ANY(%s)", (*params, self.values)


def candidates(*, wanted: _Wanted, excluded: Sequence[int]) -> QuerySet[Clinician]:
    """The directory's clinicians with one of the wanted ERNs or specialties, minus `excluded`."""
    expertise = Q()
    if wanted.ern_bits:
        expertise |= Q(_AnyBit(wanted.ern_bits))
    if wanted.specialty_ids:
        expertise |= Q(specialty_id__in=wanted.specialty_ids)
    if not expertise:
        return Clinician.objects.none()
    return Clinician.objects.listed().filter(expertise).exclude(pk__in=excluded)


def _without_jit(run: Callable[[], _T], *, using: str) -> _T:
    """`run()`, on PostgreSQL in a transaction with JIT compilation off.

    Thousands of candidates make plans whose cost may pass `jit_above_cost`:
    PostgreSQL would then spend a second and a half compiling a query that
    runs in milliseconds."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return run()
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
        return run()


def suggest_experts(
    *,
    erns: Iterable[ERN],
    specialties: Iterable[Specialty],
    language: Language | None,
    slots: Iterable[datetime],
    exclude_clinicians: Iterable[Clinician | int],
    requester: Clinician | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[Suggestion]:
    """Up to `limit` clinicians to invite, best first, each with its reasons
    (in the active language; a time in the person's own zone, written the
    active locale's way).

    `language` is the conference's; without one, a language the `requester`
    speaks counts. The requester and `exclude_clinicians` (those already
    invited) are never suggested. Two queries, and on PostgreSQL a
    transaction around the first (see _without_jit); one more reads the
    requester's languages when they are not prefetched. Whatever the number of
    clinicians.
    """
    ern_list = sorted({ern.pk: ern for ern in erns}.values(), key=lambda ern: ern.pk)
    specialty_ids = _ids(specialties)
    if not (ern_list or specialty_ids) or limit <= 0:
        return []
    moments = sorted({moment for moment in slots if moment is not None})
    excluded = _ids(exclude_clinicians)
    if requester is not None:
        excluded = sorted({*excluded, requester.pk})
    if language is not None:
        languages = [language]
    elif requester is not None:
        languages = sorted(requester.languages.all(), key=lambda item: item.pk)
    else:
        languages = []
    wanted = _Wanted(
        ern_ids=[ern.pk for ern in ern_list],
        ern_bits=[ern.bit for ern in ern_list],
        specialty_ids=specialty_ids,
        language_codes=[item.pk for item in languages],
        language_bits={item.pk: item.bit for item in languages},
        zones=zones_working_at(moments),
        now=timezone.now(),
    )
    # The ranking reads only the score; what the best few have that counts
    # is read for them alone below.
    best = _without_jit(lambda: _ranked(wanted, excluded, limit), using=Clinician.objects.db)
    if not best:
        return []
    found = {
        clinician.pk: clinician
        for clinician in Clinician.objects.filter(pk__in=[pk for pk, _score in best])
        .select_related("user", "hospital", "specialty")
        .annotate(**_history(wanted))
    }
    context = _ReasonContext(
        wanted=wanted, erns=ern_list, languages={item.pk: item for item in languages}, moments=moments
    )
    return [
        Suggestion(clinician=found[pk], reasons=_reasons(found[pk], context), score=score)
        for pk, score in best
        if pk in found
    ]


# --- Reasons ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ReasonContext:
    wanted: _Wanted
    erns: list[ERN]
    languages: dict[str, Language]
    moments: list[datetime]


def language_name(language: Language) -> str:
    """The language's name in the active language (Django knows most), else its English name."""
    try:
        return str(get_language_info(language.pk)["name_translated"])
    except KeyError:
        return language.name


def _reasons(clinician: Clinician, context: _ReasonContext) -> tuple[str, ...]:
    found: Any = clinician  # the annotations of suggest_experts
    reasons = [
        gettext("%(ern)s member") % {"ern": ern.name}
        for ern in context.erns
        if clinician.ern_bits >> ern.bit & 1
    ]
    if clinician.specialty_id in context.wanted.specialty_ids:
        reasons.append(str(clinician.specialty))
    shared = context.wanted.shared_language(clinician)
    if shared and shared in context.languages:
        reasons.append(
            gettext("speaks %(language)s") % {"language": language_name(context.languages[shared])}
        )
    # The zones the ranking counted (the copy on the clinician's row); the
    # first of the times there.
    zone = clinician.time_zone
    moment = first_working_moment(context.moments, zone) if context.wanted.at_work(zone) else None
    if moment is not None:
        reasons.append(gettext("%(time)s their time") % {"time": date_format(moment, "TIME_FORMAT")})
    if found.held_count:
        reasons.append(
            ngettext("%(count)s conference held", "%(count)s conferences held", found.held_count)
            % {"count": found.held_count}
        )
    elif found.accepted_count:
        reasons.append(
            ngettext("%(count)s invitation accepted", "%(count)s invitations accepted", found.accepted_count)
            % {"count": found.accepted_count}
        )
    if found.load_count:
        reasons.append(
            ngettext(
                "%(count)s conference in the next %(days)s days",
                "%(count)s conferences in the next %(days)s days",
                found.load_count,
            )
            % {"count": found.load_count, "days": LOAD_DAYS}
        )
    return tuple(reasons)


# --- For the webinar speaker picker -----------------------------------------------------------


def suggest_speakers(
    *,
    erns: Iterable[ERN],
    language: Language | None,
    dates: Iterable[datetime],
    requester: Clinician | None,
    exclude_clinicians: Iterable[Clinician | int] = (),
    limit: int = DEFAULT_LIMIT,
) -> list[Suggestion]:
    """Speakers to propose for a webinar request: members of its ERNs who
    speak its language, free at its preferred dates (as proposed times), with
    past participation and current load, as for a conference. A speaker picker
    shows `suggestion.clinician` and `suggestion.why`."""
    return suggest_experts(
        erns=erns,
        specialties=(),
        language=language,
        slots=dates,
        exclude_clinicians=exclude_clinicians,
        requester=requester,
        limit=limit,
    )
