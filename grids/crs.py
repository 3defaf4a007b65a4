"""Coordinate-system conversions for the geographic coordinates used in China.

Points reach the system in four flavours: WGS-84 (browsers' GPS), CGCS2000 (天地图 and the
national survey; within a metre of WGS-84, so treated as identical), GCJ-02 (the officially
obfuscated "Mars" coordinates of AutoNavi/高德 and Tencent) and BD-09 (Baidu's extra offset on top
of GCJ-02).  Everything is stored in WGS-84; this module converts to and from it, one point at a
time (pure ``math``, for request handling) or a whole numpy array at once (for imports).

The forward formulas are the public GCJ-02 and BD-09 ones.  Their inverses have no closed form, so
we start from the usual one-step approximation and refine by fixed-point iteration
(``x <- x - (forward(x) - target)``) until a step is below 1e-10 degrees, which makes a round trip
exact to well under a millimetre (the one-step inverse alone errs by up to a few metres).

Outside the rough box returned by :func:`out_of_china` GCJ-02 applies no offset (GCJ-02 equals
WGS-84 there).  BD-09 still applies its own (~1 km) offset to the GCJ-02 value everywhere, as the
public formula and other implementations such as ``prcoords`` do.  A GCJ-02 point within a few
hundred metres of the box edge is ambiguous; the inverse decides by where the *input* lies.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = [
    "CRS",
    "distance_m",
    "from_wgs84",
    "from_wgs84_many",
    "out_of_china",
    "to_wgs84",
    "to_wgs84_many",
]


class CRS(enum.StrEnum):
    """A coordinate system used in China; a ``str`` whose value is the canonical lowercase name."""

    WGS84 = "wgs84"  # browsers' GPS
    CGCS2000 = "cgcs2000"  # 天地图 / national survey; within 1 m of WGS-84: treated as identical
    GCJ02 = "gcj02"  # AutoNavi (高德) / Tencent
    BD09 = "bd09"  # Baidu

    @classmethod
    def parse(cls, raw: str) -> CRS:
        """Parse a name or alias, case-insensitively (``"EPSG:4326"``, ``"gaode"``, ``"baidu"``)."""
        if isinstance(raw, CRS):
            return raw
        key = str(raw).strip().lower().replace("_", "-")
        try:
            return _ALIASES[key]
        except KeyError:
            accepted = ", ".join(sorted(_ALIASES))
            raise ValueError(
                f"unknown coordinate system {raw!r}; accepted names: {accepted}"
            ) from None


_ALIASES: dict[str, CRS] = {
    **dict.fromkeys(("wgs84", "wgs-84", "epsg:4326", "4326", "gps"), CRS.WGS84),
    **dict.fromkeys(("cgcs2000", "epsg:4490", "4490"), CRS.CGCS2000),
    **dict.fromkeys(("gcj02", "gcj-02", "amap", "gaode", "tencent", "mars"), CRS.GCJ02),
    **dict.fromkeys(("bd09", "bd-09", "baidu", "bd09ll"), CRS.BD09),
}

# --- constants of the public formulas -----------------------------------------------------------

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as GCJ-02 uses it
_EE = 0.00669342162296594323  # its first eccentricity squared
_PI = math.pi
_X_PI = math.pi * 3000.0 / 180.0
_RAD = math.pi / 180.0
_TWO_THIRDS = 2.0 / 3.0
_DEG_LAT = _A * (1.0 - _EE) * _PI / 180.0  # metres per degree of latitude, times magic**1.5
_DEG_LNG = _A * _PI / 180.0  # metres per degree of longitude, times sqrt(magic) / cos(lat)
_BD_DLNG = 0.0065
_BD_DLAT = 0.006

_TOL = 1e-10  # degrees: stop refining an inverse once a step is smaller than this (~0.01 mm)
_MAX_ITER = 10  # steps; each gains ~3 orders of magnitude, so 3-4 are normally enough

_EARTH_R = 6371008.8  # mean Earth radius, metres


def out_of_china(lng: float, lat: float) -> bool:
    """True outside the rough box around China where GCJ-02 applies no offset."""
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def distance_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Great-circle (haversine) distance in metres on a 6371008.8 m sphere."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2.0) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2.0) ** 2
    )
    return 2.0 * _EARTH_R * math.asin(math.sqrt(min(1.0, h)))


# --- scalar kernels (pure math) -----------------------------------------------------------------


def _gcj_offset(
    lng: float,
    lat: float,
    sin: Callable[[float], float] = math.sin,
    cos: Callable[[float], float] = math.cos,
    sqrt: Callable[[float], float] = math.sqrt,
) -> tuple[float, float]:
    """GCJ-02 minus WGS-84 at WGS-84 point (lng, lat), in degrees, without the China check."""
    # (math functions are bound as defaults: local lookups make this hot path ~15 % faster)
    x = lng - 105.0
    y = lat - 35.0
    xp = x * _PI
    yp = y * _PI
    shared = 20.0 * sin(6.0 * xp) + 20.0 * sin(2.0 * xp)
    sqrt_x = sqrt(abs(x))
    xy = 0.1 * x * y
    d_lat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + xy + 0.2 * sqrt_x
        + (shared + 20.0 * sin(yp) + 40.0 * sin(yp / 3.0) + 160.0 * sin(yp / 12.0)
           + 320.0 * sin(yp / 30.0)) * _TWO_THIRDS
    )  # fmt: skip
    d_lng = (
        300.0 + x + 2.0 * y + 0.1 * x * x + xy + 0.1 * sqrt_x
        + (shared + 20.0 * sin(xp) + 40.0 * sin(xp / 3.0) + 150.0 * sin(xp / 12.0)
           + 300.0 * sin(xp / 30.0)) * _TWO_THIRDS
    )  # fmt: skip
    rad = lat * _RAD
    s = sin(rad)
    magic = 1.0 - _EE * s * s
    sqrt_magic = sqrt(magic)
    return (
        d_lng * sqrt_magic / (_DEG_LNG * cos(rad)),
        d_lat * magic * sqrt_magic / _DEG_LAT,
    )


def _wgs_to_gcj(lng: float, lat: float) -> tuple[float, float]:
    if out_of_china(lng, lat):
        return lng, lat
    d_lng, d_lat = _gcj_offset(lng, lat)
    return lng + d_lng, lat + d_lat


def _gcj_to_wgs(lng: float, lat: float) -> tuple[float, float]:
    if out_of_china(lng, lat):
        return lng, lat
    d_lng, d_lat = _gcj_offset(lng, lat)
    w_lng = lng - d_lng  # the classic one-step inverse (~1 m off) ...
    w_lat = lat - d_lat
    for _ in range(_MAX_ITER):  # ... refined: w <- w - (forward(w) - gcj)
        d_lng, d_lat = _gcj_offset(w_lng, w_lat)
        e_lng = w_lng + d_lng - lng
        e_lat = w_lat + d_lat - lat
        w_lng -= e_lng
        w_lat -= e_lat
        if abs(e_lng) < _TOL and abs(e_lat) < _TOL:
            break
    return w_lng, w_lat


def _gcj_to_bd(lng: float, lat: float) -> tuple[float, float]:
    z = math.hypot(lng, lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * _X_PI)
    return z * math.cos(theta) + _BD_DLNG, z * math.sin(theta) + _BD_DLAT


def _bd_to_gcj(lng: float, lat: float) -> tuple[float, float]:
    x = lng - _BD_DLNG
    y = lat - _BD_DLAT
    z = math.hypot(x, y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    g_lng = z * math.cos(theta)  # the classic approximate inverse ...
    g_lat = z * math.sin(theta)
    for _ in range(_MAX_ITER):  # ... refined against the forward formula
        b_lng, b_lat = _gcj_to_bd(g_lng, g_lat)
        e_lng = b_lng - lng
        e_lat = b_lat - lat
        g_lng -= e_lng
        g_lat -= e_lat
        if abs(e_lng) < _TOL and abs(e_lat) < _TOL:
            break
    return g_lng, g_lat


def to_wgs84(lng: float, lat: float, crs: CRS) -> tuple[float, float]:
    """Convert one point (degrees) from ``crs`` to WGS-84; returns ``(lng, lat)``."""
    if crs is CRS.WGS84 or crs is CRS.CGCS2000:
        return float(lng), float(lat)
    if crs is CRS.GCJ02:
        return _gcj_to_wgs(float(lng), float(lat))
    if crs is CRS.BD09:
        return _gcj_to_wgs(*_bd_to_gcj(float(lng), float(lat)))
    return to_wgs84(lng, lat, CRS.parse(crs))


def from_wgs84(lng: float, lat: float, crs: CRS) -> tuple[float, float]:
    """Convert one WGS-84 point (degrees) to ``crs``; returns ``(lng, lat)``."""
    if crs is CRS.WGS84 or crs is CRS.CGCS2000:
        return float(lng), float(lat)
    if crs is CRS.GCJ02:
        return _wgs_to_gcj(float(lng), float(lat))
    if crs is CRS.BD09:
        return _gcj_to_bd(*_wgs_to_gcj(float(lng), float(lat)))
    return from_wgs84(lng, lat, CRS.parse(crs))


# --- vectorised kernels (numpy) -----------------------------------------------------------------

_Array = npt.NDArray[np.float64]


def _as_arrays(lngs: npt.ArrayLike, lats: npt.ArrayLike) -> tuple[_Array, _Array]:
    lng, lat = np.broadcast_arrays(np.asarray(lngs, dtype=np.float64),
                                   np.asarray(lats, dtype=np.float64))  # fmt: skip
    return lng.copy(), lat.copy()


def _out_of_china_np(lng: _Array, lat: _Array) -> npt.NDArray[np.bool_]:
    return ~((lng >= 72.004) & (lng <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271))


def _gcj_offset_np(lng: _Array, lat: _Array) -> tuple[_Array, _Array]:
    x = lng - 105.0
    y = lat - 35.0
    xp = x * _PI
    yp = y * _PI
    sin = np.sin
    shared = 20.0 * sin(6.0 * xp) + 20.0 * sin(2.0 * xp)
    sqrt_x = np.sqrt(np.abs(x))
    xy = 0.1 * x * y
    d_lat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + xy + 0.2 * sqrt_x
        + (shared + 20.0 * sin(yp) + 40.0 * sin(yp / 3.0) + 160.0 * sin(yp / 12.0)
           + 320.0 * sin(yp / 30.0)) * _TWO_THIRDS
    )  # fmt: skip
    d_lng = (
        300.0 + x + 2.0 * y + 0.1 * x * x + xy + 0.1 * sqrt_x
        + (shared + 20.0 * sin(xp) + 40.0 * sin(xp / 3.0) + 150.0 * sin(xp / 12.0)
           + 300.0 * sin(xp / 30.0)) * _TWO_THIRDS
    )  # fmt: skip
    rad = lat * _RAD
    s = sin(rad)
    magic = 1.0 - _EE * s * s
    sqrt_magic = np.sqrt(magic)
    return (
        d_lng * sqrt_magic / (_DEG_LNG * np.cos(rad)),
        d_lat * magic * sqrt_magic / _DEG_LAT,
    )


def _converged(e_lng: _Array, e_lat: _Array) -> bool:
    # NaN compares False, so NaN inputs never hold up convergence (they stay NaN).
    return not (bool((np.abs(e_lng) >= _TOL).any()) or bool((np.abs(e_lat) >= _TOL).any()))


def _wgs_to_gcj_np(lng: _Array, lat: _Array) -> tuple[_Array, _Array]:
    inside = ~_out_of_china_np(lng, lat)
    d_lng, d_lat = _gcj_offset_np(lng, lat)
    return np.where(inside, lng + d_lng, lng), np.where(inside, lat + d_lat, lat)


def _gcj_to_wgs_np(lng: _Array, lat: _Array) -> tuple[_Array, _Array]:
    inside = ~_out_of_china_np(lng, lat)
    d_lng, d_lat = _gcj_offset_np(lng, lat)
    w_lng = lng - d_lng
    w_lat = lat - d_lat
    for _ in range(_MAX_ITER):
        d_lng, d_lat = _gcj_offset_np(w_lng, w_lat)
        e_lng = w_lng + d_lng - lng
        e_lat = w_lat + d_lat - lat
        w_lng -= e_lng
        w_lat -= e_lat
        if _converged(np.where(inside, e_lng, 0.0), np.where(inside, e_lat, 0.0)):
            break
    return np.where(inside, w_lng, lng), np.where(inside, w_lat, lat)


def _gcj_to_bd_np(lng: _Array, lat: _Array) -> tuple[_Array, _Array]:
    z = np.hypot(lng, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lng) + 0.000003 * np.cos(lng * _X_PI)
    return z * np.cos(theta) + _BD_DLNG, z * np.sin(theta) + _BD_DLAT


def _bd_to_gcj_np(lng: _Array, lat: _Array) -> tuple[_Array, _Array]:
    x = lng - _BD_DLNG
    y = lat - _BD_DLAT
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    g_lng = z * np.cos(theta)
    g_lat = z * np.sin(theta)
    for _ in range(_MAX_ITER):
        b_lng, b_lat = _gcj_to_bd_np(g_lng, g_lat)
        e_lng = b_lng - lng
        e_lat = b_lat - lat
        g_lng -= e_lng
        g_lat -= e_lat
        if _converged(e_lng, e_lat):
            break
    return g_lng, g_lat


def to_wgs84_many(lngs: npt.ArrayLike, lats: npt.ArrayLike, crs: CRS) -> tuple[_Array, _Array]:
    """Vectorised :func:`to_wgs84`: new float64 arrays (broadcast shape) of WGS-84 lng, lat."""
    crs = CRS.parse(crs)
    lng, lat = _as_arrays(lngs, lats)
    if crs is CRS.GCJ02:
        return _gcj_to_wgs_np(lng, lat)
    if crs is CRS.BD09:
        return _gcj_to_wgs_np(*_bd_to_gcj_np(lng, lat))
    return lng, lat


def from_wgs84_many(lngs: npt.ArrayLike, lats: npt.ArrayLike, crs: CRS) -> tuple[_Array, _Array]:
    """Vectorised :func:`from_wgs84`: new float64 arrays (broadcast shape) of lng, lat."""
    crs = CRS.parse(crs)
    lng, lat = _as_arrays(lngs, lats)
    if crs is CRS.GCJ02:
        return _wgs_to_gcj_np(lng, lat)
    if crs is CRS.BD09:
        return _gcj_to_bd_np(*_wgs_to_gcj_np(lng, lat))
    return lng, lat
