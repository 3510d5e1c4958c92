"""Conferences in the admin: a read-only list; they are worked from their helpdesk
ticket (the panel in cases/panels.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from cmss.admin_lists import LeanChangeListMixin, is_changelist_page
from cmss.pagination import BoundedCountPaginator
from helpdesk.models import Ticket

from ..models import Conference

if TYPE_CHECKING:
    pass


@admin.register(Conference)
class ConferenceAdmin(LeanChangeListMixin, admin.ModelAdmin):
    list_display = ["title", "hospital", "state", "urgency", "start", "meeting_state", "ticket_link"]
    list_filter = ["state", "urgency"]
    # Not the ticket: its link needs only ticket_id, and the join made PostgreSQL
    # hash all 100,000 tickets before sorting the conferences (30 ms a page).
    list_select_related = ["hospital", "meeting"]
    search_fields = ["title", "hospital__name"]
    date_hierarchy = "start"
    paginator = BoundedCountPaginator
    show_full_result_count = False
    fields: ClassVar[tuple[str, ...]] = (
        "title",
        "hospital",
        "requested_by",
        "state",
        "urgency",
        "start",
        "duration_minutes",
        "time_zone",
        "ticket_link",
        "meeting",
        "decline_reason",
        "cancel_reason",
        "outcome",
        "advice_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conference]:
        queryset = super().get_queryset(request)
        if is_changelist_page(request, self):
            # The list reads its seven columns only: a page of whole conferences and
            # their provider meetings (some thirty columns each) cost more than the page.
            return queryset.only(*self.LIST_COLUMNS)
        return queryset.defer("question", "case_summary", "outcome")

    LIST_COLUMNS: ClassVar[tuple[str, ...]] = (
        "title",
        "hospital__name",
        "hospital__city",
        "state",
        "urgency",
        "start",
        "created_at",
        "meeting__state",
        "ticket_id",
    )

    @admin.display(description=_("video meeting"))
    def meeting_state(self, conference: Conference) -> str:
        return conference.meeting.get_state_display() if conference.meeting else "—"

    @admin.display(description=_("ticket"))
    def ticket_link(self, conference: Conference) -> str:
        if conference.ticket_id is None:
            return "—"
        url = reverse("admin:helpdesk_ticket_change", args=[conference.ticket_id])
        return format_html('<a href="{}">{}</a>', url, Ticket(pk=conference.ticket_id).number)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
