"""Urging (督办) from the overdue list: single and bulk, counts, notifications, per-case failures
that leave nothing behind, scope, and the page's CSRF-protected call."""

from __future__ import annotations

import re
from collections.abc import Iterator

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.errors import InvalidInput
from dispatch.models import Case, CaseEvent, Notification, RoleGrant, User
from dispatch.openapi import spec
from dispatch.supervise.urge import UrgeItem, parse_items, urge_cases
from tests.conftest import log_in
from tests.factories import api_client
from tests.supervise_support import NOW, at, district_supervisor, supervision_cases
from tests.workflow_helpers import World, act, build_world


@pytest.fixture
def world(app: Flask, db_session: Session) -> Iterator[World]:
    with app.app_context():
        yield build_world(db_session, prefix="urge")


@pytest.fixture
def cases(db_session: Session, world: World) -> dict[str, Case]:
    return supervision_cases(db_session, world)


def urges(session: Session, case: Case) -> list[CaseEvent]:
    return list(
        session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "urge")
        )
    )


def urged_users(session: Session, case: Case) -> set[int]:
    return set(
        session.scalars(
            select(Notification.user_id).where(
                Notification.case_id == case.id, Notification.kind == "urged"
            )
        )
    )


def officer_users(session: Session, officer_id: int) -> set[int]:
    return set(
        session.scalars(
            select(User.id)
            .join(RoleGrant)
            .where(User.officer_id == officer_id, RoleGrant.role == "grid_officer")
        )
    )


def test_bulk_urge_counts_logs_and_notifies_each_owner(
    db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    home, near = cases["home"], cases["near_dept"]
    results = urge_cases(
        db_session,
        world.users["shift_supervisor"],
        [UrgeItem(home.number, home.version), UrgeItem(near.number, near.version)],
        "群众反映强烈，请今日办结",
        now=NOW,
    )
    assert [(r.number, r.ok, r.status, r.urge_count) for r in results] == [
        (home.number, True, 200, 1),
        (near.number, True, 200, 1),
    ]
    for case in (home, near):
        db_session.refresh(case)
        assert case.urge_count == 1
        [event] = urges(db_session, case)
        assert event.note == "群众反映强烈，请今日办结" and event.at == NOW
        assert event.actor_role == "shift_supervisor"
    # The owner is told: grid A's officer for one, the department's staff for the other.
    assert urged_users(db_session, home) == officer_users(db_session, world.grid.officer_id)
    assert world.users["department"].id in urged_users(db_session, near)
    assert world.users["officer"].id not in urged_users(db_session, near)


def test_a_single_urge_and_a_second_one_count_up(
    db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    case = cases["far"]
    leader = world.users["leader"]
    first = urge_cases(db_session, leader, [UrgeItem(case.number)], "请加快", now=NOW)
    second = urge_cases(
        db_session, leader, [UrgeItem(case.number)], "再次督办", now=at("2026-03-05 16:30")
    )
    assert (first[0].urge_count, second[0].urge_count) == (1, 2)
    assert [e.actor_role for e in urges(db_session, case)] == ["leader", "leader"]
    db_session.refresh(case)
    assert case.urge_count == 2


def test_a_case_that_moved_on_fails_alone_and_leaves_nothing_behind(
    db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    home, web, done = cases["home"], cases["web"], cases["other_cat"]
    seen = {c.number: c.version for c in (home, web, done)}
    # While the list is open: the officer reports one case done, another is closed out.
    act(db_session, world, web, "report_done", now=at("2026-03-05 15:00"))
    for action in ("report_done", "check_pass", "close"):
        act(db_session, world, done, action, now=at("2026-03-05 15:10"))
    notified_before = db_session.scalar(select(func.count()).select_from(Notification))
    results = urge_cases(
        db_session,
        world.users["shift_supervisor"],
        [UrgeItem(n, v) for n, v in seen.items()],
        "请尽快处理",
        now=NOW,
    )
    by_number = {r.number: r for r in results}
    assert by_number[home.number].ok
    moved = by_number[web.number]
    assert (moved.ok, moved.status, moved.code, moved.current_state) == (
        False,
        409,
        "conflict",
        "to_check",
    )
    closed = by_number[done.number]
    assert (closed.ok, closed.status, closed.current_state) == (False, 409, "closed")
    for case in (web, done):
        db_session.refresh(case)
        assert case.urge_count == 0 and urges(db_session, case) == []
    assert db_session.scalar(select(func.count()).select_from(Notification)) == (
        notified_before + len(urged_users(db_session, home))
    )
    # Without a version the case is urged where it is now (the checker's desk is told).
    again = urge_cases(db_session, world.users["shift_supervisor"], [UrgeItem(web.number)], "催")
    assert again[0].ok and again[0].current_state == "to_check"


def test_cases_out_of_scope_are_not_found(
    db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    user = district_supervisor(db_session, world)
    results = urge_cases(
        db_session,
        user,
        [UrgeItem(cases["far"].number), UrgeItem(cases["home"].number), UrgeItem("nope")],
        "督办",
        now=NOW,
    )
    assert [(r.ok, r.status) for r in results] == [(False, 404), (True, 200), (False, 404)]
    db_session.refresh(cases["far"])
    assert cases["far"].urge_count == 0


def test_a_note_is_required(db_session: Session, world: World, cases: dict[str, Case]) -> None:
    with pytest.raises(InvalidInput):
        urge_cases(
            db_session, world.users["leader"], [UrgeItem(cases["home"].number)], "  ", now=NOW
        )
    db_session.refresh(cases["home"])
    assert cases["home"].urge_count == 0


@pytest.mark.parametrize(
    "raw",
    [None, [], "2026", [{"version": 1}], [{"number": "x", "version": "1"}], [1], ["x"] * 201],
)
def test_bad_case_lists_are_refused(raw: object) -> None:
    with pytest.raises(InvalidInput):
        parse_items(raw)


def test_each_case_is_taken_once() -> None:
    assert parse_items(["a", {"number": "a", "version": 3}, {"number": "b", "version": 2}]) == [
        UrgeItem("a"),
        UrgeItem("b", 2),
    ]


# ---------------------------------------------------------------------------- over HTTP
def test_the_api_urges_in_bulk_and_reports_per_case(
    client: FlaskClient, db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    api = api_client(client, db_session, world.users["shift_supervisor"])
    home, far, web = cases["home"], cases["far"], cases["web"]
    stale = web.version
    act(db_session, world, web, "report_done", now=at("2026-03-05 15:00"))
    res = api.post(
        "/api/v1/supervise/urge",
        json={
            "note": "请于今日办结",
            "cases": [
                {"number": home.number, "version": home.version},
                {"number": far.number, "version": far.version},
                {"number": web.number, "version": stale},
            ],
        },
    )
    assert res.status_code == 200
    body = res.json
    assert (body["urged"], body["failed"]) == (2, 1)
    assert [(r["number"], r["ok"], r["status"]) for r in body["results"]] == [
        (home.number, True, 200),
        (far.number, True, 200),
        (web.number, False, 409),
    ]
    doc = spec()
    op = doc["paths"]["/api/v1/supervise/urge"]["post"]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": doc["components"]}).validate(body)
    listed = api.get("/api/v1/supervise/overdue?sort=urged&dir=desc").json["cases"]
    counts = {r["number"]: r["urge_count"] for r in listed}
    assert counts[home.number] == counts[far.number] == 1
    # The case page shows the count too.
    log_in(client, world.users["shift_supervisor"])
    html = client.get(f"/cases/{home.number}").get_data(as_text=True)
    assert 'id="urge-count" data-count="1"' in html


def test_the_api_refuses_a_missing_note_and_other_roles(
    client: FlaskClient, db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    home = cases["home"]
    sup = api_client(client, db_session, world.users["shift_supervisor"])
    res = sup.post("/api/v1/supervise/urge", json={"note": "", "cases": [home.number]})
    assert res.status_code == 400 and res.json["error"]["fields"] == {"note": "required"}
    assert sup.post("/api/v1/supervise/urge", json=["x"]).status_code == 400
    dispatcher = api_client(client, db_session, world.users["dispatcher"])
    res = dispatcher.post("/api/v1/supervise/urge", json={"note": "催", "cases": [home.number]})
    assert res.status_code == 403
    db_session.refresh(home)
    assert home.urge_count == 0


def test_the_page_posts_with_its_csrf_token(
    client: FlaskClient, db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    log_in(client, world.users["shift_supervisor"])
    html = client.get("/supervise/overdue").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert token
    home = cases["home"]
    body = {"note": "督办", "cases": [{"number": home.number, "version": home.version}]}
    assert client.post("/api/v1/supervise/urge", json=body).status_code == 400  # no token
    res = client.post("/api/v1/supervise/urge", json=body, headers={"X-CSRFToken": token.group(1)})
    assert res.status_code == 200 and res.json["urged"] == 1
