"""Pages of the clinicians network: privacy statement and the clinician's profile."""

from __future__ import annotations

from allauth.core import ratelimit
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from cmss import audit
from cmss import ratelimit as cmss_ratelimit
from cmss.http import AuthenticatedHttpRequest
from cmss.pagecache import visitor_page

from . import directory as listing
from . import services
from .forms import AcceptPrivacyForm, DeleteAccountForm, DirectorySearchForm, ProfileForm
from .middleware import PRIVACY_TOPIC
from .models import Clinician, PrivacyStatement


@visitor_page(topics=(PRIVACY_TOPIC,))
def privacy(request: HttpRequest) -> HttpResponse:
    statement = PrivacyStatement.objects.current()
    if statement is None:
        raise Http404("No privacy statement is published.")
    return render(request, "clinicians/privacy_detail.html", {"statement": statement})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def profile(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.user.is_staff and not Clinician.objects.filter(user=request.user).exists():
        return redirect("admin:index")
    # Their ERNs and languages come from the bits on the row (ProfileForm.initial_for);
    # the user is the request's.
    clinician = Clinician.objects.select_related("hospital").filter(user=request.user).first()
    if clinician is None:
        raise Http404("No clinician profile.")
    clinician.user = request.user
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            services.update_profile(
                clinician=clinician, data=form.cleaned_data, by=request.user, request=request
            )
            messages.success(request, _("Your profile is saved."))
            return redirect("clinicians:profile")
    else:
        form = ProfileForm(initial=ProfileForm.initial_for(clinician))
    return render(request, "clinicians/profile_edit.html", {"clinician": clinician, "form": form})


DIRECTORY_PAGE_SIZE = 25


def _directory_member(request: AuthenticatedHttpRequest) -> Clinician | None:
    # Only whether they may use the directory (their status) is read.
    return Clinician.objects.filter(user=request.user).only("pk", "user_id", "status").first()


@never_cache
@login_required
def directory(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Verified clinicians find each other. No total count: the next page is
    known by fetching one row more than a page."""
    viewer = _directory_member(request)
    if viewer is None or not viewer.is_verified:
        return render(request, "clinicians/directory_closed.html", {"viewer": viewer}, status=403)
    limit, window = cmss_ratelimit.parse(settings.DIRECTORY_PAGING_RATE)
    if request.GET.get("page") and not cmss_ratelimit.allow(
        key=f"directory:{request.user.pk}", limit=limit, window=window
    ):
        return ratelimit.respond_429(request)
    form = DirectorySearchForm(request.GET)
    try:
        number = min(max(1, int(request.GET.get("page", "1"))), 10_000)
    except ValueError:
        number = 1
    filters = form.filters()
    found = listing.page(number=number, size=DIRECTORY_PAGE_SIZE, filters=filters)
    searched = any(filters.values())
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "clinicians/directory_list.html",
        {
            "search_form": listing.search_form(form, searched=searched),
            "entries": found.entries,
            "results": found.html,
            "page_number": number,
            "first_number": (number - 1) * DIRECTORY_PAGE_SIZE + 1,
            "has_previous": number > 1,
            "has_next": found.has_next,
            "query": query.urlencode(),
            "searched": searched,
        },
    )


@never_cache
@login_required
@require_http_methods(["POST"])
def directory_contact(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One entry's shared contact details, on request; every reveal is audited."""
    viewer = _directory_member(request)
    if viewer is None or not viewer.is_verified:
        raise Http404("The directory is for verified clinicians.")
    if not ratelimit.consume(request, action="directory_contact", user=request.user):
        return ratelimit.respond_429(request)
    entry = get_object_or_404(Clinician.objects.listed().select_related("user", "hospital"), pk=pk)
    audit.record(action="directory.contact_revealed", obj=entry, subject=entry.user, request=request)
    return render(
        request, "clinicians/directory_contact.html", {"entry": entry, "back": request.POST.get("back", "")}
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def personal_data_export(request: AuthenticatedHttpRequest) -> HttpResponse:
    """/profile/data/: a page that explains, and a POST that downloads the JSON file."""
    if request.method == "POST":
        data = services.export_personal_data(user=request.user, request=request)
        response = JsonResponse(data, json_dumps_params={"indent": 2, "ensure_ascii": False})
        response["Content-Disposition"] = 'attachment; filename="cmss-my-data.json"'
        return response
    return render(request, "clinicians/personal_data_export.html")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def account_delete(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = DeleteAccountForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        user = request.user
        logout(request)
        services.erase_account(user=user, request=request)
        messages.success(request, _("Your account and your personal data are deleted."))
        return redirect("home")
    return render(request, "clinicians/account_delete.html", {"form": form})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def privacy_accept(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A new version of the privacy statement: read it, accept it, go on."""
    statement = PrivacyStatement.objects.current()
    if statement is None:
        raise Http404("No privacy statement is published.")
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    safe = next_url.startswith("/") and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    if not safe:
        next_url = reverse("clinicians:profile")
    form = AcceptPrivacyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.accept_privacy_statement(user=request.user, statement=statement, request=request)
        return HttpResponseRedirect(next_url)
    return render(
        request, "clinicians/privacy_accept.html", {"statement": statement, "form": form, "next": next_url}
    )
