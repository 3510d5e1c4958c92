from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for `make run`. It sits on top of every app and may import any."""

    name = "demo"
    verbose_name = "Demo data"
