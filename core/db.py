"""The database: declarative base with named constraints, one engine and session factory per app.

Services take a ``Session`` argument, flush and never commit; whoever called them (a request, a
CLI command, a job) owns the transaction. ``session()`` hands out the current app context's session.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

#: Constraint names that are stable across backends, so migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def one_of(column: str, values: Any) -> str:
    """A CHECK constraint's text: ``column`` holds one of ``values`` (an enum's members)."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Base(DeclarativeBase):
    """Declarative base of every model in the project."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _make_sqlite_transactional(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, emit BEGIN (so SAVEPOINTs and locking behave as documented)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA busy_timeout = 10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` with the per-backend settings the project relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 10})
        _make_sqlite_transactional(engine)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=10)
    _ping_after_idle(engine)
    return engine


#: Each engine's autocommit sibling (see ``autocommit_engine``), made on first use.
_AUTOCOMMIT_SIBLINGS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_SIBLINGS_LOCK = threading.Lock()


def autocommit_engine(engine: Engine) -> Engine:
    """A sibling of ``engine`` (same database, a small pool of its own) whose connections run
    every statement as its own transaction: no BEGIN, no COMMIT, one round trip.

    For the single statements that are a whole unit of work by themselves (PostgreSQL intake).
    Its connections are never in a transaction, so they are not reset on return; keeping them
    apart from the session pool means a request holding a session connection can always get
    one of these (the two pools never wait on each other).
    """
    sibling = _AUTOCOMMIT_SIBLINGS.get(engine)
    if sibling is not None:
        return sibling
    with _SIBLINGS_LOCK:  # two threads' first intakes must not make two pools
        sibling = _AUTOCOMMIT_SIBLINGS.get(engine)
        if sibling is not None:
            return sibling
        sibling = create_engine(
            engine.url,
            isolation_level="AUTOCOMMIT",
            pool_size=2,
            max_overflow=10,
            pool_reset_on_return=None,
        )
        _ping_after_idle(sibling)
        _AUTOCOMMIT_SIBLINGS[engine] = sibling
        # Its connections are closed when the engine it serves goes away (not left to the GC).
        weakref.finalize(engine, sibling.dispose)
        return sibling


def _dispose_siblings_in_child() -> None:
    for sibling in list(_AUTOCOMMIT_SIBLINGS.values()):
        sibling.dispose(close=False)


os.register_at_fork(after_in_child=_dispose_siblings_in_child)

#: A pooled connection idle longer than this is pinged before use (see ``_ping_after_idle``).
PING_AFTER_IDLE_SECONDS = 5.0


def _ping_after_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it has been idle a while.

    ``pool_pre_ping`` would spend a round trip on every checkout (a sixth of an intake
    request's). A connection that came back a moment ago is alive unless the server went
    away in that moment, and then the request fails once and the pool starts afresh; one
    that idled through a database restart or a network cut is caught here and replaced
    (``DisconnectionError`` makes the pool retry with a new connection).
    """

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("checked_in_at")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_connection.rollback()
        except Exception as exc:
            raise DisconnectionError(f"pooled connection is gone: {exc}") from exc


class Database:
    """Per-app engine and session factory, kept in ``app.extensions['db']``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.bind: Engine | Connection = self.engine
        self._factory = sessionmaker(expire_on_commit=False)
        # A forked child (an RQ work horse) must not share the parent's pooled connections.
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _dispose_in_child(ref))

    def new_session(self) -> Session:
        """A fresh session (for CLI commands, jobs and tests); the caller closes it."""
        kwargs: dict[str, Any] = {"bind": self.bind}
        if isinstance(self.bind, Connection):
            # Tests run inside an outer transaction: commits become savepoint releases.
            kwargs["join_transaction_mode"] = "create_savepoint"
        return self._factory(**kwargs)

    @property
    def dialect_name(self) -> str:
        return self.engine.dialect.name

    def init_app(self, app: Flask) -> None:
        app.extensions["db"] = self
        # Per request (an app context can outlive several requests, e.g. in tests and CLI).
        app.teardown_request(_close_session)
        app.teardown_appcontext(_close_session)


def _dispose_in_child(ref: weakref.ref[Database]) -> None:
    db = ref()
    if db is not None:
        db.engine.dispose(close=False)


def _close_session(_exc: BaseException | None) -> None:
    sess = g.pop("_db_session", None)
    if sess is not None:
        sess.close()


def database(app: Flask | None = None) -> Database:
    """The ``Database`` of ``app`` (default: the current app)."""
    return (app or current_app).extensions["db"]


def session() -> Session:
    """The session of the current app context, created on first use and closed at teardown."""
    sess = g.get("_db_session")
    if sess is None:
        sess = database().new_session()
        g._db_session = sess
    return sess


def is_lock_race(exc: BaseException) -> bool:
    """SQLite's answer when a transaction that has read must write after another writer."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def retry_on_lock_race(view: Callable[..., Any]) -> Callable[..., Any]:
    """Re-run a write view when SQLite lost a lock race (WAL snapshot went stale).

    PostgreSQL waits on the row lock instead, so this never triggers there. On the retry the
    view sees the other writer's change: the workflow then answers with a clean conflict.
    """

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(6):
            try:
                return view(*args, **kwargs)
            except OperationalError as exc:
                if not is_lock_race(exc) or attempt == 5:
                    raise
                session().rollback()
                time.sleep(0.02 * 2**attempt)
        raise AssertionError("unreachable")

    return wrapped


def after_commit(sess: Session, fn: Callable[[], Any]) -> None:
    """Run ``fn`` once ``sess`` commits (dropped on rollback): side effects leave only then."""
    sess.info.setdefault("after_commit", []).append(fn)


@event.listens_for(Session, "after_commit")
def _run_after_commit(sess: Session) -> None:
    # SQLAlchemy also fires after_commit when a SAVEPOINT is released: wait for the real one.
    if sess.in_nested_transaction():
        return
    pending = sess.info.pop("after_commit", [])
    for fn in pending:
        try:
            fn()
        except Exception:  # a failed side effect must not undo or hide the committed change
            logging.getLogger(__name__).exception("after-commit side effect failed")


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(sess: Session) -> None:
    if sess.in_nested_transaction():
        return  # a SAVEPOINT rolled back: what was queued before it still stands
    sess.info.pop("after_commit", None)
