"""The attendance plot of a term: per meeting, the share attended, on leave and absent (PNG/SVG).

matplotlib without pyplot (a Figure per call: safe in the web server's threads); Chinese labels
need a CJK font (Debian's fonts-noto-cjk, installed by `make system-deps`).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Literal

from checkin.meetings.history import TermReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FONTS = ["Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "DejaVu Sans"]
COLOURS = {"attended": "#2e8b57", "leave": "#e0a800", "absent": "#c0392b"}


def _figure(report: TermReport) -> Figure:
    from matplotlib.figure import Figure  # imported on first use: ≈0.5 s every command would pay

    meetings = report.meetings
    fig = Figure(figsize=(max(6.0, 0.32 * len(meetings) + 3), 3.6), dpi=110)
    ax = fig.add_subplot()
    xs = list(range(len(meetings)))
    share: dict[str, list[float]] = {k: [] for k in COLOURS}
    for m in meetings:
        n = m.counts.expected or 1
        share["attended"].append(100 * m.counts.attended / n)
        share["leave"].append(100 * m.counts.leave / n)
        share["absent"].append(100 * m.counts.absent / n)
    bottom = [0.0] * len(meetings)
    for key, label in (("attended", "出席"), ("leave", "请假"), ("absent", "缺席")):
        ax.bar(xs, share[key], bottom=bottom, color=COLOURS[key], label=label, width=0.75)
        bottom = [b + v for b, v in zip(bottom, share[key], strict=True)]
    start = 0
    for s in report.sessions:  # a band label and a divider per session
        n = len(s.meeting_ids)
        if start:
            ax.axvline(start - 0.5, color="#555", linewidth=0.8, linestyle="--")
        ax.text(start + (n - 1) / 2, 103, s.title, ha="center", va="bottom", fontsize=8)
        start += n
    ax.set_xticks(xs, [f"{m.starts_at:%m-%d %H:%M}" for m in meetings], rotation=60, fontsize=7)
    ax.set_ylim(0, 112)
    ax.set_yticks([0, 25, 50, 75, 100], ["0", "25%", "50%", "75%", "100%"])
    ax.set_ylabel("占应出席代表")
    ax.set_title(f"{report.term.name} 各次会议出席情况", fontsize=11)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    # fixed margins in inches (tight_layout measured every label: half the plot's time)
    width = fig.get_figwidth()
    fig.subplots_adjust(left=0.75 / width, right=1 - 0.8 / width, top=0.86, bottom=0.25)
    return fig


def attendance_plot(report: TermReport, fmt: Literal["png", "svg"] = "png") -> bytes:
    """The plot as PNG or SVG bytes (SVG keeps its text as text: small, searchable)."""
    from matplotlib import rc_context

    with rc_context(
        {"font.sans-serif": FONTS, "font.family": "sans-serif", "svg.fonttype": "none"}
    ):
        fig = _figure(report)
        out = io.BytesIO()
        fig.savefig(out, format=fmt)
    return out.getvalue()
