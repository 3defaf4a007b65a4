"""A web worker is ready before its first request: warm-ups run, the start-up heap is frozen.

The last test starts the production server the documented way (``gunicorn wsgi:app`` from
the project folder, which reads ``gunicorn.conf.py``) on a database of its own and reports a
case through it, after every worker said it had built the grid index.
"""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, current_app
from sqlalchemy import select

from core.db import database
from core.serving import add_warm_up, prepare_worker
from tests.conftest import make_test_app
from tests.jobs_support import (
    PROJECT_ROOT,
    free_port,
    fresh_database,
    prepare_database,
    wait_for,
)


@pytest.fixture
def unfreeze() -> Iterator[None]:
    """``prepare_worker`` freezes the heap; a test process must get its collector back."""
    yield
    gc.unfreeze()


def test_warm_ups_run_in_an_app_context_and_a_failure_does_not_stop_the_worker(
    unfreeze: None, caplog: pytest.LogCaptureFixture
) -> None:
    app = Flask("warm")
    seen: list[str] = []
    add_warm_up(app, "first", lambda: seen.append(current_app.name))

    def broken() -> None:
        raise RuntimeError("database not migrated yet")

    add_warm_up(app, "broken", broken)
    add_warm_up(app, "last", lambda: seen.append("last"))
    took = prepare_worker(app)
    assert seen == ["warm", "last"]  # in the app's context, and on past the failure
    assert set(took) == {"first", "broken", "last"} and all(t >= 0 for t in took.values())
    assert "warm-up broken failed" in caplog.text
    assert gc.get_freeze_count() > 0  # what start-up made is out of the collector's way


def test_the_grid_index_is_a_warm_up_of_the_app(app: Flask, unfreeze: None) -> None:
    from grids import services

    assert "grid_index" in app.extensions["warm_ups"]
    took = prepare_worker(app)
    assert "grid_index" in took
    with app.app_context():
        index = services.locator().index()
    assert index is not None and len(index.codes) > 100  # the demo city's leaf grids


@pytest.fixture(scope="module")
def served_database(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(database_url, tmp_path_factory.mktemp("serving")) as url:
        prepare_database(url)
        yield url


def test_gunicorn_workers_warm_up_before_the_first_report(
    served_database: str, tmp_path: Path
) -> None:
    from dispatch.auth import issue_token
    from dispatch.models import User
    from grids import services

    app = make_test_app(served_database)
    with app.app_context(), database(app).new_session() as sess:
        operator = sess.scalar(select(User).where(User.username == "operator"))
        assert operator is not None
        token = issue_token(sess, operator, "serving test")
        grid = services.leaf_grids(sess, services.active_set(sess).id)[0]
        point = grid.geom.representative_point()
        sess.commit()
    database(app).engine.dispose()

    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    env = {**os.environ, "DATABASE_URL": served_database, "SECRET_KEY": "serving-test"}
    env.pop("REDIS_URL", None)
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
             "--log-level", "info", "wsgi:app"],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            ready = wait_for(
                lambda: re.findall(r"ready \(warm-ups: \{'grid_index': [\d.]+\}\)",
                                   log_path.read_text(errors="replace"))[1:],
                "both workers to say they are ready", timeout=90,
            )  # fmt: skip
            assert ready
            assert "warm-up grid_index failed" not in log_path.read_text(errors="replace")
            body = json.dumps({"description": "井盖缺失", "lng": point.x, "lat": point.y}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/cases", data=body, method="POST",
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}",
                         "Idempotency-Key": "serving-test-0001"},
            )  # fmt: skip
            with urllib.request.urlopen(request, timeout=30) as res:
                assert res.status == 201
                answer = json.loads(res.read())
            assert answer["number"] and answer["state"] == "reported"
            assert answer["placement"] == "inside" and answer["grid_code"] == grid.code
        finally:
            server.terminate()
            server.wait(timeout=30)
