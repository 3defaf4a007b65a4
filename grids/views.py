"""Grid pages and JSON API: the map, grids as GeoJSON, officers, locate (single and bulk)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
from flask import Blueprint, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from core.db import session
from core.errors import ApiError
from core.i18n import SHANGHAI
from grids import services
from grids.crs import CRS
from grids.features import Level
from grids.locate import Location

bp = Blueprint("grids", __name__, template_folder="templates")

#: Bulk requests larger than this are refused (use the CLI for historical re-placement).
MAX_BULK_POINTS = 200_000


def _today() -> date:
    return datetime.now(SHANGHAI).date()


def _parse_float(raw: Any, field: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ApiError(
            400, "invalid_input", f"{field} must be a number", {field: "not a number"}
        ) from None
    if not np.isfinite(value):
        raise ApiError(400, "invalid_input", f"{field} must be finite", {field: "not finite"})
    return value


def _parse_crs(raw: Any) -> CRS:
    try:
        return CRS.parse(str(raw or "wgs84"))
    except ValueError as exc:
        raise ApiError(
            400, "invalid_input", str(exc), {"crs": "unknown coordinate system"}
        ) from None


def _parse_date(raw: str | None) -> date:
    if not raw:
        return _today()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(
            400, "invalid_input", "date must be YYYY-MM-DD", {"date": "not a date"}
        ) from None


def _parse_level(raw: str | None) -> Level | None:
    if raw in (None, ""):
        return None
    try:
        return Level.parse(raw)
    except ValueError as exc:
        raise ApiError(400, "invalid_input", str(exc), {"level": "unknown level"}) from None


def _active_set_or_404() -> Any:
    bset = services.active_set(session())
    if bset is None:
        raise ApiError(404, "no_active_set", "no boundary set is active yet")
    return bset


def _officers_json(grid_code: str, day: date) -> list[dict[str, Any]]:
    return [
        {
            "officer_id": duty.officer_id,
            "name": duty.officer.name,
            "phone": duty.officer.phone,
            "role": duty.role,
            "starts_on": duty.starts_on.isoformat(),
            "ends_on": duty.ends_on.isoformat() if duty.ends_on else None,
        }
        for duty in services.officers_on(session(), grid_code, day)
    ]


def location_json(loc: Location, crs: CRS, raw: tuple[float, float]) -> dict[str, Any]:
    """The JSON answer for one located point."""
    body: dict[str, Any] = {
        "point": {"lng": raw[0], "lat": raw[1], "crs": crs.value},
        "wgs84": {"lng": round(loc.lng, 8), "lat": round(loc.lat, 8)},
        "status": loc.status,
        "approximate": loc.approximate,
        "distance_m": round(loc.distance_m, 2) if loc.found else None,
        "tolerance_m": loc.tolerance_m,
        "message": loc.message,
        "boundary_set": {"id": loc.boundary_set_id, "version": loc.boundary_set_version},
        "grid": None,
    }
    if loc.found and loc.grid_code:
        body["grid"] = {
            "id": loc.grid_id,
            "code": loc.grid_code,
            "name": loc.grid_name,
            "officers": _officers_json(loc.grid_code, _today()),
        }
    return body


@bp.get("/grids/map")
def map_page() -> ResponseReturnValue:
    """The grid map: every grid with its name and code; click to see officers or locate."""
    bset = services.active_set(session())
    return render_template(
        "grids/map.html",
        boundary_set=bset,
        tile_url=current_app.config["MAP_TILE_URL"],
        tile_attribution=current_app.config["MAP_TILE_ATTRIBUTION"],
        crs_choices=[c.value for c in CRS],
        crs_labels={
            "wgs84": _("WGS-84 (GPS)"),
            "cgcs2000": _("CGCS2000 (Tianditu)"),
            "gcj02": _("GCJ-02 (AutoNavi, Tencent)"),
            "bd09": _("BD-09 (Baidu)"),
        },
    )


@bp.get("/api/v1/boundary-sets")
def api_boundary_sets() -> ResponseReturnValue:
    """Every boundary set (version, name, whether active)."""
    return jsonify(
        {
            "boundary_sets": [
                {
                    "id": b.id,
                    "version": b.version,
                    "name": b.name,
                    "source": b.source,
                    "is_active": b.is_active,
                    "created_at": b.created_at.isoformat(),
                    "activated_at": b.activated_at.isoformat() if b.activated_at else None,
                }
                for b in services.boundary_sets(session())
            ]
        }
    )


@bp.get("/api/v1/grids")
def api_grids() -> ResponseReturnValue:
    """Grids of the active (or ``?version=``) set as a GeoJSON FeatureCollection."""
    sess = session()
    version = request.args.get("version")
    if version:
        try:
            number = int(version)
            if not 0 < number < 2**31:  # versions are PostgreSQL integers
                raise ValueError(version)
            bset = services.set_by_version(sess, number)
        except (ValueError, services.GridError):
            raise ApiError(404, "not_found", f"no boundary set with version {version!r}") from None
    else:
        bset = _active_set_or_404()
    level = _parse_level(request.args.get("level"))
    simplify = _parse_float(request.args.get("simplify", 0), "simplify")
    grids = services.grids_of(sess, bset.id, level=level)
    return jsonify(
        {
            "type": "FeatureCollection",
            "boundary_set": {"id": bset.id, "version": bset.version, "name": bset.name},
            "features": [services.grid_feature(g, simplify_m=max(simplify, 0)) for g in grids],
        }
    )


@bp.get("/api/v1/grids/<code>")
def api_grid(code: str) -> ResponseReturnValue:
    """One grid of the active set as a GeoJSON Feature, with its parent and today's officers."""
    _active_set_or_404()
    grid = services.grid_by_code(session(), code)
    if grid is None:
        raise ApiError(404, "not_found", f"no grid {code!r} in the active boundary set")
    feature = services.grid_feature(grid)
    feature["properties"]["parent_code"] = grid.parent.code if grid.parent else None
    feature["properties"]["parent_name"] = grid.parent.name if grid.parent else None
    feature["properties"]["officers"] = _officers_json(grid.code, _today())
    return jsonify(feature)


@bp.get("/api/v1/grids/<code>/officers")
def api_grid_officers(code: str) -> ResponseReturnValue:
    """Who was responsible for the grid on ``?date=`` (default today, Asia/Shanghai)."""
    day = _parse_date(request.args.get("date"))
    officers = _officers_json(code, day)
    if not officers and services.grid_by_code(session(), code) is None:
        raise ApiError(404, "not_found", f"no grid {code!r} in the active boundary set")
    return jsonify({"grid_code": code, "date": day.isoformat(), "officers": officers})


@bp.route("/api/v1/locate", methods=["GET", "POST"])
def api_locate() -> ResponseReturnValue:
    """Locate one point (``lng``, ``lat``, ``crs``) in the active boundary set."""
    data = request.get_json(silent=True) if request.method == "POST" else None
    args = data if isinstance(data, dict) else request.values
    missing = {f: "required" for f in ("lng", "lat") if args.get(f) in (None, "")}
    if missing:
        raise ApiError(400, "invalid_input", "lng and lat are required", missing)
    lng = _parse_float(args.get("lng"), "lng")
    lat = _parse_float(args.get("lat"), "lat")
    if not (-180 <= lng <= 180 and -90 <= lat <= 90):
        raise ApiError(400, "invalid_input", "coordinates out of range", {"lng": "range"})
    crs = _parse_crs(args.get("crs"))
    index = services.locator().index(session())
    if index is None:
        raise ApiError(404, "no_active_set", "no boundary set is active yet")
    return jsonify(location_json(index.locate(lng, lat, crs), crs, (lng, lat)))


@bp.post("/api/v1/locate/bulk")
def api_locate_bulk() -> ResponseReturnValue:
    """Locate many points: ``{"crs": ..., "points": [[lng, lat], ...]}`` → grid ids and codes."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("points"), list):
        raise ApiError(
            400, "invalid_input", "send JSON {points: [[lng, lat], ...]}", {"points": "required"}
        )
    points = data["points"]
    if len(points) > MAX_BULK_POINTS:
        raise ApiError(
            413, "too_many_points", f"at most {MAX_BULK_POINTS} points per request",
            {"points": "too many"},
        )  # fmt: skip
    try:
        arr = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        raise ApiError(
            400, "invalid_input", "points must be [lng, lat] pairs", {"points": "shape"}
        ) from None
    if not np.isfinite(arr).all():
        raise ApiError(400, "invalid_input", "coordinates must be finite", {"points": "finite"})
    # Huge finite values overflow the raster arithmetic of the locate index.
    if arr.size and (np.abs(arr[:, 0]).max() > 180 or np.abs(arr[:, 1]).max() > 90):
        raise ApiError(400, "invalid_input", "coordinates out of range", {"points": "range"})
    crs = _parse_crs(data.get("crs"))
    index = services.locator().index(session())
    if index is None:
        raise ApiError(404, "no_active_set", "no boundary set is active yet")
    ids, approx = index.locate_many(arr[:, 0], arr[:, 1], crs)
    code_of = dict(zip(index.ids.tolist(), index.codes, strict=True))
    return jsonify(
        {
            "boundary_set": {
                "id": index.boundary_set_id,
                "version": index.boundary_set_version,
            },
            "grid_ids": [int(i) if i >= 0 else None for i in ids.tolist()],
            "grid_codes": [code_of.get(int(i)) for i in ids.tolist()],
            "approximate": approx.tolist(),
        }
    )
