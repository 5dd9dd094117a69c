"""What an account may see and change: the whole body tree, or some bodies and their descendants.

A `Scope` is passed explicitly into every service read and write that touches a body's
resources (meetings, rosters, deputies, kiosks, audit, sheets). Out-of-scope resources are
answered as if they did not exist (`NotFound`), so a township's account learns nothing about
another township's meetings or deputies. The command line acts with `Scope.everything()`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, false, insert, select, true
from sqlalchemy.orm import Session

from checkin.errors import InvalidInput, NotFound
from models import Body, User, user_bodies


@dataclass(frozen=True)
class Scope:
    """`body_ids` None: every body; else the bodies covered (given ones plus descendants)."""

    body_ids: frozenset[int] | None

    @classmethod
    def everything(cls) -> Scope:
        return cls(None)

    @property
    def whole_tree(self) -> bool:
        return self.body_ids is None

    def covers(self, body_id: int | None) -> bool:
        """A body-less resource (legacy deputies, unbound kiosks) only for the whole tree."""
        if self.body_ids is None:
            return True
        return body_id is not None and body_id in self.body_ids

    def check(self, body_id: int | None, what: str = "资源") -> None:
        """NotFound (never 403: existence is not leaked) unless the scope covers `body_id`."""
        if not self.covers(body_id):
            raise NotFound(f"没有这个{what} (not found)")

    def where(self, column: Any) -> ColumnElement[bool]:
        """A SQL condition limiting `column` (a body id column) to the scope."""
        if self.body_ids is None:
            return true()
        if not self.body_ids:
            return false()
        condition: ColumnElement[bool] = column.in_(sorted(self.body_ids))
        return condition


def descendants(session: Session, roots: Iterable[int]) -> frozenset[int]:
    """The given bodies and every body below them in the tree."""
    parent_of = dict(session.execute(select(Body.id, Body.parent_id)).all())
    children: dict[int, list[int]] = {}
    for child, parent in parent_of.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    out: set[int] = set()
    stack = [r for r in roots if r in parent_of]
    while stack:
        b = stack.pop()
        if b not in out:
            out.add(b)
            stack.extend(children.get(b, ()))
    return frozenset(out)


def granted_bodies(session: Session, user_id: int) -> list[int]:
    """The bodies written in an account's scope (without descendants)."""
    rows = session.scalars(select(user_bodies.c.body_id).where(user_bodies.c.user_id == user_id))
    return sorted(rows)


def scope_of(session: Session, user: User) -> Scope:
    """The account's scope, read now (a change of scope applies at the next request)."""
    if user.all_bodies:
        return Scope.everything()
    return Scope(descendants(session, granted_bodies(session, user.id)))


def set_scope(session: Session, user: User, body_ids: Iterable[int] | None) -> None:
    """Give the account the whole tree (None) or these bodies (at least one, all existing)."""
    session.execute(delete(user_bodies).where(user_bodies.c.user_id == user.id))
    if body_ids is None:
        user.all_bodies = True
        session.flush()
        return
    wanted = sorted(set(body_ids))
    if not wanted:
        raise InvalidInput("请至少选择一个会议机构，或选择全部 (give at least one body)")
    known = set(session.scalars(select(Body.id).where(Body.id.in_(wanted))))
    missing = [b for b in wanted if b not in known]
    if missing:
        raise NotFound(f"没有这个会议机构 (no body {missing[0]})")
    user.all_bodies = False
    session.flush()
    session.execute(insert(user_bodies), [{"user_id": user.id, "body_id": b} for b in wanted])
    session.flush()


def within(outer: Scope, inner: Scope) -> bool:
    """Whether `inner` is no wider than `outer` (an admin grants only what it has)."""
    if outer.body_ids is None:
        return True
    return inner.body_ids is not None and inner.body_ids <= outer.body_ids
