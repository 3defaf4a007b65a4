"""Intake: turn a report into a case (placed on the map, numbered, logged) exactly once.

A retried submission with the same idempotency key returns the case it created the first time.
A report whose location cannot be resolved is still saved: it waits for manual placement.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict

from core.db import autocommit_engine
from core.types import utcnow
from dispatch.access import Actor
from dispatch.case_numbers import day_of, day_sequence, forget_day_sequence, next_case_number
from dispatch.errors import InvalidInput
from dispatch.models import Case, CaseCaller, CaseEvent, Category, FilingCondition
from dispatch.models.cases import CaseState, Placement, Source, new_check_code
from grids import services as grid_services
from grids.crs import CRS


@dataclass
class Report:
    """What a reporter tells us; everything but the description may be missing."""

    source: Source
    description: str
    address: str = ""
    lng: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    reporter_name: str = ""
    reporter_phone: str = ""
    category_id: int | None = None
    filing_condition_id: int | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    idempotency_key: str | None = None


def _validate(report: Report) -> CRS:
    if not report.description or not report.description.strip():
        raise InvalidInput("describe the problem", {"description": "required"})
    if len(report.description) > 5000:
        raise InvalidInput(
            "the description is too long (5000 characters at most)", {"description": "too long"}
        )
    try:
        crs = CRS.parse(report.crs or "wgs84")
    except ValueError as exc:
        raise InvalidInput(str(exc), {"crs": "unknown coordinate system"}) from None
    if (report.lng is None) != (report.lat is None):
        raise InvalidInput(
            "give both lng and lat, or neither", {"lng": "incomplete", "lat": "incomplete"}
        )
    return crs


def _usable(lng: float | None, lat: float | None) -> bool:
    return (
        lng is not None
        and lat is not None
        and math.isfinite(lng)
        and math.isfinite(lat)
        and -180 <= lng <= 180
        and -90 <= lat <= 90
    )


def place_case(
    session: Session, case: Case, data: dict[str, Any], *, manual: bool
) -> dict[str, Any]:
    """Locate ``data`` (lng, lat, crs) and put the case in that grid; returns what changed.

    Manual placement (a click on the map) must land in a grid, or within the tolerance of one.
    """
    try:
        lng = float(data["lng"])
        lat = float(data["lat"])
        crs = CRS.parse(str(data.get("crs") or "wgs84"))
    except (KeyError, TypeError, ValueError):
        raise InvalidInput(
            "placing needs lng, lat (and crs)", {"lng": "required", "lat": "required"}
        ) from None
    if not _usable(lng, lat):
        raise InvalidInput("coordinates out of range", {"lng": "range", "lat": "range"})
    index = grid_services.locator().index(session)
    if index is None:
        raise InvalidInput("no boundary set is active", {"location": "no grids"})
    loc = index.locate(lng, lat, crs)
    if not loc.found:
        raise InvalidInput(loc.message, {"location": "outside every grid"})
    _apply_location(session, case, loc, crs, manual=manual)
    return _location_data(case)


def _location_fields(loc: Any, crs: CRS, *, manual: bool) -> dict[str, Any]:
    """The case columns a location result sets (the point, its grid, how it was placed)."""
    fields: dict[str, Any] = {
        "location": Point(loc.lng, loc.lat),
        "location_crs": crs.value,
        "boundary_set_version": loc.boundary_set_version,
    }
    if not loc.found:
        fields.update(
            placement=Placement.PENDING,
            grid_id=None,
            grid_code=None,
            district_code=None,
            placement_distance_m=None,
        )
        return fields
    fields.update(
        grid_id=loc.grid_id,
        grid_code=loc.grid_code,
        district_code=loc.grid_code[:6],
        placement=(
            Placement.MANUAL
            if manual
            else (Placement.NEAREST if loc.approximate else Placement.INSIDE)
        ),
        placement_distance_m=round(loc.distance_m, 2) if loc.approximate else 0.0,
    )
    return fields


def _apply_location(session: Session, case: Case, loc: Any, crs: CRS, *, manual: bool) -> None:
    for key, value in _location_fields(loc, crs, manual=manual).items():
        setattr(case, key, value)


def _location_data(case: Case) -> dict[str, Any]:
    return _location_event_data({key: getattr(case, key) for key in _LOCATION_KEYS})


_LOCATION_KEYS = (
    "placement",
    "grid_id",
    "grid_code",
    "boundary_set_version",
    "placement_distance_m",
    "location",
    "location_crs",
)


def _location_event_data(fields: dict[str, Any]) -> dict[str, Any]:
    """Where a case was placed, as its events record it."""
    point = fields.get("location")
    return {
        "placement": fields.get("placement", Placement.PENDING),
        "grid_id": fields.get("grid_id"),
        "grid_code": fields.get("grid_code"),
        "boundary_set_version": fields.get("boundary_set_version"),
        "distance_m": fields.get("placement_distance_m"),
        "lng": point.x if point is not None else None,
        "lat": point.y if point is not None else None,
        "crs": fields.get("location_crs"),
    }


def _case_id_for_key(session: Session, key: str | None) -> int | None:
    """The case an idempotency key already made, if any (one indexed probe)."""
    if not key:
        return None
    table = Case.__table__
    return (
        session.connection()
        .execute(select(table.c.id).where(table.c.idempotency_key == key))
        .scalar()
    )


def _check_report(
    session: Session, report: Report
) -> tuple[CRS, Category | None, FilingCondition | None]:
    """Validate a report: its coordinate system, and its category and filing condition."""
    crs = _validate(report)
    category = condition = None
    if report.category_id is not None:
        category = session.get(Category, report.category_id)
        if category is None or not category.is_active:
            raise InvalidInput("no such active category", {"category_id": "not found"})
    if report.filing_condition_id is not None:
        condition = session.get(FilingCondition, report.filing_condition_id)
        if condition is None or (category is not None and condition.category_id != category.id):
            raise InvalidInput(
                "the filing condition does not belong to the category",
                {"filing_condition_id": "mismatch"},
            )
    return crs, category, condition


def create_case(
    session: Session,
    report: Report,
    actor: Actor,
    *,
    now: datetime | None = None,
    commit: bool = False,
) -> tuple[Case, bool]:
    """Create the case for ``report`` (or return the one its idempotency key already made).

    Returns (case, created). By default the case is written in the session's transaction and
    the caller commits it with whatever else it adds. ``commit=True`` is for callers that write
    nothing else (the JSON API): the case is committed before this returns. On PostgreSQL its
    one insert statement is a transaction of its own (one round trip instead of three), beside
    the session's; elsewhere the session is committed. A case made with ``commit=True`` comes
    back detached (every column loaded): nothing is left for the session to track.
    """
    from dispatch.workflow import Action

    pg = session.get_bind().dialect.name == "postgresql"
    if report.idempotency_key and not pg:
        # A retry (the phone's outbox, a double click): one indexed probe, no number drawn.
        # PostgreSQL skips it: its insert answers a known key by itself (ON CONFLICT), which
        # saves every first submission a round trip at the price of a number per retry.
        found = _case_id_for_key(session, report.idempotency_key)
        if found is not None:
            return session.get(Case, found), False
    try:
        crs, category, condition = _check_report(session, report)
    except InvalidInput:
        # A retry of an accepted report stays accepted even if its category was since retired.
        found = _case_id_for_key(session, report.idempotency_key) if pg else None
        if found is None:
            raise
        return session.get(Case, found), False
    now = now or utcnow()

    # Locate before writing: nothing slow is done while the write holds its locks (on SQLite,
    # the day's counter row; PostgreSQL draws the case number without one).
    location = None
    if _usable(report.lng, report.lat):
        index = grid_services.locator().index(session)
        if index is not None:
            location = index.locate(report.lng, report.lat, crs)
    # The case's columns as plain values (the ORM object is made once, after the insert).
    row = dict.fromkeys(_case_columns(), None)
    row.update(
        source=str(report.source),
        state=CaseState.REPORTED,
        version=1,
        idempotency_key=report.idempotency_key,
        check_code=new_check_code(),
        reporter_user_id=actor.user.id if actor.user else None,
        reporter_name=report.reporter_name.strip(),
        reporter_phone=report.reporter_phone.strip(),
        description=report.description.strip(),
        address=report.address.strip(),
        location_crs=crs.value,
        placement=Placement.PENDING,
        category_id=category.id if category else None,
        filing_condition_id=condition.id if condition else None,
        urgency=condition.urgency if condition else "normal",
        attachments=list(report.attachments),
        created_at=now,
        updated_at=now,
        rework_count=0,
        urge_count=0,
    )
    if location is not None:
        row.update(_location_fields(location, crs, manual=False))
    data = {**_location_event_data(row), "source": str(report.source)}
    if category:
        data.update(category_id=category.id, filing_condition_id=row["filing_condition_id"])
    event = {
        "action": str(Action.REPORT),
        "to_state": str(CaseState.REPORTED),
        "actor_user_id": actor.user.id if actor.user else None,
        "actor_role": str(actor.role),
        "at": now,
        "data": data,
        "attachments": list(report.attachments),
    }
    caller = bool(row["reporter_name"] or row["reporter_phone"])
    if pg:
        inserted = _insert_pg(session, row, event, caller, now, own_transaction=commit)
    else:
        inserted = _insert_portable(session, row, event, caller, now)
        if commit:
            session.commit()
    if inserted is None:
        # A retry racing the first submission waited for it: return its case (the number the
        # loser drew stays unused: numbers are unique and sorted, not gapless).
        existing = session.scalar(
            select(Case).where(Case.idempotency_key == report.idempotency_key)
        )
        if existing is None:  # pragma: no cover - only a conflict on the key returns no row
            raise RuntimeError("case insert returned nothing without a conflicting key")
        return existing, False
    # The row is written: make its instance as a query would load it (state filled in, no
    # change history), without reading it back; every column is set, so none loads on use.
    case = Case.__mapper__.class_manager.new_instance()
    instance_dict(case).update(row, id=inserted[0], number=inserted[1])
    make_transient_to_detached(case)
    if not commit:
        session.add(case)
    return case, True


@functools.cache
def _case_columns() -> tuple[str, ...]:
    """Every case column intake writes (all but the id and the number the insert makes)."""
    return tuple(c.key for c in Case.__table__.columns if c.key not in ("id", "number"))


def _insert_portable(
    session: Session, row: dict[str, Any], event: dict[str, Any], caller: bool, now: datetime
) -> tuple[int, str] | None:
    """Counter, case, first event and caller as plain Core INSERTs (SQLite, and any backend)."""
    table = Case.__table__
    row = {**row, "number": next_case_number(session, now)}
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(table)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(table.c.id, table.c.number)
    )
    conn = session.connection()
    found = conn.execute(stmt).first()
    if found is None:
        return None
    case_id, number = found
    conn.execute(
        CaseEvent.__table__.insert().values(
            case_id=case_id, seq=1, from_state=None, note="", **event
        )
    )
    if caller:
        conn.execute(
            CaseCaller.__table__.insert().values(
                case_id=case_id,
                name=row["reporter_name"],
                phone=row["reporter_phone"],
                from_case_id=None,
                created_at=now,
            )
        )
    return case_id, number


# ------------------------------------------------------------------ PostgreSQL: one round trip
_EVENT_FIELDS = ("action", "to_state", "actor_user_id", "actor_role", "at", "data", "attachments")


#: How one bound value of the intake statement is made: its name, whether it comes from the
#: event (else the case row), the key there, and its column type's bind processing (or None).
_Bind = tuple[str, bool, str, Any]


@functools.cache
def _pg_intake_sql(dialect: Dialect) -> tuple[str, tuple[_Bind, ...]]:
    """The one statement PostgreSQL intake runs (the day's number, case, first event, caller
    as data-modifying CTEs), built once from the models' columns so it follows them; and how
    each bound value is made (the column types' own bind processing: EWKB, UTC, JSON)."""
    case_cols = [c for c in Case.__table__.columns if c.key not in ("id", "number")]
    event_table = CaseEvent.__table__

    def cast(col: Any) -> str:
        return col.type.compile(dialect=dialect)

    def processor(col: Any) -> Any:
        return col.type._cached_bind_processor(dialect)

    names = ", ".join(c.name for c in case_cols)
    values = ", ".join(f"CAST(%(c_{c.key})s AS {cast(c)})" for c in case_cols)
    ev = ", ".join(f"CAST(%(e_{f})s AS {cast(event_table.c[f])})" for f in _EVENT_FIELDS)
    sql = f"""
WITH n AS (
    SELECT nextval(CAST(%(seq)s AS regclass)) AS last
), c AS (
    INSERT INTO case_file (number, {names})
    SELECT %(day)s || lpad(n.last::text, greatest(5, length(n.last::text)), '0'), {values}
    FROM n
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, number
), e AS (
    INSERT INTO case_event (case_id, seq, from_state, note, {", ".join(_EVENT_FIELDS)})
    SELECT c.id, 1, NULL, '', {ev} FROM c
), k AS (
    INSERT INTO case_caller (case_id, name, phone, from_case_id, created_at)
    SELECT c.id, CAST(%(c_reporter_name)s AS VARCHAR), CAST(%(c_reporter_phone)s AS VARCHAR),
           NULL, CAST(%(e_at)s AS TIMESTAMP WITH TIME ZONE)
    FROM c WHERE CAST(%(caller)s AS BOOLEAN)
)
SELECT id, number FROM c"""
    binds = tuple(
        [(f"c_{c.key}", False, c.key, processor(c)) for c in case_cols]
        + [(f"e_{f}", True, f, processor(event_table.c[f])) for f in _EVENT_FIELDS]
    )
    return sql, binds


def _insert_pg(
    session: Session,
    row: dict[str, Any],
    event: dict[str, Any],
    caller: bool,
    now: datetime,
    *,
    own_transaction: bool,
) -> tuple[int, str] | None:
    """Intake on PostgreSQL in one statement: a quarter of the round trips and almost none of
    the per-statement Python of the portable path (this is the hottest write of the system).

    ``own_transaction``: run the statement as its own transaction on a connection of the
    engine's ``autocommit_engine`` (no BEGIN, no COMMIT: one round trip); a single statement is
    atomic, so the case, event and caller rows are all written or none is (a number drawn for
    a statement that fails stays unused). A session bound to an outer connection (the tests'
    rolled-back transaction) writes and commits there.
    """
    bind = session.get_bind()
    sql, binds = _pg_intake_sql(bind.dialect)
    params: dict[str, Any] = {}
    for name, from_event, key, convert in binds:  # None stays None, as SQLAlchemy does
        value = event[key] if from_event else row[key]
        params[name] = convert(value) if convert is not None and value is not None else value
    engine = bind if isinstance(bind, Engine) else bind.engine
    params["day"] = day = day_of(now)
    params["seq"] = day_sequence(engine, day)
    params["caller"] = caller
    try:
        if own_transaction and isinstance(bind, Engine):
            # Beside the session's transaction, which holds nothing of the case (only reads:
            # the locator's check, a category); its own pool, never waiting for the session's.
            found = _execute_autocommit(autocommit_engine(bind), sql, params)
        else:
            found = session.connection().exec_driver_sql(sql, params).first()
            if own_transaction:
                session.commit()
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == "42P01":  # the day's sequence was dropped
            forget_day_sequence(engine, params["seq"])
        raise
    return (found[0], found[1]) if found else None


def _execute_autocommit(engine: Engine, sql: str, params: dict[str, Any]) -> Any:
    """Run one statement on a connection of ``engine`` (an ``autocommit_engine``); its first row.

    Straight on the driver (psycopg): SQLAlchemy's result machinery would cost more than the
    statement here. Errors are wrapped as SQLAlchemy's, and a connection that turned out to be
    gone is thrown away instead of going back to the pool, as SQLAlchemy itself would do.
    """
    pooled = engine.raw_connection()
    dialect = engine.dialect
    try:
        driver = pooled.driver_connection
        try:
            with driver.cursor() as cursor:
                cursor.execute(sql, params, prepare=True)
                return cursor.fetchone()
        except dialect.loaded_dbapi.Error as exc:
            gone = dialect.is_disconnect(exc, driver, None)
            if gone:
                pooled.invalidate(exc)
            raise DBAPIError.instance(
                sql, None, exc, dialect.loaded_dbapi.Error, connection_invalidated=gone
            ) from exc
    finally:
        pooled.close()
