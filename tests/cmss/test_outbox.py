"""The outbox: rows first, sent once, retried with backoff, failures kept visible."""

from __future__ import annotations

import smtplib
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from cmss import outbox
from cmss.models import OutgoingEmail
from cmss.tasks import send_email, sweep_outbox
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def queue(**kwargs: Any) -> OutgoingEmail:
    return outbox.queue_email(
        to=kwargs.pop("to", "ana@hospital.example.org"),
        subject=kwargs.pop("subject", "Hello"),
        text=kwargs.pop("text", "Plain text"),
        **kwargs,
    )


def test_a_queued_email_is_sent_by_the_task_with_its_stable_message_id() -> None:
    email = queue(
        html="<p>Hi</p>", attachments=[outbox.Attachment("invite.ics", b"BEGIN:VCALENDAR", "text/calendar")]
    )
    assert send_email(email.pk) == "sent"
    email.refresh_from_db()
    assert email.state == "sent" and email.sent_at is not None and email.attempts == 1
    [message] = mail.outbox
    assert isinstance(message, mail.EmailMultiAlternatives)
    assert message.to == ["ana@hospital.example.org"]
    assert message.extra_headers["Message-ID"] == email.message_id
    assert message.alternatives[0] == ("<p>Hi</p>", "text/html")
    assert message.attachments[0][0] == "invite.ics"
    assert message.attachments[0][1] in (b"BEGIN:VCALENDAR", "BEGIN:VCALENDAR")


def test_the_task_run_twice_for_one_row_sends_one_email() -> None:
    email = queue()
    send_email(email.pk)
    assert send_email(email.pk) is None
    assert len(mail.outbox) == 1


def test_queueing_the_same_intent_twice_keeps_one_row() -> None:
    first = queue(dedup_key="welcome:1")
    second = queue(dedup_key="welcome:1", subject="Different")
    assert first.pk == second.pk
    assert OutgoingEmail.objects.count() == 1


def test_the_send_task_is_enqueued_only_after_commit(django_capture_on_commit_callbacks: Any) -> None:
    with mock.patch("cmss.tasks.send_email.apply_async") as apply_async:
        with django_capture_on_commit_callbacks(execute=True):
            email = queue()
            assert apply_async.call_count == 0
        apply_async.assert_called_once_with((email.pk,))


def test_a_rolled_back_transaction_leaves_no_email(django_capture_on_commit_callbacks: Any) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        queue()
        raise RuntimeError("the change that caused the email failed")
    assert callbacks == []
    assert not OutgoingEmail.objects.exists()


def test_a_broker_outage_at_commit_leaves_the_row_queued_for_the_sweeper(caplog: Any) -> None:
    email = queue()
    with mock.patch("cmss.tasks.send_email.apply_async", side_effect=ConnectionError("broker down")):
        assert outbox.enqueue(email.pk) is False
    email.refresh_from_db()
    assert email.state == "queued"
    assert "the sweeper will retry" in caplog.text


def test_a_transient_smtp_failure_is_retried_later_with_backoff() -> None:
    email = queue()
    error = smtplib.SMTPServerDisconnected("connection lost")
    with (
        mock.patch("django.core.mail.backends.locmem.EmailBackend.send_messages", side_effect=error),
        mock.patch("cmss.tasks.send_email.apply_async") as retry,
    ):
        assert send_email(email.pk) == "queued"
    email.refresh_from_db()
    assert email.state == "queued"
    assert email.attempts == 1
    assert "SMTPServerDisconnected" in email.last_error
    assert email.next_attempt_at > timezone.now() + timedelta(seconds=20)
    assert retry.call_args.kwargs["countdown"] == 30
    # Not due yet: running the task early sends nothing.
    assert send_email(email.pk) is None
    assert mail.outbox == []


def test_an_email_that_keeps_failing_stops_at_the_cap_and_shows_as_failed(settings: Any) -> None:
    settings.JOBS_MAX_ATTEMPTS = 3
    email = queue()
    error = smtplib.SMTPServerDisconnected("connection lost")
    with (
        mock.patch("django.core.mail.backends.locmem.EmailBackend.send_messages", side_effect=error),
        mock.patch("cmss.tasks.send_email.apply_async"),
    ):
        for _attempt in range(5):
            OutgoingEmail.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now())
            send_email(email.pk)
    email.refresh_from_db()
    assert email.state == "failed"
    assert email.attempts == 3


def test_a_permanent_rejection_fails_at_once() -> None:
    email = queue()
    error = smtplib.SMTPRecipientsRefused({"ana@hospital.example.org": (550, b"no such user")})
    with mock.patch("django.core.mail.backends.locmem.EmailBackend.send_messages", side_effect=error):
        assert send_email(email.pk) == "failed"
    email.refresh_from_db()
    assert email.state == "failed" and email.attempts == 1
    assert "SMTPRecipientsRefused" in email.last_error


def test_the_sweeper_enqueues_rows_whose_task_never_ran() -> None:
    stale = queue()
    fresh = queue()
    OutgoingEmail.objects.filter(pk=stale.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    with mock.patch("cmss.tasks.send_email.apply_async") as apply_async:
        assert sweep_outbox() == 1
    apply_async.assert_called_once_with((stale.pk,))
    assert fresh.pk not in [call.args[0][0] for call in apply_async.call_args_list]


def test_the_sweeper_frees_a_row_whose_worker_died_while_sending() -> None:
    email = queue()
    OutgoingEmail.objects.filter(pk=email.pk).update(
        state="sending",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
        next_attempt_at=timezone.now() - timedelta(minutes=10),
    )
    with mock.patch("cmss.tasks.send_email.apply_async"):
        outbox.sweep()
    email.refresh_from_db()
    assert email.state == "queued"
    assert send_email(email.pk) == "sent"
    assert len(mail.outbox) == 1


def test_a_worker_killed_after_the_smtp_server_accepted_sends_again_with_the_same_message_id() -> None:
    # Delivery is at least once: the SMTP server took the message, then the worker died
    # before it recorded "sent" (the row stays "sending" under its lease). The sweeper
    # hands the row on and it goes again as the same message (one Message-ID), which
    # mail clients show once.
    email = queue()
    assert send_email(email.pk) == "sent"
    OutgoingEmail.objects.filter(pk=email.pk).update(
        state="sending", sent_at=None, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    with mock.patch("cmss.tasks.send_email.apply_async"):
        outbox.sweep()
    OutgoingEmail.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now())
    assert send_email(email.pk) == "sent"
    assert len(mail.outbox) == 2
    first, second = (message.extra_headers["Message-ID"] for message in mail.outbox)
    assert first == second == email.message_id


def test_a_failed_email_can_be_retried_from_the_admin(
    client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from tests.conftest import sign_in_staff
    from tests.factories import StaffFactory

    email = queue()
    OutgoingEmail.objects.filter(pk=email.pk).update(state="failed", attempts=8, last_error="boom")
    sign_in_staff(client, StaffFactory.create())
    with (
        mock.patch("cmss.tasks.send_email.apply_async") as apply_async,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(
            "/admin/cmss/outgoingemail/",
            {"action": "retry_failed", "_selected_action": [email.pk]},
            follow=True,
        )
    assert "1 email queued again." in response.content.decode()
    email.refresh_from_db()
    assert email.state == "queued" and email.attempts == 0
    apply_async.assert_called_once_with((email.pk,))


def test_erasure_cancels_what_is_still_waiting_for_the_person() -> None:
    user = UserFactory.create()
    waiting = queue(user=user)
    sent = queue(user=user)
    send_email(sent.pk)
    OutgoingEmail.erase_personal_data(user, "erased-x")
    waiting.refresh_from_db()
    assert waiting.state == "cancelled"
    assert send_email(waiting.pk) is None
    sent.refresh_from_db()
    assert sent.state == "sent" and sent.text_body == "" and sent.to_address == "erased-x@erased.invalid"
