"""The helpdesk's workplace: the ticket queue and the ticket page, in the admin."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import F, Prefetch, QuerySet
from django.forms import ChoiceField
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from clinicians.countries import NetworkCountries
from clinicians.models import Clinician
from cmss import audit
from cmss.admin_lists import LeanChangeListMixin
from cmss.http import signed_in_user
from cmss.models import User
from cmss.pagination import BoundedCountPaginator

from . import forms, queue, rendering, services
from .models import CannedReply, Holiday, Ticket, TicketEvent, TicketMessage, TicketQuerySet
from .panels import panel_for

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class QueueFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
        return [("active", _("Active (new, open, waiting)")), *Ticket.State.choices, ("all", _("All"))]

    def value(self) -> str:
        return super().value() or "active"

    def choices(self, changelist: ChangeList) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        value = self.value()
        if value == "active":
            return queryset.filter(state__in=Ticket.ACTIVE_STATES)
        if value in Ticket.State.values:
            return queryset.filter(state=value)
        return queryset


class AssigneeFilter(admin.SimpleListFilter):
    title = _("assignee")
    parameter_name = "assignee"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
        return [("mine", _("Mine")), ("unassigned", _("Unassigned"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        if self.value() == "mine":
            return queryset.filter(assignee=signed_in_user(request))
        if self.value() == "unassigned":
            return queryset.filter(assignee__isnull=True)
        return queryset


class OverdueFilter(admin.SimpleListFilter):
    title = _("service level")
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
        return [("yes", _("Overdue"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        if self.value() == "yes":
            assert isinstance(queryset, TicketQuerySet)  # the admin's, from Ticket.objects
            return queryset.overdue()
        return queryset


@functools.cache
def _country_lookups(language: str | None) -> list[tuple[str, str]]:
    """The 31 countries in the language's order: django-countries translates every
    name it knows to sort them, some 300 gettext calls a page, for names that only
    change with a deployment."""
    return [(code, str(name)) for code, name in NetworkCountries()]


class CountryFilter(admin.SimpleListFilter):
    title = _("country")
    parameter_name = "country"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return _country_lookups(get_language())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        if self.value():
            return queryset.filter(requester__clinician__country=self.value())
        return queryset


class TicketEventInline(admin.TabularInline):
    model = TicketEvent
    extra = 0
    can_delete = False
    fields: ClassVar[tuple[str, ...]] = ("at", "actor", "action", "from_value", "to_value", "note")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "kind",
        "subject_link",
        "requester_name",
        "country",
        "state",
        "priority",
        "assignee",
        "due",
        "updated_at",
    ]
    list_display_links = None
    list_filter = [QueueFilter, "kind", "priority", AssigneeFilter, OverdueFilter, CountryFilter]
    search_fields = ["subject", "requester_name", "requester_email"]
    # No joins in the page query (they would run over the whole queue before
    # the LIMIT): the 50 rows' people are fetched afterwards, in two queries.
    list_select_related = False
    list_per_page = 25
    show_full_result_count = False
    paginator = BoundedCountPaginator
    actions = ["assign_to_me", "make_urgent", "make_normal", "resolve_selected"]
    change_list_template = "admin/helpdesk/ticket/change_list.html"  # the popup and POSTs; see queue.py

    def get_queryset(self, request: HttpRequest) -> QuerySet[Ticket]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and match.url_name == "helpdesk_ticket_changelist":
            queryset = queryset.prefetch_related(
                Prefetch("assignee", queryset=User.objects.only("id", "email", "display_name"))
            )
            if not queue.is_lean(request):
                # The lean queue reads the requesters' countries itself, in one query.
                queryset = queryset.prefetch_related(
                    Prefetch("requester", queryset=User.objects.only("id")),
                    Prefetch(
                        "requester__clinician", queryset=Clinician.objects.only("id", "user_id", "country")
                    ),
                )
        return queryset

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {"title": _("Helpdesk queue"), **(extra_context or {})}
        # Actions (POST) and the raw-id lookup popup stay Django's; the agents' GET
        # is the lean queue page (helpdesk/queue.py), at the same URL.
        if not queue.is_lean(request):
            return super().changelist_view(request, extra)
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return queue.changelist(self, request, extra)

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        return [F("due_at").asc(nulls_last=True), "created_at", "pk"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Tickets are opened by the flows that need them, through services.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    # The queue renders a page of rows on every visit: its cells are plain format_html,
    # not a widget template or a reverse() per row (see `make bench`).
    @admin.display(
        description=mark_safe('<input type="checkbox" id="action-toggle" aria-label="Select all">')
    )
    def action_checkbox(self, ticket: Ticket) -> SafeString:
        return format_html(
            '<input type="checkbox" name="_selected_action" value="{}" class="action-select" aria-label="{} {}">',
            ticket.pk,
            _("Select ticket"),
            ticket.number,
        )

    @admin.display(description=_("ticket"), ordering="pk")
    def number(self, ticket: Ticket) -> str:
        return ticket.number

    @admin.display(description=_("subject"))
    def subject_link(self, ticket: Ticket) -> str:
        return format_html('<a href="{}{}/change/">{}</a>', self._changelist_url, ticket.pk, ticket.subject)

    @cached_property
    def _changelist_url(self) -> str:
        return reverse("admin:helpdesk_ticket_changelist")

    @admin.display(description=_("country"))
    def country(self, ticket: Ticket) -> str:
        clinician = getattr(ticket.requester, "clinician", None) if ticket.requester_id else None
        return clinician.country.code if clinician else "—"

    @admin.display(description=_("due"), ordering="due_at")
    def due(self, ticket: Ticket) -> str:
        return queue.due_cell(ticket, overdue=str(_("overdue")), paused=str(_("paused (waiting)")))

    # --- Bulk actions ---------------------------------------------------------------

    def _each(self, request: HttpRequest, queryset: QuerySet[Ticket], run: Any, done: StrOrPromise) -> None:
        count, errors = 0, []
        for ticket in queryset:
            try:
                run(ticket)
            except services.HelpdeskError as error:
                errors.append(str(error))
            else:
                count += 1
        self.message_user(request, done % {"count": count}, messages.SUCCESS)
        for message in errors:
            self.message_user(request, message, messages.WARNING)

    @admin.action(description=_("Assign to me"), permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        agent = signed_in_user(request)
        self._each(
            request,
            queryset,
            lambda t: services.assign(ticket=t, to=agent, by=agent),
            ngettext_lazy("%(count)d ticket assigned to you.", "%(count)d tickets assigned to you.", "count"),
        )

    @admin.action(description=_("Make urgent"), permissions=["change"])
    def make_urgent(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        self._each(
            request,
            queryset,
            lambda t: services.set_priority(ticket=t, priority="urgent", by=signed_in_user(request)),
            ngettext_lazy("%(count)d ticket made urgent.", "%(count)d tickets made urgent.", "count"),
        )

    @admin.action(description=_("Make normal priority"), permissions=["change"])
    def make_normal(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        self._each(
            request,
            queryset,
            lambda t: services.set_priority(ticket=t, priority="normal", by=signed_in_user(request)),
            ngettext_lazy(
                "%(count)d ticket set to normal priority.",
                "%(count)d tickets set to normal priority.",
                "count",
            ),
        )

    @admin.action(description=_("Resolve"), permissions=["change"])
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        self._each(
            request,
            queryset,
            lambda t: services.resolve(ticket=t, by=signed_in_user(request)),
            ngettext_lazy("%(count)d ticket resolved.", "%(count)d tickets resolved.", "count"),
        )

    # --- The ticket page -----------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "take-next/",
                self.admin_site.admin_view(self.take_next_view),
                name="helpdesk_ticket_take_next",
            ),
            path(
                "<int:pk>/act/<slug:action>/",
                self.admin_site.admin_view(self.act_view),
                name="helpdesk_ticket_act",
            ),
        ]
        return own + super().get_urls()

    def take_next_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        ticket = services.take_next(agent=signed_in_user(request))
        if ticket is None:
            self.message_user(
                request, _("The queue is empty: no unassigned ticket is waiting."), messages.INFO
            )
            return redirect("admin:helpdesk_ticket_changelist")
        self.message_user(
            request, _("Ticket %(number)s is yours.") % {"number": ticket.number}, messages.SUCCESS
        )
        return redirect("admin:helpdesk_ticket_change", ticket.pk)

    def _ticket(self, request: HttpRequest, pk: Any) -> Ticket:
        if not str(pk).isdecimal():
            raise Http404
        # The requester's profile comes along for the panel (helpdesk.panels.requester_clinician).
        try:
            # get(), not first(): no ORDER BY to compile for one row by its key.
            return (
                Ticket.objects.with_related()
                .select_related("requester__clinician__hospital", "requester__clinician__specialty")
                .get(pk=pk)
            )
        except Ticket.DoesNotExist:
            raise Http404 from None

    def _forms(
        self, ticket: Ticket, request: HttpRequest, bound: str | None = None, data: Any = None
    ) -> dict[str, Any]:
        canned = request.GET.get("canned")
        initial_reply = ""
        if canned:
            reply = CannedReply.objects.filter(pk=canned, active=True).first() if canned.isdecimal() else None
            if reply is not None:
                initial_reply = reply.render(name=ticket.requester_name or "")
        available = (
            (name, form_class)
            for name, form_class in (
                ("reply", forms.ReplyForm),
                ("note", forms.NoteForm),
                ("state", forms.StateForm),
                ("priority", forms.PriorityForm),
            )
        )
        result: dict[str, Any] = {}
        for name, form_class in available:
            initial: dict[str, Any] = {}
            if name == "reply":
                initial = {"body": initial_reply}
            elif name == "priority":
                initial = {"priority": ticket.priority}
            elif name == "state":
                form = form_class(data if bound == name else None, initial=initial, prefix=name)
                state = form.fields["state"]
                assert isinstance(state, ChoiceField)
                state.choices = [(s, label) for s, label in Ticket.State.choices if ticket.can_move_to(s)]
                result[name] = rendering.lean(form)
                continue
            result[name] = rendering.lean(
                form_class(data if bound == name else None, initial=initial, prefix=name)
            )
        return result

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        ticket = self._ticket(request, object_id)
        if not self.has_view_or_change_permission(request, ticket):
            raise PermissionDenied
        # The page shows the requester's profile and messages: access to personal data.
        audit.record(action="ticket.viewed", obj=ticket, subject=ticket.requester, request=request)
        return self._render(request, ticket)

    def _render(
        self,
        request: HttpRequest,
        ticket: Ticket,
        *,
        bound: str | None = None,
        data: Any = None,
        action_form: Any = None,
    ) -> HttpResponse:
        panel = panel_for(ticket.kind)
        panel_actions = []
        if panel is not None:
            for action in panel.actions:
                if not action.available(ticket):
                    continue
                form = (
                    action_form
                    if action_form is not None and bound == action.name
                    else action.form_class(prefix=action.name, **action.form_kwargs(ticket))
                )
                panel_actions.append((action, rendering.lean(form)))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{ticket.number} {ticket.subject}",
            "ticket": ticket,
            "can_change": self.has_change_permission(request, ticket),
            "thread": list(ticket.messages.select_related("author")),
            "events": list(ticket.events.select_related("actor")),
            "canned_replies": services.canned_replies(),
            "panel": panel,
            "panel_context": panel.context(ticket) if panel else {},
            "panel_actions": panel_actions,
            "clinician": None,
            **self._forms(ticket, request, bound, data),
        }
        if panel is None:
            from .panels import clinician_context

            context.update(clinician_context(ticket))
        else:
            context.update(context["panel_context"])
        return TemplateResponse(
            request, "admin/helpdesk/ticket/workspace.html", context, status=400 if bound else 200
        )

    def act_view(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        if request.method != "POST":
            raise Http404
        ticket = self._ticket(request, pk)
        if not self.has_change_permission(request, ticket):
            raise PermissionDenied
        by = signed_in_user(request)
        page = reverse("admin:helpdesk_ticket_change", args=[ticket.pk])
        simple = {
            "reply": (
                forms.ReplyForm,
                lambda d: services.reply(ticket=ticket, body=d["body"], by=by, then=d["then"]),
                _("Your reply is on its way to the requester."),
            ),
            "note": (
                forms.NoteForm,
                lambda d: services.add_note(ticket=ticket, body=d["body"], by=by),
                _("Note added."),
            ),
            "state": (
                forms.StateForm,
                lambda d: services.change_state(ticket=ticket, to=d["state"], by=by, note=d["note"]),
                _("State changed."),
            ),
            "priority": (
                forms.PriorityForm,
                lambda d: services.set_priority(ticket=ticket, priority=d["priority"], by=by),
                _("Priority changed."),
            ),
            "assign-me": (
                forms.EmptyForm,
                lambda d: services.assign(ticket=ticket, to=by, by=by),
                _("The ticket is yours."),
            ),
            "unassign": (
                forms.EmptyForm,
                lambda d: services.assign(ticket=ticket, to=None, by=by),
                _("The ticket is back in the queue."),
            ),
        }
        if action in simple:
            form_class, run, done = simple[action]
            form = form_class(
                request.POST, prefix=action if action in {"reply", "note", "state", "priority"} else None
            )
            if action == "state":
                state = form.fields["state"]
                assert isinstance(state, ChoiceField)
                state.choices = Ticket.State.choices
            if not form.is_valid():
                return self._render(request, ticket, bound=action, data=request.POST)
            try:
                run(form.cleaned_data)
            except services.HelpdeskError as error:
                self.message_user(request, str(error), messages.ERROR)
                return self._render(request, ticket, bound=action, data=request.POST)
            self.message_user(request, done, messages.SUCCESS)
            return HttpResponseRedirect(page)
        panel = panel_for(ticket.kind)
        chosen = next((a for a in (panel.actions if panel else ()) if a.name == action), None)
        if chosen is None or not chosen.available(ticket):
            raise Http404
        form = chosen.form_class(request.POST, prefix=chosen.name, **chosen.form_kwargs(ticket))
        if not form.is_valid():
            return self._render(request, ticket, bound=chosen.name, action_form=form)
        try:
            done_message = chosen.run(ticket, form.cleaned_data, by)
        except services.HelpdeskError as error:
            self.message_user(request, str(error), messages.ERROR)
            return self._render(request, ticket, bound=chosen.name, action_form=form)
        self.message_user(request, done_message, messages.SUCCESS)
        return HttpResponseRedirect(chosen.then(ticket) or page)


@admin.register(TicketMessage)
class TicketMessageAdmin(LeanChangeListMixin, admin.ModelAdmin):
    list_display = ["ticket", "kind", "author", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["ticket", "author"]
    raw_id_fields = ["ticket", "author"]
    show_full_result_count = False
    paginator = BoundedCountPaginator

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(CannedReply)
class CannedReplyAdmin(LeanChangeListMixin, admin.ModelAdmin):
    list_display = ["title", "active"]
    list_filter = ["active"]
    search_fields = ["title", "body"]


@admin.register(Holiday)
class HolidayAdmin(LeanChangeListMixin, admin.ModelAdmin):
    list_display = ["date", "name"]
    date_hierarchy = "date"
    search_fields = ["name"]
