"""Quorum arithmetic: pure, from roster, check-ins and leave to the counts and the announcement.

Rules (DESIGN.md, 地方组织法 第十四条):
- N (应到) is the number of deputies on the roster (role deputy) who are seated; retired
  deputies and 列席/staff never count toward N or toward 实到.
- 实到 (present) = deputies with a check-in that is not undone and who have not left.
  A deputy who left during the sitting (中途退场) is **no longer present for quorum**: the
  chair must be able to rely on the number in the hall, so 实到 excludes them, they are
  counted in `left_early`, and — since they are neither present nor on leave — in 缺席.
  After a return (left_at cleared) they count as present again.
- 请假 (on leave) = approved leave and not present; a deputy on leave who checks in counts
  as present, not on leave.
- 缺席 = 应到 − 实到 − 请假 (never negative), so the announcement always adds up.
- 迟到 = deputies whose active check-in was after the start time (including those who left).
- Required count: two_thirds → ceil(2N/3) (以上 includes the number itself: 43 → 29),
  majority → floor(N/2) + 1, custom p/q → ceil(N·p/q). With N = 0 the quorum is never met.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

TWO_THIRDS = "two_thirds"
MAJORITY = "majority"
CUSTOM = "custom"
RULES = (TWO_THIRDS, MAJORITY, CUSTOM)


class QuorumRuleError(ValueError):
    """A quorum rule or custom fraction that makes no sense."""


@dataclass(frozen=True)
class Rule:
    """The quorum rule of a meeting; `numerator/denominator` only for custom."""

    kind: str = TWO_THIRDS
    numerator: int | None = None
    denominator: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in RULES:
            raise QuorumRuleError(f"unknown quorum rule {self.kind!r} (two_thirds/majority/custom)")
        if self.kind == CUSTOM:
            p, q = self.numerator, self.denominator
            if p is None or q is None or q <= 0 or p <= 0 or p > q:
                raise QuorumRuleError("自定义比例必须满足 0 < 分子 ≤ 分母 (custom fraction p/q)")

    @property
    def label(self) -> str:
        """The rule as the secretariat says it."""
        if self.kind == TWO_THIRDS:
            return "全体代表三分之二以上"
        if self.kind == MAJORITY:
            return "全体代表过半数"
        return f"全体代表{self.numerator}/{self.denominator}以上"


def required_count(rule: str, n: int, fraction: tuple[int, int] | None = None) -> int:
    """Deputies needed for a quorum of `n` seated deputies.

    Args:
        rule: two_thirds, majority or custom.
        n: seated deputies on the roster (N), ≥ 0.
        fraction: (numerator, denominator) for custom.
    Returns:
        ceil(2n/3), floor(n/2)+1 or ceil(n·p/q); integer arithmetic, no float rounding.
    """
    if n < 0:
        raise QuorumRuleError("N must not be negative")
    r = Rule(rule, *(fraction or (None, None)))
    if r.kind == TWO_THIRDS:
        return -(-2 * n // 3)
    if r.kind == MAJORITY:
        return n // 2 + 1 if n > 0 else 0
    assert r.numerator is not None and r.denominator is not None
    return -(-n * r.numerator // r.denominator)


@dataclass(frozen=True)
class RosterPerson:
    """One roster entry as the quorum sees it."""

    deputy_id: int
    role: str = "deputy"  # deputy / nonvoting (列席) / staff
    seated: bool = True
    on_leave: bool = False
    left_at: datetime | None = None


@dataclass(frozen=True)
class CheckIn:
    """One attendance row; undone rows are ignored."""

    deputy_id: int
    checked_in_at: datetime
    late: bool = False
    undone: bool = False


@dataclass(frozen=True)
class QuorumStatus:
    """The counts, the required number and the announcement of one meeting."""

    expected: int
    present: int
    on_leave: int
    absent: int
    late: int
    left_early: int
    nonvoting_expected: int
    nonvoting_present: int
    rule: str
    required: int
    quorum_met: bool
    announcement: str


def announcement(*, expected: int, present: int, on_leave: int, absent: int, met: bool) -> str:
    """The sentence the chair reads."""
    verdict = "符合法定人数" if met else "不符合法定人数"
    return (
        f"本次会议应到代表{expected}名，实到{present}名，请假{on_leave}名，"
        f"缺席{absent}名，{verdict}。"
    )


def compute_status(
    roster: Iterable[RosterPerson], checkins: Iterable[CheckIn], rule: Rule
) -> QuorumStatus:
    """The counts, the required number and the announcement for one meeting."""
    active = {c.deputy_id: c for c in checkins if not c.undone}
    expected = present = on_leave = late = left_early = 0
    nv_expected = nv_present = 0
    for p in roster:
        checked = active.get(p.deputy_id)
        if p.role == "nonvoting":
            nv_expected += 1
            nv_present += checked is not None and p.left_at is None
            continue
        if p.role != "deputy" or not p.seated:
            continue
        expected += 1
        if checked is None:
            on_leave += p.on_leave
            continue
        late += checked.late
        if p.left_at is not None:
            left_early += 1
        else:
            present += 1
    absent = max(0, expected - present - on_leave)
    fraction = (rule.numerator, rule.denominator) if rule.kind == CUSTOM else None
    required = required_count(rule.kind, expected, fraction)  # type: ignore[arg-type]
    met = expected > 0 and present >= required
    return QuorumStatus(
        expected=expected,
        present=present,
        on_leave=on_leave,
        absent=absent,
        late=late,
        left_early=left_early,
        nonvoting_expected=nv_expected,
        nonvoting_present=nv_present,
        rule=rule.kind,
        required=required,
        quorum_met=met,
        announcement=announcement(
            expected=expected, present=present, on_leave=on_leave, absent=absent, met=met
        ),
    )
