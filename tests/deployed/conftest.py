"""The deployed stack, started once for the tests under tests/deployed/.

    Chromium ──HTTP──▶ proxy (X-Forwarded-For, X-Forwarded-Proto: https)
                        └──▶ gunicorn (the Dockerfile's CMD, production settings, DEBUG off)
    Celery worker and beat (production settings) ──▶ aiosmtpd on loopback, fake Webex

All of them share pytest-django's test database (the subprocesses get its name in
DATABASE_URL; the tests use `transactional_db`, so what they write is committed) and the
Redis database of the test settings (broker and cache, so the rate limits that gunicorn
counts are the ones the tests clear).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections

from tests.conferences.fake_webex import FakeWebex, WebexOpenAPI, _handler_for, webex_openapi  # noqa: F401
from tests.conftest import need, redis_available
from tests.deployed.chromium import ChromiumThread
from tests.deployed.mailbox import Mailbox, SMTPServer, free_port
from tests.deployed.processes import Service, dockerfile_cmd, replace_options
from tests.deployed.proxy import CLIENT_HEADER, ReverseProxy

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

REPOSITORY = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Variables a container would also have; nothing else of the test run's environment
# (DJANGO_SETTINGS_MODULE=tests.settings, HTTPS=0, …) reaches the processes.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")

DEPLOYMENT_KEY = pytest.StashKey["Deployment"]()
LOG_OFFSETS_KEY = pytest.StashKey[dict[str, int]]()
CHROMIUM_KEY = pytest.StashKey[ChromiumThread]()


@dataclass
class Deployment:
    proxy: ReverseProxy
    mailbox: Mailbox
    webex: FakeWebex
    services: dict[str, Service]
    browser: Browser | None = None
    contexts: list[BrowserContext] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Where the browser goes: the proxy, over plain HTTP."""
        return self.proxy.url

    @property
    def public_url(self) -> str:
        """SITE_URL: what the application believes it is served at."""
        return self.proxy.public_url

    def browse(self, link: str) -> str:
        """A link from an email, as the browser opens it: the public https:// origin is
        the proxy (the TLS hop that this proxy stands in for)."""
        assert link.startswith(self.public_url + "/"), f"{link} is not on SITE_URL {self.public_url}"
        return self.url + link.removeprefix(self.public_url)

    def page(
        self,
        *,
        client: str,
        forwarded_for: str | None = None,
        desktop: bool = False,
        timezone_id: str = "Europe/Lisbon",
    ) -> Page:
        """A new browser (context) whose requests reach the proxy from `client`, with a
        forged X-Forwarded-For header of its own when `forwarded_for` is given."""
        assert self.browser is not None
        headers = {CLIENT_HEADER: client}
        if forwarded_for is not None:
            headers["X-Forwarded-For"] = forwarded_for
        context = self.browser.new_context(
            viewport={"width": 1280, "height": 900} if desktop else {"width": 390, "height": 844},
            timezone_id=timezone_id,
            extra_http_headers=headers,
        )
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20000)
        page.on("pageerror", lambda error: self.problems.append(f"{page.url}: script error {error}"))
        page.on(
            "console",
            lambda message: (
                self.problems.append(f"{page.url}: {message.text}")
                if message.type == "error" and "Content Security Policy" in message.text
                else None
            ),
        )
        page.on(
            "response",
            lambda response: (
                self.problems.append(f"{response.request.method} {response.url} answered {response.status}")
                if response.status >= 500
                else None
            ),
        )
        return page

    def reset(self) -> None:
        self.mailbox.clear()
        self.proxy.forwarded.clear()
        self.problems.clear()
        with self.webex.lock:
            self.webex.meetings.clear()
            self.webex.invitees.clear()
            self.webex.registrants.clear()
            self.webex.requests.clear()

    def close_pages(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()


def _database_url() -> str:
    """The test database (test_<name>), as a URL for the subprocesses."""
    db = connection.settings_dict
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    return f"postgres://{credentials}{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.fixture(scope="package")
def chromium(chromium_path: str) -> Iterator[ChromiumThread]:
    thread = ChromiumThread(chromium_path)
    yield thread
    thread.stop()


@pytest.fixture(scope="package")
def deployment(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Deployment]:
    """Start everything once for the package; stop it after its last test."""
    need(
        "PostgreSQL",
        connection.vendor == "postgresql",
        "the web server, the worker and beat share the test database: set DATABASE_URL to PostgreSQL",
    )
    need("Redis", redis_available(), "the processes share the broker and the cache: set REDIS_URL")
    openapi: WebexOpenAPI = request.getfixturevalue("webex_openapi")
    import redis

    # Tasks left by earlier tests would be run against rows that no longer exist.
    redis.Redis.from_url(settings.REDIS_URL).flushdb()

    root = tmp_path_factory.mktemp("deployed")
    (root / "var").mkdir()
    with contextlib.ExitStack() as running:
        smtp = SMTPServer()
        smtp.start()
        running.callback(smtp.stop)
        webex = FakeWebex(openapi)
        running.enter_context(_serving(webex))
        gunicorn_port = free_port()
        proxy = ReverseProxy("127.0.0.1", gunicorn_port)
        env = _environment(root=root, site_url=proxy.public_url, email_url=smtp.url, webex=webex)
        # WhiteNoise's manifest storage needs the collected files, as the image build makes them.
        collected = subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput"],
            cwd=REPOSITORY,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert collected.returncode == 0, f"collectstatic failed:\n{collected.stdout}\n{collected.stderr}"
        running.callback(shutil.rmtree, root / "static", ignore_errors=True)

        services = _services(root=root, env=env, gunicorn_port=gunicorn_port)
        for service in services.values():
            service.start()
            running.callback(service.stop)
        proxy.start()
        running.callback(proxy.stop)
        services["worker"].wait_for_log(r"\bready\.")
        services["beat"].wait_for_log(r"beat: Starting")
        services["gunicorn"].wait_until(
            lambda: _healthy(proxy.url), "an answer from /healthz/ through the proxy"
        )
        yield Deployment(proxy=proxy, mailbox=smtp.mailbox, webex=webex, services=services)


def _environment(*, root: Path, site_url: str, email_url: str, webex: FakeWebex) -> dict[str, str]:
    """Production settings, as the container gets them, pointed at the test's services."""
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
            # As in the Dockerfile: the code runs from the checkout, production settings.
            "PYTHONPATH": str(REPOSITORY),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "DJANGO_SETTINGS_MODULE": "cmss.settings",
            "CMSS_VAR_DIR": str(root / "var"),
            "STATIC_ROOT": str(root / "static"),
            "DEBUG": "0",
            "HTTPS": "1",
            "SECRET_KEY": f"deployed-tier-{uuid.uuid4().hex}{uuid.uuid4().hex}",
            "ALLOWED_HOSTS": "localhost,127.0.0.1",
            "SITE_URL": site_url,
            "TRUSTED_PROXY_COUNT": "1",
            "DATABASE_URL": _database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "EMAIL_URL": email_url,
            "VIDEO_BACKEND": "conferences.video.webex.WebexBackend",
            "WEBEX_BASE_URL": webex.base_url,
            "WEBEX_ACCESS_TOKEN": webex.access_token,
            "WEBEX_TIMEOUT": "5",
            "LOG_LEVEL": "INFO",
        }
    )
    return env


def _services(*, root: Path, env: dict[str, str], gunicorn_port: int) -> dict[str, Service]:
    """gunicorn with the Dockerfile's CMD (only --bind and --workers differ), the worker, beat."""
    command = dockerfile_cmd()
    assert command[0] == "gunicorn", command
    gunicorn = [
        str(BIN / "gunicorn"),
        *replace_options(command[1:], {"--bind": f"127.0.0.1:{gunicorn_port}", "--workers": "2"}),
    ]
    celery = str(BIN / "celery")
    worker = [
        celery,
        "-A",
        "cmss",
        "worker",
        "--loglevel=INFO",
        "--pool=solo",
        "--without-gossip",
        "--without-mingle",
        f"--hostname=deployed-{uuid.uuid4().hex[:8]}@%h",
    ]
    beat = [celery, "-A", "cmss", "beat", "--loglevel=INFO", "--schedule", str(root / "celerybeat-schedule")]
    return {
        name: Service(name, argv, env=env, cwd=REPOSITORY, log=root / f"{name}.log")
        for name, argv in (("gunicorn", gunicorn), ("worker", worker), ("beat", beat))
    }


@contextlib.contextmanager
def _serving(webex: FakeWebex) -> Iterator[None]:
    """The fake Webex server (tests/conferences/fake_webex.py) for the whole package."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(webex))
    server.daemon_threads = True
    webex.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        webex.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz/", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture
def deployed(
    deployment: Deployment, chromium: ChromiumThread, transactional_db: None, request: pytest.FixtureRequest
) -> Iterator[Deployment]:
    """The running stack for one test: every process alive, the mailbox, the proxy's
    record and the fake Webex emptied; the part of each log this test wrote is shown
    when it fails."""
    for name, service in deployment.services.items():
        if not service.running:
            pytest.fail(f"{name} exited ({service.exit_code}):\n{service.log()[-6000:]}")
    deployment.reset()
    deployment.browser = chromium.browser
    request.node.stash[DEPLOYMENT_KEY] = deployment
    request.node.stash[LOG_OFFSETS_KEY] = {name: s.log_size() for name, s in deployment.services.items()}
    request.node.stash[CHROMIUM_KEY] = chromium
    yield deployment
    chromium.run(deployment.close_pages)
    for name, service in deployment.services.items():
        if not service.running:
            pytest.fail(f"{name} exited during the test ({service.exit_code}):\n{service.log()[-6000:]}")


@pytest.fixture(autouse=True)
def _clear_rate_limits() -> Iterator[None]:
    """Overrides tests/conftest.py's: clear the cache's keys only. cache.clear() flushes
    the whole Redis database, the broker's queue bindings with it, which the running
    worker and web processes rely on."""
    if settings.REDIS_URL and redis_available():
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(match=cache.make_key("*"), count=500):
            client.delete(key)
    else:
        cache.clear()
    yield


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a test that drives this tier's Chromium in the Chromium thread (see chromium.py)."""
    chromium = pyfuncitem.stash.get(CHROMIUM_KEY, None)
    if chromium is None:
        return None
    names = inspect.signature(pyfuncitem.obj).parameters
    arguments = {name: pyfuncitem.funcargs[name] for name in names}

    def call() -> None:
        try:
            pyfuncitem.obj(**arguments)
        finally:
            connections.close_all()  # this thread's own database connections

    chromium.run(call)
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    deployment = item.stash.get(DEPLOYMENT_KEY, None)
    if deployment is not None and report.failed:
        offsets = item.stash.get(LOG_OFFSETS_KEY, {})
        for name, service in deployment.services.items():
            text = service.log(offsets.get(name, 0))
            report.sections.append((f"{name} log ({report.when})", text[-30000:] or "(nothing)"))
        if deployment.problems:
            report.sections.append(("browser problems", "\n".join(deployment.problems)))
    return report
