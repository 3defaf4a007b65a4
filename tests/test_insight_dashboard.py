"""The dashboard's figures on the scenario week (tests/insight_scenario.py), its JSON twin, the
page and the wall screen, scope and permissions."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from dispatch.access import scope_clause
from dispatch.insight.dashboard import dashboard
from dispatch.insight.periods import Period, parse_period
from dispatch.openapi import spec
from tests.conftest import log_in
from tests.factories import api_client, make_user
from tests.insight_scenario import NOW, PERIOD, Scenario, build_scenario

API = "/api/v1/insight/dashboard?from=2026-03-02&to=2026-03-06"


@pytest.fixture
def before(app: Flask, db_session: Session) -> dict[str, Any]:
    """The city's figures for the week before the scenario is built (other tests' open cases
    elsewhere stay in ``open_now``: the scenario's own are the difference)."""
    with app.app_context():
        return dashboard(db_session, PERIOD, now=NOW)


@pytest.fixture
def scenario(app: Flask, db_session: Session, before: dict[str, Any]) -> Scenario:
    # The app context ends here: each request of the test then gets its own (and its locale).
    with app.app_context():
        return build_scenario(db_session)


def test_figures_of_a_known_week(
    scenario: Scenario, db_session: Session, before: dict[str, Any]
) -> None:
    w = scenario.world
    data = dashboard(db_session, PERIOD, now=NOW)
    assert before["totals"]["intake"] == 0  # nobody else works in March 2026
    assert data["period"] == {"from": "2026-03-02", "to": "2026-03-06", "days": 5}
    assert data["days"] == ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06"]
    # All fourteen were created on Monday: eleven calls, three inspector reports (c9-c11).
    assert data["intake_by_source"] == {
        "hotline": [11, 0, 0, 0, 0],
        "inspector": [3, 0, 0, 0, 0],
        "web": [0] * 5,
        "api": [0] * 5,
        "video": [0] * 5,
    }
    # Open: c4 c7 c8 c9 c11 c13; closed: c1 c2 c3 c5 c6; void or merged: c10 c12 c14.
    assert data["status_by_day"] == {
        "open": [6, 0, 0, 0, 0],
        "closed": [5, 0, 0, 0, 0],
        "void": [3, 0, 0, 0, 0],
    }
    totals = data["totals"]
    assert (totals["intake"], totals["open"], totals["closed"], totals["void"]) == (14, 6, 5, 3)
    assert totals["open_now"] - before["totals"]["open_now"] == 6
    # Handling due in the week: c1-c8 (c7 and c8 in their second round, overdue); on time:
    # c1 c5 c6 (c3's second round was late).
    assert (totals["due"], totals["on_time"], totals["on_time_rate"]) == (8, 3, 0.375)
    assert data["on_time_by_district"] == [
        {
            "code": w.grid.district,
            "name": data["on_time_by_district"][0]["name"],
            "due": 8,
            "on_time": 3,
            "rate": 0.375,
        }
    ]
    assert data["on_time_by_district"][0]["name"] != w.grid.district  # the district's name
    assert data["on_time_by_department"] == [
        {"id": w.department.id, "name": w.department.name, "due": 4, "on_time": 1, "rate": 0.25},
        {
            "id": w.other_department.id,
            "name": w.other_department.name,
            "due": 1,
            "on_time": 1,
            "rate": 1.0,
        },
    ]
    # Filed with the world's category: c1-c9, c13; never classified: c10 c11 c12 c14.
    assert data["top_categories"] == [
        {"id": w.category.id, "code": w.category.code, "name": w.category.name, "count": 10},
        {"id": None, "code": None, "name": None, "count": 4},
    ]
    grids = [(g["code"], g["count"]) for g in data["hotspot_grids"]]
    assert grids == [(w.grid.code, 13), (w.far_grid.code, 1)]
    assert all(g["name"] and g["name"] != g["code"] for g in data["hotspot_grids"])


def test_a_day_outside_the_week_counts_nothing(scenario: Scenario, db_session: Session) -> None:
    """Days are Beijing days: the scenario's Monday 09:00 is not in Sunday's figures."""
    sunday = dashboard(db_session, Period(date(2026, 3, 1), date(2026, 3, 1)), now=NOW)
    assert sunday["totals"]["intake"] == 0 and sunday["days"] == ["2026-03-01"]
    monday = dashboard(db_session, Period(date(2026, 3, 2), date(2026, 3, 2)), now=NOW)
    assert monday["totals"]["intake"] == 14


def test_scope_limits_the_dashboard(scenario: Scenario, db_session: Session) -> None:
    w = scenario.world
    far = make_user(
        db_session, "dash-far", "shift_supervisor", scope_kind="district",
        scope_code=w.far_grid.district,
    )  # fmt: skip
    data = dashboard(db_session, PERIOD, now=NOW, scope=scope_clause(db_session, far))
    assert data["totals"]["intake"] == 1  # c13 only
    assert [g["code"] for g in data["hotspot_grids"]] == [w.far_grid.code]
    assert data["on_time_by_district"] == [] and data["on_time_by_department"] == []
    assert data["totals"]["on_time_rate"] is None


def _schema() -> jsonschema.Draft202012Validator:
    doc = spec()
    op = doc["paths"]["/api/v1/insight/dashboard"]["get"]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})


def test_json_twin_answers_the_same_figures(
    scenario: Scenario, client: FlaskClient, db_session: Session
) -> None:
    supervisor = api_client(client, db_session, make_user(db_session, "dash-api", "leader"))
    res = supervisor.get(API)
    assert res.status_code == 200
    _schema().validate(res.json)
    expected = dashboard(db_session, PERIOD, now=NOW)
    got = dict(res.json)
    assert got.pop("generated_at") and expected.pop("generated_at")
    assert got == expected


def test_json_twin_is_scoped(scenario: Scenario, client: FlaskClient, db_session: Session) -> None:
    w = scenario.world
    far = make_user(
        db_session, "dash-api-far", "shift_supervisor", scope_kind="district",
        scope_code=w.far_grid.district,
    )  # fmt: skip
    res = api_client(client, db_session, far).get(API)
    assert res.status_code == 200
    assert res.json["totals"]["intake"] == 1


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("from=2026-03-07&to=2026-03-01", 400),
        ("from=yesterday", 400),
        ("from=2025-01-01&to=2026-03-01", 400),
        ("to=2026-03-06", 200),
        ("", 200),
    ],
)
def test_json_twin_checks_the_period(
    client: FlaskClient, db_session: Session, query: str, status: int
) -> None:
    leader = api_client(client, db_session, make_user(db_session, "dash-api-p", "leader"))
    res = leader.get(f"/api/v1/insight/dashboard?{query}")
    assert res.status_code == status
    if status == 400:
        assert res.json["error"]["code"] == "invalid_input"
    else:
        _schema().validate(res.json)


def test_only_only_to_gives_thirty_days_ending_there() -> None:
    default = Period(date(2026, 11, 1), date(2026, 11, 30))
    assert parse_period(None, "2026-03-06", default) == Period(date(2026, 2, 5), date(2026, 3, 6))
    assert parse_period("2026-11-20", None, default) == Period(
        date(2026, 11, 20), date(2026, 11, 30)
    )
    assert parse_period(None, None, default) == default


def test_json_twin_refuses_other_roles_and_strangers(
    client: FlaskClient, db_session: Session
) -> None:
    assert client.get(API).status_code == 401
    operator = api_client(client, db_session, make_user(db_session, "dash-op", "operator"))
    res = operator.get(API)
    assert res.status_code == 403 and res.json["error"]["code"] == "forbidden"


def _embedded(html: str, element_id: str) -> Any:
    match = re.search(
        rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S
    )
    assert match is not None, element_id
    return json.loads(match.group(1))


def test_the_page_embeds_the_figures_and_our_echarts(
    scenario: Scenario, client: FlaskClient, db_session: Session
) -> None:
    log_in(client, make_user(db_session, "dash-page", "shift_supervisor"))
    res = client.get("/insight?from=2026-03-02&to=2026-03-06")
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    assert "综合评价" in html and "数据看板" in html  # Chinese by default
    assert "/static/vendor/echarts/echarts.min.js" in html and "cdn" not in html.lower()
    assert _embedded(html, "insight-data")["totals"]["intake"] == 14
    config = _embedded(html, "insight-config")
    assert config["wall"] is False
    assert config["api_url"] == "/api/v1/insight/dashboard?from=2026-03-02&to=2026-03-06"
    english = client.get("/insight?from=2026-03-02&to=2026-03-06&lang=en").get_data(as_text=True)
    assert "Intake per day by source" in english


def test_wall_screen_refreshes_from_the_json_twin(client: FlaskClient, db_session: Session) -> None:
    log_in(client, make_user(db_session, "dash-wall", "leader"))
    html = client.get("/insight?wall=1&refresh=1").get_data(as_text=True)
    assert 'class="wall"' in html and 'id="wall-clock"' in html
    assert 'class="topbar"' not in html  # full screen: no page chrome
    config = _embedded(html, "insight-config")
    # No period asked: the screen keeps following the last 30 days as days go by.
    assert config == {**config, "wall": True, "refresh": 5, "api_url": "/api/v1/insight/dashboard"}


def test_a_bad_period_falls_back_to_the_default_with_a_message(
    client: FlaskClient, db_session: Session
) -> None:
    log_in(client, make_user(db_session, "dash-bad", "leader"))
    res = client.get("/insight?from=2026-03-09&to=2026-03-01&lang=en")
    assert res.status_code == 400
    assert 'id="period-error"' in res.get_data(as_text=True)


@pytest.mark.parametrize("role", ["operator", "inspector", "dispatcher", "department_staff"])
def test_other_roles_get_no_dashboard_and_no_link(
    client: FlaskClient, db_session: Session, role: str
) -> None:
    log_in(client, make_user(db_session, f"dash-no-{role}", role))
    assert client.get("/insight").status_code == 403
    assert 'href="/insight"' not in client.get("/grids/map").get_data(as_text=True)


@pytest.mark.parametrize("role", ["shift_supervisor", "leader", "admin"])
def test_supervisors_find_the_dashboard_in_the_top_bar(
    client: FlaskClient, db_session: Session, role: str
) -> None:
    log_in(client, make_user(db_session, f"dash-nav-{role}", role))
    html = client.get("/grids/map").get_data(as_text=True)
    assert 'href="/insight"' in html and 'href="/insight/evaluation"' in html


def test_anonymous_visitors_are_sent_to_log_in(client: FlaskClient) -> None:
    res = client.get("/insight?wall=1")
    assert res.status_code == 302 and "/login" in res.headers["Location"]
