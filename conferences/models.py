"""Conferences and webinars. For now: the local video backend's meetings."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class LocalVideoMeeting(models.Model):
    """A meeting of the local video backend (the demo's stand-in for Webex)."""

    key = models.CharField(_("our key"), max_length=100, unique=True)
    provider_id = models.UUIDField(_("provider id"), unique=True)
    kind = models.CharField(_("kind"), max_length=10, default="meeting")
    title = models.CharField(_("title"), max_length=200)
    agenda = models.TextField(_("agenda"), blank=True)
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    time_zone = models.CharField(_("time zone"), max_length=64)
    invitees = models.JSONField(_("invitees' email addresses"), default=list, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    PERSONAL_DATA_FIELDS = ("invitees",)

    class Meta:
        verbose_name = _("local video meeting")
        verbose_name_plural = _("local video meetings")
        ordering = ["start"]

    def __str__(self) -> str:
        return self.title

    @classmethod
    def erase_personal_data(cls, user: object, pseudonym: str) -> None:
        email = getattr(user, "email", "").lower()
        for meeting in cls.objects.exclude(invitees=[]).only("pk", "invitees"):
            kept = [address for address in meeting.invitees if address.lower() != email]
            if kept != meeting.invitees:
                cls.objects.filter(pk=meeting.pk).update(invitees=kept)
