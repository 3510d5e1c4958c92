"""The local video backend's room: where its join links lead (the demo's stand-in for
a provider's meeting page)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from ..models import LocalVideoMeeting


def local_room(request: HttpRequest, provider_id: str) -> HttpResponse:
    """Where a join link of the local video backend leads (like a provider's link,
    it opens for whoever has it)."""
    meeting = get_object_or_404(LocalVideoMeeting, provider_id=provider_id)
    return render(request, "conferences/local_room.html", {"meeting": meeting})
