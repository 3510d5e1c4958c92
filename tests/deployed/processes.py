"""The CMSS processes as subprocesses: gunicorn with the Dockerfile's flags, the Celery
worker and beat; each logs to a file that a failing test shows."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tests.test_deployment_files import command_words, dockerfile_instructions, final_stage


def dockerfile_cmd() -> list[str]:
    """The words of the Dockerfile's CMD (its last, in the final stage: the one Docker runs),
    read with the parser that tests/test_deployment_files.py checks the Dockerfile with."""
    commands = [
        arguments for keyword, arguments in final_stage(dockerfile_instructions()) if keyword == "CMD"
    ]
    assert commands, "the Dockerfile has no CMD"
    return command_words(commands[-1])


def replace_options(argv: Sequence[str], replacements: Mapping[str, str]) -> list[str]:
    """argv with the value of each `--name=value` in `replacements` replaced; every one
    must be there, so a change to the Dockerfile's flags cannot pass unnoticed."""
    result, missing = [], set(replacements)
    for arg in argv:
        name = arg.split("=", 1)[0]
        if name in replacements:
            result.append(f"{name}={replacements[name]}")
            missing.discard(name)
        else:
            result.append(arg)
    assert not missing, f"the CMD has no {sorted(missing)} in the --name=value form: {list(argv)}"
    return result


class Service:
    """One subprocess in a session of its own (so that stopping it stops its children),
    its stdout and stderr in one log file."""

    def __init__(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log(self, since: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(
                    f"{self.name} exited ({self.exit_code}) before {what}:\n{self.log()[-6000:]}"
                )
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: no {what} within {timeout} s:\n{self.log()[-6000:]}")

    def wait_for_log(self, pattern: str, timeout: float = 60.0) -> None:
        self.wait_until(
            lambda: re.search(pattern, self.log()) is not None, f"{pattern!r} in its log", timeout
        )

    @property
    def exit_code(self) -> int | None:
        return self.process.poll() if self.process is not None else None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to its process group, SIGKILL after `timeout` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        group = os.getpgid(self.process.pid)
        os.killpg(group, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait(timeout=5)
