"""Terms, sessions, attaching meetings and mandates: bad input is refused, nothing half-done."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from checkin.accounts.scope import Scope
from checkin.audit import Actor
from checkin.errors import Conflict, InvalidInput, NotFound
from checkin.meetings import service, terms
from enrollment.service import retire
from models import AuditEvent, Body, BodyKind, Deputy, Meeting, MeetingKind

CLERK = Actor("clerk")


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (1, "一"),
        (10, "十"),
        (12, "十二"),
        (18, "十八"),
        (20, "二十"),
        (21, "二十一"),
        (100, "一百"),
        (105, "一百零五"),
        (110, "一百一十"),
        (999, "九百九十九"),
    ],
)
def test_chinese_numerals(n: int, text: str) -> None:
    assert terms.chinese_numeral(n) == text


def setup(session: Session) -> tuple[Body, Body, Body, int]:
    congress = service.create_body(
        session, name="石桥镇人民代表大会", actor=CLERK, scope=Scope.everything()
    )
    presidium = service.create_body(
        session,
        name="石桥镇人大主席团",
        kind=BodyKind.PRESIDIUM,
        actor=CLERK,
        scope=Scope.everything(),
    )
    presidium.parent_id = congress.id
    other = service.create_body(
        session, name="别的镇人民代表大会", actor=CLERK, scope=Scope.everything()
    )
    term = terms.create_term(
        session,
        body_id=congress.id,
        number=18,
        starts_on=date(2025, 1, 1),
        actor=CLERK,
        scope=Scope.everything(),
    )
    cs = terms.create_session(
        session,
        term_id=term.id,
        number=1,
        starts_on=date(2025, 3, 10),
        ends_on=date(2025, 3, 11),
        actor=CLERK,
        scope=Scope.everything(),
    )
    return congress, presidium, other, cs.id


def meeting(session: Session, body: Body, day: int = 10) -> Meeting:
    return service.create_meeting(
        session,
        body_id=body.id,
        title="会议",
        starts_at=datetime(2025, 3, day, 1, tzinfo=UTC),
        actor=CLERK,
        scope=Scope.everything(),
    )


def test_meetings_join_only_sessions_they_fit(session: Session) -> None:
    congress, presidium, other, cs = setup(session)
    m = meeting(session, presidium)
    attached = terms.attach_meeting(
        session,
        congress_session_id=cs,
        meeting_id=m.id,
        kind="presidium",
        zone="Asia/Shanghai",
        actor=CLERK,
        scope=Scope.everything(),
    )
    assert (attached.congress_session_id, attached.kind) == (cs, MeetingKind.PRESIDIUM)
    foreign = meeting(session, other)
    with pytest.raises(InvalidInput, match="不属于石桥镇人民代表大会"):
        terms.attach_meeting(
            session,
            congress_session_id=cs,
            meeting_id=foreign.id,
            zone="Asia/Shanghai",
            actor=CLERK,
            scope=Scope.everything(),
        )
    late = meeting(session, congress, day=12)
    with pytest.raises(InvalidInput, match="不在第一次会议会期内"):
        terms.attach_meeting(
            session,
            congress_session_id=cs,
            meeting_id=late.id,
            zone="Asia/Shanghai",
            actor=CLERK,
            scope=Scope.everything(),
        )
    plain = meeting(session, congress)
    with pytest.raises(InvalidInput, match="会议类型无效"):
        terms.attach_meeting(
            session,
            congress_session_id=cs,
            meeting_id=plain.id,
            kind="picnic",
            zone="Asia/Shanghai",
            actor=CLERK,
            scope=Scope.everything(),
        )
    assert (foreign.congress_session_id, late.congress_session_id) == (None, None)
    assert plain.congress_session_id is None and plain.kind is MeetingKind.PLENARY
    with pytest.raises(NotFound):
        terms.attach_meeting(
            session,
            congress_session_id=999,
            meeting_id=plain.id,
            zone="UTC",
            actor=CLERK,
            scope=Scope.everything(),
        )
    terms.detach_meeting(session, meeting_id=m.id, actor=CLERK)
    with pytest.raises(Conflict):
        terms.detach_meeting(session, meeting_id=m.id, actor=CLERK)
    actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions.count("meeting.attach") == 1 and actions.count("meeting.detach") == 1
    assert {"term.create", "session.create"} <= set(actions)


def test_terms_and_sessions_refuse_bad_dates_and_bodies(session: Session) -> None:
    congress, presidium, _, _ = setup(session)
    with pytest.raises(InvalidInput, match="主席团没有届次"):
        terms.create_term(
            session,
            body_id=presidium.id,
            number=1,
            starts_on=date(2025, 1, 1),
            actor=CLERK,
            scope=Scope.everything(),
        )
    with pytest.raises(Conflict, match="重叠"):  # term 18 runs open-ended from 2025
        terms.create_term(
            session,
            body_id=congress.id,
            number=19,
            starts_on=date(2030, 1, 1),
            actor=CLERK,
            scope=Scope.everything(),
        )
    old = terms.create_term(
        session,
        body_id=congress.id,
        number=17,
        starts_on=date(2020, 1, 1),
        ends_on=date(2024, 12, 31),
        actor=CLERK,
        scope=Scope.everything(),
    )
    assert terms.term_name(old) == "石桥镇第十七届人民代表大会"
    with pytest.raises(InvalidInput, match="会期须在第十七届任期内"):
        terms.create_session(
            session,
            term_id=old.id,
            number=1,
            starts_on=date(2024, 12, 30),
            ends_on=date(2025, 1, 2),
            actor=CLERK,
            scope=Scope.everything(),
        )
    with pytest.raises(InvalidInput, match="1 到 999"):
        terms.create_session(
            session,
            term_id=old.id,
            number=0,
            starts_on=date(2021, 1, 1),
            actor=CLERK,
            scope=Scope.everything(),
        )
    assert terms.sessions_of(session, old.id) == []


def test_mandates_are_consistent(session: Session) -> None:
    d = Deputy(number="S1", name="石一")
    session.add(d)
    session.flush()
    terms.update_mandate(
        session,
        deputy=d,
        elected_at=datetime(2025, 6, 1, tzinfo=UTC),
        delegation=" 东片 ",
        actor=CLERK,
    )
    assert d.delegation == "东片"
    with pytest.raises(InvalidInput, match="离任时间须晚于当选时间"):
        retire(
            session,
            number="S1",
            actor=CLERK,
            at=datetime(2025, 5, 1, tzinfo=UTC),
            scope=Scope.everything(),
        )
    retire(
        session,
        number="S1",
        actor=CLERK,
        at=datetime(2026, 1, 1, tzinfo=UTC),
        scope=Scope.everything(),
    )
    with pytest.raises(InvalidInput, match="当选时间须早于离任时间"):
        terms.update_mandate(
            session, deputy=d, elected_at=datetime(2026, 2, 1, tzinfo=UTC), actor=CLERK
        )
    with pytest.raises(InvalidInput, match="时区"):
        terms.update_mandate(session, deputy=d, elected_at=datetime(2025, 1, 1), actor=CLERK)
    with pytest.raises(InvalidInput, match="最长 100"):
        terms.update_mandate(session, deputy=d, delegation="团" * 101, actor=CLERK)
    assert d.elected_at == datetime(2025, 6, 1, tzinfo=UTC) and d.delegation == "东片"
    terms.update_mandate(session, deputy=d, elected_at=None, delegation="", actor=CLERK)
    assert (d.elected_at, d.delegation) == (None, None)
