"""Deputies REST API: create, list, update, photo upload with per-photo results, face delete."""

from __future__ import annotations

from pathlib import Path

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
