"""Open311 GeoReport v2 (the international civic-issue API) on top of the case workflow.

``views``: the endpoint at ``/open311/v2/…`` (JSON and XML); ``services``: services from the
catalogue, requests as cases and their public view; ``keys``: client API keys; ``admin``: the
administrators' page for keys; ``cli``: ``flask open311 key create|revoke|list``.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the endpoint, the key administration page and the ``open311`` commands."""
    from dispatch.open311 import admin, cli, views

    app.register_blueprint(views.bp)
    app.register_blueprint(admin.bp)
    app.cli.add_command(cli.open311_cli)
