"""The inspector's phone (城管通 in a browser): report with photos and GPS, verify and check,
keep working offline (installable, with an outbox that never loses a report); and the flags on
doubtful reports that shift supervisors review."""

from __future__ import annotations

from flask import Flask

#: Settings of the inspector's pages (photo limits live in ``photos.DEFAULTS``).
DEFAULTS = {
    #: A photo whose GPS lies farther than this (metres) from the reported point is flagged.
    "INSPECTOR_PHOTO_DISTANCE_M": 200.0,
    #: A position whose accuracy radius is larger than this (metres) is flagged.
    "INSPECTOR_POOR_ACCURACY_M": 50.0,
    #: Photos needed with a report, a verification or a check.
    "INSPECTOR_MIN_PHOTOS": 1,
}


def init_app(app: Flask) -> None:
    """Register the inspector's pages, service worker, photo files and JSON API."""
    from dispatch.inspector import api, photos, views

    photos.configure(app)
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
