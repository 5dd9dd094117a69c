"""The IoU tracker and per-track consensus, on synthetic boxes and votes."""

from __future__ import annotations

from checkin.recognition.tracker import Settled, Tracker, TrackerConfig, Vote, iou

A = (100, 200, 200, 100)  # top, right, bottom, left
A_MOVED = (105, 208, 205, 108)
B = (100, 500, 200, 400)


def tracker(**kw: float) -> Tracker:
    return Tracker(TrackerConfig(**{"confirm_frames": 3, **kw}))  # type: ignore[arg-type]


def test_iou() -> None:
    assert iou(A, A) == 1.0
    assert iou(A, B) == 0.0
    assert 0.7 < iou(A, A_MOVED) < 0.9


def test_boxes_that_overlap_continue_a_track_and_others_start_new_ones() -> None:
    t = tracker()
    first = t.update([A, B], at=0.0)
    second = t.update([B, A_MOVED], at=0.1)
    assert [x.id for x in second] == [first[1].id, first[0].id]
    third = t.update([(400, 900, 500, 800)], at=0.2)
    assert third[0].id not in {first[0].id, first[1].id}


def test_k_agreeing_frames_make_a_track_ready_once() -> None:
    t = tracker()
    ready = []
    for i in range(5):
        (track,) = t.update([A], at=i / 10)
        ready.append(t.vote(track, Vote(7, i, 0.3, 0.2)))
    assert ready == [False, False, True, False, False]  # pending: not ready twice


def test_a_disagreeing_or_unknown_frame_resets_the_count() -> None:
    t = tracker()
    votes = [7, 7, 8, 7, 7, None, 7, 7, 7]
    ready = []
    for i, pid in enumerate(votes):
        (track,) = t.update([A], at=i / 10)
        ready.append(t.vote(track, Vote(pid, i)))
    assert ready.index(True) == 8
    assert [v.frame_id for v in track.votes] == [6, 7, 8]


def test_frames_without_encoding_neither_count_nor_reset() -> None:
    t = tracker()
    (track,) = t.update([A], at=0)
    t.vote(track, Vote(7, 0))
    t.vote(track, Vote(7, 1))
    t.update([A], at=0.1)  # a blurred frame: seen, not encoded
    (track,) = t.update([A], at=0.2)
    assert t.vote(track, Vote(7, 3))


def test_separate_tracks_do_not_pool_their_votes() -> None:
    t = tracker()
    ready = []
    for i in range(2):
        a, b = t.update([A, B], at=i / 10)
        ready += [t.vote(a, Vote(7, i)), t.vote(b, Vote(7, i))]
    assert not any(ready)


def test_settled_tracks_are_skipped_and_reverified() -> None:
    t = tracker(reverify_every=3)
    for i in range(3):
        (track,) = t.update([A], at=i / 10)
        t.vote(track, Vote(7, i))
    t.settle(track.id, Settled(7, "confirmed"))
    skipped = []
    for i in range(3, 9):
        skipped.append(bool(t.skip_boxes()))
        t.update([A], at=i / 10)
        if not skipped[-1]:
            t.vote(track, Vote(7, i))
    assert skipped == [True, True, False, True, True, False]
    assert track.settled is not None


def test_reverification_that_disagrees_drops_the_outcome() -> None:
    t = tracker()
    for i in range(3):
        (track,) = t.update([A], at=i / 10)
        t.vote(track, Vote(7, i))
    t.settle(track.id, Settled(7, "confirmed"))
    (track,) = t.update([A], at=0.5)
    assert not t.vote(track, Vote(9, 5))  # someone else now stands in that box
    assert track.settled is None and track.candidate == 9 and track.agreeing == 1
    assert t.skip_boxes() == []


def test_not_open_settles_to_nothing_and_consensus_restarts() -> None:
    t = tracker()
    for i in range(3):
        (track,) = t.update([A], at=i / 10)
        t.vote(track, Vote(7, i))
    t.settle(track.id, None)
    assert track.settled is None and track.agreeing == 0 and not track.pending
    for i in range(3, 6):
        (track,) = t.update([A], at=i / 10)
        became_ready = t.vote(track, Vote(7, i))
    assert became_ready


def test_tracks_expire_after_frames_or_seconds_unseen() -> None:
    t = tracker(max_missed_frames=2, max_missed_s=10.0)
    (a,) = t.update([A], at=0)
    t.update([], at=0.1)
    t.update([], at=0.2)
    assert a.id in t.tracks
    t.update([], at=0.3)
    assert a.id not in t.tracks
    t = tracker(max_missed_frames=100, max_missed_s=1.0)
    (a,) = t.update([A], at=0)
    t.update([B], at=2.0)
    assert a.id not in t.tracks
    (again,) = t.update([A], at=2.1)
    assert again.id != a.id


def test_focus_searches_around_tracks_and_the_whole_frame_every_n() -> None:
    t = tracker()
    assert t.focus(3) == []  # no track yet
    t.update([A], at=0)
    assert t.focus(3) == [A]
    t.update([A_MOVED], at=0.1)
    assert t.focus(3) == []  # the third frame searches everywhere
    t.update([A_MOVED], at=0.2)
    t.update([], at=0.3)  # the face was missed: search everywhere until it is found
    assert t.focus(3) == []


def test_pooled_encoding_is_the_mean_of_the_tracks_last_frames() -> None:
    import numpy as np

    from checkin.recognition.tracker import Track

    track = Track(id=1, box=(0, 10, 10, 0), last_frame=0, last_at=0.0)
    a, b, c = np.zeros(128), np.ones(128), np.full(128, 3.0)
    assert track.pooled(a, 2) is a
    assert np.allclose(track.pooled(b, 2), 0.5)
    assert np.allclose(track.pooled(c, 2), 2.0)  # a dropped out of the window
    assert np.allclose(track.pooled(a, 1), 0.0)


def test_a_face_far_from_everyone_rests_one_frame_then_is_encoded_again() -> None:
    from checkin.recognition.tracker import Tracker, TrackerConfig, Vote

    tracker = Tracker(TrackerConfig(rest_distance=0.53, rest_frames=1))
    box = (10, 60, 60, 10)
    [track] = tracker.update([box], at=0.0)
    tracker.vote(track, Vote(None, 1, distance=0.7))  # a stranger
    assert tracker.skip_boxes() == [box]
    [track] = tracker.update([box], at=0.1)
    assert tracker.skip_boxes() == []  # rested one frame, encode again
    tracker.vote(track, Vote(None, 2, distance=0.48))  # near someone: never rests
    tracker.update([box], at=0.2)
    assert tracker.skip_boxes() == []
