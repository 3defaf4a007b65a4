"""Tests for grids.importer: reading boundary files and validating grid sets (no database).

Geometries are drawn in metres around Hengyang (112.57E, 26.89N) and converted to lon/lat with
1° lat ≈ 110,800 m and 1° lon ≈ 99,300 m, so reported areas can be checked against sums.
"""

from __future__ import annotations

import json
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import shapefile
from shapely.geometry import MultiPolygon, Polygon, mapping

from grids.features import GridFeature, Level
from grids.importer import (
    KINDS,
    BoundaryFileError,
    Problem,
    ValidationReport,
    read_boundary_file,
    validate,
)

LON0, LAT0 = 112.57, 26.89
M_PER_DEG_LON = 99_300.0
M_PER_DEG_LAT = 110_800.0

CITY = "430400000000000"
DISTRICT = "430405000000000"
STREET = "430405001000000"
COMM_A = "430405001001000"
COMM_B = "430405001002000"


def ll(x: float, y: float) -> tuple[float, float]:
    """Metres east/north of the origin → lon/lat."""
    return (LON0 + x / M_PER_DEG_LON, LAT0 + y / M_PER_DEG_LAT)


def rect(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    """An axis-aligned rectangle given in metres."""
    return Polygon([ll(x0, y0), ll(x1, y0), ll(x1, y1), ll(x0, y1)])


def feat(
    code: str, level: int, parent: str | None, geom: Polygon | MultiPolygon, name: str = ""
) -> GridFeature:
    return GridFeature(
        code=code,
        name=name or f"grid {code[-6:]}",
        level=Level(level),
        parent_code=parent,
        geometry=geom,
    )


def clean_city() -> list[GridFeature]:
    """City → district → street → 2 communities tiling the street exactly."""
    whole = rect(0, 0, 1000, 1000)
    return [
        feat(CITY, 1, None, whole, "衡阳市"),
        feat(DISTRICT, 2, CITY, whole, "石鼓区"),
        feat(STREET, 3, DISTRICT, whole, "人民路街道"),
        feat(COMM_A, 4, STREET, rect(0, 0, 500, 1000), "五一社区"),
        feat(COMM_B, 4, STREET, rect(500, 0, 1000, 1000), "中山社区"),
    ]


def street_with(*communities: tuple[str, Polygon]) -> list[GridFeature]:
    """A street 0..1000 m square (top level of the file) with the given communities."""
    return [feat(STREET, 3, None, rect(0, 0, 1000, 1000))] + [
        feat(code, 4, STREET, geom) for code, geom in communities
    ]


def gj_feature(props: dict[str, Any], geom: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": geom if geom is None or isinstance(geom, dict) else mapping(geom),
    }


def to_geojson(features: list[GridFeature]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            gj_feature(
                {
                    "code": f.code,
                    "name": f.name,
                    "level": int(f.level),
                    "parent_code": f.parent_code,
                    **f.properties,
                },
                f.geometry,
            )
            for f in features
        ],
    }


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def kinds(report: ValidationReport) -> list[str]:
    return [p.kind for p in report.problems]


def only(report: ValidationReport, kind: str) -> Problem:
    found = [p for p in report.problems if p.kind == kind]
    assert len(found) == 1, report.summary_lines()
    return found[0]


def ring_cw(x0: float, y0: float, x1: float, y1: float, z: float | None = None) -> list[Any]:
    """A closed clockwise ring (shapefile exterior orientation), optionally with Z."""
    pts = [ll(x0, y0), ll(x0, y1), ll(x1, y1), ll(x1, y0), ll(x0, y0)]
    return [(*p, z) for p in pts] if z is not None else [list(p) for p in pts]


# --------------------------------------------------------------------------------------------
# A clean file
# --------------------------------------------------------------------------------------------


def test_clean_hierarchy_from_geojson_is_ok(tmp_path: Path) -> None:
    path = write_json(tmp_path / "city.geojson", to_geojson(clean_city()))
    features = read_boundary_file(path)
    assert [f.code for f in features] == [CITY, DISTRICT, STREET, COMM_A, COMM_B]
    assert features[3].name == "五一社区"
    assert features[3].level is Level.COMMUNITY
    assert features[3].parent_code == STREET
    assert features[0].parent_code is None

    report = validate(features)
    assert report.ok
    assert report.problems == []
    lines = report.summary_lines()
    assert lines[0] == "5 grids by level: city 1, district 1, street 1, community 2"
    assert lines[-1] == "OK: no errors"

    data = report.to_dict()
    json.dumps(data)  # serialisable
    assert data["ok"] is True
    assert data["levels"] == {"city": 1, "district": 1, "street": 1, "community": 2}
    areas = {f["code"]: f["area_m2"] for f in data["features"]}
    assert areas[STREET] == pytest.approx(1_000_000, rel=0.01)
    assert areas[COMM_A] == pytest.approx(500_000, rel=0.01)


def test_validate_does_not_modify_its_input() -> None:
    features = clean_city()
    features[3].code = "43040500100100"  # legacy, gets converted in the report only
    report = validate(features)
    assert features[3].code == "43040500100100"
    assert report.features[3].code == "430405001001000"


# --------------------------------------------------------------------------------------------
# Geometry problems
# --------------------------------------------------------------------------------------------


def bow_tie() -> Polygon:
    """A 100 m self-intersecting 'square': two 2,500 m² triangles meeting in the middle."""
    return Polygon([ll(0, 0), ll(100, 100), ll(100, 0), ll(0, 100)])


def test_bow_tie_is_an_error_with_a_repair_offered() -> None:
    report = validate([feat(COMM_A, 4, None, bow_tie())])
    assert not report.ok
    problem = only(report, "invalid_geometry")
    assert problem.severity == "error"
    assert problem.codes == [COMM_A]
    assert "Self-intersection" in problem.message
    assert isinstance(problem.repaired, MultiPolygon)
    assert len(problem.repaired.geoms) == 2
    assert problem.repaired.is_valid
    assert problem.area_m2 == pytest.approx(5_000, rel=0.01)
    assert re.search(r"area 5,0\d\d m²", problem.message)
    lon, lat = problem.location
    assert lon == pytest.approx(ll(50, 50)[0], abs=1e-6)
    assert lat == pytest.approx(ll(50, 50)[1], abs=1e-6)
    # not repaired: the report keeps the geometry as drawn
    assert report.features[0].geometry.equals(bow_tie())


def test_repair_turns_the_error_into_a_warning_and_replaces_the_geometry() -> None:
    original = feat(COMM_A, 4, None, bow_tie())
    report = validate([original], repair=True)
    assert report.ok
    problem = only(report, "invalid_geometry")
    assert problem.severity == "warning"
    assert problem.message.startswith("Repaired")
    repaired = report.features[0].geometry
    assert repaired.is_valid
    assert repaired.equals(problem.repaired)
    assert not original.geometry.is_valid  # the input is untouched


def test_unrepairable_geometry_stays_an_error_even_with_repair() -> None:
    flat = Polygon([ll(0, 0), ll(100, 0), ll(200, 0), ll(0, 0)])
    report = validate([feat(COMM_A, 4, None, flat)], repair=True)
    problem = only(report, "invalid_geometry")
    assert problem.severity == "error"
    assert problem.repaired is None
    assert "cannot be repaired" in problem.message


def test_overlap_between_siblings_reports_the_area() -> None:
    # a 100 m x 100 m square where the two communities overlap
    report = validate(
        street_with((COMM_A, rect(0, 0, 600, 100)), (COMM_B, rect(500, 0, 1000, 100)))
    )
    problem = only(report, "overlap")
    assert problem.severity == "error"
    assert problem.codes == [COMM_A, COMM_B]
    assert problem.area_m2 == pytest.approx(10_000, rel=0.01)
    assert "10,0" in problem.message or "9,9" in problem.message
    lon, lat = problem.location
    assert ll(500, 0)[0] < lon < ll(600, 0)[0]
    assert ll(0, 0)[1] < lat < ll(0, 100)[1]


def test_tiny_overlap_is_a_sliver_warning() -> None:
    # 0.5 mm x 1000 m = 0.5 m², below the 1 m² tolerance
    report = validate(
        street_with((COMM_A, rect(0, 0, 500.0005, 1000)), (COMM_B, rect(500, 0, 1000, 1000)))
    )
    assert report.ok
    problem = only(report, "sliver")
    assert problem.severity == "warning"
    assert problem.codes == [COMM_A, COMM_B]
    assert problem.area_m2 == pytest.approx(0.5, rel=0.02)
    assert "Tiny overlap" in problem.message
    assert "overlap" not in kinds(report)


def test_gap_between_siblings_within_their_parent() -> None:
    # communities leave a 100 m wide strip of the street uncovered
    report = validate(
        street_with((COMM_A, rect(0, 0, 400, 1000)), (COMM_B, rect(500, 0, 1000, 1000)))
    )
    assert report.ok  # gaps are warnings
    problem = only(report, "gap")
    assert problem.severity == "warning"
    assert problem.codes[0] == STREET
    assert set(problem.codes[1:]) == {COMM_A, COMM_B}
    assert problem.area_m2 == pytest.approx(100_000, rel=0.01)
    assert re.search(r"Gap of (100|99),\d{3} m²", problem.message)
    assert "river" in problem.message


def test_tiny_gap_is_a_sliver_warning_naming_both_neighbours() -> None:
    # a 2 cm x 1000 m crack = 20 m², below sliver_max_m2 (50)
    report = validate(
        street_with((COMM_A, rect(0, 0, 500, 1000)), (COMM_B, rect(500.02, 0, 1000, 1000)))
    )
    assert report.ok
    problem = only(report, "sliver")
    assert problem.severity == "warning"
    assert problem.area_m2 == pytest.approx(20, rel=0.02)
    assert set(problem.codes) == {STREET, COMM_A, COMM_B}
    assert "digitising error" in problem.message
    assert COMM_A in problem.message and COMM_B in problem.message


def test_gaps_below_tolerance_are_ignored() -> None:
    # a 0.5 mm x 1000 m crack = 0.5 m², below the 1 m² tolerance
    report = validate(
        street_with((COMM_A, rect(0, 0, 500, 1000)), (COMM_B, rect(500.0005, 0, 1000, 1000)))
    )
    assert report.problems == []


def test_child_outside_parent() -> None:
    report = validate(
        street_with((COMM_A, rect(0, 0, 500, 1000)), (COMM_B, rect(500, 0, 1100, 1000)))
    )
    problem = only(report, "outside_parent")
    assert problem.severity == "error"
    assert problem.codes == [COMM_B, STREET]
    assert problem.area_m2 == pytest.approx(100_000, rel=0.01)
    assert ll(1000, 0)[0] < problem.location[0] < ll(1100, 0)[0]


def test_empty_geometry_is_an_error(tmp_path: Path) -> None:
    data = to_geojson(street_with((COMM_A, rect(0, 0, 1000, 1000))))
    data["features"].append(
        gj_feature({"code": COMM_B, "name": "空", "level": 4, "parent_code": STREET}, None)
    )
    features = read_boundary_file(write_json(tmp_path / "g.geojson", data))
    assert features[-1].geometry.is_empty
    report = validate(features)
    problem = only(report, "empty_geometry")
    assert problem.severity == "error"
    assert problem.codes == [COMM_B]
    assert report.to_dict()["features"][-1]["location"] is None


def test_hole_in_the_finest_level_is_reported_as_a_gap() -> None:
    # four communities around a 200 m x 200 m pond, no parent in the file
    pieces = [
        rect(0, 0, 600, 200),
        rect(0, 400, 600, 600),
        rect(0, 200, 200, 400),
        rect(400, 200, 600, 400),
    ]
    codes = [f"430405001{n:03d}000" for n in range(1, 5)]
    report = validate([feat(c, 4, None, g) for c, g in zip(codes, pieces, strict=True)])
    assert report.ok
    problem = only(report, "gap")
    assert problem.area_m2 == pytest.approx(40_000, rel=0.01)
    assert set(problem.codes) == set(codes)
    assert "river" in problem.message


def test_hole_inside_a_parent_is_reported_once() -> None:
    # the street has no hole, its communities leave a 100 m x 100 m pond uncovered
    ring = Polygon(
        rect(0, 0, 500, 1000).exterior.coords, [rect(200, 200, 300, 300).exterior.coords]
    )
    report = validate(street_with((COMM_A, ring), (COMM_B, rect(500, 0, 1000, 1000))))
    problem = only(report, "gap")
    assert problem.codes == [STREET, COMM_A]
    assert problem.area_m2 == pytest.approx(10_000, rel=0.01)
    assert len(report.problems) == 1


# --------------------------------------------------------------------------------------------
# Codes and hierarchy
# --------------------------------------------------------------------------------------------


def test_duplicate_code() -> None:
    report = validate(
        street_with((COMM_A, rect(0, 0, 500, 1000)), (COMM_A, rect(500, 0, 1000, 1000)))
    )
    problem = only(report, "duplicate_code")
    assert problem.severity == "error"
    assert problem.codes == [COMM_A]
    assert "2 grids" in problem.message
    assert "feature index 1" in problem.message and "feature index 2" in problem.message


@pytest.mark.parametrize("code", ["ABC405001001000", "4304050010010", "4304050010010001", ""])
def test_malformed_code(code: str) -> None:
    report = validate(
        street_with((COMM_A, rect(0, 0, 500, 1000)), (code, rect(500, 0, 1000, 1000)))
    )
    problem = only(report, "malformed_code")
    assert problem.severity == "error"
    assert problem.codes == [code]
    assert "15 digits" in problem.message


def test_legacy_14_digit_code_is_converted_with_a_warning() -> None:
    features = [
        feat(STREET, 3, None, rect(0, 0, 1000, 1000)),
        feat("43040500100100", 4, STREET, rect(0, 0, 500, 1000)),  # 14 digits
        feat(COMM_B, 4, STREET, rect(500, 0, 1000, 1000)),
        # a unit grid naming its parent by the old code: converted too
        feat("430405001001001", 5, "43040500100100", rect(0, 0, 500, 1000)),
    ]
    report = validate(features)
    assert report.ok, report.summary_lines()
    problem = only(report, "legacy_code")
    assert problem.severity == "warning"
    assert problem.codes == ["430405001001000"]
    assert "43040500100100" in problem.message and "430405001001000" in problem.message
    assert report.features[1].code == "430405001001000"
    assert report.features[3].parent_code == "430405001001000"


def test_missing_parent() -> None:
    features = clean_city()
    features[4].parent_code = "430405009000000"
    report = validate(features)
    problem = only(report, "missing_parent")
    assert problem.severity == "error"
    assert problem.codes == [COMM_B, "430405009000000"]
    assert "not in the file" in problem.message


def test_missing_parent_code_below_the_top_level() -> None:
    features = clean_city()
    features[4].parent_code = None
    problem = only(validate(features), "missing_parent")
    assert problem.codes == [COMM_B]
    assert "city" in problem.message


def test_top_level_may_omit_its_parent_but_not_name_a_missing_one() -> None:
    features = clean_city()[2:]  # street with no parent, two communities
    features[0].parent_code = None
    assert validate(features).ok
    features[0].parent_code = DISTRICT  # not in the file
    assert kinds(validate(features)) == ["missing_parent"]
    city_only = clean_city()[:1]
    city_only[0].parent_code = "430000000000000"  # the province is never in the file
    assert validate(city_only).ok


def test_level_mismatch() -> None:
    features = clean_city()
    features[2].level = Level.COMMUNITY  # street marked as community, under a district
    report = validate(features)
    mismatches = [p for p in report.problems if p.kind == "level_mismatch"]
    assert mismatches, report.summary_lines()
    assert mismatches[0].severity == "error"
    assert mismatches[0].codes == [STREET, DISTRICT]
    assert "expected level 3" in mismatches[0].message


def test_code_prefix_mismatch() -> None:
    features = clean_city()
    features[4].code = "430406001002000"  # a different district's prefix
    report = validate(features)
    problem = only(report, "code_prefix")
    assert problem.severity == "error"
    assert problem.codes == ["430406001002000", STREET]
    assert "430405001" in problem.message
    assert problem.location is not None


def test_summary_groups_problems_and_ends_with_the_verdict() -> None:
    features = clean_city()
    features[4].code = "430406001002000"
    features.append(feat("BAD", 4, STREET, rect(0, 0, 10, 10)))
    report = validate(features)
    lines = report.summary_lines()
    assert lines[-1] == f"{len(report.errors)} errors: nothing will be committed"
    headers = [
        line.split(":")[0].replace(" ", "_")
        for line in lines
        if line.split(":")[0].replace(" ", "_") in KINDS
    ]
    assert headers == ["malformed_code", "code_prefix", "overlap"]
    assert any(line.startswith("  ERROR") for line in lines)
    data = report.to_dict()
    json.dumps(data)
    assert data["ok"] is False and data["error_count"] == len(report.errors)


# --------------------------------------------------------------------------------------------
# Reading GeoJSON
# --------------------------------------------------------------------------------------------


def test_property_aliases_levels_by_name_and_extra_properties(tmp_path: Path) -> None:
    data = {
        "type": "FeatureCollection",
        "features": [
            gj_feature(
                {"网格编码": STREET, "网格名称": "人民路街道", "级别": "街道", "面积": 1.0},
                rect(0, 0, 1000, 1000),
            ),
            gj_feature(
                {
                    "Grid_Code": 430405001001000,  # a number, as some tools write it
                    "NAME": "五一社区",
                    "层级": "社区",
                    "上级编码": STREET,
                    "officer": "张三",
                },
                rect(0, 0, 1000, 1000),
            ),
        ],
    }
    features = read_boundary_file(write_json(tmp_path / "g.json", data))
    assert features[0].level is Level.STREET
    assert features[0].properties == {"面积": 1.0}
    assert features[1].code == COMM_A
    assert features[1].name == "五一社区"
    assert features[1].level is Level.COMMUNITY
    assert features[1].parent_code == STREET
    assert features[1].properties == {"officer": "张三"}


def test_three_d_coordinates_lose_z(tmp_path: Path) -> None:
    coords = [[*ll(x, y), 55.0] for x, y in [(0, 0), (100, 0), (100, 100), (0, 100), (0, 0)]]
    data = {
        "type": "FeatureCollection",
        "features": [
            gj_feature(
                {"code": COMM_A, "name": "a", "level": 4},
                {"type": "Polygon", "coordinates": [coords]},
            )
        ],
    }
    (feature,) = read_boundary_file(write_json(tmp_path / "g.geojson", data))
    assert not feature.geometry.has_z


def test_line_string_is_rejected_naming_the_feature(tmp_path: Path) -> None:
    data = to_geojson(clean_city()[:1])
    data["features"].append(
        gj_feature(
            {"code": DISTRICT, "name": "x", "level": 2},
            {"type": "LineString", "coordinates": [ll(0, 0), ll(100, 100)]},
        )
    )
    with pytest.raises(BoundaryFileError, match=r"feature index 1 .*LineString"):
        read_boundary_file(write_json(tmp_path / "g.geojson", data))


def test_missing_code_property_names_the_feature_and_property(tmp_path: Path) -> None:
    data = to_geojson(clean_city())
    del data["features"][2]["properties"]["code"]
    path = write_json(tmp_path / "g.geojson", data)
    with pytest.raises(BoundaryFileError) as info:
        read_boundary_file(path)
    message = str(info.value)
    assert "feature index 2" in message
    assert "'code'" in message
    assert str(path) in message


def test_missing_level_and_bad_level(tmp_path: Path) -> None:
    data = to_geojson(clean_city())
    data["features"][1]["properties"]["level"] = ""
    with pytest.raises(BoundaryFileError, match=r"feature index 1.*'level'"):
        read_boundary_file(write_json(tmp_path / "a.geojson", data))
    data["features"][1]["properties"]["level"] = "province"
    with pytest.raises(BoundaryFileError, match=r"feature index 1.*'province'"):
        read_boundary_file(write_json(tmp_path / "b.geojson", data))


def test_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    with pytest.raises(BoundaryFileError, match=r"bad\.geojson: not valid JSON .*line 1"):
        read_boundary_file(path)


def test_missing_file_and_unsupported_type(tmp_path: Path) -> None:
    with pytest.raises(BoundaryFileError, match=r"nope\.geojson: file not found"):
        read_boundary_file(tmp_path / "nope.geojson")
    other = tmp_path / "grids.kml"
    other.write_text("<kml/>", encoding="utf-8")
    with pytest.raises(BoundaryFileError, match="unsupported file type"):
        read_boundary_file(other)


def test_not_a_feature_collection_and_no_features(tmp_path: Path) -> None:
    single = gj_feature({"code": COMM_A, "name": "a", "level": 4}, rect(0, 0, 1, 1))
    with pytest.raises(BoundaryFileError, match="expected a GeoJSON FeatureCollection"):
        read_boundary_file(write_json(tmp_path / "a.geojson", single))
    with pytest.raises(BoundaryFileError, match="no features"):
        read_boundary_file(
            write_json(tmp_path / "b.geojson", {"type": "FeatureCollection", "features": []})
        )


def test_projected_coordinates_are_rejected(tmp_path: Path) -> None:
    square = Polygon([(38_500_000, 2_975_000), (38_501_000, 2_975_000), (38_501_000, 2_976_000)])
    data = {
        "type": "FeatureCollection",
        "features": [gj_feature({"code": COMM_A, "name": "a", "level": 4}, square)],
    }
    with pytest.raises(BoundaryFileError, match="not longitude/latitude"):
        read_boundary_file(write_json(tmp_path / "g.geojson", data))


# --------------------------------------------------------------------------------------------
# Reading Shapefiles
# --------------------------------------------------------------------------------------------


def write_shapefile(
    base: Path,
    rows: list[tuple[str, str, Any, str | None, list[Any] | None]],
    *,
    encoding: str = "utf-8",
    fields: tuple[str, str, str, str] = ("CODE", "NAME", "LEVEL", "PARENT"),
    z: bool = False,
) -> Path:
    """rows: (code, name, level, parent, ring or None for a null shape)."""
    shape_type = shapefile.POLYGONZ if z else shapefile.POLYGON
    with shapefile.Writer(str(base), shapeType=shape_type, encoding=encoding) as w:
        w.field(fields[0], "C", size=20)
        w.field(fields[1], "C", size=60)
        w.field(fields[2], "C", size=20)
        w.field(fields[3], "C", size=20)
        for code, name, level, parent, ring in rows:
            if ring is None:
                w.null()
            elif z:
                w.polyz([ring])
            else:
                w.poly([ring])
            w.record(code, name, str(level), parent or "")
    return base.with_suffix(".shp")


CLEAN_ROWS: list[tuple[str, str, Any, str | None, list[Any] | None]] = [
    (STREET, "人民路街道", 3, None, ring_cw(0, 0, 1000, 1000)),
    (COMM_A, "五一社区", "社区", STREET, ring_cw(0, 0, 500, 1000)),
    (COMM_B, "中山社区", 4, STREET, ring_cw(500, 0, 1000, 1000)),
]


def test_utf8_shapefile(tmp_path: Path) -> None:
    path = write_shapefile(tmp_path / "grids", CLEAN_ROWS)
    features = read_boundary_file(path)
    assert [f.name for f in features] == ["人民路街道", "五一社区", "中山社区"]
    assert [f.level for f in features] == [Level.STREET, Level.COMMUNITY, Level.COMMUNITY]
    assert features[0].parent_code is None
    assert features[1].parent_code == STREET
    report = validate(features)
    assert report.ok and report.problems == [], report.summary_lines()
    assert report.to_dict()["features"][0]["area_m2"] == pytest.approx(1_000_000, rel=0.01)


def test_gbk_shapefile_with_cpg_and_chinese_field_names(tmp_path: Path) -> None:
    path = write_shapefile(
        tmp_path / "网格", CLEAN_ROWS, encoding="gbk", fields=("编码", "名称", "级别", "上级编码")
    )
    (tmp_path / "网格.cpg").write_text("GBK", encoding="ascii")
    assert "五一".encode("gbk") in (tmp_path / "网格.dbf").read_bytes()
    features = read_boundary_file(path)
    assert [f.name for f in features] == ["人民路街道", "五一社区", "中山社区"]
    assert features[2].code == COMM_B and features[2].parent_code == STREET


def test_gbk_shapefile_without_cpg_falls_back_to_gbk(tmp_path: Path) -> None:
    path = write_shapefile(tmp_path / "grids", CLEAN_ROWS, encoding="gbk")
    assert [f.name for f in read_boundary_file(path)][1] == "五一社区"


def test_cpg_with_code_page_number_is_honoured(tmp_path: Path) -> None:
    path = write_shapefile(tmp_path / "grids", CLEAN_ROWS, encoding="gbk")
    (tmp_path / "grids.cpg").write_text("936\n", encoding="ascii")
    assert read_boundary_file(path)[2].name == "中山社区"


def test_zipped_shapefile_with_z_and_a_null_shape(tmp_path: Path) -> None:
    rows = [*CLEAN_ROWS[:2], (COMM_B, "中山社区", 4, STREET, None)]
    rows[0] = (STREET, "人民路街道", 3, None, ring_cw(0, 0, 1000, 1000, z=12.5))
    rows[1] = (COMM_A, "五一社区", 4, STREET, ring_cw(0, 0, 500, 1000, z=3.0))
    (tmp_path / "src").mkdir()
    write_shapefile(tmp_path / "src" / "grids", rows, z=True)
    archive = tmp_path / "grids.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in (tmp_path / "src").iterdir():
            zf.write(part, f"boundaries/{part.name}")
    features = read_boundary_file(archive)
    assert [f.code for f in features] == [STREET, COMM_A, COMM_B]
    assert not features[0].geometry.has_z
    assert features[2].geometry.is_empty
    report = validate(features)
    assert "empty_geometry" in kinds(report)
    gap = only(report, "gap")
    assert gap.area_m2 == pytest.approx(500_000, rel=0.01)


def test_zip_without_shapefile(tmp_path: Path) -> None:
    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    with pytest.raises(BoundaryFileError, match=r"contains no \.shp"):
        read_boundary_file(archive)


def test_zip_with_a_geojson_inside(tmp_path: Path) -> None:
    archive = tmp_path / "grids.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("grids.geojson", json.dumps(to_geojson(clean_city())))
    assert len(read_boundary_file(archive)) == 5


def test_shapefile_without_dbf(tmp_path: Path) -> None:
    path = write_shapefile(tmp_path / "grids", CLEAN_ROWS)
    path.with_suffix(".dbf").unlink()
    with pytest.raises(BoundaryFileError, match=r"grids\.shp: no grids\.dbf"):
        read_boundary_file(path)


def test_polyline_shapefile_is_rejected(tmp_path: Path) -> None:
    with shapefile.Writer(str(tmp_path / "roads"), shapeType=shapefile.POLYLINE) as w:
        w.field("CODE", "C", size=20)
        w.field("NAME", "C", size=20)
        w.field("LEVEL", "C", size=2)
        w.line([[ll(0, 0), ll(100, 100)]])
        w.record(COMM_A, "road", "4")
    with pytest.raises(BoundaryFileError, match=r"feature index 0 is a POLYLINE"):
        read_boundary_file(tmp_path / "roads.shp")


def test_shapefile_missing_name_names_feature(tmp_path: Path) -> None:
    rows = [*CLEAN_ROWS]
    rows[1] = (COMM_A, "", 4, STREET, ring_cw(0, 0, 500, 1000))
    path = write_shapefile(tmp_path / "grids", rows)
    with pytest.raises(BoundaryFileError, match=r"feature index 1\b.*'name'"):
        read_boundary_file(path)


# --------------------------------------------------------------------------------------------
# Performance
# --------------------------------------------------------------------------------------------


def _lattice_square(i0: int, j0: int, i1: int, j1: int, per_cell: int, cell_m: float) -> Polygon:
    """A square on a lattice whose edges carry per_cell vertices per cell (exactly shared)."""

    def pt(i: int, j: int) -> tuple[float, float]:
        return ll(i * cell_m / per_cell, j * cell_m / per_cell)

    a, b, c, d = i0 * per_cell, j0 * per_cell, i1 * per_cell, j1 * per_cell
    ring = (
        [pt(i, b) for i in range(a, c)]
        + [pt(c, j) for j in range(b, d)]
        + [pt(i, d) for i in range(c, a, -1)]
        + [pt(a, j) for j in range(d, b, -1)]
    )
    return Polygon(ring)


def synthetic_city() -> list[GridFeature]:
    """1 city, 5 districts, 35 streets, 140 communities of 200 vertices, tiled exactly."""
    per, cell = 50, 400.0
    out = [feat("430400000000000", 1, None, _lattice_square(0, 0, 14, 10, per, cell))]
    for d in range(5):
        dcode = f"4304{d + 1:02d}000000000"
        out.append(feat(dcode, 2, out[0].code, _lattice_square(0, 2 * d, 14, 2 * d + 2, per, cell)))
        for s in range(7):
            scode = f"{dcode[:6]}{s + 1:03d}000000"
            out.append(
                feat(
                    scode, 3, dcode, _lattice_square(2 * s, 2 * d, 2 * s + 2, 2 * d + 2, per, cell)
                )
            )
            for c in range(4):
                i, j = 2 * s + c % 2, 2 * d + c // 2
                ccode = f"{scode[:9]}{c + 1:03d}000"
                out.append(feat(ccode, 4, scode, _lattice_square(i, j, i + 1, j + 1, per, cell)))
    return out


def test_validating_a_city_of_180_grids_is_fast(tmp_path: Path) -> None:
    features = synthetic_city()
    assert len(features) == 181
    assert len(features[-1].geometry.exterior.coords) == 201
    path = write_json(tmp_path / "city.geojson", to_geojson(features))
    started = time.perf_counter()
    report = validate(read_boundary_file(path))
    elapsed = time.perf_counter() - started
    assert report.ok and report.problems == [], report.summary_lines()[:10]
    assert elapsed < 2.0
