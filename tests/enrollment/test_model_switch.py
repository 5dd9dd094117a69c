"""Must-show: a database enrolled with the dlib model, switched to SFace (BAODAO_FACE_MODEL).

Run as an operator would, with the real commands and a real `baodao serve`: after the switch
nobody is checked in wrongly (the SFace gallery is empty, dlib's templates are never compared
with SFace's), `baodao enroll missing` and `GET /api/face-model` list exactly the deputies to
re-photograph, and re-importing the same roster and photos adds their SFace templates, after
which the kiosk checks in the right deputy and only them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.sync.client import connect

from models import Attendance, Deputy
from models.db import make_engine, make_session_factory
from tests.checkin.people import frame, jpeg_of
from tests.enrollment.conftest import write_csv
from tests.server import Server, baodao, baodao_env

pytestmark = pytest.mark.slow

PEOPLE = {"A01": "Hu_Jintao", "A02": "Wen_Jiabao", "A03": "Colin_Powell", "A04": "Tony_Blair"}
PASSWORD = "switch-admin-password-1"


def stream(url: str, token: str, meeting: int, jpegs: list[bytes]) -> list[dict[str, Any]]:
    """Send frames one by one to a kiosk socket, acking check-ins; every message received."""
    seen: list[dict[str, Any]] = []
    with connect(url + "/ws/kiosk", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "hello", "token": token, "meeting_id": meeting}))
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        for i, jpeg in enumerate(jpegs):
            ws.send(frame(i, jpeg))
            while True:
                msg = json.loads(ws.recv(timeout=60))
                seen.append(msg)
                if msg["type"] == "checkin":
                    ws.send(json.dumps({"type": "ack", "checkin_id": msg["checkin_id"]}))
                if msg["type"] == "result" and msg["frame_id"] == i:
                    break
        try:  # a check-in answers right after its frame's result
            while True:
                seen.append(json.loads(ws.recv(timeout=1)))
        except TimeoutError:
            pass
    return seen


def checked_in(db_url: str) -> list[str]:
    engine = make_engine(db_url)
    with make_session_factory(engine)() as s:
        rows = s.execute(select(Deputy.number).join(Attendance)).scalars().all()
    engine.dispose()
    return sorted(rows)


def test_a_dlib_database_switched_to_sface(faces_dir: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for number, name in PEOPLE.items():
        (photos / f"{number}.jpg").symlink_to(faces_dir / "dev" / name / "1.jpg")
    roster = write_csv(
        tmp_path / "名册.csv", ["代表编号", "姓名"], [[n, f"代表{n}"] for n in PEOPLE]
    )
    data = tmp_path / "var"
    # Still photos stand in for the deputies: no liveness check (its own tests).
    dlib = baodao_env(data, BAODAO_FACE_MODEL="dlib", BAODAO_LIVENESS="off")
    sface = baodao_env(
        data, BAODAO_FACE_MODEL="sface", BAODAO_GALLERY_CHECK_S="0", BAODAO_LIVENESS="off"
    )
    imported = json.loads(baodao(["enroll", "import", str(roster), "--photos", str(photos),
                                  "--json"], dlib))  # fmt: skip
    assert imported["totals"]["enrolled_photos"] == 4
    baodao(["user", "create", "admin", "--role", "admin"], dlib, stdin=PASSWORD + "\n")
    baodao(["body", "create", "某镇人大"], dlib)
    created = baodao(["meeting", "create", "--body", "某镇人大", "--title", "第一次会议",
                      "--starts-at", "2099-01-01T09:00", "--json"], dlib)  # fmt: skip
    meeting = int(json.loads(created)["id"])
    for number in PEOPLE:
        baodao(["meeting", "roster", "add", str(meeting), number, "--role", "deputy"], dlib)
    baodao(["meeting", "open", str(meeting)], dlib)
    token = baodao(["kiosk", "register", "东门", "--body", "某镇人大"], dlib).split()[-1]
    hu = [jpeg_of(p) for p in sorted((faces_dir / "dev" / "Hu_Jintao").glob("*.jpg"))[1:4]]

    # Switched: every deputy lacks an SFace template, and the list says so.
    missing = json.loads(baodao(["enroll", "missing", "--json"], sface))
    assert missing["model"] == "sface"
    assert [(m["number"], m["models"]) for m in missing["missing"]] == [
        (n, ["dlib"]) for n in PEOPLE
    ]
    assert json.loads(baodao(["enroll", "missing", "--json"], dlib))["missing"] == []
    listed = json.loads(baodao(["deputy", "list", "--json"], sface))
    assert {d["number"]: d["templates"] for d in listed} == dict.fromkeys(PEOPLE, 0)

    with Server(sface) as server:
        assert "4 名在任代表没有 sface 模型的人脸模板" in server.log.read_text()  # said at start
        auth = httpx.post(
            server.url + "/api/auth/login", data={"username": "admin", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {auth.json()['token']}"}
        changed = httpx.post(  # a password set at the command line is changed at first login
            server.url + "/api/auth/password",
            json={"old_password": PASSWORD, "new_password": PASSWORD + "-changed"},
            headers=headers,
        )
        assert changed.status_code == 200, changed.text
        headers = {"Authorization": f"Bearer {changed.json()['token']}"}
        status = httpx.get(server.url + "/api/face-model", headers=headers).json()
        assert (status["model"], status["seated"], status["recognisable"]) == ("sface", 4, 0)
        assert [m["number"] for m in status["missing"]] == list(PEOPLE)

        # No wrong check-in: the deputy's face finds nobody (dlib templates are not compared).
        seen = stream(server.ws_url, token, meeting, [j for j in hu for _ in range(2)])
        assert not [m for m in seen if m["type"] == "checkin"]
        states = {f["state"] for m in seen if m["type"] == "result" for f in m["faces"]}
        assert states <= {"unknown", "rejected"} and "unknown" in states
        assert checked_in(sface["BAODAO_DATABASE_URL"]) == []

        # The same roster and photos again: SFace templates are added (not "duplicate").
        again = json.loads(baodao(["enroll", "import", str(roster), "--photos", str(photos),
                                   "--json"], sface))  # fmt: skip
        assert [p["status"] for p in again["photos"]] == ["enrolled"] * 4
        assert json.loads(baodao(["enroll", "missing", "--json"], sface))["missing"] == []
        status = httpx.get(server.url + "/api/face-model", headers=headers).json()
        assert (status["recognisable"], status["missing"]) == (4, [])
        shown = json.loads(baodao(["deputy", "show", "A01", "--json"], sface))
        assert sorted(t["model"] for t in shown["template_details"]) == sorted(
            ["dlib_resnet_v1_mirror", "sface_2021dec+yunet_2023mar_mirror"]
        )

        # Now the kiosk recognises the deputy, and only them.
        seen = stream(server.ws_url, token, meeting, [j for j in hu for _ in range(2)])
        assert [m["person"]["number"] for m in seen if m["type"] == "checkin"] == ["A01"]
    assert checked_in(sface["BAODAO_DATABASE_URL"]) == ["A01"]
    again_dlib = json.loads(baodao(["enroll", "import", str(roster), "--photos", str(photos),
                                    "--json"], dlib))  # fmt: skip
    assert again_dlib["totals"]["duplicate_photos"] == 4  # each model dedupes its own photos
