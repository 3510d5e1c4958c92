"""Factories for every model the tests build (one place)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

import factory
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.utils import timezone

from clinicians.models import (
    Clinician,
    Hospital,
    Language,
    PrivacyAcceptance,
    PrivacyStatement,
    Specialty,
    normalise_name,
)
from cmss import roles
from cmss.models import User
from conferences.models import Speaker, Webinar

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@hospital.example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified_email(self: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            self.save()
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class StaffFactory(UserFactory):
    """A helpdesk staff user; StaffFactory.create(role="supervisors") for a supervisor."""

    is_staff = True
    display_name = factory.Sequence(lambda n: f"Agent {n}")

    @factory.post_generation
    def role(self: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            name = roles.SUPERVISORS if extracted == "supervisors" else roles.AGENTS
            self.groups.add(Group.objects.get(name=name))


class HospitalFactory(factory.django.DjangoModelFactory[Hospital]):
    class Meta:
        model = Hospital

    name = factory.Sequence(lambda n: f"Test Hospital {n}")
    city = "Brussels"
    country = "BE"
    approved = True
    is_reference_centre = False


class ClinicianFactory(factory.django.DjangoModelFactory[Clinician]):
    class Meta:
        model = Clinician
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    first_name = factory.Sequence(lambda n: f"Ana{n}")
    last_name = factory.Sequence(lambda n: f"Novak{n}")
    search_name = factory.LazyAttribute(lambda o: normalise_name(f"{o.first_name} {o.last_name}"))
    phone = factory.Sequence(lambda n: f"+3222991{n % 1000:03d}")
    country = "BE"
    hospital = factory.SubFactory(HospitalFactory)
    profession = Clinician.Profession.PHYSICIAN
    specialty = factory.LazyFunction(lambda: Specialty.objects.get(name="Intensive care medicine"))
    status = Clinician.Status.REGISTERED
    email_confirmed_at = factory.LazyFunction(timezone.now)
    hospital_confirmed = factory.LazyAttribute(lambda o: o.status == Clinician.Status.VERIFIED)

    @factory.post_generation
    def languages(self: Clinician, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            self.languages.set(extracted or Language.objects.filter(code__in=["en", "fr"]))

    @factory.post_generation
    def accepted_privacy(self: Clinician, create: bool, extracted: Any, **kwargs: Any) -> None:
        """Registration accepts the current statement; ClinicianFactory.create(accepted_privacy=False) did not."""
        if create and extracted is not False:
            PrivacyAcceptance.objects.get_or_create(
                user=self.user, statement=PrivacyStatement.objects.current()
            )


class CoordinatorFactory(ClinicianFactory):
    # Verified, so ClinicianFactory's hospital_confirmed is True.
    status = Clinician.Status.VERIFIED
    hospital = factory.SubFactory(HospitalFactory, is_reference_centre=True)


# --- Webinars ----------------------------------------------------------------------------------


class WebinarFactory(factory.django.DjangoModelFactory[Webinar]):
    """A draft webinar a week ahead; WebinarFactory.create(state="published") skips the provider
    (use conferences.webinars.services.publish_webinar for a real publication)."""

    class Meta:
        model = Webinar
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"COVID-19 and rare lung disease, part {n}")
    description = "How ERN LUNG centres manage patients with COVID-19 and interstitial lung disease."
    language = factory.LazyFunction(lambda: Language.objects.get(code="en"))
    start = factory.LazyFunction(lambda: (timezone.now() + datetime.timedelta(days=7)).replace(microsecond=0))
    duration_minutes = 60
    capacity = 20
    state = "draft"

    @factory.post_generation
    def erns(self: Webinar, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            from clinicians.models import ERN

            self.erns.set(extracted or ERN.objects.filter(code="ern-lung"))


class SpeakerFactory(factory.django.DjangoModelFactory[Speaker]):
    class Meta:
        model = Speaker

    webinar = factory.SubFactory(WebinarFactory)
    name = factory.Sequence(lambda n: f"Dr Speaker {n}")
    affiliation = "Hôpital Necker-Enfants malades, Paris"
    email = factory.Sequence(lambda n: f"speaker{n}@ern.example.org")


def requested_conference(
    coordinator: Clinician | None = None,
    *,
    invitees: Sequence[Clinician] = (),
    start: datetime.datetime | None = None,
    title: str = "Fabry and COVID-19",
    question: str = "What now?",
    case_summary: str = "Anonymised summary.",
    urgency: str = "routine",
    duration_minutes: int = 60,
    time_zone: str = "Europe/Brussels",
) -> Any:
    """A conference requested through the coordinator's service, proposing `start`
    (default: in two days) as its one time."""
    from conferences.cases import services as case_conferences

    return case_conferences.request_conference(
        coordinator=coordinator or CoordinatorFactory.create(),
        data=case_conferences.RequestData(
            title=title,
            question=question,
            case_summary=case_summary,
            urgency=urgency,
            slots=[start or timezone.now() + datetime.timedelta(days=2)],
            duration_minutes=duration_minutes,
            time_zone=time_zone,
            invitees=list(invitees),
        ),
    )


def requested_webinar(
    coordinator: Clinician | None = None,
    *,
    speakers: Sequence[Clinician] = (),
    outside: Sequence[tuple[str, str, str]] = (
        ("Dr Outside Speaker", "Universität Wien", "outside@ern.example.org"),
    ),
    dates: Sequence[datetime.datetime] = (),
    topic: str = "COVID-19 in adults with cystic fibrosis",
    audience_size: int = 120,
    time_zone: str = "Europe/Brussels",
) -> Any:
    """A webinar request sent through the coordinator's service, with one outside
    speaker (name, affiliation, address) and preferred dates (default: in ten and
    twelve days)."""
    from clinicians.models import ERN
    from conferences.webinars import requests as webinar_requests

    now = timezone.now().replace(microsecond=0)
    return webinar_requests.request_webinar(
        coordinator=coordinator or CoordinatorFactory.create(),
        data=webinar_requests.RequestData(
            topic=topic,
            audience="Intensivists and respiratory physicians of adult CF centres.",
            clinical_need="Adults with CF are admitted with COVID-19 and we lack shared guidance on ventilation.",
            erns=list(ERN.objects.filter(code="ern-lung")),
            language=Language.objects.get(code="en"),
            dates=list(dates) or [now + datetime.timedelta(days=10), now + datetime.timedelta(days=12)],
            duration_minutes=90,
            audience_size=audience_size,
            recorded=True,
            time_zone=time_zone,
            speakers=list(speakers),
            outside_speakers=[
                webinar_requests.OutsideSpeaker(name=name, affiliation=affiliation, email=email)
                for name, affiliation, email in outside
            ],
        ),
    )
