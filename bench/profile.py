"""Where a page's time goes, in-process, on the seeded bench database.

    python -m bench.profile [--as anon|clinician|coordinator|agent|supervisor]
                            [-n 200] [--cprofile [N]] PATH [PATH ...]

For each path: app CPU and PostgreSQL CPU per request (from /proc, see bench/cpu.py),
wall p50/p95, queries per request, response size; with --cprofile, the N functions
with the most own time over the run. DATABASE_URL must name the bench database
(make bench seeds it); the settings are production's (DEBUG off, cached templates).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import time
from typing import Any

from bench import run

PEOPLE = ("anon", "clinician", "coordinator", "agent", "supervisor")


def cookie_for(person: str) -> str:
    if person == "anon":
        return ""
    if person == "clinician":
        return run.clinician_session()
    if person == "coordinator":
        from bench import experts

        return run.session_cookie(experts.coordinator().user, with_mfa=False)
    if person == "agent":
        return run.staff_session()[1]
    return run.supervisor_session()


def measure(path: str, cookie: str, requests: int, *, profile: int = 0) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client

    from bench import cpu

    client = Client(HTTP_COOKIE=cookie) if cookie else Client()
    for _ in range(5):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    # Not CaptureQueriesContext: the test client's request_started resets the query log.
    queries: list[str] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        response = client.get(path)
    size = len(response.content)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = int(cursor.fetchone()[0])
    profiler = cProfile.Profile() if profile else None
    timings = []
    app_before, pg_before = time.process_time(), cpu.process_seconds(backend)
    if profiler:
        profiler.enable()
    for _ in range(requests):
        started = time.perf_counter()
        client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
    if profiler:
        profiler.disable()
    app, pg = time.process_time() - app_before, cpu.process_seconds(backend) - pg_before
    result = {
        "app_ms": app * 1000 / requests,
        "pg_ms": pg * 1000 / requests,
        "p50": statistics.median(timings),
        "p95": run.percentile(timings, 0.95),
        "queries": len(queries),
        "bytes": size,
        "sql": queries,
    }
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(profile)
        result["profile"] = out.getvalue()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--as", dest="person", choices=PEOPLE, default="anon")
    parser.add_argument("-n", type=int, default=int(os.environ.get("BENCH_REQUESTS", "200")))
    parser.add_argument("--cprofile", type=int, nargs="?", const=30, default=0)
    parser.add_argument("--sql", action="store_true", help="print the queries of one request")
    arguments = parser.parse_args()
    run.setup_django()
    cookie = cookie_for(arguments.person)
    for path in arguments.paths:
        result = measure(path, cookie, arguments.n, profile=arguments.cprofile)
        print(
            f"{path} as {arguments.person}: app {result['app_ms']:.1f} ms + PostgreSQL {result['pg_ms']:.1f} ms"
            f" CPU/request; wall p50 {result['p50']:.1f} p95 {result['p95']:.1f} ms;"
            f" {result['queries']} queries; {result['bytes'] / 1024:.0f} KB"
        )
        if arguments.sql:
            for sql in result["sql"]:
                print("   ", sql[:400])
        if "profile" in result:
            print(result["profile"])


if __name__ == "__main__":
    main()
