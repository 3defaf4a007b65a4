"""Intake: turn a report into a case (placed on the map, numbered, logged) exactly once.

A retried submission with the same idempotency key returns the case it created the first time.
A report whose location cannot be resolved is still saved: it waits for manual placement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.i18n import SHANGHAI
from core.types import utcnow
from dispatch.access import Actor
from dispatch.errors import InvalidInput
from dispatch.models import Case, CaseCaller, CaseEvent, Category, FilingCondition
from dispatch.models.cases import CaseState, Placement, Source
from dispatch.models.counters import CaseCounter
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


def next_case_number(session: Session, now: datetime) -> str:
    """Date (Asia/Shanghai) + 5-digit daily sequence; atomic under concurrent intake."""
    day = now.astimezone(SHANGHAI).strftime("%Y%m%d")
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = CaseCounter.__table__  # Core, not ORM-enabled DML: this runs on every intake
    stmt = (
        insert(table)
        .values(day=day, last=1)
        .on_conflict_do_update(index_elements=["day"], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
    seq = session.connection().execute(stmt).scalar_one()
    return f"{day}{seq:05d}"


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


def _apply_location(session: Session, case: Case, loc: Any, crs: CRS, *, manual: bool) -> None:
    case.location = Point(loc.lng, loc.lat)
    case.location_crs = crs.value
    if not loc.found:
        case.placement = Placement.PENDING
        case.grid_id = case.grid_code = case.district_code = None
        case.boundary_set_version = loc.boundary_set_version
        case.placement_distance_m = None
        return
    case.grid_id = loc.grid_id
    case.grid_code = loc.grid_code
    case.district_code = loc.grid_code[:6]
    case.boundary_set_version = loc.boundary_set_version
    case.placement = (
        Placement.MANUAL if manual else (Placement.NEAREST if loc.approximate else Placement.INSIDE)
    )
    case.placement_distance_m = round(loc.distance_m, 2) if loc.approximate else 0.0


def _location_data(case: Case) -> dict[str, Any]:
    return {
        "placement": case.placement,
        "grid_id": case.grid_id,
        "grid_code": case.grid_code,
        "boundary_set_version": case.boundary_set_version,
        "distance_m": case.placement_distance_m,
        "lng": case.location.x if case.location is not None else None,
        "lat": case.location.y if case.location is not None else None,
        "crs": case.location_crs,
    }


def create_case(
    session: Session, report: Report, actor: Actor, *, now: datetime | None = None
) -> tuple[Case, bool]:
    """Create the case for ``report`` (or return the one its idempotency key already made).

    Returns (case, created). Flushes; the caller commits.
    """
    from dispatch.workflow import Action

    if report.idempotency_key:
        # A cheap indexed probe; the entity is loaded only for an actual retry.
        table = Case.__table__
        found = (
            session.connection()
            .execute(select(table.c.id).where(table.c.idempotency_key == report.idempotency_key))
            .scalar()
        )
        if found is not None:
            return session.get(Case, found), False
    crs = _validate(report)
    now = now or utcnow()
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

    # Locate before taking the day's counter lock: nothing slow is done while holding it.
    location = None
    if _usable(report.lng, report.lat):
        index = grid_services.locator().index(session)
        if index is not None:
            location = index.locate(report.lng, report.lat, crs)
    try:
        with session.begin_nested():
            case = Case(
                number=next_case_number(session, now),
                source=report.source,
                state=CaseState.REPORTED,
                version=1,
                idempotency_key=report.idempotency_key,
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
            )
            if location is not None:
                _apply_location(session, case, location, crs, manual=False)
            if report.reporter_name or report.reporter_phone:
                case.callers.append(CaseCaller(name=case.reporter_name, phone=case.reporter_phone))
            data = {**_location_data(case), "source": str(report.source)}
            if category:
                data.update(category_id=category.id, filing_condition_id=case.filing_condition_id)
            # The first event of a new case: sequence 1, written in the same flush as the case.
            case.events.append(
                CaseEvent(
                    seq=1,
                    action=str(Action.REPORT),
                    from_state=None,
                    to_state=str(CaseState.REPORTED),
                    actor_user_id=actor.user.id if actor.user else None,
                    actor_role=str(actor.role),
                    at=now,
                    note="",
                    data=data,
                    attachments=list(report.attachments),
                )
            )
            session.add(case)
            session.flush()
    except IntegrityError:
        # Lost a race with a retry of the same submission: return the winner's case.
        if report.idempotency_key:
            existing = session.scalar(
                select(Case).where(Case.idempotency_key == report.idempotency_key)
            )
            if existing is not None:
                return existing, False
        raise
    return case, True
