"""Frame sources: camera, video file, image folder; opening errors are typed and clear."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk_client.errors import SourceError
from kiosk_client.sources import (
    CameraSource,
    FolderSource,
    VideoFileSource,
    open_source,
)


def video(faces_dir: Path) -> Path:
    return faces_dir / "fixtures" / "video" / "short_hamilton_clip.mp4"


def test_camera_index_that_does_not_exist():
    with pytest.raises(SourceError, match="摄像头 99 无法打开"):
        CameraSource(99)


def test_missing_and_unreadable_video(tmp_path):
    with pytest.raises(SourceError, match="不存在"):
        VideoFileSource(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(SourceError, match="无法读取视频文件"):
        VideoFileSource(junk)


def test_video_without_pacing_returns_every_frame_on_the_videos_own_clock(faces_dir):
    start = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    src = VideoFileSource(video(faces_dir), realtime=False, clock=lambda: start)
    assert src.stepped  # the kiosk waits for each frame's answer before the next
    stamps = []
    while (frame := src.read()) is not None:
        assert frame.image.shape == (360, 640, 3)
        stamps.append(frame.captured_at)
    src.close()
    assert len(stamps) == 275
    assert stamps[0] == start and stamps[-1] == start + timedelta(seconds=274 / src.fps)
    assert not VideoFileSource(video(faces_dir)).stepped


def test_video_with_pacing_skips_to_the_frame_due_now(faces_dir):
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    src = VideoFileSource(video(faces_dir), realtime=True, monotonic=lambda: now[0], sleep=sleep)
    first = src.read()
    assert first is not None
    now[0] += 1.0  # a second later the camera-like source is ~30 frames further
    later = src.read()
    assert later is not None and src._index == int(1.0 * src.fps)
    assert not np.array_equal(first.image, later.image)
    # Asked again at once: it waits for the next frame instead of repeating this one.
    again = src.read()
    assert again is not None and slept and src._index == int(1.0 * src.fps) + 1
    now[0] += 60.0
    assert src.read() is None  # past the end of the clip
    src.close()


def test_folder_in_name_order_skips_unreadable(tmp_path):
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0)]):
        img = np.zeros((20, 30, 3), np.uint8)
        img[:] = colour
        cv2.imwrite(str(tmp_path / f"{i}.png"), img)
    (tmp_path / "1a.jpg").write_bytes(b"broken")
    (tmp_path / "notes.txt").write_text("not an image")
    src = FolderSource(tmp_path)
    a, b = src.read(), src.read()
    assert a is not None and b is not None
    assert tuple(a.image[0, 0]) == (255, 0, 0) and tuple(b.image[0, 0]) == (0, 255, 0)
    assert src.read() is None


def test_folder_errors(tmp_path):
    with pytest.raises(SourceError, match="没有图片"):
        FolderSource(tmp_path)
    with pytest.raises(SourceError, match="不存在"):
        FolderSource(tmp_path / "missing")


def test_open_source_dispatch(faces_dir, tmp_path):
    assert isinstance(open_source(str(video(faces_dir))), VideoFileSource)
    assert isinstance(open_source(str(faces_dir / "fixtures" / "single")), FolderSource)
    with pytest.raises(SourceError, match="摄像头"):
        open_source("99")
