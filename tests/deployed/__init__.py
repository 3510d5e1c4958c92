"""The deployed tier: CMSS run as in production (gunicorn with the Dockerfile's flags and
production settings behind a proxy hop, a real Celery worker and beat, a real SMTP server,
the fake Webex server) and driven with Chromium. Marked `deployed`."""
