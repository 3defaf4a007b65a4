"""The inspector's pages render for inspectors only; the manifest and service worker are served
from ``/inspector/`` so the pages install and open offline."""

from __future__ import annotations

import json

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.conftest import log_in
from tests.factories import make_user


def test_pages_for_inspectors_only(client: FlaskClient, db_session: Session) -> None:
    assert client.get("/inspector/report").status_code == 302  # to the login page
    log_in(client, make_user(db_session, "page-operator", "operator"))
    assert client.get("/inspector/report").status_code == 403
    log_in(client, make_user(db_session, "page-inspector", "inspector"))
    for path in ("/inspector/report", "/inspector/tasks", "/inspector/mine"):
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert 'rel="manifest"' in html and 'name="viewport"' in html
        assert "/inspector/sw.js" in html
    report = client.get("/inspector/report").get_data(as_text=True)
    assert 'capture="environment"' in report and 'id="outbox"' in report
    assert "上报" in report  # Chinese by default
    assert "Report" in client.get("/inspector/report?lang=en").get_data(as_text=True)
    assert client.get("/inspector/tasks/00000000000").status_code == 404


def test_manifest_and_service_worker(client: FlaskClient) -> None:
    manifest = json.loads(client.get("/inspector/manifest.webmanifest").data)
    assert manifest["display"] == "standalone" and manifest["scope"] == "/inspector/"
    assert {i["sizes"] for i in manifest["icons"]} == {"192x192", "512x512"}
    for icon in manifest["icons"]:
        with client.get(icon["src"]) as response:
            assert response.status_code == 200 and response.mimetype == "image/png"
    sw = client.get("/inspector/sw.js")
    assert sw.mimetype == "text/javascript"
    body = sw.get_data(as_text=True)
    assert "/static/js/inspector/outbox.js" in body and "/inspector/report" in body
    assert 'request.method !== "GET"' in body  # submissions never come from the cache
    assert 'const CACHE = "inspector-' in body


def test_flag_review_page_for_shift_supervisors(client: FlaskClient, db_session: Session) -> None:
    log_in(client, make_user(db_session, "page-insp2", "inspector"))
    assert client.get("/inspector/flags").status_code == 403
    log_in(client, make_user(db_session, "page-shift", "shift_supervisor"))
    assert client.get("/inspector/flags").status_code == 200


def test_service_worker_cache_follows_the_shell_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Phones get new scripts: the cache name changes whenever a file it keeps changes."""
    from dispatch.inspector.views import SHELL_FILES, _shell_digest

    for name in SHELL_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("v1")
    before = _shell_digest(str(tmp_path))
    (tmp_path / SHELL_FILES[1]).write_text("v2")
    _shell_digest.cache_clear()
    assert _shell_digest(str(tmp_path)) != before
