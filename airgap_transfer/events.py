"""How the engine talks to whoever drives it: a callback receiving Events.

The engine never prints.  Each event has a kind (stable, for ``--json``), a
one-line human message, and structured data.  ``progress`` events are frequent
and only rendered on a TTY.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Event:
    kind: str
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    level: str = "info"  # info | warning | progress

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, "level": self.level, "message": self.message, **self.data}


Callback = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """The default callback for library use: drop everything."""


class Reporter:
    """Small convenience wrapper so engine code reads as ``report.info(...)``."""

    def __init__(self, callback: Callback | None) -> None:
        self.callback = callback or ignore

    def info(self, kind: str, message: str, **data: Any) -> None:
        self.callback(Event(kind, message, data))

    def warning(self, kind: str, message: str, **data: Any) -> None:
        self.callback(Event(kind, message, data, level="warning"))

    def progress(self, **data: Any) -> None:
        self.callback(Event("progress", "", data, level="progress"))
