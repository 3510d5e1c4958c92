"""A real SMTP server on loopback (aiosmtpd) that keeps every message it receives."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Received:
    """One message as the SMTP server received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""

    def attachments(self) -> list[EmailMessage]:
        return list(self.message.iter_attachments())


class Mailbox:
    """The aiosmtpd handler: parses each message with the email package and keeps it."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self._changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(
            envelope.original_content or envelope.content, policy=email.policy.default
        )
        received = Received(
            envelope.mail_from, tuple(address.lower() for address in envelope.rcpt_tos), parsed
        )
        with self._changed:
            self.messages.append(received)
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self._changed:
            self.messages.clear()

    def to(self, address: str, subject_part: str = "") -> list[Received]:
        with self._changed:
            return [m for m in self.messages if address.lower() in m.rcpt_tos and subject_part in m.subject]

    def wait_for(self, address: str, subject_part: str, timeout: float = 30.0) -> Received:
        """The first message to `address` whose subject contains `subject_part`, waiting
        up to `timeout` seconds for the worker to send it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for message in self.messages:
                    if address.lower() in message.rcpt_tos and subject_part in message.subject:
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(m.rcpt_tos, m.subject) for m in self.messages]
                    pytest.fail(
                        f"no email to {address} with {subject_part!r} in the subject within {timeout} s; "
                        f"the SMTP server received: {seen}"
                    )
                self._changed.wait(remaining)


class SMTPServer:
    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
