"""The API documentation page and the OpenAPI document (case pages live in dispatch/pages.py)."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask.typing import ResponseReturnValue

from dispatch.auth import login_required_page

bp = Blueprint("dispatch", __name__, template_folder="templates")


@bp.get("/api/docs")
@login_required_page
def api_docs() -> ResponseReturnValue:
    """Swagger UI over our OpenAPI description (served from static/, no CDN)."""
    return render_template("dispatch/api_docs.html")


@bp.get("/api/v1/openapi.json")
def openapi_json() -> ResponseReturnValue:
    """The OpenAPI 3 description of the whole JSON API."""
    from dispatch.openapi import spec

    return jsonify(spec())
