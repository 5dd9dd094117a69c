"""A small fake check-in server speaking the kiosk protocol, for the client's tests.

It runs in its own thread with its own event loop; it answers hello with welcome (or
closes 4401/4404, and 4403/4409 for the tokens "unbound"/"twin"), every frame with a result,
and after `checkin_after` frames with a face it sends one `checkin` (at the confirming
frame's capture time) and from then on answers `already`.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np
from websockets.asyncio.server import ServerConnection, serve

from checkin.protocol import (
    Ack,
    CheckIn,
    CloseCode,
    FaceResult,
    FaceState,
    FrameHeader,
    Hello,
    MeetingInfo,
    Person,
    Result,
    Welcome,
    decode_frame,
    kiosk_message,
)

ZHANG = Person(id=7, number="D007", name="张三", role="deputy")


def free_port() -> int:
    """A port that was free a moment ago (for a server that starts later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeServer:
    """The fake server; `start()` / `stop()` from the test thread."""

    def __init__(
        self,
        *,
        token: str = "good",
        meeting_id: int = 1,
        checkin_after: int = 3,
        port: int = 0,
    ) -> None:
        self.token = token
        self.meeting_id = meeting_id
        self.checkin_after = checkin_after
        self.port = port
        self.frames: list[FrameHeader] = []
        self.acks: list[int] = []
        self.hellos: list[Hello] = []
        self.checkins_sent = 0
        self.checked_in_at: datetime | None = None
        self._agree = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "frames": list(self.frames),
                "acks": list(self.acks),
                "hellos": list(self.hellos),
                "checkins_sent": self.checkins_sent,
            }

    async def _handler(self, ws: ServerConnection) -> None:
        hello = Hello.model_validate_json(await ws.recv())
        with self._lock:
            self.hellos.append(hello)
        refusals = {"unbound": CloseCode.FORBIDDEN, "twin": CloseCode.REPLACED}
        if hello.token in refusals:  # a kiosk of another body; a second PC with this token
            await ws.close(refusals[hello.token], hello.token)
            return
        if hello.token != self.token:
            await ws.close(CloseCode.BAD_TOKEN, "bad token")
            return
        if hello.meeting_id != self.meeting_id:
            await ws.close(CloseCode.UNKNOWN_MEETING, "unknown meeting")
            return
        await ws.send(
            Welcome(
                kiosk="大厅入口 1 号机",
                meeting=MeetingInfo(
                    id=self.meeting_id, title="第十七届人民代表大会第三次会议", window_open=True
                ),
                server_time=datetime.now(UTC),
            ).model_dump_json()
        )
        async for data in ws:
            if isinstance(data, str):
                msg = kiosk_message.validate_json(data)
                if isinstance(msg, Ack):
                    with self._lock:
                        self.acks.append(msg.checkin_id)
                continue
            header, jpeg = decode_frame(data)
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert image is not None, "kiosk sent bytes that are not a JPEG"
            h, w = image.shape[:2]
            box = (h // 4, 3 * w // 4, 3 * h // 4, w // 4)
            send_checkin = False
            with self._lock:
                self.frames.append(header)
                if self.checked_in_at is not None:
                    face = FaceResult(
                        box=box,
                        track_id=1,
                        state=FaceState.ALREADY,
                        person=ZHANG,
                        checked_in_at=self.checked_in_at,
                    )
                else:
                    self._agree += 1
                    if self._agree >= self.checkin_after:
                        self.checked_in_at = header.captured_at
                        self.checkins_sent += 1
                        send_checkin = True
                        face = FaceResult(
                            box=box,
                            track_id=1,
                            state=FaceState.CONFIRMED,
                            person=ZHANG,
                            checked_in_at=header.captured_at,
                        )
                    else:
                        face = FaceResult(
                            box=box,
                            track_id=1,
                            state=FaceState.MATCHING,
                            progress=self._agree / self.checkin_after,
                        )
            await ws.send(
                Result(
                    frame_id=header.frame_id, captured_at=header.captured_at, faces=[face]
                ).model_dump_json()
            )
            if send_checkin:
                await ws.send(
                    CheckIn(
                        checkin_id=1,
                        person=ZHANG,
                        checked_in_at=header.captured_at,
                        delayed=header.buffered,
                        frame_id=header.frame_id,
                    ).model_dump_json()
                )

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", self.port) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    def start(self) -> int:
        """Start serving; returns the port."""
        self._ready.clear()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._main())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake server did not start")
        return self.port

    def stop(self) -> None:
        """Stop serving and close every connection."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
        self._thread = None
