"""The models of the conferences app, one module per domain (the app label stays
`conferences`, so tables, migrations and permissions are unchanged):

- meetings.py: ProviderMeeting (what the video-provider pipeline creates), the local
  backend's LocalVideoMeeting, WebexToken;
- cases.py: Conference, ProposedSlot, Invitation, ConferenceEvent;
- webinars.py: Webinar, Speaker, Registration, WebinarEvent.
"""

from .cases import Conference, ConferenceEvent, ConferenceQuerySet, Invitation, ProposedSlot
from .meetings import NEEDS_ATTENTION, LocalVideoMeeting, ProviderMeeting, ProviderMeetingQuerySet, WebexToken
from .webinars import (
    Registration,
    RegistrationQuerySet,
    Speaker,
    WaitlistPosition,
    Webinar,
    WebinarEvent,
    WebinarQuerySet,
)

__all__ = [
    "NEEDS_ATTENTION",
    "Conference",
    "ConferenceEvent",
    "ConferenceQuerySet",
    "Invitation",
    "LocalVideoMeeting",
    "ProposedSlot",
    "ProviderMeeting",
    "ProviderMeetingQuerySet",
    "Registration",
    "RegistrationQuerySet",
    "Speaker",
    "WaitlistPosition",
    "WebexToken",
    "Webinar",
    "WebinarEvent",
    "WebinarQuerySet",
]
