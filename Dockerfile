# One image for every CMSS process: the web server (the default command), the
# Celery worker and Celery beat (the same image with another command).
# Configuration comes only from the environment at run time: see cmss/settings.py.
#
#   docker build -t cmss .
#   docker run --env-file .env -p 8000:8000 cmss
#   docker run --env-file .env cmss celery -A cmss worker --loglevel=INFO
#   docker run --env-file .env cmss celery -A cmss beat --loglevel=INFO --schedule /tmp/celerybeat-schedule
#   docker run --env-file .env cmss python manage.py migrate --noinput

# --- Build: install the project and its pinned dependencies into a virtualenv --
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, in a layer of their own, so that a code change does not
# reinstall them. The list is pyproject.toml's [project] dependencies: no dev extras.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
    && pip install -r /tmp/requirements.txt

COPY . .
RUN pip install .

# --- Runtime ----------------------------------------------------------------
FROM python:3.11-slim AS runtime

# The code runs from /app (PYTHONPATH), where settings find templates/ and
# static/ next to the packages and where the demo app lives; the copy that
# `pip install .` put in the virtualenv is shadowed by it.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=cmss.settings \
    CMSS_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles

RUN groupadd --system --gid 10001 cmss \
    && useradd --system --uid 10001 --gid cmss --create-home --home-dir /home/cmss \
        --shell /usr/sbin/nologin cmss

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# Code and collected static files belong to root: the app user can read them,
# not change them. It may write only to /app/var (SQLite and the file-system
# broker when DATABASE_URL or REDIS_URL are unset) and to /tmp.
COPY . .

# collectstatic imports the settings, which refuse to load without a secret key
# when DEBUG is off (and DEBUG must be off for WhiteNoise's hashed manifest).
# The key and the scratch directory exist for this step only: neither is kept
# in the image's environment.
RUN SECRET_KEY=collectstatic-only-not-a-real-secret DEBUG=0 CMSS_VAR_DIR=/tmp/collectstatic-var \
        python manage.py collectstatic --noinput \
    && rm -rf /tmp/collectstatic-var \
    && install -d -o cmss -g cmss /app/var

USER cmss

EXPOSE 8000

# Probes the web server only; compose overrides it for the worker and beat.
# The Host header is SITE_URL's, which ALLOWED_HOSTS must accept; /healthz/ is
# exempt from the HTTPS redirect and answers 200 once the database is reachable.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.parse, urllib.request; host = urllib.parse.urlsplit(os.environ.get('SITE_URL') or 'http://127.0.0.1:8000').netloc; request = urllib.request.Request('http://127.0.0.1:8000/healthz/', headers={'Host': host}); sys.exit(0 if urllib.request.urlopen(request, timeout=4).status == 200 else 1)"]

# --forwarded-allow-ips=*: the TLS-terminating proxy's address is not known in
# advance inside a container network, so the port must be reachable only
# through that proxy. /dev/shm keeps worker heartbeats off the overlay disk.
CMD ["gunicorn", "cmss.wsgi:application", \
     "--bind=0.0.0.0:8000", \
     "--workers=3", \
     "--timeout=60", \
     "--graceful-timeout=30", \
     "--keep-alive=5", \
     "--max-requests=1000", \
     "--max-requests-jitter=100", \
     "--worker-tmp-dir=/dev/shm", \
     "--forwarded-allow-ips=*", \
     "--access-logfile=-"]
