"""Liveness end to end, `challenge`: the REAL server process and the kiosk program playing
real clips (fixtures/liveness), persons 5 and 6 enrolled at test time from a frame of their
genuine clip. Person 5's phone replay is recognised, asked to turn right and refused; persons
5 and 6, asked to turn right and left, check in with the turn in the evidence. The kiosk plays
each clip frame by frame after 3 s of a stranger's photo (liveness_clips.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from liveness_clips import CLIPS, face_checkins, frame_at, play, start_server, with_lead_in

from tests.server import baodao_env, kiosk_site

pytestmark = pytest.mark.slow


# 代表编号, genuine clip, the challenge asked (each server asks one, so the run is repeatable)
TURNS = [
    ("D005", "genuine/turn_head_person5.mp4", "turn_right"),
    ("D006", "genuine/turn_head_nod_person6.mp4", "turn_left"),
]


def test_challenge_refuses_a_phone_replay_and_checks_in_two_real_head_turns(
    faces_dir: Path, tmp_path: Path
) -> None:
    clips = faces_dir / CLIPS
    # 20 s for the action: the clip plays slower than real time when the machine is busy.
    env = baodao_env(tmp_path / "var", BAODAO_LIVENESS="challenge", BAODAO_LIVENESS_SECONDS="20")
    photos = {n: frame_at(clips / c, 1.0, tmp_path / f"{n}.png") for n, c, _ in TURNS}
    meeting, token = kiosk_site(env, photos)
    spoof = with_lead_in(
        faces_dir, clips / "spoof/screen_replay_phone_person5.mp4", tmp_path / "s.mp4", loops=3
    )
    for number, clip, action in TURNS:
        server = start_server(env, BAODAO_LIVENESS_ACTIONS=action)
        try:
            if number == "D005":  # the replay first: the genuine check-in would make it "already"
                k = play(server, meeting, token, spoof, tmp_path / "q0")
                assert k.of("liveness"), "the replay was recognised and asked to turn"
                assert not k.of("checkin") and not face_checkins(env)
            played = with_lead_in(faces_dir, clips / clip, tmp_path / f"{number}.mp4", seconds=14)
            k = play(server, meeting, token, played, tmp_path / f"q{number}")
        finally:
            server.stop()
        seen = [(e["event"], e.get("action") or e.get("reason")) for e in k.events]
        assert {e["action"] for e in k.of("liveness")} == {action}, (number, seen)
        assert len(k.of("checkin")) == 1, (number, seen)
        [checkin] = k.of("checkin")
        assert checkin["person"]["number"] == number
        row_id, evidence = face_checkins(env)[number]
        assert row_id == checkin["checkin_id"]
        proof = evidence["liveness"]
        assert isinstance(proof, dict)
        assert proof["mode"] == "challenge" and proof["action"] == action and proof["passed"]
    assert set(face_checkins(env)) == {"D005", "D006"}
