"""Pages of the clinicians network: privacy statement and the clinician's profile."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from . import services
from .forms import ProfileForm
from .models import Clinician, PrivacyStatement


def privacy(request: HttpRequest) -> HttpResponse:
    statement = PrivacyStatement.objects.current()
    if statement is None:
        raise Http404("No privacy statement is published.")
    return render(request, "clinicians/privacy_detail.html", {"statement": statement})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    if request.user.is_staff and not Clinician.objects.filter(user=request.user).exists():
        return redirect("admin:index")
    clinician = Clinician.objects.with_related().filter(user=request.user).first()
    if clinician is None:
        raise Http404("No clinician profile.")
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
