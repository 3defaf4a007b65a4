"""Who may do what to which case, through the HTTP API: a matrix of roles × scopes × actions.

Each expectation comes from ``workflow_helpers.expected_status``, a small oracle written from
the transition table and the scope rules of DOMAIN.md §1 (404 out of scope, 403 role or not the
owner, 409 wrong state or missing request, 200 otherwise); the application's own access
functions are never used to compute what a test expects. Every attempt runs in a savepoint that
is rolled back, so one set of prepared cases serves the whole matrix.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, event, select, update
from sqlalchemy.orm import Session

from core.db import database
from core.types import utcnow
from dispatch.auth import revoke_token
from dispatch.models import ApiToken, Case
from dispatch.models.cases import CaseState
from dispatch.models.people import Role
from dispatch.routing import primary_officer
from dispatch.workflow import TRANSITIONS, Action
from grids import services as grid_services
from grids.models import GridDuty
from tests.factories import ApiClient, api_client
from tests.workflow_helpers import (
    USER_ROLES,
    Facts,
    GridInfo,
    Who,
    World,
    act,
    advance_to,
    api_act,
    build_world,
    default_data,
    expected_status,
    inside_point,
    new_case,
    quick_user,
    sees,
    sorted_actions,
)

A = Action
S = CaseState

#: Role variants of the matrix: (name, role, the World user whose links it copies).
VARIANTS: list[tuple[str, Role, str | None]] = [
    ("operator", Role.OPERATOR, None),
    ("inspector", Role.INSPECTOR, None),
    ("shift_supervisor", Role.SHIFT_SUPERVISOR, None),
    ("dispatcher", Role.DISPATCHER, None),
    ("leader", Role.LEADER, None),
    ("admin", Role.ADMIN, None),
    ("officer-of-grid-a", Role.GRID_OFFICER, "officer"),
    ("officer-elsewhere", Role.GRID_OFFICER, "other_officer"),
    ("owning-department", Role.DEPARTMENT_STAFF, "department"),
    ("other-department", Role.DEPARTMENT_STAFF, "other_department"),
]
SCOPES = ["city", "district-of-case", "other-district", "grid-of-case", "other-grid"]


def _scope(world: World, name: str) -> tuple[str, str]:
    return {
        "city": ("city", ""),
        "district-of-case": ("district", world.grid.district),
        "other-district": ("district", world.far_grid.district),
        "grid-of-case": ("grids", world.grid.code),
        "other-grid": ("grids", world.near_grid.code),  # same district, another grid
    }[name]


@dataclass
class Prepared:
    number: str
    facts: Facts
    placed: bool


@pytest.fixture
def world(app: Flask, db_session: Session) -> Iterator[World]:
    app.config["AUTO_DISPATCH"] = False
    try:
        with app.app_context():
            yield build_world(db_session)
    finally:
        app.config["AUTO_DISPATCH"] = True


def _prepare(session: Session, world: World) -> dict[str, Prepared]:
    """One case per situation the matrix needs (all in grid A, officer A or department)."""
    cases: dict[str, Case] = {
        "reported": advance_to(session, world, S.REPORTED),
        "merge-target": advance_to(session, world, S.REPORTED),
        "unplaced": advance_to(session, world, S.REPORTED, placed=False),
        "to_verify": advance_to(session, world, S.TO_VERIFY),
        "to_file": advance_to(session, world, S.TO_FILE),
        "to_dispatch": advance_to(session, world, S.TO_DISPATCH),
    }
    for owner, dept in (("officer", False), ("department", True)):
        for state in (S.TO_ACCEPT, S.IN_PROGRESS, S.SUSPENDED, S.TO_CHECK, S.TO_CLOSE, S.CLOSED):
            cases[f"{state}/{owner}"] = advance_to(session, world, state, to_department=dept)
        cases[f"requests/{owner}"] = advance_to(
            session,
            world,
            S.IN_PROGRESS,
            to_department=dept,
            requests=("return", "extension", "suspend"),
        )
    return {
        key: Prepared(case.number, Facts.of(case), case.placement != "pending")
        for key, case in cases.items()
    }


def _good_case(action: Action, owner: str) -> str:
    """The prepared case on which ``action`` is possible (for the owner kind given)."""
    edge = TRANSITIONS[action]
    if action is A.PLACE:
        return "unplaced"
    if edge.needs_request:
        return f"requests/{owner}"
    state = next(s for s in S if s in edge.sources)
    if state in (S.REPORTED, S.TO_VERIFY, S.TO_FILE, S.TO_DISPATCH):
        return str(state)
    return f"{state}/{owner}"


def _wrong_case(action: Action, owner: str) -> str:
    """A prepared case whose state ``action`` cannot start from."""
    return "reported" if S.CLOSED in TRANSITIONS[action].sources else f"closed/{owner}"


def _payload(world: World, action: Action, cases: dict[str, Prepared]) -> dict[str, Any]:
    if action is A.MERGE:
        return {"duplicate_of": cases["merge-target"].number}
    return default_data(world, action)


def _attempt(connection: Connection, api: ApiClient, number: str, action: Action, data: Any):
    savepoint = connection.begin_nested()
    try:
        return api_act(api, number, action, note="矩阵测试", data=data)
    finally:
        savepoint.rollback()


@pytest.mark.parametrize(("variant", "role", "links"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_role_scope_action_matrix(
    client: FlaskClient,
    connection: Connection,
    db_session: Session,
    world: World,
    variant: str,
    role: Role,
    links: str | None,
) -> None:
    cases = _prepare(db_session, world)
    linked = world.users[links] if links else None
    owner = "department" if role is Role.DEPARTMENT_STAFF else "officer"
    users = []
    for scope in SCOPES:
        kind, code = _scope(world, scope)
        user = quick_user(
            db_session,
            f"m-{variant}-{scope}",
            role,
            scope_kind=kind,
            scope_code=code,
            officer_id=linked.officer_id if linked else None,
            department_id=linked.department_id if linked else None,
        )
        users.append((scope, Who.of(db_session, user, role), api_client(client, db_session, user)))
    db_session.commit()  # the API's sessions see it all; each attempt below is rolled back

    mismatches = []
    outcomes: dict[int, int] = {}
    for scope, who, api in users:
        for action in sorted_actions():
            targets = (("good", _good_case(action, owner)), ("wrong", _wrong_case(action, owner)))
            for kind, key in targets:
                prepared = cases[key]
                want = expected_status(action, who, prepared.facts, placed=prepared.placed)
                res = _attempt(
                    connection, api, prepared.number, action, _payload(world, action, cases)
                )
                outcomes[want] = outcomes.get(want, 0) + 1
                if res.status_code != want:
                    error = (res.json or {}).get("error", {})
                    mismatches.append(
                        f"{variant}@{scope} {action} on {kind} case {key}: "
                        f"expected {want}, got {res.status_code} {error.get('message', '')}"
                    )
                elif want == 200:
                    assert res.json["event"]["action"] == action
                    assert res.json["event"]["actor_role"] == role
                else:
                    assert set(res.json["error"]) >= {"code", "message", "fields"}
    assert not mismatches, "\n".join(mismatches)
    # The matrix really exercises allowed and refused outcomes for this role.
    assert outcomes.get(404, 0) > 0 and outcomes.get(409, 0) + outcomes.get(403, 0) > 0
    # … and someone who owns nothing never succeeds at anything.
    assert (outcomes.get(200, 0) > 0) == (links not in ("other_officer", "other_department"))


def test_matrix_oracle_spot_checks() -> None:
    """The oracle agrees with hand-worked rows of DOMAIN.md §5 (so the matrix means something)."""
    city_op = Who(Role.OPERATOR)
    officer = Who(Role.GRID_OFFICER, "grids", frozenset(), officer_id=7, duty_grids=frozenset())
    reported = Facts(S.REPORTED, "430405001001000", "430405", None, None)
    owned = Facts(S.TO_ACCEPT, "430405001001000", "430405", 7, None)
    assert expected_status(A.ACCEPT_REPORT, city_op, reported) == 200
    assert expected_status(A.CLOSE, city_op, reported) == 403  # the role is checked first
    assert expected_status(A.ACCEPT, officer, owned) == 200
    assert expected_status(A.ACCEPT, officer, reported) == 404  # neither owner nor duty grid
    assert expected_status(A.REPORT_DONE, officer, owned) == 409
    district = Who(Role.SHIFT_SUPERVISOR, "district", frozenset({"430406"}))
    assert expected_status(A.FILE, district, reported) == 404
    unplaced = Facts(S.REPORTED, None, None, None, None)
    assert expected_status(A.PLACE, city_op, unplaced, placed=False) == 200
    assert expected_status(A.PLACE, Who(Role.OPERATOR, "district", frozenset({"430405"})),
                           unplaced, placed=False) == 404  # fmt: skip


# ------------------------------------------------------------------------- lists and detail
def _numbers(api: ApiClient, query: str = "") -> set[str]:
    seen: set[str] = set()
    page = 1
    while True:
        res = api.get(f"/api/v1/cases?per_page=200&page={page}{query}")
        assert res.status_code == 200, res.json
        seen |= {c["number"] for c in res.json["cases"]}
        if page * 200 >= res.json["total"]:
            assert len(seen) == res.json["total"]
            return seen
        page += 1


def _all_facts(session: Session) -> dict[str, Facts]:
    return {c.number: Facts.of(c) for c in session.scalars(select(Case))}


@pytest.fixture
def spread(db_session: Session, world: World) -> dict[str, Case]:
    """Cases in grid A, grid C (A's district), grid B (another district) and unplaced ones; one
    of B's dispatched to the department, one of C's to grid A's officer (an override)."""
    cases = {
        "a": new_case(db_session, world),
        "a-closed": advance_to(db_session, world, S.CLOSED),
        "c": new_case(db_session, world, grid=world.near_grid),
        "b": new_case(db_session, world, grid=world.far_grid),
        "unplaced": new_case(db_session, world, placed=False),
        "unplaced-filed": advance_to(db_session, world, S.TO_DISPATCH, placed=False),
        "b-department": advance_to(db_session, world, S.TO_DISPATCH, grid=world.far_grid),
        "c-officer-a": advance_to(db_session, world, S.TO_DISPATCH, grid=world.near_grid),
    }
    act(db_session, world, cases["b-department"], A.DISPATCH,
        data={"department_id": world.department.id, "reason": "专业部门处置"})  # fmt: skip
    act(db_session, world, cases["c-officer-a"], A.DISPATCH,
        data={"officer_id": world.grid.officer_id, "reason": "代班"})  # fmt: skip
    return cases


LISTERS: list[tuple[str, Role, str, str, str | None]] = [
    # (name, role, scope kind, scope: city / A / B / grid C / none, linked World user)
    ("city-supervisor", Role.SHIFT_SUPERVISOR, "city", "", None),
    ("district-a-supervisor", Role.SHIFT_SUPERVISOR, "district", "A", None),
    ("district-b-supervisor", Role.SHIFT_SUPERVISOR, "district", "B", None),
    ("grid-c-inspector", Role.INSPECTOR, "grids", "C", None),
    ("officer-of-grid-a", Role.GRID_OFFICER, "grids", "", "officer"),
    ("officer-of-grid-b", Role.GRID_OFFICER, "grids", "", "other_officer"),
    ("department-staff", Role.DEPARTMENT_STAFF, "grids", "", "department"),
    ("other-department-staff", Role.DEPARTMENT_STAFF, "grids", "", "other_department"),
]


def _lister(session: Session, client: FlaskClient, world: World, row: tuple) -> tuple[Who, Any]:
    name, role, kind, where, links = row
    code = {"": "", "A": world.grid.district, "B": world.far_grid.district,
            "C": world.near_grid.code}[where]  # fmt: skip
    linked = world.users[links] if links else None
    user = quick_user(
        session,
        f"l-{name}",
        role,
        scope_kind=kind,
        scope_code=code,
        officer_id=linked.officer_id if linked else None,
        department_id=linked.department_id if linked else None,
    )
    return Who.of(session, user, role), api_client(client, session, user)


@pytest.mark.parametrize("row", LISTERS, ids=[r[0] for r in LISTERS])
def test_list_and_detail_show_exactly_the_scope(
    client: FlaskClient, db_session: Session, world: World, spread: dict[str, Case], row: tuple
) -> None:
    who, api = _lister(db_session, client, world, row)
    facts = _all_facts(db_session)
    expected = {number for number, f in facts.items() if sees(who, f)}
    assert _numbers(api) == expected
    for key, case in spread.items():
        visible = case.number in expected
        for path in ("", "/events", "/routing"):
            res = api.get(f"/api/v1/cases/{case.number}{path}")
            assert res.status_code == (200 if visible else 404), (key, path)
        if not visible:
            assert res.json["error"]["code"] == "not_found"
    # Filters narrow the scope; they never widen it.
    far = _numbers(api, f"&district={world.far_grid.district}")
    assert far == {n for n in expected if facts[n].district_code == world.far_grid.district}


def test_scope_expectations_of_the_domain(
    client: FlaskClient, db_session: Session, world: World, spread: dict[str, Case]
) -> None:
    """The rules of DOMAIN.md §1 in words, on the same cases (hand-written, not the oracle)."""
    got = {}
    for row in LISTERS:
        _who, api = _lister(db_session, client, world, row)
        got[row[0]] = _numbers(api)
    mine = {key: case.number for key, case in spread.items()}
    everything = set(mine.values())
    assert got["city-supervisor"] >= everything
    in_a = {mine[k] for k in ("a", "a-closed", "c", "c-officer-a")}
    in_b = {mine[k] for k in ("b", "b-department")}
    assert got["district-a-supervisor"] & everything == in_a
    assert got["district-b-supervisor"] & everything == in_b  # none of district A's
    assert got["grid-c-inspector"] & everything == {mine["c"], mine["c-officer-a"]}
    # The officer: cases in the grids of today's duties, and the cases they own.
    assert got["officer-of-grid-a"] & everything == {
        mine[k] for k in ("a", "a-closed", "c-officer-a")
    }
    assert got["officer-of-grid-b"] & everything == in_b
    assert got["department-staff"] & everything == {mine["b-department"]}
    assert got["other-department-staff"] & everything == set()
    for name, numbers in got.items():  # unplaced cases belong to the city-wide desks
        assert (mine["unplaced"] in numbers) == (name == "city-supervisor"), name
        assert (mine["unplaced-filed"] in numbers) == (name == "city-supervisor"), name


def test_placement_queue_is_city_wide_only(
    client: FlaskClient, db_session: Session, world: World, spread: dict[str, Case]
) -> None:
    for row in LISTERS[:3]:
        _who, api = _lister(db_session, client, world, row)
        res = api.get("/api/v1/placement-queue")
        numbers = {c["number"] for c in res.json["cases"]}
        unplaced = {spread["unplaced"].number, spread["unplaced-filed"].number}
        assert (numbers >= unplaced) if row[2] == "city" else not (numbers & unplaced)


def test_officer_whose_duty_ended_no_longer_sees_the_grid(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    today = date.today()
    ended = db_session.scalars(
        select(GridDuty)
        .where(GridDuty.role == "primary", GridDuty.ends_on.is_not(None), GridDuty.ends_on < today)
        .order_by(GridDuty.grid_code)
    ).first()
    if ended is None:
        pytest.skip("the demo city has no ended duty")
    grid = grid_services.grid_by_code(db_session, ended.grid_code)
    current_officer = primary_officer(db_session, ended.grid_code)
    assert grid is not None and current_officer not in (None, ended.officer_id)
    lng, lat = inside_point(grid.geom)
    info = GridInfo(grid.code, grid.id, grid.code[:6], lng, lat, current_officer)
    case = new_case(db_session, world, grid=info)
    assert case.grid_code == grid.code
    for name, officer_id, status in (
        ("former", ended.officer_id, 404),
        ("current", current_officer, 200),
    ):
        user = quick_user(
            db_session, f"l-{name}", Role.GRID_OFFICER, scope_kind="grids", officer_id=officer_id
        )
        res = api_client(client, db_session, user).get(f"/api/v1/cases/{case.number}")
        assert res.status_code == status, name
        listed = {
            c["number"]
            for c in api_client(client, db_session, user).get("/api/v1/cases").json["cases"]
        }
        assert (case.number in listed) == (status == 200), name


# ------------------------------------------------------------------------- personal data
@pytest.mark.parametrize(
    ("key", "full"),
    [(k, USER_ROLES[k] is Role.OPERATOR) for k in USER_ROLES],
)
def test_reporter_phone_is_masked_for_roles_that_do_not_call_back(
    client: FlaskClient, db_session: Session, world: World, key: str, full: bool
) -> None:
    case = advance_to(db_session, world, S.IN_PROGRESS)  # the World's users are city-wide
    api = api_client(client, db_session, world.users[key])
    res = api.get(f"/api/v1/cases/{case.number}")
    assert res.status_code == 200, res.json
    phone = "13812345678" if full else "138****5678"
    assert res.json["reporter"] == {"name": "张先生", "phone": phone}
    assert [c["phone"] for c in res.json["callers"]] == [phone]
    assert "13812345678" not in res.get_data(as_text=True) or full


# ------------------------------------------------------------------------- authentication
def test_unauthenticated_and_revoked_tokens_get_401(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    case = new_case(db_session, world)
    user = world.users["operator"]
    api = api_client(client, db_session, user)
    assert api.get(f"/api/v1/cases/{case.number}").status_code == 200
    requests = [
        ("get", "/api/v1/cases", None),
        ("get", f"/api/v1/cases/{case.number}", None),
        ("post", f"/api/v1/cases/{case.number}/actions/accept_report", {"note": ""}),
        ("post", "/api/v1/cases", {"description": "路灯不亮"}),
    ]
    bad = {"Authorization": "Bearer cdt_not-a-token"}
    token = db_session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
    ).first()
    assert token is not None and revoke_token(db_session, token.id)
    for method, url, body in requests:
        for headers, who in (({}, "anonymous"), (bad, "unknown token")):
            res = getattr(client, method)(url, json=body, headers=headers)
            assert res.status_code == 401, (who, url)
            assert res.json["error"]["code"] == "unauthorized"
        res = getattr(api, method)(url, json=body)
        assert res.status_code == 401, ("revoked", url)
    db_session.refresh(case)
    assert case.state == S.REPORTED and case.version == 1


def test_inactive_user_token_gets_401(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    user = quick_user(db_session, "l-leaver", Role.OPERATOR)
    api = api_client(client, db_session, user)
    assert api.get("/api/v1/cases").status_code == 200
    user.is_active = False
    db_session.flush()
    assert api.get("/api/v1/cases").status_code == 401


# ------------------------------------------------------------------------- the API's own rules
def test_as_role_must_be_held(client: FlaskClient, db_session: Session, world: World) -> None:
    case = new_case(db_session, world)
    both = quick_user(db_session, "l-both", Role.OPERATOR, Role.INSPECTOR)
    api = api_client(client, db_session, both)
    res = api_act(api, case.number, A.ACCEPT_REPORT, as_role="shift_supervisor")
    assert res.status_code == 403 and res.json["error"]["code"] == "forbidden"
    res = api_act(api, case.number, A.ACCEPT_REPORT, as_role="wizard")
    assert res.status_code == 400 and res.json["error"]["fields"] == {"as_role": "unknown"}
    res = api_act(api, case.number, A.ACCEPT_REPORT, as_role="inspector")
    assert res.status_code == 403  # the inspector role may not accept reports
    res = api_act(api, case.number, A.SEND_TO_VERIFY)  # chooses the operator role
    assert res.status_code == 200 and res.json["event"]["actor_role"] == "operator"
    res = api_act(api, case.number, A.VERIFY_TRUE)  # … and here the inspector role
    assert res.status_code == 200 and res.json["event"]["actor_role"] == "inspector"


def test_if_match_and_version(client: FlaskClient, db_session: Session, world: World) -> None:
    case = advance_to(db_session, world, S.TO_FILE)
    api = api_client(client, db_session, world.users["shift_supervisor"])
    etag = api.get(f"/api/v1/cases/{case.number}").headers["ETag"]
    assert etag == f'"{case.version}"'
    data = default_data(world, A.FILE)
    for headers, version in (({"If-Match": '"1"'}, None), ({}, 1), ({"If-Match": 'W/"1"'}, None)):
        res = api_act(api, case.number, A.FILE, data=data, version=version, headers=headers)
        assert res.status_code == 409 and res.json["error"]["code"] == "conflict"
        assert res.json["error"]["current_version"] == case.version
    res = api_act(api, case.number, A.FILE, data=data, headers={"If-Match": "x"})
    assert res.status_code == 400
    detail = api.get(f"/api/v1/cases/{case.number}").json
    assert detail["version"] == case.version and len(detail["events"]) == case.version
    res = api_act(api, case.number, A.FILE, data=data, headers={"If-Match": etag})
    assert res.status_code == 200 and res.headers["ETag"] == f'"{case.version + 1}"'


def test_unknown_action_is_404_and_bad_payload_400(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    case = new_case(db_session, world)
    api = api_client(client, db_session, world.users["operator"])
    assert api_act(api, case.number, "teleport").status_code == 404
    assert api_act(api, case.number, "report").status_code == 404
    assert api_act(api, "20990101099999", A.ACCEPT_REPORT).status_code == 404
    res = api_act(api, case.number, A.MARK_INVALID)  # the note is required
    assert res.status_code == 400 and res.json["error"]["fields"] == {"note": "required"}
    res = api.post(f"/api/v1/cases/{case.number}/actions/accept_report", json={"data": [1]})
    assert res.status_code == 400


@pytest.mark.parametrize("key", list(USER_ROLES))
def test_who_may_create_cases(
    client: FlaskClient, db_session: Session, world: World, key: str
) -> None:
    api = api_client(client, db_session, world.users[key])
    body = {"description": "井盖缺失", "lng": world.grid.lng, "lat": world.grid.lat,
            "reporter_phone": "13812345678"}  # fmt: skip
    res = api.post("/api/v1/cases", json=body, headers={"Idempotency-Key": f"perm-{key}-0001"})
    may = USER_ROLES[key] in (
        Role.OPERATOR, Role.INSPECTOR, Role.SHIFT_SUPERVISOR, Role.DISPATCHER, Role.ADMIN
    )  # fmt: skip
    if not may:
        assert res.status_code == 403
        return
    assert res.status_code == 201, res.json
    assert res.json["grid_code"] == world.grid.code and res.json["state"] == "reported"
    again = api.post("/api/v1/cases", json=body, headers={"Idempotency-Key": f"perm-{key}-0001"})
    assert again.status_code == 200 and again.json["number"] == res.json["number"]


def test_a_token_is_looked_up_once_then_trusted_for_a_few_seconds(
    app: Flask, client: FlaskClient, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers remember a token for API_TOKEN_CACHE_SECONDS: a change made by another process
    (here: plain SQL, as the CLI would) reaches this one when that time has passed."""
    import dispatch.auth as auth

    user = quick_user(db_session, "l-cached", Role.OPERATOR)
    api = api_client(client, db_session, user)
    lookups: list[str] = []

    def count(_conn, _cursor, statement, *_rest) -> None:  # type: ignore[no-untyped-def]
        if "api_token" in statement:
            lookups.append(statement)

    engine = database(app).engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(3):
            assert api.get("/api/v1/cases").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(lookups) == 1

    db_session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id).values(revoked_at=utcnow())
    )  # a Core UPDATE: no ORM attribute event, as if another process had done it
    assert api.get("/api/v1/cases").status_code == 200  # still trusted …
    later = time.monotonic() + app.config["API_TOKEN_CACHE_SECONDS"] + 1
    monkeypatch.setattr(auth.time, "monotonic", lambda: later)
    assert api.get("/api/v1/cases").status_code == 401  # … until the cache time is up


def test_the_cached_token_user_comes_attached_unless_the_view_only_reads_it(
    app: Flask, db_session: Session
) -> None:
    """Intake asks for the caller without attaching it (``api_user(attach=False)``): it gets
    the process's cached instance, loaded and detached; every other view gets an instance of
    its own session, so lazy loads and changes work there as usual."""
    from dispatch.auth import issue_token, user_from_token

    user = quick_user(db_session, "l-attach", Role.OPERATOR)
    token = issue_token(db_session, user, "attach")
    with app.app_context():
        attached = user_from_token(db_session, token)
        first = user_from_token(db_session, token, attach=False)
        second = user_from_token(db_session, token, attach=False)
    assert attached is not None and attached in db_session
    assert first is second and first is not None and first not in db_session
    assert first.id == user.id and first.has_role(Role.OPERATOR)  # loaded: no session needed


def test_a_role_taken_away_in_this_process_applies_at_once(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    user = quick_user(db_session, "l-demoted", Role.OPERATOR)
    api = api_client(client, db_session, user)
    body = {"description": "井盖缺失", "address": "测试路1号"}
    assert api.post("/api/v1/cases", json=body).status_code == 201
    for grant in list(user.grants):
        db_session.delete(grant)
    db_session.flush()
    assert api.post("/api/v1/cases", json=body).status_code == 403
