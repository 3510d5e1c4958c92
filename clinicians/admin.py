from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import URLPattern, path
from django.utils.text import smart_split, unescape_string_literal
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, ngettext_lazy

from cmss import audit
from cmss.admin_lists import LeanChangeListMixin
from cmss.csv import csv_lines
from cmss.http import signed_in_user
from cmss.pagination import EstimatedCountPaginator
from cmss.widgets import SafeAutocompleteAdminMixin

from . import services
from .models import (
    ERN,
    Clinician,
    Hospital,
    Language,
    PrivacyAcceptance,
    PrivacyStatement,
    Specialty,
    normalise_name,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


@admin.register(ERN)
class ERNAdmin(LeanChangeListMixin, admin.ModelAdmin):
    list_display = ["name", "full_name", "code"]
    search_fields = ["name", "full_name"]


@admin.register(Specialty)
class SpecialtyAdmin(LeanChangeListMixin, admin.ModelAdmin):
    list_display = ["name", "kind", "active"]
    list_filter = ["kind", "active"]
    search_fields = ["name"]


@admin.register(Language)
class LanguageAdmin(LeanChangeListMixin, admin.ModelAdmin):
    list_display = ["name", "native_name", "code"]
    search_fields = ["name", "native_name", "code"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        # A fixed list (ISO 639-1), shared with conferences and webinars.
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


class HospitalAdminForm(forms.ModelForm):
    class Meta:
        model = Hospital
        fields = ["name", "city", "country", "is_reference_centre"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        # A new hospital joins the list at once; a listed one may not become a copy of another.
        if {"name", "city", "country"} <= data.keys() and (
            self.instance.pk is None or self.instance.approved
        ):
            duplicate = services.listed_duplicate(
                name=data["name"], city=data["city"], country=data["country"], exclude=self.instance
            )
            if duplicate is not None:
                self.add_error("name", _("%(hospital)s is already in the list.") % {"hospital": duplicate})
        return data


@admin.register(Hospital)
class HospitalAdmin(LeanChangeListMixin, admin.ModelAdmin):
    """Supervisors keep the list: adding, correcting and the reference-centre flag go
    through the clinicians services (duplicates refused, the flag audited); a proposed
    hospital is approved with the action (or merged from its ticket)."""

    form = HospitalAdminForm
    list_display = ["name", "city", "country", "is_reference_centre", "approved"]
    list_filter = ["approved", "is_reference_centre", "country"]
    search_fields = ["name", "city"]
    fields = ["name", "city", "country", "is_reference_centre", "approved", "proposed_by", "created_at"]
    readonly_fields = ["approved", "proposed_by", "created_at"]
    actions = ["approve_selected"]

    def save_model(self, request: HttpRequest, obj: Hospital, form: Any, change: bool) -> None:
        data = form.cleaned_data
        values = {
            "name": data["name"],
            "city": data["city"],
            "country": data["country"],
            "is_reference_centre": data["is_reference_centre"],
        }
        try:
            if change:
                services.change_hospital(hospital=obj, by=signed_in_user(request), request=request, **values)
            else:
                obj.pk = services.add_hospital(by=signed_in_user(request), request=request, **values).pk
                obj.refresh_from_db()
                obj._state.adding = False
        except services.ClinicianError as error:
            # The form checks the same; this is a race with another supervisor.
            self.message_user(request, str(error), messages.ERROR)
            raise PermissionDenied(str(error)) from error

    @admin.action(description=_("Approve the selected proposed hospitals"), permissions=["change"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Hospital]) -> None:
        approved = 0
        for hospital in queryset.filter(approved=False):
            try:
                services.approve_hospital(hospital=hospital, by=signed_in_user(request))
            except services.ClinicianError as error:
                self.message_user(request, str(error), messages.WARNING)
            else:
                approved += 1
        self.message_user(
            request,
            ngettext("%(count)d hospital approved.", "%(count)d hospitals approved.", approved)
            % {"count": approved},
            messages.SUCCESS if approved else messages.WARNING,
        )


@admin.register(Clinician)
class ClinicianAdmin(LeanChangeListMixin, SafeAutocompleteAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "user", "country", "hospital", "specialty", "status", "created_at"]
    list_filter = ["status", "profession", "country", "restricted"]
    search_fields = ["first_name", "last_name", "user__email", "hospital__name"]
    list_select_related = ["user", "hospital", "specialty"]
    autocomplete_fields = ["hospital", "specialty"]
    raw_id_fields = ["user"]
    filter_horizontal = ["languages", "erns"]
    # The model's order made total with the key, so that a page is read in the
    # order of clinician_admin_name_idx, not sorted from the whole table.
    ordering = ["last_name", "first_name", "pk"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["suspend", "reinstate"]
    change_list_template = "admin/clinicians/clinician/change_list.html"
    # Saving corrects the profile through clinicians.services.correct_profile. Status
    # moves go through the verify/reject/suspend actions; restriction and the hospital's
    # confirmation through their ticket actions; directory visibility is the person's choice.
    readonly_fields = [
        "user",
        "hospital_confirmed",
        "listed_in_directory",
        "show_email",
        "show_phone",
        "restricted",
        "status",
        "status_changed_at",
        "email_confirmed_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = (
        (None, {"fields": ("user", "first_name", "last_name", "phone")}),
        (_("Work"), {"fields": ("country", "hospital", "hospital_confirmed", "profession", "specialty")}),
        (_("Expertise"), {"fields": ("languages", "erns")}),
        (_("Directory"), {"fields": ("listed_in_directory", "show_email", "show_phone", "restricted")}),
        (
            _("Status"),
            {"fields": ("status", "status_changed_at", "email_confirmed_at", "created_at", "updated_at")},
        ),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Clinicians register themselves (the registration service).
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Clinician]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if (
            request.method == "GET"
            and match is not None
            and match.url_name == "clinicians_clinician_changelist"
        ):
            # The list reads its seven columns only: 100 rows of whole clinicians,
            # users and hospitals (each phone number parsed) cost more than the page.
            queryset = queryset.only(*self.LIST_COLUMNS)
        return queryset

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Clinician], search_term: str
    ) -> tuple[QuerySet[Clinician], bool]:
        """Django's search (each word in a name, the email or the hospital's name),
        written so that indexes answer it: the name in search_name (first and last
        name, lower case without accents, as the directory searches), the email
        through its trigram index, the hospitals among their few rows; each word's
        matches as one set of keys. Django's OR of four UPPER(...) LIKEs across
        three joined tables read every clinician: 80-90 ms of PostgreSQL a search."""
        from cmss.models import User

        words = [
            unescape_string_literal(word) if word[0] in "\"'" and word[-1] == word[0] else word
            for word in smart_split(search_term)
        ]
        for word in words:
            # The hospitals' keys first (a few hundred rows): as a list, their clinicians
            # are read through the hospital index, not by scanning every clinician.
            hospitals = list(Hospital.objects.filter(name__icontains=word).values_list("pk", flat=True))
            matches = (
                Clinician.objects.filter(search_name__contains=normalise_name(word))
                .order_by()
                .values("pk")
                .union(
                    Clinician.objects.filter(
                        user_id__in=User.objects.filter(email__icontains=word).order_by().values("pk")
                    )
                    .order_by()
                    .values("pk"),
                    Clinician.objects.filter(hospital_id__in=hospitals).order_by().values("pk"),
                )
            )
            queryset = queryset.filter(pk__in=matches)
        return queryset, False

    LIST_COLUMNS: ClassVar[tuple[str, ...]] = (
        "first_name",
        "last_name",
        "country",
        "status",
        "created_at",
        "user__email",
        "hospital__name",
        "hospital__city",
        "specialty__name",
    )

    def save_model(self, request: HttpRequest, obj: Clinician, form: Any, change: bool) -> None:
        services.correct_profile(
            clinician=obj, data=form.cleaned_data, by=signed_in_user(request), request=request
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Languages and ERNs were saved by correct_profile; there are no inlines.
        pass

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        # Opening a clinician's record is access to personal data: audited.
        clinician = (
            Clinician.objects.filter(pk=object_id).select_related("user").first()
            if object_id.isdecimal()
            else None
        )
        if clinician is not None and request.method == "GET":
            audit.record(action="clinician.viewed", obj=clinician, subject=clinician.user, request=request)
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self) -> list[URLPattern]:
        export = path(
            "export-directory/",
            self.admin_site.admin_view(self.export_directory_view),
            name="clinicians_clinician_export_directory",
        )
        return [export, *super().get_urls()]

    def export_directory_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """The directory as CSV, for supervisors; every export is audited."""
        if not request.user.has_perm("clinicians.export_directory"):
            raise PermissionDenied
        audit.record(action="directory.exported", request=request)
        entries = Clinician.objects.listed().select_related("user", "hospital", "specialty").order_by("pk")
        header = [
            "first name",
            "last name",
            "profession",
            "specialty",
            "hospital",
            "city",
            "country",
            "email (if shared)",
            "phone (if shared)",
        ]
        rows = (
            [
                c.first_name,
                c.last_name,
                c.get_profession_display(),
                c.specialty.name,
                c.hospital.name,
                c.hospital.city,
                c.country.code,
                c.user.email if c.show_email else "",
                c.phone.as_international if c.show_phone else "",
            ]
            for c in entries.iterator(chunk_size=2000)
        )
        response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="cmss-directory.csv"'
        return response

    def _move(self, request: HttpRequest, queryset: QuerySet[Clinician], to: str, done: StrOrPromise) -> None:
        moved = 0
        for clinician in queryset.select_related("user", "hospital"):
            try:
                services.change_status(clinician=clinician, to=to, by=signed_in_user(request))
            except services.ClinicianError as error:
                self.message_user(request, f"{clinician}: {error}", messages.WARNING)
            else:
                moved += 1
        self.message_user(request, done % {"count": moved}, messages.SUCCESS)

    @admin.action(description=_("Suspend the selected clinicians (they are emailed)"), permissions=["change"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[Clinician]) -> None:
        self._move(
            request,
            queryset,
            Clinician.Status.SUSPENDED,
            ngettext_lazy("%(count)d clinician suspended.", "%(count)d clinicians suspended.", "count"),
        )

    @admin.action(
        description=_("Reinstate the selected suspended clinicians (they are emailed)"),
        permissions=["change"],
    )
    def reinstate(self, request: HttpRequest, queryset: QuerySet[Clinician]) -> None:
        # Only suspended clinicians: a registered one is verified from their ticket.
        suspended = queryset.filter(status=Clinician.Status.SUSPENDED)
        self._move(
            request,
            suspended,
            Clinician.Status.VERIFIED,
            ngettext_lazy("%(count)d clinician reinstated.", "%(count)d clinicians reinstated.", "count"),
        )


@admin.register(PrivacyStatement)
class PrivacyStatementAdmin(LeanChangeListMixin, admin.ModelAdmin):
    """Drafts are written and published here; a published version is what people
    accepted, so it is never edited or deleted (a new version replaces it)."""

    list_display = ["version", "title", "published_at"]
    fields = ["version", "title", "body", "published_at"]
    readonly_fields = ["published_at"]
    actions = ["publish_selected"]

    def has_change_permission(self, request: HttpRequest, obj: PrivacyStatement | None = None) -> bool:
        if obj is not None and obj.published_at is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: PrivacyStatement | None = None) -> bool:
        if obj is not None and obj.published_at is not None:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # The bulk delete would take published versions with it.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request: HttpRequest, obj: PrivacyStatement, form: Any, change: bool) -> None:
        try:
            services.save_privacy_statement(statement=obj, by=signed_in_user(request), request=request)
        except services.ClinicianError as error:
            # Published by someone else while this draft was open.
            self.message_user(request, str(error), messages.ERROR)
            raise PermissionDenied(str(error)) from error

    @admin.action(
        description=_("Publish the selected drafts (everyone accepts the new version at their next visit)"),
        permissions=["change"],
    )
    def publish_selected(self, request: HttpRequest, queryset: QuerySet[PrivacyStatement]) -> None:
        for statement in queryset.order_by("version"):
            try:
                services.publish_privacy_statement(
                    statement=statement, by=signed_in_user(request), request=request
                )
            except services.ClinicianError as error:
                self.message_user(request, str(error), messages.WARNING)
            else:
                self.message_user(
                    request,
                    _("Version %(version)d is published.") % {"version": statement.version},
                    messages.SUCCESS,
                )


@admin.register(PrivacyAcceptance)
class PrivacyAcceptanceAdmin(LeanChangeListMixin, admin.ModelAdmin):
    list_display = ["user", "statement", "accepted_at"]
    list_select_related = ["user", "statement"]
    # 100,000 rows: no full count on every page (privacy_acceptance_order_idx serves the order).
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    raw_id_fields = ["user"]
    readonly_fields = ["user", "statement", "accepted_at"]

    def has_add_permission(self, request: object) -> bool:
        return False
