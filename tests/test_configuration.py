"""Every environment variable the code reads is documented in .env.example."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_deployment_files import SETTINGS_READS_VARIABLE

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["cmss", "clinicians", "helpdesk", "conferences", "bench", "tests/conftest.py", "tests/settings.py"]


def variables_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for source in SOURCES:
        path = ROOT / source
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for file in files:
            names |= set(SETTINGS_READS_VARIABLE.findall(file.read_text(encoding="utf-8")))
    return names


def documented_variables() -> set[str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def test_every_variable_the_code_reads_is_in_env_example() -> None:
    read = variables_read_by_the_code()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "EMAIL_URL", "STAFF_MFA_REQUIRED"} <= read
    # Set by the test runner or Django itself, not by whoever deploys CMSS.
    internal = {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    assert read - internal - documented_variables() == set()
