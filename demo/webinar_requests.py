"""The demo's pending webinar request: the coordinator (Clara) asks for a webinar
with a speaker of the network and one from outside it; the agent finds it in the
queue, with the panel that turns it into a draft webinar.

Loaded by load_demo; the hospital's request, once there, is left as it is.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from clinicians.models import ERN, Clinician, Language
from conferences.models import WebinarRequest
from conferences.webinars import requests as webinar_requests

TOPIC = "Prone positioning and ECMO for patients with neuromuscular disease and COVID-19"


def load() -> int:
    """Add the pending request; returns how many were added."""
    coordinator = Clinician.objects.select_related("hospital", "user").get(
        user__email="coordinator@cmss.example.org"
    )
    if WebinarRequest.objects.filter(hospital=coordinator.hospital).exists():
        return 0
    speaker = Clinician.objects.get(user__email="verified@cmss.example.org")
    in_three_weeks = timezone.localtime(timezone.now() + timedelta(days=21)).replace(
        hour=15, minute=0, second=0, microsecond=0
    )
    webinar_requests.request_webinar(
        coordinator=coordinator,
        data=webinar_requests.RequestData(
            topic=TOPIC,
            audience="Intensivists, anaesthetists and physiotherapists of ICUs that admit adults with "
            "neuromuscular disease.",
            clinical_need=(
                "Our ICU admitted three patients with Duchenne or myotonic dystrophy and COVID-19 ARDS this "
                "month. Teams disagree on proning with non-invasive ventilation and on when to refer for "
                "ECMO; we would like the experts of ERN EURO-NMD and ERN LUNG to share their protocols."
            ),
            erns=list(ERN.objects.filter(name__in=["ERN EURO-NMD", "ERN LUNG"])),
            language=Language.objects.get(code="en"),
            dates=[in_three_weeks, in_three_weeks + timedelta(days=2), in_three_weeks + timedelta(days=7)],
            duration_minutes=75,
            audience_size=250,
            recorded=True,
            time_zone=coordinator.user.time_zone or "Europe/Brussels",
            speakers=[speaker],
            outside_speakers=[
                webinar_requests.OutsideSpeaker(
                    name="Prof. Maria Lindgren",
                    affiliation="Karolinska University Hospital, Stockholm",
                    email="maria.lindgren@karolinska.example.org",
                )
            ],
        ),
    )
    return 1
