from __future__ import annotations

from django.urls import path

from . import views

app_name = "helpdesk"

urlpatterns = [
    path("helpdesk/", views.ticket_list, name="ticket_list"),
    path("helpdesk/new/", views.ticket_new, name="ticket_new"),
    path("helpdesk/<int:pk>/", views.ticket_detail, name="ticket_detail"),
    path("helpdesk/t/<str:token>/", views.ticket_by_link, name="ticket_by_link"),
    path("contact/", views.contact, name="contact"),
    path("contact/sent/", views.contact_sent, name="contact_sent"),
]
