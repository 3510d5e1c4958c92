"""The provider meetings in the admin: the ones that failed (or whose update the
provider refused) first, each with its error and Webex tracking id, and a retry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib import admin, messages
from django.db.models import Case, Count, Q, QuerySet, Value, When
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from cmss.admin_lists import LeanChangeListMixin
from cmss.pagination import BoundedCountPaginator

from ..models import NEEDS_ATTENTION, ProviderMeeting
from . import pipeline

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class AttentionFilter(admin.SimpleListFilter):
    title = _("needs attention")
    parameter_name = "attention"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
        return [("yes", _("failed or not updated")), ("no", _("working"))]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[ProviderMeeting]
    ) -> QuerySet[ProviderMeeting]:
        if self.value() == "yes":
            return queryset.filter(NEEDS_ATTENTION)
        if self.value() == "no":
            return queryset.exclude(NEEDS_ATTENTION)
        return queryset


@admin.register(ProviderMeeting)
class ProviderMeetingAdmin(LeanChangeListMixin, admin.ModelAdmin):
    list_display = ["title", "kind", "state", "start", "attempts", "error", "tracking_id", "updated_at"]
    list_filter = [AttentionFilter, "state", "kind"]
    search_fields = ["key", "title", "provider_id", "tracking_id"]
    actions = ["retry_selected"]
    paginator = BoundedCountPaginator
    show_full_result_count = False
    fields: ClassVar[tuple[str, ...]] = (
        "key",
        "owner",
        "kind",
        "title",
        "agenda",
        "start",
        "end",
        "time_zone",
        "state",
        "attempts",
        "last_error",
        "tracking_id",
        "provider_id",
        "join_url",
        "next_attempt_at",
        "cancel_requested",
        "version",
        "synced_version",
        "invitees_summary",
        "sync_failed",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProviderMeeting]:
        return super().get_queryset(request).defer("agenda", "sent_creates")

    @admin.display(description=_("invitees"))
    def invitees_summary(self, meeting: ProviderMeeting) -> str:
        """Counts, not a list: a webinar may have thousands of registrants."""
        counts = meeting.invitees.aggregate(
            on_provider=Count("pk", filter=Q(synced_at__isnull=False, removed_at__isnull=True)),
            to_add=Count("pk", filter=Q(synced_at__isnull=True, removed_at__isnull=True)),
            to_remove=Count("pk", filter=Q(removed_at__isnull=False)),
        )
        return _("%(on_provider)d on the provider, %(to_add)d to add, %(to_remove)d to remove") % counts

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        # Failed (or refused an update) first, then the most recently changed. The
        # changelist orders by this, not by the queryset's order_by, which it would
        # put after the model's Meta ordering (start).
        attention_first = Case(When(NEEDS_ATTENTION, then=Value(0)), default=Value(1))
        return [attention_first.asc(), "-updated_at"]

    @admin.display(description=_("last error"))
    def error(self, meeting: ProviderMeeting) -> str:
        return meeting.last_error[:160]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Retry on the video provider"), permissions=["change"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[ProviderMeeting]) -> None:
        retried = sum(1 for meeting in queryset if pipeline.retry_meeting(meeting=meeting))
        self.message_user(
            request,
            ngettext("%(count)d meeting is queued again.", "%(count)d meetings are queued again.", retried)
            % {"count": retried},
            messages.SUCCESS if retried else messages.WARNING,
        )
