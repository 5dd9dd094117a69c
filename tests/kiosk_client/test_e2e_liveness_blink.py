"""Liveness end to end, `blink` (the default): the REAL server process and the kiosk program
playing real clips, persons 13 and 6 enrolled at test time from a frame of their genuine clip
(with the tests in test_e2e_liveness_challenge.py, both clips of persons 5, 6 and 13 are
played). Person 13's photo on a phone and his genuine clip (he never blinks), person 6's
monitor replay (turns, no blink) and the hamilton clip (a real person talking, recognisable
for ~0.6 s, who never blinks) check nobody in. (In `challenge` the monitor replay passes a
turn: replays are not stopped, see docs/liveness.md.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from liveness_clips import CLIPS, face_checkins, frame_at, play, start_server, with_lead_in

from tests.server import baodao_env, kiosk_site

pytestmark = pytest.mark.slow


def test_blink_photo_replay_and_still_faces_check_nobody_in(
    faces_dir: Path, tmp_path: Path
) -> None:
    """Person 13's photo on a phone, the monitor replay of person 6 (his turns, no blink; far
    and blurred at times) and the hamilton clip (talking, no blink) are each recognised (only
    a recognised track is asked) and asked to blink. Person 13's genuine clip (he sits still,
    never blinks) is dim: the kiosk answers 光线太暗 (too_dark) to most of its frames and asks
    for a blink where it recognises him. Nobody checks in."""
    env = baodao_env(tmp_path / "var")  # BAODAO_LIVENESS at its default: blink
    clips = faces_dir / CLIPS
    photos = {
        "D013": frame_at(clips / "genuine/still_look_person13.mp4", 1.0, tmp_path / "p13.png"),
        "D006": frame_at(clips / "genuine/turn_head_nod_person6.mp4", 1.0, tmp_path / "p6.png"),
        "D001": faces_dir / "fixtures" / "single" / "lin-manuel-miranda.png",
    }
    meeting, token = kiosk_site(env, photos)
    hamilton = faces_dir / "fixtures/video/short_hamilton_clip.mp4"
    # clip, times played, whether the kiosk must have been asked to blink
    plays = [
        (clips / "spoof/photo_on_phone_screen_person13.mp4", 3, True),  # 2.6 s
        (clips / "spoof/screen_replay_monitor_person6.mp4", 1, True),
        (hamilton, 1, True),
        (clips / "genuine/still_look_person13.mp4", 3, False),  # 3.7 s, dim
    ]
    server = start_server(env)
    try:
        for n, (clip, loops, asked) in enumerate(plays):
            played = with_lead_in(faces_dir, clip, tmp_path / f"{n}.mp4", loops=loops)
            k = play(server, meeting, token, played, tmp_path / f"q{n}")
            actions = {e["action"] for e in k.of("liveness")}
            said = {e["reason"] for e in k.of("rejected")}
            assert actions == {"blink"} if asked else actions <= {"blink"}, (clip.name, said)
            assert actions or "too_dark" in said, clip.name  # told to blink or that it is dim
            assert not k.of("checkin"), clip.name
    finally:
        server.stop()
    assert not face_checkins(env)
