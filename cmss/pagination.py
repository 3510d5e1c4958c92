"""Paginators shared by the apps' admin pages."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property


class BoundedCountPaginator(Paginator):
    """Counts at most 1,001 rows: a full count of a 100,000-row queue on every
    page costs more than the page itself, and nobody pages that far."""

    LIMIT = 1_000

    @cached_property
    def count(self) -> int:
        assert isinstance(self.object_list, QuerySet)  # the admin pages querysets
        return _bounded_count(self.object_list, self.LIMIT)


class EstimatedCountPaginator(Paginator):
    """For a big table's admin list: without a filter or a search, the number of
    rows is PostgreSQL's estimate (pg_class.reltuples, kept by autovacuum's
    ANALYZE) rather than a COUNT(*) that reads the whole table on every page;
    with one, an exact count of at most 10,000 rows (a page beyond is not
    offered). Small tables, and other databases, are counted exactly."""

    CAP = 10_000
    ESTIMATE_FROM = 10_000  # below this many rows an exact count is cheap

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        assert isinstance(queryset, QuerySet)  # the admin pages querysets
        if not queryset.query.where:
            estimate = _estimated_rows(queryset)
            if estimate is not None and estimate >= self.ESTIMATE_FROM:
                return estimate
        return _bounded_count(queryset, self.CAP)


def _bounded_count(queryset: QuerySet[Any], limit: int) -> int:
    """How many rows, up to limit + 1. The keys only: a sliced count is a subquery
    that would otherwise compute every annotation of the page (the webinars' two
    seat counts) for each of up to limit + 1 rows."""
    return queryset.order_by().values("pk")[: limit + 1].count()


def _estimated_rows(queryset: QuerySet[Any]) -> int | None:
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(queryset.model._meta.db_table)],
        )
        row = cursor.fetchone()
    # -1: never analysed yet.
    return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None


class CountlessPage:
    """A page of a list read with one row more than a page instead of a
    COUNT(*): enough for templates/_pagination.html (previous, this page's
    number, next), which never shows how many pages there are."""

    def __init__(self, object_list: list[Any], *, number: int, has_next: bool) -> None:
        self.object_list = object_list
        self.number = number
        self._has_next = has_next

    def has_next(self) -> bool:
        return self._has_next

    def has_previous(self) -> bool:
        return self.number > 1

    def has_other_pages(self) -> bool:
        return self.has_previous() or self.has_next()

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1

    def __len__(self) -> int:
        return len(self.object_list)

    def __iter__(self) -> Any:
        return iter(self.object_list)


def page_without_count(queryset: QuerySet[Any], number: str | None, *, size: int) -> CountlessPage:
    """Page `number` (from 1, as sent: an invalid one is the first) of this
    ordered queryset. A page past the end is empty, with its link back."""
    try:
        page = min(max(1, int(number or 1)), 10_000)
    except ValueError:
        page = 1
    offset = (page - 1) * size
    rows = list(queryset[offset : offset + size + 1])
    return CountlessPage(rows[:size], number=page, has_next=len(rows) > size)
