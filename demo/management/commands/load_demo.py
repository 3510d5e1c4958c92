"""Load demo people for `make run`. Re-running is harmless: existing rows are kept."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from clinicians.models import ERN, Clinician, Hospital, Language, PrivacyStatement, Specialty
from clinicians.services import accept_privacy_statement
from cmss import roles
from cmss.models import User
from cmss.timezones import zone_for_country
from demo import held_conference, webinar_requests, webinars
from helpdesk.models import CannedReply, Ticket
from helpdesk.services import open_question, open_registration_ticket, open_ticket

DEMO_PASSWORD = "cmss-demo-2026"  # noqa: S105 (printed for the local demo only)

STAFF = [
    ("agent@cmss.example.org", "Alex Agent", roles.AGENTS),
    ("supervisor@cmss.example.org", "Sam Supervisor", roles.SUPERVISORS),
]

# (email, first, last, country, hospital name, specialty, status, extra)
NAMED: list[tuple[str, str, str, str, str, str, str, dict[str, Any]]] = [
    (
        "coordinator@cmss.example.org",
        "Clara",
        "Coordinator",
        "BE",
        "Cliniques universitaires Saint-Luc",
        "Intensive care medicine",
        "verified",
        {"coordinator": True, "erns": ["MetabERN"]},
    ),
    (
        "verified@cmss.example.org",
        "Victor",
        "Verified",
        "DE",
        "Charité – Universitätsmedizin Berlin",
        "Infectious diseases",
        "verified",
        # The held conference (ERKNet) and the webinar request (ERN EURO-NMD) name him.
        {"erns": ["ERKNet", "ERN EURO-NMD"]},
    ),
    (
        "registered@cmss.example.org",
        "Rita",
        "Registered",
        "FR",
        "Hospices Civils de Lyon",
        "Respiratory medicine",
        "registered",
        {},
    ),
    (
        "suspended@cmss.example.org",
        "Sven",
        "Suspended",
        "SE",
        "Sahlgrenska Universitetssjukhuset",
        "Cardiology",
        "suspended",
        {},
    ),
    (
        "rejected@cmss.example.org",
        "Rolf",
        "Rejected",
        "AT",
        "Universitätsklinikum AKH Wien",
        "General practice",
        "rejected",
        {},
    ),
]

FIRST_NAMES = [
    "Ana",
    "Jonas",
    "Marta",
    "Luca",
    "Sofie",
    "Mateusz",
    "Elena",
    "Pieter",
    "Ioana",
    "Nikos",
    "Aoife",
    "Miguel",
    "Katarina",
    "Jan",
    "Eva",
    "Tomás",
    "Laura",
    "Henrik",
    "Zsófia",
    "Matteo",
]
LAST_NAMES = [
    "Novak",
    "Schmidt",
    "García",
    "Rossi",
    "Jansen",
    "Kowalski",
    "Popescu",
    "Papadopoulos",
    "Murphy",
    "Silva",
    "Lindqvist",
    "Horváth",
    "Dubois",
    "Nielsen",
    "Virtanen",
    "Kaya",
    "Peeters",
    "Costa",
    "Berzins",
    "Byrne",
]
PHONES = {
    "BE": "+32 2 555 01 {:02d}",
    "DE": "+49 30 5550 10{:02d}",
    "FR": "+33 1 45 55 01 {:02d}",
    "IT": "+39 02 5550 10{:02d}",
    "ES": "+34 915 550 1{:02d}",
    "NL": "+31 20 555 01{:02d}",
    "SE": "+46 8 555 010 {:02d}",
    "AT": "+43 1 555 01{:02d}",
    "DK": "+45 32 55 01 {:02d}",
    "PL": "+48 22 555 01 {:02d}",
}


# The national language of each country of the demo (everyone speaks it).
NATIONAL_LANGUAGES = {
    "BE": "fr",
    "DE": "de",
    "FR": "fr",
    "IT": "it",
    "ES": "es",
    "NL": "nl",
    "SE": "sv",
    "AT": "de",
    "DK": "da",
    "PL": "pl",
}

# The directory's ERN memberships follow each colleague's specialty, so that the
# ERNs of the demo's conferences and webinars (MetabERN, ERN LUNG, ERKNet, ERN
# EURO-NMD) each have several members for the suggested experts to rank.
EXPERTISE = {
    "Intensive care medicine": ["MetabERN", "ERN EURO-NMD"],
    "Infectious diseases": ["ERN RITA"],
    "Respiratory medicine": ["ERN LUNG"],
    "Anaesthetics": ["ERN EURO-NMD"],
    "General (internal) medicine": ["ERN RARE-LIVER"],
    "Paediatrics": ["ERN LUNG", "MetabERN"],
    "Cardiology": ["ERN GUARD-HEART"],
    "Intensive care nursing": ["ERN LUNG"],
    "Clinical microbiology-bacteriology": ["ERN RITA"],
    "Nephrology": ["ERKNet", "ERN TRANSPLANT-CHILD"],
}


def demo_languages(index: int, country: str) -> list[str]:
    """The national language; English for four in five; French or German as well for some."""
    codes = [NATIONAL_LANGUAGES.get(country, "en")]
    if index % 5 != 4:
        codes.append("en")
    if index % 3 == 0:
        codes.append("fr")
    if index % 7 == 0:
        codes.append("de")
    return sorted(set(codes))


def demo_erns(index: int, specialty: str) -> list[str]:
    """The ERNs of the colleague's specialty (one in four of them is in none)."""
    return [] if index % 4 == 3 else EXPERTISE.get(specialty, [])


CANNED_REPLIES = [
    (
        "Verification call",
        "Thank you for registering with the COVID-19 Clinicians Network. To verify your "
        "registration we would like to call you briefly. When can we reach you on the phone number you gave?",
    ),
    (
        "Verified: what next",
        "You are verified. You can now use the directory, join the conferences you are "
        "invited to and register for webinars.",
    ),
]


class Command(BaseCommand):
    help = "Load demo staff and clinicians (idempotent) and print their sign-ins."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            self._staff()
            self._named()
            self._directory()
            self._helpdesk()
            self._conferences()
            held_conference.load()
            webinars.load()
            webinar_requests.load()
        self.stdout.write(self.style.SUCCESS(f"Demo sign-ins (password for all: {DEMO_PASSWORD}):"))
        for email, name, group in STAFF:
            self.stdout.write(f"  {email:34} {name} ({group}) — /admin/")
        for email, first, last, _country, _hospital, _specialty, status, extra in NAMED:
            role = "coordinator" if extra.get("coordinator") else status
            self.stdout.write(f"  {email:34} {first} {last} (clinician, {role}) — /profile/")

    def _user(self, email: str, **extra: Any) -> tuple[User, bool]:
        user = User.objects.filter(email=email).first()
        if user is not None:
            return user, False
        user = User.objects.create_user(email=email, password=DEMO_PASSWORD, **extra)
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        return user, True

    def _staff(self) -> None:
        for email, name, group in STAFF:
            user, _created = self._user(email, is_staff=True, display_name=name)
            user.groups.add(Group.objects.get(name=group))

    def _clinician(
        self,
        *,
        email: str,
        first: str,
        last: str,
        country: str,
        hospital: Hospital,
        specialty: str,
        status: str,
        phone: str,
        coordinator: bool = False,
        erns: list[str] | None = None,
        languages: list[str] | None = None,
        rng: random.Random,
    ) -> None:
        # Each person works in their country's zone (the suggested experts count
        # working hours there).
        user, created = self._user(email, time_zone=zone_for_country(country))
        if not created:
            return
        now = timezone.now()
        clinician = Clinician.objects.create(
            user=user,
            first_name=first,
            last_name=last,
            phone=phone,
            country=country,
            hospital=hospital,
            profession=Clinician.Profession.PHYSICIAN,
            specialty=Specialty.objects.get(name=specialty),
            status=status,
            status_changed_at=now,
            email_confirmed_at=now - timedelta(days=rng.randint(1, 60)),
            hospital_confirmed=status == Clinician.Status.VERIFIED,
            show_email=rng.random() < 0.6,
            show_phone=rng.random() < 0.3,
        )
        clinician.refresh_search_name()
        clinician.save(update_fields=["search_name"])
        if languages is None:
            languages = ["en", NATIONAL_LANGUAGES.get(country, "en")]
        clinician.languages.set(Language.objects.filter(code__in=languages))
        if erns is None:
            clinician.erns.set(rng.sample(list(ERN.objects.all()), k=rng.randint(0, 2)))
        else:
            clinician.erns.set(ERN.objects.filter(name__in=erns))
        statement = PrivacyStatement.objects.current()
        if statement is not None:
            accept_privacy_statement(user=user, statement=statement)
        if status == Clinician.Status.REGISTERED:
            open_registration_ticket(clinician=clinician)
        if coordinator and not hospital.is_reference_centre:
            raise ValueError(f"{hospital} is not a reference centre")

    def _named(self) -> None:
        rng = random.Random(1)
        for index, (email, first, last, country, hospital_name, specialty, status, extra) in enumerate(NAMED):
            hospital = Hospital.objects.get(name=hospital_name)
            self._clinician(
                email=email,
                first=first,
                last=last,
                country=country,
                hospital=hospital,
                specialty=specialty,
                status=status,
                phone=PHONES[country].format(index),
                rng=rng,
                **extra,
            )

    def _helpdesk(self) -> None:
        """Canned replies and a few requests, so that the queue has work in it."""
        for title, body in CANNED_REPLIES:
            CannedReply.objects.update_or_create(title=title, defaults={"body": body})
        verified = User.objects.get(email="verified@cmss.example.org")
        if not Ticket.objects.filter(requester=verified).exists():
            open_question(
                requester=verified,
                subject="How do I find an ERN LUNG expert who speaks German?",
                body="I have a patient with cystic fibrosis and severe COVID-19. Whom can I ask?",
            )
        coordinator = User.objects.get(email="coordinator@cmss.example.org")
        if not Ticket.objects.filter(requester=coordinator).exists():
            open_ticket(
                kind=Ticket.Kind.QUESTION,
                subject="Urgent: can we have a case discussion tomorrow morning?",
                requester=coordinator,
                priority=Ticket.Priority.URGENT,
                body="A patient on ECMO with a rare metabolic disorder; we need MetabERN advice.",
            )

    def _conferences(self) -> None:
        """A scheduled conference of the coordinator's hospital (Victor Verified
        invited; the worker creates its meeting on the local video backend and
        sends the invitations) and a request waiting in the queue."""
        from conferences.cases import services as case_conferences
        from conferences.models import Conference

        coordinator = Clinician.objects.select_related("hospital").get(
            user__email="coordinator@cmss.example.org"
        )
        if Conference.objects.filter(hospital=coordinator.hospital).exists():
            return
        agent = User.objects.get(email="agent@cmss.example.org")
        invitees = [Clinician.objects.get(user__email="verified@cmss.example.org")]
        invitees += list(Clinician.objects.listed().exclude(pk__in=[coordinator.pk, invitees[0].pk])[:2])
        tomorrow = timezone.localtime(timezone.now() + timedelta(days=1)).replace(
            hour=10, minute=0, second=0, microsecond=0
        )
        scheduled = case_conferences.request_conference(
            coordinator=coordinator,
            data=case_conferences.RequestData(
                title="ECMO in a young adult with a urea cycle disorder",
                question="How do we manage ammonia and nutrition during ECMO for COVID-19 ARDS?",
                case_summary=(
                    "Adult in their twenties with ornithine transcarbamylase deficiency, on ECMO since day 4 "
                    "of COVID-19 ARDS. Ammonia 180 µmol/L on day 6 despite scavengers."
                ),
                urgency=Conference.Urgency.URGENT,
                slots=[tomorrow, tomorrow + timedelta(days=1)],
                duration_minutes=60,
                time_zone="Europe/Brussels",
                invitees=invitees,
                erns=list(ERN.objects.filter(name="MetabERN")),
            ),
        )
        case_conferences.approve(conference=scheduled, start=tomorrow, by=agent)
        case_conferences.request_conference(
            coordinator=coordinator,
            data=case_conferences.RequestData(
                title="Pulmonary hypertension and COVID-19 pneumonia",
                question="Should we keep the prostacyclin infusion at the same dose?",
                case_summary="Woman in her fifties with pulmonary arterial hypertension on IV epoprostenol.",
                urgency=Conference.Urgency.ROUTINE,
                slots=[tomorrow + timedelta(days=3, hours=4), tomorrow + timedelta(days=4, hours=4)],
                duration_minutes=45,
                time_zone="Europe/Brussels",
                invitees=invitees[1:],
                erns=list(ERN.objects.filter(name="ERN LUNG")),
            ),
        )

    def _directory(self) -> None:
        """Forty verified colleagues so that the directory has something to show, and the
        conference request form experts to suggest (ERNs by specialty, languages, zones)."""
        rng = random.Random(2)
        hospitals = list(Hospital.objects.approved().filter(country__in=list(PHONES)))
        specialties = [
            "Intensive care medicine",
            "Infectious diseases",
            "Respiratory medicine",
            "Anaesthetics",
            "General (internal) medicine",
            "Paediatrics",
            "Cardiology",
            "Intensive care nursing",
            "Clinical microbiology-bacteriology",
            "Nephrology",
        ]
        for index in range(40):
            hospital = hospitals[index % len(hospitals)]
            first, last = FIRST_NAMES[index % 20], LAST_NAMES[(index * 7) % 20]
            specialty = specialties[index % len(specialties)]
            self._clinician(
                email=f"{slugify(first)}.{slugify(last)}{index}@hospital.example.org",
                first=first,
                last=last,
                country=hospital.country.code,
                hospital=hospital,
                specialty=specialty,
                status=Clinician.Status.VERIFIED,
                phone=PHONES[hospital.country.code].format(20 + index),
                erns=demo_erns(index, specialty),
                languages=demo_languages(index, hospital.country.code),
                rng=rng,
            )
