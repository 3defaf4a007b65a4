"""Our Open311 endpoint driven over HTTP as real clients drive it: the ``georeport`` library
from PyPI (JSON and XML) reads services and requests, and requests are POSTed form-encoded as
the spec shows them (``requests``, the library every Python Open311 client builds on)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import xmltodict
from flask import Flask
from georeport import GeoReport

from core.db import database
from tests import open311_schemas as schemas
from tests.browser import live_server
from tests.conftest import make_test_app
from tests.live_support import LiveWorld, committed_world

FORM = "application/x-www-form-urlencoded; charset=utf-8"
#: A guard against a hung server, not a speed requirement (the first request builds the
#: server's locate index, which takes a while on a loaded machine).
TIMEOUT = 120


@pytest.fixture(scope="module")
def live_app(app: Flask, database_url: str) -> Iterator[Flask]:
    """An app of its own on the test database (the server thread commits for real)."""
    local = make_test_app(database_url, AUTO_DISPATCH=False)
    yield local
    database(local).engine.dispose()


@pytest.fixture(scope="module")
def world(live_app: Flask) -> Iterator[LiveWorld]:
    with committed_world(live_app) as made:
        yield made


@pytest.fixture(scope="module")
def base_url(live_app: Flask, world: LiveWorld) -> Iterator[str]:
    with live_server(live_app) as url:
        yield f"{url}/open311/v2"


def as_list(value: Any) -> list[Any]:
    """xmltodict gives one child as a dict and several as a list."""
    return value if isinstance(value, list) else [value]


def test_a_client_files_requests_and_follows_them(base_url: str, world: LiveWorld) -> None:
    session = requests.Session()
    # 1. Form-encoded, with an attribute, exactly as the spec's example request is built.
    filed = session.post(
        f"{base_url}/requests.json",
        data={
            "api_key": world.key,
            "service_code": world.service_code,
            "lat": world.lat,
            "long": world.lng,
            "address_string": "雁峰区先锋路 88 号",
            "email": "reporter@example.cn",
            "first_name": "小明",
            "last_name": "李",
            "phone": "13700001234",
            "description": "路面塌陷，车辆无法通行",
            "media_url": "https://img.example.cn/p/1.jpg",
            "attribute[filing_condition]": str(world.condition_id),
        },
        timeout=TIMEOUT,
    )
    assert filed.status_code == 201, filed.text
    assert filed.headers["Content-Type"] == "application/json; charset=utf-8"
    schemas.validate(filed.json(), schemas.POST_RESPONSE)
    first = filed.json()[0]["service_request_id"]

    # 2. The spec's raw body (its field order, its escaping), answered in XML.
    raw = (
        f"api_key={world.key}&jurisdiction_id=city.gov&service_code={world.service_code}"
        "&address_string=1234+5th+street&email=smit333%40sfgov.edu&device_id=tt222111"
        "&account_id=123456&first_name=john&last_name=smith&phone=111111111"
        "&description=A+large+sinkhole+is+destroying+the+street"
        f"&attribute[filing_condition]={world.condition_id}"
    )
    by_address = session.post(
        f"{base_url}/requests.xml",
        data=raw.encode(),
        headers={"Content-Type": FORM},
        timeout=TIMEOUT,
    )
    assert by_address.status_code == 201, by_address.text
    assert by_address.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert by_address.text.startswith("<?xml")
    posted = xmltodict.parse(by_address.content)["service_requests"]["request"]
    second = posted["service_request_id"]
    token = posted["token"]

    # 3. A GeoReport client reads them back, in JSON.
    client = GeoReport(base_url)
    services = client.get_service_list()
    schemas.validate(services, schemas.SERVICES)
    assert world.service_code in {s["service_code"] for s in services}
    definition = client.get_service_definition(world.service_code)
    schemas.validate(definition, schemas.SERVICE_DEFINITION)
    assert str(world.condition_id) in {
        v["key"] for a in definition["attributes"] for v in a["values"]
    }
    listed = client.get_service_requests(service_request_id=f"{first},{second}")
    schemas.validate(listed, schemas.REQUESTS)
    assert sorted(r["service_request_id"] for r in listed) == sorted([first, second])
    one = client.get_service_request(first)
    schemas.validate([one], schemas.REQUESTS)
    assert one["status"] == "open" and one["service_code"] == world.service_code
    assert one["media_url"] == "https://img.example.cn/p/1.jpg"
    assert one["lat"] == pytest.approx(world.lat) and one["long"] == pytest.approx(world.lng)
    unplaced = client.get_service_request(second)
    assert unplaced["lat"] is None and unplaced["address"] == "1234 5th street"
    open_ones = client.get_service_requests(service_code=world.service_code, status="open")
    assert {first, second} <= {r["service_request_id"] for r in open_ones}
    assert not {first, second} & {
        r["service_request_id"] for r in client.get_service_requests(status="closed")
    }
    public = session.get(f"{base_url}/requests.json").text
    for secret in ("13700001234", "reporter@example.cn", "小明", "smit333", "111111111"):
        assert secret not in public

    # 4. The token resolves to the request id.
    resolved = session.get(f"{base_url}/tokens/{token}.json", timeout=TIMEOUT).json()
    schemas.validate(resolved, schemas.TOKENS)
    assert resolved == [{"service_request_id": second, "token": token}]

    # 5. And in XML, as a client that prefers it reads it.
    xml_client = GeoReport(base_url, output_format="xml")
    xml_services = xml_client.get_service_list()
    assert world.service_code in {s["service_code"] for s in xml_services}
    assert {s["type"] for s in xml_services} == {"realtime"}
    xml_one = xml_client.get_service_request(first)
    assert xml_one["service_request_id"] == first and xml_one["status"] == "open"
    assert xml_one["requested_datetime"].endswith("+08:00")
    xml_both = as_list(xml_client.get_service_requests(service_request_id=f"{first},{second}"))
    assert {r["service_request_id"] for r in xml_both} == {first, second}
    xml_definition = xml_client.get_service_definition(world.service_code)
    attribute = xml_definition["attributes"]["attribute"]
    assert attribute["datatype"] == "singlevaluelist" and attribute["required"] == "false"


def test_errors_reach_the_client_as_spec_errors(base_url: str, world: LiveWorld) -> None:
    client = GeoReport(base_url)
    with pytest.raises(requests.HTTPError) as raised:
        client.get_service_definition("M99999")
    assert raised.value.response.status_code == 404
    schemas.validate(raised.value.response.json(), schemas.ERRORS)
    refused = requests.post(
        f"{base_url}/requests.xml",
        data={"api_key": "o311_wrong", "service_code": world.service_code, "lat": 1, "long": 1},
        timeout=TIMEOUT,
    )
    assert refused.status_code == 403
    assert "<errors><error><code>403</code><description>" in refused.text
