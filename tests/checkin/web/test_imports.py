"""The browser import's API: a background job with per-row and per-file results, an XLSX error
report, refusals of bad rosters before anything runs, and nothing written outside the data
folder."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, select

from checkin.accounts.service import create_user
from checkin.settings import Settings
from checkin.web.app import create_app
from models import Body, Deputy, FaceTemplate, Role
from models.db import make_session_factory, session_scope
from tests.conftest import PASSWORD, login

pytestmark = pytest.mark.slow
PEOPLE = ["Angelina_Jolie", "Colin_Powell", "Jackie_Chan"]


@pytest.fixture
def app(settings: Settings, sqlite_engine: Engine) -> Iterator[tuple[TestClient, int]]:
    with session_scope(make_session_factory(sqlite_engine)) as s:
        create_user(s, username="admin", password=PASSWORD, role=Role.ADMIN)
        county = Body(name="县人大")
        s.add(county)
        s.flush()
        town = Body(name="甲镇人大", parent_id=county.id)
        s.add(town)
        s.flush()
        town_id = town.id
    one_worker = settings.model_copy(update={"workers": 1})
    with TestClient(create_app(one_worker, engine=sqlite_engine)) as client:
        yield client, town_id


def _wait(client: TestClient, job: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        data: dict[str, Any] = client.get(f"/api/imports/{job}", headers=headers).json()
        if data["state"] in ("done", "failed"):
            return data
        time.sleep(0.3)
    raise AssertionError("the import did not finish")


def test_an_import_reports_rows_and_files_and_writes_nothing_outside(
    app: tuple[TestClient, int], faces_dir: Path, tmp_path: Path, settings: Settings
) -> None:
    client, town = app
    admin = login(client, "admin")
    roster = "代表编号,姓名,所属人大/代表团\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i, person in enumerate(PEOPLE, start=1):
            roster += f"{i:03d},{person},甲镇人大\n"
            z.write(sorted((faces_dir / "dev" / person).iterdir())[0], f"{i:03d}.jpg")
        z.writestr("../../evil.jpg", b"\xff\xd8 not here")
        z.writestr("a/b/c.jpg", b"\xff\xd8 too deep")
        z.writestr("名单说明.docx", b"not a photo")
    roster += "004,未知镇的代表,未知镇人大\n"
    r = client.post(
        "/api/imports",
        files={
            "roster": ("名册.csv", roster.encode("utf-8-sig"), "text/csv"),
            "photos": ("照片.zip", buf.getvalue(), "application/zip"),
        },
        headers=admin,
    )
    assert r.status_code == 202, r.text
    job = _wait(client, r.json()["id"], admin)
    assert job["state"] == "done", job["error"]
    assert [(row["number"], row["status"]) for row in job["rows"]] == [
        ("001", "created"),
        ("002", "created"),
        ("003", "created"),
        ("004", "failed"),
    ]
    assert "未知镇人大" in job["rows"][3]["reasons"] and "第 5 行" in job["rows"][3]["reasons"]
    assert job["total"] == job["done"] == 3
    assert {f["name"]: f["reason"] for f in job["files"]} == {
        "../../evil.jpg": "unsafe_path",
        "a/b/c.jpg": "too_deep",
        "名单说明.docx": "not_image",
    }
    with session_scope(make_session_factory(client.app.state.engine)) as s:  # type: ignore[attr-defined]
        placed = dict(s.execute(select(Deputy.number, Deputy.body_id)).all())
        assert placed == {"001": town, "002": town, "003": town}
        assert len(s.scalars(select(FaceTemplate)).all()) == 3
    # nothing escaped: no evil.jpg anywhere, and the unpacked photos are gone
    assert not list(tmp_path.parent.rglob("evil.jpg"))
    imports = Path(settings.data_dir) / "imports"
    assert not list(imports.rglob("*.jpg"))

    report = client.get(f"/api/imports/{job['id']}/report.xlsx", headers=admin)
    assert report.status_code == 200
    book = load_workbook(io.BytesIO(report.content))
    failed_rows = list(book["未录入的代表"].iter_rows(values_only=True))
    assert failed_rows[0] == ("代表编号", "姓名", "结果", "原因")
    assert [r[0] for r in failed_rows[1:]] == ["004"]
    files = [r[0] for r in book["压缩包中的问题文件"].iter_rows(values_only=True)][1:]
    assert sorted(files) == ["../../evil.jpg", "a/b/c.jpg", "名单说明.docx"]


def test_bad_rosters_are_refused_before_anything_runs(app: tuple[TestClient, int]) -> None:
    client, town = app
    admin = login(client, "admin")

    def start(name: str, data: bytes, **form: str) -> Any:
        return client.post("/api/imports", files={"roster": (name, data)}, data=form, headers=admin)

    r = start("r.csv", "代表编号,单位\n1,x\n".encode())
    assert r.status_code == 422 and "表头缺少必需的列：姓名" in r.json()["message"]
    r = start("r.csv", "代表编号,姓名\n1,a\n1,b\n".encode())
    assert r.status_code == 422 and "第 3 行" in r.json()["message"]
    r = start("r.pdf", b"%PDF")
    assert r.status_code == 422 and ".csv 或 .xlsx" in r.json()["message"]
    r = start("r.csv", "代表编号,姓名\n1,a\n".encode(), body_id="999")
    assert r.status_code == 404
    # a 照片 column naming a file outside the photo folder: that row refused, never read
    r = start("r.csv", "代表编号,姓名,照片\n1,a,../../secret.key\n".encode(), body_id=str(town))
    assert r.status_code == 202
    job = _wait(client, r.json()["id"], admin)
    (row,) = job["rows"]
    assert row["status"] == "failed" and row["photos"][0]["reason"] == "unsafe_path"
    with session_scope(make_session_factory(client.app.state.engine)) as s:  # type: ignore[attr-defined]
        assert s.scalars(select(Deputy)).all() == []
