"""On PostgreSQL: pooled connections are checked only after idling, and a dead one is replaced.

The pool does not ping on every checkout (a round trip per request); a connection that idled
longer than ``core.db.PING_AFTER_IDLE_SECONDS`` is pinged first, and one whose server process
went away (a database restart, a cut network) is replaced without the request noticing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

import core.db
from core.db import make_engine

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    if not database_url.startswith("postgresql"):
        pytest.skip("needs DATABASE_URL=postgresql+psycopg://… (CI's 2nd run)")
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(engine: Engine, pid: int) -> None:
    with engine.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.commit()


def test_a_connection_killed_while_idle_is_replaced(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = _backend_pid(engine)
    other = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        _terminate(other, pid)
    finally:
        other.dispose()
    monkeypatch.setattr(core.db, "PING_AFTER_IDLE_SECONDS", 0.0)  # it has idled "long enough"
    assert _backend_pid(engine) != pid  # pinged, found dead, replaced: the caller saw nothing


def test_a_hot_connection_is_not_pinged(engine: Engine) -> None:
    """The price of no ping: a server gone within the idle window fails one use, then the
    pool starts afresh (SQLAlchemy invalidates it on the disconnect)."""
    pid = _backend_pid(engine)
    other = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        _terminate(other, pid)
    finally:
        other.dispose()
    with pytest.raises(DBAPIError) as failed:
        _backend_pid(engine)
    assert failed.value.connection_invalidated
    assert _backend_pid(engine) != pid
