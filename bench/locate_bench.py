"""Locate benchmark: the same 1,000,000 random points over the demo city, every method, one run.

Methods: our bulk locate (raster index), PostGIS's ``ST_Contains`` join with a GiST index (when
``DATABASE_URL`` is PostgreSQL), a loop of prepared shapely polygons with a bounding-box
pre-filter, and our single-point locate. Every method's answers are checked against the exact
rule. Results: ``bench/results/locate.json``.

    python -m bench.locate_bench [--points N] [--out PATH]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import shapely

from grids.demo import generate_city
from grids.locate import GridIndex, IndexedGrid

RESULTS = Path(__file__).resolve().parent / "results"


def best_of(repeat: int, fn) -> float:  # type: ignore[no-untyped-def]
    """The fastest of ``repeat`` timed runs of ``fn`` (seconds)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def prepared_loop(geoms: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Reference method: for each prepared polygon, bbox pre-filter then vectorised contains."""
    out = np.full(len(xs), -1, dtype=np.int64)
    bounds = shapely.bounds(geoms)
    for k in range(len(geoms) - 1, -1, -1):  # reverse, so the smallest code wins ties
        minx, miny, maxx, maxy = bounds[k]
        cand = np.flatnonzero((xs >= minx) & (xs <= maxx) & (ys >= miny) & (ys <= maxy))
        hit = shapely.contains_xy(geoms[k], xs[cand], ys[cand])
        out[cand[hit]] = k
    return out


def postgis_join(
    url: str, grids: list[IndexedGrid], xs: np.ndarray, ys: np.ndarray
) -> tuple[float, np.ndarray]:
    """Time PostGIS's point-in-polygon join over the same grids and points (temp tables)."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        cur = conn.cursor()
        cur.execute("CREATE TEMP TABLE bench_grid (k int, geom geometry(MultiPolygon, 4326))")
        with cur.copy("COPY bench_grid (k, geom) FROM STDIN") as copy:
            for k, g in enumerate(grids):
                mp = (
                    g.geometry
                    if g.geometry.geom_type == "MultiPolygon"
                    else shapely.MultiPolygon([g.geometry])
                )
                copy.write_row(
                    (k, shapely.to_wkb(shapely.set_srid(mp, 4326), hex=True, include_srid=True))
                )
        cur.execute("CREATE INDEX ON bench_grid USING gist (geom)")
        cur.execute("CREATE TEMP TABLE bench_pt (i int, geom geometry(Point, 4326))")
        buf = io.StringIO()
        for i, (x, y) in enumerate(zip(xs.tolist(), ys.tolist(), strict=True)):
            buf.write(f"{i}\tSRID=4326;POINT({x!r} {y!r})\n")
        buf.seek(0)
        with cur.copy("COPY bench_pt (i, geom) FROM STDIN") as copy:
            while chunk := buf.read(1 << 20):
                copy.write(chunk)
        cur.execute("ANALYZE bench_grid")
        cur.execute("ANALYZE bench_pt")
        start = time.perf_counter()
        cur.execute(
            "SELECT p.i, g.k FROM bench_pt p JOIN bench_grid g ON ST_Contains(g.geom, p.geom)"
        )
        rows = cur.fetchall()
        elapsed = time.perf_counter() - start
        conn.rollback()
    out = np.full(len(xs), len(grids), dtype=np.int64)
    if rows:
        arr = np.array(rows, dtype=np.int64)
        np.minimum.at(out, arr[:, 0], arr[:, 1])  # a shared border: the smallest code
    out[out == len(grids)] = -1
    return elapsed, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--single", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=RESULTS / "locate.json")
    args = parser.parse_args()

    city = generate_city()
    leaves = [f for f in city.features if int(f.level) == 4]
    grids = [IndexedGrid(i + 1, f.code, f.name, f.geometry) for i, f in enumerate(leaves)]
    start = time.perf_counter()
    index = GridIndex(grids)
    build_s = time.perf_counter() - start

    rng = np.random.default_rng(20261121)
    minx, miny, maxx, maxy = shapely.total_bounds([g.geometry for g in grids])
    xs = rng.uniform(minx, maxx, args.points)
    ys = rng.uniform(miny, maxy, args.points)

    # Ours, bulk.
    bulk_ids, bulk_approx = index.locate_many(xs, ys)
    bulk_s = best_of(3, lambda: index.locate_many(xs, ys))
    exact = index.exact_many(xs, ys)
    exact_ids = np.where(exact[0] >= 0, index.ids[np.maximum(exact[0], 0)], -1)
    exact_match = bool(
        np.array_equal(bulk_ids, exact_ids) and np.array_equal(bulk_approx, exact[1])
    )

    # Prepared polygons with bbox pre-filter (covers interior points only: compare those).
    ref = None

    def run_loop() -> None:
        nonlocal ref
        ref = prepared_loop(index.geoms, xs, ys)

    loop_s = best_of(2, run_loop)
    inside = ref >= 0
    loop_match = bool(np.array_equal(ref[inside], exact[0][inside]))

    # Single point.
    sx, sy = xs[: args.single].tolist(), ys[: args.single].tolist()
    locate = index.locate

    def run_single() -> None:
        for x, y in zip(sx, sy, strict=True):
            locate(x, y)

    single_s = best_of(3, run_single)
    singles = [locate(x, y) for x, y in zip(sx[:20000], sy[:20000], strict=True)]
    single_match = all(
        (loc.grid_id if loc.found else -1) == (int(index.ids[k]) if k >= 0 else -1)
        for loc, k in zip(singles, exact[0][:20000].tolist(), strict=True)
    )

    metrics: dict[str, float | None] = {
        "bulk_points_per_s": round(args.points / bulk_s),
        "postgis_join_points_per_s": None,
        "prepared_loop_points_per_s": round(args.points / loop_s),
        "single_point_us": round(single_s / args.single * 1e6, 3),
    }
    checks = {
        "bulk_equals_exact_rule": exact_match,
        "prepared_loop_agrees_where_it_finds_a_grid": loop_match,
        "single_equals_exact_rule_first_20000": single_match,
    }
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgresql"):
        pg_s, pg = postgis_join(url, grids, xs, ys)
        metrics["postgis_join_points_per_s"] = round(args.points / pg_s)
        pg_inside = pg >= 0
        checks["postgis_agrees_where_it_finds_a_grid"] = bool(
            np.array_equal(pg[pg_inside], exact[0][pg_inside])
        )
    ratios = {
        "bulk_vs_prepared_loop": round(
            metrics["bulk_points_per_s"] / metrics["prepared_loop_points_per_s"], 2
        ),
        "bulk_vs_postgis_join": (
            round(metrics["bulk_points_per_s"] / metrics["postgis_join_points_per_s"], 1)
            if metrics["postgis_join_points_per_s"]
            else None
        ),
    }
    result = {
        "metrics": metrics,
        "ratios": ratios,
        "checks": checks,
        "context": {
            "points": args.points,
            "single_points": args.single,
            "grids": len(grids),
            "index_build_s": round(build_s, 3),
            "index": index.stats(),
            "share_inside_a_grid": round(float((exact[0] >= 0).mean()), 4),
            "machine": (
                f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
            ),
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if not all(checks.values()):
        raise SystemExit("a method disagreed with the exact rule: see checks")


if __name__ == "__main__":
    main()
