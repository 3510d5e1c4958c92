"""Beat and the worker, as deployed: an email whose task never reached the broker still goes out.

Last in the package: beat first sends sweep-outbox a minute after it starts, so the
other tests take up part of the wait."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from cmss import outbox
from cmss.models import OutgoingEmail
from tests.conftest import wait_for
from tests.deployed.conftest import Deployment

pytestmark = [pytest.mark.deployed]


def test_beat_has_the_worker_send_an_email_whose_task_never_reached_the_broker(deployed: Deployment) -> None:
    # As when the broker was down at commit time: the row is there, no task is.
    with mock.patch.object(outbox, "enqueue", return_value=False):
        email = outbox.queue_email(
            to="ingrid.halvorsen@rikshospitalet.example.no",
            subject="Sent by the sweeper",
            text="Línea uno.\nZweite Zeile.",
        )
    OutgoingEmail.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=3))

    # sweep-outbox runs every 60 seconds.
    received = deployed.mailbox.wait_for(email.to_address, "Sent by the sweeper", timeout=90)
    assert received.message["Message-ID"] == email.message_id
    assert received.text.splitlines()[:2] == ["Línea uno.", "Zweite Zeile."]
    # The worker marks the row sent once the SMTP server has answered.
    wait_for(lambda: OutgoingEmail.objects.get(pk=email.pk).state == OutgoingEmail.State.SENT, timeout=10)
