"""Follow-ups that apps above clinicians attach to its workflows.

clinicians may not import helpdesk, yet a clinician who moves to another
hospital needs a helpdesk ticket. helpdesk registers its service here when it
starts (HelpdeskConfig.ready), and the clinicians service calls run() after
the change, in the same transaction. One dictionary, greppable by event name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_HANDLERS: dict[str, list[Callable[..., Any]]] = {}

EVENTS = ("hospital_changed",)


def register(event: str, handler: Callable[..., Any]) -> None:
    if event not in EVENTS:
        raise ValueError(f"Unknown follow-up event {event!r}")
    handlers = _HANDLERS.setdefault(event, [])
    if handler not in handlers:
        handlers.append(handler)


def run(event: str, **kwargs: Any) -> None:
    for handler in _HANDLERS.get(event, []):
        handler(**kwargs)
