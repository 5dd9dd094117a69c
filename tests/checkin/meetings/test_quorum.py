"""Quorum arithmetic at the boundaries, with synthetic rosters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from checkin.meetings.quorum import (
    CheckIn,
    QuorumRuleError,
    RosterPerson,
    Rule,
    compute_status,
    required_count,
)

T = datetime(2026, 12, 1, 8, 50, tzinfo=UTC)


@pytest.mark.parametrize(("n", "need"), [(43, 29), (120, 80), (3, 2), (1, 1), (2, 2), (6, 4)])
def test_two_thirds_includes_the_number_itself(n: int, need: int) -> None:
    assert required_count("two_thirds", n) == need


@pytest.mark.parametrize(("n", "need"), [(43, 22), (44, 23), (1, 1), (2, 2), (120, 61)])
def test_majority_is_more_than_half(n: int, need: int) -> None:
    assert required_count("majority", n) == need


def test_custom_fraction_and_bad_fractions() -> None:
    assert required_count("custom", 43, (3, 5)) == 26  # 25.8 → 26
    assert required_count("custom", 40, (3, 4)) == 30  # exact
    for bad in [(0, 3), (4, 3), (1, 0)]:
        with pytest.raises(QuorumRuleError):
            required_count("custom", 10, bad)
    with pytest.raises(QuorumRuleError):
        Rule("custom")
    with pytest.raises(QuorumRuleError):
        Rule("three_quarters")


def _meeting(n: int, present: int, leave: int = 0) -> tuple[list[RosterPerson], list[CheckIn]]:
    roster = [RosterPerson(i, on_leave=present <= i < present + leave) for i in range(n)]
    return roster, [CheckIn(i, T) for i in range(present)]


def test_the_announcement_of_the_issue() -> None:
    roster, checkins = _meeting(43, 40, leave=2)
    s = compute_status(roster, checkins, Rule())
    assert (s.expected, s.present, s.on_leave, s.absent) == (43, 40, 2, 1)
    assert s.required == 29 and s.quorum_met
    assert s.announcement == "本次会议应到代表43名，实到40名，请假2名，缺席1名，符合法定人数。"


def test_one_short_of_the_line_is_not_a_quorum() -> None:
    roster, checkins = _meeting(43, 28, leave=5)
    s = compute_status(roster, checkins, Rule())
    assert not s.quorum_met and (s.on_leave, s.absent) == (5, 10)
    assert s.announcement.endswith("缺席10名，不符合法定人数。")
    s = compute_status(*_meeting(43, 29), Rule())
    assert s.quorum_met


def test_majority_rule_on_the_same_roster() -> None:
    s = compute_status(*_meeting(43, 22), Rule("majority"))
    assert s.required == 22 and s.quorum_met and s.rule == "majority"
    assert not compute_status(*_meeting(43, 21), Rule("majority")).quorum_met


def test_leave_then_checkin_counts_as_present_not_leave() -> None:
    roster = [RosterPerson(1, on_leave=True), RosterPerson(2, on_leave=True), RosterPerson(3)]
    s = compute_status(roster, [CheckIn(1, T)], Rule())
    assert (s.present, s.on_leave, s.absent) == (1, 1, 1)


def test_nonvoting_staff_and_retired_never_count() -> None:
    roster = [
        RosterPerson(1),
        RosterPerson(2),
        RosterPerson(3),
        RosterPerson(10, role="nonvoting"),
        RosterPerson(11, role="nonvoting"),
        RosterPerson(12, role="staff"),
        RosterPerson(13, seated=False),
    ]
    checkins = [CheckIn(i, T) for i in (1, 10, 12, 13)]
    s = compute_status(roster, checkins, Rule())
    assert (s.expected, s.present, s.absent, s.required) == (3, 1, 2, 2)
    assert (s.nonvoting_expected, s.nonvoting_present) == (2, 1)
    assert not s.quorum_met
    s = compute_status(roster, [*checkins, CheckIn(2, T)], Rule())
    assert s.quorum_met


def test_undo_and_departure_change_the_counts() -> None:
    roster = [RosterPerson(i) for i in range(3)]
    checkins = [CheckIn(0, T, late=True), CheckIn(1, T), CheckIn(2, T, undone=True)]
    s = compute_status(roster, checkins, Rule())
    assert (s.present, s.absent, s.late, s.left_early, s.quorum_met) == (2, 1, 1, 0, True)
    roster[0] = RosterPerson(0, left_at=T)
    s = compute_status(roster, checkins, Rule())
    # a departed deputy is no longer present for quorum; the sentence still adds up
    assert (s.present, s.absent, s.late, s.left_early, s.quorum_met) == (1, 2, 1, 1, False)
    assert s.announcement == "本次会议应到代表3名，实到1名，请假0名，缺席2名，不符合法定人数。"


def test_empty_roster_is_never_a_quorum() -> None:
    s = compute_status([], [], Rule())
    assert s.expected == 0 and not s.quorum_met
