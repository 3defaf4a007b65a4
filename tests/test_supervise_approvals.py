"""Approvals waiting for me: which pending requests each role may decide, in scope, with the
request's age and the case's stage clock; deciding through the action API empties the queue."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from dispatch.models import Case, User
from dispatch.supervise.queries import decidable_kinds, pending_approvals
from tests.conftest import log_in
from tests.factories import make_user
from tests.supervise_support import NOW, Plan, at, district_supervisor, make_case
from tests.workflow_helpers import World, act, build_world


@pytest.fixture
def world(app: Flask, db_session: Session) -> Iterator[World]:
    with app.app_context():
        yield build_world(db_session, prefix="appr")


@pytest.fixture
def requests(db_session: Session, world: World) -> dict[str, Case]:
    """Cases handled since 03-05 10:30 with a request made at 11:00 (one decided already)."""
    plans = {
        "return": Plan(day="2026-03-05"),
        "extension": Plan(day="2026-03-05"),
        "suspend": Plan(day="2026-03-05"),
        "far_extension": Plan(grid="far", day="2026-03-05"),
        "decided": Plan(day="2026-03-05"),
    }
    made = {}
    for name, plan in plans.items():
        case = make_case(db_session, world, plan)
        kind = "extension" if name in ("far_extension", "decided") else name
        who = "other_officer" if plan.grid == "far" else "officer"
        act(db_session, world, case, f"request_{kind}", who, now=at("2026-03-05 11:00"))
        made[name] = case
    act(db_session, world, made["decided"], "approve_extension", now=at("2026-03-05 11:30"))
    return made


def queue(session: Session, user: User, cases: dict[str, Case]) -> set[str]:
    by_id = {c.id: name for name, c in cases.items()}
    return {by_id[i.case.id] for i in pending_approvals(session, user, now=NOW)}


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        (("shift_supervisor",), {"return", "extension", "far_extension"}),
        (("leader",), {"extension", "suspend", "far_extension"}),
        (("shift_supervisor", "leader"), {"return", "extension", "suspend", "far_extension"}),
        (("operator",), set()),
        (("dispatcher",), set()),
        (("grid_officer",), set()),
    ],
)
def test_each_role_sees_the_requests_it_may_decide(
    db_session: Session,
    world: World,
    requests: dict[str, Case],
    roles: tuple[str, ...],
    expected: set[str],
) -> None:
    user = make_user(db_session, "queue-" + "-".join(roles), *roles)
    assert queue(db_session, user, requests) == expected


def test_decidable_kinds_follow_the_transition_table(db_session: Session) -> None:
    assert decidable_kinds(make_user(db_session, "k-sup", "shift_supervisor")) == [
        "return",
        "extension",
    ]
    assert decidable_kinds(make_user(db_session, "k-lead", "leader")) == ["extension", "suspend"]
    assert decidable_kinds(make_user(db_session, "k-op", "operator")) == []


def test_a_district_supervisor_sees_only_their_district(
    db_session: Session, world: World, requests: dict[str, Case]
) -> None:
    user = district_supervisor(db_session, world)
    assert queue(db_session, user, requests) == {"return", "extension"}


def test_a_role_decides_only_within_its_own_grant(
    db_session: Session, world: World, requests: dict[str, Case]
) -> None:
    """City-wide as an operator, but a shift supervisor of one district only: the far
    district's extension is visible to them, yet not theirs to decide."""
    user = district_supervisor(db_session, world, "sup-and-op")
    from dispatch.models import RoleGrant

    user.grants.append(RoleGrant(role="operator", scope_kind="city", scope_code=""))
    db_session.flush()
    assert queue(db_session, user, requests) == {"return", "extension"}


def test_items_carry_age_requester_and_the_stopped_clock(
    app: Flask, db_session: Session, world: World, requests: dict[str, Case]
) -> None:
    with app.test_request_context("/?lang=en"):
        items = pending_approvals(db_session, world.users["shift_supervisor"], now=NOW)
        by_kind = {i.request.kind: i for i in items if i.case.id != requests["far_extension"].id}
        ext = by_kind["extension"]
        assert ext.age == "5 h 00 min"  # asked 11:00, read 16:00
        assert ext.requested_by == world.users["officer"].display_name
        assert ext.kind_label == "Extension" and ext.approve == "approve_extension"
        assert ext.reject == "reject_extension"
        assert ext.clock_stage == "Handling"
        assert ext.clock_text == "Paused (extension request waiting)"
        assert ext.request.requested_due_at is not None
        ret = by_kind["return"]
        assert (ret.approve, ret.reject) == ("approve_return", "reject_return")
        # Oldest first: all asked at 11:00, so in the order they were made.
        assert [i.request.id for i in items] == sorted(i.request.id for i in items)


def test_approving_through_the_action_api_empties_the_queue(
    client: FlaskClient, db_session: Session, world: World, requests: dict[str, Case]
) -> None:
    leader = world.users["leader"]
    log_in(client, leader)
    html = client.get("/supervise/approvals").get_data(as_text=True)
    case = requests["extension"]
    assert f'data-number="{case.number}"' in html
    assert 'data-approve="approve_extension"' in html and 'data-approve="approve_suspend"' in html
    assert 'data-approve="approve_return"' not in html  # leaders do not decide returns
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert token
    res = client.post(
        f"/api/v1/cases/{case.number}/actions/approve_extension",
        json={"note": "同意延期", "data": {}, "version": case.version},
        headers={"X-CSRFToken": token.group(1)},
    )
    assert res.status_code == 200, res.json
    after = client.get("/supervise/approvals").get_data(as_text=True)
    assert f'data-number="{case.number}"' not in after
    assert f'data-number="{requests["suspend"].number}"' in after


def test_the_page_is_not_for_operators(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    log_in(client, world.users["operator"])
    assert client.get("/supervise/approvals").status_code == 403


def test_an_empty_queue_says_so(client: FlaskClient, db_session: Session, world: World) -> None:
    log_in(client, world.users["shift_supervisor"])
    html = client.get("/supervise/approvals?lang=en").get_data(as_text=True)
    assert "No request waits for your decision." in html
    assert 'id="approvals-table" hidden' in html
