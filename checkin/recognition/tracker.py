"""Face tracking across the frames of one kiosk and the per-track consensus. No I/O.

A face is followed from frame to frame by box overlap (IoU). Each track collects votes (the
person a frame's encoding matched, or nobody); it becomes ready for check-in only after
`confirm_frames` consecutive agreeing votes. Once settled (checked in, already checked in),
the track is skipped by the encoder and only re-verified every `reverify_every` frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from checkin.faces.boxes import Box, iou


@dataclass(frozen=True)
class TrackerConfig:
    """Tracking and consensus parameters (the service fills them from Settings)."""

    confirm_frames: int = 3
    min_iou: float = 0.3
    max_missed_frames: int = 15
    max_missed_s: float = 3.0
    reverify_every: int = 10
    # A track whose best distance is above `rest_distance` (nobody is near) is not encoded
    # again for `rest_frames` frames: strangers cost half, near matches keep every frame.
    rest_distance: float = float("inf")
    rest_frames: int = 1


@dataclass(frozen=True)
class Vote:
    """What one frame's encoding said about a track: a person id, or None for nobody."""

    person_id: int | None
    frame_id: int
    distance: float | None = None
    margin: float | None = None


@dataclass(frozen=True)
class Settled:
    """The final outcome of a track (e.g. confirmed or already), shown on later frames."""

    person_id: int
    state: str
    checked_in_at: object = None  # a datetime; kept opaque so this module stays pure


@dataclass
class Track:
    id: int
    box: Box
    last_frame: int
    last_at: float
    candidate: int | None = None
    votes: list[Vote] = field(default_factory=list)
    settled: Settled | None = None
    pending: bool = False  # a confirmation is being recorded
    since_check: int = 0  # frames since the last encoding of a settled track
    rest: int = 0  # frames left without encoding (far from everyone)
    recent: list[np.ndarray] = field(default_factory=list)  # the track's latest encodings
    liveness: object = None  # the track's liveness check (`liveness.LivenessCheck`), if any

    def pooled(self, encoding: np.ndarray, frames: int) -> np.ndarray:
        """The mean of this encoding and the track's previous ones (`frames` in all).

        One person's face in consecutive frames differs by pose, blur and noise; their mean
        is steadier than any one frame, for a genuine face and an impostor alike.
        """
        self.recent = [*self.recent, encoding][-frames:]
        return np.mean(self.recent, axis=0) if len(self.recent) > 1 else encoding

    @property
    def agreeing(self) -> int:
        """Consecutive votes for the current candidate."""
        return len(self.votes) if self.candidate is not None else 0


class Tracker:
    """IoU tracker with per-track consensus for one kiosk's stream of frames."""

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self.tracks: dict[int, Track] = {}
        self._next_id = 1
        self._frame = 0

    def skip_boxes(self) -> list[Box]:
        """Boxes of tracks that need no encoding in the next frame: settled, or resting."""
        return [
            t.box
            for t in self.tracks.values()
            if (t.settled is not None and t.since_check + 1 < self.config.reverify_every)
            or (t.settled is None and t.rest > 0)
        ]

    def focus(self, full_every: int) -> list[Box]:
        """Boxes to search around in the next frame; empty means search the whole frame.

        The whole frame is searched every `full_every` frames (new faces walk in), when
        there is no track, and when a track was missed in the last frame.
        """
        if not self.tracks or (self._frame + 1) % max(1, full_every) == 0:
            return []
        if any(t.last_frame != self._frame for t in self.tracks.values()):
            return []
        return [t.box for t in self.tracks.values()]

    def update(self, boxes: Sequence[Box], *, at: float) -> list[Track]:
        """Assign this frame's boxes to tracks (greedy by IoU), start new ones, expire old ones.

        Args:
            boxes: the faces detected in the frame.
            at: the frame's capture time in seconds (any monotonic origin).

        Returns:
            One track per box, in the order of `boxes`.
        """
        self._frame += 1
        pairs = sorted(
            (
                (iou(box, track.box), i, track.id)
                for i, box in enumerate(boxes)
                for track in self.tracks.values()
            ),
            reverse=True,
        )
        assigned: dict[int, Track] = {}
        used: set[int] = set()
        for overlap, i, tid in pairs:
            if overlap < self.config.min_iou:
                break
            if i in assigned or tid in used:
                continue
            assigned[i] = self.tracks[tid]
            used.add(tid)
        out: list[Track] = []
        for i, box in enumerate(boxes):
            track = assigned.get(i)
            if track is None:
                track = Track(self._next_id, box, self._frame, at)
                self.tracks[track.id] = track
                self._next_id += 1
            else:
                track.box = box
                track.last_frame = self._frame
                track.last_at = at
                if track.settled is not None:
                    track.since_check += 1
                elif track.rest > 0:
                    track.rest -= 1
            out.append(track)
        self._expire(at)
        return out

    def _expire(self, at: float) -> None:
        cfg = self.config
        for tid in [
            t.id
            for t in self.tracks.values()
            if self._frame - t.last_frame > cfg.max_missed_frames
            or at - t.last_at > cfg.max_missed_s
        ]:
            del self.tracks[tid]

    def vote(self, track: Track, vote: Vote) -> bool:
        """Add one frame's vote; True when the track has just become ready for check-in.

        A vote for another person restarts the count with that person; a vote for nobody
        clears it. On a settled track the vote is a re-verification: agreement keeps the
        outcome, disagreement drops it and consensus starts again from this vote.
        """
        if track.settled is not None:
            track.since_check = 0
            if vote.person_id == track.settled.person_id:
                return False
            track.settled = None
        if vote.person_id is None:
            track.candidate, track.votes = None, []
            if vote.distance is None or vote.distance > self.config.rest_distance:
                track.rest = self.config.rest_frames
            return False
        if vote.person_id != track.candidate:
            track.candidate, track.votes = vote.person_id, []
        track.votes.append(vote)
        if track.pending or len(track.votes) < self.config.confirm_frames:
            return False
        track.pending = True
        return True

    def settle(self, track_id: int, outcome: Settled | None) -> None:
        """Finish a pending confirmation: store its outcome, or (None) start consensus again."""
        track = self.tracks.get(track_id)
        if track is None:
            return
        track.pending = False
        track.settled = outcome
        track.since_check = 0
        track.candidate, track.votes = None, []
