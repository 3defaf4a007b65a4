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
        others = _indexes_for_other_databases(conn.dialect.name)
        diff = [
            d
            for d in compare_metadata(ctx, Base.metadata)
            if not (d[0] == "add_index" and d[1].name in others)
        ]
    assert diff == []


def _indexes_for_other_databases(dialect: str) -> set[str]:
    """Indexes the models declare for another database only (``ddl_if``): Alembic's comparison
    does not know ``ddl_if``, and the migrations create them on that database by hand."""
    return {
        index.name
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if index._ddl_if is not None
        and index._ddl_if.dialect is not None
        and index._ddl_if.dialect != dialect
        and index.name is not None
    }


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
