"""The bounded on-disk queue: order, bound, restart survival, atomic writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from checkin.protocol import FrameHeader
from kiosk_client.queue import DiskQueue

T0 = datetime(2026, 3, 1, 8, 41, tzinfo=UTC)


def header(i: int) -> FrameHeader:
    return FrameHeader(
        frame_id=1_700_000_000_000 + i, captured_at=T0 + timedelta(seconds=i), buffered=True
    )


def test_put_load_remove_in_capture_order(tmp_path):
    q = DiskQueue(tmp_path, max_items=10)
    for i in (2, 0, 1):
        q.put(header(i), b"\xff\xd8jpeg%d" % i)
    assert q.ids() == [header(i).frame_id for i in (0, 1, 2)]
    loaded = q.load(header(1).frame_id)
    assert loaded == (header(1), b"\xff\xd8jpeg1")
    q.remove(header(1).frame_id)
    assert len(q) == 2 and q.load(header(1).frame_id) is None


def test_survives_restart(tmp_path):
    q = DiskQueue(tmp_path / "q")
    q.put(header(5), b"jpeg")
    again = DiskQueue(tmp_path / "q")
    assert again.load(header(5).frame_id) == (header(5), b"jpeg")
    assert again.load(header(5).frame_id)[0].captured_at == T0 + timedelta(seconds=5)


def test_bound_drops_oldest(tmp_path):
    q = DiskQueue(tmp_path, max_items=3)
    dropped = [q.put(header(i), b"j") for i in range(5)]
    assert dropped[:3] == [[], [], []]
    assert dropped[3] == [header(0).frame_id] and dropped[4] == [header(1).frame_id]
    assert q.ids() == [header(i).frame_id for i in (2, 3, 4)]


def test_half_written_files_are_ignored_and_cleaned(tmp_path):
    q = DiskQueue(tmp_path)
    q.put(header(1), b"j")
    # What a crash in the middle of put() leaves: a temporary file, never renamed.
    (tmp_path / ".tmp-123-456").write_bytes(b"\x00\x00")
    assert q.ids() == [header(1).frame_id]
    DiskQueue(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{header(1).frame_id:020d}.frame"]


def test_corrupt_frame_is_removed_not_fatal(tmp_path):
    q = DiskQueue(tmp_path)
    q.put(header(1), b"j")
    (tmp_path / f"{header(1).frame_id:020d}.frame").write_bytes(b"garbage")
    assert q.load(header(1).frame_id) is None
    assert len(q) == 0
