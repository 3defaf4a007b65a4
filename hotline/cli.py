"""``flask hotline …``: load the demo gazetteer and answers, import a real gazetteer."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from core.db import database

hotline_cli = AppGroup("hotline", help="The 12345 desk: gazetteer and knowledge base.")


@hotline_cli.command("demo")
def demo_command() -> None:
    """Load the demo city's gazetteer and a few knowledge-base answers."""
    from hotline import gazetteer, knowledge

    with database().new_session() as sess:
        places = gazetteer.load_demo_gazetteer(sess)
        answers = knowledge.load_demo_entries(sess)
        sess.commit()
    click.echo(f"{places} places, {answers} answers added")


@hotline_cli.command("import-gazetteer")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--crs", default="wgs84", show_default=True, help="wgs84, cgcs2000, gcj02, bd09")
def import_command(path: Path, crs: str) -> None:
    """Add or update places from a CSV (name, kind, lng, lat, parent, aliases) or GeoJSON."""
    from hotline import gazetteer

    fmt = "csv" if path.suffix.lower() == ".csv" else "geojson"
    with database().new_session() as sess:
        report = gazetteer.import_places(
            sess, path.read_text(encoding="utf-8"), fmt=fmt, crs=crs, source=f"import:{path.name}"
        )
        sess.commit()
    for line in report.errors:
        click.echo(f"  skipped {line}", err=True)
    click.echo(f"{report.added} added, {report.updated} updated, {len(report.errors)} skipped")


def load_demo_if_empty() -> None:
    """For ``flask start``: the demo gazetteer and answers, once (an empty gazetteer only)."""
    from hotline import gazetteer, knowledge

    with database().new_session() as sess:
        if not gazetteer.has_entries(sess):
            gazetteer.load_demo_gazetteer(sess)
            knowledge.load_demo_entries(sess)
            sess.commit()
