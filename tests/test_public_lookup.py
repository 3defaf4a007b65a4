"""The public progress look-up: number + check code → plain-word status, public milestones and
result, never personal data; one 404 for a wrong code or an unknown number; a rate limit shared
by the page and the API."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core.i18n import SHANGHAI
from dispatch.models import Case
from dispatch.openapi import spec
from tests.workflow_helpers import World, act, build_world, new_case

API = "/api/v1/public/cases"
#: What a caller told the hotline and what staff wrote: none of it may reach the public.
CALLER_NAME, CALLER_PHONE = "赵秀英", "13987654321"


def validator(status: int) -> jsonschema.Draft202012Validator:
    doc = spec()
    op = doc["paths"]["/api/v1/public/cases/{number}"]["get"]
    schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator(
        {**schema, "components": doc["components"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def address() -> dict[str, str]:
    """A client address of its own, so rate-limit counters never mix between tests or runs."""
    n = uuid.uuid4().int
    return {"REMOTE_ADDR": f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"}


@pytest.fixture
def world(app: Flask, db_session: Session) -> Iterator[World]:
    # The app context is entered only to build things (requests then get fresh contexts, so
    # each request chooses its own language).
    with app.app_context():
        built = build_world(db_session, prefix="track")
    yield built


def handled_case(app: Flask, db: Session, world: World, **kw: object) -> Case:
    """A case reported by phone, filed, dispatched, fixed, checked and closed, with notes."""
    with app.app_context():
        case = new_case(db, world, name=CALLER_NAME, phone=CALLER_PHONE, **kw)  # type: ignore[arg-type]
        act(db, world, case, "accept_report", note=f"{CALLER_NAME}来电反映")
        act(db, world, case, "file")
        act(db, world, case, "dispatch")
        act(db, world, case, "accept")
        act(db, world, case, "report_done", note="已由环卫工人张三清理")
        act(db, world, case, "check_pass")
        act(db, world, case, "close")
        db.flush()
    return case


def lookup(client: FlaskClient, number: str, code: str, lang: str = "") -> object:
    query = f"?code={code}" + (f"&lang={lang}" if lang else "")
    return client.get(f"{API}/{number}{query}", environ_base=address())


def test_the_right_code_shows_progress_without_personal_data(
    app: Flask, client: FlaskClient, db_session: Session, world: World
) -> None:
    case = handled_case(app, db_session, world)
    res = lookup(client, case.number, case.check_code, "en")
    assert res.status_code == 200, res.get_data(as_text=True)  # type: ignore[attr-defined]
    body = res.get_json()  # type: ignore[attr-defined]
    validator(200).validate(body)
    assert body["number"] == case.number and body["status"] == "closed"
    assert body["is_open"] is False and body["status_text"].startswith("Closed")
    assert [m["milestone"] for m in body["timeline"]] == [
        "received",
        "dispatched",
        "handled",
        "checked",
        "closed",
    ]
    events = {e.action: e.at for e in case.events}
    for milestone, action in zip(
        body["timeline"], ["report", "dispatch", "report_done", "check_pass", "close"], strict=True
    ):
        assert milestone["at"].endswith("+08:00")  # Asia/Shanghai
        assert datetime.fromisoformat(milestone["at"]) == events[action].replace(microsecond=0)
    assert body["result"]["outcome"] == "resolved"
    assert body["category"] == world.category.name
    assert body["office"] and "Grid officer" in body["office"]
    text = res.get_data(as_text=True)  # type: ignore[attr-defined]
    officer_names = {u.display_name for u in world.users.values()}
    for secret in [CALLER_NAME, CALLER_PHONE, "138****", "张三", "来电", case.description]:
        assert secret not in text, secret
    assert not any(name in text for name in officer_names)


def test_chinese_by_default(
    app: Flask, client: FlaskClient, db_session: Session, world: World
) -> None:
    case = handled_case(app, db_session, world)
    body = lookup(client, case.number, case.check_code).get_json()  # type: ignore[attr-defined]
    assert body["status_text"].startswith("已办结")
    assert body["timeline"][0]["label"] == "诉求已受理"
    assert "网格员" in body["office"]


def test_an_open_case_shows_its_phase_and_expected_time(
    app: Flask, client: FlaskClient, db_session: Session, world: World
) -> None:
    with app.app_context():
        case = new_case(db_session, world, name=CALLER_NAME, phone=CALLER_PHONE)
        fresh = lookup(client, case.number, case.check_code.lower()).get_json()  # type: ignore[attr-defined]
        assert fresh["status"] == "received" and fresh["expected_at"] is None
        assert [m["milestone"] for m in fresh["timeline"]] == ["received"]
        for action in ("accept_report", "file", "dispatch", "accept"):
            act(db_session, world, case, action)
        db_session.flush()
    body = lookup(client, case.number, case.check_code).get_json()  # type: ignore[attr-defined]
    validator(200).validate(body)
    assert body["status"] == "handling" and body["is_open"] and body["result"] is None
    handling = next(t for t in case.timers if t.stage == "handle")
    assert datetime.fromisoformat(body["expected_at"]) == handling.due_at.replace(microsecond=0)
    assert datetime.fromisoformat(body["expected_at"]).utcoffset() == SHANGHAI.utcoffset(
        handling.due_at
    )


def test_a_merged_report_follows_the_case_it_was_merged_into(
    app: Flask, client: FlaskClient, db_session: Session, world: World
) -> None:
    with app.app_context():
        kept = new_case(db_session, world)
        duplicate = new_case(db_session, world, phone="13700000000", name="钱先生")
        act(db_session, world, duplicate, "merge", data={"duplicate_of": kept.number})
        for action in ("accept_report", "file", "dispatch", "accept", "report_done"):
            act(db_session, world, kept, action)
        db_session.flush()
    body = lookup(client, duplicate.number, duplicate.check_code).get_json()  # type: ignore[attr-defined]
    validator(200).validate(body)
    assert body["number"] == duplicate.number and body["merged"] is True
    assert body["status"] == "checking" and body["is_open"] is True
    assert [m["milestone"] for m in body["timeline"]] == [
        "received",
        "merged",
        "dispatched",
        "handled",
    ]
    assert kept.number not in str(body)


def test_a_void_report_says_it_was_not_accepted(
    app: Flask, client: FlaskClient, db_session: Session, world: World
) -> None:
    with app.app_context():
        case = new_case(db_session, world)
        act(db_session, world, case, "mark_invalid", note="李四说是误报")
        db_session.flush()
    body = lookup(client, case.number, case.check_code, "en").get_json()  # type: ignore[attr-defined]
    assert body["status"] == "not_accepted" and body["result"]["outcome"] == "not_accepted"
    assert [m["milestone"] for m in body["timeline"]] == ["received", "not_accepted"]
    assert "李四" not in str(body)


def test_wrong_code_and_unknown_number_are_the_same_404(
    app: Flask, client: FlaskClient, db_session: Session, world: World
) -> None:
    with app.app_context():
        case = new_case(db_session, world)
        db_session.flush()
    wrong_code = "A" * 6 if case.check_code != "A" * 6 else "B" * 6
    answers = [
        lookup(client, case.number, wrong_code),
        lookup(client, "20000101099999", case.check_code),
        lookup(client, "not-a-number", case.check_code),
        lookup(client, case.number, case.check_code + "X"),
        lookup(client, case.number, "0O1IL!"),
    ]
    for res in answers:
        assert res.status_code == 404  # type: ignore[attr-defined]
        validator(404).validate(res.get_json())  # type: ignore[attr-defined]
    bodies = {res.get_data() for res in answers}  # type: ignore[attr-defined]
    assert len(bodies) == 1
    missing = client.get(f"{API}/{case.number}", environ_base=address())
    assert missing.status_code == 400 and missing.get_json()["error"]["fields"] == {
        "code": "required"
    }


def test_lookups_are_rate_limited_per_address_page_and_api_together(
    app: Flask,
    client: FlaskClient,
    db_session: Session,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with app.app_context():
        case = new_case(db_session, world)
        db_session.flush()
    monkeypatch.setitem(app.config, "PUBLIC_LOOKUP_RATE_LIMIT", "3 per minute")
    me, other = address(), address()
    url = f"{API}/{case.number}?code={case.check_code}"
    assert client.get(url, environ_base=me).status_code == 200
    assert client.get(url.replace(case.check_code, "ZZZZZZ"), environ_base=me).status_code == 404
    page = client.get("/track", environ_base=me)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert token is not None
    form = {"csrf_token": token.group(1), "number": case.number, "code": case.check_code}
    assert client.post("/track", data=form, environ_base=me).status_code == 200
    refused = client.get(url, environ_base=me)
    assert refused.status_code == 429
    validator(429).validate(refused.get_json())
    assert refused.get_json()["error"]["code"] == "too_many_requests"
    page_refused = client.post("/track", data=form, environ_base=me)
    assert page_refused.status_code == 429 and 'id="track-error"' in page_refused.get_data(
        as_text=True
    )
    # Another address is not affected.
    assert client.get(url, environ_base=other).status_code == 200


def test_the_page_looks_a_case_up(
    app: Flask, client: FlaskClient, db_session: Session, world: World
) -> None:
    case = handled_case(app, db_session, world)
    me = address()
    page = client.get("/track", environ_base=me)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<html lang="zh-Hans">' in html and "办理进度查询" in html
    assert 'name="viewport"' in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token is not None
    form = {"csrf_token": token.group(1), "number": case.number, "code": case.check_code}
    found = client.post("/track", data=form, environ_base=me)
    html = found.get_data(as_text=True)
    assert found.status_code == 200 and 'id="track-result"' in html
    assert 'data-phase="closed"' in html and html.count("data-milestone=") == 5
    assert CALLER_NAME not in html and CALLER_PHONE not in html
    assert found.headers["Cache-Control"] == "no-store"
    wrong = client.post("/track", data={**form, "code": "ZZZZZZ"}, environ_base=me)
    assert wrong.status_code == 404 and 'id="track-error"' in wrong.get_data(as_text=True)
    assert 'id="track-result"' not in wrong.get_data(as_text=True)
    english = client.get("/track?lang=en", environ_base=me).get_data(as_text=True)
    assert '<html lang="en">' in english and "Track your report" in english
