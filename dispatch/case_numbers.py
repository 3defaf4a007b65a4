"""Case numbers: the day (Asia/Shanghai, ``YYYYMMDD``) and that day's sequence, ``2026112200042``.

Numbers are unique and sort by when they were drawn; they are not gapless (a retry that loses
to its first submission, or a rolled-back transaction, leaves its number unused).

Where the sequence comes from depends on the database:

- **PostgreSQL**: a sequence per day, ``case_no_YYYYMMDD``, made the first time a process
  numbers a case that day. Drawing from a sequence takes no lock. The day's counter row it
  replaced was locked by every intake from its update until its commit, so concurrent intakes
  queued on it: with 4 writers running the intake statement alone, PostgreSQL spent 0.61 ms of
  CPU per intake with the row and 0.49 ms with the sequence, and took 1,450 intakes/s against
  2,250/s (``bench/README.md``, intake).
  A day that began numbering with the counter row (the day this was deployed) continues from
  it. ``drop_old_day_sequences`` removes the sequences of past days (a daily job).
- **Elsewhere (SQLite)**: the ``case_counter`` row of the day, incremented atomically by an
  upsert in the caller's transaction (SQLite has one writer at a time anyway).
"""

from __future__ import annotations

import re
import threading
import weakref
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, Engine, Table, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.db import autocommit_engine
from core.i18n import SHANGHAI
from dispatch.models.counters import CaseCounter

#: Name of a day's sequence on PostgreSQL; the day is 8 digits, never user input.
SEQUENCE_PREFIX = "case_no_"
_SEQUENCE_NAME = re.compile(rf"^{SEQUENCE_PREFIX}(\d{{8}})$")
#: SQLSTATEs of "it exists already": a concurrent CREATE ... IF NOT EXISTS can still collide.
_EXISTS_ALREADY = {"23505", "42P07"}

#: Per engine, the day sequences this process knows exist (checked once per day and process).
_known: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()
_known_lock = threading.Lock()


def day_of(now: datetime) -> str:
    """The numbering day of an instant: its date in Asia/Shanghai, ``YYYYMMDD``."""
    return now.astimezone(SHANGHAI).strftime("%Y%m%d")


def bump_day_counter(session: Session, table: Table, day: str) -> int:
    """Increment ``day``'s row of a counter table (``day``, ``last``) and return the new value;
    the row is made at 1. Atomic under concurrent writers: one upsert in the session's
    transaction, whose row lock holds the next writer until this one commits."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (  # Core, not ORM-enabled DML: this runs on every intake
        insert(table)
        .values(day=day, last=1)
        .on_conflict_do_update(index_elements=["day"], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
    return session.connection().execute(stmt).scalar_one()


def next_case_number(session: Session, now: datetime) -> str:
    """The next number from the day's counter row (SQLite; atomic under concurrent intake)."""
    day = day_of(now)
    return f"{day}{bump_day_counter(session, CaseCounter.__table__, day):05d}"


def day_sequence(engine: Engine, day: str) -> str:
    """The name of ``day``'s number sequence on PostgreSQL, made if it does not exist yet.

    It is made on a connection of its own (autocommitted): a sequence is not part of any
    intake's transaction, and two processes making it at the same moment both succeed.
    """
    if not (len(day) == 8 and day.isdigit()):
        raise ValueError(f"not a numbering day: {day!r}")
    name = SEQUENCE_PREFIX + day
    with _known_lock:
        known = _known.setdefault(engine, set())
        if name in known:
            return name
    with autocommit_engine(engine).connect() as conn:
        # A day that began numbering with its counter row goes on from it; a sequence dropped
        # by hand during its day goes on after the day's last number.
        counted = conn.execute(select(CaseCounter.last).where(CaseCounter.day == day)).scalar()
        # By creation time (a case is numbered on the day it is created): a range of the
        # created_at index whatever the database's collation does with the numbers' text.
        start_at = datetime.strptime(day, "%Y%m%d").replace(tzinfo=SHANGHAI)
        numbered = conn.execute(
            text(
                "SELECT max(substr(number, 9)::bigint) FROM case_file"
                " WHERE created_at >= :start AND created_at < :end AND number LIKE :prefix"
            ),
            {"start": start_at, "end": start_at + timedelta(days=1), "prefix": day + "%"},
        ).scalar()
        start = max(counted or 0, numbered or 0) + 1
        try:
            conn.exec_driver_sql(
                f"CREATE SEQUENCE IF NOT EXISTS {name} AS bigint START WITH {start}"
            )
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) not in _EXISTS_ALREADY:
                raise
    with _known_lock:
        known.add(name)
    return name


def forget_day_sequence(engine: Engine, name: str) -> None:
    """Stop trusting that sequence ``name`` exists (someone dropped it): made again next time."""
    with _known_lock:
        _known.get(engine, set()).discard(name)


def drop_old_day_sequences(conn: Connection, today: date, keep_days: int = 7) -> list[str]:
    """Drop the number sequences of days more than ``keep_days`` before ``today``; their names.

    Nothing numbers cases on a past day, so their sequences are only clutter. A few recent
    days are kept for processes whose clocks lag. This process forgets the dropped ones (made
    again if ever used). Does nothing on other databases.
    """
    if conn.dialect.name != "postgresql":
        return []
    cutoff = (today - timedelta(days=keep_days)).strftime("%Y%m%d")
    names = conn.execute(
        text("SELECT relname FROM pg_class WHERE relkind = 'S' AND relname LIKE :prefix"),
        {"prefix": SEQUENCE_PREFIX + "%"},
    ).scalars()
    dropped = []
    for name in sorted(names):
        match = _SEQUENCE_NAME.match(name)
        if match and match.group(1) < cutoff:
            conn.exec_driver_sql(f"DROP SEQUENCE IF EXISTS {name}")
            forget_day_sequence(conn.engine, name)
            dropped.append(name)
    return dropped
