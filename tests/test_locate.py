"""Point → grid: borders, vertices, holes, islands, the tolerance band, and fast == exact."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from grids.crs import CRS, distance_m, from_wgs84
from grids.locate import GridIndex, IndexedGrid, Locator

# A small synthetic city near Hengyang: metres → degrees at 26.89°N.
LNG0, LAT0 = 112.57, 26.89
M_LNG = 1 / (111_320 * math.cos(math.radians(LAT0)))
M_LAT = 1 / 110_574


def m(x: float, y: float) -> tuple[float, float]:
    """A point ``x`` metres east and ``y`` metres north of the origin."""
    return LNG0 + x * M_LNG, LAT0 + y * M_LAT


def mbox(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    (a, b), (c, d) = m(x0, y0), m(x1, y1)
    return box(a, b, c, d)


# A: west, B: east (shared border x=1000), C: north of both with a hole, E: the enclave in
# C's hole, I: an island grid (two parts) east of a 100 m wide river that separates it from B.
A = mbox(0, 0, 1000, 1000)
B = mbox(1000, 0, 2000, 1000)
C = Polygon(
    mbox(0, 1000, 2000, 2000).exterior.coords, [mbox(800, 1300, 1200, 1700).exterior.coords]
)
E = mbox(800, 1300, 1200, 1700)
I = MultiPolygon([mbox(2100, 0, 3000, 2000), mbox(2030, 400, 2070, 600)])  # noqa: E741
GRIDS = [
    IndexedGrid(1, "430405001001000", "A社区", A),
    IndexedGrid(2, "430405001002000", "B社区", B),
    IndexedGrid(3, "430405001003000", "C社区", C),
    IndexedGrid(4, "430405001004000", "E社区", E),
    IndexedGrid(5, "430405001005000", "I社区", I),
]


@pytest.fixture(scope="module")
def index() -> GridIndex:
    return GridIndex(GRIDS, boundary_set_id=7, boundary_set_version=3, tolerance_m=30.0)


# (description, point in metres, expected code suffix or None, approximate)
CASES = [
    ("inside A", (500, 500), "001", False),
    ("inside B", (1500, 500), "002", False),
    ("shared border A|B: smallest code", (1000, 500), "001", False),
    ("shared vertex A|B|C: smallest code", (1000, 1000), "001", False),
    ("border B|C: smallest code", (1500, 1000), "002", False),
    ("inside the enclave in C's hole", (1000, 1500), "004", False),
    ("on the hole's ring (C and E): smallest code", (800, 1500), "003", False),
    ("inside C next to the hole", (700, 1500), "003", False),
    ("island part of I (a MultiPolygon)", (2050, 500), "005", False),
    ("main part of I", (2500, 1000), "005", False),
    ("outer vertex of A", (0, 0), "001", False),
    ("10 m south of A: nearest, approximate", (500, -10), "001", True),
    ("29 m west of A: within tolerance", (-29, 500), "001", True),
    ("31 m west of A: no grid", (-31, 500), None, False),
    ("in the river, 10 m from the island, 20 m from B", (2020, 500), "005", True),
    ("in the river, 15 m from both B and the island: tie", (2015, 500), "002", True),
    ("mid-river, 50 m from both banks", (2050, 800), None, False),
    ("far away", (50_000, 50_000), None, False),
]


@pytest.mark.parametrize(("label", "xy", "suffix", "approx"), CASES, ids=[c[0] for c in CASES])
def test_locate_table(index: GridIndex, label: str, xy, suffix, approx) -> None:
    lng, lat = m(*xy)
    loc = index.locate(lng, lat)
    assert (loc.grid_code[-6:-3] if loc.grid_code else None) == suffix, label
    assert loc.approximate is approx
    assert loc.boundary_set_version == 3
    if suffix is None:
        assert loc.status == "outside" and "manual placement" in loc.message
    elif approx:
        assert loc.status == "nearest" and 0 < loc.distance_m <= 30
    else:
        assert loc.status == "inside" and loc.distance_m == 0


def test_tolerance_distance_is_in_metres(index: GridIndex) -> None:
    loc = index.locate(*m(500, -20))
    assert loc.distance_m == pytest.approx(20, abs=0.2)


def test_equidistant_gap_picks_smallest_code() -> None:
    left = IndexedGrid(10, "430405001009000", "L", mbox(0, 0, 100, 100))
    right = IndexedGrid(11, "430405001008000", "R", mbox(140, 0, 240, 100))
    idx = GridIndex([left, right], tolerance_m=30)
    loc = idx.locate(*m(120, 50))
    assert loc.grid_code == "430405001008000" and loc.approximate


def test_nan_and_out_of_range_points_are_nowhere(index: GridIndex) -> None:
    assert not index.locate(math.nan, LAT0).found
    ids, approx = index.locate_many(np.array([math.nan, 200.0]), np.array([LAT0, 95.0]))
    assert ids.tolist() == [-1, -1] and not approx.any()


@pytest.mark.parametrize("crs", [CRS.GCJ02, CRS.BD09, CRS.CGCS2000])
def test_points_in_other_coordinate_systems(index: GridIndex, crs: CRS) -> None:
    lng, lat = m(1500, 500)  # inside B, 500 m from A: a wrong conversion lands elsewhere
    shifted = from_wgs84(lng, lat, crs)
    if crs is not CRS.CGCS2000:
        assert distance_m(lng, lat, *shifted) > 400  # the offset alone would move it out of B
    assert index.locate(*shifted, crs).grid_code == "430405001002000"
    ids, _ = index.locate_many(np.array([shifted[0]]), np.array([shifted[1]]), crs)
    assert ids.tolist() == [2]


def _boundary_points(geoms: list, per_ring: int, rng: np.random.Generator) -> np.ndarray:
    """Vertices, and points interpolated along every edge (on or within rounding of it)."""
    rings = shapely.get_rings(shapely.get_parts(np.array(geoms, dtype=object)))
    pts = [shapely.get_coordinates(rings)]
    for ring in rings:
        fractions = rng.random(per_ring)
        line = shapely.LineString(ring.coords)
        pts.append(
            shapely.get_coordinates(
                shapely.line_interpolate_point(line, fractions, normalized=True)
            )
        )
    return np.concatenate(pts)


def _assert_fast_equals_exact(index: GridIndex, xs: np.ndarray, ys: np.ndarray) -> None:
    fast = index.locate_indexes(xs, ys)
    exact = index.exact_many(xs, ys)
    assert np.array_equal(fast[0], exact[0])
    assert np.array_equal(fast[1], exact[1])
    found = exact[0] >= 0
    assert np.allclose(fast[2][found], exact[2][found])
    # The single-point path agrees too.
    for k in range(0, len(xs), max(1, len(xs) // 2000)):
        loc = index.locate(float(xs[k]), float(ys[k]))
        expected = int(exact[0][k])
        assert (loc.grid_id if loc.found else -1) == (
            int(index.ids[expected]) if expected >= 0 else -1
        )
        assert loc.approximate == bool(exact[1][k])


def test_fast_path_equals_exact_rule_synthetic(index: GridIndex) -> None:
    rng = np.random.default_rng(5)
    n = 100_000
    xs, ys = m(-200 + rng.random(n) * 3400, -200 + rng.random(n) * 2400)
    edge = _boundary_points([g.geometry for g in GRIDS], 500, rng)
    _assert_fast_equals_exact(
        index, np.concatenate([xs, edge[:, 0]]), np.concatenate([ys, edge[:, 1]])
    )


def test_fast_path_equals_exact_rule_demo_city(demo_city) -> None:
    leaves = [f for f in demo_city.features if int(f.level) == 4]
    grids = [IndexedGrid(i, f.code, f.name, f.geometry) for i, f in enumerate(leaves, 1)]
    index = GridIndex(grids)
    rng = np.random.default_rng(11)
    minx, miny, maxx, maxy = shapely.total_bounds([g.geometry for g in grids])
    n = 300_000
    xs = minx - 0.003 + rng.random(n) * (maxx - minx + 0.006)
    ys = miny - 0.003 + rng.random(n) * (maxy - miny + 0.006)
    edge = _boundary_points([g.geometry for g in grids], 40, rng)
    _assert_fast_equals_exact(
        index, np.concatenate([xs, edge[:, 0]]), np.concatenate([ys, edge[:, 1]])
    )
    # Independently of the index: a point placed inside lies in its grid's polygon, and a
    # point placed nowhere is covered by no grid (the distance side is checked by PostGIS).
    ids, approx = index.locate_many(xs, ys)
    geom_of = {g.id: g.geometry for g in grids}
    inside = np.flatnonzero((ids >= 0) & ~approx)
    for k in inside[:: max(1, len(inside) // 3000)]:
        assert shapely.intersects_xy(geom_of[int(ids[k])], xs[k], ys[k])
    nowhere = np.flatnonzero(ids < 0)
    assert len(nowhere) > 0 and len(inside) > 0
    all_grids = shapely.union_all([g.geometry for g in grids])
    assert not shapely.intersects_xy(all_grids, xs[nowhere], ys[nowhere]).any()


def test_locator_follows_the_active_set() -> None:
    """A second process switches index when the active key changes (no restart)."""
    active = {"key": (1, 1, "t1")}
    sets = {1: GRIDS[:2], 2: GRIDS[2:4]}
    locator = Locator(
        lambda _s: active["key"], lambda set_id, _s: list(sets[set_id]), check_seconds=0
    )
    assert locator.index().locate(*m(500, 500)).grid_code == "430405001001000"
    active["key"] = (2, 2, "t2")
    assert locator.index().locate(*m(500, 500)).grid_code is None
    assert locator.index().locate(*m(1000, 1500)).grid_code == "430405001004000"
    active["key"] = None
    assert locator.index() is None


def test_locator_rechecks_only_after_its_interval() -> None:
    calls = []

    def load_active(_session):  # type: ignore[no-untyped-def]
        calls.append(1)
        return (1, 1, "t")

    locator = Locator(load_active, lambda _id, _s: list(GRIDS), check_seconds=3600)
    locator.index()
    locator.index()
    assert len(calls) == 1
    locator.invalidate()
    locator.index()
    assert len(calls) == 2
