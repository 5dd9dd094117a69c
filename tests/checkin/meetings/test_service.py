"""Secretariat services and API on a real database: counts follow every action, all audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from checkin.accounts.scope import Scope
from checkin.audit import Actor
from checkin.errors import Conflict, InvalidInput
from checkin.meetings import service
from checkin.meetings.attendance import record_attendance
from checkin.meetings.status import status, to_json
from models import AuditEvent, Body, CheckinMethod, Deputy, DeputyStatus, Meeting, RosterRole
from models.db import make_session_factory, session_scope
from tests.conftest import login

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CLERK = Actor("clerk", user_id=None)


def _seed(session: Session, n: int = 6) -> Body:
    body = Body(name="某镇第十八届人民代表大会")
    session.add(body)
    session.flush()
    for i in range(n):
        session.add(Deputy(number=f"D{i:03}", name=f"代表{i}", unit="某村", body_id=body.id))
    session.add(Deputy(number="R001", name="退休", body_id=body.id, status=DeputyStatus.RETIRED))
    session.add(Deputy(number="G001", name="列席甲", unit="县人大常委会"))
    session.flush()
    return body


def _meeting(session: Session, body: Body) -> Meeting:
    return service.create_meeting(
        session,
        body_id=body.id,
        title="第一次会议",
        starts_at=START,
        window_opens_at=START - timedelta(hours=1),
        actor=CLERK,
        scope=Scope.everything(),
    )


def _id(session: Session, number: str) -> int:
    return service.find_person(session, number, scope=Scope.everything()).id


def test_roster_defaults_to_seated_deputies_and_actions_move_the_counts(session: Session) -> None:
    body = _seed(session)
    m = _meeting(session, body)
    service.open_window(session, meeting=m, actor=CLERK, at=START - timedelta(hours=1))
    st = to_json(status(session, m.id))
    assert (st["expected"], st["present"], st["absent"], st["required"]) == (6, 0, 6, 4)
    g = _id(session, "G001")
    service.add_to_roster(
        session,
        meeting=m,
        deputy_id=g,
        role=RosterRole.NONVOTING,
        actor=CLERK,
        scope=Scope.everything(),
    )
    for n in ("D000", "D001", "D002"):
        record_attendance(
            session,
            meeting=m,
            deputy_id=_id(session, n),
            at=START - timedelta(minutes=5),
            method=CheckinMethod.FACE,
            actor=Actor("kiosk-1"),
        )
    service.manual_checkin(
        session, meeting=m, deputy_id=g, reason="人脸未识别", actor=CLERK, at=START
    )
    service.set_leave(
        session, meeting=m, deputy_id=_id(session, "D005"), reason="病假", actor=CLERK
    )
    st = to_json(status(session, m.id))
    assert (st["present"], st["on_leave"], st["absent"], st["quorum_met"]) == (3, 1, 2, False)
    assert (st["nonvoting_expected"], st["nonvoting_present"]) == (1, 1)
    service.manual_checkin(
        session,
        meeting=m,
        deputy_id=_id(session, "D003"),
        reason="设备故障",
        actor=CLERK,
        at=START + timedelta(minutes=3),
    )
    st = to_json(status(session, m.id))
    assert st["quorum_met"] and st["late"] == 1
    assert st["announcement"] == "本次会议应到代表6名，实到4名，请假1名，缺席1名，符合法定人数。"
    assert [p["number"] for p in st["not_arrived"]] == ["D004"]
    assert st["latest_arrivals"][0]["number"] == "D003"

    service.mark_departure(session, meeting=m, deputy_id=_id(session, "D000"), actor=CLERK)
    st = to_json(status(session, m.id))
    assert (st["present"], st["left_early"], st["absent"], st["quorum_met"]) == (3, 1, 2, False)
    assert [p["number"] for p in st["departed"]] == ["D000"]
    service.mark_return(session, meeting=m, deputy_id=_id(session, "D000"), actor=CLERK)
    service.undo_checkin(
        session, meeting=m, deputy_id=_id(session, "D001"), reason="误识别", actor=CLERK
    )
    st = to_json(status(session, m.id))
    assert (st["present"], st["left_early"], st["absent"], st["quorum_met"]) == (3, 0, 2, False)

    actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    for action in (
        "meeting.create",
        "roster.add",
        "checkin.manual",
        "leave.register",
        "departure",
        "return",
        "checkin.undo",
    ):
        assert action in actions


def test_reasons_are_required_and_bad_moves_refused(session: Session) -> None:
    m = _meeting(session, _seed(session))
    d = _id(session, "D000")
    with pytest.raises(InvalidInput):
        service.manual_checkin(session, meeting=m, deputy_id=d, reason=" ", actor=CLERK)
    with pytest.raises(InvalidInput):
        service.set_leave(session, meeting=m, deputy_id=d, reason="", actor=CLERK)
    with pytest.raises(Conflict):
        service.mark_departure(session, meeting=m, deputy_id=d, actor=CLERK)
    service.manual_checkin(session, meeting=m, deputy_id=d, reason="补签", actor=CLERK)
    with pytest.raises(Conflict):
        service.manual_checkin(session, meeting=m, deputy_id=d, reason="补签", actor=CLERK)
    with pytest.raises(Conflict):
        service.remove_from_roster(session, meeting=m, deputy_id=d, actor=CLERK)
    with pytest.raises(InvalidInput):
        service.create_meeting(
            session,
            body_id=m.body_id,
            title="x",
            starts_at=START,
            rule="custom",
            actor=CLERK,
            scope=Scope.everything(),
        )


def counts(message: dict[str, Any]) -> dict[str, Any]:
    """The counts of a live `delta` or `status` message (README: Live status)."""
    payload: dict[str, Any] = message["payload"]
    return payload["counts"] if message["topic"] == "delta" else payload


def test_api_actions_publish_after_commit_and_audit_the_account(app_client: TestClient) -> None:
    engine = app_client.app.state.engine  # type: ignore[attr-defined]
    with session_scope(make_session_factory(engine)) as s:
        body = _seed(s, n=3)
        body_id = body.id
    h = login(app_client, "clerk")
    r = app_client.post(
        "/api/meetings",
        json={"body_id": body_id, "title": "第二次会议", "starts_at": START.isoformat()},
        headers=h,
    )
    assert r.status_code == 201, r.text
    mid = r.json()["id"]
    seen: list[tuple[str, int]] = []

    def probe(event: object) -> None:  # the change must already be visible to a new session
        with make_session_factory(engine)() as s:
            seen.append((event.kind, to_json(status(s, mid))["present"]))  # type: ignore[attr-defined]

    app_client.app.state.events.subscribe(probe)  # type: ignore[attr-defined]
    with app_client.websocket_connect(f"/ws/meetings/{mid}/live", headers=h) as ws:
        snap = ws.receive_json()
        assert snap["topic"] == "snapshot" and snap["payload"]["expected"] == 3
        r = app_client.post(
            f"/api/meetings/{mid}/checkin", json={"number": "D000", "reason": ""}, headers=h
        )
        assert r.status_code == 422 and r.json()["error"] == "invalid_input"
        for number in ("D000", "D001"):
            r = app_client.post(
                f"/api/meetings/{mid}/checkin",
                json={"number": number, "reason": "摄像头故障"},
                headers=h,
            )
            assert r.status_code == 200, r.text
        first, second = ws.receive_json(), ws.receive_json()
        assert (first["seq"], second["seq"]) == (snap["seq"] + 1, snap["seq"] + 2)
        assert counts(second)["present"] == 2 and counts(second)["quorum_met"]
        assert isinstance(second["committed_at"], float)
        r = app_client.post(
            f"/api/meetings/{mid}/undo", json={"number": "D001", "reason": "误操作"}, headers=h
        )
        undo = ws.receive_json()
        assert undo["kind"] == "undo" and counts(undo)["present"] == 1
    assert seen == [("checkin", 1), ("checkin", 2), ("undo", 1)]
    st = app_client.get(f"/api/meetings/{mid}/status", headers=h).json()
    assert st["present"] == 1 and st["announcement"].startswith("本次会议应到代表3名，实到1名")
    with make_session_factory(engine)() as s:
        who = s.scalars(select(AuditEvent.actor).where(AuditEvent.action == "checkin.manual")).all()
    assert who == ["clerk", "clerk"]


def test_live_socket_needs_login_and_a_meeting(app_client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    with app_client.websocket_connect("/ws/meetings/1/live") as ws:
        with pytest.raises(WebSocketDisconnect) as exc:
            ws.receive_json()
    assert exc.value.code == 4401
    h = login(app_client, "clerk")
    with app_client.websocket_connect("/ws/meetings/999/live", headers=h) as ws:
        with pytest.raises(WebSocketDisconnect) as exc:
            ws.receive_json()
    assert exc.value.code == 4404


def test_pages_redirect_to_login(app_client: TestClient) -> None:
    r = app_client.get("/meetings/1/screen", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert "登录" in app_client.get("/login").text
