"""Cached fragments: the generations of their topics are read once per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.signals import request_finished, request_started

from cmss import fragments


@pytest.fixture
def get_many_calls() -> Iterator[list[Any]]:
    calls: list[Any] = []
    real = cache.get_many

    def counted(keys: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(list(keys))
        return real(keys, *args, **kwargs)

    with mock.patch.object(cache, "get_many", counted):
        yield calls


def in_a_request() -> None:
    # The receivers alone (request_started also closes old database connections).
    fragments._request_started(signal=request_started)


def after_the_request() -> None:
    fragments._request_finished(signal=request_finished)


def test_a_page_reads_each_topics_generation_once(get_many_calls: list[Any]) -> None:
    in_a_request()
    try:
        assert fragments.cached(("a", "b"), ("one",), lambda: "1") == "1"
        assert fragments.cached(("a",), ("two",), lambda: "2") == "2"
        assert fragments.cached(("b", "c"), ("three",), lambda: "3") == "3"
    finally:
        after_the_request()
    # a and b once, then only c, which no fragment before needed.
    assert [len(keys) for keys in get_many_calls] == [2, 1]


def test_a_bump_elsewhere_shows_in_the_next_request_and_outside_any_request() -> None:
    built: list[str] = []

    def build() -> str:
        built.append("x")
        return f"built {len(built)}"

    in_a_request()
    try:
        assert fragments.cached(("topic",), ("page",), build) == "built 1"
    finally:
        after_the_request()
    # Another process bumps the topic: Redis changes, this process's memo is not told.
    key = fragments._generation_key("topic")
    cache.add(key, 0)
    cache.incr(key)
    in_a_request()
    try:
        assert fragments.cached(("topic",), ("page",), build) == "built 2"
    finally:
        after_the_request()
    cache.incr(key)
    assert fragments.cached(("topic",), ("page",), build) == "built 3"  # no request: Redis is asked


def test_a_fragment_read_twice_in_a_request_is_fetched_once(get_many_calls: list[Any]) -> None:
    in_a_request()
    try:
        with mock.patch.object(cache, "get", wraps=cache.get) as get:
            assert fragments.cached(("a",), ("one",), lambda: "1") == "1"
            assert fragments.cached(("a",), ("one",), lambda: "again") == "1"
        assert get.call_count == 1
    finally:
        after_the_request()
    with mock.patch.object(cache, "get", wraps=cache.get) as get:
        assert fragments.cached(("a",), ("one",), lambda: "again") == "1"  # from Redis
    assert get.call_count == 1


def test_a_bump_during_the_request_shows_in_the_same_request() -> None:
    in_a_request()
    try:
        assert fragments.cached(("topic",), ("page",), lambda: "old") == "old"
        fragments.bump("topic")
        assert fragments.cached(("topic",), ("page",), lambda: "new") == "new"
    finally:
        after_the_request()
