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
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
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
    """A signed-in session as a person has it after a page or two: in the
    session engine's store (the cache too), the privacy statement's acceptance
    already checked (clinicians/middleware.py)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from clinicians.middleware import SESSION_KEY as PRIVACY_KEY
    from clinicians.middleware import current_version

    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    if not user.is_staff and current_version():
        session[PRIVACY_KEY] = current_version()
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


# (name, path, who, tier). Who: anon, clinician, coordinator, agent, supervisor.
# Tiers and their targets (issue 13): server CPU per request as a ratio of the
# landing page's (capacity relative to it: higher is cheaper) and p95 one at a time.
TIERS: dict[str, tuple[float, float | None]] = {
    "public": (0.5, 25),
    "clinician": (0.25, 25),
    "agent": (0.2, 50),
    "admin": (0.1, None),
}
# Per port, so that two benches on one machine never count each other's backends.
APPLICATION_NAME = f"cmss-bench-web-{PORT}"


@dataclass
class Page:
    name: str
    path: str
    who: str
    tier: str
    queries: int = 0
    p50: float = 0.0
    p95: float = 0.0
    rate: float = 0.0
    cpu_app: float = 0.0
    cpu_db: float = 0.0

    @property
    def cpu(self) -> float:
        return self.cpu_app + self.cpu_db


def pages_to_measure() -> tuple[list[Page], dict[str, str]]:
    """The pages of the issue's table, with the people who see them."""
    from bench import experts
    from conferences.models import Conference, Webinar
    from helpdesk.models import Ticket

    coordinator = experts.coordinator()
    viewer_cookie = clinician_session()
    viewer_id = clinician_viewer().pk
    cookies = {
        "anon": "",
        "clinician": viewer_cookie,
        "coordinator": session_cookie(coordinator.user, with_mfa=False),
        "agent": staff_session()[1],
        "supervisor": supervisor_session(),
    }
    webinar = Webinar.objects.filter(state="published").order_by("start").first()
    open_tickets = Ticket.objects.filter(state="open").order_by("pk")
    ticket = open_tickets[open_tickets.count() // 2]
    own_ticket = Ticket.objects.filter(requester_id=viewer_id).order_by("-pk").first()
    conference = Conference.objects.visible_to(coordinator.user).order_by("-pk").first()
    pages = [
        Page("landing page", "/", "anon", "public"),
        Page("webinars", "/webinars/", "anon", "public"),
        Page("webinar page", f"/webinars/{webinar.pk}/" if webinar else "", "anon", "public"),
        Page("webinar feed", "/webinars/feed.ics", "anon", "public"),
        Page("register", "/register/", "anon", "public"),
        Page("privacy", "/privacy/", "anon", "public"),
        Page("contact", "/contact/", "anon", "public"),
        Page("directory name", "/directory/?q=mar", "clinician", "clinician"),
        Page("directory country+lang", "/directory/?country=PT&language=pt", "clinician", "clinician"),
        Page("directory specialty", "/directory/?specialty=1", "clinician", "clinician"),
        Page("directory ERN", "/directory/?ern=ern-lung", "clinician", "clinician"),
        Page("profile", "/profile/", "clinician", "clinician"),
        Page("helpdesk", "/helpdesk/", "clinician", "clinician"),
        Page("own ticket", f"/helpdesk/{own_ticket.pk}/" if own_ticket else "", "clinician", "clinician"),
        Page("conferences", "/conferences/", "coordinator", "clinician"),
        Page(
            "conference page",
            f"/conferences/{conference.pk}/" if conference else "",
            "coordinator",
            "clinician",
        ),
        Page("conference request", "/conferences/request/", "coordinator", "clinician"),
        Page("webinars signed in", "/webinars/", "clinician", "clinician"),
        Page("helpdesk queue", "/admin/helpdesk/ticket/", "agent", "agent"),
        Page("ticket page", f"/admin/helpdesk/ticket/{ticket.pk}/change/", "agent", "agent"),
        Page("admin index", "/admin/", "agent", "admin"),
        Page("admin clinicians", "/admin/clinicians/clinician/", "agent", "admin"),
        Page("admin webinars", "/admin/conferences/webinar/", "agent", "admin"),
        Page("admin conferences", "/admin/conferences/conference/", "agent", "admin"),
        Page("admin hospitals", "/admin/clinicians/hospital/", "agent", "admin"),
        Page("admin emails", "/admin/cmss/outgoingemail/", "supervisor", "admin"),
        Page("admin audit", "/admin/cmss/auditevent/", "supervisor", "admin"),
    ]
    return [page for page in pages if page.path], cookies


def clinician_viewer() -> Any:
    from clinicians.models import Clinician

    viewer = Clinician.objects.filter(status="verified").select_related("user").order_by("pk").first()
    assert viewer is not None
    return viewer.user


def count_queries(page: Page, cookie: str) -> None:
    """Queries of one request, in-process (the same code, the same settings)."""
    from django.db import connection
    from django.test import Client

    client = Client(HTTP_COOKIE=cookie) if cookie else Client()
    client.get(page.path)
    count = [0]

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        count[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        response = client.get(page.path)
    assert response.status_code == 200, (page.path, response.status_code)
    page.queries = count[0]


def one_at_a_time(page: Page, cookie: str, port: int = PORT) -> None:
    """p50 and p95 (ms) of SEQUENTIAL requests on one keep-alive connection to gunicorn."""
    connection = HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": cookie, "Host": "127.0.0.1"}
    timings = []
    for index in range(SEQUENTIAL + 10):
        started = time.perf_counter()
        connection.request("GET", page.path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"{page.path} answered {response.status}")
        if index >= 10:
            timings.append((time.perf_counter() - started) * 1000)
    connection.close()
    page.p50, page.p95 = statistics.median(timings), percentile(timings, 0.95)


def under_load(page: Page, cookie: str, server: subprocess.Popen[bytes], port: int = PORT) -> None:
    """CONCURRENCY keep-alive connections for SECONDS: requests/s, and the server
    CPU per request of gunicorn's workers and their PostgreSQL backends (/proc)."""
    from bench import cpu

    workers = cpu.snapshot(cpu.children(server.pid))
    backends = cpu.snapshot(cpu.postgres_backends(APPLICATION_NAME))
    done, elapsed = load(page.path, cookie, port)
    app = cpu.spent(workers, cpu.snapshot(cpu.children(server.pid)))
    after = cpu.snapshot(cpu.postgres_backends(APPLICATION_NAME))
    db = cpu.spent(backends, after)
    if set(backends) - set(after):
        print(f"    ({len(set(backends) - set(after))} database connections ended during {page.name})")
    page.rate = done / elapsed
    page.cpu_app, page.cpu_db = app * 1000 / max(done, 1), db * 1000 / max(done, 1)


def load(path: str, cookie: str, port: int = PORT) -> tuple[int, float]:
    """(requests answered 200, seconds): wrk when installed, else Python threads
    with keep-alive connections (slower: they share the two cores)."""
    wrk = shutil.which("wrk")
    if wrk:
        result = subprocess.run(  # noqa: S603
            [
                wrk,
                f"-c{CONCURRENCY}",
                "-t2",
                f"-d{SECONDS:.0f}s",
                "-H",
                f"Cookie: {cookie}",
                "-H",
                "Host: 127.0.0.1",
                f"http://127.0.0.1:{port}{path}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        match = re.search(r"(\d+) requests in ([\d.]+)(m?s)", result.stdout)
        assert match is not None, result.stdout
        total = int(match.group(1))
        seconds = float(match.group(2)) / (1000 if match.group(3) == "ms" else 1)
        failed = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
        if failed:
            print(f"    ({failed.group(1)} failed requests on {path})")
            total -= int(failed.group(1))
        return total, seconds
    return python_load(path, cookie, port)


def python_load(path: str, cookie: str, port: int = PORT) -> tuple[int, float]:
    done = [0]
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS

    def hammer() -> None:
        count = 0
        connection = HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop:
            try:
                connection.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1"})
                response = connection.getresponse()
                response.read()
                count += response.status == 200
            except OSError:
                connection.close()
                connection = HTTPConnection("127.0.0.1", port, timeout=30)
        connection.close()
        with lock:
            done[0] += count

    threads = [threading.Thread(target=hammer) for _ in range(CONCURRENCY)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done[0], time.monotonic() - started


def bare_django() -> Page:
    """The bare Django page (bench/bare) under the same load: the reference
    the issue compares the landing page with."""
    page = Page("bare Django page", "/", "anon", "public")
    port = PORT + 1
    server = start_gunicorn(application="bench.bare.wsgi:application", health="/", port=port)
    try:
        one_at_a_time(page, "", port=port)
        under_load(page, "", server, port=port)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return page


def start_gunicorn(
    application: str = "cmss.wsgi:application", health: str = "/healthz/", port: int = PORT
) -> subprocess.Popen[bytes]:
    """gunicorn as the Dockerfile runs it (sync workers, which close each
    connection after its response: wrk's keep-alive then reconnects, as the proxy
    does); the database connections carry an application name so that their
    PostgreSQL backends can be found."""
    workers = str(int(os.environ.get("BENCH_WORKERS", "4")))
    url = os.environ["DATABASE_URL"]
    env = {
        **os.environ,
        # Connections live through the whole run, so that all their CPU is counted.
        "DATABASE_CONN_MAX_AGE": "3600",
        "DATABASE_URL": f"{url}{'&' if '?' in url else '?'}application_name={APPLICATION_NAME}",
    }
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "gunicorn",
            application,
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            workers,
            # The worker class of the Dockerfile (sync): behind the proxy each
            # request comes on a connection of its own, whatever the client keeps.
            "-k",
            os.environ.get("BENCH_WORKER_CLASS", "sync"),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", health, headers={"Host": "127.0.0.1"})
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.3)
    process.terminate()
    sys.exit("gunicorn did not start")


def report(pages: list[Page]) -> None:
    landing = pages[0]
    generator = "wrk" if shutil.which("wrk") else "Python threads (install wrk for less client load)"
    print(
        f"\nPages at {CLINICIANS:,} clinicians and {TICKETS:,} tickets; load average {load_average()}; {generator}:"
    )
    print(
        f"  {'page':24} {'CPU ms/req':>16} {'req/s':>7} {'p50':>6} {'p95':>6} {'queries':>7}"
        f" {'ratio':>6}  target"
    )
    for page in pages:
        ratio = landing.cpu / page.cpu if page.cpu else 0.0
        wanted, p95_target = TIERS[page.tier]
        verdicts = []
        if page.name == "bare Django page":
            verdicts.append("the reference: a startproject page with a 20-row table")
            p95_target = None
        elif page is not landing:
            verdicts.append(f"ratio >= {wanted}: {'met' if ratio >= wanted else 'MISSED'}")
        if p95_target is not None:
            verdicts.append(f"p95 <= {p95_target}: {'met' if page.p95 <= p95_target else 'MISSED'}")
        print(
            f"  {page.name:24} {page.cpu_app:6.1f} + {page.cpu_db:4.1f} db {page.rate:7.0f} {page.p50:6.1f}"
            f" {page.p95:6.1f} {page.queries:7d} {ratio:6.2f}  {'; '.join(verdicts)}"
        )


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def measure_pages(only: list[str] | None = None) -> None:
    """Every page (or, for `python -m bench.run --pages NAME...`, only those whose
    name holds a NAME, with the landing page), then the bare Django page, and the table."""
    pages, cookies = pages_to_measure()
    if only:
        pages = [page for page in pages if page is pages[0] or any(part in page.name for part in only)]
    for page in pages:
        count_queries(page, cookies[page.who])
    server = start_gunicorn()
    try:
        print(f"\nOne request at a time ({SEQUENTIAL} each, one keep-alive connection to gunicorn)...")
        for page in pages:
            one_at_a_time(page, cookies[page.who])
        print(f"{CONCURRENCY} keep-alive connections for {SECONDS:.0f} s each, CPU from /proc...")
        for page in pages:
            under_load(page, cookies[page.who], server)
    finally:
        server.terminate()
        server.wait(timeout=30)
    pages.insert(1, bare_django())
    report(pages)


def main() -> None:
    setup_django()
    if sys.argv[1:2] == ["--pages"]:
        measure_pages(sys.argv[2:])
        return
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
    started = time.perf_counter()
    added = seed.seed_webinars()
    print(f"Seeded {added:,} webinars in {time.perf_counter() - started:.1f} s")
    print(f"In the database: {Clinician.objects.count():,} clinicians, {Ticket.objects.count():,} tickets")
    from bench import experts

    started = time.perf_counter()
    added = experts.seed_history()
    print(f"Seeded {added:,} conferences of expert history in {time.perf_counter() - started:.1f} s")

    measure_pages()

    # Not in the throughput run above: one person asking 16 at a time meets its rate limit.
    experts.time_endpoint(experts.coordinator())
    experts.time_selector()

    from bench import signup_timing

    signup_timing.run()

    from bench import burst

    server = start_gunicorn()
    try:
        burst.run(port=PORT, session_cookie=session_cookie, server=server, application_name=APPLICATION_NAME)
    finally:
        server.terminate()
        server.wait(timeout=30)

    from bench import provider_sync

    provider_sync.run()


if __name__ == "__main__":
    main()
