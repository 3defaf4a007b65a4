"""Configuration: defaults in code, overrides from the environment, read when an app is created."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

#: Defaults that make the embedded set-up work with no environment at all.
DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": "dev-only-change-me",
    # None means "a SQLite file in the instance folder" (resolved in the factory).
    "DATABASE_URL": None,
    # None means "no Redis server": jobs run in-process.
    "REDIS_URL": None,
    "BABEL_DEFAULT_LOCALE": "zh_Hans_CN",
    "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
    "LANGUAGES": ["zh_Hans_CN", "en"],
    #: Points outside every grid but within this many metres go to the nearest grid (approximate).
    "LOCATE_TOLERANCE_M": 30.0,
    #: How often (seconds) a process asks the database whether another one activated a new set.
    "GRID_INDEX_CHECK_SECONDS": 2.0,
    #: Target raster cell size (metres) of the in-memory locate index.
    "GRID_INDEX_CELL_M": 4.0,
    #: Optional tile layer for the map pages (an intranet tile server); none by default.
    "MAP_TILE_URL": "",
    "MAP_TILE_ATTRIBUTION": "",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "JSON_SORT_KEYS": False,
}

#: Environment variables read at app creation, with the type they are parsed to.
ENV_KEYS: dict[str, type] = {
    "SECRET_KEY": str,
    "DATABASE_URL": str,
    "REDIS_URL": str,
    "LOCATE_TOLERANCE_M": float,
    "GRID_INDEX_CHECK_SECONDS": float,
    "GRID_INDEX_CELL_M": float,
    "MAP_TILE_URL": str,
    "MAP_TILE_ATTRIBUTION": str,
    "SESSION_COOKIE_SECURE": bool,
}


def _parse(kind: type, raw: str) -> Any:
    if kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return kind(raw)


def load_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the effective configuration: defaults, then environment, then explicit overrides."""
    env = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for key, kind in ENV_KEYS.items():
        raw = env.get(key)
        if raw not in (None, ""):
            config[key] = _parse(kind, raw)
    if overrides:
        config.update(overrides)
    return config
