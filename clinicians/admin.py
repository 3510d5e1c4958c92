from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _

from cmss import audit
from cmss.csv import csv_lines
from cmss.widgets import SafeAutocompleteAdminMixin

from . import services
from .models import ERN, Clinician, Hospital, Language, PrivacyAcceptance, PrivacyStatement, Specialty


@admin.register(ERN)
class ERNAdmin(admin.ModelAdmin):
    list_display = ["name", "full_name", "code"]
    search_fields = ["name", "full_name"]


@admin.register(Specialty)
class SpecialtyAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "active"]
    list_filter = ["kind", "active"]
    search_fields = ["name"]


@admin.register(Language)
class LanguageAdmin(admin.ModelAdmin):
    list_display = ["name", "native_name", "code"]
    search_fields = ["name", "native_name", "code"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Hospital)
class HospitalAdmin(admin.ModelAdmin):
    list_display = ["name", "city", "country", "is_reference_centre", "approved"]
    list_filter = ["approved", "is_reference_centre", "country"]
    search_fields = ["name", "city"]
    raw_id_fields = ["proposed_by"]
    readonly_fields = ["created_at"]


@admin.register(Clinician)
class ClinicianAdmin(SafeAutocompleteAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "user", "country", "hospital", "specialty", "status", "created_at"]
    list_filter = ["status", "profession", "country", "restricted"]
    search_fields = ["first_name", "last_name", "user__email", "hospital__name"]
    list_select_related = ["user", "hospital", "specialty"]
    autocomplete_fields = ["hospital", "specialty"]
    raw_id_fields = ["user"]
    filter_horizontal = ["languages", "erns"]
    show_full_result_count = False
    actions = ["suspend", "reinstate"]
    change_list_template = "admin/clinicians/clinician/change_list.html"
    # Status moves go through the helpdesk's verify/reject/suspend actions.
    readonly_fields = [
        "user",
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

    def export_directory_view(self, request: HttpRequest) -> HttpResponse:
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

    def _move(self, request: HttpRequest, queryset: QuerySet[Clinician], to: str, done: str) -> None:
        moved = 0
        for clinician in queryset.select_related("user", "hospital"):
            try:
                services.change_status(clinician=clinician, to=to, by=request.user)
            except services.ClinicianError as error:
                self.message_user(request, f"{clinician}: {error}", messages.WARNING)
            else:
                moved += 1
        self.message_user(request, done % {"count": moved}, messages.SUCCESS)

    @admin.action(description=_("Suspend the selected clinicians (they are emailed)"), permissions=["change"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[Clinician]) -> None:
        self._move(request, queryset, Clinician.Status.SUSPENDED, _("%(count)d clinicians suspended."))

    @admin.action(
        description=_("Reinstate the selected suspended clinicians (they are emailed)"),
        permissions=["change"],
    )
    def reinstate(self, request: HttpRequest, queryset: QuerySet[Clinician]) -> None:
        # Only suspended clinicians: a registered one is verified from their ticket.
        suspended = queryset.filter(status=Clinician.Status.SUSPENDED)
        self._move(request, suspended, Clinician.Status.VERIFIED, _("%(count)d clinicians reinstated."))


@admin.register(PrivacyStatement)
class PrivacyStatementAdmin(admin.ModelAdmin):
    list_display = ["version", "title", "published_at"]


@admin.register(PrivacyAcceptance)
class PrivacyAcceptanceAdmin(admin.ModelAdmin):
    list_display = ["user", "statement", "accepted_at"]
    list_select_related = ["user", "statement"]
    raw_id_fields = ["user"]
    readonly_fields = ["user", "statement", "accepted_at"]

    def has_add_permission(self, request: object) -> bool:
        return False
