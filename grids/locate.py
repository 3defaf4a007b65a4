"""Point → grid: an in-memory index of the active boundary set's finest grids.

The answer for every point is defined by the *exact* rule (``GridIndex.exact_many``):

1. the grids that cover the point (interior or boundary); on a shared border or vertex several
   do, and the one with the smallest code wins, so the answer is deterministic;
2. if none covers it, the nearest grid within the tolerance (default 30 m, measured in metres in
   a local transverse Mercator projection), ties again to the smallest code: *approximate*;
3. farther than that: no grid, and the caller is told so.

The fast path is a raster over the city: every cell that no grid boundary touches lies wholly in
one grid (or wholly outside all), so its answer is an array lookup. Only points in cells a
boundary passes through, or in the thin band around the city where the tolerance applies, take
the exact test. Both paths give identical answers; tests and the benchmark check it point by
point.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from grids.crs import CRS, to_wgs84, to_wgs84_many

#: Raster cell values besides grid indexes (0..n-1).
FAR = -1  #: farther than the tolerance from every grid: no grid
BORDER = -2  #: a grid boundary touches the cell: exact test
BAND = -3  #: outside every grid but possibly within the tolerance: exact nearest test
#: A cell value ``NEAR + k``: every point of the cell is outside every grid, within the tolerance
#: of grid ``k`` and clearly nearer to it than to any other grid.
NEAR = 16_384

#: Upper bound on raster cells (int16: 2 bytes each); the cell size grows to respect it.
MAX_CELLS = 24_000_000
_M_PER_DEG_LAT = 110_574.0
#: Distances closer than this (metres) are ties, resolved by the smallest code.
TIE_M = 0.01


@dataclass(frozen=True, slots=True)
class Location:
    """Where a point falls: a grid (exact or approximate) or nowhere, and why."""

    lng: float  #: WGS-84 longitude of the point
    lat: float  #: WGS-84 latitude of the point
    grid_id: int | None
    grid_code: str | None
    grid_name: str | None
    boundary_set_id: int | None
    boundary_set_version: int | None
    #: True when the point lies outside every grid and the nearest one within tolerance was taken.
    approximate: bool = False
    #: Metres from the point to the chosen grid (0 when inside).
    distance_m: float = 0.0
    tolerance_m: float = 0.0

    @property
    def found(self) -> bool:
        return self.grid_id is not None

    @property
    def status(self) -> str:
        """``inside``, ``nearest`` (approximate) or ``outside`` (no grid: manual placement)."""
        if self.grid_id is None:
            return "outside"
        return "nearest" if self.approximate else "inside"

    @property
    def message(self) -> str:
        """A plain sentence for the caller."""
        if self.grid_id is None:
            return (
                f"The point is more than {self.tolerance_m:g} m from every grid of the active "
                "boundary set; it needs manual placement."
            )
        if self.approximate:
            return (
                f"The point is outside every grid; the nearest grid {self.grid_code} is "
                f"{self.distance_m:.1f} m away (within the {self.tolerance_m:g} m tolerance)."
            )
        return f"The point is inside grid {self.grid_code}."


@dataclass(frozen=True, slots=True)
class IndexedGrid:
    """What the index needs of a grid: its id, code, name and WGS-84 geometry."""

    id: int
    code: str
    name: str
    geometry: BaseGeometry


def _local_transformer(lng0: float, lat0: float) -> Transformer:
    """A transverse Mercator centred on the city: metres with negligible distortion locally."""
    return Transformer.from_crs(
        "EPSG:4326",
        f"+proj=tmerc +lat_0={lat0} +lon_0={lng0} +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m",
        always_xy=True,
    )


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Square (Chebyshev) dilation of a boolean raster by ``radius`` cells, via running sums."""
    if radius <= 0:
        return mask.copy()
    out = mask
    for axis in (0, 1):
        counts = np.cumsum(out, axis=axis, dtype=np.int32)
        padded = np.concatenate(
            [
                np.zeros_like(np.take(counts, [0], axis=axis)).repeat(radius + 1, axis=axis),
                counts,
                np.take(counts, [-1], axis=axis).repeat(radius, axis=axis),
            ],
            axis=axis,
        )
        n = mask.shape[axis]
        hi = np.take(padded, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
        lo = np.take(padded, np.arange(0, n), axis=axis)
        out = (hi - lo) > 0
    return out


class GridIndex:
    """An immutable, prepared index of one boundary set's finest grids."""

    def __init__(
        self,
        grids: Sequence[IndexedGrid],
        *,
        boundary_set_id: int | None = None,
        boundary_set_version: int | None = None,
        tolerance_m: float = 30.0,
        cell_m: float = 4.0,
    ) -> None:
        if not grids:
            raise ValueError("a grid index needs at least one grid")
        ordered = sorted(grids, key=lambda g: g.code)  # index order = tie-break order
        self.boundary_set_id = boundary_set_id
        self.boundary_set_version = boundary_set_version
        self.tolerance_m = float(tolerance_m)
        self.ids = np.array([g.id for g in ordered], dtype=np.int64)
        self.codes = [g.code for g in ordered]
        self.names = [g.name for g in ordered]
        self._id_list = [g.id for g in ordered]
        self.geoms = np.array([g.geometry for g in ordered], dtype=object)
        shapely.prepare(self.geoms)
        self._tree = shapely.STRtree(self.geoms)

        minx, miny, maxx, maxy = shapely.total_bounds(self.geoms)
        self._lng0 = (minx + maxx) / 2
        self._lat0 = (miny + maxy) / 2
        self._to_metres = _local_transformer(self._lng0, self._lat0)
        fwd = self._to_metres

        def project(xy: np.ndarray) -> np.ndarray:
            x, y = fwd.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        # Distances are measured to boundary segments in metres: a point outside every grid is
        # as far from a grid as from its nearest boundary segment, and a segment costs O(1).
        geoms_m = shapely.transform(self.geoms, project)
        parts, part_grid = shapely.get_parts(geoms_m, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
        same = coord_ring[1:] == coord_ring[:-1]
        self._segments = shapely.linestrings(
            np.stack([coords[:-1][same], coords[1:][same]], axis=1)
        )
        self._segment_grid = part_grid[ring_part[coord_ring[:-1][same]]]
        self._segment_tree = shapely.STRtree(self._segments)
        self._build_raster(minx, miny, maxx, maxy, cell_m)

    # ------------------------------------------------------------------ raster construction
    def _build_raster(
        self, minx: float, miny: float, maxx: float, maxy: float, cell_m: float
    ) -> None:
        m_per_deg_lng = _M_PER_DEG_LAT * math.cos(math.radians(self._lat0))
        span_m = max((maxx - minx) * m_per_deg_lng, (maxy - miny) * _M_PER_DEG_LAT)
        margin_m = self.tolerance_m * 1.2 + 4 * cell_m
        # Grow the cell until the raster fits the memory bound.
        while ((span_m + 2 * margin_m) / cell_m) ** 2 > MAX_CELLS:
            cell_m *= 1.25
            margin_m = self.tolerance_m * 1.2 + 4 * cell_m
        self.cell_m = cell_m
        self._dx = cell_m / m_per_deg_lng
        self._dy = cell_m / _M_PER_DEG_LAT
        self._x0 = minx - margin_m / m_per_deg_lng
        self._y0 = miny - margin_m / _M_PER_DEG_LAT
        self._nx = math.ceil((maxx - self._x0) / self._dx + margin_m / cell_m) + 1
        self._ny = math.ceil((maxy - self._y0) / self._dy + margin_m / cell_m) + 1
        self._inv_dx = 1.0 / self._dx
        self._inv_dy = 1.0 / self._dy
        nx, ny = self._nx, self._ny

        border = np.zeros((ny, nx), dtype=bool)
        sx, sy = self._boundary_samples()
        border[
            np.floor((sy - self._y0) * self._inv_dy).astype(np.int64),
            np.floor((sx - self._x0) * self._inv_dx).astype(np.int64),
        ] = True
        # A boundary point lies within a quarter cell of a sample, so the sample's 3x3
        # neighbourhood holds every cell the boundary passes through (robust to rounding).
        border = _dilate(border, 1)

        # Runs of non-border cells along a row lie wholly inside one region: test one point each.
        free = ~border
        starts = free.copy()
        starts[:, 1:] &= ~free[:, :-1]
        run_rows, run_cols = np.nonzero(starts)
        cx = self._x0 + (run_cols + 0.5) * self._dx
        cy = self._y0 + (run_rows + 0.5) * self._dy
        run_values = self._covering(cx, cy)  # index or -1 (outside every grid)
        run_of_cell = np.cumsum(starts.ravel()) - 1
        raster = np.where(free.ravel(), run_values[np.maximum(run_of_cell, 0)], BORDER)
        raster = raster.reshape(ny, nx)

        # Outside cells close enough to a grid may be within the tolerance: exact nearest test.
        radius = math.ceil(self.tolerance_m * 1.1 / cell_m) + 2
        near = _dilate(raster != FAR, radius)
        band_rows, band_cols = np.nonzero((raster == FAR) & near)
        raster[band_rows, band_cols] = self._classify_band(band_rows, band_cols)
        self.raster = raster.astype(np.int16)
        self._flat = memoryview(np.ascontiguousarray(self.raster).ravel())

    def _classify_band(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """FAR, ``NEAR + k`` or BAND for cells outside every grid but near the city.

        Every point of a cell is within ``h`` (a generous half-diagonal) of its centre, so its
        distance to any grid is the centre's distance ± h: that settles most cells; the rest
        (near the tolerance's edge or equidistant from two grids) keep the exact test.
        """
        h = 0.75 * self.cell_m
        cx = self._x0 + (cols + 0.5) * self._dx
        cy = self._y0 + (rows + 0.5) * self._dy
        d1, k1, d2 = self._two_nearest(cx, cy, self.tolerance_m + 2 * h + 1.0)
        out = np.full(len(rows), BAND, dtype=np.int64)
        out[d1 - h > self.tolerance_m] = FAR
        clear = (d1 + h <= self.tolerance_m) & (d1 + h < d2 - h - TIE_M)
        out[clear] = NEAR + k1[clear]
        return out

    def _two_nearest(
        self, xs: np.ndarray, ys: np.ndarray, radius: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per point: distance to the nearest grid, its index, distance to the second nearest."""
        n = len(xs)
        d1 = np.full(n, np.inf)
        k1 = np.full(n, -1, dtype=np.int64)
        d2 = np.full(n, np.inf)
        pi, gi, d = self._segment_distances(xs, ys, radius)
        if len(pi):
            # Each grid's distance per point, then the two smallest per point.
            order = np.lexsort((d, gi, pi))
            pi, gi, d = pi[order], gi[order], d[order]
            first = np.ones(len(pi), dtype=bool)
            first[1:] = (pi[1:] != pi[:-1]) | (gi[1:] != gi[:-1])
            pi, gi, d = pi[first], gi[first], d[first]
            order = np.lexsort((gi, d, pi))
            pi, gi, d = pi[order], gi[order], d[order]
            starts = np.ones(len(pi), dtype=bool)
            starts[1:] = pi[1:] != pi[:-1]
            head = np.flatnonzero(starts)
            d1[pi[head]] = d[head]
            k1[pi[head]] = gi[head]
            second = head + 1
            ok = second < len(pi)
            ok[ok] &= pi[second[ok]] == pi[head[ok]]
            d2[pi[head[ok]]] = d[second[ok]]
        return d1, k1, d2

    def _segment_distances(
        self, xs: np.ndarray, ys: np.ndarray, radius: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(point, grid, metres) for every boundary segment within ``radius`` of each point."""
        mx, my = self._to_metres.transform(xs, ys)
        pts = shapely.points(mx, my)
        pi, si = self._segment_tree.query(pts, predicate="dwithin", distance=radius)
        return pi, self._segment_grid[si], shapely.distance(pts[pi], self._segments[si])

    def _boundary_samples(self) -> tuple[np.ndarray, np.ndarray]:
        """Points along every ring, spaced at most half a cell apart (in cell units)."""
        rings = shapely.get_rings(shapely.get_parts(self.geoms))
        coords, ring_index = shapely.get_coordinates(rings, return_index=True)
        same_ring = ring_index[1:] == ring_index[:-1]
        x0, y0 = coords[:-1][same_ring, 0], coords[:-1][same_ring, 1]
        x1, y1 = coords[1:][same_ring, 0], coords[1:][same_ring, 1]
        length_cells = np.hypot((x1 - x0) * self._inv_dx, (y1 - y0) * self._inv_dy)
        steps = np.ceil(length_cells * 2).astype(np.int64) + 1
        seg = np.repeat(np.arange(len(steps)), steps)
        offsets = np.arange(len(seg)) - np.repeat(np.cumsum(steps) - steps, steps)
        t = offsets / np.repeat(steps, steps)
        sx = x0[seg] + (x1 - x0)[seg] * t
        sy = y0[seg] + (y1 - y0)[seg] * t
        return np.concatenate([sx, x1]), np.concatenate([sy, y1])

    # ------------------------------------------------------------------ exact rule
    def _covering(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Index of the smallest-code grid covering each point, or -1."""
        result = np.full(len(xs), len(self.geoms), dtype=np.int64)
        if len(xs):
            pts = shapely.points(xs, ys)
            pi, gi = self._tree.query(pts)
            hit = shapely.intersects_xy(self.geoms[gi], xs[pi], ys[pi])
            np.minimum.at(result, pi[hit], gi[hit])
        result[result == len(self.geoms)] = -1
        return result

    def _nearest(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For points outside every grid: the nearest grid within the tolerance and its
        distance (m), or (-1, inf).

        Grids within ``TIE_M`` of the nearest distance count as equally near and the smallest
        code wins, so floating-point noise cannot make the answer depend on the platform.
        """
        index = np.full(len(xs), -1, dtype=np.int64)
        dist = np.full(len(xs), np.inf)
        if len(xs):
            pi, gi, d = self._segment_distances(xs, ys, self.tolerance_m)
            np.minimum.at(dist, pi, d)
            tie = d <= dist[pi] + TIE_M
            best = np.full(len(xs), len(self.geoms), dtype=np.int64)
            np.minimum.at(best, pi[tie], gi[tie])
            found = best < len(self.geoms)
            index[found] = best[found]
        return index, dist

    def exact_many(
        self, lngs: np.ndarray, lats: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The reference answer without the raster: (grid index or -1, approximate, distance m)."""
        lngs = np.asarray(lngs, dtype=np.float64)
        lats = np.asarray(lats, dtype=np.float64)
        index = self._covering(lngs, lats)
        approx = np.zeros(len(lngs), dtype=bool)
        dist = np.zeros(len(lngs))
        miss = np.flatnonzero(index < 0)
        if len(miss):
            near, d = self._nearest(lngs[miss], lats[miss])
            index[miss] = near
            approx[miss] = near >= 0
            dist[miss] = np.where(near >= 0, d, np.inf)
        return index, approx, dist

    # ------------------------------------------------------------------ fast path
    def locate_indexes(
        self, lngs: np.ndarray, lats: np.ndarray, *, with_distance: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Bulk locate WGS-84 points: (grid index or -1, approximate, distance m) per point.

        Without ``with_distance`` the distances of approximate points in settled band cells are
        left as NaN (bulk re-placement needs only the grid), which saves their exact test.
        """
        lngs = np.asarray(lngs, dtype=np.float64)
        lats = np.asarray(lats, dtype=np.float64)
        fx = (lngs - self._x0) * self._inv_dx
        fy = (lats - self._y0) * self._inv_dy
        with np.errstate(invalid="ignore"):  # NaN and huge inputs: masked off just below
            ix = fx.astype(np.int64)
            iy = fy.astype(np.int64)
        # Truncation equals floor for the non-negative values the range check admits.
        on = (fx >= 0) & (fx < self._nx) & (fy >= 0) & (fy < self._ny)
        np.clip(ix, 0, self._nx - 1, out=ix)
        np.clip(iy, 0, self._ny - 1, out=iy)
        index = self.raster[iy, ix].astype(np.int64)
        index[~on] = FAR
        approx = np.zeros(len(lngs), dtype=bool)
        dist = np.zeros(len(lngs))

        settled = np.flatnonzero(index >= NEAR)
        index[settled] -= NEAR
        approx[settled] = True
        dist[settled] = np.nan
        border = np.flatnonzero(index == BORDER)
        covering = self._covering(lngs[border], lats[border])
        index[border] = covering
        # Outside every grid but maybe within the tolerance: band cells, and border-cell points
        # that no grid covers (and settled cells, when distances are wanted).
        parts = [np.flatnonzero(index == BAND), border[covering < 0]]
        if with_distance:
            parts.append(settled)
        check = np.concatenate(parts)
        if len(check):
            near, d = self._nearest(lngs[check], lats[check])
            index[check] = near
            approx[check] = near >= 0
            dist[check] = np.where(near >= 0, d, np.inf)
        index[index < 0] = -1
        dist[index < 0] = np.inf
        return index, approx, dist

    def locate_many(
        self, lngs: np.ndarray, lats: np.ndarray, crs: CRS = CRS.WGS84
    ) -> tuple[np.ndarray, np.ndarray]:
        """Bulk locate: grid ids (-1 where none) and the approximate flags, per point."""
        if crs not in (CRS.WGS84, CRS.CGCS2000):
            lngs, lats = to_wgs84_many(np.asarray(lngs), np.asarray(lats), crs)
        index, approx, _ = self.locate_indexes(lngs, lats, with_distance=False)
        ids = np.where(index >= 0, self.ids[np.maximum(index, 0)], -1)
        return ids, approx

    def codes_near(self, lng: float, lat: float, radius_m: float) -> list[str]:
        """Codes of the grids that may lie within ``radius_m`` of a WGS-84 point (a bounding
        box test: it may name a grid a little farther away, never misses a nearer one)."""
        dlat = radius_m / _M_PER_DEG_LAT * 1.01
        dlng = dlat / max(math.cos(math.radians(lat)), 0.01)
        hits = self._tree.query(shapely.box(lng - dlng, lat - dlat, lng + dlng, lat + dlat))
        return sorted(self.codes[int(i)] for i in hits)

    def locate(self, lng: float, lat: float, crs: CRS = CRS.WGS84) -> Location:
        """Locate one point given in ``crs``."""
        if crs is not CRS.WGS84 and crs is not CRS.CGCS2000:
            lng, lat = to_wgs84(lng, lat, crs)
        fx = (lng - self._x0) * self._inv_dx
        fy = (lat - self._y0) * self._inv_dy
        if 0.0 <= fx < self._nx and 0.0 <= fy < self._ny:
            value = self._flat[int(fy) * self._nx + int(fx)]
        else:
            value = FAR
        if 0 <= value < NEAR:
            return self._location(lng, lat, value, False, 0.0)
        if value == FAR:
            return self._location(lng, lat, -1, False, math.inf)
        if value >= NEAR:  # settled band cell: the grid is known, measure the distance
            _, d = self._nearest(np.array([lng]), np.array([lat]))
            return self._location(lng, lat, value - NEAR, True, float(d[0]))
        xs = np.array([lng])
        ys = np.array([lat])
        if value == BORDER:
            k = int(self._covering(xs, ys)[0])
            if k >= 0:
                return self._location(lng, lat, k, False, 0.0)
        near, d = self._nearest(xs, ys)
        k = int(near[0])
        return self._location(lng, lat, k, k >= 0, float(d[0]))

    def _location(self, lng: float, lat: float, k: int, approx: bool, dist: float) -> Location:
        if k < 0:
            return Location(
                lng, lat, None, None, None, self.boundary_set_id, self.boundary_set_version,
                False, dist, self.tolerance_m,
            )  # fmt: skip
        return Location(
            lng, lat, self._id_list[k], self.codes[k], self.names[k], self.boundary_set_id,
            self.boundary_set_version, approx, dist, self.tolerance_m,
        )  # fmt: skip

    def stats(self) -> dict[str, float]:
        """Size figures of the raster (for logs and the benchmark report)."""
        total = self.raster.size
        return {
            "grids": len(self.geoms),
            "cell_m": round(self.cell_m, 3),
            "cells": int(total),
            "border_share": float(np.count_nonzero(self.raster == BORDER) / total),
            "band_share": float(np.count_nonzero(self.raster == BAND) / total),
            "settled_band_share": float(np.count_nonzero(self.raster >= NEAR) / total),
            "megabytes": self.raster.nbytes / 1e6,
        }


class Locator:
    """A process's view of the active set: rebuilds its index when another process activates one.

    ``load_active(session)`` returns the active set's key (id, version, activation stamp) and is
    cheap; ``load_grids(set_id, session)`` fetches the grids of a set (``session`` is the
    caller's, or None). The active key is re-read at most every
    ``check_seconds``; recently built indexes are kept so switching back costs nothing.
    """

    def __init__(
        self,
        load_active: Callable[[Any], tuple[int, int, str] | None],
        load_grids: Callable[[int, Any], list[IndexedGrid]],
        *,
        tolerance_m: float = 30.0,
        cell_m: float = 4.0,
        check_seconds: float = 2.0,
        keep: int = 2,
    ) -> None:
        self._load_active = load_active
        self._load_grids = load_grids
        self.tolerance_m = tolerance_m
        self.cell_m = cell_m
        self.check_seconds = check_seconds
        self._keep = keep
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[int, int, str], GridIndex] = OrderedDict()
        self._key: tuple[int, int, str] | None = None
        self._checked_at = -math.inf

    def invalidate(self) -> None:
        """Re-read the active set on the next call (used right after activating a set here)."""
        self._checked_at = -math.inf

    def index(self, session: Any = None) -> GridIndex | None:
        """The index of the active set, or None when no set is active.

        ``session``: the caller's database session, if it has one, for the (rare) reads.
        """
        now = time.monotonic()
        if now - self._checked_at >= self.check_seconds:
            key = self._load_active(session)
            self._checked_at = now
            self._key = key
        key = self._key
        if key is None:
            return None
        found = self._cache.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._cache.get(key)
            if found is None:
                found = GridIndex(
                    self._load_grids(key[0], session),
                    boundary_set_id=key[0],
                    boundary_set_version=key[1],
                    tolerance_m=self.tolerance_m,
                    cell_m=self.cell_m,
                )
                self._cache[key] = found
                while len(self._cache) > self._keep:
                    self._cache.popitem(last=False)
            return found
