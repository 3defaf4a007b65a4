"""Grids: boundary sets, the grid hierarchy, officers on duty, point → grid location.

Everything geometric lives here. Other packages ask ``grids.services`` (and the locator it
holds) to "locate this point" or "which grids", and never touch a polygon themselves.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the grid pages, API, CLI commands and the process's locator."""
    from grids import cli, services, views

    services.init_locator(app)
    app.register_blueprint(views.bp)
    app.cli.add_command(cli.grids_cli)
