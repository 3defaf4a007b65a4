"""Read surveyors' boundary files (GeoJSON, Shapefile, zipped Shapefile) and validate grid sets.

Pure functions, no database. ``read_boundary_file`` turns a file into ``GridFeature`` objects and
refuses (``BoundaryFileError``) anything it cannot read without guessing. ``validate`` checks a
list of features - codes, hierarchy, geometry validity, overlaps, gaps - and returns a
``ValidationReport``: every problem names the grid code(s), how large it is (m²) and where
(a lon/lat to look at). Errors block committing; warnings are for a human to judge.

Geometry: topology (intersections, differences, unions) is computed on the lon/lat coordinates
as given, because that is how the data is stored and queried later (edges are straight in
lon/lat). Only areas are measured in metres: every feature is projected once (vectorised) to a
Lambert azimuthal equal-area projection centred on the data, and so is every piece a check finds
(an overlap, a gap, ...). Projecting whole features and intersecting them in metres would turn
every T-junction on a long east-west edge into a spurious sliver (parallels are curved there).
"""

from __future__ import annotations

import codecs
import io
import json
import math
import re
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapefile
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry import shape as geojson_shape
from shapely.geometry.base import BaseGeometry

from grids.features import CODE_RE, LEGACY_CODE_RE, GridFeature, Level, code_prefix_for

__all__ = [
    "KINDS",
    "BoundaryFileError",
    "Problem",
    "ValidationReport",
    "read_boundary_file",
    "validate",
]

#: Every kind of problem ``validate`` reports, in the order the summary lists them.
KINDS = (
    "invalid_geometry",
    "empty_geometry",
    "malformed_code",
    "legacy_code",
    "duplicate_code",
    "missing_parent",
    "level_mismatch",
    "code_prefix",
    "outside_parent",
    "overlap",
    "gap",
    "sliver",
)

#: Property names accepted for each field (matched case-insensitively, first match wins).
#: ``parent_cod`` is what exporting ``parent_code`` to a Shapefile (10-character names) leaves.
CODE_KEYS = ("code", "grid_code", "编码", "网格编码")
NAME_KEYS = ("name", "名称", "网格名称")
LEVEL_KEYS = ("level", "层级", "级别")
PARENT_KEYS = ("parent_code", "parent", "上级编码", "parent_cod")

#: Areas below this (m²) are floating-point noise, not slivers.
NOISE_M2 = 0.01

_POLYGONAL = ("Polygon", "MultiPolygon")
_SHP_POLYGON_TYPES = {shapefile.POLYGON, shapefile.POLYGONZ, shapefile.POLYGONM}
_REASON_POINT_RE = re.compile(r"\[\s*([-+\d.eE]+)[\s,]+([-+\d.eE]+)")
_MAX_NAMED = 6  # neighbours named in one message


class BoundaryFileError(Exception):
    """A boundary file that cannot be read: missing, unsupported, malformed or incomplete."""


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read_boundary_file(path: str | Path) -> list[GridFeature]:
    """Read grids from a .geojson/.json FeatureCollection, a .shp (with .dbf) or a zipped .shp."""
    p = Path(path)
    if not p.exists():
        raise BoundaryFileError(f"{p}: file not found")
    if not p.is_file():
        raise BoundaryFileError(f"{p}: not a file")
    suffix = p.suffix.lower()
    if suffix in (".geojson", ".json"):
        return _read_geojson_bytes(p.read_bytes(), str(p))
    if suffix == ".shp":
        return _read_shapefile_beside(p)
    if suffix == ".zip":
        return _read_zip(p)
    raise BoundaryFileError(
        f"{p}: unsupported file type {p.suffix or '(no extension)'!r}; expected .geojson/.json "
        "(a FeatureCollection), .shp (with its .dbf beside it) or .zip containing a shapefile"
    )


def _read_geojson_bytes(raw: bytes, source: str) -> list[GridFeature]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gbk")
        except UnicodeDecodeError:
            raise BoundaryFileError(f"{source}: text is neither UTF-8 nor GBK") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BoundaryFileError(
            f"{source}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        found = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise BoundaryFileError(f"{source}: expected a GeoJSON FeatureCollection, found {found!r}")
    raw_features = data.get("features")
    if not isinstance(raw_features, list):
        raise BoundaryFileError(f"{source}: the FeatureCollection has no 'features' list")
    if not raw_features:
        raise BoundaryFileError(f"{source}: the FeatureCollection contains no features")
    features = []
    for index, item in enumerate(raw_features):
        where = f"{source}: feature index {index}"
        if not isinstance(item, dict):
            raise BoundaryFileError(f"{where}: not a GeoJSON Feature object")
        props = item.get("properties") or {}
        if not isinstance(props, dict):
            raise BoundaryFileError(f"{where}: 'properties' is not an object")
        if "geometry" not in item:
            raise BoundaryFileError(f"{where}: has no 'geometry' member")
        features.append(_make_feature(props, item["geometry"], where))
    return features


def _read_shapefile_beside(shp: Path) -> list[GridFeature]:
    def sibling(ext: str) -> Path | None:
        for candidate in shp.parent.iterdir():
            if (
                candidate.suffix.lower() == ext
                and candidate.stem.casefold() == shp.stem.casefold()
                and candidate.is_file()
            ):
                return candidate
        return None

    dbf = sibling(".dbf")
    if dbf is None:
        raise BoundaryFileError(
            f"{shp}: no {shp.stem}.dbf beside it; the attributes (code, name, level) live there"
        )
    shx, cpg = sibling(".shx"), sibling(".cpg")
    return _read_shapefile_bytes(
        str(shp),
        shp.read_bytes(),
        shx.read_bytes() if shx else None,
        dbf.read_bytes(),
        cpg.read_bytes() if cpg else None,
    )


def _read_zip(path: Path) -> list[GridFeature]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise BoundaryFileError(f"{path}: not a readable zip archive") from None
    with archive:
        names = [
            n
            for n in archive.namelist()
            if not n.endswith("/")
            and not n.startswith("__MACOSX/")
            and not n.rsplit("/", 1)[-1].startswith("._")
        ]
        by_lower = {n.lower(): n for n in names}
        shps = [n for n in names if n.lower().endswith(".shp")]
        if not shps:
            jsons = [n for n in names if n.lower().endswith((".geojson", ".json"))]
            if len(jsons) == 1:
                return _read_geojson_bytes(archive.read(jsons[0]), f"{path}!{jsons[0]}")
            raise BoundaryFileError(f"{path}: the zip archive contains no .shp file")
        if len(shps) > 1:
            raise BoundaryFileError(
                f"{path}: the zip archive contains {len(shps)} shapefiles ({', '.join(shps)}); "
                "put exactly one in it"
            )
        stem = shps[0][:-4]
        source = f"{path}!{shps[0]}"

        def member(ext: str) -> bytes | None:
            name = by_lower.get((stem + ext).lower())
            return archive.read(name) if name else None

        dbf = member(".dbf")
        if dbf is None:
            raise BoundaryFileError(
                f"{source}: no {stem.rsplit('/', 1)[-1]}.dbf beside it in the zip archive; "
                "the attributes (code, name, level) live there"
            )
        return _read_shapefile_bytes(
            source, archive.read(shps[0]), member(".shx"), dbf, member(".cpg")
        )


def _cpg_encoding(cpg: bytes | None) -> str | None:
    """The Python codec a .cpg file names (``936`` and ``GB2312`` read as GBK), or None."""
    if not cpg:
        return None
    text = cpg.decode("ascii", "ignore").strip().lower()
    if not text:
        return None
    digits = re.sub(r"^(ansi|cp|windows)[ _-]?", "", text)
    if digits.isdigit():
        text = {"936": "gbk", "65001": "utf-8", "54936": "gb18030"}.get(digits, f"cp{digits}")
    if text in ("gb2312", "gb_2312", "euc-cn", "euc_cn"):
        text = "gbk"
    try:
        return codecs.lookup(text).name
    except LookupError:
        return None


def _read_shapefile_bytes(
    source: str, shp: bytes, shx: bytes | None, dbf: bytes, cpg: bytes | None
) -> list[GridFeature]:
    # Text is read as latin-1 (lossless, never fails) and decoded here: with the .cpg's encoding
    # if there is one, else UTF-8, else GBK - the first that decodes every name and value.
    try:
        reader = shapefile.Reader(
            shp=io.BytesIO(shp),
            shx=io.BytesIO(shx) if shx is not None else None,
            dbf=io.BytesIO(dbf),
            encoding="latin-1",
        )
        with reader:
            shape_type = reader.shapeType
            shape_type_name = reader.shapeTypeName
            field_names = [f[0] for f in reader.fields[1:]]
            shapes = list(reader.iterShapes())
            records = list(reader.iterRecords(deleted_as_None=True))
    except Exception as exc:  # pyshp raises assorted errors on corrupt files
        raise BoundaryFileError(f"{source}: not a readable shapefile ({exc})") from None
    if len(shapes) != len(records):
        raise BoundaryFileError(
            f"{source}: the .shp has {len(shapes)} shapes but the .dbf has {len(records)} records"
        )
    if not shapes:
        raise BoundaryFileError(f"{source}: the shapefile contains no features")
    if shape_type not in _SHP_POLYGON_TYPES and shape_type != shapefile.NULL:
        raise BoundaryFileError(
            f"{source}: feature index 0 is a {shape_type_name} shape; "
            "only polygon shapefiles are accepted"
        )

    candidates: list[str] = []
    for enc in (_cpg_encoding(cpg), "utf-8", "gbk"):
        if enc and codecs.lookup(enc).name not in candidates:
            candidates.append(codecs.lookup(enc).name)
    texts = [n.encode("latin-1") for n in field_names]
    texts += [
        v.encode("latin-1") for r in records if r is not None for v in r if isinstance(v, str)
    ]
    encoding = next((enc for enc in candidates if _decodes(texts, enc)), None)
    if encoding is None:
        raise BoundaryFileError(
            f"{source}: the .dbf text decodes with none of {', '.join(candidates)}; "
            "add a .cpg file naming its encoding"
        )

    def text(value: str) -> str:
        return value.encode("latin-1").decode(encoding)

    names = [text(n) for n in field_names]
    features = []
    for index, (shp_shape, record) in enumerate(zip(shapes, records, strict=True)):
        if record is None:  # deleted in the .dbf
            continue
        where = f"{source}: feature index {index}"
        props = {
            name: _plain(text(v) if isinstance(v, str) else v)
            for name, v in zip(names, record, strict=True)
        }
        if shp_shape.shapeType == shapefile.NULL:
            geometry: Any = None
        elif shp_shape.shapeType in _SHP_POLYGON_TYPES:
            geometry = shp_shape.__geo_interface__
        else:
            raise BoundaryFileError(
                f"{where} is a {shapefile.SHAPETYPE_LOOKUP.get(shp_shape.shapeType, '?')} "
                "shape; only polygons are accepted"
            )
        features.append(_make_feature(props, geometry, where))
    if not features:
        raise BoundaryFileError(f"{source}: every record of the shapefile is deleted")
    return features


def _decodes(texts: Iterable[bytes], encoding: str) -> bool:
    try:
        for raw in texts:
            raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _plain(value: Any) -> Any:
    """A JSON-friendly version of a shapefile value (dates become ISO strings)."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _pick(props: Mapping[str, Any], keys: Sequence[str]) -> tuple[str, Any] | None:
    """The first of ``keys`` present in ``props`` (case-insensitively) with a non-blank value."""
    folded: dict[str, str] = {}
    for key in props:
        folded.setdefault(str(key).strip().casefold(), key)
    for wanted in keys:
        key = folded.get(wanted.casefold())
        if key is not None:
            value = props[key]
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            return key, value
    return None


def _code_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _make_feature(props: Mapping[str, Any], geometry: Any, where: str) -> GridFeature:
    picked = {}
    for what, keys in (("code", CODE_KEYS), ("name", NAME_KEYS), ("level", LEVEL_KEYS)):
        hit = _pick(props, keys)
        if hit is None:
            raise BoundaryFileError(
                f"{where}: required property {what!r} is missing or empty "
                f"(accepted names: {', '.join(keys)})"
            )
        picked[what] = hit
    parent_hit = _pick(props, PARENT_KEYS)
    code = _code_text(picked["code"][1])
    where = f"{where} (code {code})"
    raw_level = picked["level"][1]
    if isinstance(raw_level, float) and raw_level.is_integer():
        raw_level = int(raw_level)
    try:
        level = Level.parse(raw_level)
    except (ValueError, KeyError):
        raise BoundaryFileError(
            f"{where}: level {raw_level!r} is not a grid level "
            "(expected 1-5 or a name such as 'street', 'community', '街道', '社区')"
        ) from None
    used = {picked["code"][0], picked["name"][0], picked["level"][0]}
    if parent_hit is not None:
        used.add(parent_hit[0])
    # Blank parent aliases are dropped too rather than carried as attributes.
    for key in props:
        if str(key).strip().casefold() in {k.casefold() for k in PARENT_KEYS}:
            used.add(key)
    return GridFeature(
        code=code,
        name=str(picked["name"][1]).strip(),
        level=level,
        parent_code=_code_text(parent_hit[1]) if parent_hit else None,
        geometry=_polygon_from_geojson(geometry, where),
        properties={k: v for k, v in props.items() if k not in used},
    )


def _polygon_from_geojson(geometry: Any, where: str) -> Polygon | MultiPolygon:
    if geometry is None:
        return Polygon()
    if not isinstance(geometry, dict):
        raise BoundaryFileError(f"{where}: 'geometry' is not a GeoJSON geometry object")
    gtype = geometry.get("type")
    if gtype not in _POLYGONAL:
        raise BoundaryFileError(
            f"{where}: geometry is a {gtype}; only Polygon and MultiPolygon boundaries are accepted"
        )
    try:
        geom = shapely.force_2d(geojson_shape(geometry))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise BoundaryFileError(f"{where}: unreadable {gtype} coordinates ({exc})") from None
    except shapely.errors.ShapelyError as exc:
        raise BoundaryFileError(f"{where}: unreadable {gtype} coordinates ({exc})") from None
    if not geom.is_empty:
        minx, miny, maxx, maxy = geom.bounds
        if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
            raise BoundaryFileError(f"{where}: coordinates are not finite numbers")
        if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
            raise BoundaryFileError(
                f"{where}: coordinates such as ({minx:.6g}, {miny:.6g}) are not "
                "longitude/latitude; "
                "the file seems to be in a projected coordinate system - export it as "
                "WGS-84 or CGCS2000 lon/lat (EPSG:4326 / EPSG:4490)"
            )
    return geom


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


@dataclass
class Problem:
    """One finding of ``validate``: what, which grid(s), how large, where."""

    severity: str  # "error" (blocks committing) or "warning"
    kind: str  # one of KINDS
    codes: list[str]
    message: str
    area_m2: float | None = None
    location: tuple[float, float] | None = None  # lon, lat
    repaired: Polygon | MultiPolygon | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (a repaired geometry is described, not included)."""
        return {
            "severity": self.severity,
            "kind": self.kind,
            "codes": list(self.codes),
            "message": self.message,
            "area_m2": None if self.area_m2 is None else round(self.area_m2, 2),
            "location": _json_location(self.location),
            "repaired": None
            if self.repaired is None
            else {
                "type": self.repaired.geom_type,
                "parts": int(shapely.get_num_geometries(self.repaired)),
            },
        }


@dataclass
class ValidationReport:
    """What ``validate`` found, and the features as they would be committed."""

    features: list[GridFeature]
    problems: list[Problem]
    #: Per feature: area (m²) and a lon/lat inside it (None if empty); filled by ``validate``.
    feature_stats: list[tuple[float, tuple[float, float] | None]] = field(
        default_factory=list, repr=False
    )

    @property
    def errors(self) -> list[Problem]:
        """Problems that block committing."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Problems for a human to judge; they do not block committing."""
        return [p for p in self.problems if p.severity != "error"]

    @property
    def ok(self) -> bool:
        """True when there are no errors."""
        return not self.errors

    def level_counts(self) -> dict[Level, int]:
        """Number of features per level, coarse to fine."""
        counts = Counter(f.level for f in self.features)
        return {level: counts[level] for level in sorted(counts)}

    def summary_lines(self) -> list[str]:
        """A human-readable report: counts per level, problems grouped by kind, the verdict."""
        counts = self.level_counts()
        lines = [
            f"{_plural(len(self.features), 'grid')} by level: "
            + ", ".join(f"{level.name.lower()} {n}" for level, n in counts.items())
        ]
        by_kind: dict[str, list[Problem]] = defaultdict(list)
        for problem in self.problems:
            by_kind[problem.kind].append(problem)
        order = list(KINDS) + sorted(k for k in by_kind if k not in KINDS)
        for kind in order:
            group = by_kind.get(kind)
            if not group:
                continue
            n_err = sum(p.severity == "error" for p in group)
            parts = []
            if n_err:
                parts.append(_plural(n_err, "error"))
            if len(group) - n_err:
                parts.append(_plural(len(group) - n_err, "warning"))
            lines.append(f"{kind.replace('_', ' ')}: {', '.join(parts)}")
            for p in sorted(group, key=lambda p: p.severity != "error"):
                lines.append(f"  {'ERROR  ' if p.severity == 'error' else 'warning'} {p.message}")
        n_warn = len(self.warnings)
        if n_warn:
            lines.append(f"{_plural(n_warn, 'warning')} (not blocking)")
        n_err = len(self.errors)
        lines.append(
            "OK: no errors"
            if not n_err
            else f"{_plural(n_err, 'error')}: nothing will be committed"
        )
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable report; geometries appear as area and location only."""
        stats = self.feature_stats
        if len(stats) != len(self.features):
            stats = _feature_stats([f.geometry for f in self.features])
        return {
            "ok": self.ok,
            "error_count": len(self.errors),
            "warning_count": len(self.warnings),
            "levels": {level.name.lower(): n for level, n in self.level_counts().items()},
            "features": [
                {
                    "code": f.code,
                    "name": f.name,
                    "level": int(f.level),
                    "parent_code": f.parent_code,
                    "area_m2": round(area, 1),
                    "location": _json_location(loc),
                }
                for f, (area, loc) in zip(self.features, stats, strict=True)
            ],
            "problems": [p.to_dict() for p in self.problems],
        }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _json_location(loc: tuple[float, float] | None) -> list[float] | None:
    return None if loc is None else [round(loc[0], 7), round(loc[1], 7)]


def _fmt_area(area: float) -> str:
    if area >= 1e6:
        return f"{area:,.0f} m² ({area / 1e6:,.2f} km²)"
    if area >= 100:
        return f"{area:,.0f} m²"
    if area >= 1:
        return f"{area:,.1f} m²"
    return f"{area:.2f} m²"


def _fmt_loc(loc: tuple[float, float] | None) -> str:
    return "" if loc is None else f" at {loc[0]:.6f}, {loc[1]:.6f}"


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _transformer(lon0: float, lat0: float) -> Transformer:
    """lon/lat (GRS80 ≈ WGS-84/CGCS2000 ellipsoid) → Lambert azimuthal equal-area metres."""
    return Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        f"+step +proj=laea +lat_0={lat0} +lon_0={lon0} +ellps=GRS80"
    )


def _area_function(geoms: Sequence[BaseGeometry | None]) -> Callable[[Any], np.ndarray]:
    """A vectorised ``geometries → areas in m²`` for an equal-area projection fitted to geoms."""
    present = [g for g in geoms if g is not None and not g.is_empty]
    if present:
        minx, miny, maxx, maxy = shapely.total_bounds(np.array(present, dtype=object))
        lon0, lat0 = round((minx + maxx) / 2, 2), round((miny + maxy) / 2, 2)
    else:
        lon0, lat0 = 0.0, 0.0
    transformer = _transformer(lon0, lat0)

    def forward(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    def areas(items: Any) -> np.ndarray:
        arr = np.asarray(items, dtype=object)
        if arr.size == 0:
            return np.zeros(0)
        arr = np.where(shapely.is_missing(arr), Polygon(), arr)
        return np.abs(shapely.area(shapely.transform(arr, forward)))

    return areas


def _feature_stats(
    geoms: Sequence[BaseGeometry | None],
) -> list[tuple[float, tuple[float, float] | None]]:
    area = _area_function(geoms)
    areas = area(list(geoms))
    return [
        (float(a), None if g is None or g.is_empty else _location(g))
        for g, a in zip(geoms, areas, strict=True)
    ]


def _location(geom: BaseGeometry) -> tuple[float, float] | None:
    """A representative lon/lat inside ``geom`` (of its largest part)."""
    if geom.is_empty:
        return None
    part = _largest_part(geom)
    try:
        pt = part.point_on_surface()
    except shapely.errors.ShapelyError:
        pt = part.centroid
    if pt.is_empty:
        pt = part.representative_point() if not part.is_empty else geom.centroid
    return (float(pt.x), float(pt.y))


def _largest_part(geom: BaseGeometry) -> BaseGeometry:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in _POLYGONAL and not p.is_empty]
    if not parts:
        return geom
    return max(parts, key=lambda p: p.area)


def _polygonal(geom: BaseGeometry | None) -> Polygon | MultiPolygon | None:
    """The polygonal parts of ``geom`` as one Polygon/MultiPolygon, or None if there are none."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in _POLYGONAL and geom.is_valid:
        return geom  # type: ignore[return-value]
    parts = []
    for part in shapely.get_parts(geom):
        if part.geom_type in _POLYGONAL and not part.is_empty:
            parts.append(part)
        elif part.geom_type == "GeometryCollection":
            sub = _polygonal(part)
            if sub is not None:
                parts.append(sub)
    if not parts:
        return None
    merged = shapely.union_all(parts) if len(parts) > 1 else parts[0]
    if merged.geom_type not in _POLYGONAL:
        return _polygonal(merged) if merged.geom_type == "GeometryCollection" else None
    return merged if not merged.is_empty else None  # type: ignore[return-value]


def _pieces(geom: BaseGeometry) -> list[Polygon]:
    """The polygons in ``geom`` (a difference or intersection result), lines and points dropped."""
    out = []
    for part in shapely.get_parts(geom):
        if part.geom_type == "Polygon" and not part.is_empty:
            out.append(part)
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            out.extend(_pieces(part))
    return out


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def validate(
    features: list[GridFeature],
    *,
    repair: bool = False,
    overlap_tolerance_m2: float = 1.0,
    sliver_max_m2: float = 50.0,
) -> ValidationReport:
    """Check codes, hierarchy and geometry of ``features``; never modifies the inputs."""
    return _Validator(features, repair, overlap_tolerance_m2, sliver_max_m2).run()


class _Validator:
    """The state of one ``validate`` run (features copied, geometries and areas cached)."""

    def __init__(
        self, features: list[GridFeature], repair: bool, tolerance: float, sliver_max: float
    ) -> None:
        self.feats = [replace(f, properties=dict(f.properties)) for f in features]
        self.repair = repair
        self.tol = tolerance
        self.sliver_max = sliver_max
        self.problems: list[Problem] = []
        #: Geometry used by the checks (original, or repaired even when repair=False); None if
        #: there is nothing to check (empty or unrepairable).
        self.work: list[Polygon | MultiPolygon | None] = []
        self.areas: np.ndarray = np.zeros(0)
        self.area: Callable[[Any], np.ndarray] = _area_function([])
        self.reported_gaps: list[Polygon] = []

    # -- helpers ------------------------------------------------------------------------------

    def add(
        self,
        severity: str,
        kind: str,
        codes: list[str],
        message: str,
        area_m2: float | None = None,
        location: tuple[float, float] | None = None,
        repaired: Polygon | MultiPolygon | None = None,
    ) -> None:
        self.problems.append(Problem(severity, kind, codes, message, area_m2, location, repaired))

    def label(self, i: int) -> str:
        f = self.feats[i]
        return f"{f.code} ({f.name})" if f.name else f.code

    def labels(self, indices: Sequence[int]) -> str:
        names = [self.label(i) for i in indices[:_MAX_NAMED]]
        if len(indices) > _MAX_NAMED:
            names.append(f"{len(indices) - _MAX_NAMED} more")
        if len(names) <= 2:
            return " and ".join(names)
        return ", ".join(names[:-1]) + " and " + names[-1]

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> ValidationReport:
        self.check_codes()
        self.check_geometries()
        self.check_hierarchy()
        self.check_overlaps()
        self.check_finest_holes()
        stats = [
            (float(a), None if g is None else _location(g))
            for g, a in zip(self.work, self.areas, strict=True)
        ]
        # Code and hierarchy problems point at (the first of) the grid(s) they name.
        where: dict[str, tuple[float, float] | None] = {}
        for f, (_area, loc) in zip(self.feats, stats, strict=True):
            where.setdefault(f.code, loc)
        for problem in self.problems:
            if problem.location is None and problem.codes:
                problem.location = where.get(problem.codes[0])
        return ValidationReport(self.feats, self.problems, stats)

    def check_codes(self) -> None:
        for i, f in enumerate(self.feats):
            code = f.code.strip()
            parent = f.parent_code.strip() if f.parent_code else None
            if parent and LEGACY_CODE_RE.match(parent):
                parent = _upgrade_code(parent)
            if LEGACY_CODE_RE.match(code):
                new = _upgrade_code(code)
                self.add(
                    "warning",
                    "legacy_code",
                    [new],
                    f"Legacy 14-digit code {code} of {f.name or 'a grid'} converted to {new} "
                    "(sequence padded to 3 digits; parent codes converted the same way).",
                )
                code = new
            elif not CODE_RE.match(code):
                self.add(
                    "error",
                    "malformed_code",
                    [code],
                    f"Grid code {code!r} ({f.name or 'no name'}) is malformed: expected 15 digits "
                    "(6 administrative + 3 street + 3 community + 3 sequence).",
                )
            self.feats[i] = replace(f, code=code, parent_code=parent or None)
        seen: dict[str, list[int]] = defaultdict(list)
        for i, f in enumerate(self.feats):
            seen[f.code].append(i)
        for code, indices in seen.items():
            if len(indices) > 1:
                who = "; ".join(
                    f"feature index {i} {self.feats[i].name!r} ({self.feats[i].level.name.lower()})"
                    for i in indices
                )
                self.add(
                    "error",
                    "duplicate_code",
                    [code],
                    f"Code {code} is used by {len(indices)} grids: {who}.",
                )

    def check_geometries(self) -> None:
        originals = [f.geometry for f in self.feats]
        self.area = _area_function(originals)
        work: list[Polygon | MultiPolygon | None] = []
        invalid: list[tuple[int, str, Polygon | MultiPolygon | None]] = []
        for i, geom in enumerate(originals):
            if geom is None or geom.is_empty:
                self.add(
                    "error",
                    "empty_geometry",
                    [self.feats[i].code],
                    f"Grid {self.label(i)} has an empty geometry.",
                )
                work.append(None)
                continue
            if geom.geom_type not in _POLYGONAL:
                reason = f"a {geom.geom_type} is not a polygon"
            else:
                reason = shapely.is_valid_reason(geom)
                if reason == "Valid Geometry":
                    work.append(geom)
                    continue
            fixed = _polygonal(shapely.make_valid(geom))
            invalid.append((i, reason, fixed))
            work.append(fixed)
        self.work = work
        self.areas = self.area(work)
        if not invalid:
            return
        drawn = self.area([originals[i] for i, _, _ in invalid])
        for (i, reason, fixed), as_drawn in zip(invalid, drawn, strict=True):
            f = self.feats[i]
            loc = _reason_location(reason) or _location(fixed or f.geometry)
            reason = reason.split("[")[0].strip()  # the point is given as the location
            if fixed is None:
                self.add(
                    "error",
                    "invalid_geometry",
                    [f.code],
                    f"Grid {self.label(i)} has an invalid geometry ({reason}){_fmt_loc(loc)} "
                    "that cannot be repaired: no area remains.",
                    area_m2=0.0,
                    location=loc,
                )
                continue
            new_area = float(self.areas[i])
            parts = int(shapely.get_num_geometries(fixed))
            what = (
                f"a {fixed.geom_type} of {_plural(parts, 'part')} with area {_fmt_area(new_area)}"
            )
            change = (
                f"(as drawn it computes to {_fmt_area(float(as_drawn))}, "
                f"change {'+' if new_area >= as_drawn else '-'}"
                f"{_fmt_area(abs(new_area - float(as_drawn)))})"
            )
            if self.repair:
                self.feats[i] = replace(f, geometry=fixed)
                self.add(
                    "warning",
                    "invalid_geometry",
                    [f.code],
                    f"Repaired the invalid geometry of grid {self.label(i)} ({reason})"
                    f"{_fmt_loc(loc)}: it is now {what} {change}.",
                    area_m2=new_area,
                    location=loc,
                    repaired=fixed,
                )
            else:
                self.add(
                    "error",
                    "invalid_geometry",
                    [f.code],
                    f"Grid {self.label(i)} has an invalid geometry ({reason}){_fmt_loc(loc)}; "
                    f"the repair offered is {what} {change}. Re-run with repair to accept it.",
                    area_m2=new_area,
                    location=loc,
                    repaired=fixed,
                )

    def check_hierarchy(self) -> None:
        feats = self.feats
        if not feats:
            return
        by_code: dict[str, int] = {}
        for i, f in enumerate(feats):
            by_code.setdefault(f.code, i)
        top = min(f.level for f in feats)
        children: dict[int, list[int]] = defaultdict(list)
        pairs: list[tuple[int, int]] = []
        for i, f in enumerate(feats):
            if f.parent_code is None:
                if f.level != Level.CITY and f.level != top:
                    self.add(
                        "error",
                        "missing_parent",
                        [f.code],
                        f"Grid {self.label(i)} is a {f.level.name.lower()} grid without a "
                        f"parent code; only the top level in the file ({top.name.lower()}) "
                        "may omit it.",
                        location=_location(self.work[i]) if self.work[i] else None,
                    )
                continue
            j = by_code.get(f.parent_code)
            if j is None:
                if f.level != Level.CITY:
                    self.add(
                        "error",
                        "missing_parent",
                        [f.code, f.parent_code],
                        f"Grid {self.label(i)} names parent {f.parent_code}, "
                        "which is not in the file.",
                        location=_location(self.work[i]) if self.work[i] else None,
                    )
                continue
            parent = feats[j]
            if j == i:
                self.add(
                    "error",
                    "level_mismatch",
                    [f.code],
                    f"Grid {self.label(i)} names itself as its parent.",
                )
                continue
            if f.level != parent.level + 1:
                self.add(
                    "error",
                    "level_mismatch",
                    [f.code, parent.code],
                    f"Grid {self.label(i)} is level {int(f.level)} ({f.level.name.lower()}) but "
                    f"its parent {self.label(j)} is level {int(parent.level)} "
                    f"({parent.level.name.lower()}); expected level {int(parent.level) + 1}.",
                )
            if CODE_RE.match(f.code) and CODE_RE.match(parent.code):
                prefix = code_prefix_for(parent.level, parent.code)
                if not f.code.startswith(prefix):
                    self.add(
                        "error",
                        "code_prefix",
                        [f.code, parent.code],
                        f"Grid code {f.code} ({f.name}) does not start with {prefix}, the prefix "
                        f"of its parent {self.label(j)} ({parent.level.name.lower()}).",
                    )
            children[j].append(i)
            if self.work[i] is not None and self.work[j] is not None:
                pairs.append((i, j))
        self.check_outside(pairs)
        for j, kids in children.items():
            self.check_parent_gaps(j, kids)

    def check_outside(self, pairs: list[tuple[int, int]]) -> None:
        if not pairs:
            return
        kids = np.array([self.work[i] for i, _ in pairs], dtype=object)
        parents = np.array([self.work[j] for _, j in pairs], dtype=object)
        # Only children not already covered by their parent need a difference.
        inside = shapely.covers(parents, kids)
        todo = np.flatnonzero(~inside)
        if todo.size == 0:
            return
        outside = _robust(shapely.difference, kids[todo], parents[todo])
        areas = self.area(outside)
        for k, geom, area in zip(todo, outside, areas, strict=True):
            i, j = pairs[k]
            if area <= NOISE_M2:
                continue
            loc = _location(geom)
            share = 100.0 * area / self.areas[i] if self.areas[i] > 0 else 100.0
            if area > self.tol:
                self.add(
                    "error",
                    "outside_parent",
                    [self.feats[i].code, self.feats[j].code],
                    f"{_fmt_area(area)} of grid {self.label(i)} ({share:.1f}% of it) lies "
                    f"outside its parent {self.label(j)}{_fmt_loc(loc)}.",
                    area_m2=float(area),
                    location=loc,
                )
            else:
                self.add(
                    "warning",
                    "sliver",
                    [self.feats[i].code, self.feats[j].code],
                    f"Tiny sliver of {_fmt_area(area)} of grid {self.label(i)} lies outside its "
                    f"parent {self.label(j)}{_fmt_loc(loc)}, likely a digitising error.",
                    area_m2=float(area),
                    location=loc,
                )

    def check_parent_gaps(self, j: int, kids: list[int]) -> None:
        pgeom = self.work[j]
        kids = [k for k in kids if self.work[k] is not None]
        if pgeom is None or not kids:
            return
        kid_geoms = [self.work[k] for k in kids]
        union = _robust(shapely.union_all, kid_geoms)
        if union.covers(pgeom):  # the usual case, and much cheaper than the difference
            return
        rest = _robust(shapely.difference, pgeom, union)
        pieces = _pieces(rest)
        if not pieces:
            return
        areas = self.area(pieces)
        big = [(p, float(a)) for p, a in zip(pieces, areas, strict=True) if a > self.tol]
        if not big:
            return
        tree = shapely.STRtree(kid_geoms)
        parent = self.feats[j]
        for piece, area in big:
            near = sorted(tree.query(piece, predicate="dwithin", distance=1e-8).tolist())
            neighbours = [kids[n] for n in near]
            codes = [parent.code] + [self.feats[n].code for n in neighbours]
            loc = _location(piece)
            self.reported_gaps.append(piece)
            if area <= self.sliver_max:
                if len(neighbours) >= 2:
                    between = f"between {self.labels(neighbours)}"
                elif neighbours:
                    between = f"between {self.label(neighbours[0])} and the edge of its parent"
                else:
                    between = "touching none of its children"
                self.add(
                    "warning",
                    "sliver",
                    codes,
                    f"Tiny gap of {_fmt_area(area)} {between} inside {self.label(j)}"
                    f"{_fmt_loc(loc)}, likely a digitising error.",
                    area_m2=area,
                    location=loc,
                )
            else:
                bordering = f" (bordering {self.labels(neighbours)})" if neighbours else ""
                self.add(
                    "warning",
                    "gap",
                    codes,
                    f"Gap of {_fmt_area(area)} inside {parent.level.name.lower()} {self.label(j)} "
                    f"is not covered by any of its children{bordering}{_fmt_loc(loc)}; fine if "
                    "it is e.g. a river or a park left out on purpose, otherwise a grid is "
                    "missing.",
                    area_m2=area,
                    location=loc,
                )

    def level_indices(self) -> dict[Level, list[int]]:
        out: dict[Level, list[int]] = defaultdict(list)
        for i, f in enumerate(self.feats):
            if self.work[i] is not None:
                out[f.level].append(i)
        return out

    def check_overlaps(self) -> None:
        for _level, idx in sorted(self.level_indices().items()):
            if len(idx) < 2:
                continue
            geoms = np.array([self.work[i] for i in idx], dtype=object)
            tree = shapely.STRtree(geoms)
            a, b = tree.query(geoms, predicate="intersects")
            keep = a < b
            a, b = a[keep], b[keep]
            if a.size == 0:
                continue
            # Neighbours that merely touch share a boundary: skip them before intersecting.
            interiors = shapely.relate_pattern(geoms[a], geoms[b], "T********")
            a, b = a[interiors], b[interiors]
            if a.size == 0:
                continue
            inter = _robust(shapely.intersection, geoms[a], geoms[b])
            areas = self.area(inter)
            for ia, ib, geom, area in zip(a, b, inter, areas, strict=True):
                if area <= NOISE_M2:
                    continue
                i, j = idx[ia], idx[ib]
                loc = _location(geom)
                codes = [self.feats[i].code, self.feats[j].code]
                if area > self.tol:
                    self.add(
                        "error",
                        "overlap",
                        codes,
                        f"Grids {self.label(i)} and {self.label(j)} overlap by {_fmt_area(area)}"
                        f"{_fmt_loc(loc)}.",
                        area_m2=float(area),
                        location=loc,
                    )
                else:
                    self.add(
                        "warning",
                        "sliver",
                        codes,
                        f"Tiny overlap of {_fmt_area(area)} between {self.label(i)} and "
                        f"{self.label(j)}{_fmt_loc(loc)}, likely a digitising error.",
                        area_m2=float(area),
                        location=loc,
                    )

    def check_finest_holes(self) -> None:
        by_level = self.level_indices()
        if not by_level:
            return
        finest = max(by_level)
        idx = by_level[finest]
        geoms = [self.work[i] for i in idx]
        union = _robust(shapely.union_all, geoms)
        holes = [Polygon(ring) for poly in _pieces(union) for ring in poly.interiors]
        if not holes:
            return
        areas = self.area(holes)
        tree = shapely.STRtree(geoms)
        known = shapely.STRtree(self.reported_gaps) if self.reported_gaps else None
        level_name = finest.name.lower()
        for hole, area in zip(holes, areas, strict=True):
            area = float(area)
            if area <= self.tol:
                continue
            if known is not None:
                hits = known.query(hole, predicate="intersects")
                seen = sum(hole.intersection(self.reported_gaps[h]).area for h in hits)
                if seen > 0.5 * hole.area:
                    continue  # already reported as a gap inside a parent
            neighbours = [
                idx[n]
                for n in sorted(tree.query(hole, predicate="dwithin", distance=1e-8).tolist())
            ]
            codes = [self.feats[n].code for n in neighbours]
            loc = _location(hole)
            if area <= self.sliver_max:
                self.add(
                    "warning",
                    "sliver",
                    codes,
                    f"Tiny hole of {_fmt_area(area)} between {self.labels(neighbours)}"
                    f"{_fmt_loc(loc)} is covered by no {level_name} grid, likely a digitising "
                    "error.",
                    area_m2=area,
                    location=loc,
                )
            else:
                self.add(
                    "warning",
                    "gap",
                    codes,
                    f"Hole of {_fmt_area(area)} surrounded by {self.labels(neighbours)}"
                    f"{_fmt_loc(loc)} is covered by no {level_name} grid; fine if it is e.g. a "
                    "river or a lake, otherwise a grid is missing.",
                    area_m2=area,
                    location=loc,
                )


def _robust(op: Callable[..., Any], *args: Any) -> Any:
    """Run a shapely overlay; on a rare GEOS topology failure, retry snap-rounded to ~0.1 mm."""
    try:
        return op(*args)
    except shapely.errors.GEOSException:
        return op(*args, grid_size=1e-9)


def _upgrade_code(code: str) -> str:
    """A legacy 14-digit code as 15 digits: the 2-digit sequence padded to 3."""
    return code[:12] + "0" + code[12:]


def _reason_location(reason: str) -> tuple[float, float] | None:
    match = _REASON_POINT_RE.search(reason)
    if not match:
        return None
    try:
        return (float(match.group(1)), float(match.group(2)))
    except ValueError:
        return None
