"""The sync of a big webinar's registrants to the video provider.

BENCH_SYNC_REGISTRANTS (10,000) registrants of one webinar, registered while the
provider webinar exists, are pushed by the worker (pipeline.realise_meeting, run
here in-process as the Celery task would run it, one run after another while it
hands over) to the local backend and to the fake Webex server of the tests (which
checks every request against Cisco's OpenAPI file, WEBEX_OPENAPI_SPEC, default
../shared/webex/webex-meeting.json). For each it reports the wall time of the
registrations (one INSERT each) and of the sync, the worker runs it took (a run
hands over to a fresh task after sync.SYNC_BUDGET), the HTTP requests made,
and that a second sync makes none.

Run alone as `python -m bench.provider_sync` (DATABASE_URL naming a PostgreSQL
database that may be filled with benchmark rows; make bench runs it last).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

REGISTRANTS = int(os.environ.get("BENCH_SYNC_REGISTRANTS", "10000"))
ROOT = Path(__file__).resolve().parent.parent


def openapi_file() -> Path:
    """WEBEX_OPENAPI_SPEC (relative to the repository, as in the tests), or ../shared/webex/."""
    spec = Path(os.environ.get("WEBEX_OPENAPI_SPEC") or ROOT.parent / "shared/webex/webex-meeting.json")
    return spec if spec.is_absolute() else ROOT / spec


@contextmanager
def fake_webex() -> Iterator[Any]:
    """The tests' fake Webex server, on a free port, with the backend pointed at it."""
    import json

    from django.conf import settings

    from tests.conferences.fake_webex import FakeWebex, WebexOpenAPI, _handler_for

    fake = FakeWebex(WebexOpenAPI(json.loads(openapi_file().read_text(encoding="utf-8"))))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
    server.daemon_threads = True
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    saved = {name: getattr(settings, name, None) for name in ("WEBEX_BASE_URL", "WEBEX_ACCESS_TOKEN")}
    settings.WEBEX_BASE_URL = fake.base_url
    settings.WEBEX_ACCESS_TOKEN = fake.access_token
    try:
        with backend("conferences.video.webex.WebexBackend"):
            yield fake
    finally:
        for name, value in saved.items():
            setattr(settings, name, value)
        fake.release.set()
        server.shutdown()
        server.server_close()


@contextmanager
def backend(path: str) -> Iterator[None]:
    from django.conf import settings

    from conferences.video import _backend_class

    saved = settings.VIDEO_BACKEND
    settings.VIDEO_BACKEND = path
    _backend_class.cache_clear()
    try:
        yield
    finally:
        settings.VIDEO_BACKEND = saved
        _backend_class.cache_clear()


def sync(name: str, requests: Any) -> None:
    """One webinar of REGISTRANTS registrants, created on the current backend, then synced."""
    from django.db import transaction
    from django.utils import timezone

    from conferences.meetings import pipeline
    from conferences.models import ProviderMeeting
    from conferences.video import Invitee

    now = timezone.now()
    start = now + timedelta(days=7)
    # The worker is driven here, run after run; the tasks it would enqueue are counted.
    with mock.patch("conferences.tasks.realise_meeting.apply_async") as enqueued:
        meeting = pipeline.request_meeting(
            key=f"bench-{name.split()[0].lower()}-{now:%Y%m%d%H%M%S%f}",
            kind=ProviderMeeting.Kind.WEBINAR,
            title="Bench: a 10,000-seat webinar",
            start=start,
            end=start + timedelta(hours=1),
            time_zone="Europe/Brussels",
        )
        assert pipeline.realise_meeting(meeting_id=meeting.pk) == "created"
        stamp = f"{now:%H%M%S%f}"
        started = time.perf_counter()
        for number in range(REGISTRANTS):
            with transaction.atomic():  # one registration, one transaction
                pipeline.add_meeting_invitee(
                    meeting=meeting,
                    invitee=Invitee(
                        email=f"bench-{stamp}-{number}@hospital.example.org",
                        name=f"Bench Registrant {number}",
                        registrant=True,
                    ),
                )
        registered = time.perf_counter() - started
        before = requests()
        started = time.perf_counter()
        runs = 0
        while not meeting.in_sync():
            state = pipeline.realise_meeting(meeting_id=meeting.pk)
            runs += 1
            if state is None or runs > 1000:
                raise SystemExit(f"{name}: the sync stopped with work left (run {runs}: {state})")
        elapsed = time.perf_counter() - started
        made = requests() - before
        again = requests()
        second = pipeline.realise_meeting(meeting_id=meeting.pk)
        repeated = requests() - again
    meeting.refresh_from_db()
    print(f"  {name}:")
    print(f"    {REGISTRANTS:,} registrations written    {registered:6.1f} s (one transaction each)")
    print(
        f"    sync to the provider         {elapsed:6.1f} s in {runs} worker run(s) "
        f"({REGISTRANTS / elapsed:,.0f} registrants/s), {made:,} HTTP requests"
    )
    print(
        f"    a second sync                {'nothing to do' if second is None else second}, "
        f"{repeated} HTTP requests; meeting {'in sync' if meeting.in_sync() else 'NOT IN SYNC'}, "
        f"{enqueued.call_count} task(s) enqueued on the way"
    )


def run() -> None:
    from cmss import jobs
    from conferences.meetings import sync as syncing

    print(
        f"\nProvider sync: {REGISTRANTS:,} registrants of one webinar pushed by the worker "
        f"(lease {jobs.policy().lease.total_seconds():.0f} s, a run hands over after "
        f"{syncing.SYNC_BUDGET.total_seconds():.0f} s):"
    )
    with backend("conferences.video.local.LocalBackend"):
        sync("local backend", lambda: 0)
    if not openapi_file().is_file():
        print(f"  fake Webex: skipped, no OpenAPI file at {openapi_file()} (set WEBEX_OPENAPI_SPEC)")
        return
    with fake_webex() as fake:
        sync("fake Webex (every request checked against the OpenAPI file)", lambda: len(fake.requests))


def main() -> None:
    from bench import run as bench

    bench.setup_django()
    bench.prepare()
    run()


if __name__ == "__main__":
    main()
