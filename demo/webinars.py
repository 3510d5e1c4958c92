"""The demo's webinar programme: published webinars ahead (the worker of `make run`
creates them on the local video backend), held ones behind with recordings, across
several ERNs and languages; demo clinicians hold seats, one webinar is full with a waitlist.

Loaded by load_demo; a webinar already there (by title) is left as it is.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from clinicians.models import ERN, Clinician, Language
from cmss.models import User
from conferences.models import Speaker, Webinar
from conferences.webinars import services as webinars

# (title, ERN names, language, days from now, hour (Brussels), minutes, seats, recorded, speakers)
UPCOMING = [
    (
        "COVID-19 in patients with cystic fibrosis and interstitial lung disease",
        ["ERN LUNG"],
        "en",
        3,
        15,
        60,
        300,
        True,
        [("Prof. Inga Lindqvist", "Karolinska University Hospital, Stockholm")],
    ),
    (
        "Metabolic decompensation during SARS-CoV-2 infection: urea cycle and organic acidaemias",
        ["MetabERN"],
        "en",
        6,
        14,
        90,
        200,
        True,
        [
            ("Dr Matteo Rossi", "Ospedale Pediatrico Bambino Gesù, Rome"),
            ("Dr Sofie Jansen", "Amsterdam UMC"),
        ],
    ),
    (
        "Immunosuppression after paediatric liver transplantation and COVID-19",
        ["ERN RARE-LIVER", "ERN TRANSPLANT-CHILD"],
        "fr",
        10,
        16,
        60,
        3,  # small on purpose: the demo shows a full webinar and its waitlist
        False,
        [("Pr Claire Dubois", "Hôpital Bicêtre, AP-HP, Le Kremlin-Bicêtre")],
    ),
    (
        "Vaskuläre Anomalien und COVID-19: Antikoagulation in der Praxis",
        ["VASCERN"],
        "de",
        17,
        13,
        60,
        150,
        True,
        [("Prof. Jonas Schmidt", "Charité – Universitätsmedizin Berlin")],
    ),
]

# (title, ERN names, language, days ago, minutes, recording link)
PAST = [
    (
        "Rare epilepsies and COVID-19: seizure control in intensive care",
        ["ERN EpiCARE"],
        "en",
        21,
        60,
        "https://video.example.org/cmss/epicare-2026",
    ),
    (
        "Autoimmune connective tissue diseases on immunosuppressants during the pandemic",
        ["ERN ReCONNET"],
        "it",
        45,
        75,
        "https://video.example.org/cmss/reconnet-2026",
    ),
    (
        "Haemoglobinopathies and thrombosis in COVID-19",
        ["ERN EuroBloodNet"],
        "en",
        70,
        60,
        "",
    ),
]

DESCRIPTION = (
    "Experts of the network present how their centres care for patients who have COVID-19 and a rare "
    "or complex disease at the same time, followed by questions from participants.\n\n"
    "Cases are discussed anonymously."
)


def _at(days: int, hour: int) -> datetime:
    brussels = timezone.localtime(timezone.now() + timedelta(days=days))
    return brussels.replace(hour=hour, minute=0, second=0, microsecond=0)


def load() -> int:
    """Add the demo programme; returns how many webinars were added."""
    if Webinar.objects.filter(title=UPCOMING[0][0]).exists():
        return 0
    agent = User.objects.get(email="agent@cmss.example.org")
    added = 0
    for title, erns, language, days, hour, minutes, seats, recorded, speakers in UPCOMING:
        webinar = webinars.create_webinar(
            webinar=Webinar(
                title=title,
                description=DESCRIPTION,
                language=Language.objects.get(code=language),
                start=_at(days, hour),
                duration_minutes=minutes,
                capacity=seats,
                recorded=recorded,
            ),
            by=agent,
        )
        webinar.erns.set(ERN.objects.filter(name__in=erns))
        for position, (name, affiliation) in enumerate(speakers, start=1):
            Speaker.objects.create(webinar=webinar, name=name, affiliation=affiliation, position=position)
        webinars.publish_webinar(webinar=webinar, by=agent)
        added += 1
    for title, erns, language, days, minutes, recording in PAST:
        start = _at(-days, 15)
        webinar = Webinar.objects.create(
            title=title,
            description=DESCRIPTION,
            language=Language.objects.get(code=language),
            start=start,
            duration_minutes=minutes,
            capacity=200,
            recorded=bool(recording),
            recording_url=recording,
            state=Webinar.State.HELD,
            published_at=start - timedelta(days=20),
            held_at=start + timedelta(minutes=minutes),
            created_by=agent,
        )
        webinar.erns.set(ERN.objects.filter(name__in=erns))
        Speaker.objects.create(
            webinar=webinar, name="Dr Elena Popescu", affiliation="Institutul Clinic Fundeni"
        )
        added += 1
    _registrations()
    return added


def _registrations() -> None:
    """Victor (verified) and Rita (registered) hold seats; the small French webinar
    fills up and Rita waits for a seat."""
    verified = Clinician.objects.get(user__email="verified@cmss.example.org")
    registered = Clinician.objects.get(user__email="registered@cmss.example.org")
    first = Webinar.objects.get(title=UPCOMING[0][0])
    small = Webinar.objects.get(title=UPCOMING[2][0])
    webinars.register(webinar=first, clinician=verified)
    webinars.register(webinar=first, clinician=registered)
    others = Clinician.objects.listed().exclude(pk=verified.pk).order_by("pk")[:2]
    for clinician in [verified, *others, registered]:
        webinars.register(webinar=small, clinician=clinician)
