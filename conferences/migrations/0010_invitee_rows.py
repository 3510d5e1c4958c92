# Today's JSON lists become MeetingInvitee rows, and each meeting's owner is read from its
# key ("conference-12" -> "conference"). The reverse writes the lists back from the rows.
#
# `invitees` held who we want on the provider ({"email", "name", "panelist", "registrant"});
# `provider_invitees` the addresses that may be on it (noted before a create was sent,
# added after an add succeeded). So, per address:
# - wanted and on a created meeting's list: on the provider (sent and synced);
# - wanted and on the list of a meeting not created yet: sent with a create, not confirmed;
# - on the list but no longer wanted: to be taken off the provider by the worker (removed);
#   the old lists did not say in which role it was sent, so on a webinar it is taken as a
#   registrant (the removal also looks among the panelists), else as an invitee.

from django.db import migrations
from django.utils import timezone

OWNERS = ("conference", "webinar")


def _role(item, kind):
    if item.get("registrant"):
        return "registrant"
    return "panelist" if item.get("panelist") and kind == "webinar" else "invitee"


def lists_to_rows(apps, schema_editor):
    ProviderMeeting = apps.get_model("conferences", "ProviderMeeting")
    MeetingInvitee = apps.get_model("conferences", "MeetingInvitee")
    for owner in OWNERS:
        ProviderMeeting.objects.filter(key__startswith=f"{owner}-").update(owner=owner)
    now = timezone.now()
    rows = []
    meetings = ProviderMeeting.objects.values("pk", "kind", "state", "invitees", "provider_invitees")
    for meeting in meetings.iterator():
        created = meeting["state"] == "created"
        sent = {str(address).lower() for address in meeting["provider_invitees"] or []}
        if meeting["state"] == "cancelled":
            sent = set()
        seen = set()
        for item in meeting["invitees"] or []:
            email = str(item.get("email", "")).lower()
            if not email or email in seen:
                continue
            seen.add(email)
            rows.append(
                MeetingInvitee(
                    meeting_id=meeting["pk"],
                    email=email,
                    name=str(item.get("name", ""))[:200],
                    role=_role(item, meeting["kind"]),
                    sent_at=now if email in sent else None,
                    synced_at=now if email in sent and created else None,
                )
            )
        for email in sorted(sent - seen):
            rows.append(
                MeetingInvitee(
                    meeting_id=meeting["pk"],
                    email=email,
                    role="registrant" if meeting["kind"] == "webinar" else "invitee",
                    sent_at=now,
                    synced_at=now if created else None,
                    removed_at=now,
                )
            )
    MeetingInvitee.objects.bulk_create(rows, batch_size=1000)


def rows_to_lists(apps, schema_editor):
    ProviderMeeting = apps.get_model("conferences", "ProviderMeeting")
    MeetingInvitee = apps.get_model("conferences", "MeetingInvitee")
    lists = {}
    for row in MeetingInvitee.objects.order_by("meeting_id", "pk").values().iterator():
        wanted, sent = lists.setdefault(row["meeting_id"], ([], []))
        if row["removed_at"] is None:
            wanted.append(
                {
                    "email": row["email"],
                    "name": row["name"],
                    "panelist": row["role"] == "panelist",
                    "registrant": row["role"] == "registrant",
                }
            )
        if row["sent_at"] is not None or row["synced_at"] is not None:
            sent.append(row["email"])
    for meeting_id, (wanted, sent) in lists.items():
        ProviderMeeting.objects.filter(pk=meeting_id).update(invitees=wanted, provider_invitees=sent)


class Migration(migrations.Migration):

    dependencies = [
        ('conferences', '0009_meeting_invitees'),
    ]

    operations = [
        migrations.RunPython(lists_to_rows, rows_to_lists),
    ]
