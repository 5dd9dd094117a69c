"""Test helpers: enrol people, build meetings with rosters, make kiosk frames.

Enrolment here encodes a photo with the face engine and stores the encrypted template
directly; the enrollment service replaces this once it lands.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy.orm import Session

from checkin.faces import engine as fe
from checkin.protocol import FrameHeader, encode_frame
from checkin.settings import Settings
from models import Body, Deputy, FaceTemplate, Meeting, MeetingState, RosterEntry
from models.crypto import TemplateCipher

DEFAULT_MODEL: str = Settings.model_fields["face_model"].default


@cache
def photo_encoding(path: Path, model: str = DEFAULT_MODEL) -> np.ndarray:
    """The enrollment encoding of a photo by face model `model` (cached: the engine is slow)."""
    image = fe.load_image(path, max_pixels=40_000_000)
    face = fe.enroll_photo(image, model=model, min_face_px=60, jitters=1)
    assert face.encoding is not None
    return face.encoding


def enrol(
    session: Session,
    cipher: TemplateCipher,
    *,
    number: str,
    name: str,
    photo: Path,
    model: str = DEFAULT_MODEL,
) -> Deputy:
    """A deputy with one face template of face model `model` from `photo`."""
    deputy = Deputy(number=number, name=name)
    session.add(deputy)
    session.flush()
    session.add(
        FaceTemplate(
            subject=deputy.face_subject,
            encoding=cipher.encrypt(photo_encoding(photo, model)),
            model_id=fe.info(model).template_id,
            quality=1.0,
            photo_sha256=number.ljust(64, "0"),
        )
    )
    session.flush()
    return deputy


def meeting_with_roster(
    session: Session,
    deputies: list[Deputy],
    *,
    title: str = "第一次会议",
    opens_in: timedelta = timedelta(hours=-1),
    starts_in: timedelta = timedelta(hours=1),
    state: MeetingState | None = None,
) -> Meeting:
    """A meeting whose window opened an hour ago (by default), with these deputies on it.

    Its state is open once the window has opened, a draft before (as `meeting open` does),
    unless `state` says otherwise.
    """
    now = datetime.now(UTC)
    body = session.query(Body).first()
    if body is None:
        body = Body(name="某镇第十八届人民代表大会")
        session.add(body)
        session.flush()
    meeting = Meeting(
        body_id=body.id,
        title=title,
        starts_at=now + starts_in,
        window_opens_at=now + opens_in,
        window_closes_at=now + timedelta(hours=6),
        state=state or (MeetingState.OPEN if opens_in <= timedelta(0) else MeetingState.DRAFT),
    )
    session.add(meeting)
    session.flush()
    for d in deputies:
        session.add(RosterEntry(meeting_id=meeting.id, deputy_id=d.id))
    session.flush()
    return meeting


def jpeg_of(path: Path) -> bytes:
    """A photo re-encoded as the JPEG a kiosk would send."""
    rgb = fe.load_image(path, max_pixels=40_000_000)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    assert ok
    return buf.tobytes()


def frame(
    frame_id: int, jpeg: bytes, *, buffered: bool = False, at: datetime | None = None
) -> bytes:
    """A binary kiosk frame message."""
    header = FrameHeader(frame_id=frame_id, captured_at=at or datetime.now(UTC), buffered=buffered)
    return encode_frame(header, jpeg)


def video_jpegs(path: Path, *, step: int = 1, quality: int = 85) -> list[bytes]:
    """Every `step`-th frame of a video, as JPEG bytes."""
    cap = cv2.VideoCapture(str(path))
    out: list[bytes] = []
    i = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        if i % step == 0:
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
            assert ok
            out.append(buf.tobytes())
        i += 1
    cap.release()
    return out
