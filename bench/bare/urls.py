from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

ROWS = [{"name": f"Row {number}", "country": "Belgium", "count": number * 7} for number in range(1, 21)]


def page(request: HttpRequest) -> HttpResponse:
    return render(request, "page.html", {"rows": ROWS})


urlpatterns = [path("", page)]
