"""Where frames come from: a camera index, a video file or a folder of images."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from kiosk_client.errors import SourceError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass(frozen=True)
class Frame:
    """One captured picture (BGR, as OpenCV gives it) and when it was taken."""

    image: np.ndarray
    captured_at: datetime


class FrameSource(Protocol):
    """Anything that yields frames; `read()` returns None when a finite source has ended.

    A `stepped` source is played frame by frame: the kiosk reads the next frame only once the
    server has answered the last, so none is skipped however slow the server is."""

    name: str
    finite: bool
    stepped: bool

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence OpenCV's and FFmpeg's own stderr chatter while opening a device or file.

    Our error message is the one line the user should see; the native libraries print
    "can't open camera by index" or "moov atom not found" straight to file descriptor 2.
    """
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _now() -> datetime:
    return datetime.now(UTC)


class CameraSource:
    """A USB camera by OpenCV index; opening checks that a first frame can be read."""

    finite = False
    stepped = False

    def __init__(self, index: int, *, clock: Callable[[], datetime] = _now) -> None:
        self.name = f"摄像头 {index}"
        self._clock = clock
        with quiet_native_stderr():
            self._cap = cv2.VideoCapture(index)
            opened = self._cap.isOpened()
            ok = opened and self._cap.read()[0]
        if not opened:
            self._cap.release()
            raise SourceError(f"摄像头 {index} 无法打开：没有这个摄像头，或正被其他程序占用")
        if not ok:
            self._cap.release()
            raise SourceError(f"摄像头 {index} 已打开但读不到画面：请检查连接线")

    def read(self) -> Frame | None:
        """Grab the newest frame; a camera that stops delivering raises SourceError."""
        ok, image = self._cap.read()
        if not ok:
            raise SourceError(f"{self.name} 读不到画面：请检查连接线")
        return Frame(image, self._clock())

    def close(self) -> None:
        self._cap.release()


def _check_readable_file(path: Path, what: str) -> None:
    if not path.exists():
        raise SourceError(f"{what}不存在：{path}")
    if not path.is_file():
        raise SourceError(f"{what}不是文件：{path}")
    if not os.access(path, os.R_OK):
        raise SourceError(f"{what}没有读取权限：{path}")


class VideoFileSource:
    """A video file; with realtime pacing it behaves like a camera (frames skipped to keep up).

    Without pacing it is `stepped`: every `read()` returns the next frame, as fast as the
    caller asks, stamped with the video's own clock (the first read's time + index / fps), so
    a blink or a head turn keeps its real duration however slowly the clip is played.
    """

    finite = True

    def __init__(
        self,
        path: Path,
        *,
        realtime: bool = True,
        clock: Callable[[], datetime] = _now,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        _check_readable_file(path, "视频文件")
        self.name = f"视频 {path.name}"
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._realtime = realtime
        self.stepped = not realtime
        first: np.ndarray | None = None
        with quiet_native_stderr():
            self._cap = cv2.VideoCapture(str(path))
            if self._cap.isOpened():
                ok, image = self._cap.read()
                first = image if ok else None
        if first is None:
            self._cap.release()
            raise SourceError(f"无法读取视频文件（格式不支持或文件已损坏）：{path}")
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1.0 <= fps <= 240.0 else 25.0
        self._pending: np.ndarray | None = first  # grabbed, not yet returned
        self._index = 0  # index of the last grabbed frame
        self._started: float | None = None
        self._clock_zero: datetime | None = None  # unpaced: the time of the first frame

    def read(self) -> Frame | None:
        """The next frame (paced: the frame due now); None at the end of the file."""
        if not self._realtime:
            if self._pending is not None:
                image, self._pending = self._pending, None
            else:
                ok, image = self._cap.read()
                if not ok:
                    return None
                self._index += 1
            if self._clock_zero is None:
                self._clock_zero = self._clock()
            return Frame(image, self._clock_zero + timedelta(seconds=self._index / self.fps))
        if self._started is None:
            self._started = self._monotonic()
        due = int((self._monotonic() - self._started) * self.fps)
        if self._pending is None and due <= self._index:
            # Asked faster than the video's frame rate: wait for the next frame, as a camera does.
            due = self._index + 1
            self._sleep(max(0.0, self._started + due / self.fps - self._monotonic()))
        while self._index < due:
            if not self._cap.grab():
                return None
            self._index += 1
            self._pending = None
        if self._pending is None:
            ok, image = self._cap.retrieve()
            if not ok:
                return None
        else:
            image = self._pending
        self._pending = None
        return Frame(image, self._clock())

    def close(self) -> None:
        self._cap.release()


class FolderSource:
    """The image files of a folder in name order, one per `read()`; unreadable ones skipped."""

    finite = True
    stepped = False

    def __init__(self, folder: Path, *, clock: Callable[[], datetime] = _now) -> None:
        if not folder.is_dir():
            raise SourceError(f"图片文件夹不存在：{folder}")
        if not os.access(folder, os.R_OK | os.X_OK):
            raise SourceError(f"图片文件夹没有读取权限：{folder}")
        self._files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise SourceError(f"图片文件夹里没有图片（jpg/png/bmp/webp）：{folder}")
        self.name = f"图片文件夹 {folder.name}"
        self._clock = clock
        self._pos = 0

    def read(self) -> Frame | None:
        """The next readable image; None after the last one."""
        while self._pos < len(self._files):
            path = self._files[self._pos]
            self._pos += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                return Frame(image, self._clock())
            logger.warning("跳过无法读取的图片 %s", path)
        return None

    def close(self) -> None:
        self._pos = len(self._files)


def open_source(spec: str, *, realtime: bool = True) -> FrameSource:
    """Open SOURCE as given on the command line: a camera index, a folder or a video file."""
    if spec.strip().isdigit():
        return CameraSource(int(spec))
    path = Path(spec).expanduser()
    if path.is_dir():
        return FolderSource(path)
    return VideoFileSource(path, realtime=realtime)
