"""``flask insight weights | set-weights KIND factor=value… | set-grades A=90 B=75… | export``:
the performance evaluation's settings and a CSV export from the command line."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from core.db import database
from dispatch.errors import InvalidInput
from dispatch.insight import settings as settings_service
from dispatch.insight.periods import parse_period, previous_month

insight_cli = AppGroup("insight", help="Dashboard and performance evaluation.")


def _pairs(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: write name=value")
        out[key.strip()] = value.strip()
    return out


@insight_cli.command("weights")
def show_weights() -> None:
    """Print the factor weights and grade bands in force."""
    with database().new_session() as sess:
        current = settings_service.load_settings(sess)
    for kind, factors in current.weights.items():
        click.echo(
            f"{kind}: " + " ".join(f"{f}={settings_service.plain(w)}" for f, w in factors.items())
        )
    click.echo(
        "grades: "
        + " ".join(f"{g}>={settings_service.plain(v)}" for g, v in current.grades.items())
        + " E below"
    )


@insight_cli.command("set-weights")
@click.argument("kind", type=click.Choice(settings_service.SUBJECT_KINDS))
@click.argument("weights", nargs=-1, required=True)
def set_weights(kind: str, weights: tuple[str, ...]) -> None:
    """Set every weight of KIND at once (factor=percent …, adding up to 100)."""
    with database().new_session() as sess:
        try:
            saved = settings_service.save_weights(sess, kind, _pairs(weights), None)
        except InvalidInput as exc:
            raise click.ClickException(exc.message) from None
        sess.commit()
    click.echo(f"{kind}: " + " ".join(f"{f}={settings_service.plain(w)}" for f, w in saved.items()))


@insight_cli.command("set-grades")
@click.argument("bands", nargs=-1, required=True)
def set_grades(bands: tuple[str, ...]) -> None:
    """Set the lowest score of A, B, C and D (A=90 B=75 C=60 D=40; E is below D)."""
    with database().new_session() as sess:
        try:
            saved = settings_service.save_grades(sess, _pairs(bands), None)
        except InvalidInput as exc:
            raise click.ClickException(exc.message) from None
        sess.commit()
    click.echo(" ".join(f"{g}>={settings_service.plain(v)}" for g, v in saved.items()))


@insight_cli.command("export")
@click.option("--from", "from_", default=None, help="First day (YYYY-MM-DD); default last month.")
@click.option("--to", "to", default=None, help="Last day (YYYY-MM-DD).")
def export(from_: str | None, to: str | None) -> None:
    """Print the whole city's evaluation of a period as CSV."""
    from dispatch.insight.evaluation import evaluate
    from dispatch.insight.views import evaluation_csv

    try:
        period = parse_period(from_, to, previous_month())
    except InvalidInput as exc:
        raise click.ClickException(exc.message) from None
    with database().new_session() as sess:
        result = evaluate(sess, period)
    click.echo(evaluation_csv(result).lstrip("\ufeff"), nl=False)
