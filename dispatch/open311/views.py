"""The Open311 GeoReport v2 endpoint: ``/open311/v2/<resource>.<json|xml>``.

Views parse the spec's arguments, call one service function and render JSON or XML from the
same answer. Errors follow the spec: a list of ``{code, description}`` with HTTP 404 for what
does not exist, 403 for a missing or bad ``api_key`` and 400 for anything else (the body's code
then says more, e.g. 429 when the client sent too many requests).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, request, url_for
from flask.typing import ResponseReturnValue
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Response

from core.db import retry_on_lock_race
from core.db import session as db_session
from core.i18n import SHANGHAI
from dispatch.auth import exempt_api, limiter
from dispatch.errors import WorkflowError
from dispatch.open311 import formats
from dispatch.open311.keys import client_for_key, digest
from dispatch.open311.services import (
    LIMITS,
    MAX_ATTRIBUTE_VALUES,
    MAX_IDS,
    MAX_PAGE_SIZE,
    NewRequest,
    Open311Error,
    RequestQuery,
    check_media_url,
    find_request,
    find_requests,
    find_service,
    list_services,
    post_response,
    request_views,
    service_definition,
    submit_request,
    token_response,
)

bp = Blueprint("open311", __name__, url_prefix="/open311")
# Clients POST form-encoded bodies with their api_key, never a CSRF token.
exempt_api(bp)

FMT = "<any(json, xml):fmt>"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
#: When the discovery document or the service definitions last changed in a way clients cache.
CHANGESET = "2026-11-22T10:00:00+08:00"
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")


# ---------------------------------------------------------------------------- helpers
def _format() -> str:
    fmt = (request.view_args or {}).get("fmt")
    if fmt in formats.CONTENT_TYPES:
        return str(fmt)
    return "json" if request.path.endswith(".json") else "xml"


def _text_arg(name: str, source: Any = None) -> str:
    """A trimmed text argument within its length limit (NUL characters refused)."""
    values = request.values if source is None else source
    raw = values.get(name) or ""
    if "\x00" in raw:
        raise Open311Error(400, f"{name} contains a NUL character")
    value = raw.strip()
    limit = LIMITS.get(name, 200)
    if len(value) > limit:
        raise Open311Error(400, f"{name} is too long ({limit} characters at most)")
    return value


def _float_arg(name: str) -> float | None:
    raw = (request.form.get(name) or request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise Open311Error(400, f"{name} must be a number") from None


def _int_arg(name: str, default: int, lowest: int, highest: int) -> int:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Open311Error(400, f"{name} must be a whole number") from None
    if not lowest <= value <= highest:
        raise Open311Error(400, f"{name} must be between {lowest} and {highest}")
    return value


def _list_arg(name: str, limit: int) -> list[str]:
    """A comma-delimited argument (it may also be repeated)."""
    items = [part.strip() for raw in request.args.getlist(name) for part in raw.split(",")]
    items = [item for item in items if item]
    if len(items) > limit:
        raise Open311Error(400, f"{name}: at most {limit} values")
    return items


def parse_w3c(name: str) -> datetime | None:
    """A W3C date-time argument (``2010-01-01T00:00:00Z``, or a date); local time if no zone."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise Open311Error(
            400, f"{name} must be a W3C date-time, e.g. 2010-01-01T00:00:00Z"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01 in +08:00 is before the first representable instant
        raise Open311Error(400, f"{name} is out of range") from None


def _attributes(form: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    count = 0
    for key, value in form.items(multi=True):
        match = _ATTRIBUTE.match(key)
        if match is None:
            if key.startswith("attribute"):
                raise Open311Error(400, f"malformed attribute field {key[:80]!r}")
            continue
        count += 1
        if count > MAX_ATTRIBUTE_VALUES or len(value) > 200 or "\x00" in value:
            raise Open311Error(400, "too many or too long attribute values")
        if value.strip():  # an empty optional argument is as if it were not sent (the spec)
            found.setdefault(match.group(1), []).append(value.strip())
    return found


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not 8 <= len(key) <= 80 or not key.isprintable():
        raise Open311Error(400, "Idempotency-Key must be 8-80 printable characters")
    return key


def _post_limit() -> str:
    return str(current_app.config["OPEN311_POST_RATE_LIMIT"])


def _post_limit_key() -> str:
    """Per API key (its digest), or per address for requests without one."""
    key = request.form.get("api_key") or request.args.get("api_key")
    if key:
        return "open311-key:" + digest(key)[:32]
    return "open311-addr:" + (get_remote_address() or "")


@bp.before_request
def _check_jurisdiction() -> None:
    """One jurisdiction is served: another ``jurisdiction_id`` is a 404, none is fine."""
    served = current_app.config.get("OPEN311_JURISDICTION_ID") or ""
    asked = (request.values.get("jurisdiction_id") or "").strip()
    if served and asked and asked != served:
        raise Open311Error(404, f"jurisdiction_id {asked[:100]!r} was not found")


# ---------------------------------------------------------------------------- resources
@bp.get(f"/discovery.{FMT}")
@bp.get(f"/v2/discovery.{FMT}")
def discovery(fmt: str) -> ResponseReturnValue:
    """Service discovery: where the GeoReport v2 endpoint is and which formats it speaks."""
    config = current_app.config
    endpoint = url_for("open311.services", fmt="json", _external=True).rsplit("/", 1)[0]
    data = {
        "changeset": CHANGESET,
        "contact": config["OPEN311_CONTACT"],
        "key_service": config["OPEN311_KEY_SERVICE"],
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": endpoint,
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return formats.render(data, fmt, "discovery")


@bp.get(f"/v2/services.{FMT}")
def services(fmt: str) -> ResponseReturnValue:
    """GET Service List: the active categories."""
    return formats.render(list_services(db_session()), fmt, "services")


@bp.get(f"/v2/services/<code>.{FMT}")
def service(code: str, fmt: str) -> ResponseReturnValue:
    """GET Service Definition: the filing conditions to choose from."""
    sess = db_session()
    category = find_service(sess, code)
    if category is None:
        raise Open311Error(404, f"service_code {code[:40]!r} was not found")
    return formats.render(service_definition(sess, category), fmt, "service_definition")


@bp.post(f"/v2/requests.{FMT}")
@limiter.limit(_post_limit, key_func=_post_limit_key)
@retry_on_lock_race
def create_request(fmt: str) -> ResponseReturnValue:
    """POST Service Request (form-encoded, ``api_key`` required). 201, or 200 for a retry with
    the same ``Idempotency-Key`` (our extension)."""
    sess = db_session()
    key = request.form.get("api_key") or request.args.get("api_key") or ""
    client = client_for_key(sess, key)
    if client is None:
        message = "api_key is missing" if not key else "api_key is invalid or revoked"
        raise Open311Error(403, message)
    form = request.form
    service_code = _text_arg("service_code", form)
    if not service_code:
        raise Open311Error(400, "service_code was not provided")
    new = NewRequest(
        service_code=service_code,
        lat=_float_arg("lat"),
        long=_float_arg("long"),
        address_string=_text_arg("address_string", form),
        address_id=_text_arg("address_id", form),
        email=_text_arg("email", form),
        first_name=_text_arg("first_name", form),
        last_name=_text_arg("last_name", form),
        phone=_text_arg("phone", form),
        description=_text_arg("description", form),
        media_url=_text_arg("media_url", form),
        attributes=_attributes(form),
        idempotency_key=_idempotency_key(),
    )
    _text_arg("device_id", form)  # accepted (bounded), not kept
    _text_arg("account_id", form)
    if new.media_url:
        check_media_url(new.media_url)
    if new.email and "@" not in new.email:
        raise Open311Error(400, "email is not an e-mail address")
    case, row, created = submit_request(sess, client, new)
    sess.commit()
    body = post_response(case, row, url_for("tracking.track_page", _external=True))
    response = formats.render(body, fmt, "service_requests", 201 if created else 200)
    response.headers["Location"] = url_for(
        "open311.get_request", request_id=case.number, fmt=fmt, _external=True
    )
    return response


@bp.get(f"/v2/requests.{FMT}")
def list_requests(fmt: str) -> ResponseReturnValue:
    """GET Service Requests: every filter of the spec, plus ``page`` / ``page_size``."""
    statuses = set(_list_arg("status", 10))
    if statuses - {"open", "closed"}:
        raise Open311Error(400, "status must be open or closed (comma delimited)")
    query = RequestQuery(
        ids=_list_arg("service_request_id", MAX_IDS),
        service_codes=_list_arg("service_code", 500),
        start=parse_w3c("start_date"),
        end=parse_w3c("end_date"),
        statuses=statuses,
        page=_int_arg("page", 1, 1, 1_000_000),
        page_size=_int_arg("page_size", MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE),
    )
    sess = db_session()
    cases, total = find_requests(sess, query)
    response = formats.render(request_views(sess, cases), fmt, "service_requests")
    response.headers["X-Total-Count"] = str(total)
    return response


@bp.get(f"/v2/requests/<request_id>.{FMT}")
def get_request(request_id: str, fmt: str) -> ResponseReturnValue:
    """GET Service Request: one request, as a list of one (as the spec shows it)."""
    sess = db_session()
    case = find_request(sess, request_id)
    if case is None:
        raise Open311Error(404, f"service_request_id {request_id[:40]!r} was not found")
    return formats.render(request_views(sess, [case]), fmt, "service_requests")


@bp.get(f"/v2/tokens/<token>.{FMT}")
def get_token(token: str, fmt: str) -> ResponseReturnValue:
    """GET service_request_id from a token."""
    found = token_response(db_session(), token)
    if found is None:
        raise Open311Error(404, f"token {token[:40]!r} was not found")
    return formats.render(found, fmt, "service_requests")


@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str) -> ResponseReturnValue:
    """Anything else under /open311/: a GeoReport 404 (or 400 for a method a resource lacks)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    for method in ("GET", "POST"):
        try:
            endpoint, _args = adapter.match(method=method)
        except (HTTPException, RequestRedirect):
            continue
        if endpoint != "open311.unknown":
            raise Open311Error(400, f"{request.method} is not supported on this resource")
    raise Open311Error(404, "no such Open311 resource; see discovery.xml or discovery.json")


# ---------------------------------------------------------------------------- errors
@bp.errorhandler(Open311Error)
def _open311_error(exc: Open311Error) -> Response:
    return formats.errors(_format(), exc.status, *exc.descriptions)


@bp.errorhandler(WorkflowError)
def _workflow_error(exc: WorkflowError) -> Response:
    status = exc.status if exc.status in (403, 404) else 400
    return formats.errors(_format(), status, exc.message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    """403/404 stay; every other HTTP error is a 400 whose body carries the real code (429 for
    a rate limit, with Retry-After); server errors stay 5xx."""
    code = exc.code or 500
    status = code if code in (403, 404) or code >= 500 else 400
    response = formats.errors(_format(), status, exc.description or exc.name, code=code)
    if code == 429:
        retry = getattr(exc, "retry_after", None)
        response.headers["Retry-After"] = str(retry or 60)
    return response
