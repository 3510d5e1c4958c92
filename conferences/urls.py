from __future__ import annotations

from django.urls import path

from .cases import views
from .meetings import views as meeting_views
from .webinars import views as webinar_views

app_name = "conferences"

urlpatterns = [
    path("conferences/", views.conference_list, name="list"),
    path("conferences/request/", views.conference_request, name="request"),
    path("conferences/invitees/", views.invitee_search, name="invitee_search"),
    path("conferences/experts/", views.expert_suggestions, name="expert_suggestions"),
    path("conferences/<int:pk>/", views.conference_detail, name="detail"),
    path("conferences/<int:pk>/respond/", views.conference_respond, name="respond"),
    path("conferences/<int:pk>/cancel/", views.conference_cancel, name="cancel"),
    path("conferences/<int:pk>/report/read/", views.report_read, name="report_read"),
    path("conferences/<int:pk>/report/answer/", views.report_answer, name="report_answer"),
    path("video/local/<uuid:provider_id>/", meeting_views.local_room, name="local_room"),
    # Webinars: the public programme, a webinar's page, registration, the calendar feed.
    path("webinars/", webinar_views.programme, name="webinar_list"),
    path("webinars/feed.ics", webinar_views.feed, name="webinar_feed"),
    # Webinar requests of reference centres: the coordinator's form, their hospital's requests.
    path("webinars/request/", webinar_views.new_request, name="webinar_request"),
    path("webinars/request/speakers/", webinar_views.speaker_suggestions, name="speaker_suggestions"),
    path("webinars/requests/", webinar_views.request_list, name="webinar_requests"),
    path("webinars/requests/<int:pk>/", webinar_views.request_detail, name="webinar_request_detail"),
    path("webinars/<int:pk>/", webinar_views.detail, name="webinar_detail"),
    path("webinars/<int:pk>/register/", webinar_views.register, name="webinar_register"),
    path("webinars/<int:pk>/cancel/", webinar_views.cancel, name="webinar_cancel"),
]
