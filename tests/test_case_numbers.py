"""Case numbers: a day's sequence (PostgreSQL: a sequence per day; SQLite: the counter row).

Sequences live outside transactions, so the PostgreSQL tests use days no other test numbers
(in 2041) and remove what they commit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from sqlalchemy import Engine, create_engine, delete, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.db import database
from dispatch.access import Actor
from dispatch.case_numbers import (
    SEQUENCE_PREFIX,
    day_of,
    day_sequence,
    drop_old_day_sequences,
    forget_day_sequence,
)
from dispatch.intake import Report, create_case
from dispatch.models import Case, CaseCounter
from dispatch.models.cases import Source
from dispatch.models.people import Role
from tests.workflow_helpers import World, build_world, new_case


@pytest.fixture
def world(app: Flask, db_session: Session) -> Iterator[World]:
    with app.app_context():
        yield build_world(db_session)


def _sequences(engine: Engine, like: str) -> list[str]:
    with engine.connect() as conn:
        return sorted(
            conn.execute(
                text("SELECT relname FROM pg_class WHERE relkind = 'S' AND relname LIKE :n"),
                {"n": like},
            ).scalars()
        )


@pytest.fixture
def engine_2041(app: Flask) -> Iterator[Engine]:
    """The app's engine. Afterwards the 2041 sequences, counter rows and committed cases are
    removed: ask for it before ``db_session``, so this runs after the test's transaction has
    ended (a transaction that drew from a sequence keeps it from being dropped)."""
    engine = database(app).engine
    yield engine
    if engine.dialect.name != "postgresql":
        return
    names = _sequences(engine, f"{SEQUENCE_PREFIX}2041%")
    with engine.begin() as conn:
        for name in names:
            conn.exec_driver_sql(f"DROP SEQUENCE IF EXISTS {name}")
        conn.execute(delete(CaseCounter).where(CaseCounter.day.like("2041%")))
        conn.execute(delete(Case).where(Case.number.like("2041%")))
    for name in names:
        forget_day_sequence(engine, name)


@pytest.fixture
def pg_engine(engine_2041: Engine) -> Engine:
    if engine_2041.dialect.name != "postgresql":
        pytest.skip("needs DATABASE_URL=postgresql+psycopg://… (CI's 2nd run)")
    return engine_2041


def test_a_days_numbers_follow_each_other_and_the_next_day_starts_again(
    engine_2041: Engine, db_session: Session, world: World
) -> None:
    """On either database (on PostgreSQL, 2041-01-02/03 are days of their own sequences)."""
    day1 = datetime(2041, 1, 2, 3, 0, tzinfo=UTC)
    day2 = datetime(2041, 1, 3, 3, 0, tzinfo=UTC)
    first = [new_case(db_session, world, now=day1).number for _ in range(3)]
    second = new_case(db_session, world, now=day2).number
    assert first == ["2041010200001", "2041010200002", "2041010200003"]
    assert second == "2041010300001"


def test_a_day_that_began_with_the_counter_row_goes_on_from_it(
    pg_engine: Engine, db_session: Session, world: World
) -> None:
    """The day the sequences were deployed: numbers continue after the counter's last."""
    with pg_engine.begin() as conn:
        conn.execute(CaseCounter.__table__.insert().values(day="20410105", last=41))
    case = new_case(db_session, world, now=datetime(2041, 1, 5, 3, 0, tzinfo=UTC))
    assert case.number == "2041010500042"


def test_processes_making_the_same_days_sequence_at_once_all_succeed(
    pg_engine: Engine,
) -> None:
    """Eight engines (as eight processes: nothing cached) make one day's sequence together."""
    url = pg_engine.url.render_as_string(hide_password=False)
    engines = [create_engine(url) for _ in range(8)]
    start = threading.Barrier(len(engines))
    names: list[str] = []
    errors: list[BaseException] = []

    def make(engine: Engine) -> None:
        start.wait()
        try:
            names.append(day_sequence(engine, "20410106"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=make, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for engine in engines:
        engine.dispose()
    assert not errors and names == ["case_no_20410106"] * 8
    assert _sequences(pg_engine, "case_no_20410106") == ["case_no_20410106"]
    with pg_engine.connect() as conn:
        drawn = [conn.scalar(text("SELECT nextval('case_no_20410106')")) for _ in range(3)]
    assert drawn == [1, 2, 3]


def test_a_dropped_sequence_fails_one_intake_then_goes_on_after_the_days_last_number(
    app: Flask, pg_engine: Engine, world: World
) -> None:
    """Committed intakes (their own transactions), as the API makes them."""
    when = datetime(2041, 1, 7, 3, 0, tzinfo=UTC)

    def intake() -> str:
        report = Report(
            source=Source.API, description="井盖缺失", lng=world.grid.lng, lat=world.grid.lat
        )
        with app.app_context(), Session(pg_engine) as own:
            case, _ = create_case(own, report, Actor(None, Role.ADMIN), now=when, commit=True)
            return case.number

    assert intake() == "2041010700001"
    with pg_engine.begin() as conn:
        conn.exec_driver_sql("DROP SEQUENCE case_no_20410107")  # by hand, under the process
    with pytest.raises(DBAPIError):
        intake()
    assert intake() == "2041010700002"  # made again, after the day's last number


def test_the_daily_tidy_drops_past_days_sequences_only(pg_engine: Engine) -> None:
    """The tidy of 2041-01-15 also drops the sequences other tests made for earlier days
    (today's among them): this process forgets them, and makes them again when it next
    numbers a case on their day."""
    for day in ("20410101", "20410107", "20410108", "20410115"):
        day_sequence(pg_engine, day)
    with pg_engine.begin() as conn:
        dropped = drop_old_day_sequences(conn, date(2041, 1, 15), keep_days=7)
    assert {"case_no_20410101", "case_no_20410107"} <= set(dropped)  # more than 7 days before
    assert all(name < "case_no_20410108" for name in dropped)
    assert _sequences(pg_engine, "case_no_%") == ["case_no_20410108", "case_no_20410115"]
    today = day_of(datetime.now(UTC))
    assert day_sequence(pg_engine, today) == f"case_no_{today}"  # made again: not "known"
    assert f"case_no_{today}" in _sequences(pg_engine, "case_no_%")


def test_the_tidy_does_nothing_on_sqlite_and_days_are_checked(app: Flask) -> None:
    engine = database(app).engine
    if engine.dialect.name == "postgresql":
        with pytest.raises(ValueError):
            day_sequence(engine, "2041-01-01")  # never a name built from anything but digits
        return
    with engine.connect() as conn:
        assert drop_old_day_sequences(conn, date(2041, 1, 15)) == []
    assert day_of(datetime(2041, 1, 1, 16, 0, 1, tzinfo=UTC)) == "20410102"  # Shanghai's date
