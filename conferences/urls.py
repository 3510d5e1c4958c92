from __future__ import annotations

from django.urls import path

from . import views

app_name = "conferences"

urlpatterns = [
    path("video/local/<uuid:provider_id>/", views.local_room, name="local_room"),
]
