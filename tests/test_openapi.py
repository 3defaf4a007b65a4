"""The OpenAPI description covers every API route, and real responses match it."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from dispatch.openapi import spec
from tests.factories import api_client, make_user


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    doc = spec()
    return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})


def _response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    op = spec()["paths"][path][method]
    return op["responses"][str(status)]["content"]["application/json"]["schema"]


def test_every_api_route_is_described(app: Flask) -> None:
    paths = spec()["paths"]
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if path not in paths or method.lower() not in paths[path]:
                missing.append(f"{method} {path}")
    assert missing == []


def test_spec_is_a_valid_document(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["responses"], f"{method} {path} has no responses"


def test_responses_match_their_schemas(client: FlaskClient, db_session: Session, demo_city) -> None:
    operator = api_client(client, db_session, make_user(db_session, "spec-op", "operator"))
    feature = next(f for f in demo_city.features if int(f.level) == 4)
    pt = feature.geometry.representative_point()
    res = operator.post(
        "/api/v1/cases",
        json={"description": "井盖丢失", "lng": pt.x, "lat": pt.y, "reporter_phone": "13812345678"},
        headers={"Idempotency-Key": "spec-test-0001"},
    )
    assert res.status_code == 201
    _validator(_response_schema("/api/v1/cases", "post", 201)).validate(res.json)
    listing = operator.get("/api/v1/cases?state=reported")
    _validator(_response_schema("/api/v1/cases", "get", 200)).validate(listing.json)
    number = res.json["number"]
    act = operator.post(f"/api/v1/cases/{number}/actions/close", json={})
    assert act.status_code in (403, 409)
    _validator(
        _response_schema("/api/v1/cases/{number}/actions/{action}", "post", act.status_code)
    ).validate(act.json)
    loc = operator.get(f"/api/v1/locate?lng={pt.x}&lat={pt.y}")
    _validator(_response_schema("/api/v1/locate", "get", 200)).validate(loc.json)
    bad = operator.post("/api/v1/cases", json={"description": ""})
    assert bad.status_code == 400
    _validator(_response_schema("/api/v1/cases", "post", 400)).validate(bad.json)


@pytest.mark.parametrize("lang", ["", "?lang=en"])
def test_docs_page_uses_our_static_assets(page_client: FlaskClient, lang: str) -> None:
    html = page_client.get(f"/api/docs{lang}").get_data(as_text=True)
    assert "vendor/swagger-ui/swagger-ui-bundle.js" in html and "cdn" not in html.lower()
