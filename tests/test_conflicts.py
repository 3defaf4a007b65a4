"""Concurrent requests through the HTTP API, on whichever database the suite runs on.

Eight people take the same action on one case at the same moment: exactly one wins, the others
get a clean 409 and nothing is half-applied; eight retries of one submission make one case.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import delete, func, select

from core.db import database
from dispatch.auth import issue_token
from dispatch.models import ApiToken, Case, CaseCaller, CaseEvent, RoleGrant, User
from grids import services
from tests.factories import ApiClient, make_user

THREADS = 8


@pytest.fixture
def committed(app: Flask) -> Iterator[dict]:
    """A committed user and point (threads use their own connections); removed afterwards."""
    with database(app).new_session() as sess:
        user = make_user(sess, "conflict-tester", "operator", "shift_supervisor")
        token = issue_token(sess, user, "conflicts")
        grid = services.leaf_grids(sess, services.active_set(sess).id)[3]
        pt = grid.geom.representative_point()
        sess.commit()
        user_id = user.id
    yield {"token": token, "lng": pt.x, "lat": pt.y}
    with database(app).new_session() as sess:
        ids = select(Case.id).where(Case.reporter_user_id == user_id)
        sess.execute(delete(CaseEvent).where(CaseEvent.case_id.in_(ids)))
        sess.execute(delete(CaseCaller).where(CaseCaller.case_id.in_(ids)))
        sess.execute(delete(Case).where(Case.reporter_user_id == user_id))
        sess.execute(delete(ApiToken).where(ApiToken.user_id == user_id))
        sess.execute(delete(RoleGrant).where(RoleGrant.user_id == user_id))
        sess.execute(delete(User).where(User.id == user_id))
        sess.commit()


def _all_at_once(fn) -> list:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(THREADS)
    results: list = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        out = fn()
        with lock:
            results.append(out)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_one_action_wins_the_others_conflict(app: Flask, committed: dict) -> None:
    client = ApiClient(app.test_client(), committed["token"])
    created = client.post(
        "/api/v1/cases",
        json={"description": "并发测试", "lng": committed["lng"], "lat": committed["lat"]},
    )
    number = created.json["number"]

    def act() -> int:
        own = ApiClient(app.test_client(), committed["token"])
        return own.post(f"/api/v1/cases/{number}/actions/accept_report", json={}).status_code

    statuses = sorted(_all_at_once(act))
    assert statuses == [200] + [409] * (THREADS - 1)
    detail = client.get(f"/api/v1/cases/{number}").json
    assert detail["state"] == "to_file" and detail["version"] == 2
    assert [e["action"] for e in detail["events"]] == ["report", "accept_report"]


def test_retries_of_one_submission_make_one_case(app: Flask, committed: dict) -> None:
    def post() -> tuple[int, str]:
        own = ApiClient(app.test_client(), committed["token"])
        res = own.post(
            "/api/v1/cases",
            json={"description": "重复提交", "lng": committed["lng"], "lat": committed["lat"]},
            headers={"Idempotency-Key": "conflict-test-same-key"},
        )
        return res.status_code, res.json["number"]

    results = _all_at_once(post)
    assert sorted(s for s, _ in results) == [200] * (THREADS - 1) + [201]
    assert len({n for _, n in results}) == 1
    with database(app).new_session() as sess:
        count = sess.scalar(
            select(func.count()).where(Case.idempotency_key == "conflict-test-same-key")
        )
    assert count == 1
