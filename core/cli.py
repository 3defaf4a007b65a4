"""Project-wide commands: ``flask db ...`` (Alembic) and ``flask start`` (the embedded demo)."""

from __future__ import annotations

from pathlib import Path

import click
from alembic import command
from alembic.config import Config
from flask import Flask, current_app
from flask.cli import AppGroup

from core.db import database

PROJECT_ROOT = Path(__file__).resolve().parent.parent

db_cli = AppGroup("db", help="Database migrations (Alembic).")


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` using the project's migrations folder."""
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_database(app: Flask, revision: str = "head") -> None:
    """Migrate the app's database to ``revision``."""
    db = database(app)
    with db.engine.begin() as connection:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision: str) -> None:
    """Migrate the database to REVISION (default: head)."""
    upgrade_database(current_app, revision)
    click.echo(f"Database at {revision}.")


@db_cli.command("downgrade")
@click.argument("revision")
def downgrade_command(revision: str) -> None:
    """Migrate the database down to REVISION."""
    db = database()
    with db.engine.begin() as connection:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)
    click.echo(f"Database at {revision}.")


@click.command("start")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Prepare the database and exit.")
def start_command(host: str, port: int, no_serve: bool) -> None:
    """Migrate, load the demo city if the database is empty, print the URL, and serve."""
    from grids import services as grid_services

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    upgrade_database(app)
    from dispatch.seed import seed_all

    with database(app).new_session() as sess:
        if not grid_services.boundary_sets(sess):
            click.echo("Empty database: loading the demo city (140 community grids)…")
            grid_services.load_demo_city(sess)
        # Idempotent: the catalogue, departments, routing and demo users once, kept thereafter.
        logins = seed_all(sess)
        sess.commit()
        bset = grid_services.active_set(sess)
    from hotline.cli import load_demo_if_empty

    load_demo_if_empty()  # the desk's gazetteer of the demo city and a few answers, once
    url = f"http://{host}:{port}/"
    click.echo("")
    click.echo(f"  Database: {app.config['DATABASE_URL']}")
    if bset is not None:
        click.echo(f"  Active boundary set: v{bset.version} {bset.name}")
    click.echo(f"  Open {url}  (map of the grids: {url}grids/map)")
    click.echo("  Demo logins (user name / password / who):")
    for login in logins:
        who = f"{login.display_name} [{', '.join(login.roles)}; {login.scope}]"
        click.echo(f"    {login.username:<20} {login.password:<10} {who}")
    if app.config.get("REDIS_URL"):
        click.echo(
            "  Background jobs: RQ on REDIS_URL — run `flask --app wsgi jobs worker` and "
            "`flask --app wsgi jobs scheduler` beside this process."
        )
    else:
        click.echo(
            "  Background jobs, SLA sweep and notification delivery run inside this process."
        )
    click.echo("")
    if not no_serve:
        from core.serving import prepare_worker
        from dispatch.jobs import start_embedded

        prepare_worker(app)  # the grid index now, not during the first report
        start_embedded(app)  # the embedded default's worker + scheduler (no-op with Redis)
        # Flask refuses app.run() inside its own CLI; serve with Werkzeug directly.
        from werkzeug.serving import run_simple

        run_simple(host, port, app, threaded=True, use_reloader=False)


def init_app(app: Flask) -> None:
    """Register the project-wide commands."""
    app.cli.add_command(db_cli)
    app.cli.add_command(start_command)
