"""The term record over REST and the pages: structure, mandates, reports, files, bad input."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.conftest import login


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json() if r.headers.get("content-type", "").startswith("application/json") else r


def error(r: Any, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "message"} and body["error"] == code, body
    return str(body["message"])


def seed(client: TestClient, admin: dict[str, str]) -> int:
    body = ok(client.post("/api/bodies", json={"name": "江口镇人民代表大会"}, headers=admin), 201)
    for i in range(1, 5):
        ok(
            client.post(
                "/api/deputies",
                json={"number": f"J{i}", "name": f"代表{i}", "unit": "江口村"},
                headers=admin,
            ),
            201,
        )
    return int(body["id"])


def test_structure_reports_and_files(app_client: TestClient) -> None:
    admin, clerk = login(app_client, "admin"), login(app_client, "clerk")
    body_id = seed(app_client, admin)
    # deputies join the body (roster import does not set it yet): through the database
    from sqlalchemy import update

    from models import Deputy
    from models.db import make_session_factory, session_scope

    with session_scope(make_session_factory(app_client.app.state.engine)) as s:  # type: ignore[attr-defined]
        s.execute(update(Deputy).values(body_id=body_id))
    term_body = {"body_id": body_id, "number": 18, "starts_on": "2025-01-01"}
    error(app_client.post("/api/terms", json=term_body, headers=clerk), 403, "forbidden")
    term = ok(app_client.post("/api/terms", json=term_body, headers=admin), 201)
    assert term["name"] == "江口镇第十八届人民代表大会" and term["title"] == "第十八届"
    error(app_client.post("/api/terms", json=term_body, headers=admin), 409, "conflict")
    bad = term_body | {"number": 17, "starts_on": "2020-01-01", "ends_on": "2019-01-01"}
    error(app_client.post("/api/terms", json=bad, headers=admin), 422, "invalid_input")
    tid = term["id"]
    sess = ok(
        app_client.post(
            f"/api/terms/{tid}/sessions",
            json={"number": 1, "starts_on": "2025-03-10", "ends_on": "2025-03-10"},
            headers=clerk,
        ),
        201,
    )
    assert sess["title"] == "第一次会议"
    error(
        app_client.post(
            f"/api/terms/{tid}/sessions",
            json={"number": 2, "starts_on": "2024-03-10"},
            headers=clerk,
        ),
        422,
        "invalid_input",
    )
    meeting = {
        "body_id": body_id,
        "title": "第一次全体会议",
        "starts_at": "2025-03-10T09:00:00+08:00",
    }
    m1 = ok(
        app_client.post(
            "/api/meetings", json=meeting | {"congress_session_id": sess["id"]}, headers=clerk
        ),
        201,
    )
    assert (m1["congress_session_id"], m1["kind"]) == (sess["id"], "plenary")
    # a meeting on a day outside the session: refused, and not created either
    late = meeting | {"starts_at": "2025-03-12T09:00:00+08:00", "congress_session_id": sess["id"]}
    message = error(
        app_client.post("/api/meetings", json=late, headers=clerk), 422, "invalid_input"
    )
    assert "不在第一次会议会期内" in message
    assert len(ok(app_client.get("/api/meetings", headers=clerk))) == 1
    m2 = ok(
        app_client.post(
            "/api/meetings",
            json=meeting | {"title": "主席团会议", "starts_at": "2025-03-10T08:00:00+08:00"},
            headers=clerk,
        ),
        201,
    )
    attached = ok(
        app_client.post(
            f"/api/sessions/{sess['id']}/meetings",
            json={"meeting_id": m2["id"], "kind": "presidium"},
            headers=clerk,
        )
    )
    assert attached == {
        "meeting_id": m2["id"],
        "congress_session_id": sess["id"],
        "kind": "presidium",
    }
    shown = ok(app_client.get(f"/api/terms/{tid}", headers=clerk))
    assert shown["sessions"][0]["meeting_ids"] == [m2["id"], m1["id"]]

    # mandates: J4 elected after the first session, J3 retired before it
    ok(
        app_client.patch(
            "/api/deputies/J4",
            json={"elected_at": "2025-04-01T00:00:00+08:00", "delegation": "东片"},
            headers=admin,
        )
    )
    j3 = ok(
        app_client.patch(
            "/api/deputies/J3", json={"retired_at": "2025-03-01T00:00:00+08:00"}, headers=admin
        )
    )
    assert j3["status"] == "retired" and datetime.fromisoformat(j3["retired_at"]) == datetime(
        2025, 2, 28, 16, tzinfo=UTC
    )
    error(
        app_client.patch(
            "/api/deputies/J2", json={"elected_at": "2025-04-01T00:00:00"}, headers=admin
        ),
        422,
        "invalid_input",
    )
    ok(
        app_client.post(
            f"/api/meetings/{m1['id']}/checkin",
            json={"number": "J1", "reason": "补"},
            headers=clerk,
        )
    )
    ok(
        app_client.post(
            f"/api/meetings/{m1['id']}/leave", json={"number": "J2", "reason": "病"}, headers=clerk
        )
    )

    report = ok(app_client.get(f"/api/terms/{tid}/report", headers=clerk))
    assert [m["id"] for m in report["meetings"]] == [m2["id"], m1["id"]]
    cells = {r["number"]: [c["symbol"] for c in r["cells"]] for r in report["rows"]}
    # J3 retired before the session and J4 elected after it: on the rosters, outside the mandate
    assert cells == {"J4": ["—", "—"], "J1": ["缺", "补"], "J2": ["缺", "假"], "J3": ["—", "—"]}
    assert [f["number"] for f in report["flags"]] == []  # the presidium meeting decides nothing
    assert report["rows"][0]["delegation"] == "东片" and report["grouped"]
    only = ok(app_client.get(f"/api/terms/{tid}/report?body_id=&delegation=东片", headers=clerk))
    assert [r["number"] for r in only["rows"]] == ["J4"]
    error(
        app_client.get(f"/api/terms/{tid}/report?date_from=03/10", headers=clerk),
        422,
        "invalid_input",
    )
    error(app_client.get(f"/api/terms/{tid}/report?session_id=99", headers=clerk), 404, "not_found")
    error(app_client.get("/api/terms/99/report", headers=clerk), 404, "not_found")

    xlsx = ok(app_client.get(f"/api/terms/{tid}/report.xlsx", headers=clerk))
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "filename*=UTF-8''" in xlsx.headers["content-disposition"]
    assert load_workbook(io.BytesIO(xlsx.content)).sheetnames[0] == "出席矩阵"
    png = ok(app_client.get(f"/api/terms/{tid}/report/plot.png", headers=clerk))
    assert png.content.startswith(b"\x89PNG") and png.headers["content-type"] == "image/png"
    svg = ok(app_client.get(f"/api/terms/{tid}/report/plot.svg", headers=clerk))
    assert b"<svg" in svg.content and "出席".encode() in svg.content  # text kept as text
    assert app_client.get(f"/api/terms/{tid}/report/plot.gif", headers=clerk).status_code == 422

    record = ok(app_client.get("/api/deputies/J2/record", headers=clerk))
    assert [(ln["title"], ln["label"], ln["leave_reason"]) for ln in record["lines"]] == [
        ("主席团会议", "缺席", ""),
        ("第一次全体会议", "请假", "病"),
    ]
    assert [s["label"] for s in record["sessions"]] == ["请假"]
    rec_xlsx = ok(app_client.get(f"/api/deputies/J2/record.xlsx?term_id={tid}", headers=clerk))
    assert load_workbook(io.BytesIO(rec_xlsx.content)).sheetnames == ["出席记录"]
    error(app_client.get("/api/deputies/NOPE/record", headers=clerk), 404, "not_found")

    detached = ok(
        app_client.delete(f"/api/sessions/{sess['id']}/meetings/{m2['id']}", headers=clerk)
    )
    assert detached["congress_session_id"] is None
    error(
        app_client.delete(f"/api/sessions/{sess['id']}/meetings/{m2['id']}", headers=clerk),
        404,
        "not_found",
    )
    ok(app_client.get(f"/api/meetings/{m2['id']}/status", headers=clerk))  # still a valid meeting

    # the pages
    app_client.cookies.clear()
    r = app_client.get(f"/terms/{tid}/report", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    app_client.post(
        "/api/auth/login", data={"username": "clerk", "password": "correct-horse-battery"}
    )
    page = app_client.get(f"/terms/{tid}/report")
    assert page.status_code == 200 and 'id="matrix"' in page.text and "<svg" in page.text
    assert app_client.get(f"/terms/{tid}/report/print").status_code == 200
    assert "江口镇第十八届人民代表大会" in app_client.get("/terms").text
    assert app_client.get("/meetings").status_code == 200
    bad_page = app_client.get(f"/terms/{tid}/report?date_to=tomorrow")
    assert bad_page.status_code == 422 and "date_to" in bad_page.text
    assert app_client.get("/terms/99/report").status_code == 404
    assert "请假" in app_client.get("/deputies/J2/record").text
