"""Domain events, published after the change they describe is committed.

One small dataclass per kind of change to a meeting; `kind` is the name it travels under
(Redis, the live socket's `kind`). `GalleryChanged` tells matchers to rebuild galleries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MeetingChanged:
    """Something about one meeting changed (the subclasses say what)."""

    meeting_id: int
    deputy_id: int | None = None
    kind: ClassVar[str] = "refresh"
    # Set by a publisher that already read the change (`meetings.delta.change_delta`) and
    # noted the commit time: the live hub then sends it on without reading it again.
    delta: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    committed_at: float | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class DeputyCheckedIn(MeetingChanged):
    """A face or manual check-in was recorded."""

    kind: ClassVar[str] = "checkin"


@dataclass(frozen=True)
class CheckinUndone(MeetingChanged):
    """Staff undid a check-in."""

    kind: ClassVar[str] = "undo"


@dataclass(frozen=True)
class LeaveChanged(MeetingChanged):
    """Leave (请假) was registered or cancelled."""

    kind: ClassVar[str] = "leave"


@dataclass(frozen=True)
class DeputyDeparted(MeetingChanged):
    """A deputy left during the sitting (中途退场)."""

    kind: ClassVar[str] = "departure"


@dataclass(frozen=True)
class DeputyReturned(MeetingChanged):
    """A departed deputy came back."""

    kind: ClassVar[str] = "return"


@dataclass(frozen=True)
class RosterChanged(MeetingChanged):
    """Someone was added to or taken off the roster."""

    kind: ClassVar[str] = "roster"


@dataclass(frozen=True)
class WindowChanged(MeetingChanged):
    """The check-in window was opened or closed."""

    kind: ClassVar[str] = "window"


MEETING_EVENTS: dict[str, type[MeetingChanged]] = {
    cls.kind: cls
    for cls in (
        MeetingChanged,
        DeputyCheckedIn,
        CheckinUndone,
        LeaveChanged,
        DeputyDeparted,
        DeputyReturned,
        RosterChanged,
        WindowChanged,
    )
}


def meeting_event(kind: str, meeting_id: int, deputy_id: int | None = None) -> MeetingChanged:
    """The event of a kind received from the wire (an unknown kind is a plain refresh)."""
    return MEETING_EVENTS.get(kind, MeetingChanged)(meeting_id, deputy_id)


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
