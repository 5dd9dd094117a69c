"""`baodao body create --parent`, `user create --body`, `deputy move`: the body tree and scoped
accounts from the command line."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from checkin.accounts.scope import granted_bodies, scope_of
from models import AuditEvent, Body, Deputy, User
from models.db import make_engine, make_session_factory
from tests.checkin.cli.test_cli import run


def test_body_tree_scoped_account_and_deputy_move(tmp_path: Path) -> None:
    env = {
        "BAODAO_DATA_DIR": str(tmp_path / "var"),
        "BAODAO_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'baodao.db'}",
    }
    for args in (
        ["body", "create", "县人大"],
        ["body", "create", "甲镇人大", "--parent", "县人大"],
        ["body", "create", "甲镇主席团", "--kind", "presidium", "--parent", "甲镇人大"],
        ["body", "create", "乙镇人大", "--parent", "县人大"],
    ):
        r = run(args, env, tmp_path)
        assert r.returncode == 0, r.stderr
    listing = run(["body", "list"], env, tmp_path).stdout
    assert "\t  甲镇人大" in listing and "\t    甲镇主席团" in listing  # indented by depth
    r = run(["user", "create", "jia", "--role", "secretariat", "--body", "甲镇人大"], env,
            tmp_path, stdin="pass-word-12\n")  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = run(["user", "create", "x", "--role", "admin", "--body", "丙镇"], env, tmp_path,
            stdin="pass-word-12\n")  # fmt: skip
    assert r.returncode == 2 and "没有这个会议机构" in r.stderr
    engine = make_engine(env["BAODAO_DATABASE_URL"])
    with make_session_factory(engine)() as s:
        bodies = {b.name: b.id for b in s.scalars(select(Body))}
        jia = s.scalar(select(User).where(User.username == "jia"))
        assert jia is not None and not jia.all_bodies
        assert granted_bodies(s, jia.id) == [bodies["甲镇人大"]]
        scope = scope_of(s, jia)  # the body and everything below it, nothing else
        assert scope.body_ids == {bodies["甲镇人大"], bodies["甲镇主席团"]}
        s.add(Deputy(number="7", name="甲七", body_id=bodies["甲镇人大"]))
        s.commit()
    r = run(["deputy", "move", "7", "--body", "乙镇人大"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    with make_session_factory(engine)() as s:
        d = s.scalar(select(Deputy).where(Deputy.number == "7"))
        assert d is not None and d.body_id == bodies["乙镇人大"]
        moved = s.scalar(select(AuditEvent).where(AuditEvent.action == "deputy.move"))
        assert moved is not None and moved.detail == {
            "from_body_id": bodies["甲镇人大"],
            "to_body_id": bodies["乙镇人大"],
        }
    engine.dispose()
