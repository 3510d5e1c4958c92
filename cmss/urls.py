"""The project's URLs. Public URLs are part of the product: keep them stable."""

from __future__ import annotations

from allauth.account import views as account_views
from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from . import views
from .pagecache import visitor_page

# Staff sign in through allauth (rate limits, two-factor), never the bare admin form.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]
# The queue needs the width more than a second copy of the index: no sidebar.
admin.site.enable_nav_sidebar = False
admin.site.site_header = _("CMSS helpdesk")
admin.site.site_title = _("CMSS helpdesk")
admin.site.index_title = _("Helpdesk")

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz/", views.healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    # Registration is allauth's sign-up view with the clinician form
    # (ACCOUNT_FORMS). Declared after allauth's URLs so that reversing
    # "account_signup" everywhere gives /register/.
    # A visitor's empty form is kept (cmss/pagecache.py) until the option lists
    # or the privacy statement change; ?email= or ?next= are built every time.
    path(
        "register/",
        visitor_page(topics=("reference", "privacy"))(account_views.signup),
        name="account_signup",
    ),
    path("", include("clinicians.urls")),
    path("", include("helpdesk.urls")),
    path("", include("conferences.urls")),
    path("admin/", admin.site.urls),
]
