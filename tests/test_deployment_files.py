"""The deployment files: docker-compose.yml follows the Compose specification,
and the Compose file and the Dockerfile agree with what cmss/settings.py reads.

No Docker engine is needed: the files are read and checked as data. The
Compose schema is the one check-jsonschema vendors (a dev dependency).
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SETTINGS_FILE = ROOT / "cmss" / "settings.py"

APP_SERVICES = ("web", "worker", "beat")
BACKING_SERVICES = ("postgres", "redis")
MAIL_CATCHERS = ("mailpit", "mailhog", "mailcatcher", "smtp4dev")

# os.environ.get("X"), os.getenv("X"), os.environ["X"], env_bool("X"), env_list("X")
SETTINGS_READS_VARIABLE = re.compile(
    r"""(?:\b(?:os\.environ\.get|os\.getenv|env_bool|env_list)\(\s*|\bos\.environ\[\s*)["']([A-Z][A-Z0-9_]*)["']"""
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose_validator() -> Validator:
    vendor = files("check_jsonschema") / "builtin_schemas" / "vendor"
    candidates = [entry for entry in vendor.iterdir() if re.fullmatch(r"compose-spec.*\.json", entry.name)]
    assert len(candidates) == 1, f"expected one vendored Compose schema, found {candidates}"
    schema = json.loads(candidates[0].read_text(encoding="utf-8"))
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)


def schema_errors(validator: Validator, document: dict[str, Any]) -> list[str]:
    return sorted(
        f"{'/'.join(str(part) for part in error.absolute_path) or '(top level)'}: {error.message}"
        for error in validator.iter_errors(document)
    )


def variables_settings_read() -> set[str]:
    return set(SETTINGS_READS_VARIABLE.findall(SETTINGS_FILE.read_text(encoding="utf-8")))


def environment_names(service: dict[str, Any]) -> set[str]:
    environment = service.get("environment") or {}
    if isinstance(environment, dict):
        return set(environment)
    return {item.split("=", 1)[0] for item in environment}


def services_built_like_web(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every service that runs the application image: web, worker, beat, migrations."""
    web = compose["services"]["web"]
    return {
        name: service
        for name, service in compose["services"].items()
        if (service.get("build"), service.get("image")) == (web.get("build"), web.get("image"))
    }


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    lines = [
        line
        for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("#")
    ]
    logical = re.sub(r"\\\n", " ", "\n".join(lines))
    instructions = []
    for line in logical.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def command_words_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else list(command)


def command_words(arguments: str) -> list[str]:
    """A CMD's words, in exec (JSON) or shell form."""
    if arguments.startswith("["):
        return json.loads(arguments)
    return shlex.split(arguments)


# --- The Compose specification ---------------------------------------------------


def test_docker_compose_file_follows_the_compose_specification(
    compose: dict[str, Any], compose_validator: Validator
) -> None:
    assert schema_errors(compose_validator, compose) == []


def _ports_as_a_number(document: dict[str, Any]) -> None:
    document["services"]["web"]["ports"] = 12


def _misspelt_top_level_key(document: dict[str, Any]) -> None:
    document["servics"] = document.pop("services")


def _unknown_dependency_condition(document: dict[str, Any]) -> None:
    web = document["services"]["web"]
    web["depends_on"] = {**web["depends_on"], "postgres": {"condition": "service_ready"}}


@pytest.mark.parametrize(
    ("breakage", "error_at"),
    [
        pytest.param(_ports_as_a_number, "services/web/ports", id="ports-as-a-number"),
        pytest.param(_misspelt_top_level_key, "(top level)", id="misspelt-top-level-key"),
        pytest.param(_unknown_dependency_condition, "services/web/depends_on", id="unknown-condition"),
    ],
)
def test_compose_validation_rejects_a_broken_copy_of_the_compose_file(
    compose: dict[str, Any],
    compose_validator: Validator,
    breakage: Callable[[dict[str, Any]], None],
    error_at: str,
) -> None:
    broken = copy.deepcopy(compose)
    breakage(broken)

    errors = schema_errors(compose_validator, broken)

    assert errors, "the broken copy passed validation"
    assert any(error.startswith(error_at) for error in errors), errors


# --- What a deployer would notice ------------------------------------------------


def test_compose_file_runs_web_worker_beat_postgres_redis_and_a_mail_catcher(compose: dict[str, Any]) -> None:
    services = set(compose["services"])

    assert set(APP_SERVICES + BACKING_SERVICES) <= services
    assert services & set(MAIL_CATCHERS), f"no mail catcher among {sorted(services)}"


def test_web_worker_and_beat_run_one_image_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    app = {name: compose["services"][name] for name in APP_SERVICES}
    build = app["web"].get("build")
    context, dockerfile = (
        (build, "Dockerfile")
        if isinstance(build, str)
        else (build["context"], build.get("dockerfile", "Dockerfile"))
    )

    assert (ROOT / context / dockerfile).resolve() == DOCKERFILE
    assert all(service.get("build") == build for service in app.values())
    assert len({service.get("image") for service in app.values()}) == 1
    # Same image, different processes: web keeps the image's gunicorn command.
    assert app["web"].get("command") in (None, [], "") or "gunicorn" in app["web"]["command"]
    assert command_words_of(app["worker"])[:4] == ["celery", "-A", "cmss", "worker"]
    assert command_words_of(app["beat"])[:4] == ["celery", "-A", "cmss", "beat"]


def test_settings_parsing_finds_the_variables_settings_read() -> None:
    # Guards the next test against a pattern that silently matches nothing.
    assert {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"} <= variables_settings_read()


def test_app_services_set_only_environment_variables_that_settings_read(compose: dict[str, Any]) -> None:
    read = variables_settings_read()
    app_services = services_built_like_web(compose)

    assert set(APP_SERVICES) <= set(app_services)
    unread = {name: sorted(environment_names(service) - read) for name, service in app_services.items()}
    assert unread == {name: [] for name in app_services}, f"cmss/settings.py reads none of these: {unread}"


def test_app_services_get_a_database_a_broker_mail_and_a_required_secret_key(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        environment = compose["services"][name]["environment"]

        assert str(environment["DEBUG"]) in {"0", "False", "false"}, name
        assert environment["DATABASE_URL"].startswith("postgres://"), name
        assert environment["REDIS_URL"].startswith("redis://"), name
        assert environment["EMAIL_URL"].startswith("smtp://"), name
        # Taken from the deployer's environment, never written into the file.
        assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]*\}", environment["SECRET_KEY"]), name


def test_services_wait_only_for_services_that_exist_and_report_their_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        depends_on = service.get("depends_on") or {}
        for dependency, condition in depends_on.items() if isinstance(depends_on, dict) else []:
            assert dependency in services, f"{name} depends on missing service {dependency}"
            if condition.get("condition") == "service_healthy":
                assert services[dependency].get("healthcheck", {}).get("test"), (
                    f"{name} waits for {dependency} to be healthy, but it defines no health check"
                )

    for name in APP_SERVICES:
        assert {"postgres", "redis"} <= set(services[name]["depends_on"]), name


def test_dockerfile_exists_and_its_default_command_runs_gunicorn() -> None:
    assert DOCKERFILE.is_file()
    commands = [
        arguments for keyword, arguments in final_stage(dockerfile_instructions()) if keyword == "CMD"
    ]

    assert commands, "the Dockerfile has no CMD"
    words = command_words(commands[-1])
    assert words[0] == "gunicorn"
    assert "cmss.wsgi:application" in words
    assert any(word in {"--bind=0.0.0.0:8000", "0.0.0.0:8000"} for word in words), words


def test_image_runs_as_a_non_root_user_and_checks_its_health_on_healthz() -> None:
    runtime = final_stage(dockerfile_instructions())
    users = [arguments for keyword, arguments in runtime if keyword == "USER"]
    healthchecks = [arguments for keyword, arguments in runtime if keyword == "HEALTHCHECK"]

    assert users, "the image runs as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert len(healthchecks) == 1
    assert "/healthz/" in healthchecks[0]
