"""``flask dispatch ...``: seed the catalogue and demo people, manage API tokens."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from core.db import database
from dispatch.auth import issue_token, revoke_token
from dispatch.models import User

dispatch_cli = AppGroup("dispatch", help="Cases: catalogue, people, tokens.")


@dispatch_cli.command("seed")
def seed_command() -> None:
    """Load the category directory, filing conditions, departments, routing and demo users."""
    from dispatch.seed import seed_all

    with database().new_session() as sess:
        logins = seed_all(sess)
        sess.commit()
    for login in logins:
        roles = ", ".join(login.roles)
        click.echo(f"  {login.username:<20} {login.password:<12} {login.display_name} ({roles})")


@dispatch_cli.group("token")
def token_group() -> None:
    """API tokens for machine clients."""


@token_group.command("create")
@click.argument("username")
@click.argument("name")
def token_create(username: str, name: str) -> None:
    """Issue a token acting as USERNAME; it is printed once."""
    with database().new_session() as sess:
        user = sess.scalar(select(User).where(User.username == username))
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        token = issue_token(sess, user, name)
        sess.commit()
    click.echo(token)


@token_group.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID."""
    with database().new_session() as sess:
        if not revoke_token(sess, token_id):
            raise click.ClickException(f"no live token {token_id}")
        sess.commit()
    click.echo(f"Token {token_id} revoked.")
