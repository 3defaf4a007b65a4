"""Grid operations: store and activate boundary sets, officers on duty, GeoJSON, the locator.

Functions take a session, flush and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import shapely
from flask import Flask, current_app
from shapely.geometry import MultiPolygon, Polygon, mapping
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.db import database
from core.serving import add_warm_up
from grids.features import GridFeature, Level, OfficerSpec
from grids.locate import IndexedGrid, Locator
from grids.models import BoundarySet, Grid, GridDuty, Officer


class GridError(Exception):
    """A grid operation that cannot be done, with a message for the user."""


def as_multipolygon(geom: Polygon | MultiPolygon) -> MultiPolygon:
    """Store every grid as a MultiPolygon so the column has one geometry type."""
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])


def active_set(session: Session) -> BoundarySet | None:
    """The active boundary set, if any."""
    return session.scalar(select(BoundarySet).where(BoundarySet.is_active.is_(True)))


def boundary_sets(session: Session) -> list[BoundarySet]:
    """All boundary sets, newest first."""
    return list(session.scalars(select(BoundarySet).order_by(BoundarySet.version.desc())))


def set_by_version(session: Session, version: int) -> BoundarySet:
    """The boundary set with ``version``, or GridError."""
    found = session.scalar(select(BoundarySet).where(BoundarySet.version == version))
    if found is None:
        raise GridError(f"no boundary set with version {version}")
    return found


def store_boundary_set(
    session: Session,
    features: list[GridFeature],
    *,
    name: str,
    source: str = "",
    report: dict[str, Any] | None = None,
    areas_m2: dict[str, float] | None = None,
) -> BoundarySet:
    """Insert ``features`` (parents before children, validated) as a new, inactive set."""
    version = (session.scalar(select(func.max(BoundarySet.version))) or 0) + 1
    bset = BoundarySet(version=version, name=name, source=source, report=report, is_active=False)
    session.add(bset)
    session.flush()
    by_code: dict[str, Grid] = {}
    for feature in sorted(features, key=lambda f: (int(f.level), f.code)):
        parent = by_code.get(feature.parent_code) if feature.parent_code else None
        if feature.parent_code and parent is None:
            raise GridError(f"grid {feature.code}: parent {feature.parent_code} is not in the set")
        grid = Grid(
            boundary_set_id=bset.id,
            code=feature.code,
            name=feature.name,
            level=int(feature.level),
            parent_id=parent.id if parent else None,
            geom=as_multipolygon(feature.geometry),
            area_m2=(areas_m2 or {}).get(feature.code, 0.0),
            is_active=True,
            attributes=dict(feature.properties),
        )
        session.add(grid)
        session.flush()  # parent ids are needed by the children that follow
        by_code[feature.code] = grid
    return bset


def activate_set(session: Session, bset: BoundarySet) -> BoundarySet:
    """Make ``bset`` the one active set (every process's locator notices within seconds)."""
    from core.types import utcnow

    session.execute(
        update(BoundarySet).where(BoundarySet.is_active.is_(True)).values(is_active=False)
    )
    session.flush()
    bset.is_active = True
    bset.activated_at = utcnow()
    session.flush()
    return bset


def leaf_grids(session: Session, set_id: int) -> list[Grid]:
    """The finest active grids of a set (those with no active child): what points fall into."""
    grids = list(
        session.scalars(
            select(Grid).where(Grid.boundary_set_id == set_id, Grid.is_active.is_(True))
        )
    )
    parents = {g.parent_id for g in grids if g.parent_id is not None}
    return [g for g in grids if g.id not in parents]


def grids_of(
    session: Session, set_id: int, *, level: Level | None = None, codes: Iterable[str] | None = None
) -> list[Grid]:
    """Grids of a set, optionally one level or some codes, ordered by code."""
    query = select(Grid).where(Grid.boundary_set_id == set_id).order_by(Grid.code)
    if level is not None:
        query = query.where(Grid.level == int(level))
    if codes is not None:
        query = query.where(Grid.code.in_(list(codes)))
    return list(session.scalars(query))


def grid_by_code(session: Session, code: str, set_id: int | None = None) -> Grid | None:
    """A grid of the given (default: active) set by code."""
    if set_id is None:
        bset = active_set(session)
        if bset is None:
            return None
        set_id = bset.id
    return session.scalar(select(Grid).where(Grid.boundary_set_id == set_id, Grid.code == code))


def add_officers(session: Session, specs: Iterable[OfficerSpec]) -> int:
    """Create officers and their duties (one officer per distinct name + phone)."""
    officers: dict[tuple[str, str], Officer] = {}
    count = 0
    for spec in specs:
        key = (spec.name, spec.phone)
        officer = officers.get(key)
        if officer is None:
            officer = Officer(name=spec.name, phone=spec.phone)
            session.add(officer)
            officers[key] = officer
        session.add(
            GridDuty(
                grid_code=spec.grid_code,
                officer=officer,
                role=spec.role,
                starts_on=date.fromisoformat(spec.starts_on),
                ends_on=date.fromisoformat(spec.ends_on) if spec.ends_on else None,
            )
        )
        count += 1
    session.flush()
    return count


def officers_on(session: Session, grid_code: str, day: date) -> list[GridDuty]:
    """Who was responsible for ``grid_code`` on ``day``: the primary first, then deputies."""
    duties = session.scalars(
        select(GridDuty)
        .where(
            GridDuty.grid_code == grid_code,
            GridDuty.starts_on <= day,
            (GridDuty.ends_on.is_(None)) | (GridDuty.ends_on >= day),
        )
        .order_by(GridDuty.role.desc(), GridDuty.starts_on, GridDuty.id)
    )
    return list(duties)


def grid_feature(grid: Grid, *, simplify_m: float = 0.0) -> dict[str, Any]:
    """A grid as a GeoJSON Feature (geometry optionally simplified for display)."""
    geom = grid.geom
    if simplify_m > 0:
        # ~1e-5 degrees per metre here; display only, never used for location.
        geom = shapely.simplify(geom, simplify_m / 100_000, preserve_topology=True)
    return {
        "type": "Feature",
        "id": grid.code,
        "geometry": mapping(geom),
        "properties": {
            "code": grid.code,
            "name": grid.name,
            "level": grid.level,
            "parent_id": grid.parent_id,
            "area_m2": round(grid.area_m2, 1),
            "is_active": grid.is_active,
        },
    }


# ---------------------------------------------------------------------- the process's locator
def _active_key(sess: Session) -> tuple[int, int, str] | None:
    row = sess.execute(
        select(BoundarySet.id, BoundarySet.version, BoundarySet.activated_at).where(
            BoundarySet.is_active.is_(True)
        )
    ).first()
    if row is None:
        return None
    return (row.id, row.version, row.activated_at.isoformat() if row.activated_at else "")


def _load_active_key(app: Flask, sess: Session | None) -> tuple[int, int, str] | None:
    # Read through the caller's session when it has one: taking a second pooled connection
    # while the caller holds one (and maybe a row lock) can starve the pool under load.
    if sess is not None:
        return _active_key(sess)
    with database(app).new_session() as own:
        return _active_key(own)


def _load_indexed_grids(app: Flask, set_id: int, sess: Session | None) -> list[IndexedGrid]:
    if sess is not None:
        return [IndexedGrid(g.id, g.code, g.name, g.geom) for g in leaf_grids(sess, set_id)]
    with database(app).new_session() as own:
        return [IndexedGrid(g.id, g.code, g.name, g.geom) for g in leaf_grids(own, set_id)]


def init_locator(app: Flask) -> Locator:
    """Create the app's locator (one per process and database)."""
    locator = Locator(
        lambda sess: _load_active_key(app, sess),
        lambda set_id, sess: _load_indexed_grids(app, set_id, sess),
        tolerance_m=app.config["LOCATE_TOLERANCE_M"],
        cell_m=app.config["GRID_INDEX_CELL_M"],
        check_seconds=app.config["GRID_INDEX_CHECK_SECONDS"],
    )
    app.extensions["grid_locator"] = locator
    # Built before a web worker's first request, not during it (seconds for a city's grids).
    add_warm_up(app, "grid_index", lambda: locator.index())
    return locator


def locator(app: Flask | None = None) -> Locator:
    """The current app's locator."""
    return (app or current_app).extensions["grid_locator"]


# ---------------------------------------------------------------------- import and demo city
def areas_m2(features: Iterable[GridFeature]) -> dict[str, float]:
    """Geodesic area (m²) of each feature on the WGS-84 ellipsoid."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    return {f.code: abs(geod.geometry_area_perimeter(f.geometry)[0]) for f in features}


def commit_features(
    session: Session,
    features: list[GridFeature],
    *,
    name: str,
    source: str,
    report: dict[str, Any] | None,
    activate: bool,
) -> BoundarySet:
    """Store validated features as a new boundary set, optionally activating it."""
    bset = store_boundary_set(
        session, features, name=name, source=source, report=report, areas_m2=areas_m2(features)
    )
    if activate:
        activate_set(session, bset)
    return bset


def load_demo_city(session: Session, *, seed: int | None = None) -> BoundarySet:
    """Generate the demo city, validate it like any import, store it, activate it, add officers."""
    from grids.demo import generate_city
    from grids.importer import validate

    city = generate_city() if seed is None else generate_city(seed)
    report = validate(city.features)
    if not report.ok:
        raise GridError("the demo city failed validation:\n" + "\n".join(report.summary_lines()))
    bset = commit_features(
        session,
        report.features,
        name="演示城市 Demo city",
        source="demo generator",
        report=report.to_dict(),
        activate=True,
    )
    add_officers(session, city.officers)
    return bset
