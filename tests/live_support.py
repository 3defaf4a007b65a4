"""Committed data for tests that drive a running server (Open311 clients, the /track page).

A server thread cannot see a test's uncommitted transaction, so these tests commit what they
need on an app of their own and delete it afterwards (and put the day's case counter back).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask
from sqlalchemy import select

from core.db import database
from core.i18n import SHANGHAI
from dispatch.models import (
    Case,
    CaseCounter,
    Category,
    FilingCondition,
    Open311Client,
    Open311Request,
    User,
)
from dispatch.open311.keys import issue_key
from tests.factories import make_user
from tests.workflow_helpers import pick_grids


@dataclass
class LiveWorld:
    """What the committed set-up offers a live test."""

    service_code: str
    service_name: str
    condition_id: int
    key: str
    client_id: int
    lng: float
    lat: float
    #: Users created for the test (username -> role), deleted afterwards.
    usernames: dict[str, str] = field(default_factory=dict)
    #: Cases made directly (not through Open311), deleted afterwards.
    case_ids: list[int] = field(default_factory=list)


@contextmanager
def committed_world(app: Flask, **roles: str) -> Iterator[LiveWorld]:
    """A seeded category with a filing condition, an Open311 key, users named in ``roles``
    (username=role), all committed; everything made meanwhile is removed afterwards."""
    tag = uuid.uuid4().hex[:8]
    day = datetime.now(SHANGHAI).strftime("%Y%m%d")
    with app.app_context(), database(app).new_session() as sess:
        counter = sess.get(CaseCounter, day)
        counter_before = counter.last if counter else None
        category, condition = sess.execute(
            select(Category, FilingCondition)
            .join(FilingCondition, FilingCondition.category_id == Category.id)
            .where(
                Category.kind == "matter",
                Category.is_active.is_(True),
                FilingCondition.is_active.is_(True),
            )
            .order_by(Category.code, FilingCondition.id)
            .limit(1)
        ).one()
        client, key = issue_key(sess, f"live-client-{tag}", "tests")
        grid, _near, _far = pick_grids(sess)
        for username, role in roles.items():
            make_user(sess, username, role)
        sess.commit()
        world = LiveWorld(
            service_code=category.full_code,
            service_name=category.name,
            condition_id=condition.id,
            key=key,
            client_id=client.id,
            lng=grid.lng,
            lat=grid.lat,
            usernames=dict(roles),
        )
    try:
        yield world
    finally:
        with database(app).new_session() as sess:
            filed = sess.scalars(
                select(Open311Request.case_id).where(Open311Request.client_id == world.client_id)
            ).all()
            for case_id in {*filed, *world.case_ids}:
                case = sess.get(Case, case_id)
                if case is not None:
                    sess.delete(case)
            sess.flush()
            client_row = sess.get(Open311Client, world.client_id)
            if client_row is not None:
                sess.delete(client_row)
            for username in world.usernames:
                user = sess.scalar(select(User).where(User.username == username))
                if user is not None:
                    sess.delete(user)
            counter = sess.get(CaseCounter, day)
            if counter is not None and counter_before is None:
                sess.delete(counter)
            elif counter is not None and counter_before is not None:
                counter.last = counter_before
            sess.commit()
