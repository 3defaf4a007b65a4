"""Who may do what at the hotline desk: every role against every desk action (API and pages),
masked caller numbers for the roles that do not dial them, and logged reveals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models.cases import CaseState
from hotline.models import PhoneReveal
from tests.conftest import log_in
from tests.factories import api_client, make_user
from tests.workflow_helpers import World, advance_to, build_world, new_case

ROLES = (
    "operator",
    "inspector",
    "shift_supervisor",
    "dispatcher",
    "grid_officer",
    "department_staff",
    "leader",
    "admin",
)
LOOKUP = {"operator", "shift_supervisor", "dispatcher", "admin"}

#: action -> (method, url template, JSON body, roles allowed, success status)
MATRIX: dict[str, tuple[str, str, dict[str, Any] | None, set[str], int]] = {
    "history": ("GET", "/api/v1/hotline/callers/13912345678/history", None, {"operator"}, 200),
    "gazetteer": ("GET", "/api/v1/hotline/gazetteer?q=石鼓", None, LOOKUP, 200),
    "import": (
        "POST",
        "/api/v1/hotline/gazetteer/import",
        {"content": "name,lng,lat\n测试点,112.6,26.9\n", "format": "csv"},
        {"admin"},
        200,
    ),
    "suggest": ("GET", "/api/v1/hotline/categories/suggest?text=井盖丢了", None, LOOKUP, 200),
    "keywords": (
        "POST",
        "/api/v1/hotline/categories/{category_id}/keywords",
        {"keywords": "暴露垃圾 垃圾堆"},
        {"admin"},
        200,
    ),
    "duplicates": ("GET", "/api/v1/hotline/duplicates?lng=112.6&lat=26.9", None, LOOKUP, 200),
    "knowledge": ("GET", "/api/v1/hotline/knowledge?q=垃圾", None, {"operator", "admin"}, 200),
    "knowledge_add": (
        "POST",
        "/api/v1/hotline/knowledge",
        {"title": "测试", "answer": "测试答复"},
        {"admin"},
        201,
    ),
    "take_call": (
        "POST",
        "/api/v1/hotline/calls",
        {"request_type": "help", "description": "求助", "caller_phone": "13912345678"},
        {"operator"},
        201,
    ),
    "call_detail": (
        "GET",
        "/api/v1/hotline/calls/{call}",
        None,
        {"operator", "shift_supervisor", "leader", "admin"},
        200,
    ),
    "reveal_call": (
        "POST",
        "/api/v1/hotline/calls/{call}/reveal",
        {"reason": "回访核实"},
        {"operator", "shift_supervisor", "admin"},
        200,
    ),
    "reveal_caller": (
        "POST",
        "/api/v1/hotline/callers/{caller}/reveal",
        {},
        {"operator", "shift_supervisor", "admin"},
        200,
    ),
    "callbacks": ("GET", "/api/v1/hotline/callbacks", None, {"operator", "shift_supervisor"}, 200),
    "incoming": (
        "POST",
        "/api/v1/hotline/incoming",
        {"phone": "13912345678", "seat": "A01"},
        {"operator", "admin"},
        202,
    ),
}
PAGES = {
    "/hotline/": {"operator"},
    "/hotline/callbacks": {"operator", "shift_supervisor"},
    "/hotline/admin": {"admin"},
}


@pytest.fixture
def world(app: Flask, db_session: Session) -> Iterator[World]:
    with app.app_context():
        yield build_world(db_session, prefix="hlp")


@pytest.fixture
def setup(client: FlaskClient, db_session: Session, world: World) -> dict[str, Any]:
    """A call on a case (phone 13912345678) and one client per role (city-wide grants)."""
    op = api_client(client, db_session, world.users["operator"])
    res = op.post(
        "/api/v1/hotline/calls",
        json={
            "request_type": "complaint",
            "description": "暴露垃圾",
            "caller_phone": "13912345678",
            "caller_name": "李女士",
            "lng": world.grid.lng,
            "lat": world.grid.lat,
        },
    )
    assert res.status_code == 201
    from dispatch.models import Case

    case = db_session.scalar(select(Case).where(Case.number == res.json["told_number"]))
    clients = {
        role: api_client(client, db_session, make_user(db_session, f"hlp-m-{role}", role))
        for role in ROLES
    }
    return {
        "call": res.json["call_number"],
        "caller": case.callers[0].id,
        "category_id": world.category.id,
        "clients": clients,
    }


@pytest.mark.parametrize("action", sorted(MATRIX))
def test_every_role_against_every_desk_action(setup: dict[str, Any], action: str) -> None:
    method, url, body, allowed, ok = MATRIX[action]
    url = url.format(**setup)
    for role in ROLES:
        api = setup["clients"][role]
        res = api.get(url) if method == "GET" else api.post(url, json=body)
        expected = ok if role in allowed else 403
        assert res.status_code == expected, (role, action, res.json)


def test_anonymous_requests_are_refused(client: FlaskClient, setup: dict[str, Any]) -> None:
    for method, url, body, _allowed, _ok in MATRIX.values():
        url = url.format(**setup)
        res = client.get(url) if method == "GET" else client.post(url, json=body)
        assert res.status_code == 401, url


def test_pages_by_role(client: FlaskClient, db_session: Session) -> None:
    for role in ROLES:
        user = make_user(db_session, f"hlp-p-{role}", role)
        log_in(client, user)
        for path, allowed in PAGES.items():
            assert client.get(path).status_code == (200 if role in allowed else 403), (role, path)
        stream = client.get("/hotline/stream")
        assert stream.status_code == (200 if role == "operator" else 403), role
        stream.close()


def test_numbers_are_masked_for_roles_that_do_not_dial(setup: dict[str, Any]) -> None:
    for role in ("operator", "shift_supervisor", "leader", "admin"):
        body = setup["clients"][role].get(f"/api/v1/hotline/calls/{setup['call']}").json
        expected = "13912345678" if role == "operator" else "139****5678"
        assert body["caller_phone"] == expected, role
        assert body["may_reveal"] == (role != "leader")


def test_callback_queue_masks_numbers_for_supervisors(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    case = advance_to(db_session, world, CaseState.CLOSED)
    for role, phone in (("operator", "13812345678"), ("shift_supervisor", "138****5678")):
        api = api_client(client, db_session, world.users[role])
        rows = api.get("/api/v1/hotline/callbacks").json["cases"]
        row = next(r for r in rows if r["number"] == case.number)
        assert [c["phone"] for c in row["callers"]] == [phone]


def test_reveals_are_logged_and_scoped(
    client: FlaskClient, db_session: Session, setup: dict[str, Any], world: World
) -> None:
    before = len(db_session.scalars(select(PhoneReveal)).all())
    sup = setup["clients"]["shift_supervisor"]
    res = sup.post(f"/api/v1/hotline/calls/{setup['call']}/reveal", json={"reason": "核实"})
    assert res.json == {"phone": "13912345678"}
    res = sup.post(f"/api/v1/hotline/callers/{setup['caller']}/reveal", json={})
    assert res.json == {"phone": "13912345678"}
    logged = db_session.scalars(select(PhoneReveal).order_by(PhoneReveal.id)).all()[before:]
    assert [(r.role, r.reason) for r in logged] == [
        ("shift_supervisor", "核实"),
        ("shift_supervisor", ""),
    ]
    # A supervisor of another district cannot reach this call's case: as if it did not exist.
    far = make_user(
        db_session,
        "hlp-far-sup",
        "shift_supervisor",
        scope_kind="district",
        scope_code=world.far_grid.district,
    )
    far_api = api_client(client, db_session, far)
    assert far_api.post(f"/api/v1/hotline/callers/{setup['caller']}/reveal").status_code == 404
    assert far_api.get(f"/api/v1/hotline/calls/{setup['call']}").status_code == 404


def test_public_look_up_never_shows_the_callers_number(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    case = new_case(db_session, world, phone="13912345678")
    db_session.flush()
    res = client.get(f"/api/v1/public/cases/{case.number}?code={case.check_code}")
    assert res.status_code == 200
    text = res.get_data(as_text=True)
    assert "13912345678" not in text and "****5678" not in text and "张先生" not in text


@pytest.mark.parametrize(
    ("role", "shown", "reveal"),
    [
        ("operator", "13812345678", False),  # dials callers back: sees the number
        ("shift_supervisor", "138****5678", True),
        ("admin", "138****5678", True),
        ("inspector", "138****5678", False),
        ("leader", "138****5678", False),
    ],
)
def test_the_case_page_masks_numbers_and_offers_the_logged_reveal(
    client: FlaskClient, db_session: Session, world: World, role: str, shown: str, reveal: bool
) -> None:
    """One policy on every page: only operators see numbers in full; roles that may reveal
    one get a button that goes through the logged reveal."""
    case = advance_to(db_session, world, CaseState.IN_PROGRESS)
    user = make_user(db_session, f"hlp-case-{role}", role)
    log_in(client, user)
    html = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert shown in html
    if shown != "13812345678":
        assert "13812345678" not in html
    assert ("reveal-phone" in html) == reveal
    if reveal:
        url = html.split('class="reveal-phone" data-url="', 1)[1].split('"', 1)[0]
        before = len(db_session.scalars(select(PhoneReveal)).all())
        token = html.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        res = client.post(url, json={"reason": "case page"}, headers={"X-CSRFToken": token})
        assert res.json == {"phone": "13812345678"}
        logged = db_session.scalars(select(PhoneReveal)).all()[before:]
        assert [(r.user_id, r.role) for r in logged] == [(user.id, role)]
