"""Deputies REST API: create, list, update, photo upload with per-photo results, face delete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import login
from tests.enrollment.badfiles import bad_files


def test_create_list_update_retire(app_client: TestClient) -> None:
    admin, clerk = login(app_client, "admin"), login(app_client, "clerk")
    body = {"number": "1001", "name": "张三", "gender": "男", "unit": "某镇政府"}
    r = app_client.post("/api/deputies", json=body, headers=admin)
    assert r.status_code == 201 and r.json()["templates"] == 0
    assert app_client.post("/api/deputies", json=body, headers=admin).status_code == 409
    assert app_client.post("/api/deputies", json=body, headers=clerk).status_code == 403
    listed = app_client.get("/api/deputies", headers=clerk).json()
    assert [(d["number"], d["name"]) for d in listed] == [("1001", "张三")]
    r = app_client.patch("/api/deputies/1001", json={"phone": "13800000000"}, headers=admin)
    assert r.status_code == 200 and r.json()["phone"] == "13800000000"
    r = app_client.patch("/api/deputies/1001", json={"status": "retired"}, headers=admin)
    assert r.json()["status"] == "retired"
    assert app_client.get("/api/deputies", headers=clerk).json() == []
    assert len(app_client.get("/api/deputies?include_retired=true", headers=clerk).json()) == 1
    r = app_client.patch("/api/deputies/404", json={"name": "x"}, headers=admin)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = app_client.post("/api/deputies", json={"number": "../x", "name": "y"}, headers=admin)
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"


def test_upload_too_large_is_413(app_client: TestClient) -> None:
    admin = login(app_client, "admin")
    app_client.post("/api/deputies", json={"number": "1", "name": "甲"}, headers=admin)
    limit = app_client.app.state.settings.max_image_bytes  # type: ignore[attr-defined]
    files = [("files", ("big.jpg", b"\xff" * (limit + 1), "image/jpeg"))]
    r = app_client.post("/api/deputies/1/photos", files=files, headers=admin)
    assert r.status_code == 413 and set(r.json()) == {"error", "message"}


@pytest.mark.slow
def test_upload_photos_then_delete_face_data(app_client: TestClient, faces_dir: Path) -> None:
    admin = login(app_client, "admin")
    app_client.post("/api/deputies", json={"number": "1", "name": "奥巴马"}, headers=admin)
    events: list[object] = []
    app_client.app.state.events.subscribe(events.append)  # type: ignore[attr-defined]
    single = faces_dir / "fixtures" / "single"
    files = [
        ("files", ("obama.jpg", (single / "obama.jpg").read_bytes(), "image/jpeg")),
        ("files", ("obama2.jpg", (single / "obama2.jpg").read_bytes(), "image/jpeg")),
        ("files", ("again.jpg", (single / "obama.jpg").read_bytes(), "image/jpeg")),
        ("files", ("pdf.jpg", bad_files(faces_dir)["pdf"], "image/jpeg")),
    ]
    r = app_client.post("/api/deputies/1/photos", files=files, headers=admin)
    assert r.status_code == 200, r.text
    got = [(p["photo"], p["status"], p["reason"]) for p in r.json()["photos"]]
    assert got == [
        ("obama.jpg", "enrolled", None),
        ("obama2.jpg", "enrolled", None),
        ("again.jpg", "duplicate", "duplicate"),
        ("pdf.jpg", "failed", "unreadable_image"),
    ]
    assert r.json()["templates"] == 2 and events
    r = app_client.delete("/api/deputies/1/face", headers=admin)
    assert r.json() == {"number": "1", "templates_deleted": 2}
    deputy = app_client.get("/api/deputies/1", headers=admin).json()
    assert deputy["templates"] == 0 and deputy["name"] == "奥巴马"


@pytest.mark.slow
def test_probable_duplicate_blocks_until_an_admin_confirms(
    app_client: TestClient, faces_dir: Path
) -> None:
    """The same man under a second number is refused (nothing stored) with the deputy he
    probably is; `confirm_duplicate=true` enrols him and is audited; look-alike advice."""
    admin = login(app_client, "admin")
    single = faces_dir / "fixtures" / "single"
    for number, name in (("1", "奥巴马"), ("2", "欧巴马"), ("3", "拜登")):
        app_client.post("/api/deputies", json={"number": number, "name": name}, headers=admin)

    def upload(number: str, photo: str, query: str = "") -> dict[str, Any]:
        files = [("files", (photo, (single / photo).read_bytes(), "image/jpeg"))]
        r = app_client.post(f"/api/deputies/{number}/photos{query}", files=files, headers=admin)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    assert upload("1", "obama.jpg")["photos"][0]["status"] == "enrolled"
    blocked = upload("2", "obama2.jpg")
    (photo,) = blocked["photos"]
    assert (photo["status"], photo["reason"]) == ("failed", "probable_duplicate")
    assert photo["duplicate_of"]["number"] == "1" and photo["duplicate_of"]["name"] == "奥巴马"
    assert photo["duplicate_of"]["distance"] < 0.5 and "奥巴马" in photo["message"]
    assert blocked["templates"] == 0
    assert upload("3", "biden.jpg")["photos"][0]["status"] == "enrolled"  # another man: fine
    confirmed = upload("2", "obama2.jpg", "?confirm_duplicate=true")
    assert confirmed["photos"][0]["status"] == "enrolled"
    assert confirmed["photos"][0]["duplicate_of"]["number"] == "1"
    assert app_client.get("/api/deputies/2", headers=admin).json()["templates"] == 1
    with app_client.app.state.sessions() as s:  # type: ignore[attr-defined]
        from sqlalchemy import select

        from models import AuditEvent

        events = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "deputy.duplicate_confirmed")
        ).all()
    assert len(events) == 1 and events[0].actor == "admin"
    assert events[0].detail["photos"]["obama2.jpg"]["number"] == "1"  # type: ignore[index]
    pairs = app_client.get("/api/lookalikes", headers=admin).json()
    assert [(p["a"]["number"], p["b"]["number"]) for p in pairs] == [("1", "2")]
    assert "同一人" in pairs[0]["advice"]  # closer than the duplicate bar: check identities


def test_face_model_status_lists_who_cannot_be_recognised(app_client: TestClient) -> None:
    admin, clerk = login(app_client, "admin"), login(app_client, "clerk")
    app_client.post("/api/deputies", json={"number": "7", "name": "甲"}, headers=admin)
    status = app_client.get("/api/face-model", headers=clerk).json()
    assert status["model"] == "sface" and status["metric"] == "cosine"
    assert (status["seated"], status["recognisable"]) == (1, 0)
    assert status["missing"] == [{"number": "7", "name": "甲", "models": [], "flagged": 0}]
