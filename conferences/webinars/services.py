"""Webinars of the ERN expert programme: publishing, registration with capacity
and waitlist, cancellation, holding, and what each person is told.

Every write runs in one transaction that locks the webinar row first
(SELECT … FOR NO KEY UPDATE): registrations, cancellations and capacity
changes of one webinar happen one at a time, so seats are never given twice
and the waitlist is served in order. NO KEY UPDATE, not FOR UPDATE: inserting
a row that points at the webinar (a registration, an event) only needs a key
share lock, so the provider-meeting worker's hook never waits on a
registration burst. The lock order is always webinar, then provider meeting.

Emails are outbox rows written in the same transaction, each with a dedup key
naming the intent, so none is lost and none goes twice; what they say, the
calendar event and the reminders are in notices.py.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from clinicians.models import Clinician

from ..calendar import ics
from ..meetings import pipeline
from ..models import ProviderMeeting, Registration, Speaker, Webinar, WebinarEvent
from ..video import Invitee
from .notices import calendar_event, registrations_of, stamp, tell, tell_later, tell_recording

if TYPE_CHECKING:
    from cmss.models import User

logger = logging.getLogger(__name__)

Status = Registration.Status
State = Webinar.State

# Who may register: signed-up clinicians with a confirmed address, verified or not yet.
MAY_REGISTER = frozenset({Clinician.Status.REGISTERED, Clinician.Status.VERIFIED})


class WebinarError(Exception):
    """A webinar action that cannot be done; the message is for the person who tried."""


# --- Helpers ---------------------------------------------------------------------------------


def _lock(webinar: Webinar | int) -> Webinar:
    pk = webinar if isinstance(webinar, int) else webinar.pk
    return Webinar.objects.select_for_update(no_key=True, of=("self",)).select_related("meeting").get(pk=pk)


def _event(webinar: Webinar, action: str, *, by: User | None = None, note: str = "") -> None:
    WebinarEvent.objects.create(webinar=webinar, action=action, actor=by, note=note[:2000])


def _invite(registration: Registration, webinar: Webinar, *, saved: bool = False) -> None:
    """A confirmed seat: register the person on the provider webinar (added by the
    worker once the webinar exists there) and send the calendar invitation."""
    if webinar.meeting is not None:
        pipeline.add_meeting_invitee(
            meeting=webinar.meeting,
            invitee=Invitee(
                email=registration.clinician.user.email,
                name=registration.clinician.full_name,
                registrant=True,
            ),
        )
    if not saved:  # `saved`: the caller wrote sent_sequence with the row
        registration.sent_sequence = webinar.sequence
        registration.save(update_fields=["sent_sequence"])


def _uninvite(registration: Registration, webinar: Webinar) -> None:
    if webinar.meeting is not None:
        pipeline.remove_meeting_invitee(meeting=webinar.meeting, email=registration.clinician.user.email)


def _confirmed_count(webinar: Webinar) -> int:
    return Registration.objects.filter(webinar=webinar, status=Status.CONFIRMED).count()


def waitlist_position(registration: Registration) -> int | None:
    """1 for the next person to get a seat; None when not waiting."""
    if registration.status != Status.WAITLISTED:
        return None
    return (
        Registration.objects.with_position()
        .values_list("waitlist_position", flat=True)
        .get(pk=registration.pk)
    )


def _promote(webinar: Webinar, *, now: datetime) -> list[Registration]:
    """Give the free seats to the people waiting, first come first served.
    Call with the webinar locked."""
    if not webinar.registration_open(now):
        return []
    free = webinar.capacity - _confirmed_count(webinar)
    if free <= 0:
        return []
    promoted = list(
        Registration.objects.filter(webinar=webinar)
        .waiting_in_order()
        .select_related("clinician", "clinician__user")[:free]
    )
    for registration in promoted:
        registration.status = Status.CONFIRMED
        registration.confirmed_at = now
        registration.save(update_fields=["status", "confirmed_at"])
        _invite(registration, webinar)
        tell_later(registration, "promoted", key=f"promoted:{stamp(now)}")
    if promoted:
        _event(webinar, "promoted", note=_("%(count)d from the waitlist") % {"count": len(promoted)})
    return promoted


def _panelists(webinar: Webinar) -> list[Invitee]:
    seen: set[str] = set()
    result = []
    for speaker in webinar.speakers.select_related("clinician__user").order_by("position", "pk"):
        email = speaker.invite_email
        if email and email.lower() not in seen:
            seen.add(email.lower())
            result.append(Invitee(email=email, name=speaker.name, panelist=True))
    return result


# --- The agent's moves -----------------------------------------------------------------------


def create_webinar(*, webinar: Webinar, by: User) -> Webinar:
    """Save a new webinar as a draft (the admin's add form fills it in)."""
    webinar.state = State.DRAFT
    webinar.created_by = by
    with transaction.atomic():
        webinar.save()
        _event(webinar, "created", by=by)
    return webinar


def change_webinar(*, webinar: Webinar, by: User, now: datetime | None = None) -> Webinar:
    """Save an agent's edit of a webinar and carry out what follows from it:
    a raised capacity gives seats to the people waiting; a new time or title of
    a published webinar goes to the provider and, as a calendar update, to the
    confirmed registrants; a new recording link of a held webinar goes to them."""
    now = now or timezone.now()
    with transaction.atomic():
        before = _lock(webinar)
        if before.state in (State.CANCELLED, State.HELD) and (
            webinar.start != before.start or webinar.duration_minutes != before.duration_minutes
        ):
            raise WebinarError(_("A cancelled or held webinar cannot be moved."))
        confirmed = _confirmed_count(before)
        if webinar.capacity < confirmed:
            raise WebinarError(
                _("%(count)d seats are already confirmed: the capacity cannot be lower.")
                % {"count": confirmed}
            )
        moved = webinar.start != before.start or webinar.duration_minutes != before.duration_minutes
        retitled = webinar.title != before.title
        # State, sequence and the meeting move only through the services.
        webinar.state = before.state
        webinar.meeting = before.meeting
        webinar.sequence = before.sequence + (
            1 if before.state == State.PUBLISHED and (moved or retitled) else 0
        )
        webinar.published_at, webinar.cancelled_at, webinar.held_at = (
            before.published_at,
            before.cancelled_at,
            before.held_at,
        )
        webinar.save()
        _event(webinar, "changed", by=by)
        if webinar.state == State.PUBLISHED and webinar.meeting is not None and (moved or retitled):
            pipeline.update_meeting(
                meeting=webinar.meeting,
                title=webinar.title,
                agenda=webinar.description,
                start=webinar.start,
                end=webinar.end,
            )
        if webinar.state == State.PUBLISHED and (moved or retitled):
            for registration in registrations_of(webinar, Status.CONFIRMED):
                tell(
                    registration,
                    webinar,
                    "changed",
                    key=f"changed:{webinar.sequence}",
                    attachments=[ics.invitation(calendar_event(webinar, attendee=registration))],
                )
                Registration.objects.filter(pk=registration.pk).update(sent_sequence=webinar.sequence)
        if webinar.capacity > before.capacity:
            _promote(webinar, now=now)
        if (
            webinar.state == State.HELD
            and webinar.recording_url
            and webinar.recording_url != before.recording_url
        ):
            tell_recording(webinar)
    return webinar


_SPEAKER_FIELDS = ("name", "affiliation", "clinician_id", "email", "position")


def save_speakers(*, webinar: Webinar, speakers: Sequence[Speaker], by: User) -> list[Speaker]:
    """Save a webinar's speakers as an agent edited them: `speakers` is the whole
    list (new and changed ones unsaved), the others are deleted. The change goes
    in the webinar's history, and a published webinar's panelists follow: the
    speakers with an address are invited (those already invited are skipped),
    a removed speaker's address is taken off."""
    with transaction.atomic():
        locked = _lock(webinar)
        before = {speaker.pk: speaker for speaker in locked.speakers.select_related("clinician__user")}
        addresses_before = {
            speaker.invite_email.lower() for speaker in before.values() if speaker.invite_email
        }
        kept = {speaker.pk for speaker in speakers if speaker.pk is not None}
        removed = [speaker for pk, speaker in before.items() if pk not in kept]
        for speaker in removed:
            speaker.delete()
        added = changed = 0
        for speaker in speakers:
            speaker.webinar = locked
            previous = before.get(speaker.pk) if speaker.pk is not None else None
            if previous is None:
                added += 1
            elif all(getattr(speaker, field) == getattr(previous, field) for field in _SPEAKER_FIELDS):
                continue
            else:
                changed += 1
            speaker.save()
        if added or changed or removed:
            # Counts only: the history outlives the speakers' personal data.
            note = _("%(added)d added, %(changed)d changed, %(removed)d removed") % {
                "added": added,
                "changed": changed,
                "removed": len(removed),
            }
            _event(locked, "speakers_changed", by=by, note=note)
        if locked.state == State.PUBLISHED and locked.meeting is not None:
            panel = _panelists(locked)
            for invitee in panel:
                pipeline.add_meeting_invitee(meeting=locked.meeting, invitee=invitee)
            still = {invitee.email.lower() for invitee in panel}
            for address in addresses_before - still:
                seated = Registration.objects.filter(
                    webinar=locked, status=Status.CONFIRMED, clinician__user__email__iexact=address
                ).exists()
                if not seated:
                    pipeline.remove_meeting_invitee(meeting=locked.meeting, email=address)
    return list(speakers)


def publish_webinar(*, webinar: Webinar, by: User, now: datetime | None = None) -> Webinar:
    """Put a draft on the programme and ask the provider for the webinar (a
    worker creates it, with the speakers as panelists)."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(webinar)
        if locked.state != State.DRAFT:
            raise WebinarError(
                _("Only a draft can be published; this webinar is %(state)s.")
                % {"state": locked.get_state_display()}
            )
        if locked.has_started(now):
            raise WebinarError(_("This webinar's start time has passed: move it before publishing."))
        if not locked.erns.exists():
            raise WebinarError(_("Choose at least one European Reference Network before publishing."))
        locked.meeting = pipeline.request_meeting(
            key=locked.meeting_key,
            owner="webinar",
            kind=ProviderMeeting.Kind.WEBINAR,
            title=locked.title,
            agenda=locked.description,
            start=locked.start,
            end=locked.end,
            time_zone=locked.time_zone,
            invitees=_panelists(locked),
        )
        locked.state = State.PUBLISHED
        locked.published_at = now
        locked.save(update_fields=["state", "published_at", "meeting", "updated_at"])
        _event(locked, "published", by=by)
        # A webinar made from a reference centre's request: its requester is told
        # (requests.py builds on this module, hence the import here).
        from .requests import on_webinar_published

        on_webinar_published(webinar=locked, by=by)
    return locked


def cancel_webinar(*, webinar: Webinar, by: User, reason: str = "", now: datetime | None = None) -> Webinar:
    """Cancel a webinar: everyone registered or waiting is told (a calendar
    cancellation to those with a seat), the provider webinar is cancelled."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(webinar)
        if not locked.can_move_to(State.CANCELLED):
            raise WebinarError(
                _("This webinar is %(state)s: it cannot be cancelled.")
                % {"state": locked.get_state_display()}
            )
        was_public = locked.state == State.PUBLISHED
        locked.state = State.CANCELLED
        locked.cancelled_at = now
        locked.cancel_reason = reason.strip()
        locked.sequence += 1 if was_public else 0
        locked.save(update_fields=["state", "cancelled_at", "cancel_reason", "sequence", "updated_at"])
        if locked.meeting is not None:
            pipeline.cancel_meeting(meeting=locked.meeting)
        for registration in registrations_of(locked, Status.CONFIRMED, Status.WAITLISTED):
            attachments = []
            if registration.status == Status.CONFIRMED and registration.sent_sequence is not None:
                attachments.append(ics.invitation(calendar_event(locked, attendee=registration), cancel=True))
            tell(
                registration,
                locked,
                "cancelled",
                key="webinar-cancelled",
                attachments=attachments,
                reason=locked.cancel_reason,
            )
        _event(locked, "cancelled", by=by, note=locked.cancel_reason)
    return locked


def mark_held(*, webinar: Webinar, by: User, recording_url: str = "", now: datetime | None = None) -> Webinar:
    """Record that the webinar took place, with the recording link if there is one
    (confirmed registrants are sent it)."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(webinar)
        if not locked.can_move_to(State.HELD):
            raise WebinarError(
                _("This webinar is %(state)s: it cannot be marked held.")
                % {"state": locked.get_state_display()}
            )
        if not locked.has_started(now):
            raise WebinarError(_("This webinar has not started yet: it cannot be marked held."))
        locked.state = State.HELD
        locked.held_at = now
        if recording_url:
            locked.recording_url = recording_url
        locked.save(update_fields=["state", "held_at", "recording_url", "updated_at"])
        _event(locked, "held", by=by, note=locked.recording_url)
        if locked.recording_url:
            tell_recording(locked)
    return locked


# --- The clinician's moves -------------------------------------------------------------------


def register(*, webinar: Webinar, clinician: Clinician, now: datetime | None = None) -> Registration:
    """Register a clinician: a seat while there are seats, else a place on the
    waitlist. Registering twice is refused; registering again after cancelling
    starts afresh at the end of the queue."""
    now = now or timezone.now()
    if clinician.status not in MAY_REGISTER:
        raise WebinarError(_("Only registered and verified clinicians can register for webinars."))
    with transaction.atomic():
        locked = _lock(webinar)
        if not locked.registration_open(now):
            raise WebinarError(_("Registration for this webinar is closed."))
        existing = (
            Registration.objects.select_for_update(of=("self",))
            .filter(webinar=locked, clinician=clinician)
            .select_related("clinician__user")
            .first()
        )
        if existing is not None and existing.is_active:
            raise WebinarError(
                _("You already have a seat at this webinar.")
                if existing.status == Status.CONFIRMED
                else _("You are already on the waitlist of this webinar.")
            )
        # Nobody overtakes the people already waiting. (One query: the lock is
        # what a registration burst queues for.)
        counts = Registration.objects.filter(webinar=locked).aggregate(
            confirmed=Count("pk", filter=Q(status=Status.CONFIRMED)),
            waiting=Count("pk", filter=Q(status=Status.WAITLISTED)),
        )
        seat = not counts["waiting"] and counts["confirmed"] < locked.capacity
        registration = existing or Registration(webinar=locked, clinician=clinician)
        registration.status = Status.CONFIRMED if seat else Status.WAITLISTED
        registration.registered_at = now
        registration.confirmed_at = now if seat else None
        registration.cancelled_at = None
        # A seat's calendar invitation goes out with this sequence (_invite).
        registration.sent_sequence = locked.sequence if seat else None
        try:
            with transaction.atomic():
                registration.save()
        except IntegrityError as exc:  # only without the lock's protection (never expected)
            raise WebinarError(_("You are already registered for this webinar.")) from exc
        # The emails are rendered after commit, once the lock is released
        # (their rows are written here: none is lost, none sent twice).
        if seat:
            _invite(registration, locked, saved=True)
            tell_later(registration, "confirmed", key=f"confirmed:{stamp(now)}")
        else:
            tell_later(registration, "waitlisted", key=f"waitlisted:{stamp(now)}")
    return registration


def cancel_registration(
    *, registration: Registration, by: User | None = None, now: datetime | None = None, notify: bool = True
) -> Registration:
    """Give up a seat (or a place on the waitlist): the first person waiting gets
    the seat and is told. `by` is the helpdesk when an agent does it."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(registration.webinar_id)
        current = (
            Registration.objects.select_for_update(of=("self",))
            .select_related("clinician", "clinician__user")
            .get(pk=registration.pk)
        )
        if not current.is_active:
            raise WebinarError(_("This registration is already cancelled."))
        if locked.state != State.PUBLISHED or locked.is_over(now):
            raise WebinarError(
                _("This webinar is over or cancelled: the registration can no longer be changed.")
            )
        had_seat = current.status == Status.CONFIRMED
        current.status = Status.CANCELLED
        current.cancelled_at = now
        current.save(update_fields=["status", "cancelled_at"])
        if had_seat:
            _uninvite(current, locked)
        if notify:
            attachments = []
            if had_seat and current.sent_sequence is not None:
                attachments.append(ics.invitation(calendar_event(locked, attendee=current), cancel=True))
            tell(
                current,
                locked,
                "registration_cancelled",
                key=f"registration-cancelled:{stamp(now)}",
                attachments=attachments,
                had_seat=had_seat,
                by_helpdesk=by is not None and by.is_staff,
            )
        if by is not None and by.is_staff:
            _event(locked, "registration cancelled", by=by, note=f"registration {current.pk}")
        if had_seat:
            _promote(locked, now=now)
    return current


def release_seats_of(*, user: User) -> None:
    """Before an account is erased: its seats go to the people waiting. The
    person is not emailed (their queued mail is being erased)."""
    for registration in Registration.objects.active().filter(clinician__user=user):
        try:
            cancel_registration(registration=registration, notify=False)
        except WebinarError:
            continue  # over or cancelled: nothing to give away


# --- The provider ---------------------------------------------------------------------------


def on_meeting_created(meeting: ProviderMeeting) -> None:
    """The provider-meeting worker's hook (same transaction): note it in the
    webinar's history. Registrants find the join link on the webinar page and
    in their reminders; those who registered before are added on the provider
    by the worker."""
    webinar = Webinar.objects.filter(meeting=meeting).only("pk").first()
    if webinar is not None:
        _event(webinar, "provider webinar created", note=meeting.provider_id)
