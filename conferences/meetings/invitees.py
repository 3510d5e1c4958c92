"""Who is on a provider meeting: MeetingInvitee rows, and the worker's push of them.

Adding someone (an invitee, a panelist, a webinar registrant) is one INSERT; taking
them off marks their row removed (or deletes it when it was never sent). The
worker that syncs a created meeting (pipeline._sync) calls push(), which works by
"not yet synced", a batch at a time:

- rows removed that may be on the provider are taken off there, then deleted;
- rows not yet synced are noted as sent (before the calls), added one by one and
  marked synced after each batch.

A retried push is idempotent: a row marked synced is never sent again, and a row
whose add went out but whose marking was lost (a crash, an answer that never came)
is sent again, which Webex answers with 409 Conflict ("already there"): it is
marked synced, not failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from cmss.models import RetentionPolicy

from ..models import LocalVideoMeeting, MeetingInvitee, ProviderMeeting
from ..video import AmbiguousVideoError, Invitee, PermanentVideoError, VideoBackend

Role = MeetingInvitee.Role

# Rows read, noted as sent and marked synced together: at most this many are sent
# again after a worker dies mid-batch.
BATCH = 100
# What Webex answers to an add of someone already there.
ALREADY_THERE = 409


def role_of(invitee: Invitee) -> str:
    if invitee.registrant:
        return Role.REGISTRANT
    return Role.PANELIST if invitee.panelist else Role.INVITEE


def as_invitee(row: MeetingInvitee) -> Invitee:
    return Invitee(
        email=row.email,
        name=row.name,
        panelist=row.role == Role.PANELIST,
        registrant=row.role == Role.REGISTRANT,
    )


def _row(meeting_id: int, invitee: Invitee) -> MeetingInvitee:
    return MeetingInvitee(
        meeting_id=meeting_id, email=invitee.email.lower(), name=invitee.name[:200], role=role_of(invitee)
    )


def _push_after_commit(meeting_id: int) -> None:
    from .pipeline import enqueue

    transaction.on_commit(lambda: enqueue(meeting_id))


def add_initial_invitees(meeting: ProviderMeeting, invitees: Sequence[Invitee]) -> None:
    """The invitees a new meeting is requested with (one INSERT)."""
    MeetingInvitee.objects.bulk_create([_row(meeting.pk, item) for item in invitees], ignore_conflicts=True)


def add_meeting_invitee(*, meeting: ProviderMeeting, invitee: Invitee) -> None:
    """Invite someone (or register them for a webinar): one INSERT, added on the
    provider by the worker once the meeting exists there. Someone already there
    stays as they are; someone being taken off is wanted again."""
    MeetingInvitee.objects.bulk_create(
        [_row(meeting.pk, invitee)],
        update_conflicts=True,
        unique_fields=["meeting", "email"],
        update_fields=["removed_at"],
    )
    # The task does nothing if the meeting is not created yet: its creation pushes them.
    _push_after_commit(meeting.pk)


def remove_meeting_invitee(*, meeting: ProviderMeeting, email: str) -> None:
    """Uninvite someone (or take a registrant off a webinar). Row first: a row never
    sent goes at once; one that may be on the provider is marked removed, and the
    worker removes it there (without the provider emailing them: their cancellation
    email comes from CMSS), then deletes it."""
    _withdraw(meeting.pk, email.lower(), erase_name=False)


def forget_address(*, email: str) -> int:
    """Erasure: take an address off every provider meeting, as remove_meeting_invitee
    does, and its name at once; the rows are found through the email index.
    Returns how many meetings held it."""
    address = email.lower()
    if not address:
        return 0
    meetings = list(MeetingInvitee.objects.of_address(address).values_list("meeting_id", flat=True))
    for meeting_id in meetings:
        _withdraw(meeting_id, address, erase_name=True)
    return len(meetings)


def _withdraw(meeting_id: int, address: str, *, erase_name: bool) -> None:
    rows = MeetingInvitee.objects.filter(meeting_id=meeting_id, email=address)
    # Never sent: nobody to take off the provider. (A worker notes a row as sent
    # before sending it, so this delete and its send never both happen.)
    if rows.never_sent().delete()[0]:
        return
    meeting = ProviderMeeting.objects.only("state", "cancel_requested", "sent_creates", "attempts").get(
        pk=meeting_id
    )
    if not meeting.may_be_on_provider:
        # Cancelled, failed or never sent: the provider holds nothing to remove.
        rows.delete()
        return
    changes = {"name": ""} if erase_name else {}
    if rows.update(removed_at=Coalesce(F("removed_at"), Value(timezone.now())), **changes):
        _push_after_commit(meeting_id)


# --- Creating the meeting ------------------------------------------------------------------


def note_create(meeting: ProviderMeeting) -> tuple[Invitee, ...]:
    """Row first: before a create is sent, note the invitees it carries (everyone
    but registrants, who are added once the webinar exists) as sent, and return them."""
    carried = MeetingInvitee.objects.filter(meeting_id=meeting.pk).wanted().exclude(role=Role.REGISTRANT)
    carried.filter(sent_at__isnull=True).update(sent_at=timezone.now())
    return tuple(as_invitee(row) for row in carried.filter(sent_at__isnull=False).order_by("pk"))


def mark_created(meeting_id: int, now: datetime) -> None:
    """The meeting exists: everyone a create carried is on it (an adopted meeting was
    made by an earlier create; who was added since was never sent and is pushed)."""
    MeetingInvitee.objects.filter(
        meeting_id=meeting_id, sent_at__isnull=False, synced_at__isnull=True
    ).exclude(role=Role.REGISTRANT).update(synced_at=now)


def drop_removed(meeting_id: int) -> None:
    """The meeting is gone from the provider: nobody is left to take off it."""
    MeetingInvitee.objects.filter(meeting_id=meeting_id).to_remove().delete()


def has_pending(meeting_id: int) -> bool:
    return MeetingInvitee.objects.filter(meeting_id=meeting_id).pending().exists()


# --- The worker's push -----------------------------------------------------------------------


def push(backend: VideoBackend, meeting: ProviderMeeting, *, keep_going: Callable[[], bool]) -> bool:
    """Bring the provider meeting's invitees up to its rows: take off who left, add
    who is new, BATCH rows at a time. True when nothing is left to do; False when
    `keep_going` (called after each provider call: it renews the lease and watches
    the run's time budget) says stop. A provider error is raised after what was done
    before it is recorded."""
    rows = MeetingInvitee.objects.filter(meeting_id=meeting.pk)
    while True:
        leaving = list(rows.to_remove().order_by("pk")[:BATCH])
        for row in leaving:
            if row.sent_at is not None or row.synced_at is not None:
                _take_off(backend, meeting, row)
            _removed_from_provider(row)
            if not keep_going():
                return False
        if leaving:
            continue
        mark, batch = _next_batch(meeting)
        if not batch:
            return True
        if not _add(backend, meeting, batch, mark, keep_going):
            return False


def _next_batch(meeting: ProviderMeeting) -> tuple[datetime, list[MeetingInvitee]]:
    """The next rows to add, noted as sent first, with this batch's time (`mark`), so
    that rows it leaves untried can be told from rows an earlier attempt sent."""
    mark = timezone.now()
    rows = MeetingInvitee.objects.filter(meeting_id=meeting.pk)
    ids = list(rows.to_add().order_by("pk").values_list("pk", flat=True)[:BATCH])
    if not ids:
        return mark, []
    rows.filter(pk__in=ids, sent_at__isnull=True).update(sent_at=mark)
    # Read again: a row removed meanwhile is not added (the removal takes it off, harmlessly).
    return mark, list(rows.to_add().filter(pk__in=ids).order_by("pk"))


def _add(
    backend: VideoBackend,
    meeting: ProviderMeeting,
    batch: list[MeetingInvitee],
    mark: datetime,
    keep_going: Callable[[], bool],
) -> bool:
    done: list[int] = []
    try:
        for row in batch:
            _put_on(backend, meeting, row)
            done.append(row.pk)
            if not keep_going():
                break
    except Exception as exc:
        # The row whose add may have been done (no answer) stays noted as sent.
        in_doubt = {batch[len(done)].pk} if isinstance(exc, AmbiguousVideoError) else set()
        _settle(batch, done, in_doubt, mark)
        raise
    _settle(batch, done, set(), mark)
    return len(done) == len(batch)


def _settle(batch: list[MeetingInvitee], done: list[int], in_doubt: set[int], mark: datetime) -> None:
    """Mark synced what was added; rows this batch noted as sent but never sent are not
    on the provider (rows an earlier attempt sent keep their note)."""
    rows = MeetingInvitee.objects.filter(pk__in=[row.pk for row in batch])
    if done:
        rows.filter(pk__in=done, synced_at__isnull=True).update(synced_at=timezone.now())
    untried = [row.pk for row in batch if row.pk not in done and row.pk not in in_doubt]
    if untried:
        rows.filter(pk__in=untried, sent_at=mark, synced_at__isnull=True).update(sent_at=None)


def _put_on(backend: VideoBackend, meeting: ProviderMeeting, row: MeetingInvitee) -> None:
    try:
        if row.role == Role.REGISTRANT:
            backend.add_registrant(meeting.provider_id, as_invitee(row))
        else:
            backend.add_invitee(meeting.provider_id, as_invitee(row))
    except PermanentVideoError as exc:
        # "A person may not be added more than once": an earlier add went through
        # (its answer or our note of it was lost). Done, not failed.
        if exc.status != ALREADY_THERE:
            raise


def _take_off(backend: VideoBackend, meeting: ProviderMeeting, row: MeetingInvitee) -> None:
    """Take an address off the provider meeting in the role it was sent in. A webinar
    registrant not found among the registrants may be a row migrated from the old
    address lists, which did not say the role: it is looked for among the panelists."""
    if row.role == Role.REGISTRANT:
        if backend.remove_registrant(meeting.provider_id, row.email):
            return
        if meeting.kind != ProviderMeeting.Kind.WEBINAR:
            return
    backend.remove_invitee(meeting.provider_id, row.email)


def _removed_from_provider(row: MeetingInvitee) -> None:
    rows = MeetingInvitee.objects.filter(pk=row.pk)
    if not rows.filter(removed_at__isnull=False).delete()[0]:
        # Wanted again while being taken off: add them again.
        rows.update(sent_at=None, synced_at=None)


# --- Retention -------------------------------------------------------------------------------


def purge_meeting_invitees(policy: RetentionPolicy, now: datetime) -> int:
    """Retention: forget who was invited (and the agenda) of provider meetings, and of
    the local backend's meetings, over for longer than the retention period. Returns
    how many meetings lost something."""
    cutoff = policy.cutoff("provider_meetings_days", now)
    stale = ProviderMeeting.objects.filter(end__lt=cutoff).filter(
        ~Q(agenda="") | Exists(MeetingInvitee.objects.filter(meeting=OuterRef("pk")))
    )
    ids = list(stale.values_list("pk", flat=True))
    MeetingInvitee.objects.filter(meeting_id__in=ids).delete()
    ProviderMeeting.objects.filter(pk__in=ids).update(agenda="")
    return len(ids) + (
        LocalVideoMeeting.objects.filter(end__lt=cutoff)
        .filter(~Q(invitees=[]) | ~Q(agenda=""))
        .update(invitees=[], agenda="")
    )
