"""The kiosk wire protocol: message models shared by the server and the kiosk client.

Kept free of heavy imports: the kiosk imports this module and nothing else of the server.

Kiosk → server
  text   {"type": "hello", "token": str, "meeting_id": int, "client": str}
  binary frame: 4-byte big-endian header length, a JSON `FrameHeader`, then the JPEG bytes
  text   {"type": "ack", "checkin_id": int}
  text   {"type": "ping"}
Server → kiosk
  text   {"type": "welcome", ...}       after a good hello
  text   {"type": "result", ...}        one per processed frame
  text   {"type": "checkin", ...}       a new attendance row; the kiosk answers with `ack`
  text   {"type": "error", ...}         a bad message or frame; the connection stays open
  text   {"type": "pong"}
Close codes: see `CloseCode`.
"""

from __future__ import annotations

import json
import struct
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

# An integer that fits the database's 64-bit integer columns (ids in messages and in the
# REST API): anything larger is refused by validation instead of overflowing the driver.
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]

PROTOCOL_VERSION = 1
_HEADER_LEN = struct.Struct(">I")
MAX_HEADER_BYTES = 4096


class CloseCode(IntEnum):
    """WebSocket close codes the server uses; the kiosk treats 44xx as 'do not retry as is'."""

    BAD_TOKEN = 4401  # unknown or revoked kiosk token (checked at hello and every frame)
    # not allowed here: a browser page of a foreign origin, or a kiosk not bound to the body
    FORBIDDEN = 4403
    UNKNOWN_MEETING = 4404  # meeting id not found, or closed (checked at hello and every frame)
    HELLO_TIMEOUT = 4408  # no hello within the time limit
    REPLACED = 4409  # a newer connection with the same kiosk token took over
    PROTOCOL = 4400  # repeated protocol violations


class FaceState(StrEnum):
    UNKNOWN = "unknown"  # a face, matched to nobody on the roster
    MATCHING = "matching"  # agrees with someone, waiting for more frames
    CONFIRMED = "confirmed"  # checked in by this frame
    ALREADY = "already"  # was checked in before (checked_in_at says when)
    NOT_ON_ROSTER = "not_on_roster"  # an enrolled person off this meeting's roster (no name)
    # not usable: reason says why (face_too_small, too_blurry, …; multiple_faces: not the
    # largest face of the frame, which alone is matched by default)
    REJECTED = "rejected"
    NOT_OPEN = "not_open"  # recognised, but the check-in window is not open
    # recognised, waiting for the liveness action (`action`, `progress`, `deadline_ms`); no
    # name is given before it is done. Not done in time: rejected, reason "liveness".
    LIVENESS = "liveness"


LivenessAction = Literal["blink", "turn_left", "turn_right"]


class ErrorCode(StrEnum):
    BAD_MESSAGE = "bad_message"  # text that is not a known JSON message
    BAD_FRAME = "bad_frame"  # binary that is not header + JPEG, or an undecodable image
    FRAME_TOO_LARGE = "frame_too_large"  # over the byte or pixel limit
    NO_HELLO = "no_hello"  # a frame or ack before hello
    UNKNOWN_CHECKIN = "unknown_checkin"  # ack for an id this kiosk was not sent


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Hello(_Msg):
    type: Literal["hello"] = "hello"
    token: str = Field(min_length=1, max_length=200)
    meeting_id: Int64
    client: str = Field("", max_length=100)


class Ack(_Msg):
    type: Literal["ack"] = "ack"
    checkin_id: Int64


class Ping(_Msg):
    type: Literal["ping"] = "ping"


KioskMessage = Annotated[Hello | Ack | Ping, Field(discriminator="type")]
kiosk_message = TypeAdapter(KioskMessage)


class FrameHeader(_Msg):
    frame_id: int = Field(ge=0, le=2**63 - 1)
    captured_at: datetime
    # True for frames captured while the server was unreachable and uploaded afterwards:
    # the server processes every one of them (no dropping) and records the capture time
    # when it lies inside the kiosk's outage (else the arrival time; see the README).
    buffered: bool = False


class Person(_Msg):
    id: int
    number: str
    name: str
    role: str = "deputy"  # deputy / nonvoting (列席) / staff


class MeetingInfo(_Msg):
    id: int
    title: str
    window_open: bool
    opens_at: datetime | None = None
    closes_at: datetime | None = None


class Welcome(_Msg):
    type: Literal["welcome"] = "welcome"
    protocol: int = PROTOCOL_VERSION
    kiosk: str
    meeting: MeetingInfo
    server_time: datetime
    timezone: str | None = None  # the meeting's time zone (IANA name): the kiosk's clock


class FaceResult(_Msg):
    box: tuple[int, int, int, int]  # top, right, bottom, left in the frame's pixels
    track_id: int
    state: FaceState
    # matching: agreeing frames / frames needed; liveness: how far the action has got (0..1)
    progress: float = 0.0
    reason: str | None = None  # rejected: a quality reason code, or liveness
    action: LivenessAction | None = None  # liveness: what the person must do
    deadline_ms: int | None = None  # liveness: milliseconds left to do it
    person: Person | None = None  # only ever someone on the meeting's roster
    checked_in_at: datetime | None = None  # already / confirmed


class Result(_Msg):
    type: Literal["result"] = "result"
    frame_id: int
    captured_at: datetime
    faces: list[FaceResult]
    dropped: int = 0  # frames of this kiosk dropped as stale since the previous result


class CheckIn(_Msg):
    type: Literal["checkin"] = "checkin"
    checkin_id: int
    person: Person
    checked_in_at: datetime
    late: bool = False
    delayed: bool = False  # recorded from a buffered (offline) frame
    frame_id: int


class Error(_Msg):
    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    frame_id: int | None = None


class Pong(_Msg):
    type: Literal["pong"] = "pong"


ServerMessage = Annotated[Welcome | Result | CheckIn | Error | Pong, Field(discriminator="type")]
server_message = TypeAdapter(ServerMessage)


class FrameFormatError(ValueError):
    """A binary message that is not a length-prefixed JSON header followed by image bytes."""


def encode_frame(header: FrameHeader, jpeg: bytes) -> bytes:
    """Pack a frame header and its JPEG into one binary WebSocket message."""
    raw = header.model_dump_json().encode()
    return _HEADER_LEN.pack(len(raw)) + raw + jpeg


def decode_frame(data: bytes) -> tuple[FrameHeader, bytes]:
    """Split a binary message into its header and image bytes; raises FrameFormatError."""
    if len(data) < _HEADER_LEN.size:
        raise FrameFormatError("frame shorter than its length prefix")
    (n,) = _HEADER_LEN.unpack_from(data)
    if n == 0 or n > MAX_HEADER_BYTES or len(data) < _HEADER_LEN.size + n:
        raise FrameFormatError("frame header length out of range")
    try:
        header = FrameHeader.model_validate(
            json.loads(data[_HEADER_LEN.size : _HEADER_LEN.size + n])
        )
    except ValueError as exc:  # JSON and pydantic errors are both ValueErrors
        raise FrameFormatError(f"frame header is not valid: {exc}") from exc
    image = data[_HEADER_LEN.size + n :]
    if not image:
        raise FrameFormatError("frame has no image bytes")
    return header, image
