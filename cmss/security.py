"""Security helpers that settings point at."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter


class NoFormValuesExceptionReporterFilter(SafeExceptionReporterFilter):
    """Error reports (emails to admins, logs) show which fields were posted,
    never their values: forms here carry personal and clinical data."""

    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        if request is None:
            return {}
        return {key: self.cleansed_substitute for key in request.POST}
