"""A video backend that needs no account: meetings live in CMSS's own database
and the join link opens a demo room page. The default for `make run`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, JSONField, Value
from django.db.models.expressions import CombinedExpression
from django.urls import reverse
from django.utils import timezone

from . import Invitee, MeetingSpec, PermanentVideoError, ProviderMeeting, VideoBackend

if TYPE_CHECKING:
    from conferences.models import LocalVideoMeeting


def _as_dataclass(meeting: object) -> ProviderMeeting:
    return ProviderMeeting(
        provider_id=str(meeting.provider_id),  # type: ignore[attr-defined]
        key=meeting.key,  # type: ignore[attr-defined]
        title=meeting.title,  # type: ignore[attr-defined]
        start=meeting.start,  # type: ignore[attr-defined]
        end=meeting.end,  # type: ignore[attr-defined]
        join_url=settings.SITE_URL + reverse("conferences:local_room", args=[meeting.provider_id]),  # type: ignore[attr-defined]
    )


class LocalBackend(VideoBackend):
    def create(self, spec: MeetingSpec) -> ProviderMeeting:
        from conferences.models import LocalVideoMeeting

        try:
            with transaction.atomic():
                meeting = LocalVideoMeeting.objects.create(
                    key=spec.key,
                    provider_id=uuid.uuid4(),
                    kind=spec.kind,
                    title=spec.title[:200],
                    agenda=spec.agenda,
                    start=spec.start,
                    end=spec.end,
                    time_zone=spec.time_zone,
                    invitees=[invitee.email for invitee in spec.invitees],
                )
        except IntegrityError:
            # Our key is unique: a second create of the same meeting is the first one.
            meeting = LocalVideoMeeting.objects.get(key=spec.key)
        return _as_dataclass(meeting)

    def find_by_key(self, key: str, *, start: datetime, end: datetime) -> ProviderMeeting | None:
        from conferences.models import LocalVideoMeeting

        meeting = LocalVideoMeeting.objects.filter(
            key=key, start__gte=start, start__lte=end, cancelled_at__isnull=True
        ).first()
        return _as_dataclass(meeting) if meeting else None

    def _get(self, provider_id: str) -> LocalVideoMeeting:
        from conferences.models import LocalVideoMeeting

        meeting = LocalVideoMeeting.objects.filter(provider_id=provider_id, cancelled_at__isnull=True).first()
        if meeting is None:
            raise PermanentVideoError(f"No local meeting {provider_id}.")
        return meeting

    def update(self, provider_id: str, spec: MeetingSpec) -> ProviderMeeting:
        meeting = self._get(provider_id)
        for name, value in {
            "title": spec.title[:200],
            "agenda": spec.agenda,
            "start": spec.start,
            "end": spec.end,
            "time_zone": spec.time_zone,
        }.items():
            setattr(meeting, name, value)
        meeting.save()
        return _as_dataclass(meeting)

    def cancel(self, provider_id: str) -> None:
        from conferences.models import LocalVideoMeeting

        LocalVideoMeeting.objects.filter(provider_id=provider_id, cancelled_at__isnull=True).update(
            cancelled_at=timezone.now()
        )

    def add_invitee(self, provider_id: str, invitee: Invitee) -> None:
        from conferences.models import LocalVideoMeeting

        if connection.vendor == "postgresql":
            # Appended in the database (jsonb ||), not read and written back whole: a
            # webinar's ten thousand registrants are added in linear time, not quadratic.
            live = LocalVideoMeeting.objects.filter(provider_id=provider_id, cancelled_at__isnull=True)
            appended = live.exclude(invitees__contains=[invitee.email]).update(
                invitees=CombinedExpression(F("invitees"), "||", Value([invitee.email], JSONField()))
            )
            if not appended:
                self._get(provider_id)  # there already, or no such meeting (which raises)
            return
        meeting = self._get(provider_id)
        if invitee.email not in meeting.invitees:
            meeting.invitees = [*meeting.invitees, invitee.email]
            meeting.save(update_fields=["invitees"])

    def add_registrant(self, provider_id: str, invitee: Invitee) -> None:
        self.add_invitee(provider_id, invitee)

    def remove_invitee(self, provider_id: str, email: str) -> bool:
        meeting = self._get(provider_id)
        kept = [item for item in meeting.invitees if item.lower() != email.lower()]
        if kept == meeting.invitees:
            return False
        meeting.invitees = kept
        meeting.save(update_fields=["invitees"])
        return True

    def remove_registrant(self, provider_id: str, email: str) -> bool:
        # One list holds invitees and registrants here.
        return self.remove_invitee(provider_id, email)
