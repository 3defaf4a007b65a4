"""The overdue review: filters × expected rows (read at a fixed instant), sorting, paging, scope,
the page, and its JSON API twin."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from dispatch.errors import InvalidInput
from dispatch.models import Case, User
from dispatch.openapi import spec
from dispatch.sla.queries import overdue
from dispatch.supervise.queries import (
    OverdueFilter,
    filter_choices,
    late_text,
    overdue_page,
    parse_filter,
)
from tests.conftest import log_in
from tests.factories import api_client, make_user
from tests.supervise_support import NOW, at, district_supervisor, supervision_cases
from tests.workflow_helpers import World, act, build_world


@pytest.fixture
def world(app: Flask, db_session: Session) -> Iterator[World]:
    with app.app_context():
        yield build_world(db_session, prefix="sup")


@pytest.fixture
def cases(db_session: Session, world: World) -> dict[str, Case]:
    return supervision_cases(db_session, world)


RED = {
    ("home", "handle"),
    ("near_dept", "handle"),
    ("far", "handle"),
    ("other_cat", "handle"),
    ("web", "handle"),
    ("waiting", "handle"),
    ("waiting", "accept"),
}
YELLOW = {("fresh", "handle"), ("fresh_far", "handle")}


def resolve(world: World, args: dict[str, str]) -> dict[str, str]:
    """Filter arguments with symbolic values (``home``, ``near`` …) made real."""
    real = {
        "district": {"home": world.grid.district, "far": world.far_grid.district},
        "grid": {"home": world.grid.code, "near": world.near_grid.code, "far": world.far_grid.code},
        "department": {"main": str(world.department.id), "other": str(world.other_department.id)},
        "officer": {"home": str(world.grid.officer_id), "far": str(world.far_grid.officer_id)},
        "category": {"main": str(world.category.id), "other": str(world.other_category.id)},
    }
    return {k: real.get(k, {}).get(v, v) for k, v in args.items()}


def listed(
    session: Session, user: User, cases: dict[str, Case], flt: OverdueFilter
) -> set[tuple[str, str]]:
    by_number = {c.number: name for name, c in cases.items()}
    page = overdue_page(session, user, flt, now=NOW)
    assert page.total == len(page.items)  # one page holds them all here
    return {(by_number[i.row.number], i.row.stage) for i in page.items}


# Filters × expected rows at NOW (see tests/supervise_support.py for how each case was made).
FILTER_TABLE: list[tuple[str, dict[str, str], set[tuple[str, str]]]] = [
    ("default: overdue only", {}, RED),
    ("near due only", {"level": "yellow"}, YELLOW),
    ("overdue or near due", {"level": "all"}, RED | YELLOW),
    ("district", {"district": "home"}, RED - {("far", "handle")}),
    ("other district, both levels", {"district": "far", "level": "all"},
     {("far", "handle"), ("fresh_far", "handle")}),
    ("grid", {"grid": "near"}, {("near_dept", "handle")}),
    ("department", {"department": "main"}, {("near_dept", "handle")}),
    ("a department owning nothing", {"department": "other"}, set()),
    ("officer", {"officer": "home"},
     {("home", "handle"), ("other_cat", "handle"), ("web", "handle"), ("waiting", "handle"),
      ("waiting", "accept")}),
    ("category", {"category": "other"}, {("other_cat", "handle")}),
    ("stage", {"stage": "accept"}, {("waiting", "accept")}),
    ("source", {"source": "web"}, {("web", "handle")}),
    ("reported on one day", {"from": "2026-03-04", "to": "2026-03-04"},
     {("web", "handle"), ("waiting", "handle"), ("waiting", "accept")}),
    ("reported from a day on, both levels", {"from": "2026-03-03", "level": "all"},
     {("other_cat", "handle"), ("web", "handle"), ("waiting", "handle"), ("waiting", "accept"),
      ("fresh", "handle"), ("fresh_far", "handle")}),
    ("reported up to a day", {"to": "2026-03-02"},
     {("home", "handle"), ("near_dept", "handle"), ("far", "handle")}),
    ("filters combine", {"district": "home", "stage": "handle", "from": "2026-03-04"},
     {("web", "handle"), ("waiting", "handle")}),
    ("contradicting filters", {"district": "home", "grid": "far"}, set()),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "expected"), [(a, e) for _n, a, e in FILTER_TABLE], ids=[n for n, *_ in FILTER_TABLE]
)
def test_filters_select_the_expected_rows(
    db_session: Session,
    world: World,
    cases: dict[str, Case],
    args: dict[str, str],
    expected: set[tuple[str, str]],
) -> None:
    flt = parse_filter(resolve(world, args))
    assert listed(db_session, world.users["shift_supervisor"], cases, flt) == expected


@pytest.mark.parametrize("level", ["red", "yellow", "all"])
def test_a_district_supervisor_never_sees_other_districts(
    db_session: Session, world: World, cases: dict[str, Case], level: str
) -> None:
    user = district_supervisor(db_session, world)
    every = {"red": RED, "yellow": YELLOW, "all": RED | YELLOW}[level]
    expected = {(name, stage) for name, stage in every if name not in ("far", "fresh_far")}
    assert listed(db_session, user, cases, parse_filter({"level": level})) == expected
    # Asking for the other district explicitly finds nothing rather than leaking it.
    asked = parse_filter({"level": level, "district": world.far_grid.district})
    assert listed(db_session, user, cases, asked) == set()


def test_rows_say_how_late_and_how_soon(
    db_session: Session, world: World, cases: dict[str, Case], app: Flask
) -> None:
    flt = parse_filter({"level": "all", "per_page": "50"})
    with app.test_request_context("/?lang=en"):
        page = overdue_page(db_session, world.users["shift_supervisor"], flt, now=NOW)
        by_key = {(i.row.number, i.row.stage): i for i in page.items}
        home = by_key[(cases["home"].number, "handle")]
        # Due 03-02 16:30, read 03-05 16:00: 2 days 23 h 30 min late.
        assert (home.level, home.late_text) == ("red", "2 d 23 h")
        assert home.row.due_at == at("2026-03-02 16:30")
        assert home.stage_label == "Handling" and home.state_label == "In progress"
        assert home.owner and home.grid.startswith(world.grid.code)
        fresh = by_key[(cases["fresh"].number, "handle")]
        assert (fresh.level, fresh.late_text) == ("yellow", "30 min")
        near = by_key[(cases["near_dept"].number, "handle")]
        assert near.owner == world.department.name
        waiting = by_key[(cases["waiting"].number, "accept")]
        # Accepting was due 11:00 on 03-04: 1 day 5 h late.
        assert waiting.late_text == "1 d 5 h" and waiting.stage_label == "Acceptance"


def test_late_text_rounds_lateness_up_and_waiting_down(app: Flask) -> None:
    from dispatch.sla.queries import OverdueRow

    def row(late_by_s: float) -> OverdueRow:
        return OverdueRow(
            1, "n", "in_progress", None, None, None, None, "handle", 1, NOW, late_by_s
        )

    with app.test_request_context("/?lang=en"):
        assert late_text(row(1)) == "1 min"  # half a minute late is late
        assert late_text(row(0)) == "0 min"
        assert late_text(row(-89)) == "1 min"
        assert late_text(row(3 * 3600 + 61)) == "3 h 02 min"


def test_sorting(db_session: Session, world: World, cases: dict[str, Case]) -> None:
    user = world.users["shift_supervisor"]
    act(db_session, world, cases["web"], "urge", now=at("2026-03-05 09:00"))
    act(db_session, world, cases["web"], "urge", now=at("2026-03-05 09:01"))
    act(db_session, world, cases["far"], "urge", now=at("2026-03-05 09:02"))

    def rows(**args: str) -> list[Any]:
        return overdue_page(db_session, user, parse_filter(args), now=NOW).items

    late = rows()
    assert [i.row.late_by_s for i in late] == sorted((i.row.late_by_s for i in late), reverse=True)
    assert [i.row.due_at for i in rows(dir="desc")] == sorted(
        (i.row.due_at for i in late), reverse=True
    )
    numbers = [i.row.number for i in rows(sort="number")]
    assert numbers == sorted(numbers)
    assert [i.row.number for i in rows(sort="number", dir="desc")] == sorted(numbers, reverse=True)
    urged = [i.row.number for i in rows(sort="urged", dir="desc")]
    assert urged[:2] == [cases["web"].number, cases["far"].number]
    reported = [i.row.created_at for i in rows(sort="reported")]
    assert reported == sorted(reported)
    grids = [i.row.grid_code for i in rows(sort="grid")]
    assert grids == sorted(grids)
    stages = [i.row.stage for i in rows(sort="stage")]
    assert stages == sorted(stages) and stages[0] == "accept"


def test_paging_covers_every_row_once(
    db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    user = world.users["shift_supervisor"]
    seen: list[tuple[str, str]] = []
    for number in (1, 2, 3):
        page = overdue_page(
            db_session, user, parse_filter({"per_page": "3", "page": str(number)}), now=NOW
        )
        assert (page.total, page.pages, page.page) == (7, 3, number)
        assert len(page.items) == (3 if number < 3 else 1)
        seen += [(i.row.number, i.row.stage) for i in page.items]
    assert len(seen) == len(set(seen)) == 7
    beyond = overdue_page(db_session, user, parse_filter({"per_page": "3", "page": "9"}), now=NOW)
    assert beyond.items == [] and beyond.total == 7


def test_overdue_keeps_its_original_call(
    db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    """The SLA module's callers (the benchmark, the sweep tests) still get the red list."""
    rows = overdue(db_session, now=NOW, district=world.grid.district, limit=50)
    assert {r.number for r in rows} == {
        cases[n].number for n in ("home", "near_dept", "other_cat", "web", "waiting")
    }
    assert all(r.due_at <= NOW for r in rows)


@pytest.mark.parametrize(
    "args",
    [
        {"level": "purple"},
        {"district": "4304"},
        {"grid": "43040500100100"},
        {"officer": "abc"},
        {"category": "99999999999"},
        {"from": "2026-13-01"},
        {"from": "2026-03-05", "to": "2026-03-01"},
        {"sort": "description"},
        {"dir": "sideways"},
        {"page": "0"},
        {"stage": "lunch"},
        {"source": "pigeon"},
    ],
)
def test_bad_filters_are_refused(args: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        parse_filter(args)


def test_filter_args_round_trip() -> None:
    args = {
        "level": "all",
        "district": "430405",
        "officer": "7",
        "from": "2026-03-01",
        "sort": "urged",
        "dir": "desc",
        "page": "2",
    }
    flt = parse_filter(args)
    assert flt.args() == args
    assert parse_filter(flt.args(page=1)).page == 1
    assert parse_filter({}).args() == {}


def test_filter_choices_come_from_open_cases_in_scope(
    db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    choices = filter_choices(db_session, district_supervisor(db_session, world))
    assert [code for code, _name in choices.districts] == [world.grid.district]
    grid_codes = {code for code, _name in choices.grids}
    assert grid_codes == {world.grid.code, world.near_grid.code}
    assert world.far_grid.officer_id not in {i for i, _n in choices.officers}
    assert [i for i, _n in choices.departments] == [world.department.id]
    assert {i for i, _n in choices.categories} == {world.category.id, world.other_category.id}


# ---------------------------------------------------------------------------- page and API
def page_of(client: FlaskClient, user: User, url: str) -> tuple[int, str]:
    log_in(client, user)
    res = client.get(url)
    return res.status_code, res.get_data(as_text=True)


def test_the_page_lists_clocks_with_owner_and_due_time(
    client: FlaskClient, db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    status, html = page_of(client, world.users["shift_supervisor"], "/supervise/overdue?lang=en")
    assert status == 200
    assert "<h1>Overdue review</h1>" in html
    for name in ("home", "near_dept", "far", "waiting"):
        assert f'data-number="{cases[name].number}"' in html
    # Reported long ago, so past due now: the stage clock and its owner are on the row.
    assert "Handling" in html and "Acceptance" in html
    assert "03-02 16:30" in html  # handling of the 03-02 cases was due 16:30 Beijing time
    assert world.department.name in html
    assert 'href="/supervise/overdue/export.csv"' in html


def test_the_page_is_chinese_by_default(
    client: FlaskClient, db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    status, html = page_of(client, world.users["shift_supervisor"], "/supervise/overdue")
    assert status == 200
    assert '<html lang="zh-Hans">' in html
    assert "<h1>超期督办</h1>" in html and "处置" in html and "超期" in html


def test_the_page_keeps_filters_in_sort_export_and_paging_links(
    client: FlaskClient, db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    url = f"/supervise/overdue?lang=en&district={world.grid.district}&per_page=2"
    status, html = page_of(client, world.users["shift_supervisor"], url)
    assert status == 200
    assert f"export.csv?district={world.grid.district}" in html
    assert f"export.xlsx?district={world.grid.district}" in html
    assert f"district={world.grid.district}&amp;page=2&amp;per_page=2" in html  # next page
    assert f"district={world.grid.district}&amp;sort=number" in html
    assert cases["far"].number not in html


def test_a_district_supervisor_page_and_api_stay_in_scope(
    client: FlaskClient, db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    user = district_supervisor(db_session, world)
    _status, html = page_of(client, user, "/supervise/overdue?level=all")
    assert cases["home"].number in html
    assert cases["far"].number not in html and cases["fresh_far"].number not in html
    api = api_client(client, db_session, user)
    listed = {r["number"] for r in api.get("/api/v1/supervise/overdue?level=all").json["cases"]}
    assert cases["home"].number in listed
    assert not listed & {cases["far"].number, cases["fresh_far"].number}


@pytest.mark.parametrize("role", ["operator", "dispatcher", "inspector", "grid_officer", "admin"])
def test_only_supervisors_and_leaders_get_in(
    client: FlaskClient, db_session: Session, role: str
) -> None:
    user = make_user(db_session, f"no-sup-{role}", role)
    status, _html = page_of(client, user, "/supervise/overdue")
    assert status == 403
    api = api_client(client, db_session, user)
    assert api.get("/api/v1/supervise/overdue").status_code == 403
    # No link to a page they cannot open.
    _status, home = page_of(client, user, "/grids/map")
    assert "/supervise/overdue" not in home


def test_leaders_get_in_and_see_the_nav_links(client: FlaskClient, db_session: Session) -> None:
    status, html = page_of(client, make_user(db_session, "a-leader", "leader"), "/grids/map")
    assert status == 200
    for path in ("/supervise/overdue", "/supervise/approvals", "/supervise/map"):
        assert f'href="{path}"' in html
    start = client.get("/supervise/")
    assert start.status_code == 302 and start.headers["Location"].endswith("/supervise/overdue")


def test_anonymous_visitors_are_sent_to_log_in(client: FlaskClient) -> None:
    res = client.get("/supervise/overdue")
    assert res.status_code == 302 and "/login" in res.headers["Location"]
    assert client.get("/api/v1/supervise/overdue").status_code == 401


def test_api_answers_match_the_openapi_schema(
    client: FlaskClient, db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    api = api_client(client, db_session, world.users["leader"])
    res = api.get("/api/v1/supervise/overdue?level=all&sort=number&per_page=3&page=2")
    assert res.status_code == 200
    body = res.json
    assert body["page"] == 2 and body["per_page"] == 3 and body["total"] >= 9
    doc = spec()
    op = doc["paths"]["/api/v1/supervise/overdue"]["get"]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": doc["components"]}).validate(body)
    numbers = [r["number"] for r in body["cases"]]
    assert numbers == sorted(numbers)
    bad = api.get("/api/v1/supervise/overdue?level=purple")
    assert bad.status_code == 400 and bad.json["error"]["fields"] == {
        "level": "one of red, yellow, all"
    }


def test_a_bad_filter_on_the_page_says_so(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    status, html = page_of(client, world.users["shift_supervisor"], "/supervise/overdue?from=x")
    assert status == 400 and 'id="filter-error"' in html


def test_the_open_case_index_and_its_queries_agree_on_what_open_means() -> None:
    """``ix_case_file_open`` and ``case_is_open()`` are written out in SQL (so PostgreSQL can
    match them whatever the parameters): they must name exactly the final states."""
    from dispatch.models.cases import FINAL_STATES, OPEN_CASE_SQL

    named = set(re.findall(r"'(\w+)'", OPEN_CASE_SQL))
    assert named == {str(s) for s in FINAL_STATES}
