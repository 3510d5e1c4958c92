"""`make bench`: seed PostgreSQL at production scale and measure the pages that matter.

Run as `python -m bench.run` (make bench). It needs DATABASE_URL to name a
PostgreSQL database that may be filled with benchmark data (make bench uses
cmss_bench on 127.0.0.1). It reports, in one run:

- seeding time of 100,000 clinicians, and of 100,000 tickets with 200,000 messages;
- the helpdesk queue, the ticket page, the directory and the request form's expert
  suggestions (/conferences/experts/): median and 95th-percentile server time one
  request at a time (in-process, the full middleware stack);
- the expert suggestions' selector (bench/experts.py, also `python -m bench.experts`):
  p50 and p95 of conferences.experts.suggest_experts over a round of requests, with
  the bench people's time zones and a history of conferences seeded;
- throughput under 16 concurrent connections against gunicorn, as a ratio to
  the landing page's throughput measured the same way;
- sign-up timing (bench/signup_timing.py): the median server time of a sign-up
  for a new address and for a registered one, which must not tell them apart;
- a registration burst (bench/burst.py): 500 clinicians register at once for a
  webinar of 200 seats over HTTP; outcome counts and throughput;
- the provider sync (bench/provider_sync.py, also `python -m bench.provider_sync`):
  10,000 registrants of one webinar pushed by the worker to the local backend and
  to the fake Webex server; wall time, HTTP requests, and none on a second sync.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmss.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-not-for-production")
os.environ.setdefault("HTTPS", "0")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("STATIC_ROOT", str(ROOT / "var" / "bench-static"))
os.environ.setdefault("LOG_LEVEL", "WARNING")
# Without Redis the outbox's tasks go to a filesystem queue: the bench's own, never
# the one `make run` consumes (its email ids are the bench database's).
os.environ.setdefault("CMSS_VAR_DIR", str(ROOT / "var" / "bench"))

TICKETS = int(os.environ.get("BENCH_TICKETS", "100000"))
CLINICIANS = int(os.environ.get("BENCH_CLINICIANS", "100000"))
SEQUENTIAL = int(os.environ.get("BENCH_REQUESTS", "200"))
CONCURRENCY = 16
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
PORT = int(os.environ.get("BENCH_PORT", "8765"))


def setup_django() -> None:
    import django

    django.setup()
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        sys.exit("make bench needs DATABASE_URL to name a PostgreSQL database.")


def prepare() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)


def session_cookie(user: Any, *, with_mfa: bool) -> str:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    if with_mfa:
        now = time.time()
        session["account_authentication_methods"] = [
            {"method": "password", "at": now},
            {"method": "mfa", "at": now},
        ]
        session["account_authentication_methods_user"] = str(user.pk)
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def clinician_session() -> str:
    """A verified clinician's session, for the directory."""
    from clinicians.models import Clinician

    viewer = Clinician.objects.filter(status="verified").select_related("user").order_by("pk").first()
    assert viewer is not None, "the seeded database has verified clinicians"
    return session_cookie(viewer.user, with_mfa=False)


def staff_session() -> tuple[Any, str]:
    """A signed-in agent's session, with the TOTP step recorded as allauth does."""
    from allauth.mfa.models import Authenticator
    from django.contrib.auth.models import Group

    from cmss import roles
    from cmss.models import User

    agent, _created = User.objects.get_or_create(
        email="bench-agent@cmss.example.org", defaults={"is_staff": True, "display_name": "Bench Agent"}
    )
    agent.groups.add(Group.objects.get(name=roles.AGENTS))
    Authenticator.objects.get_or_create(
        user=agent, type=Authenticator.Type.TOTP, defaults={"data": {"secret": "x"}}
    )
    return agent, session_cookie(agent, with_mfa=True)


def supervisor_session() -> str:
    """A signed-in supervisor's session, with the TOTP step recorded."""
    from allauth.mfa.models import Authenticator
    from django.contrib.auth.models import Group

    from cmss import roles
    from cmss.models import User

    supervisor, _created = User.objects.get_or_create(
        email="bench-supervisor@cmss.example.org",
        defaults={"is_staff": True, "display_name": "Bench Supervisor"},
    )
    supervisor.groups.add(Group.objects.get(name=roles.SUPERVISORS))
    Authenticator.objects.get_or_create(
        user=supervisor, type=Authenticator.Type.TOTP, defaults={"data": {"secret": "x"}}
    )
    return session_cookie(supervisor, with_mfa=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def sequential(path: str, cookie: str) -> tuple[float, float]:
    """Median and p95 server time (ms), one request at a time, in-process."""
    from django.test import Client

    client = Client(HTTP_COOKIE=cookie) if cookie else Client()
    for _ in range(10):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    timings = []
    for _ in range(SEQUENTIAL):
        started = time.perf_counter()
        client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), percentile(timings, 0.95)


def throughput(path: str, cookie: str) -> float:
    """Requests per second with CONCURRENCY connections hammering gunicorn."""
    done = [0]
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS

    def hammer() -> None:
        count = failures = 0
        while time.monotonic() < stop:
            connection = HTTPConnection("127.0.0.1", PORT, timeout=30)
            try:
                connection.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1"})
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    count += 1
                else:
                    failures += 1
            except OSError:
                failures += 1
            finally:
                connection.close()
        with lock:
            done[0] += count
            errors[0] += failures

    threads = [threading.Thread(target=hammer) for _ in range(CONCURRENCY)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if errors[0]:
        print(f"    ({errors[0]} failed requests on {path})")
    return done[0] / elapsed


def start_gunicorn() -> subprocess.Popen[bytes]:
    workers = str(int(os.environ.get("BENCH_WORKERS", str(2 * (os.cpu_count() or 1)))))
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "gunicorn",
            "cmss.wsgi:application",
            "-b",
            f"127.0.0.1:{PORT}",
            "-w",
            workers,
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = HTTPConnection("127.0.0.1", PORT, timeout=1)
            connection.request("GET", "/healthz/")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.3)
    process.terminate()
    sys.exit("gunicorn did not start")


def main() -> None:
    setup_django()
    prepare()
    from bench import seed
    from clinicians.models import Clinician
    from helpdesk.models import Ticket

    started = time.perf_counter()
    added_clinicians = seed.seed_clinicians(CLINICIANS)
    print(f"Seeded {added_clinicians:,} clinicians in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    added = seed.seed_tickets(TICKETS, messages_per_ticket=2)
    print(f"Seeded {added:,} tickets (+{2 * added:,} messages) in {time.perf_counter() - started:.1f} s")
    print(f"In the database: {Clinician.objects.count():,} clinicians, {Ticket.objects.count():,} tickets")
    from bench import experts

    started = time.perf_counter()
    added = experts.seed_history()
    print(f"Seeded {added:,} conferences of expert history in {time.perf_counter() - started:.1f} s")
    coordinator = experts.coordinator()

    _agent, staff_cookie = staff_session()
    viewer_cookie = clinician_session()
    open_tickets = Ticket.objects.filter(state="open").order_by("pk")
    ticket = open_tickets[open_tickets.count() // 2]
    # name: (path, session cookie, target p95 in ms, target throughput ratio to the landing page)
    pages: dict[str, tuple[str, str, float | None, float | None]] = {
        "landing page": ("/", "", None, None),
        "helpdesk queue": ("/admin/helpdesk/ticket/", staff_cookie, 150, 0.3),
        "ticket page": (f"/admin/helpdesk/ticket/{ticket.pk}/change/", staff_cookie, 150, 0.3),
        "directory search": ("/directory/?q=mar", viewer_cookie, 100, 0.5),
        "directory filters": ("/directory/?q=ros&country=IT&language=it", viewer_cookie, 100, 0.5),
    }

    print(f"\nOne request at a time ({SEQUENTIAL} requests each), server time in ms:")
    for name, (path, cookie, p95_target, _ratio) in pages.items():
        median, p95 = sequential(path, cookie)
        verdict = (
            ""
            if p95_target is None
            else f"  (target p95 <= {p95_target} ms: {'met' if p95 <= p95_target else 'MISSED'})"
        )
        print(f"  {name:17} p50 {median:7.1f}   p95 {p95:7.1f}{verdict}")
    # Not in the throughput run below: one person asking 16 at a time meets its rate limit.
    experts.time_endpoint(coordinator)
    experts.time_selector()

    print(f"\nThroughput with {CONCURRENCY} concurrent connections for {SECONDS:.0f} s each (gunicorn):")
    server = start_gunicorn()
    try:
        rates = {name: throughput(path, cookie) for name, (path, cookie, _p95, _ratio) in pages.items()}
    finally:
        server.terminate()
        server.wait(timeout=30)
    for name, rate in rates.items():
        ratio, wanted = rate / rates["landing page"], pages[name][3]
        verdict = (
            ""
            if wanted is None
            else f"  ratio {ratio:.2f} (target >= {wanted}: {'met' if ratio >= wanted else 'MISSED'})"
        )
        print(f"  {name:17} {rate:7.1f} requests/s{verdict}")

    from bench import signup_timing

    signup_timing.run()

    from bench import burst

    server = start_gunicorn()
    try:
        burst.run(port=PORT, session_cookie=session_cookie)
    finally:
        server.terminate()
        server.wait(timeout=30)

    from bench import provider_sync

    provider_sync.run()


if __name__ == "__main__":
    main()
