"""A kiosk connection holds bounded memory: buffered frames by bytes, live frames newest-only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from pydantic import BaseModel

from checkin.faces.engine import FrameAnalysis, FrameJob
from checkin.meetings.kiosks import KioskRefused, Refusal, Refused
from checkin.protocol import FrameHeader
from checkin.recognition.decision import Gallery
from checkin.recognition.gallery import MeetingGallery
from checkin.recognition.pipeline import Confirmation, KioskIdentity, KioskPipeline, Outcome
from checkin.settings import Settings

FRAME = b"\xff\xd8\xff" + b"\0" * 99_997  # 100 kB


def pipeline(
    settings: Settings, gate: asyncio.Event, seen: list[int], **kw: object
) -> KioskPipeline:
    empty = Gallery.build([], metric="cosine")
    gallery = MeetingGallery(1, empty, empty, frozenset(), {}, ())

    async def analyze(job: FrameJob) -> FrameAnalysis:
        await gate.wait()  # the worker pool is busy until the test opens the gate
        return FrameAnalysis(())

    async def current() -> MeetingGallery:
        return gallery

    async def record(c: Confirmation) -> Outcome:
        raise AssertionError("no face, no check-in")

    async def send(message: BaseModel) -> None:
        seen.append(message.frame_id)  # type: ignore[attr-defined]

    return KioskPipeline(
        settings=settings, meeting_id=1, kiosk=KioskIdentity(1, "东门"), analyze=analyze,
        gallery=current, record=record, send=send, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def header(i: int, *, buffered: bool) -> FrameHeader:
    return FrameHeader(frame_id=i, captured_at=datetime.now(UTC), buffered=buffered)


def test_buffered_frames_wait_within_the_byte_budget(settings: Settings) -> None:
    settings = settings.model_copy(update={"max_buffered_bytes": 350_000})

    async def scenario() -> tuple[list[int], list[int], list[int]]:
        gate, seen = asyncio.Event(), []
        p = pipeline(settings, gate, seen)
        worker = asyncio.create_task(p.run())
        held: list[int] = []
        for i in range(4):  # 4 × 100 kB fit (one is with the worker), the 5th must wait
            await p.offer(header(i, buffered=True), FRAME)
            held.append(p.buffered_bytes)
        fifth = asyncio.create_task(p.offer(header(4, buffered=True), FRAME))
        await asyncio.sleep(0.05)
        waiting = [int(not fifth.done()), p.buffered_bytes]
        gate.set()  # the worker takes frames: room again
        await fifth
        while len(seen) < 5:
            await asyncio.sleep(0.01)
        worker.cancel()
        return held, waiting, seen

    held, waiting, seen = asyncio.run(scenario())
    assert max(held) <= 350_000 and waiting == [1, 300_000]
    assert seen == [0, 1, 2, 3, 4]  # every buffered frame is processed, in order


def test_live_frames_keep_only_the_newest(settings: Settings) -> None:
    async def scenario() -> tuple[list[int], int]:
        gate, seen = asyncio.Event(), []
        p = pipeline(settings, gate, seen)
        worker = asyncio.create_task(p.run())
        for i in range(50):
            await p.offer(header(i, buffered=False), FRAME)
            await asyncio.sleep(0)
        gate.set()
        while not seen or seen[-1] != 49:
            await asyncio.sleep(0.01)
        worker.cancel()
        return seen, p.dropped_total

    seen, dropped = asyncio.run(scenario())
    assert seen == [0, 49] and dropped == 48


def test_a_refusal_stops_the_pipeline_and_frees_a_waiting_sender(settings: Settings) -> None:
    settings = settings.model_copy(update={"max_buffered_bytes": 100_000})
    refused = Refused(Refusal.BAD_TOKEN, "bad or revoked kiosk token")

    async def scenario() -> tuple[bool, int]:
        gate, seen = asyncio.Event(), []
        checks = 0

        async def check() -> Refused | None:
            nonlocal checks
            checks += 1
            return refused if checks > 1 else None

        p = pipeline(settings, gate, seen, check=check)
        worker = asyncio.create_task(p.run())
        await p.offer(header(0, buffered=True), FRAME)
        await p.offer(header(1, buffered=True), FRAME)
        third = asyncio.create_task(p.offer(header(2, buffered=True), FRAME))  # waits for room
        gate.set()
        try:
            await worker
        except KioskRefused as exc:
            stopped = exc.refused == refused
        await third  # returns instead of waiting forever for a stopped worker
        return stopped, len(seen)

    assert asyncio.run(scenario()) == (True, 1)
