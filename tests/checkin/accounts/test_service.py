"""Accounts without the web: the last admin under concurrency, the address throttle's window,
session tokens and their versions."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, select

from checkin.accounts.service import (
    TokenSigner,
    create_user,
    get_user_by_name,
    revoke_tokens,
    set_active,
    user_for_token,
)
from checkin.accounts.throttle import AddressThrottle
from checkin.audit import Actor
from checkin.errors import Conflict, TooManyAttempts
from models import Role, User
from models.db import make_session_factory, session_scope


def test_two_admins_deactivating_each_other_at_once_leave_one(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with session_scope(factory) as s:
        for name in ("a-admin", "b-admin"):
            create_user(s, username=name, password="long-password-1", role=Role.ADMIN)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def deactivate(name: str) -> None:
        barrier.wait()
        try:
            with session_scope(factory) as s:
                set_active(s, user=get_user_by_name(s, name), active=False, actor=Actor("t"))
            outcomes.append("done")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=deactivate, args=(n,)) for n in ("a-admin", "b-admin")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "done"]
    with factory() as s:
        assert len(s.scalars(select(User).where(User.active)).all()) == 1


def test_the_address_throttle_forgets_failures_older_than_its_window() -> None:
    now = [1000.0]
    throttle = AddressThrottle(max_failures=3, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        throttle.check("10.0.0.1")
        throttle.failed("10.0.0.1")
        now[0] += 10
    with pytest.raises(TooManyAttempts) as refused:
        throttle.check("10.0.0.1")
    assert refused.value.retry_after == 30  # the oldest failure (at 1000) leaves at 1060
    throttle.check("10.0.0.2")  # other addresses are not affected
    now[0] = 1061
    throttle.check("10.0.0.1")


def test_a_token_is_valid_until_its_account_revokes_it(engine: Engine) -> None:
    signer = TokenSigner("a-secret-key-for-tests")
    with session_scope(make_session_factory(engine)) as s:
        user = create_user(s, username="clerk", password="long-password-1", role=Role.SECRETARIAT)
        token = signer.issue(user)
        assert user_for_token(s, signer, token) is user
        assert user_for_token(s, TokenSigner("another-secret-key"), token) is None
        assert signer.read(token[:-2] + "xx") is None
        revoke_tokens(user)
        s.flush()
        s.refresh(user)
        assert user_for_token(s, signer, token) is None
        assert user_for_token(s, signer, signer.issue(user)) is user
    assert signer.csrf_ok(token, signer.csrf_token(token))
    assert not signer.csrf_ok(token, signer.csrf_token(token + "x"))
