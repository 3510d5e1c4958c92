"""Outgoing mail: queue a row inside the caller's transaction, send it from a worker.

- queue_email() writes the row and enqueues the send task after commit.
- queue_email_later() writes the row with what to render instead of the text,
  for callers holding a lock that rendering must not lengthen (a webinar's seat
  lock in a registration burst): the text is rendered right after commit, or by
  the worker before sending if the process died in between.
- deliver() claims a queued row with a conditional update, so a task run
  twice sends one email, and records the outcome on the row.
- sweep() re-enqueues rows whose task never ran and frees rows whose worker
  died while sending.
"""

from __future__ import annotations

import base64
import logging
import smtplib
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.db import transaction
from django.db.models import F
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.module_loading import import_string

from . import jobs
from .models import OutgoingEmail

if TYPE_CHECKING:
    from .models import User

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mimetype: str


def _message_domain() -> str:
    address = settings.DEFAULT_FROM_EMAIL
    return address.rsplit("@", 1)[-1].strip(" >") or "cmss.localhost"


def queue_email(
    *,
    to: str,
    subject: str,
    text: str,
    html: str = "",
    user: User | None = None,
    dedup_key: str | None = None,
    attachments: Sequence[Attachment] = (),
    headers: dict[str, str] | None = None,
    render: dict[str, Any] | None = None,
) -> OutgoingEmail:
    """Write an email to the outbox and send it once the transaction commits.

    A dedup_key names the intent ("registration-confirmed:42"): queueing the
    same key twice returns the existing row and sends nothing more.
    """
    key = dedup_key or f"adhoc:{uuid.uuid4()}"
    candidate = OutgoingEmail(
        dedup_key=key,
        user=user,
        to_address=to,
        from_address=settings.DEFAULT_FROM_EMAIL,
        subject=" ".join(subject.splitlines())[:500],
        text_body=text,
        html_body=html,
        attachments=_encoded(attachments),
        headers=headers or {},
        render=render or {},
        message_id=make_msgid(domain=_message_domain()),
    )
    # INSERT ... ON CONFLICT DO NOTHING, then read the row back: two statements
    # (get_or_create takes four, with its savepoint), and the same answer under
    # concurrency. The row is ours when it carries our fresh Message-ID.
    OutgoingEmail.objects.bulk_create([candidate], ignore_conflicts=True)
    pk, message_id = OutgoingEmail.objects.filter(dedup_key=key).values_list("pk", "message_id").get()
    if message_id != candidate.message_id:
        return OutgoingEmail.objects.get(pk=pk)
    email = candidate
    email.pk = pk
    email._state.adding = False
    if render:
        transaction.on_commit(lambda: _render_then_enqueue(pk, render))
    else:
        transaction.on_commit(lambda: enqueue(pk))
    return email


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str = ""
    attachments: Sequence[Attachment] = ()


# A renderer takes the JSON arguments given to queue_email_later and returns the
# email, or None when there is nothing to send any more (the row is cancelled).
Renderer = Callable[..., Rendered | None]


def queue_email_later(*, user: User, render_with: str, args: dict[str, Any], dedup_key: str) -> OutgoingEmail:
    """Queue an email to a user whose text `render_with` (the dotted path of a
    Renderer) writes from `args` after this transaction commits.

    The row, and so the intent, is written now, in the caller's transaction:
    nothing is lost if the process dies before rendering (deliver() renders
    first), and a rollback sends nothing."""
    return queue_email(
        to=user.email,
        subject="",
        text="",
        user=user,
        dedup_key=dedup_key,
        render={"with": render_with, "args": args},
    )


def render_pending(email_id: int, spec: dict[str, Any] | None = None) -> None:
    """Write the subject, body and attachments of a row queued by queue_email_later.

    No lock: the text is written only where the row still waits for this very
    rendering, so when the web process and a worker both render it (the sweeper
    picked the row up early) one write wins and the other changes nothing."""
    if spec is None:  # (the process that queued it knows what to render)
        spec = (
            OutgoingEmail.objects.filter(pk=email_id)
            .exclude(render={})
            .values_list("render", flat=True)
            .first()
        )
        if spec is None:
            return
    renderer: Renderer = import_string(spec["with"])
    rendered = renderer(**spec["args"])
    waiting = OutgoingEmail.objects.filter(pk=email_id, render=spec)
    if rendered is None:
        waiting.update(render={}, state=OutgoingEmail.State.CANCELLED, last_error="Nothing to send any more.")
        return
    waiting.update(
        render={},
        subject=" ".join(rendered.subject.splitlines())[:500],
        text_body=rendered.text,
        html_body=rendered.html,
        attachments=_encoded(rendered.attachments),
    )


def _render_then_enqueue(email_id: int, spec: dict[str, Any]) -> None:
    try:
        render_pending(email_id, spec)
    except Exception:
        # The worker renders it again before sending, and records what fails.
        logger.exception("Rendering outgoing email %s failed; the worker will try again", email_id)
    enqueue(email_id)


def _encoded(attachments: Sequence[Attachment]) -> list[dict[str, str]]:
    return [
        {
            "filename": item.filename,
            "mimetype": item.mimetype,
            "content": base64.b64encode(item.content).decode("ascii"),
        }
        for item in attachments
    ]


def queue_message(message: EmailMessage, *, user: User | None = None, dedup_key: str | None = None) -> None:
    """Queue an already rendered Django EmailMessage (allauth renders its own)."""
    html = ""
    for content, mimetype in getattr(message, "alternatives", []):
        if mimetype == "text/html":
            html = str(content)
    text = str(message.body)
    if message.content_subtype == "html" and not html:
        html, text = text, ""
    for recipient in message.to:
        queue_email(
            to=recipient,
            subject=str(message.subject),
            text=text,
            html=html,
            user=user,
            dedup_key=f"{dedup_key}:{recipient}" if dedup_key else None,
            headers=dict(message.extra_headers),
        )


def render_email(
    template: str, context: dict[str, object], *, language: str | None = None
) -> tuple[str, str, str]:
    """Render templates/emails/<template>_subject.txt, .txt and .html in a language.

    Without an .html template, the HTML part is the text laid out in the
    house email layout (paragraphs and links)."""
    ctx = {"site_url": settings.SITE_URL, **context}
    with translation.override(language or settings.LANGUAGE_CODE):
        subject = " ".join(render_to_string(f"emails/{template}_subject.txt", ctx).split())
        text = render_to_string(f"emails/{template}.txt", ctx).strip()
        try:
            html = render_to_string(f"emails/{template}.html", ctx).strip()
        except TemplateDoesNotExist:
            html = render_to_string("emails/_text.html", {**ctx, "subject": subject, "text": text}).strip()
    return settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + subject, text, html


def queue_templated_email(
    *,
    user: User,
    template: str,
    context: dict[str, object],
    dedup_key: str,
    attachments: Sequence[Attachment] = (),
) -> OutgoingEmail:
    """Render an email in the user's language and queue it to the user's address."""
    subject, text, html = render_email(template, {"user": user, **context}, language=user.language)
    return queue_email(
        to=user.email,
        subject=subject,
        text=text,
        html=html,
        user=user,
        dedup_key=dedup_key,
        attachments=attachments,
    )


def enqueue(email_id: int, *, countdown: float | None = None) -> bool:
    """Hand the row to the broker; if the broker is down, leave it to the sweeper."""
    from .tasks import send_email

    return jobs.enqueue(send_email, email_id, countdown=countdown, what="outgoing email")


def _build_message(email: OutgoingEmail) -> EmailMultiAlternatives:
    headers = {**email.headers, "Message-ID": email.message_id}
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.text_body,
        from_email=email.from_address,
        to=[email.to_address],
        headers=headers,
    )
    if email.html_body:
        message.attach_alternative(email.html_body, "text/html")
    for item in email.attachments:
        message.attach(item["filename"], base64.b64decode(item["content"]), item["mimetype"])
    return message


def _is_permanent(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPSenderRefused):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


def deliver(*, email_id: int, now: datetime | None = None) -> OutgoingEmail.State | None:
    """Send one queued email. Returns the new state, or None when another
    worker has it or it is not due (nothing is sent then)."""
    now = now or timezone.now()
    claimed = OutgoingEmail.objects.filter(
        pk=email_id, state=OutgoingEmail.State.QUEUED, next_attempt_at__lte=now
    ).update(
        state=OutgoingEmail.State.SENDING,
        attempts=F("attempts") + 1,
        lease_expires_at=now + jobs.policy().lease,
    )
    if not claimed:
        return None
    email = OutgoingEmail.objects.get(pk=email_id)
    if email.render:
        try:
            render_pending(email.pk)
        except Exception as exc:  # a renderer's bug or a database hiccup: retried, then failed
            return _record_failure(email, exc, now=now)
        email = OutgoingEmail.objects.get(pk=email_id)
        if email.state == OutgoingEmail.State.CANCELLED:
            return OutgoingEmail.State.CANCELLED
    try:
        _build_message(email).send()
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        return _record_failure(email, exc, now=now)
    OutgoingEmail.objects.filter(pk=email.pk, state=OutgoingEmail.State.SENDING).update(
        state=OutgoingEmail.State.SENT, sent_at=timezone.now(), lease_expires_at=None, last_error=""
    )
    return OutgoingEmail.State.SENT


def _record_failure(email: OutgoingEmail, exc: Exception, *, now: datetime) -> OutgoingEmail.State:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    if _is_permanent(exc) or jobs.exhausted(email.attempts):
        logger.error("Outgoing email %s failed for good: %s", email.pk, error)
        OutgoingEmail.objects.filter(pk=email.pk).update(
            state=OutgoingEmail.State.FAILED, last_error=error, lease_expires_at=None
        )
        return OutgoingEmail.State.FAILED
    delay = jobs.backoff(email.attempts)
    logger.warning(
        "Outgoing email %s failed (attempt %s), retrying in %s: %s", email.pk, email.attempts, delay, error
    )
    OutgoingEmail.objects.filter(pk=email.pk).update(
        state=OutgoingEmail.State.QUEUED, last_error=error, lease_expires_at=None, next_attempt_at=now + delay
    )
    enqueue(email.pk, countdown=delay.total_seconds())
    return OutgoingEmail.State.QUEUED


def sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Free rows whose lease expired and enqueue queued rows that are overdue.
    Returns how many rows were enqueued."""

    def free_expired(at: datetime) -> int:
        return OutgoingEmail.objects.filter(
            state=OutgoingEmail.State.SENDING, lease_expires_at__lt=at
        ).update(
            state=OutgoingEmail.State.QUEUED,
            lease_expires_at=None,
            last_error="Worker lease expired; retrying.",
        )

    def due(before: datetime) -> Iterable[int]:
        return OutgoingEmail.objects.filter(
            state=OutgoingEmail.State.QUEUED, next_attempt_at__lte=before
        ).values_list("pk", flat=True)[:limit]

    return jobs.sweep(free_expired=free_expired, due=due, enqueue_one=enqueue, now=now or timezone.now())


def retry(*, email: OutgoingEmail) -> bool:
    """Put a failed email back in the queue (the admin's retry action)."""
    updated = OutgoingEmail.objects.filter(pk=email.pk, state=OutgoingEmail.State.FAILED).update(
        state=OutgoingEmail.State.QUEUED, attempts=0, next_attempt_at=timezone.now()
    )
    if updated:
        transaction.on_commit(lambda: enqueue(email.pk))
    return bool(updated)
