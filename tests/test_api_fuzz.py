"""The whole HTTP API, fuzzed from its OpenAPI description with schemathesis: whatever the input
(valid or not), no server error, every status code documented, every answer in its documented
content type and shape (``{"error": …}`` for the JSON API, GeoReport errors for Open311).

A bounded run belongs to the suite (``FUZZ_EXAMPLES`` examples per operation, 20 by default;
derandomized, so a CI failure reproduces); ``make fuzz`` runs a longer, randomized one. Each
operation runs inside the test's rolled-back transaction, as a city-wide user holding every
role, with a live Open311 key in every POSTed request body, so that the deep paths run too.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from dispatch.auth import issue_token
from dispatch.models.cases import CaseState as S
from dispatch.open311.keys import issue_key
from dispatch.open311.services import NewRequest, submit_request
from dispatch.openapi import spec
from tests.factories import make_user
from tests.workflow_helpers import advance_to, build_world, new_case

#: Examples per operation: a few minutes for the whole API on 2 cores at the default.
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
#: ``make fuzz`` sets FUZZ_RANDOM=1 for fresh inputs on every run.
FUZZ_RANDOM = os.environ.get("FUZZ_RANDOM") == "1"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Every role a person can hold: the fuzzer reaches every branch a role opens.
ALL_ROLES = (
    "operator",
    "inspector",
    "shift_supervisor",
    "dispatcher",
    "grid_officer",
    "department_staff",
    "leader",
    "admin",
)

import hotline.openapi  # noqa: E402, F401  (registers the 12345 desk's operations)

schema = schemathesis.openapi.from_dict(spec())


@dataclass
class Targets:
    """Real things for generated requests to hit (random ids find nothing past the 404)."""

    token: str
    open311_key: str
    service_code: str
    cases: list[tuple[str, str]]  # (number, check code)
    token_of_request: str
    point: tuple[float, float]  # (lat, long) inside a grid


@pytest.fixture
def targets(app: Flask, db_session: Session, monkeypatch: pytest.MonkeyPatch) -> Targets:
    """A bearer token for a city-wide holder of every role (also grid A's officer), an Open311
    key, and cases in several states; rate limits raised so the fuzzer is not throttled (a
    limit's own answer is tested elsewhere)."""
    with app.app_context():
        world = build_world(db_session, prefix="fuzz")
        user = make_user(
            db_session, "fuzz-everything", *ALL_ROLES, officer_id=world.grid.officer_id
        )
        token = issue_token(db_session, user, "fuzz")
        client, key = issue_key(db_session, "fuzz-open311-client")
        cases = [
            advance_to(db_session, world, state) for state in (S.REPORTED, S.IN_PROGRESS, S.CLOSED)
        ]
        cases.append(new_case(db_session, world, placed=False))
        filed, row, _created = submit_request(
            db_session,
            client,
            NewRequest(world.category.full_code, lat=world.grid.lat, long=world.grid.lng),
        )
        cases.append(filed)
        db_session.commit()
    monkeypatch.setitem(app.config, "PUBLIC_LOOKUP_RATE_LIMIT", "100000 per minute")
    monkeypatch.setitem(app.config, "OPEN311_POST_RATE_LIMIT", "100000 per minute")
    return Targets(
        token=token,
        open311_key=key,
        service_code=world.category.full_code,
        cases=[(c.number, c.check_code) for c in cases],
        token_of_request=row.token,
        point=(world.grid.lat, world.grid.lng),
    )


def _pick(seed: object, choices: list[Any]) -> Any | None:
    """Half the time (decided by the generated value, so runs reproduce), one of ``choices``."""
    digest = zlib.crc32(repr(seed).encode())
    return choices[(digest >> 1) % len(choices)] if digest % 2 == 0 else None


def aim(case: Any, targets: Targets) -> None:
    """Point some generated requests at real cases, codes and services; give Open311 POSTs the
    live key (a missing or bad key is a plain 403 otherwise)."""
    params = case.path_parameters or {}
    for name in ("number", "service_request_id"):
        if name in params:
            chosen = _pick(params[name], targets.cases)
            if chosen is not None:
                params[name] = chosen[0]
                if case.path.startswith("/api/v1/public/") and isinstance(case.query, dict):
                    case.query = {**case.query, "code": chosen[1]}
    if "service_code" in params and _pick(params["service_code"], [1]) is not None:
        params["service_code"] = targets.service_code
    if "token" in params and _pick(params["token"], [1]) is not None:
        params["token"] = targets.token_of_request
    if case.method == "POST" and case.path.startswith("/open311/") and isinstance(case.body, dict):
        body = {**case.body, "api_key": targets.open311_key}
        if _pick(case.body, [1]) is not None:
            # A request that can succeed: a real service, a point in a grid, the rest as made.
            body["service_code"] = targets.service_code
            body["lat"], body["long"] = targets.point
            body.pop("email", None)
            body.pop("media_url", None)
            if case.headers:
                case.headers.pop("Idempotency-Key", None)
        case.body = body


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=not FUZZ_RANDOM,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_every_input_as_documented(case: Any, app: Flask, targets: Targets) -> None:
    aim(case, targets)
    case.call_and_validate(
        app=app, headers={"Authorization": f"Bearer {targets.token}"}, checks=CHECKS
    )
