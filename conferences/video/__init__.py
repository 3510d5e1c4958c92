"""The video adapter: what CMSS asks of a video platform, in plain dataclasses.

Backends (conferences.video.local.LocalBackend, conferences.video.webex.WebexBackend)
are chosen by the VIDEO_BACKEND setting, a dotted path like EMAIL_BACKEND.
They never see ORM objects. Errors are classified so that the caller knows
whether to retry, wait, check for an existing meeting, or give up.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Invitee:
    email: str
    name: str = ""
    panelist: bool = False
    # A webinar registrant (added with add_registrant once the webinar exists),
    # not an invitee of the meeting.
    registrant: bool = False


@dataclass(frozen=True)
class MeetingSpec:
    """What to create or update. `key` is ours and unique: a retried create
    finds the meeting it already made by it."""

    key: str
    title: str
    start: datetime
    end: datetime
    time_zone: str
    agenda: str = ""
    kind: str = "meeting"  # or "webinar"
    invitees: tuple[Invitee, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ProviderMeeting:
    provider_id: str
    key: str
    title: str
    start: datetime
    end: datetime
    join_url: str


class VideoError(Exception):
    """A provider call failed. `tracking_id` is the provider's id of the call, for support;
    `status` the HTTP status the provider answered with, if it answered."""

    status: int | None = None

    def __init__(self, message: str, *, tracking_id: str = "") -> None:
        super().__init__(message)
        self.tracking_id = tracking_id


class TransientVideoError(VideoError):
    """Worth retrying later (5xx, timeout before sending, connection refused)."""


class RateLimitedVideoError(TransientVideoError):
    def __init__(self, message: str, *, retry_after: float | None = None, tracking_id: str = "") -> None:
        super().__init__(message, tracking_id=tracking_id)
        self.retry_after = retry_after


class AmbiguousVideoError(TransientVideoError):
    """The request may have been carried out (a timeout after sending a create):
    look for the meeting by key before creating it again."""


class PermanentVideoError(VideoError):
    """Retrying will not help (validation error, forbidden, failed token refresh)."""


class VideoBackend(ABC):
    @abstractmethod
    def create(self, spec: MeetingSpec) -> ProviderMeeting:
        """Create the meeting or webinar described by `spec`."""

    @abstractmethod
    def find_by_key(self, key: str, *, start: datetime, end: datetime) -> ProviderMeeting | None:
        """The meeting made earlier with our `key`, looked for between start and end
        (providers search by key only within a time window: the caller passes one
        around each start the meeting may have been created with)."""

    @abstractmethod
    def update(self, provider_id: str, spec: MeetingSpec) -> ProviderMeeting:
        """Change title, agenda or times of an existing meeting."""

    @abstractmethod
    def cancel(self, provider_id: str) -> None:
        """Cancel the meeting; a meeting already gone counts as cancelled."""

    @abstractmethod
    def add_invitee(self, provider_id: str, invitee: Invitee) -> None:
        """Invite someone to a meeting (or a panelist to a webinar)."""

    @abstractmethod
    def add_registrant(self, provider_id: str, invitee: Invitee) -> None:
        """Register someone for a webinar."""

    # Taking someone off: two calls, mirroring the two adds, because providers keep
    # invitees (and webinar panelists) and webinar registrants in separate lists.
    # Both answer whether the person was there: False (nothing to do) is success,
    # so a removal retried after a timeout is harmless.

    @abstractmethod
    def remove_invitee(self, provider_id: str, email: str) -> bool:
        """Uninvite someone from a meeting (or a panelist from a webinar), without
        the provider emailing them. True when they were invited."""

    @abstractmethod
    def remove_registrant(self, provider_id: str, email: str) -> bool:
        """Take someone off a webinar's registrants, without the provider emailing
        them. True when they were registered."""


@cache
def _backend_class(path: str) -> type[VideoBackend]:
    return import_string(path)


def get_backend() -> VideoBackend:
    return _backend_class(settings.VIDEO_BACKEND)()
