"""On PostgreSQL: PostGIS gives the same answers as our in-memory index (CI's second run)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from grids import services

pytestmark = pytest.mark.postgres


def test_geometry_is_postgis_with_gist_index(db_session: Session) -> None:
    kind = db_session.execute(
        text("SELECT type, srid FROM geometry_columns WHERE f_table_name = 'grid'")
    ).one()
    assert tuple(kind) == ("MULTIPOLYGON", 4326)
    indexes = db_session.execute(
        text("SELECT indexdef FROM pg_indexes WHERE tablename = 'grid' AND indexdef LIKE '%gist%'")
    ).all()
    assert indexes


def test_postgis_agrees_with_the_index(app, db_session: Session) -> None:
    bset = services.active_set(db_session)
    leaves = services.leaf_grids(db_session, bset.id)
    leaf_ids = [g.id for g in leaves]
    index = services.locator(app).index()
    minx, miny, maxx, maxy = shapely.total_bounds([g.geom for g in leaves])
    rng = np.random.default_rng(3)
    n = 10_000
    xs = minx - 0.002 + rng.random(n) * (maxx - minx + 0.004)
    ys = miny - 0.002 + rng.random(n) * (maxy - miny + 0.004)
    # Points exactly on shared vertices, where the tie-break decides.
    verts = shapely.get_coordinates(leaves[0].geom)[:50]
    xs = np.concatenate([xs, verts[:, 0]])
    ys = np.concatenate([ys, verts[:, 1]])

    db_session.execute(
        text("CREATE TEMP TABLE pts (i int, geom geometry(Point, 4326)) ON COMMIT DROP")
    )
    db_session.execute(
        text(
            "INSERT INTO pts SELECT i, ST_SetSRID(ST_MakePoint(x, y), 4326) FROM"
            " unnest(CAST(:i AS int[]), CAST(:x AS float8[]), CAST(:y AS float8[])) AS t(i, x, y)"
        ),
        {"i": list(range(len(xs))), "x": xs.tolist(), "y": ys.tolist()},
    )
    covered = dict(
        db_session.execute(
            text(
                "SELECT DISTINCT ON (p.i) p.i, g.id FROM pts p JOIN grid g"
                " ON g.id = ANY(:ids) AND ST_Covers(g.geom, p.geom) ORDER BY p.i, g.code"
            ),
            {"ids": leaf_ids},
        ).all()
    )
    # Uncovered points: the nearest grid within the tolerance, on the spheroid. The degree
    # pre-filter (0.0006° > 30 m here) lets the GiST index work.
    nearest = dict(
        db_session.execute(
            text(
                "SELECT DISTINCT ON (p.i) p.i, g.id FROM pts p JOIN grid g ON g.id = ANY(:ids)"
                " AND ST_DWithin(g.geom, p.geom, 0.0006)"
                " AND ST_DWithin(g.geom::geography, p.geom::geography, :tol)"
                " WHERE p.i <> ALL(:covered)"
                " ORDER BY p.i, ST_Distance(g.geom::geography, p.geom::geography), g.code"
            ),
            {"ids": leaf_ids, "tol": index.tolerance_m, "covered": list(covered)},
        ).all()
    )
    ids, approx = index.locate_many(xs, ys)
    _, _, dist = index.locate_indexes(xs, ys)
    mismatches = []
    for i in range(len(xs)):
        expected = covered.get(i, nearest.get(i, -1))
        if ids[i] != expected:
            # Only a point within centimetres of the tolerance may differ (spheroid vs plane).
            near_threshold = (
                abs(dist[i] - index.tolerance_m) < 0.05 if np.isfinite(dist[i]) else False
            )
            if not near_threshold:
                mismatches.append((i, xs[i], ys[i], int(ids[i]), expected))
        if i in covered:
            assert not approx[i]
    assert not mismatches, mismatches[:5]
    assert len(covered) > n // 2


@pytest.mark.parametrize(
    "geom",
    [
        shapely.Point(112.5718654321, 26.8934567891),
        shapely.Point(-0.0, -89.999999999),
        shapely.Point(1e-300, 179.99999999999997),
        shapely.Point(1.0, 2.0, 3.0),
        shapely.Point(),
        shapely.LineString([(1, 2), (3, 4)]),
    ],
    ids=["city", "negative-zero", "extremes", "3-d", "empty", "line"],
)
def test_points_are_written_as_shapely_writes_them(db_session: Session, geom) -> None:
    """Points take a short cut to EWKB (every case has one); PostGIS must read back what
    shapely itself would have written, and the short cut must write the same bytes."""
    from shapely import wkb
    from sqlalchemy.dialects import postgresql

    from core.types import GeometryType

    written = GeometryType("GEOMETRY", 4326).process_bind_param(geom, postgresql.dialect())
    assert written == wkb.dumps(geom, hex=True, srid=4326)
    back = db_session.execute(
        text("SELECT ST_AsEWKB(CAST(:g AS geometry)), ST_SRID(CAST(:g AS geometry))"),
        {"g": written},
    ).one()
    assert back[1] == 4326
    assert shapely.equals_exact(wkb.loads(bytes(back[0])), geom, tolerance=0) or geom.is_empty
