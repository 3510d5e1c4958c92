from __future__ import annotations

from django.contrib import admin

from .models import Ticket, TicketEvent


class TicketEventInline(admin.TabularInline):
    model = TicketEvent
    extra = 0
    can_delete = False
    fields = ["at", "actor", "action", "from_value", "to_value", "note"]
    readonly_fields = fields

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "kind",
        "requester_name",
        "state",
        "priority",
        "assignee",
        "due_at",
        "updated_at",
    ]
    list_filter = ["kind", "state", "priority"]
    search_fields = ["subject", "requester_name", "requester_email"]
    list_select_related = ["requester", "assignee"]
    raw_id_fields = ["requester", "assignee"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [TicketEventInline]
    show_full_result_count = False
