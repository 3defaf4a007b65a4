"""The inputs that made the API answer with a server error, each pinned down: the fuzzer
(tests/test_api_fuzz.py) found them; these keep them fixed whatever it generates next time."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.factories import ApiClient, api_client, make_user

TOO_BIG = "9223372036854775808"  # 2**63: past SQLite's integers (PostgreSQL's end at 2**31)


@pytest.fixture
def api(client: FlaskClient, db_session: Session) -> ApiClient:
    return api_client(client, db_session, make_user(db_session, "hardening", "operator", "admin"))


def error_of(res) -> dict:  # type: ignore[no-untyped-def]
    body = res.get_json()
    assert set(body) == {"error"} and {"code", "message", "fields"} <= set(body["error"])
    return body["error"]


@pytest.mark.parametrize(
    "point", [[7.291411806345142e303, 0.0], [0.0, 6.503131422802165e303], [181, 0], [0, -91]]
)
def test_bulk_locate_refuses_coordinates_out_of_range(api: ApiClient, point: list[float]) -> None:
    res = api.post("/api/v1/locate/bulk", json={"points": [[112.6, 26.9], point]})
    assert res.status_code == 400 and error_of(res)["fields"] == {"points": "range"}


@pytest.mark.parametrize(
    ("url", "status"),
    [
        (f"/api/v1/cases?category_id={TOO_BIG}", 400),
        (f"/api/v1/cases?owner_officer_id=-{TOO_BIG}", 400),
        ("/api/v1/cases?page=99999999999999999999", 400),
        (f"/api/v1/categories/{TOO_BIG}", 404),
        (f"/api/v1/notifications?before={TOO_BIG}", 400),
        (f"/api/v1/grids?version={TOO_BIG}", 404),
    ],
)
def test_numbers_too_big_for_the_database_are_client_errors(
    api: ApiClient, url: str, status: int
) -> None:
    res = api.get(url)
    assert res.status_code == status
    error_of(res)


def test_marking_read_ids_that_cannot_exist_marks_nothing(api: ApiClient) -> None:
    res = api.post("/api/v1/notifications/read", json={"ids": [int(TOO_BIG), 5]})
    assert res.status_code == 200 and res.get_json()["marked"] == 0


@pytest.mark.parametrize(
    "query",
    [
        "created_from=0001-01-01T00:00:00",
        "created_to=0001-01-01",
        "created_from=9999-12-31T23:59:59-12:00",
    ],
)
def test_dates_beyond_what_a_datetime_holds_are_client_errors(api: ApiClient, query: str) -> None:
    res = api.get(f"/api/v1/cases?{query}")
    assert res.status_code == 400 and error_of(res)["fields"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/categories?kind=matter&q=%00",
        "/api/v1/cases?q=a%00b",
        "/api/v1/cases/2026%00",
        "/api/v1/grids/430405%00/officers",
    ],
)
def test_nul_characters_are_refused_before_the_database(api: ApiClient, url: str) -> None:
    res = api.get(url)
    assert res.status_code == 400 and "NUL" in error_of(res)["message"]


@pytest.mark.parametrize(
    "body",
    ['{"description": "\\ud800 road"}', '{"description": "nul\\u0000", "address": "x"}'],
)
def test_json_text_no_database_can_hold_is_refused(api: ApiClient, body: str) -> None:
    res = api.post("/api/v1/cases", data=body, content_type="application/json")
    assert res.status_code == 400 and error_of(res)["code"] == "bad_request"


def test_open311_refuses_nul_in_its_own_error_shape(client: FlaskClient) -> None:
    res = client.get("/open311/v2/requests.json?status=%00")
    assert res.status_code == 400
    assert res.get_json() == [
        {"code": 400, "description": "text must not contain NUL characters or unpaired surrogates"}
    ]


def test_the_page_form_ignores_ids_that_are_not_plain_numbers(
    client: FlaskClient, db_session: Session
) -> None:
    import re

    from tests.conftest import log_in

    log_in(client, make_user(db_session, "hardening-page", "operator"))
    html = client.get("/inbox").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert token is not None
    res = client.post("/inbox/read", data={"csrf_token": token.group(1), "id": ["²", TOO_BIG]})
    assert res.status_code == 302
