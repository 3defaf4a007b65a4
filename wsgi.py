"""The WSGI entry point (gunicorn ``wsgi:app``, ``flask --app wsgi``): the only module-level app."""

from core.factory import create_app

app = create_app()
