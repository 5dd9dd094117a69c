"""Deltas: a snapshot with every change's delta applied is what a fresh read says; the mark
grows with every change; bulk roster changes in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from checkin.accounts.scope import Scope
from checkin.audit import Actor
from checkin.errors import Conflict, NotFound
from checkin.meetings import service
from checkin.meetings.delta import apply_delta, audit_mark, change_delta
from checkin.meetings.status import status, to_json
from models import Body, Deputy, DeputyStatus, Meeting, RosterRole
from models.db import make_session_factory, session_scope

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CLERK = Actor("clerk")
ALL = Scope.everything()
ZONE = "Asia/Shanghai"


def _seed(session: Session) -> tuple[Body, Meeting]:
    body = Body(name="某镇第十八届人民代表大会")
    session.add(body)
    session.flush()
    for i in range(20):
        session.add(Deputy(number=f"D{i:03}", name=f"代表{i}", unit="某村", body_id=body.id))
    session.add(Deputy(number="R001", name="退休", body_id=body.id, status=DeputyStatus.RETIRED))
    session.add(Deputy(number="G001", name="列席甲", unit="县人大常委会"))
    session.add(Deputy(number="S001", name="工作人员甲"))
    session.flush()
    meeting = service.create_meeting(
        session,
        body_id=body.id,
        title="第一次会议",
        starts_at=START,
        window_opens_at=START - timedelta(hours=1),
        actor=CLERK,
        scope=ALL,
    )
    return body, meeting


def _id(session: Session, number: str) -> int:
    return service.find_person(session, number, scope=ALL).id


def test_every_change_as_a_delta_adds_up_to_the_fresh_status(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with session_scope(factory) as s:
        _, meeting = _seed(s)
        mid = meeting.id
    with factory() as s:
        shown = to_json(status(s, mid, zone=ZONE))
        mark = audit_mark(s, mid)
    at = START - timedelta(minutes=30)

    def step(number: str | None, change: Callable[[Session, Meeting, int | None], Any]) -> None:
        nonlocal shown, mark
        with session_scope(factory) as s:
            m = service.get_meeting(s, mid, scope=ALL)
            pid = _id(s, number) if number else None
            change(s, m, pid)
        with factory() as s:
            delta = change_delta(s, mid, pid, zone=ZONE)
        with factory() as s:
            fresh = to_json(status(s, mid, zone=ZONE))
        assert delta["mark"] > mark  # every change is seen by the mark
        mark = delta["mark"]
        shown = apply_delta(shown, delta)
        assert shown == fresh, number

    for i in range(14):  # more than the 12 latest arrivals
        step(
            f"D{i:03}",
            lambda s, m, pid, i=i: service.manual_checkin(
                s, meeting=m, deputy_id=pid, reason="补签", actor=CLERK, at=at + timedelta(0, i)
            ),
        )
    step(
        "D015",
        lambda s, m, pid: service.set_leave(s, meeting=m, deputy_id=pid, reason="病", actor=CLERK),
    )
    step("D003", lambda s, m, pid: service.mark_departure(s, meeting=m, deputy_id=pid, actor=CLERK))
    step("D003", lambda s, m, pid: service.mark_return(s, meeting=m, deputy_id=pid, actor=CLERK))
    step("D004", lambda s, m, pid: service.mark_departure(s, meeting=m, deputy_id=pid, actor=CLERK))
    step(
        "D013",
        lambda s, m, pid: service.undo_checkin(
            s, meeting=m, deputy_id=pid, reason="误签", actor=CLERK
        ),
    )
    step(
        "G001",
        lambda s, m, pid: service.add_to_roster(
            s, meeting=m, deputy_id=pid, role=RosterRole.NONVOTING, actor=CLERK, scope=ALL
        ),
    )
    step(
        "S001",
        lambda s, m, pid: service.add_to_roster(
            s, meeting=m, deputy_id=pid, role=RosterRole.STAFF, actor=CLERK, scope=ALL
        ),
    )
    step(
        "D019",
        lambda s, m, pid: service.remove_from_roster(s, meeting=m, deputy_id=pid, actor=CLERK),
    )
    step(
        "R001",
        lambda s, m, pid: service.add_to_roster(
            s, meeting=m, deputy_id=pid, actor=CLERK, scope=ALL
        ),
    )
    for number in ("D016", "G001", "S001", "R001"):  # late, 列席, staff, retired
        step(
            number,
            lambda s, m, pid: service.manual_checkin(
                s, meeting=m, deputy_id=pid, reason="补签", actor=CLERK,
                at=START + timedelta(minutes=10),
            ),
        )  # fmt: skip
    step("G001", lambda s, m, pid: service.mark_departure(s, meeting=m, deputy_id=pid, actor=CLERK))
    step(None, lambda s, m, pid: service.close_window(s, meeting=m, actor=CLERK))  # fmt: skip
    assert shown["present"] == 13 and shown["on_leave"] == 1 and shown["left_early"] == 1
    assert shown["late"] == 1 and shown["nonvoting_expected"] == 1
    assert shown["nonvoting_present"] == 0 and shown["staff_present"] == 1
    assert shown["meeting"]["window"] == "closed"


def test_a_bulk_roster_change_is_one_transaction_and_refuses_as_a_whole(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with session_scope(factory) as s:
        body, _ = _seed(s)
        empty = service.create_meeting(
            s,
            body_id=body.id,
            title="空会议",
            starts_at=START,
            deputy_ids=[],
            actor=CLERK,
            scope=ALL,
        )
        mid = empty.id
        numbers: list[str | None] = [f"D{i:03}" for i in range(20)] + ["G001"]
        ids = service.resolve_people(s, [None] * len(numbers), numbers, scope=ALL)
    with session_scope(factory) as s:
        m = service.get_meeting(s, mid, scope=ALL)
        before = audit_mark(s, mid)
        adds = [(pid, RosterRole.DEPUTY) for pid in ids[:20]] + [(ids[20], RosterRole.NONVOTING)]
        r = service.bulk_roster(s, meeting=m, add=adds + adds[:2], remove=[], actor=CLERK)
        assert (r.added, r.removed, r.roster) == (21, 0, 21)
    with session_scope(factory) as s:
        assert audit_mark(s, mid) == before + 21
        st = status(s, mid, zone=ZONE)
        assert (st.expected, st.nonvoting_expected) == (20, 1)
        m = service.get_meeting(s, mid, scope=ALL)
        service.manual_checkin(s, meeting=m, deputy_id=ids[0], reason="补签", actor=CLERK)
    with session_scope(factory) as s:
        m = service.get_meeting(s, mid, scope=ALL)
        with pytest.raises(Conflict):
            service.bulk_roster(s, meeting=m, add=[], remove=ids[:5], actor=CLERK)
        s.rollback()
    with session_scope(factory) as s:
        m = service.get_meeting(s, mid, scope=ALL)
        r = service.bulk_roster(s, meeting=m, add=[], remove=[*ids[1:5], ids[1]], actor=CLERK)
        assert (r.added, r.removed, r.already_on, r.roster) == (0, 4, [], 17)
        with pytest.raises(NotFound):
            service.resolve_people(s, [None], ["X999"], scope=ALL)
