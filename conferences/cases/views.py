"""Pages of case-discussion conferences (and the local video backend's room)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from allauth.core import ratelimit
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet, Subquery, prefetch_related_objects
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from clinicians import directory
from clinicians.choices import reference_choices
from clinicians.models import Clinician
from cmss import audit, fragments
from cmss import ratelimit as cmss_ratelimit
from cmss.admin_lists import datetime_formatter
from cmss.http import AuthenticatedHttpRequest
from cmss.pagination import page_without_count

from .. import experts
from ..models import Conference, Invitation, OutcomeReport, ProposedSlot
from . import outcomes
from . import services as case_conferences
from .forms import (
    CancelForm,
    ConferenceRequestForm,
    ExpertQueryForm,
    ResponseForm,
    UsefulnessForm,
    invitee_label,
    is_id,
)

PAGE_SIZE = 25


def _clinician(request: AuthenticatedHttpRequest) -> Clinician | None:
    clinician = Clinician.objects.filter(user=request.user).select_related("hospital").first()
    if clinician is not None:
        clinician.user = request.user  # the signed-in person, already loaded: no join
    return clinician


@never_cache
@login_required
def conference_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The conferences of the hospital a person coordinates and those they are invited to."""
    clinician = _clinician(request)
    unread = OutcomeReport.objects.filter(
        conference=OuterRef("pk"), conference__requested_by=request.user, read_at__isnull=True
    )
    conferences = (
        Conference.objects.visible_to(request.user, clinician=clinician)
        .select_related("hospital")
        # What the list shows, not the question and case summary.
        .only("title", "urgency", "start", "state", "created_at", "hospital__name")
        # The requester's cue that advice came back (the report itself is on the page).
        .annotate(
            report_to_read=Exists(unread),
            # The person's own answer, if invited: a column, not a second query.
            my_answer=Subquery(
                Invitation.objects.filter(conference=OuterRef("pk"), clinician=clinician).values("response")[
                    :1
                ]
            ),
        )
        .order_by("-created_at", "-pk")
    )
    page = page_without_count(conferences, request.GET.get("page"), size=PAGE_SIZE)
    now = timezone.now()
    # Each label translated once for the page, not once per row (get_FOO_display
    # flattens the field's choices again on every call).
    states = {value: str(label) for value, label in Conference.State.choices}
    responses = {value: str(label) for value, label in Invitation.Response.choices}
    # One reverse() for the page: conference 0's URL, each pk in its place.
    before, after = reverse("conferences:detail", args=[0]).rsplit("/0/", 1)
    # Each start formatted as |date:"D j M Y, H:i" would, the format parsed once for the page.
    start_label = datetime_formatter("D j M Y, H:i")
    for conference in page.object_list:
        conference.detail_url = f"{before}/{conference.pk}/{after}"
        if conference.start is not None:
            local = timezone.localtime(conference.start)
            conference.start_iso, conference.start_label = local.isoformat(), start_label(local)
        conference.my_invitation = conference.my_answer is not None
        conference.upcoming = conference.start is not None and conference.start > now
        conference.state_label = states.get(conference.state, conference.state)
        conference.my_response = responses.get(conference.my_answer, "") if conference.my_invitation else ""
    return render(request, "conferences/conference_list.html", {"page": page, "clinician": clinician})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def conference_request(request: AuthenticatedHttpRequest) -> HttpResponse:
    clinician = _clinician(request)
    if clinician is None or not clinician.is_coordinator:
        return render(request, "conferences/request_closed.html", {"clinician": clinician}, status=403)
    if request.method != "POST":
        return render(
            request,
            "conferences/conference_request.html",
            {"blank_fields": _blank_request_fields(clinician), **_suggested_none()},
        )
    posted = request.POST.copy()
    invite = posted.get("invite_expert", "")
    # Without JavaScript, a suggestion's "Invite" sends the form back with
    # that person added to the chosen invitees.
    if is_id(invite) and invite not in posted.getlist("invitees"):
        posted.appendlist("invitees", invite)
    form = ConferenceRequestForm(posted, requester=clinician)
    picker = form.fields["invitees"].widget
    if {"find_invitees", "suggest_experts", "invite_expert"} & set(posted):
        # Without JavaScript, "Find", "Suggest experts" and "Invite" send the
        # form back: list the matches to tick, or the suggestions.
        if "find_invitees" in posted:
            query = posted.get("invitees_search", "")[:100]
            picker.query = query
            picker.candidates = search_invitees(query, exclude=clinician)
        return render(
            request,
            "conferences/conference_request.html",
            {"form": _unvalidated(form), **_suggested(request, posted, clinician)},
        )
    if not cmss_ratelimit.allow(key=f"conference-request:{request.user.pk}", limit=20, window=3600):
        return ratelimit.respond_429(request)
    if form.is_valid():
        data = form.cleaned_data
        conference = case_conferences.request_conference(
            coordinator=clinician,
            data=case_conferences.RequestData(
                title=data["title"],
                question=data["question"],
                case_summary=data["case_summary"],
                urgency=data["urgency"],
                slots=data["slots"],
                duration_minutes=data["duration_minutes"],
                time_zone=timezone.get_current_timezone_name(),
                invitees=list(data["invitees"]),
                erns=list(data["erns"]),
                specialties=list(data["specialties"]),
                countries=data["countries"],
                language=data["language"],
            ),
        )
        messages.success(
            request,
            _("Your request is with the helpdesk (%(number)s). You will be told when it is scheduled.")
            % {"number": conference.ticket.number if conference.ticket else ""},
        )
        return redirect("conferences:detail", pk=conference.pk)
    return render(
        request,
        "conferences/conference_request.html",
        {"form": form, **_suggested(request, posted, clinician)},
    )


def _blank_request_fields(clinician: Clinician) -> SafeString:
    """The fields of the unfilled request form: the same for every coordinator
    in a language and time zone (the slots' help names the zone); cached with
    the option lists they show (topic "reference")."""

    def build() -> SafeString:
        form = ConferenceRequestForm(requester=clinician)
        return render_to_string(
            "conferences/_conference_request_fields.html", {"form": form, **_suggested_none()}
        )

    return fragments.cached(("reference",), ("conference-request-fields", 1), build)


def _suggested_none() -> dict[str, Any]:
    return {
        "suggestions": [],
        "suggestions_message": _("Choose the wanted ERNs or specialties to see experts."),
    }


def _suggested(request: AuthenticatedHttpRequest, data: Any, clinician: Clinician) -> dict[str, Any]:
    """The experts suggested for what the request form holds, and what to say when there are none."""
    criteria = ExpertQueryForm(data).criteria()
    if not (criteria["erns"] or criteria["specialties"]):
        return _suggested_none()
    if not cmss_ratelimit.allow(key=f"expert-suggestions:{request.user.pk}", limit=300, window=600):
        return {
            "suggestions": [],
            "suggestions_message": _("Too many suggestions asked: wait a minute."),
            "suggestions_limited": True,
        }
    suggestions = experts.suggest_experts(**criteria, requester=clinician)
    return {
        "suggestions": suggestions,
        "suggestions_message": "" if suggestions else _("No other verified clinician has this expertise."),
    }


def _unvalidated(form: ConferenceRequestForm) -> ConferenceRequestForm:
    """Show a bound form again without its errors (the person only searched)."""
    form._errors = {}  # type: ignore[attr-defined]  # private, not in django-stubs
    return form


def search_invitees(query: str, *, exclude: Clinician) -> list[Clinician]:
    if len(query.strip()) < 2:
        return []
    # The directory's first matches, found as its pages are (without sorting
    # every match), one more in case the coordinator is among them.
    ids = [pk for pk in directory.page_ids(offset=0, limit=11, text=query) if pk != exclude.pk][:10]
    found = Clinician.objects.filter(pk__in=ids).select_related("hospital", "specialty").in_bulk()
    return [found[pk] for pk in ids if pk in found]


@never_cache
@login_required
def invitee_search(request: AuthenticatedHttpRequest) -> JsonResponse:
    """Search as you type for the invitee picker: coordinators only."""
    clinician = _clinician(request)
    if clinician is None or not clinician.is_coordinator:
        raise Http404("For coordinators of reference centres.")
    if not cmss_ratelimit.allow(key=f"invitee-search:{request.user.pk}", limit=300, window=600):
        return JsonResponse({"results": [], "error": _("Too many searches: wait a minute.")}, status=429)
    results = search_invitees(request.GET.get("q", "")[:100], exclude=clinician)
    return JsonResponse({"results": [{"id": item.pk, "label": invitee_label(item)} for item in results]})


@never_cache
@login_required
def expert_suggestions(request: AuthenticatedHttpRequest) -> JsonResponse:
    """The request form's "Suggested experts", refreshed as it is filled in: coordinators only.
    Reads the form's own fields (erns, specialties, language, slot_1…3, invitees) from the query string."""
    clinician = _clinician(request)
    if clinician is None or not clinician.is_coordinator:
        raise Http404("For coordinators of reference centres.")
    return suggestions_json(_suggested(request, request.GET, clinician))


def suggestions_json(found: dict[str, Any]) -> JsonResponse:
    """The suggestions of a form (experts or speakers) as the script reads them."""
    return JsonResponse(
        {
            "results": [
                {
                    "id": item.clinician.pk,
                    "label": item.label,
                    "reasons": list(item.reasons),
                    "why": item.why,
                }
                for item in found["suggestions"]
            ],
            "message": str(found["suggestions_message"]),
        },
        status=429 if found.get("suggestions_limited") else 200,
    )


def _visible(request: AuthenticatedHttpRequest, pk: int) -> Conference:
    return get_object_or_404(Conference.objects.visible_to(request.user).with_related(), pk=pk)


@never_cache
@login_required
def conference_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    clinician = _clinician(request)
    conference = get_object_or_404(
        # With its outcome report, if there is one, in the same query.
        _with_wanted(
            Conference.objects.visible_to(request.user, clinician=clinician)
            .with_related()
            .select_related("report")
        ),
        pk=pk,
    )
    return _detail(request, conference, clinician=clinician)


class _Slot(NamedTuple):
    start: datetime


def _with_wanted(conferences: QuerySet[Conference]) -> QuerySet[Conference]:
    """On PostgreSQL, the proposed slots and the keys of the wanted ERNs and
    specialties come with the conference, as arrays (three queries fewer);
    the names are those of the cached lists (clinicians.choices)."""
    if connection.vendor != "postgresql":
        return conferences
    pk = OuterRef("pk")
    return conferences.annotate(
        slot_starts=ArraySubquery(
            ProposedSlot.objects.filter(conference=pk).order_by("start").values("start")
        ),
        ern_keys=ArraySubquery(Conference.erns.through.objects.filter(conference=pk).values("ern_id")),
        specialty_keys=ArraySubquery(
            Conference.specialties.through.objects.filter(conference=pk).values("specialty_id")
        ),
    )


def _wanted(conference: Conference) -> tuple[list[Any], list[str], list[str]]:
    """The slots, and the names of the wanted ERNs and specialties, each in their model's order."""
    starts = getattr(conference, "slot_starts", None)
    if starts is None:
        return (
            list(conference.slots.all()),
            [ern.name for ern in conference.erns.all()],
            [specialty.name for specialty in conference.specialties.all()],
        )
    lists = reference_choices()
    erns = {str(key) for key in getattr(conference, "ern_keys", ())}
    specialties = {str(key) for key in getattr(conference, "specialty_keys", ())}
    return (
        [_Slot(start) for start in starts],
        [name for key, name in lists.erns if key in erns],
        [name for key, name in lists.specialties if key in specialties],
    )


def _detail(
    request: AuthenticatedHttpRequest,
    conference: Conference,
    *,
    answer_form: UsefulnessForm | None = None,
    clinician: Clinician | None = None,
) -> HttpResponse:
    if clinician is None:
        clinician = _clinician(request)
    invitations = list(
        conference.invitations.select_related("clinician__hospital", "clinician__specialty")
        # What the page shows of each invitee (not their phone number, parsed per row).
        .only(
            "conference_id",
            "clinician_id",
            "response",
            "clinician__first_name",
            "clinician__last_name",
            "clinician__hospital__name",
            "clinician__specialty__name",
        )
    )
    mine = next((item for item in invitations if clinician and item.clinician_id == clinician.pk), None)
    is_requester = conference.requested_by_id == request.user.pk
    coordinates = bool(
        clinician and clinician.is_coordinator and clinician.hospital_id == conference.hospital_id
    )
    report = _report_for(request, conference, clinician)
    audit.record(action="conference.viewed", obj=conference, request=request)
    slots, erns, specialties = _wanted(conference)
    context: dict[str, Any] = {
        "conference": conference,
        "invitations": invitations,
        "my_invitation": mine,
        "is_requester": is_requester,
        "can_cancel": coordinates and conference.is_open,
        # The join link: to the requester and the invitees only.
        "join_url": conference.join_url if (is_requester or mine is not None) else "",
        "slots": slots,
        "erns": erns,
        "specialties": specialties,
        "report": report,
        "answer_form": (
            (answer_form or UsefulnessForm(initial=_answer_of(report)))
            if report is not None and is_requester and not report.is_purged
            else None
        ),
    }
    return render(request, "conferences/conference_detail.html", context)


def _report_for(
    request: AuthenticatedHttpRequest, conference: Conference, clinician: Clinician | None
) -> OutcomeReport | None:
    """The outcome report, for the requester, the hospital's coordinators and
    the invitees who took part; nobody else sees it (not even an invitee who
    did not take part)."""
    try:
        report = conference.report  # no query when read with the conference (select_related)
    except OutcomeReport.DoesNotExist:
        return None
    prefetch_related_objects([report], "participants")
    if conference.requested_by_id == request.user.pk:
        return report
    if clinician is None:
        return None
    if clinician.is_coordinator and clinician.hospital_id == conference.hospital_id:
        return report
    if any(item.pk == clinician.pk for item in report.participants.all()):
        return report
    return None


def _answer_of(report: OutcomeReport | None) -> dict[str, str]:
    if report is None or not report.usefulness:
        return {}
    return {"usefulness": report.usefulness, "comment": report.usefulness_comment}


def _own_report(request: AuthenticatedHttpRequest, pk: int) -> tuple[Conference, OutcomeReport]:
    """The report of a conference the person requested; anyone else's is 404."""
    conference = _visible(request, pk)
    report = OutcomeReport.objects.filter(
        conference=conference, conference__requested_by=request.user
    ).first()
    if report is None:
        raise Http404("Only the requester answers for the report.")
    return conference, report


@never_cache
@login_required
@require_POST
def report_read(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    conference, report = _own_report(request, pk)
    try:
        outcomes.mark_read(report=report, by=request.user)
    except case_conferences.ConferenceError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("The report is marked read."))
    return redirect(reverse("conferences:detail", args=[conference.pk]) + "#report")


@never_cache
@login_required
@require_POST
def report_answer(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    conference, report = _own_report(request, pk)
    form = UsefulnessForm(request.POST)
    if not form.is_valid():
        return _detail(request, conference, answer_form=form)
    try:
        outcomes.rate_usefulness(
            report=report,
            usefulness=form.cleaned_data["usefulness"],
            comment=form.cleaned_data["comment"],
            by=request.user,
        )
    except case_conferences.ConferenceError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Thank you: the helpdesk sees your answer."))
    return redirect(reverse("conferences:detail", args=[conference.pk]) + "#report")


@never_cache
@login_required
@require_POST
def conference_respond(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    conference = _visible(request, pk)
    invitation = get_object_or_404(Invitation, conference=conference, clinician__user=request.user)
    form = ResponseForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose to accept or to decline."))
        return redirect("conferences:detail", pk=conference.pk)
    try:
        case_conferences.respond(invitation=invitation, accept=form.cleaned_data["response"] == "accept")
    except case_conferences.ConferenceError as error:
        messages.error(request, str(error))
    else:
        if form.cleaned_data["response"] == "accept":
            messages.success(request, _("You accepted the invitation."))
        else:
            messages.success(request, _("You declined the invitation."))
    return redirect("conferences:detail", pk=conference.pk)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def conference_cancel(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    conference = _visible(request, pk)
    clinician = _clinician(request)
    if not (clinician and clinician.is_coordinator and clinician.hospital_id == conference.hospital_id):
        raise Http404("Only the hospital's coordinators cancel its conferences.")
    if not conference.is_open:
        messages.info(request, _("This conference is %(state)s.") % {"state": conference.get_state_display()})
        return redirect("conferences:detail", pk=conference.pk)
    form = CancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            case_conferences.cancel(
                conference=conference, by=request.user, reason=form.cleaned_data["reason"]
            )
        except case_conferences.ConferenceError as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request, _("The conference is cancelled. The helpdesk and the invitees are told.")
            )
        return redirect("conferences:detail", pk=conference.pk)
    return render(request, "conferences/conference_cancel.html", {"conference": conference, "form": form})
