"""The supervisor's workspace (督办): overdue review with urging and exports, the approvals
waiting for me, and the map of open and overdue cases per grid (shift supervisors, leaders)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the supervisor's pages (``/supervise/…``) and their JSON API."""
    from dispatch.supervise import api, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
