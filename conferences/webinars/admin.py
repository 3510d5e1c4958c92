"""The agents' side of webinars: create and edit, publish, cancel, mark held,
registrations and waitlist, and the attendee list as CSV (audited).

Every move goes through conferences.webinars.services; the buttons on the change page
post to the small views below, which report with message_user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from cmss import audit
from cmss.admin_lists import LeanChangeListMixin, ReferenceFieldListFilter, is_changelist_page
from cmss.csv import csv_lines
from cmss.http import signed_in_user
from cmss.pagination import BoundedCountPaginator
from cmss.widgets import SafeAutocompleteAdminMixin

from ..models import (
    Registration,
    RegistrationQuerySet,
    Speaker,
    Webinar,
    WebinarEvent,
    WebinarRequest,
)
from . import services as webinars
from .forms import CancelWebinarForm, HeldForm, WebinarAdminForm

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class SpeakerInline(SafeAutocompleteAdminMixin, admin.TabularInline):
    model = Speaker
    extra = 1
    fields = ["position", "name", "affiliation", "clinician", "email"]
    autocomplete_fields = ["clinician"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Speaker]:
        return super().get_queryset(request).select_related("clinician")


class WebinarEventInline(admin.TabularInline):
    model = WebinarEvent
    extra = 0
    can_delete = False
    fields: ClassVar[tuple[str, ...]] = ("at", "actor", "action", "note")
    readonly_fields = fields
    verbose_name_plural = _("history")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebinarEvent]:
        return super().get_queryset(request).select_related("actor")


def _seats(status: str) -> Coalesce:
    """How many registrations of the row's webinar are in this status."""
    count = (
        Registration.objects.filter(webinar=OuterRef("pk"), status=status)
        .order_by()
        .values("webinar")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(count), 0)


def _local(moment: Any) -> str:
    if moment is None:
        return "—"
    return f"{timezone.localtime(moment):%d %b %Y %H:%M}"


@admin.register(Webinar)
class WebinarAdmin(LeanChangeListMixin, admin.ModelAdmin):
    form = WebinarAdminForm
    list_display = ["title", "when", "language", "state", "seats", "waiting", "meeting_state"]
    list_filter = [
        "state",
        ("language", ReferenceFieldListFilter),
        ("erns", ReferenceFieldListFilter),
    ]
    search_fields = ["title"]
    list_select_related = ["language", "meeting"]
    filter_horizontal = ["erns"]
    inlines = [SpeakerInline, WebinarEventInline]
    paginator = BoundedCountPaginator
    show_full_result_count = False
    actions = ["publish_selected"]
    change_form_template = "admin/conferences/webinar/change_form.html"
    readonly_fields = [
        "state",
        "registrations_summary",
        "meeting_state",
        "published_at",
        "cancelled_at",
        "cancel_reason",
        "held_at",
        "created_by",
        "created_at",
    ]
    fieldsets = (
        (None, {"fields": ("title", "description", "erns", "language")}),
        (_("When"), {"fields": ("start", "duration_minutes", "time_zone")}),
        (_("Seats and recording"), {"fields": ("capacity", "recorded", "recording_url")}),
        (
            _("State"),
            {
                "fields": (
                    "state",
                    "registrations_summary",
                    "meeting_state",
                    "published_at",
                    "cancelled_at",
                    "cancel_reason",
                    "held_at",
                    "created_by",
                    "created_at",
                )
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Webinar]:
        # The seats as one subquery per shown row (registration_queue's index
        # answers each), not WebinarQuerySet.with_seats()'s GROUP BY over every
        # registration of every webinar, which the pager's count repeated: 25 ms
        # of PostgreSQL for a page of 100 webinars at 36,000 registrations.
        queryset = (
            super()
            .get_queryset(request)
            .annotate(
                confirmed_count=_seats(Registration.Status.CONFIRMED),
                waitlisted_count=_seats(Registration.Status.WAITLISTED),
            )
        )
        if is_changelist_page(request, self):
            # The list reads its columns only, not each webinar's description and
            # its provider meeting's thirty columns.
            queryset = queryset.only(*self.LIST_COLUMNS)
        return queryset

    LIST_COLUMNS: ClassVar[tuple[str, ...]] = (
        "title",
        "start",
        "state",
        "capacity",
        "language__code",
        "language__name",
        "meeting__state",
        "meeting__sync_failed",
        "meeting__last_error",
    )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return self.fieldsets[:3]
        return self.fieldsets

    @admin.display(description=_("start"), ordering="start")
    def when(self, webinar: Webinar) -> str:
        return _local(webinar.start)

    @admin.display(description=_("seats taken"))
    def seats(self, webinar: Webinar) -> str:
        return f"{getattr(webinar, 'confirmed_count', 0)} / {webinar.capacity}"

    @admin.display(description=_("waitlist"))
    def waiting(self, webinar: Webinar) -> int:
        return int(getattr(webinar, "waitlisted_count", 0))

    @admin.display(description=_("provider webinar"))
    def meeting_state(self, webinar: Webinar) -> str:
        meeting = webinar.meeting
        if meeting is None:
            return "—"
        if meeting.needs_attention:
            return format_html(
                "<strong>{}</strong>: {}", meeting.get_state_display(), meeting.last_error[:160]
            )
        return meeting.get_state_display()

    @admin.display(description=_("registrations"))
    def registrations_summary(self, webinar: Webinar) -> str:
        if webinar.pk is None:
            return "—"
        url = reverse("admin:conferences_registration_changelist") + f"?webinar__id__exact={webinar.pk}"
        return format_html(
            '{} <a href="{}">{}</a>',
            _("%(confirmed)d confirmed of %(capacity)d seats, %(waiting)d on the waitlist.")
            % {
                "confirmed": getattr(webinar, "confirmed_count", 0),
                "capacity": webinar.capacity,
                "waiting": getattr(webinar, "waitlisted_count", 0),
            },
            url,
            _("See registrations and waitlist"),
        )

    # --- Saving goes through the services ---------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Webinar, form: Any, change: bool) -> None:
        try:
            if change:
                webinars.change_webinar(webinar=obj, by=signed_in_user(request))
            else:
                webinars.create_webinar(webinar=obj, by=signed_in_user(request))
        except webinars.WebinarError as error:
            # The form checks the same rules; this is a race with another agent.
            self.message_user(request, str(error), messages.ERROR)
            raise PermissionDenied(str(error)) from error

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not Speaker:
            super().save_formset(request, form, formset, change)
            return
        deleted = set(formset.deleted_forms)
        kept = [
            f for f in formset.forms if f not in deleted and (f.instance.pk is not None or f.has_changed())
        ]
        # What formset.save() would have noted, for the admin's own history message.
        formset.new_objects = [f.instance for f in kept if f.instance.pk is None]
        formset.changed_objects = [
            (f.instance, f.changed_data) for f in kept if f.instance.pk and f.has_changed()
        ]
        formset.deleted_objects = [f.instance for f in deleted if f.instance.pk is not None]
        webinars.save_speakers(
            webinar=form.instance, speakers=[f.instance for f in kept], by=signed_in_user(request)
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Only a draft nobody could register for may go; the rest is cancelled.
        if obj is not None and obj.state != Webinar.State.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    # --- Publishing, cancelling, holding, exporting -------------------------------------------

    @admin.action(description=_("Publish selected drafts"), permissions=["change"])
    def publish_selected(self, request: HttpRequest, queryset: QuerySet[Webinar]) -> None:
        published = 0
        for webinar in queryset:
            try:
                webinars.publish_webinar(webinar=webinar, by=signed_in_user(request))
            except webinars.WebinarError as error:
                self.message_user(request, f"{webinar}: {error}", messages.WARNING)
            else:
                published += 1
        self.message_user(
            request,
            ngettext("%(count)d webinar published.", "%(count)d webinars published.", published)
            % {"count": published},
            messages.SUCCESS if published else messages.WARNING,
        )

    def get_urls(self) -> list[URLPattern]:
        def view(function: Any, name: str, route: str) -> URLPattern:
            return path(route, self.admin_site.admin_view(function), name=f"conferences_webinar_{name}")

        own = [
            view(self.publish_view, "publish", "<int:pk>/publish/"),
            view(self.cancel_view, "cancel", "<int:pk>/cancel/"),
            view(self.held_view, "held", "<int:pk>/held/"),
            view(self.attendees_view, "attendees", "<int:pk>/attendees.csv"),
        ]
        return own + super().get_urls()

    def _webinar(self, request: HttpRequest, pk: int) -> Webinar:
        if not self.has_change_permission(request):
            raise PermissionDenied
        webinar = Webinar.objects.filter(pk=pk).select_related("meeting", "language").first()
        if webinar is None:
            raise Http404
        return webinar

    def _back(self, webinar: Webinar) -> HttpResponseRedirect:
        return redirect("admin:conferences_webinar_change", webinar.pk)

    def publish_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        webinar = self._webinar(request, pk)
        if request.method != "POST":
            return self._back(webinar)
        try:
            webinars.publish_webinar(webinar=webinar, by=signed_in_user(request))
        except webinars.WebinarError as error:
            self.message_user(request, str(error), messages.ERROR)
        else:
            self.message_user(
                request,
                _("The webinar is published; the provider webinar is being created."),
                messages.SUCCESS,
            )
        return self._back(webinar)

    def _form_page(
        self,
        request: HttpRequest,
        webinar: Webinar,
        form: Any,
        *,
        title: str,
        intro: StrOrPromise,
        button: StrOrPromise,
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": webinar,
            "title": title,
            "intro": intro,
            "button": button,
            "form": form,
        }
        status = 400 if form.is_bound else 200
        return TemplateResponse(request, "admin/conferences/webinar/action_form.html", context, status=status)

    def cancel_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        webinar = self._webinar(request, pk)
        form = CancelWebinarForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                webinars.cancel_webinar(
                    webinar=webinar, by=signed_in_user(request), reason=form.cleaned_data["reason"]
                )
            except webinars.WebinarError as error:
                self.message_user(request, str(error), messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("The webinar is cancelled; everyone registered or waiting is being told."),
                    messages.SUCCESS,
                )
            return self._back(webinar)
        return self._form_page(
            request,
            webinar,
            form,
            title=_("Cancel the webinar “%(title)s”") % {"title": webinar.title},
            intro=_(
                "Everyone registered or on the waitlist is emailed, with your reason; the provider webinar "
                "is cancelled. This cannot be undone."
            ),
            button=_("Cancel the webinar"),
        )

    def held_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        webinar = self._webinar(request, pk)
        form = HeldForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                webinars.mark_held(
                    webinar=webinar,
                    by=signed_in_user(request),
                    recording_url=form.cleaned_data["recording_url"],
                )
            except webinars.WebinarError as error:
                self.message_user(request, str(error), messages.ERROR)
            else:
                self.message_user(request, _("The webinar is marked held."), messages.SUCCESS)
            return self._back(webinar)
        return self._form_page(
            request,
            webinar,
            form,
            title=_("Mark the webinar “%(title)s” held") % {"title": webinar.title},
            intro=_(
                "It moves to the past webinars of the programme. With a recording link, confirmed "
                "registrants are emailed it; you can also add the link later on the webinar's page."
            ),
            button=_("Mark held"),
        )

    def attendees_view(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        """The attendee list (seats, then the waitlist in order) as formula-safe CSV; audited."""
        if not request.user.has_perm("conferences.export_attendees"):
            raise PermissionDenied
        webinar = self._webinar(request, pk)
        audit.record(action="webinar.attendees_exported", obj=webinar, request=request)
        rows = (
            Registration.objects.active()
            .filter(webinar=webinar)
            .with_position()
            .select_related("clinician", "clinician__user", "clinician__hospital", "clinician__specialty")
            .order_by("status", "registered_at", "pk")
        )
        header = [
            "status",
            "waitlist position",
            "first name",
            "last name",
            "email",
            "profession",
            "specialty",
            "hospital",
            "country",
            "registered (UTC)",
            "seat confirmed (UTC)",
        ]
        lines = (
            [
                registration.status,
                registration.waitlist_position or "",
                registration.clinician.first_name,
                registration.clinician.last_name,
                registration.clinician.user.email,
                registration.clinician.get_profession_display(),
                registration.clinician.specialty.name,
                registration.clinician.hospital.name,
                registration.clinician.country.code,
                f"{registration.registered_at:%Y-%m-%d %H:%M}",
                f"{registration.confirmed_at:%Y-%m-%d %H:%M}" if registration.confirmed_at else "",
            ]
            for registration in rows.iterator(chunk_size=1000)
        )
        response = StreamingHttpResponse(csv_lines(header, lines), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="webinar-{webinar.pk}-attendees.csv"'
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        extra = {
            "can_export": request.user.has_perm("conferences.export_attendees"),
            # A webinar made from a reference centre's request links back to its ticket.
            "webinar_request": WebinarRequest.objects.filter(webinar_id=object_id)
            .select_related("hospital")
            .first()
            if object_id.isdecimal()
            else None,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)


class WebinarFilter(admin.SimpleListFilter):
    """By webinar: the upcoming and recent ones by name (the filter list stays short)."""

    title = _("webinar")
    parameter_name = "webinar__id__exact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        recent = (
            Webinar.objects.exclude(state=Webinar.State.DRAFT).order_by("-start").only("pk", "title", "start")
        )
        return [(str(webinar.pk), f"{webinar.title} ({webinar.start:%d %b %Y})") for webinar in recent[:30]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Registration]) -> QuerySet[Registration]:
        value = self.value()
        if value and value.isdecimal():
            return queryset.filter(webinar_id=int(value))
        return queryset


@admin.register(Registration)
class RegistrationAdmin(LeanChangeListMixin, admin.ModelAdmin):
    list_display = [
        "clinician_name",
        "email",
        "webinar_title",
        "status",
        "position",
        "registered",
        "confirmed",
    ]
    list_display_links = None
    list_filter = [WebinarFilter, "status"]
    search_fields = [
        "clinician__first_name",
        "clinician__last_name",
        "clinician__user__email",
        "webinar__title",
    ]
    list_select_related = ["webinar", "clinician", "clinician__user"]
    paginator = BoundedCountPaginator
    show_full_result_count = False
    list_per_page = 100
    actions = ["cancel_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Registration]:
        queryset = super().get_queryset(request)
        assert isinstance(queryset, RegistrationQuerySet)  # from Registration.objects
        match = request.resolver_match
        if (
            request.method == "GET"
            and match is not None
            and match.url_name == "conferences_registration_changelist"
        ):
            # The list's columns only: 100 rows of whole registrations, webinars,
            # clinicians and users are some 1,300 timestamps parsed per page.
            queryset = queryset.only(
                "status",
                "registered_at",
                "confirmed_at",
                "webinar__title",
                "clinician__first_name",
                "clinician__last_name",
                "clinician__user__email",
            )
        return queryset.with_position()

    def get_ordering(self, request: HttpRequest) -> list[str]:
        # Seats first, then the waitlist in the order it is served.
        return ["webinar_id", "status", "registered_at", "pk"]

    @admin.display(description=_("clinician"), ordering="clinician__last_name")
    def clinician_name(self, registration: Registration) -> str:
        return registration.clinician.full_name

    @admin.display(description=_("email"))
    def email(self, registration: Registration) -> str:
        return registration.clinician.user.email

    @admin.display(description=_("webinar"))
    def webinar_title(self, registration: Registration) -> str:
        return format_html(
            '<a href="{}{}/change/">{}</a>',
            self._webinars_url,
            registration.webinar_id,
            registration.webinar.title,
        )

    @cached_property
    def _webinars_url(self) -> str:
        # Reversed once, not once a row.
        return reverse("admin:conferences_webinar_changelist")

    @admin.display(description=_("waitlist position"))
    def position(self, registration: Registration) -> str:
        value = getattr(registration, "waitlist_position", None)
        return str(value) if value else "—"

    @admin.display(description=_("registered"), ordering="registered_at")
    def registered(self, registration: Registration) -> str:
        return _local(registration.registered_at)

    @admin.display(description=_("seat confirmed"), ordering="confirmed_at")
    def confirmed(self, registration: Registration) -> str:
        return _local(registration.confirmed_at)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # clinicians register themselves

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # cancel instead: the seat goes to the next person waiting

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [
            "webinar",
            "clinician",
            "status",
            "registered_at",
            "confirmed_at",
            "cancelled_at",
            "sent_sequence",
        ]

    @admin.action(
        description=_("Cancel selected registrations (seats go to the waitlist)"), permissions=["change"]
    )
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Registration]) -> None:
        cancelled = 0
        assert isinstance(queryset, RegistrationQuerySet)  # from get_queryset()
        for registration in queryset.active():
            try:
                webinars.cancel_registration(registration=registration, by=signed_in_user(request))
            except webinars.WebinarError as error:
                self.message_user(request, f"{registration}: {error}", messages.WARNING)
            else:
                cancelled += 1
        self.message_user(
            request,
            ngettext(
                "%(count)d registration cancelled; its clinician is told.",
                "%(count)d registrations cancelled; their clinicians are told.",
                cancelled,
            )
            % {"count": cancelled},
            messages.SUCCESS if cancelled else messages.WARNING,
        )
