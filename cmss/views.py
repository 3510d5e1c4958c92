"""Public pages that belong to no one domain: the landing page and the health check."""

from __future__ import annotations

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache


# Reads nothing from the database: outside the request transaction, so that a
# visitor's request costs no round trip to PostgreSQL (BEGIN, health check).
@transaction.non_atomic_requests
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """For the load balancer: the process answers and reaches the database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
