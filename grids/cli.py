"""``flask grids ...``: import and validate boundary files, switch sets, load the demo city."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click
import numpy as np
from flask.cli import AppGroup

from core.db import database
from grids import services
from grids.crs import CRS

grids_cli = AppGroup("grids", help="Boundary sets, grids and locating points.")


def _crs_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--crs", default="wgs84", show_default=True, help="wgs84, cgcs2000, gcj02 or bd09"
    )(func)


@grids_cli.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--commit", is_flag=True, help="Store the file as a new boundary set.")
@click.option("--activate", is_flag=True, help="Also make the new set the active one.")
@click.option("--repair", is_flag=True, help="Use the repaired version of invalid geometries.")
@click.option("--name", default=None, help="Name of the new set (default: the file name).")
@click.option("--json-report", type=click.Path(dir_okay=False, path_type=Path), default=None)
def import_command(
    path: Path, commit: bool, activate: bool, repair: bool, name: str | None,
    json_report: Path | None,
) -> None:  # fmt: skip
    """Validate a GeoJSON or Shapefile of grids (dry run unless --commit)."""
    from grids.importer import BoundaryFileError, read_boundary_file, validate

    try:
        features = read_boundary_file(path)
    except BoundaryFileError as exc:
        raise click.ClickException(str(exc)) from None
    report = validate(features, repair=repair)
    for line in report.summary_lines():
        click.echo(line)
    if json_report:
        json_report.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    if not report.ok:
        raise click.ClickException(
            f"{len(report.errors)} error(s): nothing was committed"
            + ("" if repair else " (--repair uses the repaired geometries offered above)")
        )
    if not commit:
        click.echo("Dry run: nothing was committed (use --commit to store this set).")
        return
    with database().new_session() as sess:
        bset = services.commit_features(
            sess, report.features, name=name or path.name, source=str(path),
            report=report.to_dict(), activate=activate,
        )  # fmt: skip
        sess.commit()
        click.echo(
            f"Committed boundary set v{bset.version} ({len(report.features)} grids)"
            + (
                ", now active."
                if activate
                else f"; activate it with: flask grids activate {bset.version}"
            )
        )


@grids_cli.command("activate")
@click.argument("version", type=int)
def activate_command(version: int) -> None:
    """Make boundary set VERSION the active one (all processes switch within seconds)."""
    with database().new_session() as sess:
        try:
            bset = services.set_by_version(sess, version)
        except services.GridError as exc:
            raise click.ClickException(str(exc)) from None
        services.activate_set(sess, bset)
        sess.commit()
    services.locator().invalidate()
    click.echo(f"Boundary set v{version} is now active.")


@grids_cli.command("sets")
def sets_command() -> None:
    """List boundary sets."""
    with database().new_session() as sess:
        for bset in services.boundary_sets(sess):
            mark = "*" if bset.is_active else " "
            click.echo(f"{mark} v{bset.version:<4} {bset.name}  ({bset.source})")


@grids_cli.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when a boundary set exists.")
@click.option("--geojson", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the demo city to this GeoJSON file instead of loading it.")  # fmt: skip
def demo_command(if_empty: bool, geojson: Path | None) -> None:
    """Load the demo city (7 districts, ~30 streets, 140 community grids, officers)."""
    if geojson is not None:
        from grids.demo import generate_city, to_geojson

        geojson.write_text(json.dumps(to_geojson(generate_city()), ensure_ascii=False))
        click.echo(f"Wrote {geojson}")
        return
    with database().new_session() as sess:
        if if_empty and services.boundary_sets(sess):
            click.echo("A boundary set exists already: demo city not loaded.")
            return
        bset = services.load_demo_city(sess)
        sess.commit()
    services.locator().invalidate()
    click.echo(f"Loaded the demo city as boundary set v{bset.version}.")


@grids_cli.command("locate")
@click.argument("lng", type=float)
@click.argument("lat", type=float)
@_crs_option
def locate_command(lng: float, lat: float, crs: str) -> None:
    """Print the grid a point falls in."""
    index = services.locator().index()
    if index is None:
        raise click.ClickException("no boundary set is active")
    loc = index.locate(lng, lat, CRS.parse(crs))
    click.echo(f"{loc.status}: {loc.grid_code or '-'} {loc.grid_name or ''}  {loc.message}")


@grids_cli.command("locate-csv")
@click.argument("source", type=click.File("r", encoding="utf-8"))
@click.argument("target", type=click.File("w", encoding="utf-8"), default="-")
@_crs_option
@click.option("--lng-column", default="lng", show_default=True)
@click.option("--lat-column", default="lat", show_default=True)
def locate_csv_command(
    source: click.utils.LazyFile, target: click.utils.LazyFile, crs: str, lng_column: str,
    lat_column: str,
) -> None:  # fmt: skip
    """Bulk-locate a CSV of points (e.g. historical cases after a boundary change)."""
    rows = list(csv.DictReader(source))
    if rows and (lng_column not in rows[0] or lat_column not in rows[0]):
        raise click.ClickException(f"the CSV needs columns {lng_column!r} and {lat_column!r}")
    index = services.locator().index()
    if index is None:
        raise click.ClickException("no boundary set is active")
    lngs = np.array([float(r[lng_column] or "nan") for r in rows])
    lats = np.array([float(r[lat_column] or "nan") for r in rows])
    ids, approx = index.locate_many(lngs, lats, CRS.parse(crs))
    code_of = dict(zip(index.ids.tolist(), index.codes, strict=True))
    fields = [*(rows[0].keys() if rows else [lng_column, lat_column]), "grid_code", "approximate"]
    writer = csv.DictWriter(target, fieldnames=fields)
    writer.writeheader()
    for row, gid, ap in zip(rows, ids.tolist(), approx.tolist(), strict=True):
        writer.writerow({**row, "grid_code": code_of.get(gid, ""), "approximate": int(ap)})
    placed = int((ids >= 0).sum())
    click.echo(f"{placed} of {len(rows)} points placed ({int(approx.sum())} approximate).",
               err=True)  # fmt: skip
