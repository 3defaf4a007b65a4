"""The supervision map's data: per-grid figures from one grouped query and the compact case
points, at a fixed instant; scope; the endpoints against their OpenAPI schemas; the page."""

from __future__ import annotations

from collections.abc import Iterator

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from dispatch.models import Case
from dispatch.openapi import spec
from dispatch.supervise.queries import GridFigures, case_points, grid_figures
from tests.conftest import log_in
from tests.factories import api_client
from tests.supervise_support import NOW, Plan, at, district_supervisor, make_case
from tests.supervise_support import supervision_cases as plan_cases
from tests.workflow_helpers import World, act, build_world, new_case


@pytest.fixture
def world(app: Flask, db_session: Session) -> Iterator[World]:
    with app.app_context():
        yield build_world(db_session, prefix="map")


@pytest.fixture
def cases(db_session: Session, world: World) -> dict[str, Case]:
    """The planned cases, plus: one just reported in grid A (no clock late), one closed, one
    with no location (on no grid and no map)."""
    made = plan_cases(db_session, world)
    made["just_reported"] = new_case(db_session, world, now=NOW)
    closed = make_case(db_session, world, Plan(day="2026-03-03"))
    for action in ("report_done", "check_pass", "close"):
        act(db_session, world, closed, action, now=at("2026-03-03 11:00"))
    made["closed"] = closed
    made["unplaced"] = new_case(db_session, world, placed=False, now=NOW)
    return made


def test_grid_figures_count_open_overdue_and_near_due(
    db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    figures = {f.code: f for f in grid_figures(db_session, world.users["leader"], NOW)}
    assert set(figures) == {world.grid.code, world.near_grid.code, world.far_grid.code}
    # Grid A: home, other_cat, web, waiting (overdue), fresh (near due), just_reported.
    assert figures[world.grid.code] == GridFigures(world.grid.code, 6, 4, 1)
    assert figures[world.near_grid.code] == GridFigures(world.near_grid.code, 1, 1, 0)
    assert figures[world.far_grid.code] == GridFigures(world.far_grid.code, 2, 1, 1)
    # Later, the near-due cases are overdue too.
    later = {f.code: f for f in grid_figures(db_session, world.users["leader"], at("2026-03-06"))}
    assert later[world.grid.code].overdue == 5 and later[world.grid.code].near_due == 0


def test_grid_figures_are_one_query(
    db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    user = world.users["leader"]
    _ = user.grants  # loaded before counting
    statements: list[str] = []
    engine = db_session.get_bind().engine

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        grid_figures(db_session, user, NOW)
        figures_statements = list(statements)
        statements.clear()
        case_points(db_session, user, NOW)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(figures_statements) == 1 and "GROUP BY" in figures_statements[0]
    assert len(statements) == 1


def test_case_points_are_compact_and_carry_the_worst_level(
    db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    points = case_points(db_session, world.users["shift_supervisor"], NOW)
    by_number = {p[0]: p for p in points}
    levels = {name: by_number[c.number][3] for name, c in cases.items() if c.number in by_number}
    assert levels == {
        "home": 2,
        "near_dept": 2,
        "far": 2,
        "other_cat": 2,
        "web": 2,
        "waiting": 2,
        "fresh": 1,
        "fresh_far": 1,
        "just_reported": 0,
    }  # neither the closed case nor the one without a location
    _number, lng, lat, _level = by_number[cases["far"].number]
    assert (lng, lat) == (round(world.far_grid.lng, 6), round(world.far_grid.lat, 6))
    assert all(len(p) == 4 for p in points)


def test_a_district_supervisor_maps_only_their_district(
    db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    user = district_supervisor(db_session, world)
    codes = {f.code for f in grid_figures(db_session, user, NOW)}
    assert codes == {world.grid.code, world.near_grid.code}
    numbers = {p[0] for p in case_points(db_session, user, NOW)}
    assert cases["home"].number in numbers
    assert not numbers & {cases["far"].number, cases["fresh_far"].number}


def _validate(path: str, body: object) -> None:
    doc = spec()
    schema = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    validator = jsonschema.Draft202012Validator(
        {**schema["schema"], "components": doc["components"]}
    )
    validator.validate(body)


def test_the_endpoints_answer_as_documented(
    client: FlaskClient, db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    api = api_client(client, db_session, world.users["shift_supervisor"])
    grids = api.get("/api/v1/supervise/map/grids")
    assert grids.status_code == 200
    _validate("/api/v1/supervise/map/grids", grids.json)
    home = next(g for g in grids.json["grids"] if g["code"] == world.grid.code)
    assert home["open"] == 6 and home["overdue"] == 5  # read now: every old case is late
    points = api.get("/api/v1/supervise/map/cases")
    assert points.status_code == 200
    _validate("/api/v1/supervise/map/cases", points.json)
    assert points.json["fields"] == ["number", "lng", "lat", "level"]
    assert {p[0] for p in points.json["cases"]} >= {cases["home"].number, cases["far"].number}
    assert points.headers["Cache-Control"] == "no-store"


def test_the_endpoints_are_for_supervisors(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    api = api_client(client, db_session, world.users["operator"])
    assert api.get("/api/v1/supervise/map/grids").status_code == 403
    assert api.get("/api/v1/supervise/map/cases").status_code == 403


def test_the_page_loads_our_vendored_libraries(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    log_in(client, world.users["leader"])
    res = client.get("/supervise/map?lang=en")
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    assert "vendor/leaflet.markercluster/leaflet.markercluster.js" in html
    assert "vendor/leaflet/leaflet.js" in html and "cdn" not in html.lower()
    assert 'data-cases-url="/api/v1/supervise/map/cases"' in html
    assert "<h1>Supervision map</h1>" in html
