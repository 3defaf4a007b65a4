"""The app factory: the composition root that wires config, database and the feature packages."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask, redirect, url_for
from werkzeug.wrappers import Response

from core import errors, i18n, input_guard
from core.config import load_config
from core.db import Database

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web app. ``test_config`` overrides defaults and environment (used by tests)."""
    app = Flask(
        __name__,
        instance_path=str(PROJECT_ROOT / "instance"),
        static_folder=str(PROJECT_ROOT / "static"),
        template_folder=str(PROJECT_ROOT / "core" / "templates"),
    )
    app.config.from_mapping(load_config(test_config))
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'dispatch.sqlite3'}"
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(PROJECT_ROOT / "translations")

    Database(app.config["DATABASE_URL"]).init_app(app)
    errors.init_app(app)
    input_guard.init_app(app)  # NUL characters / lone surrogates: a 400, never a 500
    i18n.init_app(app)
    #: name -> callable returning {"ok": bool, "message": str | None}; features add theirs.
    app.extensions["health_checks"] = {}

    # Feature packages, bottom-up (imports flow hotline -> dispatch -> grids).
    import dispatch
    import grids
    import hotline

    grids.init_app(app)
    dispatch.init_app(app)
    hotline.init_app(app)

    from core import cli

    cli.init_app(app)

    @app.get("/")
    def home() -> Response:
        return redirect(url_for("grids.map_page"))

    @app.get("/livez")
    def livez() -> dict[str, str]:
        """Liveness: the process answers (no database, no checks; for load balancers)."""
        return {"status": "ok"}

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """Always 200 while the process serves; "warn" when a registered check is not ok."""
        checks = {
            name: _run_check(check) for name, check in app.extensions["health_checks"].items()
        }
        ok = all(c["ok"] for c in checks.values())
        return {"status": "ok" if ok else "warn", "checks": checks}

    return app


def _run_check(check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A health check's answer; a check that fails is reported, not raised (still a 200)."""
    try:
        return check()
    except Exception as exc:
        logging.getLogger(__name__).exception("health check failed")
        return {"ok": False, "message": f"check failed: {exc.__class__.__name__}"}
