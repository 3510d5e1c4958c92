from __future__ import annotations

from django.urls import path

from . import views

app_name = "clinicians"

urlpatterns = [
    path("privacy/", views.privacy, name="privacy"),
    path("privacy/accept/", views.privacy_accept, name="privacy_accept"),
    path("profile/", views.profile, name="profile"),
    path("profile/data/", views.personal_data_export, name="personal_data_export"),
    path("profile/delete/", views.account_delete, name="account_delete"),
    path("directory/", views.directory, name="directory"),
    path("directory/<int:pk>/contact/", views.directory_contact, name="directory_contact"),
]
