"""Side effects leave only after the real commit: not on a SAVEPOINT, never after a rollback."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import text

from core.db import after_commit, database


def test_savepoints_do_not_run_or_drop_side_effects(app: Flask) -> None:
    ran: list[str] = []
    with database(app).new_session() as sess:
        after_commit(sess, lambda: ran.append("outer"))
        with sess.begin_nested():
            after_commit(sess, lambda: ran.append("inner"))
        assert ran == []  # the SAVEPOINT was released: nothing leaves yet
        try:
            with sess.begin_nested():
                raise RuntimeError("undo the savepoint")
        except RuntimeError:
            pass
        assert ran == []
        sess.commit()
    assert ran == ["outer", "inner"]


def test_rollback_drops_side_effects(app: Flask) -> None:
    ran: list[str] = []
    with database(app).new_session() as sess:
        sess.execute(text("SELECT 1"))  # side effects are queued by work inside a transaction
        after_commit(sess, lambda: ran.append("x"))
        sess.rollback()
        sess.commit()
    assert ran == []


def test_a_failing_side_effect_does_not_hide_the_commit(app: Flask) -> None:
    ran: list[str] = []

    def boom() -> None:
        raise ValueError("side effect failed")

    with database(app).new_session() as sess:
        after_commit(sess, boom)
        after_commit(sess, lambda: ran.append("next"))
        sess.commit()
    assert ran == ["next"]
