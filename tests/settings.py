"""Test settings: production settings with a fast hasher and test-friendly transports.

The suite runs on whatever DATABASE_URL and REDIS_URL say (SQLite and
in-process transports without them; PostgreSQL and Redis in CI).
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-production")
# The test client and the live server speak plain HTTP.
os.environ.setdefault("HTTPS", "0")

from cmss.settings import *  # noqa: F403
from cmss.settings import REDIS_URL, STORAGES

# One test checks Argon2 in production settings; the rest hash fast.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
SITE_URL = "http://testserver"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405

if not REDIS_URL:
    # In-process broker: tasks can be enqueued and run by an embedded worker.
    CELERY_BROKER_URL = "memory://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
