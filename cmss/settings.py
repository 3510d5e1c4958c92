"""CMSS settings: one module, read from environment variables.

Development defaults are safe to run on a laptop (SQLite under var/, emails to
the console, a broker that needs no server); production differs only by
environment (see .env.example for every variable).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CMSS_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "development-only-insecure-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Served over HTTPS (behind a TLS-terminating proxy): secure cookies, HSTS.
HTTPS = env_bool("HTTPS", default=not DEBUG)

INSTALLED_APPS = [
    "cmss",
    "clinicians",
    "helpdesk",
    "conferences",
    "demo",
    "cmss.sites.AdminConfig",  # django.contrib.admin, its site from cmss/sites.py
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",  # allauth's sessions page
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "phonenumber_field",
    "django_countries",
    "csp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "cmss.middleware.UserPreferencesMiddleware",
    "cmss.middleware.RefuseNulBytesMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # After authentication: records activity on a user session when
    # USERSESSIONS_TRACK_ACTIVITY is on (it is not, see below).
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "cmss.middleware.StaffTwoFactorMiddleware",
    "clinicians.middleware.PrivacyAcceptanceMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "cmss.middleware.PrivatePagesMiddleware",
]

ROOT_URLCONF = "cmss.urls"
WSGI_APPLICATION = "cmss.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cmss.context_processors.site",
                # {% csrf_token %} writes a sentinel while a visitor's page is built to be cached.
                "cmss.pagecache.csrf_sentinel",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # Seconds a worker keeps its database connection (health-checked before reuse).
    CONN_MAX_AGE = int(os.environ.get("DATABASE_CONN_MAX_AGE", "60"))
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=CONN_MAX_AGE, conn_health_checks=True)
    }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "cmss.sqlite3"),
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the worker and beat read while one writes; a
    # busy timeout and IMMEDIATE transactions make writers wait instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
# Every view runs in one transaction: the rows a request writes and the
# outbox rows it queues commit together or not at all.
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery ------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            # Fails open: a Redis outage logs an error instead of breaking sign-in.
            "BACKEND": "cmss.cache.FailOpenRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    # How long a task may sit unacknowledged before Redis hands it to another
    # worker: cmss/jobs.py never schedules further ahead than this.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {"visibility_timeout": 3600}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # No Redis: kombu's filesystem transport gives the demo a real queue that
    # the web server, the worker and beat share without any server.
    CELERY_BROKER_URL = "filesystem://"
    _queue_dir = VAR_DIR / "celery-queue"
    _processed_dir = VAR_DIR / "celery-processed"
    _control_dir = VAR_DIR / "celery-control"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "control_folder": str(_control_dir),
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "store_processed": False,
    }
    for _folder in (_queue_dir, _processed_dir, _control_dir):
        _folder.mkdir(parents=True, exist_ok=True)

CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request must not hang on a dead broker: publish fails fast, the row
# stays queued and the outbox sweeper enqueues it later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "sweep-outbox": {"task": "cmss.tasks.sweep_outbox", "schedule": 60.0},
    "sweep-meetings": {"task": "conferences.tasks.sweep_meetings", "schedule": 60.0},
    "send-reminders": {"task": "conferences.tasks.send_reminders", "schedule": 300.0},
    "close-resolved-tickets": {"task": "helpdesk.tasks.close_resolved_tickets", "schedule": 3600.0},
    "apply-retention": {"task": "cmss.tasks.apply_retention", "schedule": 6 * 3600.0},
    "clear-sessions": {"task": "cmss.tasks.clear_sessions", "schedule": 24 * 3600.0},
}

# --- Email ----------------------------------------------------------------------


def parse_email_url(url: str) -> dict[str, object]:
    """Turn EMAIL_URL (console://, smtp://host:port, smtp+tls://user:pass@host:587,
    smtp+ssl://…, locmem://, dummy://) into Django email settings."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    simple = {
        "console": "django.core.mail.backends.console.EmailBackend",
        "locmem": "django.core.mail.backends.locmem.EmailBackend",
        "dummy": "django.core.mail.backends.dummy.EmailBackend",
    }
    if scheme in simple:
        return {"EMAIL_BACKEND": simple[scheme]}
    if scheme not in {"smtp", "smtp+tls", "smtp+ssl", "smtps"}:
        raise ImproperlyConfigured(f"EMAIL_URL scheme {scheme!r} is not supported.")
    use_ssl = scheme in {"smtp+ssl", "smtps"}
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname or "localhost",
        "EMAIL_PORT": parts.port or (465 if use_ssl else 587 if scheme == "smtp+tls" else 25),
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": scheme == "smtp+tls",
        "EMAIL_USE_SSL": use_ssl,
    }


globals().update(parse_email_url(os.environ.get("EMAIL_URL", "console://")))
EMAIL_TIMEOUT = 15
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "CMSS Helpdesk <helpdesk@cmss.example.org>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Row-first background work (the outbox, provider meetings; cmss/jobs.py):
# attempts before a row fails for good, how long a worker may hold a claimed
# row before the sweeper gives it to another, the first and the longest wait
# between attempts, and how long a fresh row waits for its own task.
JOBS_MAX_ATTEMPTS = 8
JOBS_LEASE_SECONDS = 300
JOBS_BACKOFF_SECONDS = 30
JOBS_BACKOFF_CAP_SECONDS = 1800
JOBS_SWEEP_GRACE_SECONDS = 120

# --- Video ----------------------------------------------------------------------
VIDEO_BACKEND = os.environ.get("VIDEO_BACKEND", "conferences.video.local.LocalBackend")
WEBEX_BASE_URL = os.environ.get("WEBEX_BASE_URL", "https://webexapis.com/v1")
WEBEX_ACCESS_TOKEN = os.environ.get("WEBEX_ACCESS_TOKEN", "")
# Or OAuth: the integration's client id and secret and a first refresh token (then kept in WebexToken).
WEBEX_CLIENT_ID = os.environ.get("WEBEX_CLIENT_ID", "")
WEBEX_CLIENT_SECRET = os.environ.get("WEBEX_CLIENT_SECRET", "")
WEBEX_REFRESH_TOKEN = os.environ.get("WEBEX_REFRESH_TOKEN", "")
WEBEX_HOST_EMAIL = os.environ.get("WEBEX_HOST_EMAIL", "")
WEBEX_SITE_URL = os.environ.get("WEBEX_SITE_URL", "")
WEBEX_TIMEOUT = float(os.environ.get("WEBEX_TIMEOUT", "10"))
# The session type of webinars (Webex requires one for scheduledType "webinar"; List Meeting Session Types).
WEBEX_WEBINAR_SESSION_TYPE = os.environ.get("WEBEX_WEBINAR_SESSION_TYPE", "")

# --- Accounts (django-allauth) ----------------------------------------------------
AUTH_USER_MODEL = "cmss.User"
AUTHENTICATION_BACKENDS = [
    "cmss.auth_backends.PermissionsBackend",  # permissions in one query; signs nobody in
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "clinicians:profile"
ACCOUNT_ADAPTER = "cmss.adapters.AccountAdapter"
ACCOUNT_FORMS = {"signup": "clinicians.forms.RegistrationForm"}
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
# Hospital mail gateways follow links to scan them: confirming takes a click.
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = 3
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[CMSS] "
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if HTTPS else "http"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"
ACCOUNT_RATE_LIMITS = {
    "signup": "10/h/ip",
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "confirm_email": "1/3m/key",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "reauthenticate": "10/m/user",
    # CMSS's own: the public contact form and messages to the helpdesk.
    "contact": "5/h/ip",
    "helpdesk_message": "30/h/user,60/h/ip",
    "directory_contact": "60/h/user",
    "helpdesk_link_message": "30/h/key,60/h/ip",
}
# Pages of directory results a person may open in an hour: ordinary searching
# stays far below it; walking the whole directory page by page does not.
DIRECTORY_PAGING_RATE = "300/h"
# The sign-in address is the one the helpdesk verified: no second address, so
# nobody can attach someone else's address to their account (unverified) either.
ACCOUNT_MAX_EMAIL_ADDRESSES = 1
# Each sign-in is a user session (IP address, browser, when) that the person sees
# and signs out at /accounts/sessions/. Not updated on every request: that would
# write a row per page and keep a trail of addresses nobody needs.
USERSESSIONS_TRACK_ACTIVITY = False
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# Staff must use TOTP in the session before any admin page opens. Only the
# local demo (make run) turns this off.
STAFF_MFA_REQUIRED = env_bool("STAFF_MFA_REQUIRED", default=True)
MFA_TOTP_ISSUER = "CMSS"

# --- Internationalisation ------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("fr", _("French")),
    ("de", _("German")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Brussels"
USE_I18N = True
USE_TZ = True
PHONENUMBER_DB_FORMAT = "E164"
PHONENUMBER_DEFAULT_FORMAT = "INTERNATIONAL"

# --- Static files ------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Sessions and security ---------------------------------------------------------
# Sessions live in the database (erasure and "sign out everywhere" end them
# there) and are read through the cache: a signed-in request's first query
# goes. The cache fails open (cmss/cache.py): with Redis down, the database answers.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_AGE = 60 * 60 * 12
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many reverse proxies stand in front of the web server (a load balancer
# and nginx: 2). The client's address is the entry of X-Forwarded-For that the
# outermost of them wrote (cmss/clientip.py); 0 means REMOTE_ADDR is the client.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0") or 0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content Security Policy: no inline script anywhere, nothing from other origins.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Error reports never carry what people typed into forms.
DEFAULT_EXCEPTION_REPORTER_FILTER = "cmss.security.NoFormValuesExceptionReporterFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # httpx logs every request at INFO, its query string included (the Webex host's email):
        # one line per registrant of a webinar. The backend's own warning, with Webex's
        # trackingId, is the record of a failed call.
        "httpx": {"level": "WARNING"},
    },
}
