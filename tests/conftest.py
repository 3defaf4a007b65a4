"""Shared fixtures: one migrated database with the demo city per run; a rolled-back transaction
per test; the app, its client and CLI runner.

The suite runs against ``DATABASE_URL`` when it is set (PostgreSQL + PostGIS in CI's second run)
and against a throwaway SQLite file otherwise. Tests that need PostgreSQL are marked ``postgres``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from core.cli import upgrade_database
from core.db import Base, database
from core.factory import create_app

DATABASE_URL = os.environ.get("DATABASE_URL") or ""
ON_POSTGRES = DATABASE_URL.startswith("postgresql")


def _reset_schema(app: Flask) -> None:
    """Drop whatever a previous run left, so migrations start from nothing."""
    db = database(app)
    with db.engine.begin() as conn:
        if db.dialect_name == "postgresql":
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        if db.dialect_name == "postgresql":  # case-number sequences (dispatch.case_numbers)
            names = conn.execute(text("SELECT relname FROM pg_class WHERE relkind = 'S'")).scalars()
            for name in [n for n in names if n.startswith("case_no_")]:
                conn.exec_driver_sql(f"DROP SEQUENCE {name}")


def make_test_app(url: str, **extra: object) -> Flask:
    """An app on ``url`` configured for tests."""
    config: dict[str, object] = {
        "TESTING": True,
        "DATABASE_URL": url,
        "SECRET_KEY": "test-secret",
        "GRID_INDEX_CHECK_SECONDS": 0.0,
        # Photos uploaded by tests (the fuzzer's too) never land in the project's instance/.
        "PHOTO_DIR": tempfile.mkdtemp(prefix="test-photos-"),
    }
    config.update(extra)
    return create_app(config)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    if DATABASE_URL:
        return DATABASE_URL
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[Flask]:
    """The app on a freshly migrated database holding the demo city (committed once)."""
    from grids import services

    app = make_test_app(database_url)
    _reset_schema(app)
    upgrade_database(app)
    from dispatch.seed import seed_all

    with database(app).new_session() as sess:
        services.load_demo_city(sess)
        seed_all(sess)  # catalogue, departments, routing and the demo users (password demo12345)
        sess.commit()
    yield app
    database(app).engine.dispose()


@pytest.fixture
def connection(app: Flask) -> Iterator[Connection]:
    """A connection in an outer transaction that is rolled back after the test."""
    db = database(app)
    conn = db.engine.connect()
    outer = conn.begin()
    db.bind = conn
    try:
        yield conn
    finally:
        db.bind = db.engine
        outer.rollback()
        conn.close()


@pytest.fixture
def db_session(app: Flask, connection: Connection) -> Iterator[Session]:
    """A session inside the test's transaction (its commits are savepoint releases)."""
    sess = database(app).new_session()
    try:
        yield sess
    finally:
        sess.close()


@pytest.fixture
def client(app: Flask, connection: Connection) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def viewer(client: FlaskClient, db_session: Session):  # type: ignore[no-untyped-def]
    """An API client logged in (by token) as a city-wide operator."""
    from tests.factories import api_client, make_user

    return api_client(client, db_session, make_user(db_session, "viewer", "operator"))


def log_in(client: FlaskClient, user) -> FlaskClient:  # type: ignore[no-untyped-def]
    """Give ``client`` a logged-in session for ``user`` (as Flask-Login stores it)."""
    with client.session_transaction() as sess:
        sess["_user_id"] = str(user.id)
        sess["_fresh"] = True
    return client


@pytest.fixture
def page_client(client: FlaskClient, db_session: Session) -> FlaskClient:
    """A browser-like client with a logged-in session (a city-wide operator)."""
    from tests.factories import make_user

    return log_in(client, make_user(db_session, "page-viewer", "operator"))


@pytest.fixture
def runner(app: Flask, connection: Connection) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def demo_city():  # type: ignore[no-untyped-def]
    """The generated demo city (plain features, no database)."""
    from grids.demo import generate_city

    return generate_city()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Chromium (Debian's, driven by Playwright) for every browser test."""
    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: .ci/run installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_pg = pytest.mark.skip(reason="needs DATABASE_URL=postgresql+psycopg://… (CI's 2nd run)")
    for item in items:
        if "postgres" in item.keywords and not ON_POSTGRES:
            item.add_marker(skip_pg)
