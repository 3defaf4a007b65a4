"""The grid JSON API and map page, on the demo city stored in the test database."""

from __future__ import annotations

import shapely
from flask.testing import FlaskClient

from grids.crs import CRS, from_wgs84


def _inside_point(geom) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    p = shapely.get_parts(geom)
    biggest = max(p, key=lambda g: g.area)
    pt = biggest.representative_point()
    return pt.x, pt.y


def test_locate_each_community_in_every_crs(viewer, demo_city) -> None:
    communities = [f for f in demo_city.features if int(f.level) == 4]
    for feature in communities[::7]:
        lng, lat = _inside_point(feature.geometry)
        for crs in CRS:
            x, y = from_wgs84(lng, lat, crs)
            res = viewer.get(f"/api/v1/locate?lng={x}&lat={y}&crs={crs.value}")
            assert res.status_code == 200, res.json
            body = res.json
            assert body["status"] == "inside", (feature.code, crs)
            assert body["grid"]["code"] == feature.code
            assert body["boundary_set"]["version"] >= 1
            assert abs(body["wgs84"]["lng"] - lng) < 1e-7


def test_locate_reports_officers_of_the_grid(viewer, demo_city) -> None:
    feature = next(f for f in demo_city.features if int(f.level) == 4)
    lng, lat = _inside_point(feature.geometry)
    body = viewer.post("/api/v1/locate", json={"lng": lng, "lat": lat}).json
    roles = [o["role"] for o in body["grid"]["officers"]]
    assert roles[0] == "primary" and roles.count("primary") == 1 and "deputy" in roles


def test_river_island_and_enclave(viewer, demo_city) -> None:
    mid_river = demo_city.river.buffer(-60 / 100_000)  # well away from both banks
    lng, lat = _inside_point(mid_river)
    body = viewer.get(f"/api/v1/locate?lng={lng}&lat={lat}").json
    assert body["status"] == "outside" and body["grid"] is None
    assert "manual placement" in body["message"]

    island = next(f for f in demo_city.features if f.code == demo_city.island_code)
    small = min(shapely.get_parts(island.geometry), key=lambda g: g.area).representative_point()
    body = viewer.get(f"/api/v1/locate?lng={small.x}&lat={small.y}").json
    assert body["grid"]["code"] == demo_city.island_code

    enclave = next(f for f in demo_city.features if f.code == demo_city.enclave_code)
    pt = enclave.geometry.representative_point()
    body = viewer.get(f"/api/v1/locate?lng={pt.x}&lat={pt.y}").json
    assert body["grid"]["code"] == demo_city.enclave_code


def test_locate_bad_input_has_one_error_shape(viewer) -> None:
    cases = [
        ("/api/v1/locate", "lng"),
        ("/api/v1/locate?lng=abc&lat=26.9", "lng"),
        ("/api/v1/locate?lng=112.5&lat=nan", "lat"),
        ("/api/v1/locate?lng=512.5&lat=26.9", "lng"),
        ("/api/v1/locate?lng=112.5&lat=26.9&crs=mercator", "crs"),
    ]
    for url, field in cases:
        res = viewer.get(url)
        assert res.status_code == 400, url
        err = res.json["error"]
        assert err["code"] == "invalid_input" and err["message"] and field in err["fields"], url


def test_bulk_locate(viewer, demo_city) -> None:
    communities = [f for f in demo_city.features if int(f.level) == 4][:50]
    pts = [list(from_wgs84(*_inside_point(f.geometry), CRS.GCJ02)) for f in communities]
    pts.append([0.0, 0.0])
    res = viewer.post("/api/v1/locate/bulk", json={"crs": "gcj02", "points": pts})
    assert res.status_code == 200
    assert res.json["grid_codes"][:-1] == [f.code for f in communities]
    assert res.json["grid_codes"][-1] is None and res.json["grid_ids"][-1] is None
    bad = viewer.post("/api/v1/locate/bulk", json={"points": [[1, 2, 3]]})
    assert bad.status_code == 400 and bad.json["error"]["fields"] == {"points": "shape"}
    assert viewer.post("/api/v1/locate/bulk", data="x").status_code == 400


def test_grids_geojson_levels(viewer) -> None:
    counts = {}
    for level in (1, 2, 3, 4):
        fc = viewer.get(f"/api/v1/grids?level={level}").json
        assert fc["type"] == "FeatureCollection"
        counts[level] = len(fc["features"])
    assert counts[1] == 1 and counts[2] == 7 and 25 <= counts[3] <= 35 and counts[4] == 140
    fc = viewer.get("/api/v1/grids?level=community&simplify=2").json
    assert {f["properties"]["level"] for f in fc["features"]} == {4}
    assert viewer.get("/api/v1/grids?level=galaxy").status_code == 400
    assert viewer.get("/api/v1/grids?version=999").status_code == 404


def test_grid_detail_and_officers_history(viewer, demo_city) -> None:
    changed = {o.grid_code for o in demo_city.officers if o.ends_on}
    code = sorted(changed)[0]
    old = viewer.get(f"/api/v1/grids/{code}/officers?date=2026-03-01").json["officers"]
    new = viewer.get(f"/api/v1/grids/{code}/officers?date=2026-07-01").json["officers"]
    old_primary = [o["name"] for o in old if o["role"] == "primary"]
    new_primary = [o["name"] for o in new if o["role"] == "primary"]
    assert len(old_primary) == len(new_primary) == 1 and old_primary != new_primary

    detail = viewer.get(f"/api/v1/grids/{code}").json
    assert detail["properties"]["code"] == code
    assert detail["properties"]["parent_code"] == code[:9] + "000000"
    assert detail["geometry"]["type"] == "MultiPolygon"
    assert viewer.get("/api/v1/grids/000000000000000").status_code == 404
    assert viewer.get(f"/api/v1/grids/{code}/officers?date=yesterday").status_code == 400


def test_boundary_sets_listed(viewer) -> None:
    sets = viewer.get("/api/v1/boundary-sets").json["boundary_sets"]
    assert sum(s["is_active"] for s in sets) == 1


def test_map_page_in_chinese_and_english(page_client: FlaskClient) -> None:
    zh = page_client.get("/grids/map").get_data(as_text=True)
    assert '<html lang="zh-Hans">' in zh and "网格地图" in zh and "坐标系" in zh
    assert "vendor/leaflet/leaflet.js" in zh and "//unpkg" not in zh and "cdn" not in zh.lower()
    en = page_client.get("/grids/map?lang=en").get_data(as_text=True)
    assert "Grid map" in en and "Coordinate system" in en
    assert page_client.get("/").status_code == 302


def test_grids_need_a_login(client: FlaskClient) -> None:
    """Officers' phone numbers are on these pages: nothing for anonymous visitors."""
    res = client.get("/api/v1/locate?lng=112.57&lat=26.89")
    assert res.status_code == 401 and res.json["error"]["code"] == "unauthorized"
    res = client.get("/api/v1/grids", headers={"Authorization": "Bearer nonsense"})
    assert res.status_code == 401
    res = client.get("/grids/map")
    assert res.status_code == 302 and "/login" in res.headers["Location"]
