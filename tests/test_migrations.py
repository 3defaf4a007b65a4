"""Migrations build the same schema as the models, and go down and up again cleanly."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy import inspect

from core.cli import alembic_config, upgrade_database
from core.db import Base, database
from tests.conftest import make_test_app


def test_models_match_migrations(app) -> None:  # type: ignore[no-untyped-def]
    """Autogenerate finds nothing to do: the migrations and the models agree."""
    with database(app).engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": alembic_helpers.include_object, "compare_type": False}
        )
        diff = [d for d in compare_metadata(ctx, Base.metadata) if "gist" not in str(d)]
    assert diff == []


def test_downgrade_and_upgrade_again(tmp_path: Path) -> None:
    app = make_test_app(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    upgrade_database(app)
    db = database(app)
    assert {"grid", "boundary_set", "officer", "grid_duty"} <= set(
        inspect(db.engine).get_table_names()
    )
    with db.engine.begin() as conn:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert "grid" not in inspect(db.engine).get_table_names()
    upgrade_database(app)
    assert "grid" in inspect(db.engine).get_table_names()
    db.engine.dispose()
