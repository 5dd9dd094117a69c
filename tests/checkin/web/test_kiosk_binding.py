"""Kiosks are registered for a body and can be re-bound: REST and command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import login
from tests.server import BAODAO, baodao, baodao_env


def test_rest_register_needs_a_known_body_and_patch_rebinds(app_client: TestClient) -> None:
    admin = login(app_client, "admin")
    home = app_client.post("/api/bodies", json={"name": "甲镇人大"}, headers=admin).json()["id"]
    other = app_client.post("/api/bodies", json={"name": "乙镇人大"}, headers=admin).json()["id"]
    r = app_client.post("/api/kiosks", json={"name": "东门"}, headers=admin)
    assert r.status_code == 422 and set(r.json()) == {"error", "message"}
    r = app_client.post("/api/kiosks", json={"name": "东门", "body_id": 999}, headers=admin)
    assert r.status_code == 404
    r = app_client.post("/api/kiosks", json={"name": "东门", "body_id": home}, headers=admin)
    assert r.status_code == 201 and r.json()["body_id"] == home
    r = app_client.patch("/api/kiosks/东门", json={"body_id": other}, headers=admin)
    assert r.status_code == 200 and r.json()["body_id"] == other
    assert (
        app_client.patch("/api/kiosks/西门", json={"body_id": other}, headers=admin).status_code
        == 404
    )
    clerk = login(app_client, "clerk")
    assert (
        app_client.patch("/api/kiosks/东门", json={"body_id": home}, headers=clerk).status_code
        == 403
    )
    listed = app_client.get("/api/kiosks", headers=admin).json()
    assert [(k["name"], k["body_id"]) for k in listed] == [("东门", other)]


def test_cli_register_needs_a_body_bind_moves_it(tmp_path: Path) -> None:
    env = baodao_env(tmp_path / "var")
    baodao(["body", "create", "甲镇人大"], env)
    baodao(["body", "create", "乙镇人大"], env)
    r = subprocess.run(
        [BAODAO, "kiosk", "register", "东门"], env=env, capture_output=True, text=True
    )
    assert r.returncode == 2 and "--body" in r.stderr
    r = subprocess.run(
        [BAODAO, "kiosk", "register", "东门", "--body", "丙镇人大"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "丙镇人大" in r.stderr
    assert "kiosk token: bk_" in baodao(["kiosk", "register", "东门", "--body", "甲镇人大"], env)
    assert "乙镇人大" in baodao(["kiosk", "bind", "东门", "--body", "乙镇人大"], env)
    listing = baodao(["kiosk", "list"], env)
    assert "乙镇人大" in listing and "active" in listing
