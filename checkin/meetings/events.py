"""Domain events, published after the change they describe is committed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MeetingChanged:
    """Attendance, leave, departure, roster or window of a meeting changed."""

    meeting_id: int
    kind: str  # checkin / undo / leave / departure / return / roster / window
    deputy_id: int | None = None


@dataclass(frozen=True)
class GalleryChanged:
    """Face templates or a roster changed: cached galleries must be rebuilt."""

    meeting_id: int | None = None  # None: every meeting


Event = MeetingChanged | GalleryChanged


class EventBus:
    """In-process publish/subscribe; a failing subscriber never breaks a publish."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[Event], None]] = []

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        self._subscribers.append(callback)

    def publish(self, event: Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                logger.exception("event subscriber failed for %r", event)
