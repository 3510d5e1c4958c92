"""The clinicians network: reference data, hospitals, clinicians and privacy."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar, Protocol

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

from cmss.timezones import DEFAULT_TIME_ZONE

from .countries import NetworkCountryField

if TYPE_CHECKING:
    from cmss.models import User

# ERNs and languages each have a bit of a signed 64-bit integer (Clinician.ern_bits
# and language_bits): bits 0 to 62.
BITS = 63


class _HasBit(Protocol):
    bit: int


def bits_of(items: Iterable[_HasBit]) -> int:
    """The integer with the bit of each of `items` (ERNs or languages) set."""
    return sum({1 << item.bit for item in items})


def first_free_bit(taken: Iterable[int]) -> int:
    used = set(taken)
    for bit in range(BITS):
        if bit not in used:
            return bit
    raise ValueError(f"All {BITS} bits are taken.")


def free_ern_bit() -> int:
    """The bit of a new ERN: the lowest that no ERN has."""
    return first_free_bit(ERN.objects.values_list("bit", flat=True))


def free_language_bit() -> int:
    return first_free_bit(Language.objects.values_list("bit", flat=True))


class ERN(models.Model):
    """A European Reference Network (the 24 of 2017)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=60, unique=True)
    full_name = models.CharField(_("area"), max_length=200)
    # Its bit in Clinician.ern_bits, given once and never changed.
    bit = models.PositiveSmallIntegerField(_("bit"), unique=True, editable=False, default=free_ern_bit)

    PERSONAL_DATA_FIELDS = ()

    class Meta:
        verbose_name = _("European Reference Network")
        verbose_name_plural = _("European Reference Networks")
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=Q(bit__lt=BITS), name="ern_bit_range")]

    def __str__(self) -> str:
        return self.name


class Specialty(models.Model):
    """A medical specialty or nursing role; supervisors maintain the table."""

    class Kind(models.TextChoices):
        MEDICAL = "medical", _("medical specialty")
        NURSING = "nursing", _("nursing role")

    name = models.CharField(_("name"), max_length=120, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.MEDICAL)
    active = models.BooleanField(_("offered at registration"), default=True)

    PERSONAL_DATA_FIELDS = ()

    class Meta:
        verbose_name = _("specialty")
        verbose_name_plural = _("specialties")
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name


class Language(models.Model):
    """A spoken language (ISO 639-1), from a fixed list shared with conferences and webinars."""

    code = models.CharField(_("ISO 639-1 code"), max_length=2, primary_key=True)
    name = models.CharField(_("name"), max_length=60)
    native_name = models.CharField(_("native name"), max_length=60)
    # Its bit in Clinician.language_bits, given once and never changed.
    bit = models.PositiveSmallIntegerField(_("bit"), unique=True, editable=False, default=free_language_bit)

    PERSONAL_DATA_FIELDS = ()

    class Meta:
        verbose_name = _("language")
        verbose_name_plural = _("languages")
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=Q(bit__lt=BITS), name="language_bit_range")]

    def __str__(self) -> str:
        return self.name


class HospitalQuerySet(models.QuerySet["Hospital"]):
    def approved(self) -> HospitalQuerySet:
        return self.filter(approved=True)

    def in_country(self, code: str) -> HospitalQuerySet:
        return self.filter(country=code)


class Hospital(models.Model):
    """A hospital or other affiliation. One proposed at registration waits,
    unapproved, for the helpdesk to approve it or merge it into another."""

    name = models.CharField(_("name"), max_length=200)
    city = models.CharField(_("city"), max_length=100)
    country = NetworkCountryField(verbose_name=_("country"))
    is_reference_centre = models.BooleanField(
        _("reference centre"),
        default=False,
        help_text=_("Its verified clinicians may request case-discussion conferences."),
    )
    approved = models.BooleanField(_("approved"), default=False)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("proposed by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    objects = HospitalQuerySet.as_manager()

    PERSONAL_DATA_FIELDS = ("proposed_by",)

    class Meta:
        verbose_name = _("hospital")
        verbose_name_plural = _("hospitals")
        ordering = ["country", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name", "city", "country"],
                condition=Q(approved=True),
                name="hospital_approved_unique",
            )
        ]
        indexes = [models.Index(fields=["country", "approved", "name"], name="hospital_country_idx")]

    def __str__(self) -> str:
        return f"{self.name}, {self.city}"

    @classmethod
    def personal_data_of(cls, user: User) -> models.QuerySet[Hospital]:
        return cls.objects.filter(proposed_by=user)


def normalise_name(text: str) -> str:
    """Lower case without accents, single spaces: "  Zsófia HORVÁTH" → "zsofia horvath".
    Invisible control characters (a NUL, which PostgreSQL refuses) are dropped."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(
        char
        for char in decomposed
        if not unicodedata.combining(char) and (char.isspace() or unicodedata.category(char)[0] != "C")
    )
    return " ".join(stripped.split())


# The directory's order: last name, then first name, case-insensitive.
DIRECTORY_ORDER = (Lower("last_name"), Lower("first_name"), "pk")


class ClinicianQuerySet(models.QuerySet["Clinician"]):
    def with_related(self) -> ClinicianQuerySet:
        return self.select_related("user", "hospital", "specialty").prefetch_related("languages", "erns")

    def verified(self) -> ClinicianQuerySet:
        return self.filter(status=Clinician.Status.VERIFIED)

    def listed(self) -> ClinicianQuerySet:
        """Who may appear in the directory and be invited: verified, listed, not restricted."""
        return self.filter(status=Clinician.Status.VERIFIED, listed_in_directory=True, restricted=False)

    def directory(
        self,
        *,
        text: str = "",
        country: str = "",
        hospital: Hospital | None = None,
        profession: str = "",
        specialty: Specialty | None = None,
        ern: ERN | None = None,
        language: Language | None = None,
    ) -> ClinicianQuerySet:
        """The directory search, shared with the conference invitee picker.

        Name search is accent- and case-insensitive and partial: every word of
        `text` must appear in the normalised name (a trigram index serves it on
        PostgreSQL).
        """
        queryset = self.listed()
        words = normalise_name(text).split()[:5]
        for word in words:
            queryset = queryset.filter(search_name__contains=word)
        if country:
            queryset = queryset.filter(country=country)
        if hospital:
            queryset = queryset.filter(hospital=hospital)
        if profession:
            queryset = queryset.filter(profession=profession)
        if specialty:
            queryset = queryset.filter(specialty=specialty)
        if ern:
            queryset = queryset.filter(erns=ern)
        if language:
            queryset = queryset.filter(languages=language)
        # Case-insensitive, by last name, then first name; the index
        # clinician_directory_order_idx serves this order (clinicians/directory.py
        # walks it for a page without sorting every match).
        return queryset.order_by(*DIRECTORY_ORDER)


class Clinician(models.Model):
    """The profile of a clinician user (staff users have none)."""

    class Status(models.TextChoices):
        REGISTERED = "registered", _("registered")
        VERIFIED = "verified", _("verified")
        REJECTED = "rejected", _("rejected")
        SUSPENDED = "suspended", _("suspended")

    # The allowed moves of the status, written once.
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.REGISTERED: frozenset({Status.VERIFIED, Status.REJECTED}),
        Status.VERIFIED: frozenset({Status.SUSPENDED}),
        Status.SUSPENDED: frozenset({Status.VERIFIED}),
        Status.REJECTED: frozenset(),
    }

    class Profession(models.TextChoices):
        PHYSICIAN = "physician", _("Physician")
        NURSE = "nurse", _("Nurse")
        PHARMACIST = "pharmacist", _("Pharmacist")
        OTHER = "other", _("Other health professional")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="clinician"
    )
    first_name = models.CharField(_("first name"), max_length=100)
    last_name = models.CharField(_("last name"), max_length=100)
    # "first last", lower case without accents: what the directory searches.
    search_name = models.CharField(_("name for searching"), max_length=201, editable=False, default="")
    phone = PhoneNumberField(_("phone"))
    country = NetworkCountryField(verbose_name=_("country"))
    hospital = models.ForeignKey(
        Hospital, verbose_name=_("hospital"), on_delete=models.PROTECT, related_name="clinicians"
    )
    profession = models.CharField(_("profession"), max_length=20, choices=Profession.choices)
    specialty = models.ForeignKey(
        Specialty, verbose_name=_("specialty"), on_delete=models.PROTECT, related_name="clinicians"
    )
    languages = models.ManyToManyField(Language, verbose_name=_("languages spoken"), related_name="+")
    erns = models.ManyToManyField(ERN, verbose_name=_("ERN memberships"), blank=True, related_name="members")
    # Copies of what the suggested experts are ranked by (conferences/experts.py),
    # so that ranking thousands of candidates is one pass over this table with
    # integer arithmetic instead of two look-ups per candidate: the bit of each
    # ERN of `erns` (ERN.bit) and of each language of `languages`
    # (Language.bit), and the user's time zone. clinicians.services keeps them
    # in step (refresh_expertise, and the receivers of CliniciansConfig.ready
    # for writes made elsewhere).
    ern_bits = models.BigIntegerField(_("ERN memberships as bits"), default=0, editable=False)
    language_bits = models.BigIntegerField(_("languages spoken as bits"), default=0, editable=False)
    time_zone = models.CharField(_("time zone"), max_length=64, default=DEFAULT_TIME_ZONE, editable=False)
    show_email = models.BooleanField(_("show my email address in the directory"), default=False)
    show_phone = models.BooleanField(_("show my phone number in the directory"), default=False)
    listed_in_directory = models.BooleanField(_("list me in the directory"), default=True)
    restricted = models.BooleanField(
        _("processing restricted"),
        default=False,
        help_text=_("Set on a data-protection request: hidden from the directory and invitations."),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.REGISTERED, db_index=True
    )
    status_changed_at = models.DateTimeField(_("status changed"), default=timezone.now)
    hospital_confirmed = models.BooleanField(
        _("hospital confirmed by the helpdesk"),
        default=False,
        help_text=_("Coordinator rights need the helpdesk to have confirmed the current hospital."),
    )
    email_confirmed_at = models.DateTimeField(_("email confirmed"), null=True, blank=True)
    created_at = models.DateTimeField(_("registered"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ClinicianQuerySet.as_manager()

    PERSONAL_DATA_FIELDS = (
        "user",
        "first_name",
        "last_name",
        "search_name",
        "phone",
        "country",
        "hospital",
        "profession",
        "specialty",
        "languages",
        "erns",
        "ern_bits",
        "language_bits",
        "time_zone",
        "show_email",
        "show_phone",
        "listed_in_directory",
        "restricted",
        "status",
        "status_changed_at",
        "hospital_confirmed",
        "email_confirmed_at",
        "created_at",
        "updated_at",
    )

    class Meta:
        verbose_name = _("clinician")
        verbose_name_plural = _("clinicians")
        ordering = ["last_name", "first_name"]
        indexes = [
            models.Index(fields=["status", "country"], name="clinician_status_country_idx"),
            # The admin's list in its order (ClinicianAdmin.ordering): a page of 100 is
            # read from the index instead of sorting every clinician.
            models.Index(fields=["last_name", "first_name", "id"], name="clinician_admin_name_idx"),
            # The directory in its order, with what its filters read: a page is
            # found by walking this index alone (an index-only scan), without
            # visiting the table row of every clinician it passes
            # (clinicians/directory.py). Not created on SQLite (no INCLUDE).
            models.Index(
                Lower("last_name"),
                Lower("first_name"),
                F("id"),
                include=[
                    "last_name",
                    "first_name",
                    "search_name",
                    "country",
                    "hospital",
                    "profession",
                    "specialty",
                ],
                condition=Q(status="verified", listed_in_directory=True, restricted=False),
                name="clinician_directory_order_idx",
            ),
        ]
        permissions = [("export_directory", "Can export the directory as CSV")]

    def __str__(self) -> str:
        return self.full_name

    @classmethod
    def personal_data_of(cls, user: User) -> models.QuerySet[Clinician]:
        return cls.objects.filter(user=user).prefetch_related("languages", "erns")

    @classmethod
    def personal_needles(cls, user: User) -> list[str]:
        """How free text names the person: full name (also without accents) and phone."""
        needles: list[str] = []
        for clinician in cls.objects.filter(user=user):
            needles += [clinician.full_name, normalise_name(clinician.full_name)]
            if clinician.phone:
                needles += [clinician.phone.as_e164, clinician.phone.as_international]
        return needles

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def refresh_search_name(self) -> None:
        self.search_name = normalise_name(f"{self.first_name} {self.last_name}")

    def refresh_expertise_bits(self, *, erns: Iterable[ERN], languages: Iterable[Language]) -> None:
        """Set ern_bits and language_bits for these memberships and languages (not saved)."""
        self.ern_bits = bits_of(erns)
        self.language_bits = bits_of(languages)

    @property
    def is_listed(self) -> bool:
        """In the directory, and invitable: ClinicianQuerySet.listed() for one row."""
        return self.status == self.Status.VERIFIED and self.listed_in_directory and not self.restricted

    @property
    def shares_contact_details(self) -> bool:
        return self.show_email or self.show_phone

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, frozenset())

    @property
    def is_verified(self) -> bool:
        return self.status == self.Status.VERIFIED

    @property
    def is_coordinator(self) -> bool:
        """A verified clinician whose confirmed hospital is an approved reference centre."""
        return (
            self.is_verified
            and self.hospital_confirmed
            and self.hospital.approved
            and self.hospital.is_reference_centre
        )


class PrivacyStatementQuerySet(models.QuerySet["PrivacyStatement"]):
    def published(self) -> PrivacyStatementQuerySet:
        return self.filter(published_at__isnull=False, published_at__lte=timezone.now())

    def current(self) -> PrivacyStatement | None:
        return self.published().order_by("-version").first()


class PrivacyStatement(models.Model):
    """One version of the privacy statement. Body: paragraphs separated by a
    blank line; a line starting with "## " is a section heading."""

    version = models.PositiveIntegerField(_("version"), unique=True)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"))
    published_at = models.DateTimeField(
        _("published"), null=True, blank=True, help_text=_("Empty while it is a draft.")
    )

    objects = PrivacyStatementQuerySet.as_manager()

    PERSONAL_DATA_FIELDS = ()

    class Meta:
        verbose_name = _("privacy statement")
        verbose_name_plural = _("privacy statements")
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"

    def sections(self) -> list[tuple[str, list[str]]]:
        """[(heading, [paragraph, …]), …]; the first heading may be empty."""
        result: list[tuple[str, list[str]]] = [("", [])]
        for block in self.body.replace("\r\n", "\n").split("\n\n"):
            block = block.strip()
            if not block:
                continue
            if block.startswith("## "):
                heading, _sep, rest = block.partition("\n")
                result.append((heading[3:].strip(), []))
                block = rest.strip()
                if not block:
                    continue
            result[-1][1].append(block)
        return [section for section in result if section[0] or section[1]]


class PrivacyAcceptance(models.Model):
    """Who accepted which version of the privacy statement, and when."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="privacy_acceptances",
    )
    statement = models.ForeignKey(
        PrivacyStatement, verbose_name=_("statement"), on_delete=models.PROTECT, related_name="acceptances"
    )
    accepted_at = models.DateTimeField(_("accepted"), default=timezone.now)

    PERSONAL_DATA_FIELDS = ("user", "statement", "accepted_at")

    class Meta:
        verbose_name = _("privacy acceptance")
        verbose_name_plural = _("privacy acceptances")
        ordering = ["-accepted_at"]
        # The admin's list in that order (and the key's, which Django adds).
        indexes = [models.Index(fields=["accepted_at", "id"], name="privacy_acceptance_order_idx")]
        constraints = [
            models.UniqueConstraint(fields=["user", "statement"], name="privacy_acceptance_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} accepted v{self.statement_id}"

    @classmethod
    def personal_data_of(cls, user: User) -> models.QuerySet[PrivacyAcceptance]:
        return cls.objects.filter(user=user).select_related("statement")
