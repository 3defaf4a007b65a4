"""``flask grids ...`` end to end: dry-run reports, commits, activation seen by another process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import delete, func, select

from core.db import database
from grids import services
from grids.demo import to_geojson
from grids.models import BoundarySet, Grid
from tests.conftest import make_test_app


def _set_count(app: Flask) -> int:
    with database(app).new_session() as sess:
        return sess.scalar(select(func.count()).select_from(BoundarySet)) or 0


def _merged_city(demo_city) -> tuple[dict, str, str, tuple[float, float]]:  # type: ignore[no-untyped-def]
    """The demo city redrawn: one community absorbs a sibling (a realistic boundary change)."""
    fc = to_geojson(demo_city)
    communities = [f for f in fc["features"] if f["properties"]["level"] == 4]
    by_code = {f["properties"]["code"]: f for f in communities}
    for keep in communities:
        keep_geom = shapely.geometry.shape(keep["geometry"])
        for gone in communities:
            gp = gone["properties"]
            if gp["code"] == keep["properties"]["code"]:
                continue
            if gp["parent_code"] != keep["properties"]["parent_code"]:
                continue
            if gp["code"] in (demo_city.enclave_code, demo_city.enclave_host_code):
                continue
            gone_geom = shapely.geometry.shape(gone["geometry"])
            if keep_geom.intersection(gone_geom).length > 0:
                merged = shapely.coverage_union_all([keep_geom, gone_geom])
                keep["geometry"] = shapely.geometry.mapping(merged)
                fc["features"].remove(by_code[gp["code"]])
                pt = gone_geom.representative_point()
                return fc, keep["properties"]["code"], gp["code"], (pt.x, pt.y)
    raise AssertionError("no adjacent siblings in the demo city")


def test_dry_run_prints_report_and_commits_nothing(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, demo_city
) -> None:
    path = tmp_path / "city.geojson"
    path.write_text(json.dumps(to_geojson(demo_city), ensure_ascii=False))
    before = _set_count(app)
    result = runner.invoke(args=["grids", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "OK: no errors" in result.output and "Dry run" in result.output
    assert "community 140" in result.output
    assert _set_count(app) == before


def test_broken_file_reports_every_problem_and_changes_nothing(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, demo_city
) -> None:
    fc = to_geojson(demo_city)
    communities = [f for f in fc["features"] if f["properties"]["level"] == 4]
    communities[0]["properties"]["code"] = communities[1]["properties"]["code"]  # duplicate
    communities[2]["properties"]["code"] = "43A405001001000"  # malformed
    communities[3]["properties"]["parent_code"] = "430405999000000"  # missing parent
    # A bow-tie ring: invalid geometry.
    communities[4]["geometry"] = {
        "type": "Polygon",
        "coordinates": [
            [[112.5, 26.8], [112.51, 26.81], [112.51, 26.8], [112.5, 26.81], [112.5, 26.8]]
        ],
    }
    path = tmp_path / "broken.geojson"
    path.write_text(json.dumps(fc, ensure_ascii=False))
    report = tmp_path / "report.json"
    before = _set_count(app)
    result = runner.invoke(
        args=["grids", "import", str(path), "--commit", "--activate", "--json-report", str(report)]
    )
    assert result.exit_code != 0
    assert "nothing was committed" in result.output
    kinds = {p["kind"] for p in json.loads(report.read_text())["problems"]}
    assert {"duplicate_code", "malformed_code", "missing_parent", "invalid_geometry"} <= kinds
    assert _set_count(app) == before


def test_unreadable_file_is_a_clear_error(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.geojson"
    path.write_text("{not json")
    result = runner.invoke(args=["grids", "import", str(path)])
    assert result.exit_code != 0 and "bad.geojson" in result.output
    result = runner.invoke(args=["grids", "import", str(tmp_path / "missing.geojson")])
    assert result.exit_code != 0


@pytest.fixture
def committed_app(app: Flask) -> Iterator[Flask]:
    """The session app used with real commits; the boundary sets are restored afterwards."""
    from dispatch.auth import issue_token
    from dispatch.models import User
    from tests.factories import make_user

    with database(app).new_session() as sess:
        original = services.active_set(sess).id
        known = {b.id for b in services.boundary_sets(sess)}
        user = make_user(sess, "cli-switch-viewer", "operator")
        app.config["TEST_TOKEN"] = issue_token(sess, user, "switch test")
        sess.commit()
    yield app
    with database(app).new_session() as sess:
        sess.delete(sess.scalar(select(User).where(User.username == "cli-switch-viewer")))
        services.activate_set(sess, sess.get(BoundarySet, original))
        for bset in services.boundary_sets(sess):
            if bset.id not in known:
                sess.execute(
                    delete(Grid).where(Grid.boundary_set_id == bset.id, Grid.parent_id.is_not(None))
                )
                sess.execute(delete(Grid).where(Grid.boundary_set_id == bset.id))
                sess.delete(bset)
        sess.commit()


def test_new_set_is_seen_by_another_process(
    committed_app: Flask, tmp_path: Path, demo_city
) -> None:
    app_a = committed_app
    app_b = make_test_app(database(app_a).url)  # another process: its own engine and locator
    fc, kept, gone, (lng, lat) = _merged_city(demo_city)
    path = tmp_path / "v2.geojson"
    path.write_text(json.dumps(fc, ensure_ascii=False))

    from tests.factories import ApiClient

    client_b = ApiClient(app_b.test_client(), app_a.config["TEST_TOKEN"])
    before = client_b.get(f"/api/v1/locate?lng={lng}&lat={lat}").json
    assert before["grid"]["code"] == gone

    result = app_a.test_cli_runner().invoke(
        args=["grids", "import", str(path), "--commit", "--name", "v2"]
    )
    assert result.exit_code == 0, result.output
    assert "activate it with" in result.output
    # Committed but not active: nothing changes for anyone.
    assert client_b.get(f"/api/v1/locate?lng={lng}&lat={lat}").json["grid"]["code"] == gone

    with database(app_a).new_session() as sess:
        version = max(b.version for b in services.boundary_sets(sess))
    result = app_a.test_cli_runner().invoke(args=["grids", "activate", str(version)])
    assert result.exit_code == 0, result.output
    after = client_b.get(f"/api/v1/locate?lng={lng}&lat={lat}").json
    assert after["grid"]["code"] == kept
    assert after["boundary_set"]["version"] == version
    sets = client_b.get("/api/v1/boundary-sets").json["boundary_sets"]
    assert [s["version"] for s in sets if s["is_active"]] == [version]
    database(app_b).engine.dispose()


def test_activate_unknown_version(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["grids", "activate", "999"])
    assert result.exit_code != 0 and "no boundary set with version 999" in result.output


def test_locate_and_locate_csv_commands(runner: FlaskCliRunner, tmp_path: Path, demo_city) -> None:
    feature = next(f for f in demo_city.features if int(f.level) == 4)
    pt = feature.geometry.representative_point()
    result = runner.invoke(args=["grids", "locate", str(pt.x), str(pt.y)])
    assert result.exit_code == 0 and feature.code in result.output
    src = tmp_path / "cases.csv"
    src.write_text(f"case,lng,lat\nA1,{pt.x},{pt.y}\nA2,0,0\nA3,,\n")
    out = tmp_path / "out.csv"
    result = runner.invoke(args=["grids", "locate-csv", str(src), str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "case,lng,lat,grid_code,approximate"
    assert (
        lines[1].endswith(f"{feature.code},0")
        and lines[2].endswith(",,0")
        and lines[3].endswith(",,0")
    )


def test_sets_command_marks_the_active_set(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["grids", "sets"])
    assert result.exit_code == 0 and result.output.startswith("*")
