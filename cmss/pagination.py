"""Paginators shared by the apps' admin pages."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property


class BoundedCountPaginator(Paginator):
    """Counts at most 1,001 rows: a full count of a 100,000-row queue on every
    page costs more than the page itself, and nobody pages that far."""

    LIMIT = 1_000

    @cached_property
    def count(self) -> int:
        assert isinstance(self.object_list, QuerySet)  # the admin pages querysets
        return self.object_list.order_by()[: self.LIMIT + 1].count()
