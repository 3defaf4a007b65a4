"""A deterministic, Hengyang-like demo city: grids at four levels, the 湘江, and officers on duty.

The geometry is built so that neighbouring grids can never overlap or leave gaps:

1. A fine Voronoi tessellation (~37,000 cells of ~3,000 m²) is laid over the city in a local
   transverse-Mercator plane (metres).  Adjacent Voronoi cells share their edges *exactly*, with
   identical vertex coordinates, so any union of cells fits its neighbouring unions perfectly.
2. Each cell is classified: outside the wobbly city outline, river (湘江), island (东洲岛), or land.
3. Land cells are partitioned level by level (district → street → community), each level inside
   its parent, with a size-balanced power diagram computed on noise-warped positions (irregular
   but compact borders of the intended sizes).  Stray fragments are handed to a neighbour so
   every region is connected.
4. Special cases: the island's cells join the bank community facing it (a MultiPolygon), and
   a compact cluster deep inside one community becomes a campus community (enclave in a hole).
5. Grid geometries are coverage unions of their cells; everything is checked before returning.

Only ``numpy.random.default_rng(seed)`` supplies randomness, and nothing depends on set or hash
order, so a seed always produces byte-identical coordinates.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
import shapely.affinity
from pyproj import Transformer
from shapely.geometry import LineString, MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from grids.features import GridFeature, Level, OfficerSpec

DEFAULT_SEED = 20261121
CENTER_LON = 112.57
CENTER_LAT = 26.89
CITY_CODE = "430400000000000"
CITY_NAME = "衡阳市"

#: Local transverse Mercator centred on the city: metres with negligible scale error here.
LOCAL_CRS = (
    f"+proj=tmerc +lat_0={CENTER_LAT} +lon_0={CENTER_LON} +k=1 +x_0=0 +y_0=0 "
    "+ellps=WGS84 +units=m +no_defs"
)

_TARGET_LAND_M2 = 100e6  # community grids together
_CELL_SPACING_M = 55.0  # Voronoi seed spacing; sets vertex counts (~2.3 vertices per spacing)
_COMMUNITY_COUNT = 140
_DUTY_CHANGES = 10
_MAX_OVERLAP_M2 = 0.01

ISLAND_NAME = "东洲社区"
ENCLAVE_NAME = "南华大学社区"


class DemoCityError(RuntimeError):
    """The generated city broke one of its guarantees (a bug, or an unlucky seed)."""


@dataclass
class DemoCity:
    """A generated city: grids (parents before children), officers and the river between them."""

    features: list[GridFeature]
    officers: list[OfficerSpec]
    #: The water of the 湘江 inside the city: belongs to no grid, fills the gap between banks.
    river: Polygon
    #: The community grid that owns the island in the river (a two-part MultiPolygon).
    island_code: str
    #: The campus community lying in a hole of ``enclave_host_code``.
    enclave_code: str
    enclave_host_code: str


# --------------------------------------------------------------------------------------------
# The plan: districts, streets and name material
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _DistrictPlan:
    admin_code: str
    name: str
    full_name: str
    kind: str  # "district" (行政区) or "park" (园区)
    bank: str  # which side of the 湘江: "west" or "east"
    anchor: tuple[float, float]  # initial seed, as a fraction of the city's half-extent
    communities: int
    streets: tuple[str, ...]


_DISTRICTS: tuple[_DistrictPlan, ...] = (
    _DistrictPlan(
        "430405", "珠晖区", "衡阳市珠晖区", "district", "east", (0.70, -0.25), 28,
        ("广东路街道", "东风路街道", "冶金街道", "苗圃街道", "粤汉街道", "衡州路街道"),
    ),
    _DistrictPlan(
        "430406", "雁峰区", "衡阳市雁峰区", "district", "west", (0.05, -0.40), 23,
        ("先锋街道", "天马山街道", "雁峰街道", "黄茶岭街道", "金龙坪街道"),
    ),
    _DistrictPlan(
        "430407", "石鼓区", "衡阳市石鼓区", "district", "west", (0.05, 0.35), 24,
        ("人民路街道", "青山街道", "潇湘街道", "五一街道", "合江街道"),
    ),
    _DistrictPlan(
        "430408", "蒸湘区", "衡阳市蒸湘区", "district", "west", (-0.40, -0.05), 25,
        ("红湘街道", "蒸湘街道", "联合街道", "呆鹰岭街道", "雨母山乡"),
    ),
    _DistrictPlan(
        "430471", "高新区", "衡阳高新技术产业开发区", "park", "west", (-0.50, 0.50), 18,
        ("华新街道", "立新街道", "茅坪街道", "为民街道"),
    ),
    _DistrictPlan(
        "430473", "松木经济开发区", "衡阳松木经济开发区", "park", "east", (0.55, 0.65), 11,
        ("松木街道", "金源街道", "和平乡"),
    ),
    _DistrictPlan(
        "430474", "白沙洲工业园区", "衡阳白沙洲工业园区", "park", "west", (-0.15, -0.85), 11,
        ("白沙洲街道", "岳屏街道", "湘江乡"),
    ),
)  # fmt: skip

#: The campus enclave goes into this district (南华大学 is in 蒸湘区).
_ENCLAVE_DISTRICT = "430408"

#: Place-name stems for community names; each stem is used at most twice.
_STEMS_TEXT = (
    "环城 西湖 黄茶岭 天马 雁峰 先锋 湘江 蒸水 石鼓 来雁 合江 演武坪 司前 中山 解放 衡祁 船山 "
    "蒸阳 长湖 太平 红湘 联合 白沙 金龙 苗圃 粤汉 冶金 东风 广东 衡州 酃湖 茶山 东阳 狮子山 "
    "岳屏 回雁 枫林 桑园 公园 胜利 幸福 光辉 和平 建设 荷花坪 黄白 角山 湘桂 江东 三塘 仁爱 "
    "青山 潇湘 五一 人民 华新 立新 雨母 呆鹰岭 松亭 金源 新民 朝阳 向阳 红星 工农 铁路 桂花 "
    "龙泉 莲湖 清泉 秀峰 柳荫 紫荆 望城 凤凰 芙蓉 南岳 平湖 杉桥 新桥 高山 月塘 易赖 松梅 "
    "湘西 南郊 北塘 东岗 西站 草桥 珠晖 衡南 常胜 蔡伦"
)
_COMMUNITY_STEMS = tuple(_STEMS_TEXT.split())
_COMMUNITY_PATTERNS = (
    "{}社区",
    "{}社区",  # twice: the plain form is the most common in real lists
    "{}路社区",
    "{}新村社区",
    "{}东社区",
    "{}西社区",
    "{}南社区",
    "{}北社区",
)

_SURNAMES = "王李张刘陈杨黄赵周吴徐孙胡朱高林何郭马罗谢唐邓曾彭蒋廖肖邹谭贺欧旷颜"
_GIVEN_CHARS = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国文辉力斌婷雪琳晨浩宇欣怡俊峰波红玲"
    "鹏飞亮慧颖志海鑫燕凯群琴云龙彬丹春梅琼新坤湘衡岚晓卫东荣"
)
_PREFIXES_TEXT = "138 139 135 136 137 150 151 152 158 159 186 187 188 173 177 180 189 133 153 199"
_PHONE_PREFIXES = tuple(_PREFIXES_TEXT.split())


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def generate_city(seed: int = DEFAULT_SEED) -> DemoCity:
    """Generate the demo city for ``seed``; the same seed always gives identical output.

    Raises :class:`DemoCityError` if the result breaks a guarantee (validity, no overlaps,
    no gaps, parents covering children, vertex counts, river clearance).
    """
    rng = np.random.default_rng(seed)
    layout = _make_layout(rng)
    tess = _tessellate(rng, layout.blob.buffer(4 * _CELL_SPACING_M), _CELL_SPACING_M)
    cls = _classify_cells(tess, layout)
    plan = _plan_streets(rng)
    districts = _partition_districts(rng, tess, cls)
    streets = _partition_streets(rng, tess, districts, plan)
    comm = _partition_communities(rng, tess, layout, streets, plan)
    comm, enclave, host = _carve_enclave(rng, tess, comm)
    island = _attach_island(tess, cls, comm)
    city = _assemble(rng, tess, cls, plan, comm, _Specials(island, enclave, host))
    _validate(city, layout)
    return city


def to_geojson(city: DemoCity) -> dict[str, Any]:
    """The city's grids as a GeoJSON FeatureCollection (WGS-84 lon/lat), parents first.

    Properties: ``code``, ``name``, ``level`` (1-4), ``parent_code`` and the feature's extras.
    """
    features = []
    for feature in city.features:
        properties = {
            "code": feature.code,
            "name": feature.name,
            "level": int(feature.level),
            "parent_code": feature.parent_code,
            **feature.properties,
        }
        features.append(
            {
                "type": "Feature",
                "properties": properties,
                "geometry": _lists(mapping(feature.geometry)),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def to_local_metres(geometry: BaseGeometry) -> BaseGeometry:
    """Project a lon/lat geometry into the city's local metre plane (for areas and distances)."""
    forward, _ = _transformers()
    return shapely.transform(geometry, lambda xy: np.column_stack(forward.transform(*xy.T)))


def to_lonlat(geometry: BaseGeometry) -> BaseGeometry:
    """Inverse of :func:`to_local_metres`."""
    _, inverse = _transformers()
    return shapely.transform(geometry, lambda xy: np.column_stack(inverse.transform(*xy.T)))


def exterior_vertex_count(geometry: Polygon | MultiPolygon) -> int:
    """Distinct vertices on the exterior ring(s), the closing repeat not counted."""
    parts = geometry.geoms if isinstance(geometry, MultiPolygon) else [geometry]
    return sum(len(part.exterior.coords) - 1 for part in parts)


@functools.cache
def _transformers() -> tuple[Transformer, Transformer]:
    forward = Transformer.from_crs("EPSG:4326", LOCAL_CRS, always_xy=True)
    inverse = Transformer.from_crs(LOCAL_CRS, "EPSG:4326", always_xy=True)
    return forward, inverse


def _lists(value: Any) -> Any:
    """GeoJSON mappings from shapely use tuples; plain lists serialise the same everywhere."""
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(item) for item in value]
    return value


# --------------------------------------------------------------------------------------------
# Layout: city outline, river, island (all in local metres)
# --------------------------------------------------------------------------------------------


@dataclass
class _Layout:
    blob: Polygon  # the wobbly city outline
    river: Polygon  # the 湘江 as a shape (cells are classified against it)
    island: Polygon  # 东洲岛
    centerline: LineString  # the river's middle, for clearance checks
    island_span: tuple[float, float]  # y range around the island (its centreline crosses land)


def _make_layout(rng: np.random.Generator) -> _Layout:
    """Outline, river and island, scaled so the land comes to about 100 km²."""
    blob_unit = _blob_outline(rng)
    river_params = _river_params(rng)
    # The river's offset and the island's position scale with the city, so scale twice: the
    # second pass corrects for the river area measured with the first guess.
    scale = np.sqrt((_TARGET_LAND_M2 * 1.05) / blob_unit.area)
    for _ in range(2):
        blob = shapely.affinity.scale(blob_unit, scale, scale, origin=(0, 0))
        river, island, centerline, span = _river_shapes(river_params, blob)
        land = blob.area - blob.intersection(river).area + island.area
        scale *= np.sqrt(_TARGET_LAND_M2 / land)
    blob = shapely.affinity.scale(blob_unit, scale, scale, origin=(0, 0))
    river, island, centerline, span = _river_shapes(river_params, blob)
    return _Layout(blob, river, island, centerline, span)


def _blob_outline(rng: np.random.Generator) -> Polygon:
    """A smooth, irregular, north-south elongated outline of unit size."""
    orders = np.arange(2, 8)
    amplitudes = rng.uniform(0.03, 0.08, orders.size) / np.sqrt(orders - 1)
    phases = rng.uniform(0, 2 * np.pi, orders.size)
    theta = np.linspace(0, 2 * np.pi, 480, endpoint=False)
    radius = 1 + (amplitudes[:, None] * np.cos(orders[:, None] * theta + phases[:, None])).sum(0)
    # The real built-up area stretches along the river, so elongate north-south.
    return Polygon(np.column_stack([0.85 * radius * np.cos(theta), 1.2 * radius * np.sin(theta)]))


@dataclass(frozen=True)
class _RiverParams:
    amplitudes: np.ndarray  # meander amplitudes (m)
    wavelengths: np.ndarray  # meander wavelengths (m)
    phases: np.ndarray
    width_phase: float
    offset: float  # mean x of the river as a fraction of the city's half-width (east of centre)
    island_at: float  # island centre, as a fraction of the city's half-height


def _river_params(rng: np.random.Generator) -> _RiverParams:
    # Gentle meanders: slopes below ~40° and curvature radii above ~800 m, so the banks built
    # by offsetting the centreline never cross themselves.
    return _RiverParams(
        amplitudes=rng.uniform([300, 120, 40], [480, 220, 80]),
        wavelengths=rng.uniform([9000, 4500, 2500], [13000, 6500, 3500]),
        phases=rng.uniform(0, 2 * np.pi, 3),
        width_phase=float(rng.uniform(0, 2 * np.pi)),
        offset=float(rng.uniform(0.30, 0.36)),  # leaves ~28 % of the land east of the river
        island_at=float(rng.uniform(-0.30, -0.15)),  # 东洲岛 lies south of the centre
    )


def _river_shapes(
    params: _RiverParams, blob: Polygon
) -> tuple[Polygon, Polygon, LineString, tuple[float, float]]:
    """River polygon (with a widening around the island), island polygon and centreline."""
    minx, miny, maxx, maxy = blob.bounds
    x0 = params.offset * (maxx - minx) / 2
    island_y = params.island_at * (maxy - miny) / 2

    def centre_x(y: np.ndarray) -> np.ndarray:
        args = 2 * np.pi * y[:, None] / params.wavelengths + params.phases
        return x0 + (params.amplitudes * np.sin(args)).sum(axis=1)

    island_half_length, island_half_width = 550.0, 125.0
    ys = np.arange(miny - 1500, maxy + 1500, 25.0)
    width = 330 + 70 * np.sin(2 * np.pi * ys / 7000 + params.width_phase)  # 260..400 m
    # Widen the river smoothly around the island so each side channel stays ~200 m wide.
    reach = island_half_length + 900
    near = np.abs(ys - island_y) < reach
    width[near] += 420 * np.cos(np.pi / 2 * (ys[near] - island_y) / reach) ** 2
    river = _offset_band(ys, centre_x(ys), width / 2)

    s = np.linspace(-island_half_length, island_half_length, 89)[1:-1]
    island_half = island_half_width * (1 - (s / island_half_length) ** 2) ** 0.6
    island = _offset_band(island_y + s, centre_x(island_y + s), island_half)

    centerline = LineString(np.column_stack([centre_x(ys), ys]))
    span = (island_y - island_half_length - 300, island_y + island_half_length + 300)
    return river, island, centerline, span


def _offset_band(ys: np.ndarray, xs: np.ndarray, half_width: np.ndarray) -> Polygon:
    """A band of the given half-widths around the curve (xs(y), y), offset along its normals."""
    slope = np.gradient(xs, ys)
    norm = np.hypot(1, slope)
    nx, ny = 1 / norm, -slope / norm
    left = np.column_stack([xs - nx * half_width, ys - ny * half_width])
    right = np.column_stack([xs + nx * half_width, ys + ny * half_width])
    polygon = Polygon(np.vstack([left, right[::-1]]))
    if not polygon.is_valid:
        raise DemoCityError("river/island band is self-intersecting")
    return polygon


# --------------------------------------------------------------------------------------------
# Tessellation and cell graph
# --------------------------------------------------------------------------------------------


@dataclass
class _Tessellation:
    cells: np.ndarray  # Voronoi polygons, in the order of their seed points
    centroids: np.ndarray  # (n, 2)
    areas: np.ndarray  # (n,)
    edges: np.ndarray  # (m, 2) pairs of cells sharing an edge, a < b

    @property
    def size(self) -> int:
        return len(self.cells)


def _tessellate(rng: np.random.Generator, region: Polygon, spacing: float) -> _Tessellation:
    """Voronoi cells of a jittered square grid of points covering ``region``."""
    minx, miny, maxx, maxy = region.bounds
    gx, gy = np.meshgrid(np.arange(minx, maxx, spacing), np.arange(miny, maxy, spacing))
    points = np.column_stack([gx.ravel(), gy.ravel()])
    # Jitter makes the cells irregular (realistic borders) while keeping their sizes similar.
    points += rng.uniform(-0.4 * spacing, 0.4 * spacing, points.shape)
    points = points[shapely.contains_xy(region, points[:, 0], points[:, 1])]
    diagram = shapely.voronoi_polygons(shapely.multipoints(points), ordered=True)
    cells = np.asarray(shapely.get_parts(diagram))
    centroids = shapely.get_coordinates(shapely.centroid(cells))
    return _Tessellation(cells, centroids, shapely.area(cells), _cell_edges(cells))


def _cell_edges(cells: np.ndarray) -> np.ndarray:
    """Pairs of cells that share an edge (identical end points), sorted, each pair once."""
    coords, owner = shapely.get_coordinates(cells, return_index=True)
    _, vertex = np.unique(coords, axis=0, return_inverse=True)
    vertex = vertex.ravel()
    same = owner[:-1] == owner[1:]
    va, vb, cell = vertex[:-1][same], vertex[1:][same], owner[:-1][same]
    proper = va != vb
    va, vb, cell = va[proper], vb[proper], cell[proper]
    key = np.minimum(va, vb).astype(np.int64) * (vertex.max() + 1) + np.maximum(va, vb)
    order = np.argsort(key, kind="stable")
    key, cell = key[order], cell[order]
    shared = np.flatnonzero(key[:-1] == key[1:])
    pairs = np.column_stack([cell[shared], cell[shared + 1]])
    pairs.sort(axis=1)
    return np.unique(pairs, axis=0)


def _components(n: int, edges: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Connected components joining neighbours with equal ``key >= 0``.

    Returns for each cell the smallest cell index of its component (min-label propagation with
    pointer jumping, all in numpy).
    """
    a, b = edges[:, 0], edges[:, 1]
    keep = (key[a] == key[b]) & (key[a] >= 0)
    a, b = a[keep], b[keep]
    comp = np.arange(n)
    while True:
        previous = comp.copy()
        ca, cb = comp[a], comp[b]
        low = np.minimum(ca, cb)
        np.minimum.at(comp, ca, low)
        np.minimum.at(comp, cb, low)
        np.minimum.at(comp, a, low)
        np.minimum.at(comp, b, low)
        while True:  # pointer jumping until every cell points at a root
            jumped = comp[comp]
            if np.array_equal(jumped, comp):
                break
            comp = jumped
        if np.array_equal(comp, previous):
            return comp


def _make_connected(
    labels: np.ndarray, scope: np.ndarray, edges: np.ndarray, areas: np.ndarray
) -> np.ndarray:
    """Hand every fragment of a region that is not its largest piece to a neighbouring region.

    ``labels`` is -1 for cells outside the partition; fragments only move to neighbours with the
    same ``scope`` (the parent region), choosing the one sharing most edges with them.
    """
    labels = labels.copy()
    n = len(labels)
    src = np.concatenate([edges[:, 0], edges[:, 1]])
    dst = np.concatenate([edges[:, 1], edges[:, 0]])
    for _ in range(50):
        comp = _components(n, edges, labels)
        valid = labels >= 0
        comp_ids = np.unique(comp[valid])
        comp_area = np.bincount(comp[valid], weights=areas[valid], minlength=n)[comp_ids]
        comp_label = labels[comp_ids]
        order = np.lexsort((comp_ids, -comp_area, comp_label))
        first = np.r_[True, comp_label[order][1:] != comp_label[order][:-1]]
        main = np.full(labels.max() + 1, -1)
        main[comp_label[order][first]] = comp_ids[order][first]
        orphan = valid & (comp != main[np.maximum(labels, 0)])
        if not orphan.any():
            return labels
        usable = orphan[src] & ~orphan[dst] & (labels[dst] >= 0) & (scope[src] == scope[dst])
        if not usable.any():
            raise DemoCityError("a region fragment has no neighbour to join")
        pairs, counts = np.unique(
            np.column_stack([comp[src[usable]], labels[dst[usable]]]), axis=0, return_counts=True
        )
        order = np.lexsort((pairs[:, 1], -counts, pairs[:, 0]))
        first = np.r_[True, pairs[order][1:, 0] != pairs[order][:-1, 0]]
        target = np.full(n, -1)
        target[pairs[order][first, 0]] = pairs[order][first, 1]
        moving = orphan & (target[comp] >= 0)
        labels[moving] = target[comp[moving]]
    raise DemoCityError("could not make regions connected")


# --------------------------------------------------------------------------------------------
# Cell classification
# --------------------------------------------------------------------------------------------

_OUTSIDE, _WATER, _ISLAND, _WEST, _EAST = -1, 0, 1, 2, 3


@dataclass
class _Classes:
    kind: np.ndarray  # one of _OUTSIDE, _WATER, _ISLAND, _WEST, _EAST per cell

    def where(self, kind: int) -> np.ndarray:
        return np.flatnonzero(self.kind == kind)


def _classify_cells(tess: _Tessellation, layout: _Layout) -> _Classes:
    """Decide per cell (by its centroid) whether it is outside, water, island, west or east."""
    n, edges = tess.size, tess.edges
    x, y = tess.centroids.T
    inside = shapely.contains_xy(layout.blob, x, y)
    # Keep one solid city: its largest piece, with any enclosed outside cells filled in.
    inside = _largest_component(n, edges, inside, tess.areas)
    inside = ~_largest_component(n, edges, ~inside, tess.areas)

    kind = np.full(n, _OUTSIDE)
    in_river = inside & shapely.contains_xy(layout.river, x, y)
    on_island = in_river & shapely.contains_xy(layout.island, x, y)
    kind[inside] = _WEST  # provisional land
    kind[in_river] = _WATER
    on_island &= _largest_component(n, edges, on_island, tess.areas)
    kind[on_island] = _ISLAND
    # Stray river cells cut off from the main water (at the outline) count as land instead.
    water = kind == _WATER
    kind[water & ~_largest_component(n, edges, water, tess.areas)] = _WEST

    # The river must split the land in two; tiny pockets cut off by it become water.
    land = kind == _WEST
    comp = _components(n, edges, np.where(land, 0, -1))
    ids = np.unique(comp[land])
    sizes = np.bincount(comp[land], weights=tess.areas[land], minlength=n)[ids]
    order = np.lexsort((ids, -sizes))
    if len(ids) < 2 or sizes[order[2:]].sum() > 0.01 * sizes.sum():
        raise DemoCityError("the river does not split the land into two banks")
    banks = ids[order[:2]]
    mean_x = [x[comp == bank].mean() for bank in banks]
    west, east = (banks[0], banks[1]) if mean_x[0] < mean_x[1] else (banks[1], banks[0])
    kind[land] = _WATER
    kind[comp == west] = _WEST
    kind[comp == east] = _EAST
    return _Classes(kind)


def _largest_component(
    n: int, edges: np.ndarray, mask: np.ndarray, areas: np.ndarray
) -> np.ndarray:
    comp = _components(n, edges, np.where(mask, 0, -1))
    ids = np.unique(comp[mask])
    sizes = np.bincount(comp[mask], weights=areas[mask], minlength=n)[ids]
    best = ids[np.lexsort((ids, -sizes))[0]]
    return mask & (comp == best)


# --------------------------------------------------------------------------------------------
# Hierarchical partition
# --------------------------------------------------------------------------------------------


class _Warp:
    """A smooth random displacement field; partitioning warped positions makes borders wiggle."""

    def __init__(self, rng: np.random.Generator, wavelength: float, amplitude: float) -> None:
        count = 5
        angles = rng.uniform(0, 2 * np.pi, (2, count))
        lengths = wavelength * rng.uniform(0.6, 1.5, (2, count))
        self._k = np.stack([np.cos(angles), np.sin(angles)], axis=-1) * (2 * np.pi)
        self._k /= lengths[..., None]
        self._phases = rng.uniform(0, 2 * np.pi, (2, count))
        self._amplitude = amplitude / np.sqrt(count)

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        shift = [np.sin(xy @ self._k[i].T + self._phases[i]).sum(axis=1) for i in range(2)]
        return xy + self._amplitude * np.column_stack(shift)


def _balanced_partition(
    pos: np.ndarray,
    areas: np.ndarray,
    seeds: np.ndarray,
    targets: np.ndarray,
    pinned: int | None = None,
) -> np.ndarray:
    """Assign points to seeds so each seed's region gets about its target area.

    A power diagram: distance² minus a per-seed weight.  The weights are nudged toward the
    targets (raising a weight by Δ m² grows a compact region by roughly 1.5·Δ m², and its
    neighbours move the other way, so a gain of 0.3 converges without oscillating), and the
    seeds move to their regions' centroids (Lloyd) for compact shapes; the last rounds only
    tune the weights.  A ``pinned`` seed stays where it is, so its region stays around that spot.
    """
    seeds = seeds.astype(float).copy()
    weights = np.zeros(len(seeds))
    iterations = 80
    for step in range(iterations + 1):
        dx = pos[:, 0, None] - seeds[:, 0]
        dy = pos[:, 1, None] - seeds[:, 1]
        d2 = dx * dx + dy * dy - weights
        labels = d2.argmin(axis=1)
        if step == iterations:
            return labels
        got = np.bincount(labels, weights=areas, minlength=len(seeds))
        weights += 0.3 * (targets - got)
        if step < iterations - 30:
            filled = got > 0
            if pinned is not None:
                filled[pinned] = False
            for axis in range(2):
                total = np.bincount(labels, weights=areas * pos[:, axis], minlength=len(seeds))
                seeds[filled, axis] = total[filled] / got[filled]
    raise AssertionError("unreachable")


def _spread_seeds(rng: np.random.Generator, pos: np.ndarray, count: int) -> np.ndarray:
    """k-means++ style initial seeds: far apart, drawn reproducibly from ``rng``."""
    chosen = [int(rng.integers(len(pos)))]
    d2 = ((pos - pos[chosen[0]]) ** 2).sum(axis=1)
    for _ in range(count - 1):
        pick = int(rng.choice(len(pos), p=d2 / d2.sum()))
        chosen.append(pick)
        d2 = np.minimum(d2, ((pos - pos[pick]) ** 2).sum(axis=1))
    return pos[chosen]


@dataclass(frozen=True)
class _StreetSlot:
    district: int  # index into _DISTRICTS
    communities: int  # number of community grids, the enclave included


def _plan_streets(rng: np.random.Generator) -> list[_StreetSlot]:
    """Split each district's community count over its streets (3-7 each)."""
    slots = []
    for index, district in enumerate(_DISTRICTS):
        counts = np.full(len(district.streets), 3)
        for _ in range(district.communities - counts.sum()):
            open_ = np.flatnonzero(counts < 7)
            counts[open_[rng.integers(len(open_))]] += 1
        slots.extend(_StreetSlot(index, int(c)) for c in counts)
    return slots


def _partition_districts(
    rng: np.random.Generator, tess: _Tessellation, cls: _Classes
) -> np.ndarray:
    """District index per cell (-1 off land); each bank is split among its own districts."""
    warp = _Warp(rng, 3500, 300)
    half = np.ptp(tess.centroids[cls.kind >= _WEST], axis=0) / 2
    labels = np.full(tess.size, -1)
    for bank, name in ((_WEST, "west"), (_EAST, "east")):
        idx = cls.where(bank)
        members = [i for i, d in enumerate(_DISTRICTS) if d.bank == name]
        weights = np.array([_DISTRICTS[i].communities for i in members], float)
        targets = tess.areas[idx].sum() * weights / weights.sum()
        seeds = np.array([_DISTRICTS[i].anchor for i in members]) * half
        local = _balanced_partition(warp(tess.centroids[idx]), tess.areas[idx], seeds, targets)
        labels[idx] = np.array(members)[local]
    return _make_connected(labels, np.where(labels >= 0, cls.kind, -1), tess.edges, tess.areas)


def _partition_streets(
    rng: np.random.Generator, tess: _Tessellation, districts: np.ndarray, plan: list[_StreetSlot]
) -> np.ndarray:
    """Street slot index per cell, each district split among its streets by community count."""
    warp = _Warp(rng, 1600, 130)
    labels = np.full(tess.size, -1)
    for d in range(len(_DISTRICTS)):
        idx = np.flatnonzero(districts == d)
        members = [j for j, slot in enumerate(plan) if slot.district == d]
        weights = np.array([plan[j].communities for j in members], float)
        targets = tess.areas[idx].sum() * weights / weights.sum()
        pos = warp(tess.centroids[idx])
        seeds = _spread_seeds(rng, pos, len(members))
        labels[idx] = np.array(members)[_balanced_partition(pos, tess.areas[idx], seeds, targets)]
    return _make_connected(labels, districts, tess.edges, tess.areas)


#: Relative size of special communities' seeds in the balanced partition.
_HOST_WEIGHT = 2.1  # the host loses about one normal community's area to the enclave
_ISLAND_BANK_WEIGHT = 0.6  # the island grid also gets the island, keep its bank part small


@dataclass
class _Communities:
    labels: np.ndarray  # community index per cell (-1 = none)
    street: list[int]  # street slot of each community index
    host: int  # community that will receive the enclave
    island: int  # community meant to own the island


def _partition_communities(
    rng: np.random.Generator,
    tess: _Tessellation,
    layout: _Layout,
    streets: np.ndarray,
    plan: list[_StreetSlot],
) -> _Communities:
    """Community index per cell, each street split into equal-sized communities.

    Two exceptions: the enclave's street gets one seed fewer and its host seed double weight
    (the enclave is carved out of the host later), and the community facing the island gets a
    small bank part because the island will be added to it.
    """
    warp = _Warp(rng, 800, 60)
    island_centre = np.asarray(layout.island.centroid.coords[0])
    land = np.flatnonzero(streets >= 0)
    nearest = land[((tess.centroids[land] - island_centre) ** 2).sum(axis=1).argmin()]
    island_street = int(streets[nearest])
    host_street = _enclave_street(plan)

    labels = np.full(tess.size, -1)
    street_of: list[int] = []
    host = island = -1
    for j, slot in enumerate(plan):
        idx = np.flatnonzero(streets == j)
        pos = warp(tess.centroids[idx])
        count = slot.communities - (1 if j == host_street else 0)
        seeds = _spread_seeds(rng, pos, count)
        weights = np.ones(count)
        if j == host_street:
            centre = np.average(pos, axis=0, weights=tess.areas[idx])
            h = int(((seeds - centre) ** 2).sum(axis=1).argmin())
            weights[h] = _HOST_WEIGHT
            host = len(street_of) + h
        pinned = None
        if j == island_street:
            # Pin a small community's seed on the bank facing the island, so the community
            # that gets the island really lies opposite it.
            pinned = int(((seeds - island_centre) ** 2).sum(axis=1).argmin())
            seeds[pinned] = pos[np.searchsorted(idx, nearest)]
            weights[pinned] = _ISLAND_BANK_WEIGHT
            island = len(street_of) + pinned
        targets = tess.areas[idx].sum() * weights / weights.sum()
        local = _balanced_partition(pos, tess.areas[idx], seeds, targets, pinned)
        labels[idx] = len(street_of) + local
        street_of.extend([j] * count)
    labels = _make_connected(labels, streets, tess.edges, tess.areas)
    return _Communities(labels, street_of, host, island)


def _enclave_street(plan: list[_StreetSlot]) -> int:
    """The street slot (of the enclave district) with most communities gets the campus."""
    district = next(i for i, d in enumerate(_DISTRICTS) if d.admin_code == _ENCLAVE_DISTRICT)
    candidates = [j for j, slot in enumerate(plan) if slot.district == district]
    return max(candidates, key=lambda j: (plan[j].communities, -j))


def _carve_enclave(
    rng: np.random.Generator, tess: _Tessellation, comm: _Communities
) -> tuple[_Communities, int, int]:
    """Turn a compact, lobed cluster deep inside the host into its own community."""
    labels = comm.labels.copy()
    host = comm.host
    inside = labels == host
    depth = _depth_from_border(tess, inside)
    # A margin of at least three cells keeps the enclave off the host's outer ring.
    eligible = inside & (depth >= 3)
    if not eligible.any():
        raise DemoCityError("enclave host has no deep interior")
    start = int(np.flatnonzero(depth == depth.max())[0])
    typical = np.median(np.bincount(labels[labels >= 0]))
    want = int(0.85 * typical)
    # Lobed priority (distance stretched by direction) gives a campus-like, not round, outline.
    offset = tess.centroids - tess.centroids[start]
    angle = np.arctan2(offset[:, 1], offset[:, 0])
    phase = rng.uniform(0, 2 * np.pi)
    priority = np.hypot(*offset.T) * (1 + 0.3 * np.sin(3 * angle + phase))
    candidates = np.flatnonzero(eligible)
    chosen = candidates[np.argsort(priority[candidates], kind="stable")[:want]]
    cluster = np.zeros(tess.size, bool)
    cluster[chosen] = True
    cluster = _largest_component(tess.size, tess.edges, cluster, tess.areas)
    # Fill any host cells the cluster encloses so the enclave itself has no holes.
    rest = inside & ~cluster
    cluster |= rest & ~_largest_component(tess.size, tess.edges, rest, tess.areas)
    enclave = len(comm.street)
    labels[cluster] = enclave
    street = [*comm.street, comm.street[host]]
    return _Communities(labels, street, host, comm.island), enclave, host


def _depth_from_border(tess: _Tessellation, region: np.ndarray) -> np.ndarray:
    """Graph distance (in cells) from each region cell to the nearest cell outside the region."""
    a, b = tess.edges[:, 0], tess.edges[:, 1]
    depth = np.full(tess.size, -1)
    border = np.zeros(tess.size, bool)
    border[a[region[a] & ~region[b]]] = True
    border[b[region[b] & ~region[a]]] = True
    depth[border] = 0
    level = 0
    inner = region[a] & region[b]
    a, b = a[inner], b[inner]
    while True:
        frontier = np.zeros(tess.size, bool)
        frontier[b[(depth[a] == level) & (depth[b] < 0)]] = True
        frontier[a[(depth[b] == level) & (depth[a] < 0)]] = True
        if not frontier.any():
            return depth
        level += 1
        depth[frontier] = level


def _attach_island(tess: _Tessellation, cls: _Classes, comm: _Communities) -> int:
    """Give the island's cells to the community planned for it; return its index.

    That community's seed started nearest to the island and got a small weight, so its bank
    part is small enough for bank + island to stay within the vertex budget.
    """
    island_cells = cls.where(_ISLAND)
    centre = tess.centroids[island_cells].mean(axis=0)
    land = np.flatnonzero(comm.labels >= 0)
    distance = np.hypot(*(tess.centroids[land] - centre).T)
    owned = comm.labels[land] == comm.island
    # It must face the island: about as close to it as the closest bank cell of all.
    if distance[owned].min() > distance.min() + 250:
        raise DemoCityError("the island's community does not face the island")
    comm.labels[island_cells] = comm.island
    return comm.island


# --------------------------------------------------------------------------------------------
# Assembly: geometry, codes, names, officers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Specials:
    island: int  # community index owning the island
    enclave: int  # community index of the campus enclave
    host: int  # community index with the hole


def _assemble(
    rng: np.random.Generator,
    tess: _Tessellation,
    cls: _Classes,
    plan: list[_StreetSlot],
    comm: _Communities,
    specials: _Specials,
) -> DemoCity:
    """Build geometries (coverage unions of cells), then number and name every grid."""
    community_m = _community_geometries(tess, comm)
    if len(community_m) != _COMMUNITY_COUNT:
        raise DemoCityError(f"{len(community_m)} community grids, expected {_COMMUNITY_COUNT}")
    names = iter(_community_names(rng, _COMMUNITY_COUNT - 2))
    districts: list[GridFeature] = []
    streets: list[GridFeature] = []
    communities: list[GridFeature] = []
    codes: dict[int, str] = {}
    for d, district in enumerate(_DISTRICTS):
        d_code = district.admin_code + "0" * 9
        ordered = _streets_in_order(d, plan, comm, community_m)
        for s_no, (s_geom, members) in enumerate(ordered, start=1):
            s_code = f"{district.admin_code}{s_no:03d}000000"
            streets.append(
                _feature(s_code, district.streets[s_no - 1], Level.STREET, d_code, s_geom)
            )
            for c_no, c in enumerate(members, start=1):
                codes[c] = f"{s_code[:9]}{c_no:03d}000"
                if c == specials.island:
                    name, extra = ISLAND_NAME, {"kind": "island"}
                elif c == specials.enclave:
                    name, extra = ENCLAVE_NAME, {"kind": "enclave"}
                else:
                    name, extra = next(names), {}
                communities.append(
                    _feature(codes[c], name, Level.COMMUNITY, s_code, community_m[c], extra)
                )
        d_geom = shapely.coverage_union_all([geom for geom, _ in ordered])
        extra = {
            "admin_code": district.admin_code,
            "full_name": district.full_name,
            "kind": district.kind,
        }
        districts.append(_feature(d_code, district.name, Level.DISTRICT, CITY_CODE, d_geom, extra))
    city_m = shapely.coverage_union_all([f.geometry for f in districts])
    city = _feature(CITY_CODE, CITY_NAME, Level.CITY, None, city_m, {"admin_code": "430400"})
    features = [city, *districts, *streets, *communities]  # codes ascend within each level
    for feature in features:
        feature.geometry = to_lonlat(feature.geometry)
    return DemoCity(
        features=features,
        officers=_officers(rng, sorted(codes.values())),
        river=to_lonlat(shapely.coverage_union_all(tess.cells[cls.kind == _WATER])),
        island_code=codes[specials.island],
        enclave_code=codes[specials.enclave],
        enclave_host_code=codes[specials.host],
    )


def _community_geometries(tess: _Tessellation, comm: _Communities) -> list[BaseGeometry]:
    """Each community's cells merged; shared cell edges make neighbours fit exactly."""
    order = np.argsort(comm.labels, kind="stable")
    bounds = np.searchsorted(comm.labels[order], np.arange(len(comm.street) + 1))
    return [
        shapely.coverage_union_all(tess.cells[order[bounds[c] : bounds[c + 1]]])
        for c in range(len(comm.street))
    ]


def _streets_in_order(
    district: int, plan: list[_StreetSlot], comm: _Communities, community_m: list[BaseGeometry]
) -> list[tuple[BaseGeometry, list[int]]]:
    """The district's streets as (geometry, member communities), both ordered north-west first."""
    streets = []
    for j, slot in enumerate(plan):
        if slot.district != district:
            continue
        members = [c for c, s in enumerate(comm.street) if s == j]
        members.sort(key=lambda c: _north_west_key(community_m[c]))
        streets.append((shapely.coverage_union_all([community_m[c] for c in members]), members))
    return sorted(streets, key=lambda item: _north_west_key(item[0]))


def _feature(
    code: str,
    name: str,
    level: Level,
    parent: str | None,
    geometry_m: BaseGeometry,
    extra: dict[str, Any] | None = None,
) -> GridFeature:
    """A feature (geometry still in metres) with its area in m² among the properties."""
    properties = {**(extra or {}), "area_m2": round(geometry_m.area, 1)}
    return GridFeature(code, name, level, parent, geometry_m, properties)


def _north_west_key(geometry: BaseGeometry) -> tuple[float, float]:
    """Number grids from north to south, then west to east (rounded to whole metres)."""
    point = geometry.centroid
    return (-round(point.y), round(point.x))


def _community_names(rng: np.random.Generator, count: int) -> list[str]:
    """Unique, real-looking community names; every stem is used at most twice."""
    pool = list(
        dict.fromkeys(  # the doubled pattern makes duplicates: dedupe, keeping the order
            (stem, pattern.format(stem))
            for stem in _COMMUNITY_STEMS
            for pattern in _COMMUNITY_PATTERNS
        )
    )
    names: dict[str, None] = {}  # insertion-ordered, so iteration never depends on hashing
    used: dict[str, int] = {}
    for i in rng.permutation(len(pool)):
        stem, name = pool[i]
        if used.get(stem, 0) >= 2 or name in names or name in (ISLAND_NAME, ENCLAVE_NAME):
            continue
        used[stem] = used.get(stem, 0) + 1
        names[name] = None
        if len(names) == count:
            return list(names)
    raise DemoCityError("not enough community names")


def _officers(rng: np.random.Generator, codes: Sequence[str]) -> list[OfficerSpec]:
    """A primary and one or two deputies per grid; some grids changed primary on 2026-06-01."""
    people = _People(rng)
    changed = {codes[i] for i in rng.choice(len(codes), _DUTY_CHANGES, replace=False)}
    officers = []
    for code in codes:
        if code in changed:
            officers.append(people.officer(code, "primary", "2025-01-01", "2026-05-31"))
            officers.append(people.officer(code, "primary", "2026-06-01"))
        else:
            officers.append(people.officer(code, "primary", "2025-01-01"))
        for _ in range(int(rng.integers(1, 3))):
            officers.append(people.officer(code, "deputy", "2025-01-01"))
    return officers


class _People:
    """Draws unique names and phone numbers."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._names: dict[str, None] = {}
        self._phones: dict[str, None] = {}

    def officer(
        self, code: str, role: str, starts_on: str, ends_on: str | None = None
    ) -> OfficerSpec:
        return OfficerSpec(code, self._name(), self._phone(), role, starts_on, ends_on)

    def _name(self) -> str:
        rng = self._rng
        while True:
            length = 1 if rng.random() < 0.25 else 2
            given = "".join(_GIVEN_CHARS[rng.integers(len(_GIVEN_CHARS))] for _ in range(length))
            name = _SURNAMES[rng.integers(len(_SURNAMES))] + given
            if name not in self._names:
                self._names[name] = None
                return name

    def _phone(self) -> str:
        rng = self._rng
        while True:
            prefix = _PHONE_PREFIXES[rng.integers(len(_PHONE_PREFIXES))]
            phone = f"{prefix}{int(rng.integers(10**8)):08d}"
            if phone not in self._phones:
                self._phones[phone] = None
                return phone


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _validate(city: DemoCity, layout: _Layout) -> None:
    """Raise :class:`DemoCityError` unless every guarantee of the module docstring holds."""
    by_code = {f.code: f for f in city.features}
    for feature in city.features:
        if not feature.geometry.is_valid:
            raise DemoCityError(f"{feature.code}: invalid geometry")
        if feature.parent_code is not None:
            parent = by_code[feature.parent_code].geometry
            if not parent.buffer(1e-9).covers(feature.geometry):
                raise DemoCityError(f"{feature.code}: not covered by {feature.parent_code}")
    communities = [f for f in city.features if f.level == Level.COMMUNITY]
    if len(communities) != _COMMUNITY_COUNT:
        raise DemoCityError("wrong number of community grids")
    for feature in communities:
        _check_shape(city, feature)
    geoms = np.array([f.geometry for f in communities])
    _check_overlaps(geoms)
    if not isinstance(city.river, Polygon) or not city.river.is_valid:
        raise DemoCityError("the river must be one valid polygon")
    everything = shapely.coverage_union_all([*geoms, city.river])
    if not isinstance(everything, Polygon) or everything.interiors:
        raise DemoCityError("communities and river leave a gap")
    total = sum(to_local_metres(g).area for g in geoms)
    if not 85e6 <= total <= 115e6:
        raise DemoCityError(f"community area {total / 1e6:.1f} km² out of range")
    _check_river_clearance(layout, geoms)


def _check_shape(city: DemoCity, feature: GridFeature) -> None:
    """Polygon (island: two parts), holes only in the host, 100-300 exterior vertices."""
    geometry = feature.geometry
    if feature.code == city.island_code:
        if not isinstance(geometry, MultiPolygon) or len(geometry.geoms) != 2:
            raise DemoCityError("the island grid must be a two-part MultiPolygon")
        holes = sum(len(part.interiors) for part in geometry.geoms)
    else:
        if not isinstance(geometry, Polygon):
            raise DemoCityError(f"{feature.code}: not a single polygon")
        holes = len(geometry.interiors)
    if holes != (1 if feature.code == city.enclave_host_code else 0):
        raise DemoCityError(f"{feature.code}: unexpected number of holes ({holes})")
    vertices = exterior_vertex_count(geometry)
    if not 100 <= vertices <= 300:
        raise DemoCityError(f"{feature.code}: {vertices} exterior vertices")


def _check_overlaps(geoms: np.ndarray) -> None:
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    overlaps = shapely.intersection(geoms[left[keep]], geoms[right[keep]])
    for overlap in overlaps:
        if not overlap.is_empty and to_local_metres(overlap).area >= _MAX_OVERLAP_M2:
            raise DemoCityError("community grids overlap")


def _check_river_clearance(layout: _Layout, geoms: np.ndarray) -> None:
    """Points on the river's centreline (away from the island) are > 30 m from every grid."""
    lo, hi = layout.island_span
    coords = np.asarray(layout.centerline.coords)
    coords = coords[(coords[:, 1] < lo) | (coords[:, 1] > hi)]
    coords = coords[shapely.contains_xy(layout.blob.buffer(-300), coords[:, 0], coords[:, 1])]
    metric = np.array([to_local_metres(g) for g in geoms])
    tree = shapely.STRtree(metric)
    points = shapely.points(coords)
    _, distances = tree.query_nearest(points, return_distance=True, all_matches=False)
    if len(points) == 0 or distances.min() <= 30:
        raise DemoCityError("river centreline is too close to a grid")
