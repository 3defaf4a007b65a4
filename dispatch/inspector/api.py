"""The inspector's JSON API (``/api/v1/inspector/…``): report with photos (multipart, with an
``Idempotency-Key`` so the phone's outbox may retry forever), tasks and their completion, my
reports and figures, the categories to choose from, my grids; and the flags supervisors review.

Views parse input, find the caller, call one service function and serialise. Photo files are
written before the commit and removed again when the submission does not happen.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf
from werkzeug.datastructures import FileStorage

from core.db import retry_on_lock_race
from core.db import session as db_session
from core.i18n import SHANGHAI
from dispatch.auth import api_user, exempt_api
from dispatch.errors import Conflict, InvalidInput
from dispatch.inspector import photos as photo_mod
from dispatch.inspector import services
from dispatch.inspector.photos import PhotoRejected, ProcessedPhoto
from dispatch.models import Case, User
from dispatch.models.inspector import ReportEvidence
from dispatch.pages import STAGE_LABELS, STATE_LABELS
from grids import services as grid_services

bp = Blueprint("inspector_api", __name__, url_prefix="/api/v1/inspector")
exempt_api(bp)

#: Idempotency keys: what the phone generates (a UUID) fits easily.
KEY_LENGTH = (8, 100)


def photo_url(uid: str, size: str) -> str:
    """The URL one size of a photo is served at."""
    return url_for("inspector.photo", uid=uid, size=size)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _float(name: str) -> float | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a number", {name: "not a number"}) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInput(f"{name} must be a number", {name: "not a number"})
    return value


def _int(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer", {name: "not an integer"}) from None
    if not 0 < value < 2**31:
        raise InvalidInput(f"{name} is out of range", {name: "out of range"})
    return value


def _text(name: str, limit: int) -> str:
    raw = request.form.get(name, "")
    if len(raw) > limit:
        raise InvalidInput(f"{name} is too long ({limit} characters at most)", {name: "too long"})
    return raw


def _key() -> str | None:
    key = request.headers.get("Idempotency-Key") or request.form.get("idempotency_key")
    if key is not None and not KEY_LENGTH[0] <= len(key) <= KEY_LENGTH[1]:
        raise InvalidInput(
            "Idempotency-Key must be 8-100 characters", {"idempotency_key": "length"}
        )
    return key


def _limit_body() -> None:
    """Refuse bodies larger than the photos allowed could make (413, before reading them)."""
    cfg = current_app.config
    request.max_content_length = cfg["PHOTO_MAX_COUNT"] * cfg["PHOTO_MAX_BYTES"] + 1024 * 1024


def _read_photos(required: int) -> list[ProcessedPhoto]:
    """Validate every uploaded photo; one error lists every bad file, and nothing is stored."""
    cfg = current_app.config
    files: list[FileStorage] = [f for f in request.files.getlist("photos") if f.filename != ""]
    if len(files) > cfg["PHOTO_MAX_COUNT"]:
        raise InvalidInput(
            f"at most {cfg['PHOTO_MAX_COUNT']} photos per submission", {"photos": "too many"}
        )
    if len(files) < required:
        raise InvalidInput("take at least one photo", {"photos": "required"})
    out, fields, messages = [], {}, []
    for i, storage in enumerate(files):
        storage.stream.seek(0)  # a retried view (lost SQLite lock race) reads it again
        data = storage.stream.read(cfg["PHOTO_MAX_BYTES"] + 1)
        try:
            out.append(photo_mod.process_upload(data, index=i))
        except PhotoRejected as exc:
            fields.update(exc.fields)
            messages.append(f"{storage.filename or f'photo {i + 1}'}: {exc.message}")
    if fields:
        raise PhotoRejected("; ".join(messages), fields)
    return out


def _store(photos: list[ProcessedPhoto]) -> tuple[list[tuple[ProcessedPhoto, dict]], list[Path]]:
    written: list[Path] = []
    try:
        for p in photos:
            written.extend(photo_mod.write_files(p))
    except OSError:
        photo_mod.remove_files(written)
        raise
    return [(p, p.descriptor(photo_url)) for p in photos], written


def _thresholds() -> services.Thresholds:
    cfg = current_app.config
    return services.Thresholds(
        photo_distance_m=float(cfg["INSPECTOR_PHOTO_DISTANCE_M"]),
        poor_accuracy_m=float(cfg["INSPECTOR_POOR_ACCURACY_M"]),
    )


def _device_time() -> datetime | None:
    raw = request.form.get("reported_at", "").strip()
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            "reported_at must be ISO 8601", {"reported_at": "not a date-time"}
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=SHANGHAI)


def report_json(case: Case, evidence: ReportEvidence | None) -> dict[str, Any]:
    """One of my reports as the phone shows it."""
    thumbs = [a.get("thumb") for a in case.attachments or [] if isinstance(a, dict)]
    return {
        "number": case.number,
        "check_code": case.check_code,
        "state": case.state,
        "state_label": str(STATE_LABELS.get(case.state, case.state)),
        "description": case.description,
        "grid_code": case.grid_code,
        "placement": case.placement,
        "created_at": _iso(case.created_at),
        "flags": list(evidence.flags) if evidence else [],
        "thumbs": [t for t in thumbs if t],
        "version": case.version,
    }


def compact_json(body: Any) -> Response:
    """A JSON answer as small as it can be for a phone: UTF-8 Chinese (not escaped), no spaces;
    the phone's HTTP cache keeps it an hour (the service worker keeps it offline)."""
    data = current_app.json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    response = current_app.response_class(data, mimetype="application/json")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


#: Grid outlines are sent in units of 1e-5 degrees (~1 m): drawing them needs no more.
GRID_UNIT = 100_000


def delta_rings(geometry: dict[str, Any]) -> list[list[list[int]]]:
    """A (Multi)Polygon's rings as flat integer deltas: per polygon, per ring
    ``[x0, y0, dx1, dy1, …]`` in 1e-5 degrees; about a third of the GeoJSON text."""
    polygons = geometry["coordinates"]
    if geometry["type"] == "Polygon":
        polygons = [polygons]
    out = []
    for polygon in polygons:
        rings = []
        for ring in polygon:
            flat: list[int] = []
            px = py = 0
            for x, y, *_ in ring:
                ix, iy = round(x * GRID_UNIT), round(y * GRID_UNIT)
                flat += [ix - px, iy - py]
                px, py = ix, iy
            rings.append(flat)
        out.append(rings)
    return out


# ---------------------------------------------------------------------------- endpoints
@bp.get("/session")
def session_info() -> ResponseReturnValue:
    """Who I am and a fresh CSRF token (the outbox asks before sending, after hours offline)."""
    user = api_user()
    services.inspector(user)
    return jsonify(
        {
            "user": {"id": user.id, "username": user.username, "name": user.display_name},
            "csrf_token": generate_csrf(),
        }
    )


@bp.get("/categories")
def categories() -> ResponseReturnValue:
    """Active minor classes with filing conditions; my recent and frequent ones first."""
    user = api_user()
    services.inspector(user)
    return compact_json(services.category_choices(db_session(), user))


@bp.get("/grids")
def my_grids() -> ResponseReturnValue:
    """The community grids of my area, simplified and delta-encoded for a phone's map."""
    user = api_user()
    services.inspector(user)
    sess = db_session()
    bset = grid_services.active_set(sess)
    if bset is None:
        return compact_json({"boundary_set": None, "unit": GRID_UNIT, "grids": []})
    city, districts, codes = services.area_grid_filter(user)
    grids = grid_services.leaf_grids(sess, bset.id)
    if not city:
        grids = [g for g in grids if g.code[:6] in districts or g.code in codes]
    return compact_json(
        {
            "boundary_set": {"id": bset.id, "version": bset.version},
            "unit": GRID_UNIT,
            "grids": [
                {
                    "code": g.code,
                    "name": g.name,
                    "polygons": delta_rings(
                        grid_services.grid_feature(g, simplify_m=5.0)["geometry"]
                    ),
                }
                for g in grids
            ],
        }
    )


@bp.post("/reports")
@retry_on_lock_race
def submit_report() -> ResponseReturnValue:
    """Report a problem with photos (multipart). The same ``Idempotency-Key`` always answers
    with the one case it created (201 the first time, 200 after)."""
    user = api_user()
    services.inspector(user)
    sess = db_session()
    key = _key()
    existing = services.case_for_key(sess, key)
    if existing is not None:
        return _answer_existing(sess, user, existing)
    _limit_body()
    form = services.ReportInput(
        description=_text("description", 5000),
        lng=_float("lng"),
        lat=_float("lat"),
        crs=_text("crs", 20) or "wgs84",
        position_source=_text("position_source", 8) or "gps",
        accuracy_m=_float("accuracy_m"),
        device_lng=_float("device_lng"),
        device_lat=_float("device_lat"),
        address=_text("address", 500),
        category_id=_int("category_id"),
        filing_condition_id=_int("filing_condition_id"),
        idempotency_key=key,
        reported_on_device_at=_device_time(),
    )
    processed = _read_photos(required=int(current_app.config["INSPECTOR_MIN_PHOTOS"]))
    photos, written = _store(processed)
    try:
        case, created = services.submit_report(sess, user, form, photos, _thresholds())
        sess.commit()
    except BaseException:
        sess.rollback()
        photo_mod.remove_files(written)
        raise
    if not created:  # a concurrent retry won the race: its photos are the case's
        photo_mod.remove_files(written)
        return _answer_existing(sess, user, case)
    evidence = sess.get(ReportEvidence, case.id)
    response = jsonify(report_json(case, evidence))
    response.status_code = 201
    response.headers["Location"] = url_for("dispatch_api.detail", number=case.number)
    return response


def _answer_existing(sess: Any, user: User, case: Case) -> ResponseReturnValue:
    evidence = sess.get(ReportEvidence, case.id)
    if case.reporter_user_id != user.id:
        raise Conflict("this Idempotency-Key was used by someone else", {"idempotency_key": "used"})
    response = jsonify(report_json(case, evidence))
    response.headers["Location"] = url_for("dispatch_api.detail", number=case.number)
    return response


@bp.get("/reports")
def list_reports() -> ResponseReturnValue:
    """My reports, newest first, with their states."""
    user = api_user()
    rows = services.my_reports(db_session(), user)
    return jsonify({"reports": [report_json(c, e) for c, e in rows]})


@bp.get("/tasks")
def list_tasks() -> ResponseReturnValue:
    """My verification and check tasks; ``lng``/``lat`` (WGS-84) sort them nearest first."""
    user = api_user()
    lng, lat = _query_float("lng"), _query_float("lat")
    if (lng is None) != (lat is None):
        raise InvalidInput("give both lng and lat, or neither", {"lng": "incomplete"})
    found = services.tasks(db_session(), user, lng=lng, lat=lat)
    return jsonify({"tasks": [task_json(t) for t in found]})


def _query_float(name: str) -> float | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a number", {name: "not a number"}) from None
    if not -180 <= value <= 180:
        raise InvalidInput(f"{name} is out of range", {name: "out of range"})
    return value


def task_json(task: services.Task) -> dict[str, Any]:
    """One task as the phone lists it."""
    case = task.case
    return {
        "number": case.number,
        "kind": task.stage,
        "kind_label": str(STAGE_LABELS.get(task.stage, task.stage)),
        "state": case.state,
        "description": case.description,
        "address": case.address,
        "grid_code": case.grid_code,
        "lng": case.location.x if case.location is not None else None,
        "lat": case.location.y if case.location is not None else None,
        "due_at": _iso(task.due_at),
        "level": task.level,
        "distance_m": task.distance_m,
        "version": case.version,
        "url": url_for("inspector.task_page", number=case.number),
    }


@bp.post("/tasks/<number>/complete")
@retry_on_lock_race
def complete_task(number: str) -> ResponseReturnValue:
    """Finish a verification (``verdict`` true/false) or a check (pass/fail) with photos."""
    user = api_user()
    services.inspector(user)
    sess = db_session()
    services.task_case(sess, user, number)  # 404 before reading any photo
    _limit_body()
    verdict = _text("verdict", 10)
    note = _text("note", 2000)
    version = _int("version")
    processed = _read_photos(required=int(current_app.config["INSPECTOR_MIN_PHOTOS"]))
    photos, written = _store(processed)
    try:
        outcome = services.complete_task(
            sess, user, number, verdict, note, photos, expected_version=version
        )
        sess.commit()
    except BaseException:
        sess.rollback()
        photo_mod.remove_files(written)
        raise
    case = outcome.case
    return jsonify(
        {
            "number": case.number,
            "state": case.state,
            "state_label": str(STATE_LABELS.get(case.state, case.state)),
            "version": case.version,
            "action": outcome.event.action,
            "photos": [d for _p, d in photos],
        }
    )


@bp.get("/figures")
def figures() -> ResponseReturnValue:
    """My valid report rate and on-time verification and check rates (``from``/``to`` local
    dates; default this month so far)."""
    user = api_user()
    today = datetime.now(SHANGHAI).date()
    first = _query_date("from") or today.replace(day=1)
    last = _query_date("to") or today
    if last < first or (last - first) > timedelta(days=366):
        raise InvalidInput("the period runs from ≤ to, one year at most", {"to": "range"})
    rows = services.my_figures(db_session(), user, first, last)
    return jsonify({"from": first.isoformat(), "to": last.isoformat(), "figures": rows})


def _query_date(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a date (YYYY-MM-DD)", {name: "not a date"}) from None
    if not 2000 <= value.year <= 2100:
        raise InvalidInput(f"{name} is out of range", {name: "out of range"})
    return value


@bp.get("/flags")
def flags() -> ResponseReturnValue:
    """Flagged inspector reports not yet reviewed (shift supervisors, within their scope)."""
    user = api_user()
    rows = services.flagged_reports(db_session(), user)
    return jsonify(
        {
            "reports": [
                {
                    **report_json(c, e),
                    "flag_detail": e.flag_detail,
                    "accuracy_m": e.accuracy_m,
                    "url": url_for("case_pages.case_detail", number=c.number),
                }
                for c, e in rows
            ]
        }
    )


@bp.post("/flags/<number>/review")
def review(number: str) -> ResponseReturnValue:
    """Mark a flagged report as reviewed."""
    user = api_user()
    sess = db_session()
    evidence = services.review_flag(sess, user, number)
    sess.commit()
    return jsonify({"number": number, "reviewed_at": _iso(evidence.reviewed_at)})
