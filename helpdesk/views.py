"""The requester's side of the helpdesk: their tickets, new questions, replies,
and the public contact form for people without an account."""

from __future__ import annotations

from allauth.core import ratelimit
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from cmss.http import AuthenticatedHttpRequest
from cmss.pagecache import visitor_page
from cmss.pagination import page_without_count

from . import services
from .forms import ContactForm, MessageForm, QuestionForm
from .models import Ticket, TicketMessage


def _public_messages(ticket: Ticket) -> list[TicketMessage]:
    return list(ticket.messages.exclude(kind=TicketMessage.Kind.NOTE).select_related("author"))


@never_cache
@login_required
def ticket_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    tickets = Ticket.objects.for_requester(request.user).order_by("-updated_at", "-pk")
    page = page_without_count(tickets, request.GET.get("page"), size=25)
    # Each label translated once for the page, not once per row (get_FOO_display
    # flattens the field's choices again on every call).
    kinds = {value: str(label) for value, label in Ticket.Kind.choices}
    states = {value: str(label) for value, label in Ticket.State.choices}
    for ticket in page.object_list:
        ticket.kind_label = kinds.get(ticket.kind, ticket.kind)
        ticket.state_label = states.get(ticket.state, ticket.state)
    return render(request, "helpdesk/ticket_list.html", {"page": page})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def ticket_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = QuestionForm(request.POST or None)
    if request.method == "POST":
        if not ratelimit.consume(request, action="helpdesk_message", user=request.user):
            return ratelimit.respond_429(request)
        if form.is_valid():
            ticket = services.open_ticket(
                kind=form.cleaned_data["kind"],
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
                requester=request.user,
            )
            messages.success(
                request, _("Your request %(number)s is with the helpdesk.") % {"number": ticket.number}
            )
            return redirect("helpdesk:ticket_detail", pk=ticket.pk)
    return render(request, "helpdesk/ticket_new.html", {"form": form})


def _thread(request: HttpRequest, ticket: Ticket, *, action_url: str) -> HttpResponse:
    form = MessageForm(request.POST or None)
    if request.method == "POST":
        if request.user.is_authenticated:
            allowed = ratelimit.consume(request, action="helpdesk_message")
        else:
            # Without an account the signed link is who writes ("helpdesk_message"
            # counts per user, which allauth refuses for anonymous requests).
            allowed = ratelimit.consume(request, action="helpdesk_link_message", key=f"ticket:{ticket.pk}")
        if not allowed:
            return ratelimit.respond_429(request)
        if form.is_valid():
            try:
                services.requester_reply(
                    ticket=ticket,
                    body=form.cleaned_data["body"],
                    by=request.user if request.user.is_authenticated else None,
                )
            except services.HelpdeskError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, _("Your reply is with the helpdesk."))
                return redirect(action_url)
    return render(
        request,
        "helpdesk/ticket_detail.html",
        {"ticket": ticket, "thread": _public_messages(ticket), "form": form, "action_url": action_url},
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def ticket_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    ticket = get_object_or_404(Ticket.objects.for_requester(request.user), pk=pk)
    return _thread(request, ticket, action_url=request.path)


@never_cache
@require_http_methods(["GET", "POST"])
def ticket_by_link(request: HttpRequest, token: str) -> HttpResponse:
    """A requester without an account follows the ticket through a signed link."""
    ticket = services.ticket_from_token(token)
    if ticket is None:
        raise Http404("This link is not valid or has expired.")
    return _thread(request, ticket, action_url=request.path)


@never_cache
@require_http_methods(["GET", "POST"])
@visitor_page()  # the same form for every visitor, with their own token
def contact(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("helpdesk:ticket_new")
    form = ContactForm(request.POST or None)
    if request.method == "POST":
        if not ratelimit.consume(request, action="contact"):
            return ratelimit.respond_429(request)
        if form.is_valid():
            data = form.cleaned_data
            services.open_contact_question(
                name=data["name"],
                email=data["email"],
                subject=data["subject"],
                body=data["body"],
                kind=data["kind"],
            )
            return redirect("helpdesk:contact_sent")
    return render(request, "helpdesk/contact_form.html", {"form": form})


def contact_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "helpdesk/contact_sent.html")
