"""``flask sla ...``: the working calendar (``flask sla calendar ...``) and the SLA machinery."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from core.db import database
from dispatch.access import today
from dispatch.models.calendar import MAKEUP_WEEKDAY
from dispatch.models.sla import Stage
from dispatch.sla import calendar_store as store
from dispatch.sla.calendar import DayKind

sla_cli = AppGroup("sla", help="Time limits: the working calendar, timers and the sweep.")

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Make-up day")


@sla_cli.group("calendar")
def calendar_group() -> None:
    """Working hours, working days, public holidays and make-up working days (调休)."""


def _coverage_line(sess: Session) -> str:
    years = store.covered_years(sess)
    return f"Known years: {store.compact_years(years) or 'none'}"


@calendar_group.command("show")
@click.argument("year", type=int, required=False)
def show_command(year: int | None) -> None:
    """Coverage, the weekday windows and YEAR's holidays and make-up days (default: this year)."""
    year = year or today().year
    with database().new_session() as sess:
        click.echo(_coverage_line(sess))
        warning = store.coverage_warning(sess, today())
        if warning:
            click.echo(f"Warning: {warning}")
        for weekday, windows in store.stored_windows(sess).items():
            click.echo(f"  {WEEKDAY_NAMES[weekday]:<12} {store.format_windows(windows) or '-'}")
        days = store.days_of_year(sess, year)
        covered = year in store.covered_years(sess)
        click.echo(f"{year}: {len(days)} exceptions{'' if covered else ' (year not covered)'}")
        for day in days:
            click.echo(f"  {day.day} {day.day:%a} {day.kind:<8} {day.name} [{day.source}]")


@calendar_group.command("seed")
def seed_command() -> None:
    """Default windows if none exist, and the holidays and make-up days chinesecalendar knows."""
    with database().new_session() as sess:
        added = store.seed_calendar(sess)
        sess.commit()
        click.echo(f"{added} days added from {store.PACKAGE_SOURCE}. {_coverage_line(sess)}")


@calendar_group.command("set")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.argument("kind", type=click.Choice(["holiday", "workday", "clear"]))
@click.option("--name", default="", help="The holiday it belongs to (春节, 国庆节 …).")
def set_command(day: object, kind: str, name: str) -> None:
    """Make DAY a holiday, a make-up working day (workday), or an ordinary day (clear)."""
    the_day: date = day.date()  # type: ignore[attr-defined]
    with database().new_session() as sess:
        store.set_day(sess, the_day, None if kind == "clear" else DayKind(kind), name)
        sess.commit()
    click.echo(f"{the_day}: {kind}")


@calendar_group.command("windows")
@click.option("--weekday", type=click.IntRange(0, MAKEUP_WEEKDAY), help="0 = Monday … 7 = make-up")
@click.option("--set", "windows", help='New windows, e.g. "08:00-12:00,14:30-17:30" ("" = none).')
def windows_command(weekday: int | None, windows: str | None) -> None:
    """Show the working windows, or change one weekday's (--weekday N --set ...)."""
    if (weekday is None) != (windows is None):
        raise click.UsageError("give both --weekday and --set, or neither")
    with database().new_session() as sess:
        if weekday is not None and windows is not None:
            try:
                store.set_windows(sess, weekday, store.parse_windows(windows))
            except store.CalendarError as exc:
                raise click.ClickException(str(exc)) from None
            sess.commit()
        for wd, found in store.stored_windows(sess).items():
            click.echo(f"{wd} {WEEKDAY_NAMES[wd]:<12} {store.format_windows(found) or '-'}")


@calendar_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--covers-year",
    "covers_years",
    type=int,
    multiple=True,
    help="The file is this year's complete list: mark it known (repeatable).",
)
def import_command(file: Path, covers_years: tuple[int, ...]) -> None:
    """Import holidays and make-up days from a CSV (columns date,kind,name; a header row)."""
    with database().new_session() as sess:
        try:
            count = store.import_csv(sess, file, covers_years=covers_years)
        except store.CalendarError as exc:
            raise click.ClickException(str(exc)) from None
        sess.commit()
        click.echo(f"{count} days imported. {_coverage_line(sess)}")


@calendar_group.command("check")
def check_command() -> None:
    """Exit with status 1 (and say why) when this year or, from October, next year is unknown."""
    with database().new_session() as sess:
        message = store.coverage_warning(sess, today())
        line = _coverage_line(sess)
    if message:
        click.echo(message, err=True)
        raise SystemExit(1)
    click.echo(f"Calendar OK. {line}")


# ---------------------------------------------------------------------------- stage limits
@sla_cli.group("policy")
def policy_group() -> None:
    """The process limits of the stages (verify, file, dispatch, accept, check, close, callback).

    Handling limits come from the filing conditions. An edit applies to stages that start
    afterwards; running and finished stages keep the limit they started with.
    """


@policy_group.command("show")
def policy_show_command() -> None:
    """Every stage's limit, clock and warning share, normal and urgent."""
    from sqlalchemy import select

    from dispatch.models.sla import SlaPolicy

    with database().new_session() as sess:
        rows = sess.scalars(select(SlaPolicy).order_by(SlaPolicy.stage, SlaPolicy.urgency))
        for row in rows:
            click.echo(
                f"{row.stage:<9} {row.urgency:<7} {row.limit_value:g} {row.clock_type:<14}"
                f" warn at {row.warn_share:.0%}"
            )


@policy_group.command("set")
@click.argument("stage", type=click.Choice([s.value for s in Stage]))
@click.argument("urgency", type=click.Choice(["normal", "urgent"]))
@click.argument("limit", type=click.FloatRange(min=0, min_open=True))
@click.argument("clock", type=click.Choice(["natural_hours", "working_hours", "working_days"]))
@click.option("--warn-share", type=click.FloatRange(0, 1, min_open=True, max_open=True))
def policy_set_command(
    stage: str, urgency: str, limit: float, clock: str, warn_share: float | None
) -> None:
    """Set STAGE's LIMIT in CLOCK units for URGENCY (new stages only)."""
    from sqlalchemy import select

    from core.types import utcnow
    from dispatch.models.sla import SlaPolicy

    with database().new_session() as sess:
        row = sess.scalar(
            select(SlaPolicy).where(SlaPolicy.stage == stage, SlaPolicy.urgency == urgency)
        )
        if row is None:
            row = SlaPolicy(stage=stage, urgency=urgency, warn_share=0.8)
            sess.add(row)
        row.limit_value, row.clock_type = limit, clock
        if warn_share is not None:
            row.warn_share = warn_share
        row.updated_at = utcnow()
        sess.commit()
        click.echo(
            f"{stage} ({urgency}): {limit:g} {clock}, warn at {row.warn_share:.0%}"
            " — applies to stages starting from now on."
        )
