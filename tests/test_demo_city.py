"""The Hengyang-like demo city: hierarchy, codes, geometry guarantees, officers, GeoJSON."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon, shape

from grids.demo import (
    CITY_CODE,
    DemoCity,
    exterior_vertex_count,
    generate_city,
    to_geojson,
)
from grids.features import CODE_RE, GridFeature, Level

# An independent metre projection (not the generator's own helper), so areas are checked
# against a separately built transform.
_TO_METRES = Transformer.from_crs(
    "EPSG:4326",
    "+proj=tmerc +lat_0=26.9 +lon_0=112.6 +k=1 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m",
    always_xy=True,
)


def metres(geometry):
    return shapely.transform(geometry, lambda xy: np.column_stack(_TO_METRES.transform(*xy.T)))


@pytest.fixture(scope="module")
def city() -> DemoCity:
    return generate_city()


@pytest.fixture(scope="module")
def by_level(city: DemoCity) -> dict[Level, list[GridFeature]]:
    levels: dict[Level, list[GridFeature]] = {level: [] for level in Level}
    for feature in city.features:
        levels[feature.level].append(feature)
    return levels


@pytest.fixture(scope="module")
def by_code(city: DemoCity) -> dict[str, GridFeature]:
    return {f.code: f for f in city.features}


@pytest.fixture(scope="module")
def communities_m(by_level) -> dict[str, Polygon | MultiPolygon]:
    return {f.code: metres(f.geometry) for f in by_level[Level.COMMUNITY]}


# -- hierarchy and codes -------------------------------------------------------------------


def test_counts_per_level(by_level):
    assert len(by_level[Level.CITY]) == 1
    assert len(by_level[Level.DISTRICT]) == 7
    assert 25 <= len(by_level[Level.STREET]) <= 35
    assert len(by_level[Level.COMMUNITY]) == 140
    assert not by_level[Level.UNIT]


def test_districts_are_hengyang_ones(by_level):
    districts = {f.code[:6]: f.name for f in by_level[Level.DISTRICT]}
    assert districts["430405"] == "珠晖区"
    assert districts["430406"] == "雁峰区"
    assert districts["430407"] == "石鼓区"
    assert districts["430408"] == "蒸湘区"
    assert districts["430471"] == "高新区"
    assert len(districts) == 7
    city = by_level[Level.CITY][0]
    assert (city.code, city.name, city.parent_code) == (CITY_CODE, "衡阳市", None)


def test_code_formats_and_parents(city: DemoCity, by_code):
    seen: set[str] = set()
    for feature in city.features:
        code = feature.code
        assert CODE_RE.match(code), code
        if feature.level == Level.CITY:
            assert feature.parent_code is None
            seen.add(code)
            continue
        parent = by_code[feature.parent_code]
        assert parent.level == feature.level - 1
        assert parent.code in seen, "parents come before their children"
        if feature.level == Level.DISTRICT:
            assert code.endswith("0" * 9) and code[:4] == CITY_CODE[:4]
        elif feature.level == Level.STREET:
            assert code[:6] == parent.code[:6] and code[9:] == "000000" and code[6:9] != "000"
        else:
            assert code[:9] == parent.code[:9] and code[12:] == "000" and code[9:12] != "000"
        seen.add(code)


def test_children_per_parent(by_level):
    streets = Counter(f.parent_code for f in by_level[Level.STREET])
    communities = Counter(f.parent_code for f in by_level[Level.COMMUNITY])
    assert all(3 <= n <= 6 for n in streets.values())
    assert all(3 <= n <= 7 for n in communities.values())
    # Numbering is dense: 001..n within each parent.
    for feature in by_level[Level.COMMUNITY]:
        assert int(feature.code[9:12]) <= communities[feature.parent_code]


def test_codes_and_names_unique(city: DemoCity, by_level):
    codes = [f.code for f in city.features]
    assert len(codes) == len(set(codes))
    for level in (Level.DISTRICT, Level.STREET, Level.COMMUNITY):
        names = [f.name for f in by_level[level]]
        assert len(names) == len(set(names)), level
    assert all(f.name.endswith(("街道", "乡")) for f in by_level[Level.STREET])
    assert all(f.name.endswith("社区") for f in by_level[Level.COMMUNITY])


# -- determinism ---------------------------------------------------------------------------


def _fingerprint(city: DemoCity) -> list:
    return [
        [(f.code, f.name, int(f.level), f.parent_code, f.geometry.wkb) for f in city.features],
        city.river.wkb,
        city.officers,
        (city.island_code, city.enclave_code, city.enclave_host_code),
    ]


def test_deterministic(city: DemoCity):
    assert _fingerprint(generate_city()) == _fingerprint(city)


def test_other_seed_gives_another_city(city: DemoCity):
    other = generate_city(seed=7)
    assert len([f for f in other.features if f.level == Level.COMMUNITY]) == 140
    assert other.river.wkb != city.river.wkb


# -- geometry ------------------------------------------------------------------------------


def test_all_geometries_valid(city: DemoCity):
    assert all(f.geometry.is_valid for f in city.features)
    assert city.river.is_valid and isinstance(city.river, Polygon)


def test_community_shapes_and_vertex_counts(city: DemoCity, by_level):
    for feature in by_level[Level.COMMUNITY]:
        if feature.code == city.island_code:
            assert isinstance(feature.geometry, MultiPolygon)
        else:
            assert isinstance(feature.geometry, Polygon), feature.code
            if feature.code != city.enclave_host_code:
                assert not feature.geometry.interiors, feature.code
        assert 100 <= exterior_vertex_count(feature.geometry) <= 300, feature.code


def test_in_hengyang_and_about_100_km2(city: DemoCity, communities_m):
    minx, miny, maxx, maxy = shapely.total_bounds([f.geometry for f in city.features])
    assert 112.45 < minx < maxx < 112.70
    assert 26.78 < miny < maxy < 27.02
    total = sum(g.area for g in communities_m.values())
    assert 85e6 <= total <= 115e6
    # The outline is irregular, not a rectangle.
    outline = metres(next(f for f in city.features if f.level == Level.CITY).geometry)
    assert shapely.union_all([outline, metres(city.river)]).area < 0.85 * outline.envelope.area


def test_no_overlaps_between_communities(communities_m):
    geoms = np.array(list(communities_m.values()))
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    assert pairs.sum() > 300  # neighbours touch...
    overlaps = shapely.area(shapely.intersection(geoms[left[pairs]], geoms[right[pairs]]))
    assert overlaps.max() < 0.01  # ...but never overlap


def test_no_gaps_communities_and_river_fill_the_city(city: DemoCity, by_level):
    union = shapely.union_all([f.geometry for f in by_level[Level.COMMUNITY]] + [city.river])
    assert isinstance(union, Polygon)
    assert not union.interiors
    outline = by_level[Level.CITY][0].geometry
    assert metres(union.symmetric_difference(shapely.union_all([outline, city.river]))).area < 1


def test_parents_cover_children(city: DemoCity, by_code):
    for feature in city.features:
        if feature.parent_code is not None:
            parent = by_code[feature.parent_code].geometry
            assert parent.buffer(1e-9).covers(feature.geometry), feature.code


def test_island_grid(city: DemoCity, by_code):
    island = by_code[city.island_code].geometry
    assert isinstance(island, MultiPolygon) and len(island.geoms) == 2
    envelope = city.river.envelope
    in_river = [part for part in island.geoms if part.within(envelope)]
    assert in_river
    # The island part sits in a hole of the river: water all around it.
    assert len(city.river.interiors) == 1
    hole = metres(Polygon(city.river.interiors[0]))
    assert abs(hole.area - min(metres(p).area for p in island.geoms)) < 0.01


def test_enclave_fills_a_hole_of_its_host(city: DemoCity, by_code):
    host = by_code[city.enclave_host_code]
    enclave = by_code[city.enclave_code]
    assert enclave.name == "南华大学社区"
    assert host.parent_code == enclave.parent_code
    assert len(host.geometry.interiors) == 1
    hole = Polygon(host.geometry.interiors[0])
    assert abs(metres(hole).area - metres(enclave.geometry).area) < 0.01
    assert enclave.geometry.within(hole.buffer(1e-9))
    assert not enclave.geometry.interiors


def test_river_interior_is_far_from_every_grid(city: DemoCity, communities_m):
    river = metres(city.river)
    core = river.buffer(-80)
    assert not core.is_empty
    minx, miny, maxx, maxy = core.bounds
    assert maxy - miny > 8000  # the river runs through the whole city, north to south
    xs, ys = np.meshgrid(np.arange(minx, maxx, 20.0), np.arange(miny, maxy, 20.0))
    inside = shapely.contains_xy(core, xs.ravel(), ys.ravel())
    points = shapely.points(xs.ravel()[inside], ys.ravel()[inside])
    assert len(points) > 1000
    tree = shapely.STRtree(list(communities_m.values()))
    _, distances = tree.query_nearest(points, return_distance=True, all_matches=False)
    assert distances.min() > 30
    # Width: the water is 250-500 m across away from the island (area / length of the core).
    assert 200 < river.area / (maxy - miny) < 700


# -- officers ------------------------------------------------------------------------------


def _on_duty(city: DemoCity, code: str, day: str, role: str) -> list[str]:
    return [
        o.name
        for o in city.officers
        if o.grid_code == code
        and o.role == role
        and o.starts_on <= day
        and (o.ends_on is None or day <= o.ends_on)
    ]


def test_officers_per_grid(city: DemoCity, by_level):
    codes = [f.code for f in by_level[Level.COMMUNITY]]
    assert {o.grid_code for o in city.officers} == set(codes)
    for code in codes:
        for day in ("2025-01-01", "2026-05-31", "2026-06-01", "2026-12-31"):
            assert len(_on_duty(city, code, day, "primary")) == 1, (code, day)
            assert 1 <= len(_on_duty(city, code, day, "deputy")) <= 2
        assert not _on_duty(city, code, "2024-12-31", "primary")
    for officer in city.officers:
        assert officer.role in {"primary", "deputy"}
        assert len(officer.phone) == 11 and officer.phone.isdigit()
        assert officer.phone[0] == "1"
        assert 2 <= len(officer.name) <= 3
    assert len({o.phone for o in city.officers}) == len(city.officers)
    assert len({o.name for o in city.officers}) == len(city.officers)


def test_duty_change_history(city: DemoCity):
    ended = [o for o in city.officers if o.ends_on is not None]
    assert len(ended) == 10
    for old in ended:
        assert (old.role, old.starts_on, old.ends_on) == ("primary", "2025-01-01", "2026-05-31")
        assert _on_duty(city, old.grid_code, "2026-05-31", "primary") == [old.name]
        new = _on_duty(city, old.grid_code, "2026-06-01", "primary")
        assert new and new != [old.name]
    assert all(o.starts_on in ("2025-01-01", "2026-06-01") for o in city.officers)


# -- GeoJSON -------------------------------------------------------------------------------


def test_geojson(city: DemoCity):
    collection = to_geojson(city)
    text = json.dumps(collection, ensure_ascii=False)
    assert json.loads(text) == collection
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == len(city.features)
    for item, feature in zip(collection["features"], city.features, strict=True):
        props = item["properties"]
        assert props["code"] == feature.code and props["name"] == feature.name
        assert props["level"] == int(feature.level) and type(props["level"]) is int
        assert props["parent_code"] == feature.parent_code
        assert shape(item["geometry"]).equals_exact(feature.geometry, 0)
