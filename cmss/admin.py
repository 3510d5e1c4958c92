from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import outbox
from .models import AuditEvent, OutgoingEmail, RetentionPolicy, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "display_name", "is_staff", "is_active", "last_login", "date_joined"]
    list_filter = ["is_staff", "is_active", "groups"]
    search_fields = ["email", "display_name"]
    readonly_fields = ["last_login", "date_joined"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Person"), {"fields": ("display_name", "time_zone", "language")}),
        (_("Access"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    filter_horizontal = ["groups"]

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        # Only a superuser grants staff rights or changes a sign-in address
        # (a changed address plus a password reset would take the account over).
        if request.user.is_superuser:
            return list(self.readonly_fields)
        return [*self.readonly_fields, "email", "is_staff", "is_superuser", "groups"]


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(admin.ModelAdmin):
    list_display = ["subject", "to_address", "state", "attempts", "created_at", "sent_at"]
    list_filter = ["state"]
    search_fields = ["to_address", "subject", "dedup_key"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    date_hierarchy = None
    show_full_result_count = False
    # Bodies are never shown: allauth's emails carry sign-in and password-reset
    # links, which would let whoever reads them take the account over.
    exclude = ["text_body", "html_body", "attachments", "headers"]
    readonly_fields = [
        field.name
        for field in OutgoingEmail._meta.fields
        if field.name not in {"id", "text_body", "html_body", "attachments", "headers"}
    ]
    actions = ["retry_failed"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Retry the selected failed emails"), permissions=["change"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[OutgoingEmail]) -> None:
        count = sum(
            1 for email in queryset.filter(state=OutgoingEmail.State.FAILED) if outbox.retry(email=email)
        )
        self.message_user(
            request,
            ngettext("%d email queued again.", "%d emails queued again.", count) % count,
            messages.SUCCESS,
        )


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = [
        "at",
        "action",
        "actor_id",
        "subject_user_id",
        "object_type",
        "object_id",
        "outcome",
        "ip_address",
    ]
    list_filter = ["action", "outcome", "object_type"]
    search_fields = ["=actor_id", "=subject_user_id", "=object_id"]
    date_hierarchy = "at"
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "confirmed_by_dpo", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not RetentionPolicy.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
