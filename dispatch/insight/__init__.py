"""The supervisor's workspace, read side: the dashboard (with a wall-screen mode and a JSON
twin) and the performance evaluation (综合评价) with editable weights and grade bands.

``dashboard``: the dashboard's figures; ``evaluation``: the evaluation's sources, factors,
scores and traces; ``settings``: weights and grade bands; ``periods``: reporting periods;
``views``: pages and the API endpoint; ``cli``: ``flask insight …``.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the pages, the ``/api/v1/insight`` endpoint and the ``insight`` commands."""
    from dispatch.insight import cli, views

    app.register_blueprint(views.bp)
    app.register_blueprint(views.api_bp)
    app.cli.add_command(cli.insight_cli)
