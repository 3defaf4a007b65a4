"""Refuse text no column can hold, before any view sees it.

PostgreSQL rejects NUL characters in text, and no database driver can encode an unpaired UTF-16
surrogate (JSON's ``"\\ud800"`` decodes to one). Either would reach the database as a server
error; here the whole request is a 400 instead, in the error shape of the part of the site it
addressed (the JSON API, Open311 or a page), because it is raised as a plain ``BadRequest``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from werkzeug.exceptions import BadRequest

#: How deep a JSON body is searched (deeper bodies are refused outright).
MAX_DEPTH = 32
MESSAGE = "text must not contain NUL characters or unpaired surrogates"


def unstorable(text: str) -> bool:
    """Whether ``text`` holds a NUL character or an unpaired surrogate."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _json_unstorable(value: Any, depth: int = 0) -> bool:
    if depth > MAX_DEPTH:
        return True
    if isinstance(value, str):
        return unstorable(value)
    if isinstance(value, dict):
        return any(unstorable(k) or _json_unstorable(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(_json_unstorable(v, depth + 1) for v in value)
    return False


def check_request() -> None:
    """Raise ``BadRequest`` when the path, query, form or JSON body carries unstorable text."""
    texts = [request.path]
    texts += [t for pair in request.args.items(multi=True) for t in pair]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        # A multipart part without a usable name comes back with None as its key.
        texts += [t for pair in request.form.items(multi=True) for t in pair if t is not None]
    if any(unstorable(t) for t in texts):
        raise BadRequest(MESSAGE)
    if request.is_json and _json_unstorable(request.get_json(silent=True)):
        raise BadRequest(MESSAGE)


def init_app(app: Flask) -> None:
    """Check every request first."""
    app.before_request(check_request)
