"""The inbox: its JSON API (list, mark read), its page, the header badge, and that nobody ever
sees or marks another user's messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import Notification, User
from dispatch.notifications import views
from dispatch.openapi import spec
from tests.conftest import log_in
from tests.factories import api_client, make_user

T0 = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)  # 09:00 in Beijing


def message(
    sess: Session,
    user: User,
    kind: str,
    number: str,
    *,
    minutes: int = 0,
    read: bool = False,
    urgent: bool = False,
    **params: Any,
) -> Notification:
    """An inbox row for ``user`` about case ``number``, ``minutes`` after T0."""
    note = Notification(
        user_id=user.id,
        case_id=None,
        kind=kind,
        params={"case_number": number, **params},
        urgent=urgent,
        dedupe_key=f"test:{user.id}:{kind}:{number}:{minutes}",
        created_at=T0 + timedelta(minutes=minutes),
        read_at=T0 + timedelta(hours=1) if read else None,
    )
    sess.add(note)
    sess.flush()
    return note


@pytest.fixture
def people(db_session: Session) -> dict[str, User]:
    """An officer with three messages (one read), and a supervisor with one of their own."""
    officer = make_user(db_session, "inbox-officer", "grid_officer")
    other = make_user(db_session, "inbox-sup", "shift_supervisor")
    message(db_session, officer, "dispatched", "202611160001", due_at="2026-11-16T07:35:00+00:00")
    message(db_session, officer, "urged", "202611160002", minutes=5, note="请尽快处理", by="王科长")
    message(db_session, officer, "rework", "202611160003", minutes=10, read=True, note="未清理干净")
    message(db_session, other, "red", "202611160009", minutes=1, stage="handle", urgent=True)
    return {"officer": officer, "other": other}


def schema_of(path: str, method: str, status: int = 200) -> jsonschema.Draft202012Validator:
    doc = spec()
    op = doc["paths"][path][method]
    schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})


def csrf_token(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match
    return match.group(1)


# ---------------------------------------------------------------------------- API
def test_the_api_lists_your_messages_newest_first_in_your_language(
    client: FlaskClient, db_session: Session, people: dict[str, User]
) -> None:
    api = api_client(client, db_session, people["officer"])

    body = api.get("/api/v1/notifications?lang=en").get_json()

    schema_of("/api/v1/notifications", "get").validate(body)
    assert body["unread"] == 2
    assert [i["case_number"] for i in body["items"]] == [
        "202611160003",
        "202611160002",
        "202611160001",
    ]
    rework, urged, dispatched = body["items"]
    assert dispatched["title"] == "Case 202611160001 dispatched to you"
    assert dispatched["body"] == "Handle it by 2026-11-16 15:35."  # Beijing time
    assert urged["title"] == "Case 202611160002 urged by 王科长" and urged["body"] == "请尽快处理"
    assert rework["read_at"] is not None and urged["read_at"] is None
    assert "202611160009" not in str(body)  # the supervisor's message is not ours

    zh = api.get("/api/v1/notifications?lang=zh_Hans_CN").get_json()["items"]
    assert zh[2]["title"] == "案件 202611160001 已派遣给您"
    assert zh[2]["body"] == "请于 2026-11-16 15:35 前处置完毕。"
    assert zh[0]["title"] == "案件 202611160003 核查未通过：需返工"


def test_unread_filter_limit_and_paging(
    client: FlaskClient, db_session: Session, people: dict[str, User]
) -> None:
    api = api_client(client, db_session, people["officer"])

    unread = api.get("/api/v1/notifications?unread=1").get_json()
    assert [i["case_number"] for i in unread["items"]] == ["202611160002", "202611160001"]
    count_only = api.get("/api/v1/notifications?limit=0").get_json()
    assert count_only == {"items": [], "unread": 2}
    first = api.get("/api/v1/notifications?limit=1").get_json()["items"]
    assert [i["case_number"] for i in first] == ["202611160003"]
    older = api.get(f"/api/v1/notifications?limit=5&before={first[0]['id']}").get_json()
    assert [i["case_number"] for i in older["items"]] == ["202611160002", "202611160001"]

    for bad in ("limit=x", "limit=-1", "limit=201", "before=0"):
        res = api.get(f"/api/v1/notifications?{bad}")
        assert res.status_code == 400, bad
        schema_of("/api/v1/notifications", "get", 400).validate(res.get_json())


def test_marking_read_touches_only_your_own_messages(
    client: FlaskClient, db_session: Session, people: dict[str, User]
) -> None:
    officer, other = people["officer"], people["other"]
    api = api_client(client, db_session, officer)
    mine = api.get("/api/v1/notifications?unread=1").get_json()["items"]
    theirs = db_session.scalar(select(Notification).where(Notification.user_id == other.id))
    assert theirs is not None

    res = api.post("/api/v1/notifications/read", json={"ids": [mine[0]["id"], theirs.id]})

    assert res.status_code == 200
    schema_of("/api/v1/notifications/read", "post").validate(res.get_json())
    assert res.get_json() == {"marked": 1, "unread": 1}
    db_session.expire_all()
    assert db_session.get(Notification, theirs.id).read_at is None  # someone else's: ignored
    assert db_session.get(Notification, mine[0]["id"]).read_at is not None
    again = api.post("/api/v1/notifications/read", json={"ids": [mine[0]["id"]]})
    assert again.get_json() == {"marked": 0, "unread": 1}  # already read

    everything = api.post("/api/v1/notifications/read", json={"all": True})
    assert everything.get_json() == {"marked": 1, "unread": 0}
    db_session.expire_all()
    assert db_session.get(Notification, theirs.id).read_at is None
    theirs_api = api_client(client, db_session, other)
    assert theirs_api.get("/api/v1/notifications").get_json()["unread"] == 1


@pytest.mark.parametrize(
    "body",
    [{}, {"ids": "1"}, {"ids": [True]}, {"ids": ["1"]}, {"all": "yes"}, [1, 2], {"ids": [1] * 501}],
)
def test_marking_read_needs_ids_or_all(
    client: FlaskClient, db_session: Session, people: dict[str, User], body: Any
) -> None:
    api = api_client(client, db_session, people["officer"])
    res = api.post("/api/v1/notifications/read", json=body)
    assert res.status_code == 400
    schema_of("/api/v1/notifications/read", "post", 400).validate(res.get_json())
    assert api.get("/api/v1/notifications").get_json()["unread"] == 2


def test_the_page_session_needs_its_csrf_token_to_mark_read(
    client: FlaskClient, db_session: Session, people: dict[str, User]
) -> None:
    log_in(client, people["officer"])
    token = csrf_token(client.get("/inbox").get_data(as_text=True))

    refused = client.post("/api/v1/notifications/read", json={"all": True})
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "csrf_failed"
    ok = client.post(
        "/api/v1/notifications/read", json={"all": True}, headers={"X-CSRFToken": token}
    )
    assert ok.status_code == 200 and ok.get_json()["unread"] == 0


def test_anonymous_callers_are_refused(client: FlaskClient, people: dict[str, User]) -> None:
    res = client.get("/api/v1/notifications")
    assert res.status_code == 401
    schema_of("/api/v1/notifications", "get", 401).validate(res.get_json())
    assert client.post("/api/v1/notifications/read", json={"all": True}).status_code == 401
    page = client.get("/inbox")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login?next=")


# ---------------------------------------------------------------------------- page and badge
def test_the_inbox_page_highlights_unread_messages_and_links_to_cases(
    client: FlaskClient, db_session: Session, people: dict[str, User]
) -> None:
    log_in(client, people["officer"])

    html = client.get("/inbox?lang=en").get_data(as_text=True)

    items = re.findall(
        r'<li class="notification ([^"]*)"\s+data-id="(\d+)" data-kind="(\w+)"', html
    )
    assert [(cls.split()[0], kind) for cls, _id, kind in items] == [
        ("read", "rework"),
        ("unread", "urged"),
        ("unread", "dispatched"),
    ]
    assert (
        '<a class="case-link" href="/cases/202611160002">Case 202611160002 urged by 王科长</a>'
        in html
    )
    assert "请尽快处理" in html and "2026-11-16 09:05" in html  # created at, Beijing time
    assert html.count('class="secondary mark-read"') == 2  # read ones need no button
    assert 'id="mark-all-read"' in html and "2 unread" in html
    assert "202611160009" not in html

    zh = client.get("/inbox?lang=zh_Hans_CN").get_data(as_text=True)
    assert "案件 202611160002 被 王科长 督办" in zh and "全部标为已读" in zh and "2 条未读" in zh

    only_unread = client.get("/inbox?unread=1").get_data(as_text=True)
    assert "202611160003" not in only_unread and "202611160001" in only_unread


def test_the_page_buttons_mark_one_or_all_read(
    client: FlaskClient, db_session: Session, people: dict[str, User]
) -> None:
    log_in(client, people["officer"])
    html = client.get("/inbox?lang=en").get_data(as_text=True)
    token = csrf_token(html)
    urged = db_session.scalar(
        select(Notification).where(
            Notification.user_id == people["officer"].id, Notification.kind == "urged"
        )
    )
    theirs = db_session.scalar(
        select(Notification).where(Notification.user_id == people["other"].id)
    )

    assert client.post("/inbox/read", data={"id": str(urged.id)}).status_code == 400  # no token
    res = client.post(
        "/inbox/read", data={"id": [str(urged.id), str(theirs.id)], "csrf_token": token}
    )
    assert res.status_code == 302 and res.headers["Location"] == "/inbox"
    db_session.expire_all()
    assert urged.read_at is not None and theirs.read_at is None
    assert views.inbox_items(db_session, people["officer"].id, unread_only=True)[0].kind == (
        "dispatched"
    )

    res = client.post("/inbox/read", data={"all": "1", "unread": "1", "csrf_token": token})
    assert res.headers["Location"] == "/inbox?unread=1"
    after = client.get("/inbox?unread=1&lang=en").get_data(as_text=True)
    assert 'id="inbox-empty"' in after and "No unread messages." in after
    assert 'id="mark-all-read"' not in after
    db_session.expire_all()
    assert theirs.read_at is None


def badge(html: str) -> re.Match[str] | None:
    return re.search(r'<mark id="inbox-count" title="[^"]*"( hidden)?>(\d+)</mark>', html)


def test_every_page_shows_the_unread_count_in_the_header(
    client: FlaskClient, db_session: Session, people: dict[str, User]
) -> None:
    log_in(client, people["officer"])
    for path in ("/inbox", "/grids/map", "/api/docs"):
        html = client.get(path).get_data(as_text=True)
        found = badge(html)
        assert found and found.group(1) is None and found.group(2) == "2", path
        assert 'id="nav-inbox"' in html and "js/inbox.js" in html
        assert 'data-count-url="/api/v1/notifications?limit=0"' in html

    client.post(
        "/api/v1/notifications/read",
        json={"all": True},
        headers={"X-CSRFToken": csrf_token(html)},
    )
    html = client.get("/grids/map?lang=en").get_data(as_text=True)
    found = badge(html)
    assert found and found.group(1) == " hidden" and found.group(2) == "0"  # nothing to show
    assert ">Inbox <mark" in html


def test_no_badge_for_anonymous_visitors(client: FlaskClient, people: dict[str, User]) -> None:
    html = client.get("/login").get_data(as_text=True)
    assert 'id="nav-inbox"' not in html and "inbox.js" not in html


def test_the_badge_counts_once_per_request(
    app: Flask, db_session: Session, people: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = views.unread_count

    def counting(sess: Session, user_id: int) -> int:
        calls.append(user_id)
        return real(sess, user_id)

    monkeypatch.setattr(views, "unread_count", counting)
    with app.test_request_context("/"):
        from flask_login import login_user

        login_user(people["officer"])
        assert views.inbox_unread() == 2
        assert views.inbox_unread() == 2
    assert calls == [people["officer"].id]
    with app.test_request_context("/"):
        assert views.inbox_unread() is None  # anonymous: not even asked
    assert len(calls) == 1
