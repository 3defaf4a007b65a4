"""The 12345 hotline desk: calls, callers, gazetteer, duplicates, callbacks (built on dispatch)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the desk's pages, its JSON API (documented in the OpenAPI description), the
    incoming-call stream and ``flask hotline …``."""
    from hotline import api, cli, models, openapi, views  # noqa: F401  (models: the tables)

    app.register_blueprint(api.bp)
    app.register_blueprint(views.bp)
    app.cli.add_command(cli.hotline_cli)
