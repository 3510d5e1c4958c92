from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

# Imported first so that their registrations exist to be replaced below.
from allauth.account.admin import EmailAddressAdmin as BaseEmailAddressAdmin
from allauth.account.models import EmailAddress
from allauth.mfa.admin import AuthenticatorAdmin as BaseAuthenticatorAdmin
from allauth.mfa.models import Authenticator
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import outbox, staff
from .admin_lists import IndexedValuesFieldListFilter, LeanChangeListMixin
from .http import signed_in_user
from .models import AuditEvent, OutgoingEmail, RetentionPolicy, User
from .pagination import EstimatedCountPaginator


class StaffInviteForm(forms.ModelForm):
    """A new staff member: no password here, they choose it from the invitation."""

    role = forms.ChoiceField(label=_("role"), choices=staff.Role.choices)

    class Meta:
        model = User
        fields = ["email", "display_name"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["display_name"].required = True


class StaffChangeForm(forms.ModelForm):
    """A superuser's edit of a staff account: name, role, active, preferences."""

    role = forms.ChoiceField(label=_("role"), choices=staff.Role.choices)
    editor: User | None = None  # the superuser editing, set per request by UserAdmin.get_form

    class Meta:
        model = User
        fields = ["display_name", "time_zone", "language", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].initial = staff.role_of(self.instance)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if "role" in data and "is_active" in data:
            try:
                staff.check_change(
                    user=User.objects.get(pk=self.instance.pk),
                    by=self.editor,
                    role=data["role"],
                    is_active=data["is_active"],
                )
            except staff.StaffError as error:
                raise forms.ValidationError(str(error)) from error
        return data


@admin.register(User)
class UserAdmin(LeanChangeListMixin, admin.ModelAdmin):
    """Everyone's account, read-only, except staff accounts for superusers.

    Nobody sets or sees a password here (staff choose theirs from the invitation,
    clinicians theirs at sign-up); clinicians' accounts are suspended and
    reinstated through the clinician services.
    """

    ordering = ["email"]
    list_display = ["email", "display_name", "is_staff", "is_active", "last_login", "date_joined"]
    # 100,000 accounts: no full count on every page.
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_filter = ["is_staff", "is_active", "groups"]
    search_fields = ["email", "display_name"]
    actions = ["resend_invitation", "reset_two_factor"]
    add_fieldsets = ((None, {"fields": ("email", "display_name", "role")}),)
    staff_fieldsets = (
        (None, {"fields": ("email", "display_name", "role")}),
        (_("Preferences"), {"fields": ("time_zone", "language")}),
        (_("Access"), {"fields": ("is_active", "two_factor", "last_login", "date_joined")}),
    )
    view_fieldsets = (
        (None, {"fields": ("email", "display_name", "staff_role")}),
        (_("Preferences"), {"fields": ("time_zone", "language")}),
        (_("Access"), {"fields": ("is_active", "is_staff", "two_factor", "last_login", "date_joined")}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not request.user.is_superuser:
            return False
        return obj is None or bool(obj.is_staff)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Clinicians erase their own account (the erasure service); staff are deactivated.
        return False

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return self.add_fieldsets
        return self.staff_fieldsets if self.has_change_permission(request, obj) else self.view_fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return ["email", "two_factor", "last_login", "date_joined"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = StaffInviteForm
        elif self.has_change_permission(request, obj):
            kwargs["form"] = type("StaffChangeForm", (StaffChangeForm,), {"editor": request.user})
        return super().get_form(request, obj, change=change, **kwargs)

    def get_urls(self) -> list[URLPattern]:
        # Django's user admin had /<id>/password/ to set anyone's password; it answers 404
        # (instead of being taken for an object id and redirected).
        no_password = path("<id>/password/", self.admin_site.admin_view(self.no_password_view))
        return [no_password, *super().get_urls()]

    def no_password_view(self, request: HttpRequest, id: str) -> HttpResponse:
        raise Http404(_("Passwords are chosen by their owner only."))

    @admin.display(description=_("role"))
    def staff_role(self, user: User) -> str:
        role = staff.role_of(user)
        return str(staff.Role(role).label) if role else "—"

    @admin.display(description=_("two-factor sign-in"))
    def two_factor(self, user: User) -> str:
        if Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
            return str(_("set up"))
        return str(_("not set up"))

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            user = staff.invite_staff(
                email=data["email"],
                name=data["display_name"],
                role=data["role"],
                by=signed_in_user(request),
                request=request,
            )
            obj.pk = user.pk
            obj.refresh_from_db()
            obj._state.adding = False
            self.message_user(
                request,
                _("The invitation to choose a password is on its way to %(email)s.") % {"email": user.email},
            )
            return
        staff.change_staff(
            user=obj,
            by=signed_in_user(request),
            display_name=data["display_name"],
            role=data["role"],
            is_active=data["is_active"],
            time_zone=data["time_zone"],
            language=data["language"],
            request=request,
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Groups follow the role, set by the staff service; the forms have no other relations.
        pass

    def _each_staff(
        self, request: HttpRequest, queryset: QuerySet[User], run: Any, done: Callable[[int], str]
    ) -> None:
        count = 0
        for user in queryset.filter(is_staff=True):
            try:
                run(user)
            except staff.StaffError as error:
                self.message_user(request, f"{user}: {error}", messages.WARNING)
            else:
                count += 1
        self.message_user(request, done(count), messages.SUCCESS if count else messages.WARNING)

    @admin.action(description=_("Send the invitation to choose a password again"), permissions=["change"])
    def resend_invitation(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._each_staff(
            request,
            queryset,
            lambda user: staff.invite_staff(
                email=user.email,
                name=user.display_name,
                role=staff.role_of(user) or staff.Role.AGENT,
                by=signed_in_user(request),
                request=request,
            ),
            lambda count: (
                ngettext("%(count)d invitation sent again.", "%(count)d invitations sent again.", count)
                % {"count": count}
            ),
        )

    @admin.action(
        description=_("Reset two-factor sign-in (they set it up again at their next sign-in)"),
        permissions=["change"],
    )
    def reset_two_factor(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._each_staff(
            request,
            queryset,
            lambda user: staff.reset_two_factor(user=user, by=signed_in_user(request), request=request),
            lambda count: (
                ngettext(
                    "Two-factor sign-in reset for %(count)d staff member.",
                    "Two-factor sign-in reset for %(count)d staff members.",
                    count,
                )
                % {"count": count}
            ),
        )


class _ReadOnly:
    """Seen in the admin, changed elsewhere."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class GroupAdmin(_ReadOnly, BaseGroupAdmin):
    """The staff roles are defined in cmss/roles.py and synced after every migrate."""


class EmailAddressAdmin(_ReadOnly, BaseEmailAddressAdmin):
    """Addresses are their owner's: added and confirmed through allauth's pages."""

    actions = None


class AuthenticatorAdmin(_ReadOnly, BaseAuthenticatorAdmin):
    """Which second factors exist; never their secrets. A lost one is reset from the user's row."""

    fields = ["user", "type", "created_at", "last_used_at"]
    readonly_fields = fields


_REPLACED: list[tuple[Any, Any]] = [
    (Group, GroupAdmin),
    (EmailAddress, EmailAddressAdmin),
    (Authenticator, AuthenticatorAdmin),
]

for model, model_admin in _REPLACED:
    admin.site.unregister(model)
    admin.site.register(model, model_admin)


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(LeanChangeListMixin, admin.ModelAdmin):
    list_display = ["subject", "to_address", "state", "attempts", "created_at", "sent_at"]
    list_filter = ["state"]
    search_fields = ["to_address", "subject", "dedup_key"]
    # The list shows no column of the user (the link to them is on the email's page).
    list_select_related = False
    raw_id_fields = ["user"]
    date_hierarchy = None
    show_full_result_count = False
    # Every email ever sent stays in this table: counted by estimate once it is big.
    paginator = EstimatedCountPaginator
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[OutgoingEmail]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if (
            request.method == "GET"
            and match is not None
            and match.url_name == "cmss_outgoingemail_changelist"
        ):
            # The list reads its six columns only: a page of whole emails is their
            # bodies and attachments (TOASTed text and JSON to decode), which the
            # list never shows: 5.9 ms of PostgreSQL a page.
            queryset = queryset.only(*self.LIST_COLUMNS)
        return queryset

    LIST_COLUMNS: ClassVar[tuple[str, ...]] = (
        "subject",
        "to_address",
        "state",
        "attempts",
        "created_at",
        "sent_at",
    )

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
class AuditEventAdmin(LeanChangeListMixin, admin.ModelAdmin):
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
    # action and object_type: their values read from their indexes (audit_object_idx
    # leads with object_type), not a SELECT DISTINCT over the whole log on every page.
    list_filter = [
        ("action", IndexedValuesFieldListFilter),
        "outcome",
        ("object_type", IndexedValuesFieldListFilter),
    ]
    search_fields = ["=actor_id", "=subject_user_id", "=object_id"]
    date_hierarchy = "at"
    show_full_result_count = False
    # Every page of personal data that staff open adds a row: counted by estimate once it is big.
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(LeanChangeListMixin, admin.ModelAdmin):
    list_display = ["__str__", "confirmed_by_dpo", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not RetentionPolicy.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
