"""Bounded on-disk queue of frames captured while the server could not be reached.

One file per frame, named by its frame id (so name order is capture order), holding the
protocol's own binary frame (`encode_frame`: header with the real capture time + JPEG).
Files are written to a temporary name, fsynced and renamed, so a crash or a power cut
leaves either the whole frame or nothing. A frame is removed only after the server's
result for it has arrived; when the queue is full the oldest frame is dropped.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from checkin.protocol import FrameFormatError, FrameHeader, decode_frame, encode_frame

logger = logging.getLogger(__name__)

_SUFFIX = ".frame"
_TMP_PREFIX = ".tmp-"


class DiskQueue:
    """Frames waiting for upload, oldest first; survives a kiosk restart."""

    def __init__(self, folder: Path, *, max_items: int = 2000) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self.folder = folder
        self.max_items = max_items
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(_TMP_PREFIX + "*"):  # half-written by a crash: never renamed
            stale.unlink(missing_ok=True)

    def _path(self, frame_id: int) -> Path:
        return self.folder / f"{frame_id:020d}{_SUFFIX}"

    def ids(self) -> list[int]:
        """Frame ids in the queue, oldest first."""
        out = []
        for p in self.folder.glob("*" + _SUFFIX):
            try:
                out.append(int(p.stem))
            except ValueError:
                continue
        return sorted(out)

    def __len__(self) -> int:
        return len(self.ids())

    def put(self, header: FrameHeader, jpeg: bytes) -> list[int]:
        """Store a frame atomically; returns the ids of the oldest frames dropped to make room."""
        data = encode_frame(header, jpeg)
        tmp = self.folder / f"{_TMP_PREFIX}{header.frame_id}-{os.getpid()}"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._path(header.frame_id))
        _fsync_dir(self.folder)
        ids = self.ids()
        dropped = ids[: max(0, len(ids) - self.max_items)]
        for frame_id in dropped:
            self.remove(frame_id)
        return dropped

    def load(self, frame_id: int) -> tuple[FrameHeader, bytes] | None:
        """The stored header and JPEG, or None if it is gone or unreadable (then removed)."""
        path = self._path(frame_id)
        try:
            return decode_frame(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, FrameFormatError):
            logger.exception("离线队列中的帧 %s 已损坏，删除", frame_id)
            self.remove(frame_id)
            return None

    def remove(self, frame_id: int) -> None:
        """Forget a frame (its result has arrived, or it was dropped)."""
        self._path(frame_id).unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
