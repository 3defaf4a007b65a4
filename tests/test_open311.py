"""Open311 GeoReport v2: every resource in JSON and XML against schemas written from the spec,
POSTs exactly as the spec shows them, the mapping of cases to requests (status, agency, due
time, never personal data), keys (CLI and admin page), rate limit and errors."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.i18n import SHANGHAI
from dispatch.models import Case, CaseTimer, Department, Open311Client, Open311Request
from dispatch.models.cases import Placement
from dispatch.models.sla import Stage
from dispatch.open311.keys import issue_key
from tests import open311_schemas as schemas
from tests.conftest import log_in
from tests.factories import make_user
from tests.workflow_helpers import World, act, build_world, new_case

FORM = "application/x-www-form-urlencoded; charset=utf-8"
#: Wrapper elements of the spec's XML, and the name of their items (the Spark convention).
XML_LISTS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


# ---------------------------------------------------------------------------- helpers
def spark(element: ET.Element) -> Any:
    """The Spark-convention reading of an XML element (leaves as text, empty as None)."""
    if element.tag in XML_LISTS:
        assert all(child.tag == XML_LISTS[element.tag] for child in element)
        return [spark(child) for child in element]
    if len(element):
        return {child.tag: spark(child) for child in element}
    return element.text


def as_xml_text(value: Any) -> Any:
    """What a JSON value reads like in the spec's XML."""
    if isinstance(value, dict):
        return {k: as_xml_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_xml_text(v) for v in value]
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def get_both(client: FlaskClient, path: str, **kw: Any) -> tuple[Any, Any, Any]:
    """GET ``path.json`` and ``path.xml``; returns (json response, json body, xml root)."""
    as_json = client.get(f"{path}.json", **kw)
    as_xml = client.get(f"{path}.xml", **kw)
    assert as_json.status_code == as_xml.status_code
    assert as_json.content_type == "application/json; charset=utf-8"
    assert as_xml.content_type == "text/xml; charset=utf-8"
    assert as_xml.data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(as_xml.data)
    body = as_json.get_json()
    # The XML carries exactly the JSON's data.
    assert spark(root) == as_xml_text(body)
    return as_json, body, root


def post(
    client: FlaskClient, fmt: str = "json", headers: dict[str, str] | None = None, **data: Any
):  # type: ignore[no-untyped-def]
    return client.post(f"/open311/v2/requests.{fmt}", data=data, headers=headers or {})


@pytest.fixture
def world(app: Flask, db_session: Session) -> Iterator[World]:
    with app.app_context():
        yield build_world(db_session, prefix="o311")


@pytest.fixture
def key(db_session: Session) -> str:
    """A live Open311 API key (its client lives in the test's transaction)."""
    _client, api_key = issue_key(db_session, f"test-client-{uuid.uuid4().hex[:8]}", "QA")
    db_session.commit()
    return api_key


def service_code(world: World) -> str:
    return world.category.full_code


def a_request(world: World, key: str, **extra: Any) -> dict[str, Any]:
    data = {
        "api_key": key,
        "service_code": service_code(world),
        "lat": str(world.grid.lat),
        "long": str(world.grid.lng),
        "description": "人行道上有一堆暴露垃圾",
    }
    data.update(extra)
    return data


def case_of(db: Session, number: str) -> Case:
    db.expire_all()
    case = db.scalar(select(Case).where(Case.number == number))
    assert case is not None
    return case


# ---------------------------------------------------------------------------- discovery, services
def test_discovery_in_json_and_xml(client: FlaskClient) -> None:
    for prefix in ("/open311/discovery", "/open311/v2/discovery"):
        res, body, root = get_both(client, prefix)
        assert res.status_code == 200 and root.tag == "discovery"
        schemas.validate(body, schemas.DISCOVERY)
        endpoint = body["endpoints"][0]
        assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
        assert endpoint["url"].endswith("/open311/v2")
        assert set(endpoint["formats"]) == {"text/xml", "application/json"}


def test_services_are_the_active_categories(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    res, body, root = get_both(client, "/open311/v2/services")
    assert res.status_code == 200 and root.tag == "services"
    schemas.validate(body, schemas.SERVICES)
    codes = [s["service_code"] for s in body]
    assert len(codes) == len(set(codes)) and len(codes) >= 400  # the national directory
    ours = next(s for s in body if s["service_code"] == service_code(world))
    assert ours["service_name"] == world.category.name
    assert ours["group"] == world.category.major_name
    assert ours["type"] == "realtime" and ours["metadata"] is True
    # Both kinds are there, kind-qualified (a component and a matter may share digits).
    assert any(c.startswith("C") for c in codes) and any(c.startswith("M") for c in codes)
    keyworded = next(s for s in body if s["keywords"])
    assert " " not in keyworded["keywords"].replace(", ", ",")


def test_service_definition_offers_the_filing_conditions(client: FlaskClient, world: World) -> None:
    res, body, root = get_both(client, f"/open311/v2/services/{service_code(world)}")
    assert res.status_code == 200 and root.tag == "service_definition"
    schemas.validate(body, schemas.SERVICE_DEFINITION)
    assert body["service_code"] == service_code(world)
    (attribute,) = body["attributes"]
    assert attribute["datatype"] == "singlevaluelist" and attribute["required"] is False
    keys = {v["key"]: v["name"] for v in attribute["values"]}
    assert keys[str(world.condition.id)] == world.condition.text


@pytest.mark.parametrize("code", ["M99999", "X06001", "06001", "M", "M06001x"])
def test_unknown_service_is_a_404_in_the_spec_error_shape(client: FlaskClient, code: str) -> None:
    res, body, root = get_both(client, f"/open311/v2/services/{code}")
    assert res.status_code == 404 and root.tag == "errors"
    schemas.validate(body, schemas.ERRORS)
    assert body[0]["code"] == 404


# ---------------------------------------------------------------------------- POST requests
def test_post_exactly_as_the_spec_shows_it(
    client: FlaskClient, db_session: Session, world: World, key: str
) -> None:
    """The spec's example body, form-encoded by hand, with our service and a point in grid A."""
    body = (
        f"api_key={quote(key)}&jurisdiction_id=city.gov&service_code={service_code(world)}"
        f"&lat={world.grid.lat}&long={world.grid.lng}&address_string=1234+5th+street"
        "&email=smit333%40sfgov.edu&device_id=tt222111&account_id=123456&first_name=john"
        "&last_name=smith&phone=111111111&description=A+large+sinkhole+is+destroying+the+street"
        "&media_url=http%3A%2F%2Ffarm3.static.flickr.com%2F2002%2F2212426634_5ed477a060.jpg"
        f"&attribute[filing_condition]={world.condition.id}"
    )
    res = client.post("/open311/v2/requests.json", data=body, content_type=FORM)
    assert res.status_code == 201, res.get_data(as_text=True)
    schemas.validate(res.get_json(), schemas.POST_RESPONSE)
    (answer,) = res.get_json()
    case = case_of(db_session, answer["service_request_id"])
    assert res.headers["Location"].endswith(f"/open311/v2/requests/{case.number}.json")
    # The notice gives the reporter the check code that opens the public look-up.
    assert case.check_code in answer["service_notice"] and "/track" in answer["service_notice"]
    # A case like any other: source api, classified, placed, the reporter as its caller.
    assert case.source == "api" and case.state == "reported"
    assert case.category_id == world.category.id
    assert case.filing_condition_id == world.condition.id
    assert case.grid_code == world.grid.code and case.placement == Placement.INSIDE
    assert case.address == "1234 5th street"
    assert case.description == "A large sinkhole is destroying the street"
    assert (case.reporter_name, case.reporter_phone) == ("john smith", "111111111")
    assert [(c.name, c.phone) for c in case.callers] == [("john smith", "111111111")]
    assert case.attachments[0]["url"].startswith("http://farm3.static.flickr.com/")
    row = db_session.scalar(select(Open311Request).where(Open311Request.case_id == case.id))
    assert row is not None and row.email == "smit333@sfgov.edu" and row.token == answer["token"]
    assert row.attributes == {"filing_condition": [str(world.condition.id)]}
    first = case.events[0]
    assert first.actor_role == "system" and first.actor_user_id is None
    assert first.data["open311_client_id"] == row.client_id


def test_post_answers_in_xml_too(client: FlaskClient, world: World, key: str) -> None:
    res = post(client, "xml", **a_request(world, key))
    assert res.status_code == 201 and res.content_type == "text/xml; charset=utf-8"
    root = ET.fromstring(res.data)
    assert root.tag == "service_requests"
    (request,) = root
    assert request.tag == "request"
    assert request.findtext("service_request_id")
    account = request.find("account_id")
    assert account is not None and account.text is None and len(account) == 0  # <account_id />


def test_address_only_request_is_kept_and_waits_for_placement(
    client: FlaskClient, db_session: Session, world: World, key: str
) -> None:
    data = a_request(world, key, address_string="蒸湘区解放路与船山路交叉口")
    del data["lat"], data["long"]
    res = post(client, **data)
    assert res.status_code == 201
    case = case_of(db_session, res.get_json()[0]["service_request_id"])
    assert case.placement == Placement.PENDING and case.grid_id is None and case.location is None
    assert case.address == "蒸湘区解放路与船山路交叉口"
    # Published without a point, and waiting in the placement queue like any unplaced report.
    view = client.get(f"/open311/v2/requests/{case.number}.json").get_json()[0]
    assert (view["lat"], view["long"], view["address"]) == (None, None, case.address)
    operator = make_user(db_session, "o311-placer", "operator")
    log_in(client, operator)
    queue = client.get("/api/v1/placement-queue").get_json()["cases"]
    assert case.number in [c["number"] for c in queue]


def test_a_point_outside_every_grid_is_kept_unplaced(
    client: FlaskClient, db_session: Session, world: World, key: str
) -> None:
    res = post(client, **a_request(world, key, lat="26.0", long="110.0"))
    assert res.status_code == 201
    case = case_of(db_session, res.get_json()[0]["service_request_id"])
    assert case.placement == Placement.PENDING and case.location is not None


def test_empty_optional_arguments_are_as_if_not_sent(
    client: FlaskClient, db_session: Session, world: World, key: str
) -> None:
    """The spec: an optional argument sent empty is treated as one not sent at all."""
    data = a_request(
        world, key, **{"attribute[filing_condition]": "", "email": "", "media_url": ""}
    )
    res = post(client, **data, jurisdiction_id="", address_id="")
    assert res.status_code == 201, res.get_data(as_text=True)
    case = case_of(db_session, res.get_json()[0]["service_request_id"])
    assert case.filing_condition_id is None and case.attachments == []


def test_idempotency_key_makes_retries_return_the_first_request(
    client: FlaskClient, db_session: Session, world: World, key: str
) -> None:
    headers = {"Idempotency-Key": "o311-retry-0001"}
    first = post(client, headers=headers, **a_request(world, key))
    again = post(client, headers=headers, **a_request(world, key, description="重复提交"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json() == again.get_json()
    number = first.get_json()[0]["service_request_id"]
    count = db_session.scalar(select(func.count()).select_from(Case).where(Case.number == number))
    assert count == 1 and case_of(db_session, number).description == "人行道上有一堆暴露垃圾"
    # Keys are per client: another client's identical key files its own request.
    _other, other_key = issue_key(db_session, "o311-other-client")
    db_session.commit()
    theirs = post(client, headers=headers, **a_request(world, other_key))
    assert theirs.status_code == 201
    assert theirs.get_json()[0]["service_request_id"] != number


@pytest.mark.parametrize(
    ("change", "status", "fragment"),
    [
        ({"api_key": None}, 403, "api_key"),
        ({"api_key": "o311_not-a-real-key"}, 403, "api_key"),
        ({"service_code": None}, 400, "service_code"),
        ({"service_code": "M99999"}, 404, "service_code"),
        ({"lat": None, "long": None}, 400, "location"),
        ({"long": None}, 400, "lat and long"),
        ({"lat": "north"}, 400, "lat"),
        ({"lat": "95"}, 400, "range"),
        ({"lat": "nan"}, 400, "lat"),
        ({"attribute[filing_condition]": "999999"}, 400, "filing_condition"),
        ({"attribute[colour]": "red"}, 400, "colour"),
        ({"attribute[bad": "x"}, 400, "attribute"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
        ({"description": "x" * 4001}, 400, "description"),
        ({"email": "not-an-address"}, 400, "email"),
        ({"description": "nul\x00byte"}, 400, "NUL"),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_bad_posts_get_spec_errors(
    client: FlaskClient,
    db_session: Session,
    world: World,
    key: str,
    change: dict[str, Any],
    status: int,
    fragment: str,
    fmt: str,
) -> None:
    data = a_request(world, key)
    for name, value in change.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    before = db_session.scalar(select(func.count()).select_from(Case))
    res = post(client, fmt, **data)
    assert res.status_code == status
    if fmt == "json":
        body = res.get_json()
        schemas.validate(body, schemas.ERRORS)
        assert body[0]["code"] == status and fragment in body[0]["description"]
    else:
        root = ET.fromstring(res.data)
        assert root.tag == "errors" and root[0].tag == "error"
        assert root[0].findtext("code") == str(status)
        assert fragment in (root[0].findtext("description") or "")
    assert db_session.scalar(select(func.count()).select_from(Case)) == before


def test_a_revoked_key_is_refused(
    client: FlaskClient, db_session: Session, world: World, key: str, runner
) -> None:  # type: ignore[no-untyped-def]
    client_row = db_session.scalar(select(Open311Client).order_by(Open311Client.id.desc()))
    assert client_row is not None
    result = runner.invoke(args=["open311", "key", "revoke", str(client_row.id)])
    assert result.exit_code == 0, result.output
    res = post(client, **a_request(world, key))
    assert res.status_code == 403 and "revoked" in res.get_json()[0]["description"]


# ---------------------------------------------------------------------------- GET requests
def test_requests_never_show_personal_data(
    client: FlaskClient, db_session: Session, world: World, key: str
) -> None:
    personal = {
        "email": "wang.fang@example.cn",
        "first_name": "芳",
        "last_name": "王",
        "phone": "13912345678",
    }
    res = post(client, **a_request(world, key, **personal))
    number = res.get_json()[0]["service_request_id"]
    # A hotline case in the same grid, with a caller and a description an operator typed.
    hotline = new_case(
        db_session, world, name="李建国", phone="13800001111", description="李建国来电"
    )
    act(db_session, world, hotline, "accept_report")
    act(db_session, world, hotline, "file")
    db_session.commit()
    for path in (
        f"/open311/v2/requests/{number}",
        f"/open311/v2/requests/{hotline.number}",
        "/open311/v2/requests",
    ):
        json_res, body, _root = get_both(client, path)
        schemas.validate(body, schemas.REQUESTS)
        text = json_res.get_data(as_text=True) + client.get(f"{path}.xml").get_data(as_text=True)
        for secret in [*personal.values(), "李建国", "13800001111", "138****1111"]:
            assert secret not in text, secret
    (view,) = client.get(f"/open311/v2/requests/{hotline.number}.json").get_json()
    assert view["description"] is None  # typed by an operator: not published


def test_request_view_maps_the_case(
    client: FlaskClient, db_session: Session, world: World, key: str
) -> None:
    number = post(client, **a_request(world, key)).get_json()[0]["service_request_id"]
    case = case_of(db_session, number)
    (view,) = client.get(f"/open311/v2/requests/{number}.json").get_json()
    assert view["service_request_id"] == number and isinstance(view["service_request_id"], str)
    assert view["status"] == "open" and view["service_code"] == service_code(world)
    assert view["service_name"] == world.category.name
    assert view["description"] == "人行道上有一堆暴露垃圾"
    assert view["agency_responsible"] is None  # nobody owns it yet
    assert view["expected_datetime"] is None  # no stage clock runs before filing
    assert view["requested_datetime"].endswith("+08:00")
    assert datetime.fromisoformat(view["requested_datetime"]) == case.created_at.replace(
        microsecond=0
    )
    assert view["lat"] == pytest.approx(world.grid.lat) and view["long"] == pytest.approx(
        world.grid.lng
    )

    # Filed and dispatched to the grid's officer: the owner and the handling deadline show.
    act(db_session, world, case, "accept_report")
    act(db_session, world, case, "file")
    act(db_session, world, case, "dispatch")
    act(db_session, world, case, "accept")
    db_session.commit()
    handling = db_session.scalar(
        select(CaseTimer).where(CaseTimer.case_id == case.id, CaseTimer.stage == Stage.HANDLE)
    )
    assert handling is not None
    (view,) = client.get(f"/open311/v2/requests/{number}.json").get_json()
    assert view["status"] == "open"
    assert view["expected_datetime"] == handling.due_at.astimezone(SHANGHAI).isoformat(
        timespec="seconds"
    )
    assert view["agency_responsible"] is not None and "网格员" in view["agency_responsible"]
    assert view["status_notes"] and view["updated_datetime"].endswith("+08:00")


def test_dispatched_to_a_department_shows_its_name(
    client: FlaskClient, db_session: Session, world: World, key: str
) -> None:
    number = post(client, **a_request(world, key)).get_json()[0]["service_request_id"]
    case = case_of(db_session, number)
    act(db_session, world, case, "accept_report")
    act(db_session, world, case, "file")
    db_session.flush()  # a commit would let the system dispatch it to the grid officer

    def clock(stage: Stage) -> datetime:
        found = db_session.scalar(
            select(CaseTimer).where(CaseTimer.case_id == case.id, CaseTimer.stage == stage)
        )
        assert found is not None
        return found.due_at.replace(microsecond=0)

    # Filed, not dispatched: no handling clock yet, the earliest open clock (dispatch) counts.
    (view,) = client.get(f"/open311/v2/requests/{number}.json").get_json()
    assert datetime.fromisoformat(view["expected_datetime"]) == clock(Stage.DISPATCH)
    act(
        db_session,
        world,
        case,
        "dispatch",
        data={"department_id": world.department.id, "reason": "归环卫处管"},
    )
    db_session.commit()
    (view,) = client.get(f"/open311/v2/requests/{number}.json").get_json()
    dept = db_session.get(Department, world.department.id)
    assert dept is not None and view["agency_responsible"] == dept.name
    # Waiting for acceptance, the handling clock already runs: its deadline is the expected time.
    assert datetime.fromisoformat(view["expected_datetime"]) == clock(Stage.HANDLE)
    assert clock(Stage.ACCEPT) < clock(Stage.HANDLE)


def test_closed_void_and_merged_requests(
    client: FlaskClient, db_session: Session, world: World, key: str
) -> None:
    numbers = [
        post(client, **a_request(world, key)).get_json()[0]["service_request_id"] for _ in range(4)
    ]
    closed, void, duplicate, kept = (case_of(db_session, n) for n in numbers)
    for action in ("accept_report", "file", "dispatch", "accept", "report_done", "check_pass"):
        act(db_session, world, closed, action)
    act(db_session, world, closed, "close")
    act(db_session, world, void, "mark_invalid")
    act(db_session, world, duplicate, "merge", data={"duplicate_of": kept.number})
    db_session.commit()
    res = client.get(f"/open311/v2/requests.json?service_request_id={','.join(numbers)}")
    views = {v["service_request_id"]: v for v in res.get_json()}
    assert views[closed.number]["status"] == "closed"
    assert views[closed.number]["expected_datetime"] is None
    closed_at = case_of(db_session, closed.number).closed_at
    assert closed_at is not None
    assert datetime.fromisoformat(views[closed.number]["updated_datetime"]) == closed_at.replace(
        microsecond=0
    )
    assert views[void.number]["status"] == "closed"
    assert views[void.number]["status_notes"].startswith("未予受理")
    assert views[duplicate.number]["status"] == "closed"
    assert kept.number in views[duplicate.number]["status_notes"]
    assert views[kept.number]["status"] == "open"


def test_request_filters_and_paging(
    client: FlaskClient, db_session: Session, world: World, key: str
) -> None:
    mine = [
        post(client, **a_request(world, key)).get_json()[0]["service_request_id"] for _ in range(3)
    ]
    other = a_request(world, key, service_code=world.other_category.full_code)
    theirs = post(client, **other).get_json()[0]["service_request_id"]
    act(db_session, world, case_of(db_session, mine[0]), "mark_invalid")
    db_session.commit()

    def ids(query: str) -> list[str]:
        res = client.get(f"/open311/v2/requests.json?{query}")
        assert res.status_code == 200, res.get_data(as_text=True)
        schemas.validate(res.get_json(), schemas.REQUESTS)
        return [v["service_request_id"] for v in res.get_json()]

    listed = ids("")
    assert {*mine, theirs} <= set(listed)
    assert listed == sorted(listed, reverse=True)  # newest first
    assert set(ids(f"service_code={service_code(world)}")) >= set(mine)
    assert theirs not in ids(f"service_code={service_code(world)}")
    both = ids(f"service_code={service_code(world)},{world.other_category.full_code}")
    assert {*mine, theirs} <= set(both)
    assert mine[0] in ids("status=closed") and mine[0] not in ids("status=open")
    assert set(mine[1:]) <= set(ids("status=open"))
    assert set(mine) <= set(ids("status=open,closed"))
    # service_request_id overrides every other filter.
    assert ids(f"service_request_id={mine[0]},{theirs}&status=open") == sorted(
        [mine[0], theirs], reverse=True
    )
    now = datetime.now(SHANGHAI)
    window = (
        f"start_date={quote((now - timedelta(hours=1)).isoformat())}"
        f"&end_date={quote((now + timedelta(hours=1)).isoformat())}"
    )
    assert set(mine) <= set(ids(window))
    assert mine[1] not in ids("start_date=2020-01-01T00:00:00Z&end_date=2020-02-01T00:00:00Z")
    assert mine[1] not in ids("end_date=2020-02-01")  # the 90 days before it
    page1 = ids("page_size=2")
    page2 = ids("page_size=2&page=2")
    assert len(page1) == 2 and not set(page1) & set(page2)
    total = client.get("/open311/v2/requests.json?page_size=1").headers["X-Total-Count"]
    assert int(total) >= 4


@pytest.mark.parametrize(
    "query",
    [
        "status=pending",
        "start_date=yesterday",
        "start_date=2020-01-01T00:00:00Z&end_date=2020-06-01T00:00:00Z",
        "start_date=2020-02-01T00:00:00Z&end_date=2020-01-01T00:00:00Z",
        "start_date=0001-01-01",
        "end_date=0001-01-01",
        "page=0",
        "page_size=1001",
        "page=abc",
    ],
)
def test_bad_request_queries_are_400(client: FlaskClient, query: str) -> None:
    res, body, root = get_both(client, "/open311/v2/requests", query_string=query)
    assert res.status_code == 400 and root.tag == "errors"
    schemas.validate(body, schemas.ERRORS)


def test_unknown_request_and_token_are_404(client: FlaskClient) -> None:
    for path in ("/open311/v2/requests/20200101099999", "/open311/v2/tokens/no-such-token"):
        res, body, _root = get_both(client, path)
        assert res.status_code == 404
        schemas.validate(body, schemas.ERRORS)


def test_tokens_resolve_to_the_request(client: FlaskClient, world: World, key: str) -> None:
    (answer,) = post(client, **a_request(world, key)).get_json()
    res, body, root = get_both(client, f"/open311/v2/tokens/{answer['token']}")
    assert res.status_code == 200 and root.tag == "service_requests"
    schemas.validate(body, schemas.TOKENS)
    assert body == [{"service_request_id": answer["service_request_id"], "token": answer["token"]}]


def test_unknown_resources_and_methods(client: FlaskClient) -> None:
    res = client.get("/open311/v2/nothing.json")
    assert res.status_code == 404 and res.get_json()[0]["code"] == 404
    res = client.get("/open311/v2/services.html")
    assert res.status_code == 404 and ET.fromstring(res.data).tag == "errors"
    res = client.delete("/open311/v2/requests.json")
    assert res.status_code == 400 and res.get_json()[0]["code"] == 400


def test_jurisdiction(client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "OPEN311_JURISDICTION_ID", "hengyang.example.cn")
    assert (
        client.get("/open311/v2/services.json?jurisdiction_id=hengyang.example.cn").status_code
        == 200
    )
    assert client.get("/open311/v2/services.json").status_code == 200
    res = client.get("/open311/v2/services.xml?jurisdiction_id=sfgov.org")
    assert res.status_code == 404 and "jurisdiction_id" in ET.fromstring(res.data)[0].findtext(
        "description", ""
    )


def test_posts_are_rate_limited_per_key(
    client: FlaskClient, app: Flask, world: World, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "OPEN311_POST_RATE_LIMIT", "2 per minute")
    statuses = [post(client, **a_request(world, key)).status_code for _ in range(3)]
    assert statuses == [201, 201, 400]
    refused = post(client, "xml", **a_request(world, key))
    assert refused.status_code == 400 and refused.headers.get("Retry-After")
    assert ET.fromstring(refused.data)[0].findtext("code") == "429"


# ---------------------------------------------------------------------------- keys
def test_cli_creates_lists_and_revokes_keys(runner, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    created = runner.invoke(args=["open311", "key", "create", "o311-cli-app", "--contact", "qa@x"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"o311_[A-Za-z0-9_-]{40,}", key)
    client_row = db_session.scalar(
        select(Open311Client).where(Open311Client.name == "o311-cli-app")
    )
    assert client_row is not None and key not in (client_row.key_hash, client_row.key_prefix)
    assert key.startswith(client_row.key_prefix)
    listed = runner.invoke(args=["open311", "key", "list"])
    assert "o311-cli-app" in listed.output and "live" in listed.output and key not in listed.output
    again = runner.invoke(args=["open311", "key", "create", "o311-cli-app"])
    assert again.exit_code != 0 and "already exists" in again.output
    revoked = runner.invoke(args=["open311", "key", "revoke", str(client_row.id)])
    assert revoked.exit_code == 0
    assert "revoked" in runner.invoke(args=["open311", "key", "list"]).output
    assert runner.invoke(args=["open311", "key", "revoke", "999999"]).exit_code != 0


def hidden_csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_admin_page_issues_and_revokes_keys(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    log_in(client, make_user(db_session, "o311-keys-admin", "admin"))
    page = client.get("/admin/open311?lang=en")
    assert page.status_code == 200 and 'id="nav-open311"' in page.get_data(as_text=True)
    token = hidden_csrf(page.get_data(as_text=True))
    made = client.post(
        "/admin/open311", data={"csrf_token": token, "name": "o311-page-app", "contact": "ops"}
    )
    assert made.status_code == 201
    html = made.get_data(as_text=True)
    key = re.search(r'id="new-key-value">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    assert post(client, **a_request(world, key)).status_code == 201
    row = db_session.scalar(select(Open311Client).where(Open311Client.name == "o311-page-app"))
    assert row is not None and row.last_used_at is not None
    # The list shows the prefix, never the key again.
    listing = client.get("/admin/open311").get_data(as_text=True)
    assert row.key_prefix in listing and key not in listing
    gone = client.post(f"/admin/open311/{row.id}/revoke", data={"csrf_token": token})
    assert gone.status_code == 302
    assert post(client, **a_request(world, key)).status_code == 403


def test_admin_page_is_for_administrators(client: FlaskClient, db_session: Session) -> None:
    assert client.get("/admin/open311").status_code == 302  # to the login page
    log_in(client, make_user(db_session, "o311-keys-operator", "operator"))
    page = client.get("/admin/open311")
    assert page.status_code == 403
    assert 'id="nav-open311"' not in client.get("/api/docs").get_data(as_text=True)
