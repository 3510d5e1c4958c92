"""Shared fixtures: service requirements, roles, an embedded Celery worker."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from tests import factories

_CLOCK = pytest.StashKey[Any]()

# Hypothesis: no deadline (CI machines vary), a modest number of examples.
hypothesis_settings.register_profile(
    "cmss", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "cmss"))

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

REQUIRE_SERVICES = os.environ.get("CMSS_REQUIRE_SERVICES") == "1"


# --- The clock ---------------------------------------------------------------------------------
# No test may depend on the day it runs. `--clock=2028-02-29T08:30:00+01:00` (or CMSS_TEST_CLOCK)
# moves this process's clock there at session start and lets it tick: CI runs the suite at a
# few awkward moments (a leap day, both DST changes, New Year's Eve). Subprocesses and Chromium
# keep the real clock, so the browser and deployed tiers are left out of such a run.


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock",
        default=os.environ.get("CMSS_TEST_CLOCK", ""),
        help="ISO date-time to move the clock to at session start (time-machine, ticking)",
    )


def pytest_configure(config: pytest.Config) -> None:
    moment = config.getoption("--clock")
    if moment:
        import time_machine

        when = datetime.fromisoformat(moment)
        if when.tzinfo is None:
            raise pytest.UsageError("--clock needs a time zone offset, e.g. 2028-02-29T08:30:00+01:00")
        traveller = time_machine.travel(when, tick=True)
        traveller.start()
        config.stash[_CLOCK] = traveller


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = config.stash.get(_CLOCK, None)
    if traveller is not None:
        traveller.stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    moment = config.getoption("--clock")
    return f"clock moved to {moment} (ticking)" if moment else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--clock"):
        return
    kept: list[pytest.Item] = []
    moved_out: list[pytest.Item] = []
    for item in items:
        (
            moved_out if item.get_closest_marker("browser") or item.get_closest_marker("deployed") else kept
        ).append(item)
    if moved_out:
        config.hook.pytest_deselected(items=moved_out)
        items[:] = kept


def need(service: str, available: bool, why: str) -> None:
    """Skip a test whose service is missing — or fail, when CI requires services."""
    if available:
        return
    message = f"needs {service}: {why}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (CMSS_REQUIRE_SERVICES=1)")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _clear_rate_limits() -> Iterator[None]:
    # A test that took Redis away leaves this process "in an outage" for a few
    # seconds (cmss/cache.py): the next test starts with Redis believed up.
    from cmss import cache as fail_open_cache

    fail_open_cache.outage.down = False
    fail_open_cache.outage.retry_at = 0.0
    cache.clear()
    yield


@pytest.fixture
def postgres(db: None) -> None:
    need("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL to a PostgreSQL database")


def redis_available() -> bool:
    if not settings.REDIS_URL:
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def redis_server() -> Any:
    need("Redis", redis_available(), "set REDIS_URL to a running Redis")
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which(os.environ.get("CHROMIUM_PATH", "chromium"))
    need("Chromium", path is not None, "install Debian's chromium or set CHROMIUM_PATH")
    assert path is not None
    return path


@pytest.fixture
def celery_worker(transactional_db: None) -> Iterator[Any]:
    """A real Celery worker in a thread, consuming the configured broker."""
    from celery.contrib.testing.worker import start_worker

    from cmss.celery import app

    app.control.purge() if settings.REDIS_URL else None
    with start_worker(
        app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"
    ) as worker:
        yield worker


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Poll until condition() is truthy; fail with a clear message on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


@pytest.fixture
def registered(db: None) -> Any:
    return factories.ClinicianFactory.create(status="registered")


@pytest.fixture
def verified(db: None) -> Any:
    return factories.ClinicianFactory.create(status="verified")


@pytest.fixture
def coordinator(db: None) -> Any:
    return factories.CoordinatorFactory.create()


@pytest.fixture
def agent(db: None) -> Any:
    return factories.StaffFactory.create(role="agents")


@pytest.fixture
def supervisor(db: None) -> Any:
    return factories.StaffFactory.create(role="supervisors")


def sign_in_staff(client: Any, user: Any) -> Any:
    """Sign a staff member in as the admin requires: password and a TOTP code
    used in this session (recorded the way allauth records it)."""
    from allauth.mfa.models import Authenticator

    Authenticator.objects.get_or_create(
        user=user, type=Authenticator.Type.TOTP, defaults={"data": {"secret": "JBSWY3DPEHPK3PXP"}}
    )
    client.force_login(user)
    session = client.session
    session["account_authentication_methods"] = [
        {"method": "password", "at": time.time(), "email": user.email},
        {"method": "mfa", "at": time.time(), "type": "totp"},
    ]
    session["account_authentication_methods_user"] = str(user.pk)
    session.save()
    return client


@pytest.fixture
def agent_client(client: Any, agent: Any) -> Any:
    return sign_in_staff(client, agent)


@pytest.fixture
def supervisor_client(client: Any, supervisor: Any) -> Any:
    return sign_in_staff(client, supervisor)
