"""A registration burst: BENCH_BURST clinicians (500) post "Register" for the same
webinar of BENCH_BURST_SEATS seats (200) at the same moment, over HTTP against gunicorn.

Reports the HTTP outcomes, the registrations in the database (confirmed,
waitlisted, duplicates, waitlist positions), the wall time and the throughput.
Each run makes a fresh webinar, so runs never interfere.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections import Counter
from http.client import HTTPConnection
from typing import Any

BURST = int(os.environ.get("BENCH_BURST", "500"))
SEATS = int(os.environ.get("BENCH_BURST_SEATS", "200"))
# Issue 13: exact, at least 100 registrations/s, p95 latency within 3 s.
TARGET_RATE = 100
TARGET_P95_S = 3.0


def _webinar() -> Any:
    """A published webinar with no provider meeting (the burst measures registration)."""
    from datetime import timedelta

    from django.utils import timezone

    from clinicians.models import ERN, Language
    from conferences.models import Webinar

    now = timezone.now()
    webinar = Webinar.objects.create(
        title=f"Bench burst {now:%Y-%m-%d %H:%M:%S}",
        description="Registration burst of make bench.",
        language=Language.objects.get(code="en"),
        start=now + timedelta(days=7),
        capacity=SEATS,
        state=Webinar.State.PUBLISHED,
        published_at=now,
    )
    webinar.erns.set(ERN.objects.filter(code="ern-lung"))
    return webinar


def _cookies(session_cookie: Any) -> list[tuple[str, str]]:
    """One signed-in verified clinician per request, each with a CSRF cookie and token."""
    from django.middleware.csrf import _get_new_csrf_string

    from clinicians.models import Clinician

    clinicians = list(
        Clinician.objects.filter(status="verified").select_related("user").order_by("pk")[:BURST]
    )
    if len(clinicians) < BURST:
        raise SystemExit(f"The burst needs {BURST} verified clinicians; seed more (BENCH_CLINICIANS).")
    cookies = []
    for clinician in clinicians:
        # The CSRF cookie holds the secret; the header may carry it as the token.
        cookies.append((session_cookie(clinician.user, with_mfa=False), _get_new_csrf_string()))
    return cookies


def run(*, port: int, session_cookie: Any, server: Any = None, application_name: str = "") -> None:
    """The burst against gunicorn on `port`; with its process and the application
    name of its database connections, also the server CPU per registration."""
    from bench import cpu
    from conferences.models import Registration

    webinar = _webinar()
    cookies = _cookies(session_cookie)
    path = f"/webinars/{webinar.pk}/register/"
    barrier = threading.Barrier(BURST)
    statuses: list[int | str] = [0] * BURST
    latencies: list[float] = [0.0] * BURST

    def post(index: int) -> None:
        session, secret = cookies[index]
        connection = HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            barrier.wait()
            started = time.perf_counter()
            connection.request(
                "POST",
                path,
                body="",
                headers={
                    "Cookie": f"{session}; csrftoken={secret}",
                    "X-CSRFToken": secret,
                    "Host": "127.0.0.1",
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            )
            response = connection.getresponse()
            response.read()
            latencies[index] = time.perf_counter() - started
            statuses[index] = response.status
        except OSError as exc:
            statuses[index] = type(exc).__name__
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(BURST)]
    workers = cpu.snapshot(cpu.children(server.pid)) if server else {}
    backends = cpu.snapshot(cpu.postgres_backends(application_name)) if application_name else {}
    for thread in threads:
        thread.start()
    started = time.monotonic()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    app = cpu.spent(workers, cpu.snapshot(cpu.children(server.pid))) if server else 0.0
    db = (
        cpu.spent(backends, cpu.snapshot(cpu.postgres_backends(application_name)))
        if application_name
        else 0.0
    )

    rows = Registration.objects.filter(webinar=webinar)
    outcome = Counter(rows.values_list("status", flat=True))
    people = rows.values("clinician").distinct().count()
    positions = sorted(
        rows.with_position().filter(status="waitlisted").values_list("waitlist_position", flat=True)
    )
    in_order = positions == list(range(1, len(positions) + 1))
    http = Counter(statuses)
    print(f"\nRegistration burst: {BURST} clinicians register at once for {SEATS} seats (gunicorn):")
    print(
        f"  HTTP responses     {dict(sorted(http.items(), key=str))}  (302 = registered, redirected to the page)"
    )
    print(
        f"  registrations      {outcome.get('confirmed', 0)} confirmed, {outcome.get('waitlisted', 0)} waitlisted, "
        f"{rows.count() - people} duplicates; waitlist positions 1..{len(positions)} "
        f"{'without gaps' if in_order else 'WITH GAPS'}"
    )
    expected = outcome.get("confirmed", 0) == min(SEATS, BURST) and rows.count() == people == BURST
    rate, p95 = BURST / elapsed, sorted(latencies)[int(0.95 * (BURST - 1))]
    print(
        f"  wall time          {elapsed:.2f} s  →  {rate:.0f} registrations/s"
        f"  (target >= {TARGET_RATE}: {'met' if rate >= TARGET_RATE else 'MISSED'})"
    )
    print(
        f"  latency            p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms,"
        f" max {max(latencies) * 1000:.0f} ms  (target p95 <= {TARGET_P95_S} s:"
        f" {'met' if p95 <= TARGET_P95_S else 'MISSED'})"
    )
    if server:
        print(
            f"  server CPU         {app * 1000 / BURST:.1f} ms (gunicorn) + {db * 1000 / BURST:.1f} ms (PostgreSQL)"
            " per registration, the email rendering included"
        )
    print(f"  verdict            {'as expected' if expected and in_order else 'NOT AS EXPECTED'}")
