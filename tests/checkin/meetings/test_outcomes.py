"""The term record's pure rules on small hand-made cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from checkin.meetings import outcomes as oc
from checkin.meetings.outcomes import AbsenceRule, Mark, Presence, SessionMark

T0 = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
CHECKED = Presence(checked_in_at=T0 - timedelta(minutes=5))


def outcome(p: Presence, *, in_mandate: bool = True, held: bool = True) -> oc.Outcome:
    return oc.meeting_outcome(p, in_mandate=in_mandate, held=held)


@pytest.mark.parametrize(
    ("presence", "mark"),
    [
        (CHECKED, Mark.PRESENT),
        (Presence(checked_in_at=T0, late=True), Mark.LATE),
        (Presence(checked_in_at=T0, manual=True, manual_reason="戴口罩"), Mark.MANUAL),
        (Presence(checked_in_at=T0, left_at=T0 + timedelta(hours=1)), Mark.LEFT),
        (Presence(on_leave=True, leave_reason="出差"), Mark.LEAVE),
        (Presence(), Mark.ABSENT),
        (Presence(on_leave=True, checked_in_at=T0), Mark.PRESENT),  # came after all
        # several facts: 退 > 补 > 迟
        (Presence(checked_in_at=T0, late=True, manual=True, left_at=T0), Mark.LEFT),
        (Presence(checked_in_at=T0, late=True, manual=True), Mark.MANUAL),
    ],
)
def test_one_mark_per_meeting(presence: Presence, mark: Mark) -> None:
    assert outcome(presence).mark is mark


def test_facts_behind_the_mark_are_kept() -> None:
    o = outcome(Presence(checked_in_at=T0, late=True, manual=True, manual_reason="补", left_at=T0))
    assert (o.late, o.manual, o.manual_reason, o.left_at) == (True, True, "补", T0)
    assert outcome(Presence(on_leave=True, leave_reason="出差")).leave_reason == "出差"
    assert outcome(Presence(checked_in_at=T0, manual_reason="stale")).manual_reason == ""


def test_outside_the_mandate_roster_or_before_the_meeting_nothing_counts() -> None:
    assert outcome(Presence(), in_mandate=False).mark is Mark.NONE
    assert outcome(Presence(on_roster=False)).mark is Mark.NONE
    assert outcome(Presence(), held=False).mark is Mark.PENDING
    assert outcome(Presence(on_roster=False), held=False).mark is Mark.NONE
    assert oc.tally([outcome(Presence(), in_mandate=False), outcome(Presence(), held=False)]) == (
        oc.Tally()
    )


def test_mandate_bounds() -> None:
    m = oc.Mandate(elected_at=T0, retired_at=T0 + timedelta(days=10))
    assert m.covers(T0) and m.covers(T0 + timedelta(days=9))
    assert not m.covers(T0 - timedelta(seconds=1)) and not m.covers(T0 + timedelta(days=10))
    assert oc.Mandate().covers(T0)


def marks(*names: str) -> list[oc.Outcome]:
    return [oc.Outcome(Mark(n)) for n in names]


@pytest.mark.parametrize(
    ("plenaries", "any_plenary", "all_plenaries", "majority"),
    [
        (["present", "present"], "attended", "attended", "attended"),
        (["absent", "absent"], "absent", "absent", "absent"),
        (["absent", "late"], "attended", "absent", "attended"),
        (["leave", "leave"], "leave", "leave", "leave"),
        (["leave", "absent"], "absent", "absent", "leave"),
        (["absent", "absent", "present"], "attended", "absent", "absent"),
        (["absent", "leave", "present"], "attended", "absent", "attended"),
        (["none", "absent"], "absent", "absent", "absent"),  # one plenary in the mandate
        (["none", "none"], "none", "none", "none"),
        (["present", "pending"], "pending", "pending", "pending"),
        ([], "none", "none", "none"),
    ],
)
def test_session_outcome_under_each_rule(
    plenaries: list[str], any_plenary: str, all_plenaries: str, majority: str
) -> None:
    got = [oc.session_outcome(marks(*plenaries), rule).value for rule in AbsenceRule]
    assert got == [any_plenary, all_plenaries, majority]


def test_section_49_flags() -> None:
    assert [oc.flag_for(n) for n in range(4)] == [
        oc.Flag.NONE,
        oc.Flag.REMINDER,
        oc.Flag.AT_RISK,
        oc.Flag.AT_RISK,
    ]
    assert oc.FLAG_LABELS[oc.Flag.AT_RISK] == "资格终止风险"


def test_tally_counts_each_fact_and_the_rate() -> None:
    cells = [
        outcome(CHECKED),
        outcome(Presence(checked_in_at=T0, late=True, manual=True, left_at=T0)),
        outcome(Presence(on_leave=True)),
        outcome(Presence()),
        outcome(Presence(), in_mandate=False),
    ]
    t = oc.tally(cells)
    assert (t.expected, t.attended, t.late, t.manual, t.left, t.leave, t.absent) == (
        4,
        2,
        1,
        1,
        1,
        1,
        1,
    )
    assert t.rate == 0.5 and oc.Tally().rate is None
    s = oc.session_tally([SessionMark.ATTENDED, SessionMark.ABSENT, SessionMark.PENDING])
    assert (s.expected, s.attended, s.absent, s.pending, s.rate) == (2, 1, 1, 1, 0.5)


def test_term_record_over_two_sessions() -> None:
    """Deputy 1 misses session A entirely, deputy 2 (elected later) misses session B, deputy 3
    misses a presidium meeting only (not a plenary: no effect on the session)."""
    day = timedelta(days=1)
    meetings = [
        oc.MeetingRef(1, T0, session_id=10),
        oc.MeetingRef(2, T0 + day, session_id=10),
        oc.MeetingRef(3, T0 + day, session_id=10, plenary=False),
        oc.MeetingRef(4, T0 + 100 * day, session_id=20),
        oc.MeetingRef(5, T0 + 200 * day, session_id=30),  # not held yet
    ]
    here = Presence(checked_in_at=T0)
    presences = {(d, m): here for d in (1, 2, 3) for m in (1, 2, 3, 4, 5)}
    presences[(1, 1)] = presences[(1, 2)] = Presence()
    presences[(2, 4)] = Presence()
    presences[(3, 3)] = Presence()
    rec = oc.term_record(
        meetings=meetings,
        session_ids=[10, 20, 30],
        mandates={
            1: oc.Mandate(),
            2: oc.Mandate(elected_at=T0 + 50 * day),
            3: oc.Mandate(),
        },
        presences=presences,
        rule=AbsenceRule.ANY_PLENARY,
        as_of=T0 + 150 * day,
    )
    assert [rec.cell(2, m).mark for m in (1, 2, 4, 5)] == [
        Mark.NONE,
        Mark.NONE,
        Mark.ABSENT,
        Mark.PENDING,
    ]
    assert rec.sessions[(1, 10)] is SessionMark.ABSENT
    assert rec.sessions[(2, 10)] is SessionMark.NONE
    assert rec.sessions[(3, 10)] is SessionMark.ATTENDED
    assert rec.sessions[(1, 30)] is SessionMark.PENDING
    assert rec.absent_sessions == {1: [10], 2: [20], 3: []}
    assert rec.flags == {1: oc.Flag.REMINDER, 2: oc.Flag.REMINDER, 3: oc.Flag.NONE}
