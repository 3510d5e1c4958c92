"""The public webinar programme, a webinar's page, registration and the calendar feed."""

from __future__ import annotations

from typing import Any

from allauth.core import ratelimit
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinicians.models import Clinician
from cmss import pagecache
from cmss import ratelimit as cmss_ratelimit
from cmss.http import AuthenticatedHttpRequest

from .. import experts
from ..cases.forms import is_id
from ..cases.views import search_invitees, suggestions_json
from ..models import Registration, Webinar, WebinarRequest
from . import programme as cached
from . import requests as webinar_requests
from . import services as webinars
from .forms import SpeakerQueryForm, WebinarRequestForm

REQUESTS_PAGE_SIZE = 25


def _clinician(request: HttpRequest) -> Clinician | None:
    if not request.user.is_authenticated:
        return None
    clinician = Clinician.objects.filter(user=request.user).first()
    if clinician is not None:
        # The same person: emails queued under a webinar's lock need no query for them.
        clinician.user = request.user
    return clinician


# A visitor's page is kept whole (cmss/pagecache.py) until a webinar or a seat changes.
_VISITOR_TOPICS = (cached.TOPIC, cached.SEATS_TOPIC)


@require_GET
@pagecache.visitor_page(topics=_VISITOR_TOPICS, query=cached.CACHEABLE)
@transaction.non_atomic_requests  # reads only: no BEGIN/COMMIT round trips
def programme(request: HttpRequest) -> HttpResponse:
    """Upcoming webinars first (soonest first), then past ones with their recordings:
    the programme from the cache, with the seats left and the viewer's own seats
    filled in (programme.py)."""
    now = timezone.now()
    built = cached.programme(request.GET, now=now)
    if not built.valid or built.page != (request.GET.get("page") or "1"):
        pagecache.do_not_keep(request)  # as the programme itself: a refused filter, a page too far
    pagecache.keep_until(request, built.until)
    seats = cached.seats_taken(built, now=now)
    mine = cached.registrations_of(request.user, built, now=now)
    return render(
        request, "conferences/webinar_list.html", {"programme": cached.fill(built, seats=seats, mine=mine)}
    )


@require_GET
@pagecache.visitor_page(topics=_VISITOR_TOPICS)
@transaction.non_atomic_requests  # reads only
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A webinar's page: its facts from the cache, the seats left and the
    viewer's registration (with their forms) built for this request."""
    about = cached.about(pk)
    if about is None or not cached.may_see(request.user, about.webinar):
        raise Http404("No such webinar.")
    webinar = about.webinar
    # Registration closes when it starts; the seats go when it ends.
    now = timezone.now()
    pagecache.keep_until(request, next((when for when in (webinar.start, webinar.end) if when > now), None))
    if webinar.state == Webinar.State.PUBLISHED and not webinar.is_over():
        webinar.confirmed_count = cached.confirmed_counts([pk]).get(pk, 0)  # type: ignore[attr-defined]
    viewer = cached.viewer(request.user, webinar)
    registration = viewer.registration
    can_register = (
        webinar.registration_open()
        and (viewer.clinician_status is None or viewer.clinician_status in webinars.MAY_REGISTER)
        and not (request.user.is_authenticated and viewer.clinician_status is None)
        and (registration is None or not registration.is_active)
    )
    return render(
        request,
        "conferences/webinar_detail.html",
        {
            "webinar": webinar,
            "about": about,
            "clinician": viewer.clinician_status is not None,
            "registration": registration,
            "can_register": can_register,
            # The provider meeting is read now (never cached), for a confirmed seat only.
            "join_url": webinar.join_url
            if registration is not None and registration.status == Registration.Status.CONFIRMED
            else "",
        },
    )


@never_cache
@login_required
@require_POST
# Not one transaction for the whole request: the service's own is the outermost,
# so the webinar's seat lock is released at its commit, before the emails are
# rendered and the response is built (a burst of registrations queues for it).
@transaction.non_atomic_requests
def register(request: HttpRequest, pk: int) -> HttpResponse:
    webinar = get_object_or_404(Webinar.objects.filter(state=Webinar.State.PUBLISHED), pk=pk)
    clinician = _clinician(request)
    if clinician is None:
        messages.error(request, _("Only clinicians of the network can register for webinars."))
        return redirect("conferences:webinar_detail", pk=webinar.pk)
    try:
        registration = webinars.register(webinar=webinar, clinician=clinician)
    except webinars.WebinarError as error:
        messages.error(request, str(error))
        return redirect("conferences:webinar_detail", pk=webinar.pk)
    if registration.status == Registration.Status.CONFIRMED:
        messages.success(request, _("Your seat is confirmed. We have emailed you a calendar invitation."))
    else:
        messages.info(
            request,
            _(
                "The webinar is full: you are number %(position)d on the waitlist. We will email you if a seat frees up."
            )
            % {"position": webinars.waitlist_position(registration) or 1},
        )
    return redirect("conferences:webinar_detail", pk=webinar.pk)


@never_cache
@login_required
@require_POST
@transaction.non_atomic_requests
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    registration = get_object_or_404(
        Registration.objects.active().select_related("webinar"), webinar_id=pk, clinician__user=request.user
    )
    had_seat = registration.status == Registration.Status.CONFIRMED
    try:
        webinars.cancel_registration(registration=registration)
    except webinars.WebinarError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("Your registration is cancelled; your seat goes to the next person waiting.")
            if had_seat
            else _("You have left the waitlist."),
        )
    return redirect("conferences:webinar_detail", pk=pk)


@require_GET
@transaction.non_atomic_requests  # reads only, and mostly from the cache
def feed(request: HttpRequest) -> HttpResponse:
    """The published programme as an iCalendar feed (subscribe in any calendar program).
    The same bytes for everyone (of a language), cached; a calendar program that
    polls with If-None-Match or If-Modified-Since is answered 304 without them."""
    built, body = cached.feed()
    response = get_conditional_response(request, etag=built.etag, last_modified=built.last_modified)
    if response is None:
        response = HttpResponse(
            body if body is not None else cached.feed_body(built), content_type="text/calendar; charset=utf-8"
        )
        response["Content-Disposition"] = 'inline; filename="cmss-webinars.ics"'
    response["ETag"] = built.etag
    response["Last-Modified"] = http_date(built.last_modified)
    return response


# --- Webinar requests of reference centres -----------------------------------------------------


def _requester(request: AuthenticatedHttpRequest) -> Clinician | None:
    return Clinician.objects.filter(user=request.user).select_related("hospital", "user").first()


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def new_request(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A coordinator asks for a webinar (like the conference request)."""
    clinician = _requester(request)
    # A verified clinician of a confirmed hospital may send the form back: if the
    # hospital stopped being a reference centre since the page opened, the form
    # says so and nothing is saved. Everyone else gets the closed page.
    may_post = clinician is not None and clinician.is_verified and clinician.hospital_confirmed
    if clinician is None or not (clinician.is_coordinator or (request.method == "POST" and may_post)):
        return render(
            request, "conferences/request_closed.html", {"clinician": clinician, "webinar": True}, status=403
        )
    posted = None
    if request.method == "POST":
        posted = request.POST.copy()
        add = posted.get("add_speaker", "")
        # Without JavaScript, a suggestion's "Add as speaker" sends the form back
        # with that person added to the chosen speakers (never the requester).
        if is_id(add) and int(add) != clinician.pk and add not in posted.getlist("speakers"):
            posted.appendlist("speakers", add)
    form = WebinarRequestForm(posted, requester=clinician)
    picker = form.fields["speakers"].widget
    if posted is not None and {"find_speakers", "suggest_speakers", "add_speaker"} & set(posted):
        # Without JavaScript, "Find", "Suggest speakers" and "Add as speaker" send
        # the form back: list the matches to tick, or the suggested speakers.
        if "find_speakers" in posted:
            query = posted.get("speakers_search", "")[:100]
            picker.query = query
            picker.candidates = search_invitees(query, exclude=clinician)
        form._errors = {}  # type: ignore[attr-defined]  # only searched: show the form again without errors
        return render(
            request,
            "conferences/webinar_request.html",
            {"form": form, **_suggested_speakers(request, posted, clinician)},
        )
    if request.method == "POST":
        if not cmss_ratelimit.allow(key=f"webinar-request:{request.user.pk}", limit=20, window=3600):
            return ratelimit.respond_429(request)
        if form.is_valid():
            data = form.cleaned_data
            try:
                created = webinar_requests.request_webinar(
                    coordinator=clinician,
                    data=webinar_requests.RequestData(
                        topic=data["topic"],
                        audience=data["audience"],
                        clinical_need=data["clinical_need"],
                        erns=list(data["erns"]),
                        language=data["language"],
                        dates=data["dates"],
                        duration_minutes=data["duration_minutes"],
                        audience_size=data["audience_size"],
                        recorded=data["recorded"],
                        time_zone=timezone.get_current_timezone_name(),
                        speakers=list(data["speakers"]),
                        outside_speakers=data["outside_speakers"],
                    ),
                )
            except webinar_requests.WebinarRequestError as error:
                form.add_error(None, str(error))
            else:
                messages.success(
                    request,
                    _("Your request is with the helpdesk (%(number)s). We will email you at each step.")
                    % {"number": created.ticket.number if created.ticket else ""},
                )
                return redirect("conferences:webinar_request_detail", pk=created.pk)
    status = 400 if form.is_bound else 200
    suggested = _suggested_speakers(request, posted, clinician) if posted is not None else _no_speakers()
    return render(request, "conferences/webinar_request.html", {"form": form, **suggested}, status=status)


def _no_speakers() -> dict[str, Any]:
    return {"suggestions": [], "suggestions_message": _("Choose the ERNs concerned to see speakers.")}


def _suggested_speakers(request: AuthenticatedHttpRequest, data: Any, clinician: Clinician) -> dict[str, Any]:
    """The speakers suggested for what the request form holds, and what to say when there are none."""
    criteria = SpeakerQueryForm(data).criteria()
    if not criteria["erns"] or not clinician.is_coordinator:
        return _no_speakers()
    if not cmss_ratelimit.allow(key=f"speaker-suggestions:{request.user.pk}", limit=300, window=600):
        return {
            "suggestions": [],
            "suggestions_message": _("Too many suggestions asked: wait a minute."),
            "suggestions_limited": True,
        }
    suggestions = experts.suggest_speakers(**criteria, requester=clinician)
    none = _("No other verified clinician is a member of these ERNs.")
    return {"suggestions": suggestions, "suggestions_message": "" if suggestions else none}


@never_cache
@login_required
def speaker_suggestions(request: AuthenticatedHttpRequest) -> JsonResponse:
    """The webinar request form's "Suggested speakers", refreshed as it is filled in:
    coordinators only. Reads the form's own fields (erns, language, dates, speakers)
    from the query string."""
    clinician = _requester(request)
    if clinician is None or not clinician.is_coordinator:
        raise Http404("For coordinators of reference centres.")
    return suggestions_json(_suggested_speakers(request, request.GET, clinician))


@never_cache
@login_required
def request_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The webinar requests of the hospital one coordinates (and one's own)."""
    clinician = _requester(request)
    listed = (
        WebinarRequest.objects.visible_to(request.user)
        .select_related("hospital", "webinar")
        .prefetch_related("dates")
        .order_by("-created_at", "-pk")
    )
    page = Paginator(listed, REQUESTS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "conferences/webinar_request_list.html", {"page": page, "clinician": clinician})


@never_cache
@login_required
def request_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    webinar_request = get_object_or_404(WebinarRequest.objects.visible_to(request.user).with_related(), pk=pk)
    webinar = webinar_request.webinar
    return render(
        request,
        "conferences/webinar_request_detail.html",
        {
            "webinar_request": webinar_request,
            # The webinar's public page, once it is on the programme.
            "webinar": webinar if webinar is not None and webinar.published_at is not None else None,
        },
    )
