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
    #: How often (seconds) a process asks the database whether the working calendar changed.
    "CALENDAR_CHECK_SECONDS": 5.0,
    # --- SLA timers, sweep and notifications (dispatch.sla, dispatch.notifications, dispatch.jobs)
    #: Share of a stage's limit after which it turns yellow (new stages; the policy table may
    #: set its own per stage).
    "SLA_WARN_SHARE": 0.8,
    #: Waiting approval requests that stop the clock (return, extension, suspend).
    "SLA_PAUSE_FOR_REQUESTS": ("return", "extension", "suspend"),
    #: How often the sweep marks yellow/red, the outbox pump runs, the calendar is checked.
    "SLA_SWEEP_SECONDS": 60.0,
    #: Above this many red stages in one sweep batch, a supervisor gets one digest instead.
    "SLA_SUPERVISOR_DIGEST_OVER": 5,
    "OUTBOX_PUMP_SECONDS": 15.0,
    "CALENDAR_ALARM_SECONDS": 3600.0,
    #: Outbound channels besides the inbox ("log"; "webhook" is added when a URL is set).
    "NOTIFY_CHANNELS": ["log"],
    "NOTIFY_WEBHOOK_URL": "",
    "NOTIFY_WEBHOOK_SECRET": "",
    "NOTIFY_WEBHOOK_TIMEOUT": 10.0,
    #: A delivery claimed by a job is its own for this long (then a killed job's claim lapses).
    "OUTBOX_LEASE_SECONDS": 120.0,
    "OUTBOX_BACKOFF_SECONDS": 30.0,
    "OUTBOX_MAX_ATTEMPTS": 8,
    #: The scheduler's Redis lock lives this long unless renewed (failover time).
    "SCHEDULER_LOCK_SECONDS": 30.0,
    #: Optional tile layer for the map pages (an intranet tile server); none by default.
    "MAP_TILE_URL": "",
    "MAP_TILE_ATTRIBUTION": "",
    # --- Public look-up and Open311 GeoReport v2 (dispatch.tracking, dispatch.open311)
    #: Look-ups per client address, page and API together (Flask-Limiter syntax).
    "PUBLIC_LOOKUP_RATE_LIMIT": "10 per minute;100 per hour",
    #: Open311 POSTs per API key (per address when the key is missing).
    "OPEN311_POST_RATE_LIMIT": "30 per minute;1000 per day",
    #: The jurisdiction_id this endpoint serves; empty: accept any (one jurisdiction only).
    "OPEN311_JURISDICTION_ID": "",
    #: Discovery: how to reach the API's maintainers, and how to get an API key.
    "OPEN311_CONTACT": "数字城管监督指挥中心 / City urban management centre",
    "OPEN311_KEY_SERVICE": "API keys are issued by the centre's administrators on request.",
    #: How long a worker trusts an API token it has looked up (a revocation made elsewhere takes
    #: this long to reach it; 0: look the token up on every request).
    "API_TOKEN_CACHE_SECONDS": 10.0,
    # --- The 12345 hotline desk (hotline/)
    #: Open cases this close (metres) to a new call's point are offered as duplicates ...
    "HOTLINE_DUPLICATE_M": 250.0,
    #: ... when reported in the last this many days.
    "HOTLINE_DUPLICATE_DAYS": 30,
    #: An operator page's incoming-call stream ends after this many seconds (it reconnects).
    "HOTLINE_STREAM_SECONDS": 300.0,
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
    "CALENDAR_CHECK_SECONDS": float,
    "SLA_WARN_SHARE": float,
    "SLA_PAUSE_FOR_REQUESTS": list,
    "SLA_SWEEP_SECONDS": float,
    "SLA_SUPERVISOR_DIGEST_OVER": int,
    "OUTBOX_PUMP_SECONDS": float,
    "CALENDAR_ALARM_SECONDS": float,
    "NOTIFY_CHANNELS": list,
    "NOTIFY_WEBHOOK_URL": str,
    "NOTIFY_WEBHOOK_SECRET": str,
    "NOTIFY_WEBHOOK_TIMEOUT": float,
    "OUTBOX_LEASE_SECONDS": float,
    "OUTBOX_BACKOFF_SECONDS": float,
    "OUTBOX_MAX_ATTEMPTS": int,
    "SCHEDULER_LOCK_SECONDS": float,
    "MAP_TILE_URL": str,
    "MAP_TILE_ATTRIBUTION": str,
    "PUBLIC_LOOKUP_RATE_LIMIT": str,
    "OPEN311_POST_RATE_LIMIT": str,
    "OPEN311_JURISDICTION_ID": str,
    "OPEN311_CONTACT": str,
    "OPEN311_KEY_SERVICE": str,
    "API_TOKEN_CACHE_SECONDS": float,
    "SESSION_COOKIE_SECURE": bool,
    "HOTLINE_DUPLICATE_M": float,
    "HOTLINE_DUPLICATE_DAYS": int,
    "HOTLINE_STREAM_SECONDS": float,
}


def _parse(kind: type, raw: str) -> Any:
    if kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind is list:  # comma-separated
        return [part.strip() for part in raw.split(",") if part.strip()]
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
