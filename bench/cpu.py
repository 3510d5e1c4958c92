"""Server CPU time read from /proc: what a page costs, whatever else the machine is doing.

Wall-clock timings on a two-core machine shared with the load generator say more
about the load generator than about the page. The kernel's per-process counters
(utime + stime in /proc/<pid>/stat) count only the CPU the web workers and their
PostgreSQL backends spent, so the same page costs the same in a quiet run and in
a busy one, near enough.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def process_seconds(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name, in parentheses, may hold spaces: count fields after it.
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / TICKS


def total_seconds(pids: Iterable[int]) -> float:
    return sum(process_seconds(pid) for pid in pids)


def snapshot(pids: Iterable[int]) -> dict[int, float]:
    return {pid: process_seconds(pid) for pid in pids}


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two snapshots: a process that appeared in between
    counts whole; one that ended in between loses its last part (keep them alive)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items() if seconds)


def children(pid: int) -> list[int]:
    """The direct children of a process (gunicorn's workers)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def postgres_backends(application_name: str) -> list[int]:
    """The PostgreSQL backends serving connections that gave this application name."""
    import psycopg
    from django.conf import settings

    database = settings.DATABASES["default"]
    with psycopg.connect(
        host=database["HOST"] or None,
        port=database["PORT"] or None,
        user=database["USER"] or None,
        password=database["PASSWORD"] or None,
        dbname=database["NAME"],
        autocommit=True,
    ) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [application_name]
        ).fetchall()
    return [int(row[0]) for row in rows]
