"""The kiosk as a real process against a fake server that speaks the protocol."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from fake_server import FakeServer, free_port
from kiosk_proc import KioskProcess, face_folder

FACES = ["obama.jpg", "biden.jpg", "obama2.jpg", "biden2.jpg", "obama3.jpg"]


@pytest.fixture
def server():
    srv = FakeServer(checkin_after=3)
    srv.start()
    yield srv
    srv.stop()


def kiosk_args(
    port: int,
    source: Path,
    queue: Path,
    *,
    token: str = "good",
    meeting: int = 1,
    extra: tuple[str, ...] = (),
) -> list[str]:
    return [
        "--server",
        f"http://127.0.0.1:{port}",
        "--token",
        token,
        "--meeting",
        str(meeting),
        "--source",
        str(source),
        "--headless",
        "--fps",
        "10",
        "--queue-dir",
        str(queue),
        "--buffer-rate",
        "30",
        "--retry-max",
        "1",
        *extra,
    ]


def test_checkin_is_printed_and_acknowledged(server, faces_dir, tmp_path):
    folder = face_folder(faces_dir, tmp_path / "src", FACES)
    kiosk = KioskProcess(*kiosk_args(server.port, folder, tmp_path / "q"))
    code, err = kiosk.wait(60)
    assert code == 0, err
    assert kiosk.stray == []
    names = [e["event"] for e in kiosk.events]
    assert names[0] == "started" and "connected" in names and names[-1] == "end"
    [checkin] = kiosk.of("checkin")
    assert checkin["person"]["name"] == "张三" and checkin["delayed"] is False
    snap = server.snapshot()
    assert snap["acks"] == [1]
    assert snap["hellos"][0].token == "good" and snap["hellos"][0].meeting_id == 1
    # Every face photo went out live (not buffered), and later ones were answered "already".
    assert len(snap["frames"]) == len(FACES)
    assert not any(h.buffered for h in snap["frames"])
    assert kiosk.of("already") and kiosk.of("already")[0]["person"]["name"] == "张三"


@pytest.mark.parametrize(
    ("token", "meeting", "words"),
    [("wrong", 1, "令牌"), ("good", 99, "会议"), ("unbound", 1, "绑定"), ("twin", 1, "另一台")],
)
def test_refusal_exits_2_with_one_line(server, faces_dir, tmp_path, token, meeting, words):
    folder = face_folder(faces_dir, tmp_path / "src", FACES)
    kiosk = KioskProcess(
        *kiosk_args(server.port, folder, tmp_path / "q", token=token, meeting=meeting)
    )
    code, err = kiosk.wait(60)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], err
    assert kiosk.of("fatal") and kiosk.of("connected") == []
    assert len(server.snapshot()["hellos"]) == 1  # refused for good: not retried


def test_outage_buffers_survives_restart_and_uploads_once(faces_dir, tmp_path):
    port = free_port()
    queue = tmp_path / "q"
    first = face_folder(faces_dir, tmp_path / "a", FACES[:3])
    second = face_folder(faces_dir, tmp_path / "b", FACES[3:])

    # Server down: the kiosk keeps capturing and stores face frames on disk.
    k1 = KioskProcess(*kiosk_args(port, first, queue))
    k1.wait_for(lambda ev: sum(e["event"] == "buffered" for e in ev) == 3)
    assert [e["event"] for e in k1.events][:2] == ["started", "disconnected"]
    k1.kill()  # a hard kill (power cut): nothing in memory survives
    assert len(list(queue.glob("*.frame"))) == 3

    k2 = KioskProcess(*kiosk_args(port, second, queue))
    k2.wait_for(lambda ev: sum(e["event"] == "buffered" for e in ev) == 2)
    assert k2.of("started")[0]["queued"] == 3  # the restart found the first kiosk's frames

    srv = FakeServer(checkin_after=3, port=port)
    srv.start()
    try:
        code, err = k2.wait(60)
        assert code == 0, err
        snap = srv.snapshot()
    finally:
        srv.stop()

    buffered = {(e["frame_id"], e["captured_at"]) for e in k1.of("buffered") + k2.of("buffered")}
    sent = [(h.frame_id, h.captured_at) for h in snap["frames"]]
    assert all(h.buffered for h in snap["frames"])
    assert len(sent) == len(set(sent)) == 5  # each frame uploaded exactly once
    assert {(fid, datetime.fromisoformat(at)) for fid, at in buffered} == set(sent)
    # Uploaded in capture order, so the check-in carries the third frame's original time.
    assert [fid for fid, _ in sent] == sorted(fid for fid, _ in sent)
    [checkin] = k2.of("checkin")
    assert checkin["delayed"] is True
    assert datetime.fromisoformat(checkin["checked_in_at"]) == sent[2][1]
    assert snap["checkins_sent"] == 1 and snap["acks"] == [1]
    assert k2.of("connected") and len(k2.of("uploaded")) == 5
    assert list(queue.glob("*.frame")) == []


def test_server_killed_mid_stream_then_back(faces_dir, tmp_path):
    port = free_port()
    srv = FakeServer(checkin_after=1000, port=port)  # never checks in: just answers
    srv.start()
    clip = faces_dir / "fixtures" / "video" / "short_hamilton_clip.mp4"
    kiosk = KioskProcess(*kiosk_args(port, clip, tmp_path / "q", extra=("--realtime",)))
    try:
        kiosk.wait_for(lambda ev: any(e["event"] == "connected" for e in ev), 30)
        srv.stop()  # the township network goes down mid-stream
        kiosk.wait_for(lambda ev: any(e["event"] == "disconnected" for e in ev), 30)
        kiosk.wait_for(lambda ev: sum(e["event"] == "buffered" for e in ev) >= 3, 30)
        back = FakeServer(checkin_after=1000, port=port)
        back.start()
        try:
            code, err = kiosk.wait(60)
            snap = back.snapshot()
        finally:
            back.stop()
    finally:
        kiosk.kill()
    assert code == 0, err
    assert len(kiosk.of("connected")) == 2
    buffered = {e["frame_id"] for e in kiosk.of("buffered")}
    uploaded = [h.frame_id for h in snap["frames"] if h.buffered]
    assert set(uploaded) == buffered and len(uploaded) == len(buffered)
    live = [h for h in snap["frames"] if not h.buffered]
    # After the backlog, live frames again; they were captured after the buffered ones.
    assert all(h.frame_id > max(buffered) for h in live)
    assert list((tmp_path / "q").glob("*.frame")) == []


def test_two_servers_one_stops_the_kiosk_fails_over_within_seconds(faces_dir, tmp_path):
    first, second = FakeServer(checkin_after=1000), FakeServer(checkin_after=1000)
    first.start()
    second.start()
    clip = faces_dir / "fixtures" / "video" / "short_hamilton_clip.mp4"
    args = kiosk_args(first.port, clip, tmp_path / "q", extra=("--realtime",))
    args[1] = f"http://127.0.0.1:{first.port},http://127.0.0.1:{second.port}"
    args[args.index("--retry-max") + 1] = "30"  # a long backoff: only failover is quick
    kiosk = KioskProcess(*args)
    try:
        kiosk.wait_for(lambda ev: any(e["event"] == "connected" for e in ev), 30)
        assert kiosk.of("connected")[0]["server"].endswith(f":{first.port}/ws/kiosk")
        first.stop()  # the process behind the first URL dies mid-stream
        lost_at = datetime.now().astimezone()
        kiosk.wait_for(lambda ev: sum(e["event"] == "connected" for e in ev) >= 2, 30)
        code, err = kiosk.wait(60)
        snap = second.snapshot()
    finally:
        kiosk.kill()
        second.stop()
    assert code == 0, err
    again = kiosk.of("connected")[1]
    assert again["server"].endswith(f":{second.port}/ws/kiosk")
    assert (datetime.fromisoformat(again["at"]) - lost_at).total_seconds() <= 5.0
    buffered = {e["frame_id"] for e in kiosk.of("buffered")}
    assert buffered <= {h.frame_id for h in snap["frames"] if h.buffered}  # all uploaded
    assert list((tmp_path / "q").glob("*.frame")) == []
