"""Must show: a township term (43 deputies, 3 sessions × 2 plenaries) recorded through the
services; the matrix, the rates, the session outcomes and exactly who gets which §49 flag.

Every expectation below is written by hand from township.SCRIPT, not read from the code.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from checkin.meetings import history
from checkin.meetings.history import ReportFilter
from tests.checkin.meetings import township
from tests.checkin.meetings.township import AS_OF, ELECTED, RETIRED, ZONE, Township

KEYS = ["1-1", "1-2", "2-1", "2-2", "3-1", "3-2"]
S1, S2, S3 = "第一次会议", "第二次会议", "第三次会议"


@pytest.fixture
def town(session: Session) -> Township:
    t = township.build(session)
    session.commit()
    return t


def expected_matrix() -> dict[str, list[str]]:
    """Everyone ✓, then the script's exceptions; T043 on no roster of session 1, T042 retired
    before session 3."""
    marks = {f"T{i:03}": ["present"] * 6 for i in range(1, 44)}
    marks[ELECTED][0:2] = ["none", "none"]
    marks[RETIRED][4:6] = ["none", "none"]
    exceptions = {
        ("T001", "1-1"): "absent",
        ("T002", "1-1"): "absent",
        ("T003", "1-1"): "absent",
        ("T006", "1-1"): "manual",
        (RETIRED, "1-1"): "absent",
        ("T001", "1-2"): "absent",
        ("T002", "1-2"): "absent",
        ("T003", "1-2"): "late",
        ("T006", "1-2"): "left",
        ("T002", "2-1"): "absent",
        ("T004", "2-1"): "leave",
        ("T005", "2-1"): "leave",
        ("T007", "2-1"): "late",
        (ELECTED, "2-1"): "absent",
        ("T002", "2-2"): "absent",
        ("T004", "2-2"): "leave",
        ("T005", "2-2"): "absent",
        (ELECTED, "2-2"): "absent",
        ("T003", "3-1"): "absent",
        ("T008", "3-1"): "absent",  # checked in, then undone
        ("T003", "3-2"): "absent",
    }
    for (number, key), mark in exceptions.items():
        marks[number][KEYS.index(key)] = mark
    return marks


def test_the_matrix_rates_session_outcomes_and_flags(session: Session, town: Township) -> None:
    report = history.term_report(session, town.term_id, zone=ZONE, as_of=AS_OF)
    assert report.term.name == "青山镇第十八届人民代表大会"
    assert [m.id for m in report.meetings] == [town.meetings[k] for k in KEYS]
    assert [s.title for s in report.sessions] == [S1, S2, S3]
    assert not report.grouped
    matrix = {row.number: [c.mark for c in row.cells] for row in report.rows}
    assert matrix == expected_matrix()
    symbols = {row.number: "".join(c.symbol for c in row.cells) for row in report.rows}
    assert symbols["T006"] == "补退✓✓✓✓"
    assert symbols[ELECTED] == "——缺缺✓✓" and symbols[RETIRED] == "缺✓✓✓——"
    by_number = {row.number: row for row in report.rows}
    assert by_number[ELECTED].mandate == "2025-06-01 补选"
    assert by_number[RETIRED].mandate == "2025-12-31 离任"
    assert by_number["T004"].cells[2].detail == "请假：出国考察"
    assert by_number["T006"].cells[0].detail == "08:55 签到（手动补签：戴口罩未识别）"
    assert by_number["T006"].cells[1].detail == "14:20 签到；16:00 中途退场"

    # per meeting: (expected, attended, leave, absent, late, manual, left)
    per_meeting = {
        m.id: (
            m.counts.expected,
            m.counts.attended,
            m.counts.leave,
            m.counts.absent,
            m.counts.late,
            m.counts.manual,
            m.counts.left,
        )
        for m in report.meetings
    }
    assert per_meeting == {
        town.meetings["1-1"]: (42, 38, 0, 4, 0, 1, 0),
        town.meetings["1-2"]: (42, 40, 0, 2, 1, 0, 1),
        town.meetings["2-1"]: (43, 39, 2, 2, 1, 0, 0),
        town.meetings["2-2"]: (43, 39, 1, 3, 0, 0, 0),
        town.meetings["3-1"]: (42, 40, 0, 2, 0, 0, 0),
        town.meetings["3-2"]: (42, 41, 0, 1, 0, 0, 0),
    }
    assert report.meetings[0].counts.rate == pytest.approx(38 / 42)
    assert report.meetings[0].counts.rate_label == "90.5%"
    total = report.total
    assert (total.expected, total.attended) == (254, 237)
    assert total.rate == pytest.approx(237 / 254)

    # sessions under the default rule (any_plenary): expected, attended, leave, absent
    per_session = {
        s.title: (s.counts.expected, s.counts.attended, s.counts.leave, s.counts.absent)
        for s in report.sessions
    }
    assert per_session == {S1: (42, 40, 0, 2), S2: (43, 39, 1, 3), S3: (42, 41, 0, 1)}
    assert report.sessions[1].counts.rate_label == "90.7%"
    outcome = {row.number: [s.mark for s in row.sessions] for row in report.rows}
    assert outcome["T003"] == ["attended", "attended", "absent"]  # came late to plenary 2
    assert outcome["T004"] == ["attended", "leave", "attended"]
    assert outcome["T005"] == ["attended", "absent", "attended"]  # leave, then absent
    assert outcome["T008"] == ["attended", "attended", "attended"]
    assert outcome[ELECTED] == ["none", "absent", "attended"]
    assert outcome[RETIRED] == ["attended", "attended", "none"]

    flags = {f.number: (f.flag_label, f.sessions) for f in report.flags}
    assert flags == {
        "T002": ("资格终止风险", [S1, S2]),
        "T001": ("提醒", [S1]),
        "T003": ("提醒", [S3]),
        "T005": ("提醒", [S2]),
        ELECTED: ("提醒", [S2]),
    }
    assert [f.number for f in report.flags][0] == "T002"  # the two-absence flag first
    assert by_number["T002"].counts.absent == 4 and by_number["T002"].flag == "at_risk"
    assert (by_number["T004"].counts.expected, by_number["T004"].counts.leave) == (6, 2)
    assert (by_number[ELECTED].counts.expected, by_number[RETIRED].counts.expected) == (4, 4)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            "all_plenaries",  # any plenary missed without leave loses the session
            {
                "T001": ("提醒", [S1]),
                "T002": ("资格终止风险", [S1, S2]),
                "T003": ("资格终止风险", [S1, S3]),
                "T005": ("提醒", [S2]),
                "T008": ("提醒", [S3]),
                RETIRED: ("提醒", [S1]),
                ELECTED: ("提醒", [S2]),
            },
        ),
        (
            "majority",  # more than half of the plenaries missed without leave
            {
                "T001": ("提醒", [S1]),
                "T002": ("资格终止风险", [S1, S2]),
                "T003": ("提醒", [S3]),
                ELECTED: ("提醒", [S2]),
            },
        ),
    ],
)
def test_the_session_rule_is_a_setting(
    session: Session, town: Township, rule: str, expected: dict[str, tuple[str, list[str]]]
) -> None:
    report = history.term_report(session, town.term_id, zone=ZONE, rule=rule, as_of=AS_OF)
    assert {f.number: (f.flag_label, f.sessions) for f in report.flags} == expected


def test_filters_narrow_the_matrix_but_not_the_flags(session: Session, town: Township) -> None:
    second = history.term_report(
        session,
        town.term_id,
        zone=ZONE,
        as_of=AS_OF,
        filters=ReportFilter(congress_session_id=town.session_ids[1]),
    )
    assert [m.id for m in second.meetings] == [town.meetings["2-1"], town.meetings["2-2"]]
    assert len(second.rows) == 43
    assert second.total.expected == 86 and second.total.absent == 5
    assert {f.number for f in second.flags} == {"T001", "T002", "T003", "T005", ELECTED}
    from datetime import date

    spring = history.term_report(
        session,
        town.term_id,
        zone=ZONE,
        as_of=AS_OF,
        filters=ReportFilter(date_from=date(2026, 1, 1), date_to=date(2026, 12, 31)),
    )
    assert [m.id for m in spring.meetings] == [town.meetings["3-1"], town.meetings["3-2"]]
    retired_row = next(r for r in spring.rows if r.number == RETIRED)
    assert [c.symbol for c in retired_row.cells] == ["—", "—"]


def test_deputy_records_show_only_the_mandate(session: Session, town: Township) -> None:
    elected = history.deputy_record(session, ELECTED, zone=ZONE, as_of=AS_OF)
    assert [ln.meeting_id for ln in elected.lines] == [town.meetings[k] for k in KEYS[2:]]
    assert [ln.label for ln in elected.lines] == ["缺席", "缺席", "出席", "出席"]
    assert [s.label for s in elected.sessions] == ["—", "未经批准缺席", "出席"]
    assert (elected.flag_label, elected.absent_sessions) == ("提醒", [S2])
    assert elected.mandate == "2025-06-01 补选"
    retired = history.deputy_record(session, RETIRED, zone=ZONE, as_of=AS_OF)
    assert [ln.meeting_id for ln in retired.lines] == [town.meetings[k] for k in KEYS[:4]]
    assert retired.status == "已离任" and retired.counts.expected == 4
    late = history.deputy_record(session, "T003", term_id=town.term_id, zone=ZONE, as_of=AS_OF)
    assert late.lines[1].label == "迟到" and late.lines[1].checked_in_at is not None
    assert late.lines[1].checked_in_at.strftime("%H:%M") == "14:50"
    left = history.deputy_record(session, "T006", zone=ZONE, as_of=AS_OF)
    assert left.lines[1].left_at is not None and left.lines[1].left_at.strftime("%H:%M") == "16:00"
    assert left.lines[0].method_label == "手动补签"
    assert left.lines[0].manual_reason == "戴口罩未识别"
