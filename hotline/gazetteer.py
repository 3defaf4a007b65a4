"""The local gazetteer: named places of the city for the desk's "where" box.

Entries are districts, streets and communities (from the active boundary set), roads and
landmarks, each with a WGS-84 point. The demo generator derives them from the demo city;
administrators import a real list from CSV or GeoJSON. The search answers as the operator
types: every word must appear in the name, an alias or the place it belongs to.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from dispatch.errors import InvalidInput
from grids import services as grid_services
from grids.crs import CRS, to_wgs84
from grids.models import Grid
from hotline.models import GazetteerEntry, GazetteerKind

MAX_SUGGESTIONS = 10
#: Specific places first: a landmark or road tells more than a whole district.
_KIND_ORDER = {
    GazetteerKind.LANDMARK: 0,
    GazetteerKind.ROAD: 1,
    GazetteerKind.COMMUNITY: 2,
    GazetteerKind.STREET: 3,
    GazetteerKind.DISTRICT: 4,
}


def entry_json(entry: Any) -> dict[str, Any]:
    """An entry (model or row) as the desk's suggestions list shows it."""
    return {
        "id": entry.id,
        "kind": entry.kind,
        "name": entry.name,
        "parent": entry.parent_name,
        "aliases": entry.aliases,
        "lng": round(entry.lng, 7),
        "lat": round(entry.lat, 7),
    }


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(session: Session, query: str, limit: int = MAX_SUGGESTIONS) -> list[Any]:
    """Places (plain rows) matching every word of ``query``: exact names first, then prefixes,
    then specific kinds (landmarks, roads) before areas, then shorter names."""
    words = query.split()[:5]
    if not words:
        return []
    g = GazetteerEntry.__table__.c
    text = g.name + " " + g.aliases + " " + g.parent_name
    conds = [text.like(_like(w), escape="\\") for w in words]
    rows = session.execute(
        select(g.id, g.kind, g.name, g.aliases, g.parent_name, g.lng, g.lat)
        .where(and_(*conds))
        .order_by(func.length(g.name), g.id)
        .limit(200)
    ).all()
    first = words[0]

    def rank(e: Any) -> tuple[int, int, int, int]:
        exact = 0 if e.name == first or first in e.aliases.split() else 1
        prefix = 0 if e.name.startswith(first) else 1
        return (exact, prefix, _KIND_ORDER.get(GazetteerKind(e.kind), 9), len(e.name))

    return sorted(rows, key=rank)[: max(1, min(limit, 50))]


# ---------------------------------------------------------------------------- import
@dataclass
class ImportReport:
    """What an import read, stored and refused (line numbers are 1-based, header = line 1)."""

    added: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"added": self.added, "updated": self.updated, "errors": self.errors[:100]}


@dataclass(frozen=True)
class _Row:
    where: str
    kind: str
    name: str
    parent: str
    aliases: str
    lng: float
    lat: float


def _check_row(where: str, values: dict[str, Any], crs: CRS, report: ImportReport) -> _Row | None:
    name = str(values.get("name") or "").strip()
    kind = str(values.get("kind") or "landmark").strip().lower()
    if not name or len(name) > 200:
        report.errors.append(f"{where}: a name of 1-200 characters is required")
        return None
    if kind not in {str(k) for k in GazetteerKind}:
        report.errors.append(f"{where}: unknown kind {kind!r}")
        return None
    try:
        lng, lat = float(values.get("lng")), float(values.get("lat"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        report.errors.append(f"{where}: lng and lat must be numbers")
        return None
    if not (math.isfinite(lng) and math.isfinite(lat) and -180 <= lng <= 180 and -90 <= lat <= 90):
        report.errors.append(f"{where}: coordinates out of range")
        return None
    lng, lat = to_wgs84(lng, lat, crs)
    return _Row(
        where,
        kind,
        name,
        str(values.get("parent") or "").strip()[:200],
        " ".join(str(values.get("aliases") or "").split())[:500],
        lng,
        lat,
    )


def _rows_from_csv(text: str, crs: CRS, report: ImportReport) -> list[_Row]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = {h.strip().lower() for h in reader.fieldnames or []}
    if not {"name", "lng", "lat"} <= header:
        raise InvalidInput(
            "the CSV needs the columns name, lng, lat (and optionally kind, parent, aliases)",
            {"file": "columns"},
        )
    rows = []
    try:
        for line, raw in enumerate(reader, start=2):
            values = {(k or "").strip().lower(): v for k, v in raw.items()}
            row = _check_row(f"line {line}", values, crs, report)
            if row:
                rows.append(row)
    except csv.Error as exc:
        raise InvalidInput(f"the CSV cannot be read: {exc}", {"file": "csv"}) from None
    return rows


def _rows_from_geojson(text: str, crs: CRS, report: ImportReport) -> list[_Row]:
    try:
        doc = json.loads(text)
    except ValueError:
        raise InvalidInput("the file is not valid JSON", {"file": "json"}) from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise InvalidInput("a GeoJSON FeatureCollection is needed", {"file": "geojson"})
    rows = []
    for i, feat in enumerate(features, start=1):
        where = f"feature {i}"
        if not isinstance(feat, dict) or not isinstance(feat.get("properties") or {}, dict):
            report.errors.append(f"{where}: not a GeoJSON feature")
            continue
        try:
            geom: BaseGeometry = shape(feat["geometry"])
            point = geom if isinstance(geom, Point) else geom.representative_point()
        except Exception:
            report.errors.append(f"{where}: no usable geometry")
            continue
        props = feat.get("properties") or {}
        values = {**props, "lng": point.x, "lat": point.y}
        row = _check_row(where, values, crs, report)
        if row:
            rows.append(row)
    return rows


def import_places(
    session: Session, text: str, *, fmt: str, crs: str = "wgs84", source: str = "import"
) -> ImportReport:
    """Add (or update, matched on kind + name + parent) the places of a CSV or GeoJSON text.

    Rows with errors are reported and skipped; nothing is deleted. Flushes; the caller commits.
    """
    try:
        crs_ = CRS.parse(crs or "wgs84")
    except ValueError as exc:
        raise InvalidInput(str(exc), {"crs": "unknown coordinate system"}) from None
    report = ImportReport()
    if fmt == "csv":
        rows = _rows_from_csv(text, crs_, report)
    elif fmt in ("geojson", "json"):
        rows = _rows_from_geojson(text, crs_, report)
    else:
        raise InvalidInput("format must be csv or geojson", {"format": "unknown"})
    existing = {(e.kind, e.name, e.parent_name): e for e in session.scalars(select(GazetteerEntry))}
    for row in rows:
        key = (row.kind, row.name, row.parent)
        entry = existing.get(key)
        if entry is None:
            entry = GazetteerEntry(kind=row.kind, name=row.name, parent_name=row.parent)
            session.add(entry)
            existing[key] = entry
            report.added += 1
        else:
            report.updated += 1
        entry.aliases = row.aliases
        entry.lng, entry.lat = row.lng, row.lat
        entry.source = source[:100]
    session.flush()
    return report


# ---------------------------------------------------------------------------- demo generator
_ROAD_SUFFIXES = ("路", "大道", "街", "北路", "南路", "东路", "西路")
_LANDMARK_KINDS = (
    "小学",
    "中学",
    "菜市场",
    "公园",
    "社区卫生服务中心",
    "派出所",
    "超市",
    "广场",
    "公交站",
    "大厦",
)


def _stem(name: str) -> str:
    for suffix in ("社区", "街道", "乡", "区"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    for suffix in ("新村", "路", "东", "西", "南", "北"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            name = name[: -len(suffix)]
    return name


def _points_inside(geom: BaseGeometry, rng: np.random.Generator, n: int) -> list[Point]:
    """``n`` points drawn inside ``geom`` (rejection from its bounding box; deterministic)."""
    from shapely.prepared import prep

    minx, miny, maxx, maxy = geom.bounds
    prepared = prep(geom)
    out: list[Point] = []
    for _ in range(200):
        xs = rng.uniform(minx, maxx, 64)
        ys = rng.uniform(miny, maxy, 64)
        for x, y in zip(xs, ys, strict=True):
            p = Point(float(x), float(y))
            if prepared.contains(p):
                out.append(p)
                if len(out) == n:
                    return out
    return out + [geom.representative_point()] * (n - len(out))


def demo_places(session: Session, seed: int = 12345) -> list[dict[str, Any]]:
    """The demo city's gazetteer: its districts, streets and communities (from the active
    boundary set) plus generated roads and landmarks inside them. Deterministic."""
    bset = grid_services.active_set(session)
    if bset is None:
        return []
    grids = session.scalars(
        select(Grid)
        .where(Grid.boundary_set_id == bset.id, Grid.level.in_((2, 3, 4)))
        .order_by(Grid.code)
    ).all()
    by_id = {g.id: g for g in grids}
    rng = np.random.default_rng(seed)
    kinds = {2: GazetteerKind.DISTRICT, 3: GazetteerKind.STREET, 4: GazetteerKind.COMMUNITY}
    places: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()

    def add(kind: str, name: str, parent: str, p: Point, aliases: str = "") -> None:
        key = (kind, name, parent)
        if key in seen:
            return
        seen.add(key)
        places.append(
            {
                "kind": kind,
                "name": name,
                "parent": parent,
                "aliases": aliases,
                "lng": round(p.x, 7),
                "lat": round(p.y, 7),
            }
        )

    for g in grids:
        parent = by_id.get(g.parent_id) if g.parent_id else None
        grandparent = by_id.get(parent.parent_id) if parent and parent.parent_id else None
        where = " ".join(x.name for x in (grandparent, parent) if x is not None)
        point = g.geom.representative_point()
        alias = (g.attributes or {}).get("full_name", "") if g.level == 2 else ""
        add(kinds[g.level], g.name, where, point, alias)
        if g.level == 3:  # two roads per street
            stem = _stem(g.name)
            for i, p in enumerate(_points_inside(g.geom, rng, 2)):
                suffix = _ROAD_SUFFIXES[(len(places) + i) % len(_ROAD_SUFFIXES)]
                add(GazetteerKind.ROAD, f"{stem}{suffix}", where + " " + g.name, p)
        if g.level == 4:  # two landmarks per community
            stem = _stem(g.name)
            for i, p in enumerate(_points_inside(g.geom, rng, 2)):
                kind = _LANDMARK_KINDS[(g.id * 3 + i * 7) % len(_LANDMARK_KINDS)]
                add(GazetteerKind.LANDMARK, f"{stem}{kind}", where + " " + g.name, p)
    return places


def load_demo_gazetteer(session: Session) -> int:
    """Replace the demo entries with the demo city's places; return how many were stored."""
    session.execute(delete(GazetteerEntry).where(GazetteerEntry.source == "demo"))
    places = demo_places(session)
    existing = {(e.kind, e.name, e.parent_name) for e in session.scalars(select(GazetteerEntry))}
    rows = [
        {
            "kind": p["kind"],
            "name": p["name"],
            "parent_name": p["parent"],
            "aliases": p["aliases"],
            "lng": p["lng"],
            "lat": p["lat"],
            "source": "demo",
        }
        for p in places
        if (p["kind"], p["name"], p["parent"]) not in existing
    ]
    if rows:
        session.execute(GazetteerEntry.__table__.insert(), rows)
    session.flush()
    return len(rows)


def has_entries(session: Session) -> bool:
    """Whether the gazetteer holds anything (the demo start loads it once)."""
    return session.scalar(select(GazetteerEntry.id).limit(1)) is not None
