"""The public progress look-up (办理进度和结果网上查询): case number + check code → progress."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the ``/track`` page and the public look-up API endpoint."""
    from dispatch.tracking import views

    app.register_blueprint(views.bp)
