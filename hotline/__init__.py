"""The 12345 hotline desk: calls, callers, gazetteer, duplicates, callbacks (built on dispatch)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the desk's pages, its JSON API, the incoming-call stream and commands."""
    from hotline import models  # noqa: F401  (registers the tables)
