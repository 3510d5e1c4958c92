"""The landing page: the reference the performance targets are measured against."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_visitor_s_landing_page_costs_no_database_round_trip(client: Client, monkeypatch: Any) -> None:
    # No query, and no transaction either (BEGIN/COMMIT, the connection's health check).
    began: list[bool] = []
    original = connection.set_autocommit

    def set_autocommit(autocommit: bool, **kwargs: Any) -> None:
        began.append(autocommit)
        original(autocommit, **kwargs)

    monkeypatch.setattr(connection, "set_autocommit", set_autocommit)
    with CaptureAll() as queries:
        response = client.get("/")
    assert response.status_code == 200
    assert "CMSS" in response.content.decode()
    assert queries == [] and began == []


def test_other_views_still_run_in_the_request_transaction(client: Client, monkeypatch: Any) -> None:
    began: list[bool] = []
    original = connection.set_autocommit

    def set_autocommit(autocommit: bool, **kwargs: Any) -> None:
        began.append(autocommit)
        original(autocommit, **kwargs)

    monkeypatch.setattr(connection, "set_autocommit", set_autocommit)
    assert client.get("/privacy/").status_code == 200
    assert False in began, began  # BEGIN: the view ran in a transaction


class CaptureAll:
    """Every query of the block, whatever resets Django's query log (the test client does)."""

    def __enter__(self) -> list[str]:
        self.queries: list[str] = []
        self.wrapper = connection.execute_wrapper(self._record)
        self.wrapper.__enter__()
        return self.queries

    def _record(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.queries.append(sql)
        return execute(sql, params, many, context)

    def __exit__(self, *exc: Any) -> None:
        self.wrapper.__exit__(*exc)
