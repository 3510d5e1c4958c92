"""The models of the conferences app, one module per domain (the app label stays
`conferences`, so tables, migrations and permissions are unchanged):

- meetings.py: ProviderMeeting (what the video-provider pipeline creates), MeetingInvitee
  (who is on it, one row each), the local backend's LocalVideoMeeting, WebexToken;
- cases.py: Conference, ProposedSlot, Invitation, OutcomeReport, ConferenceEvent;
- webinars.py: Webinar, Speaker, Registration, WebinarEvent;
- webinar_requests.py: WebinarRequest, PreferredDate, ProposedSpeaker, WebinarRequestEvent.
"""

from .cases import Conference, ConferenceEvent, ConferenceQuerySet, Invitation, OutcomeReport, ProposedSlot
from .meetings import (
    NEEDS_ATTENTION,
    LocalVideoMeeting,
    MeetingInvitee,
    MeetingInviteeQuerySet,
    ProviderMeeting,
    ProviderMeetingQuerySet,
    WebexToken,
)
from .webinar_requests import (
    PreferredDate,
    ProposedSpeaker,
    WebinarRequest,
    WebinarRequestEvent,
    WebinarRequestQuerySet,
)
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
    "MeetingInvitee",
    "MeetingInviteeQuerySet",
    "OutcomeReport",
    "PreferredDate",
    "ProposedSlot",
    "ProposedSpeaker",
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
    "WebinarRequest",
    "WebinarRequestEvent",
    "WebinarRequestQuerySet",
]
