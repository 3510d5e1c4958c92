"""The agents' queue: a lean page at the ticket changelist's URL, inside the admin site.

Django's ChangeList still decides what is shown (the filters, the search, the sort
order given by ?o=, the page), so links, bookmarks and ?e=1 behave as in any admin
list; what is not Django's is the rendering. The stock changelist sends each of the
250 cells through the generic row builder (field lookups, choice flattening, a
template node per cell), each filter and the action menu through a template of its
own, and costs twice the page budget; here the rows, filters, pager and action menu
are built in Python, with the same HTML (the admin's CSS and actions.js work
unchanged), and labels translated once per page, not once per cell.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.contrib.admin.options import IS_POPUP_VAR, TO_FIELD_VAR, IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, SEARCH_VAR
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import SimpleTemplateResponse, TemplateResponse
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext

from clinicians.models import Clinician
from cmss.admin_lists import action_menu, datetime_formatter, filters, headers_row, pager

from .models import Ticket

if TYPE_CHECKING:
    from django.contrib.admin.views.main import ChangeList

    from .admin import TicketAdmin


def is_lean(request: HttpRequest) -> bool:
    """Whether the request gets this page: actions (POST) and the raw-id lookup popup stay Django's."""
    return request.method == "GET" and IS_POPUP_VAR not in request.GET and TO_FIELD_VAR not in request.GET


def changelist(model_admin: TicketAdmin, request: HttpRequest, extra: dict[str, Any]) -> HttpResponse:
    """The queue page for a GET; what the stock changelist view would answer otherwise."""
    try:
        cl = model_admin.get_changelist_instance(request)
    except IncorrectLookupParameters:
        # As the stock view: a bad filter sends to ?e=1, which explains itself.
        if ERROR_FLAG in request.GET:
            return SimpleTemplateResponse("admin/invalid_setup.html", {"title": gettext("Database error")})
        return HttpResponseRedirect(request.path + "?" + ERROR_FLAG + "=1")
    actions = model_admin.get_action_choices(request)
    media = model_admin.media
    if len(actions) > 1:
        media += model_admin.action_form(auto_id=None).media
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": cl.opts,
        "cl": cl,
        "title": extra.get("title", cl.title),
        "media_js": media["js"],
        "search": _search(cl),
        "actions": action_menu(cl, actions) if len(actions) > 1 else "",
        "results": _results(model_admin, cl),
        "pager": pager(cl),
        "filters": filters(cl),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/helpdesk/ticket/queue.html", context)


def _search(cl: ChangeList) -> SafeString:
    count = cl.result_count
    hidden = "".join(
        format_html('<input type="hidden" name="{}" value="{}">', name, value)
        for name, value in cl.params.items()
        if name != SEARCH_VAR
    )
    return format_html(
        '<div id="toolbar"><form id="changelist-search" method="get" role="search">\n'
        "<div><!-- DIV needed for valid HTML -->\n"
        '<label for="searchbar"><img src="{}" alt="Search"></label>\n'
        '<input type="text" size="40" name="{}" value="{}" id="searchbar">\n'
        '<input type="submit" value="{}">\n'
        '<span class="small quiet">{} (<a href="?">{}</a>)</span>\n'
        "{}</div>\n</form></div>\n",
        static("admin/img/search.svg"),
        SEARCH_VAR,
        cl.query,
        gettext("Search"),
        ngettext("%(counter)s result", "%(counter)s results", count) % {"counter": count},
        gettext("Show all"),
        mark_safe(hidden),  # built with format_html just above
    )


def _results(model_admin: TicketAdmin, cl: ChangeList) -> SafeString:
    tickets: Iterable[Ticket] = cl.result_list
    if not cl.result_list:
        return mark_safe("")
    # str(): escape() of a lazy label is lazy, and would be translated again in each row.
    kinds = {value: escape(str(label)) for value, label in Ticket.Kind.choices}
    states = {value: escape(str(label)) for value, label in Ticket.State.choices}
    priorities = {value: escape(str(label)) for value, label in Ticket.Priority.choices}
    select, overdue, paused = gettext("Select ticket"), gettext("overdue"), gettext("paused (waiting)")
    changelist_url = reverse("admin:helpdesk_ticket_changelist", current_app=model_admin.admin_site.name)
    when = datetime_formatter()
    requesters = {ticket.requester_id for ticket in tickets if ticket.requester_id}
    countries = dict(
        Clinician.objects.filter(user_id__in=requesters).values_list("user_id", "country").order_by()
    )
    rows = []
    for ticket in tickets:
        assignee, number = ticket.assignee, escape(ticket.number)
        country = (countries.get(ticket.requester_id) if ticket.requester_id else None) or "—"
        rows.append(
            "<tr>"
            '<td class="action-checkbox"><input type="checkbox" name="_selected_action"'
            f' value="{ticket.pk}" class="action-select" aria-label="{select} {number}"></td>'
            f'<td class="field-number">{number}</td>'
            f'<td class="field-kind">{kinds.get(ticket.kind, escape(ticket.kind))}</td>'
            f'<td class="field-subject_link"><a href="{changelist_url}{ticket.pk}/change/">'
            f"{escape(ticket.subject)}</a></td>"
            f'<td class="field-requester_name">{_text(ticket.requester_name)}</td>'
            f'<td class="field-country">{escape(country)}</td>'
            f'<td class="field-state">{states.get(ticket.state, escape(ticket.state))}</td>'
            f'<td class="field-priority">{priorities.get(ticket.priority, escape(ticket.priority))}</td>'
            f'<td class="field-assignee nowrap">{escape(assignee) if assignee else "-"}</td>'
            f'<td class="field-due">{due_cell(ticket, overdue=overdue, paused=paused)}</td>'
            '<td class="field-updated_at nowrap">'
            f"{escape(when(timezone.localtime(ticket.updated_at)))}</td>"
            "</tr>"
        )
    return format_html(
        '<div class="results">\n<table id="result_list">\n<thead>\n<tr>\n{}\n</tr>\n</thead>\n'
        "<tbody>\n{}\n</tbody>\n</table>\n</div>\n",
        mark_safe(headers_row(cl)),  # built with format_html
        mark_safe("\n".join(rows)),  # every value escaped above
    )


def due_cell(ticket: Ticket, *, overdue: str, paused: str) -> SafeString:
    """The due column: the time in the agent's zone, paused while waiting on the requester."""
    if ticket.due_at is None:
        return mark_safe("—")
    if ticket.state == Ticket.State.WAITING:
        return format_html('<span class="due-paused">{}</span>', paused)
    local = f"{timezone.localtime(ticket.due_at):%d %b %H:%M}"
    if ticket.is_overdue:
        return format_html('<strong class="due-overdue">{} · {}</strong>', overdue, local)
    return escape(local)


def _text(value: str | None) -> str:
    """A text cell as the stock changelist shows it: '-' for none, a space for empty."""
    if value is None:
        return "-"
    return escape(value) or "&nbsp;"
