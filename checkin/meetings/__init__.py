"""The secretariat's domain: bodies, meetings, rosters, attendance, quorum, status, reports.

`service` changes things (each change audited in the caller's transaction), `attendance`
records check-ins and undo, `quorum` is the pure arithmetic, `status` reads a meeting's state
as typed data, `reports` builds the sheet, `events` names what changed (published after the
commit). The term record: `terms` (terms, sessions, attached meetings, mandates), `outcomes`
(its rules, pure), `history` (the term report and a deputy's record), `xlsx` (print-ready
sheets), `plots` (the attendance plot).
"""
