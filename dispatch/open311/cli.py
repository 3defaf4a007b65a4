"""``flask open311 key create NAME | revoke ID | list``: Open311 client API keys."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from core.db import database
from core.i18n import local_time
from dispatch.open311.keys import ClientKeyError, clients, issue_key, revoke_key

open311_cli = AppGroup("open311", help="Open311 GeoReport v2: client API keys.")


@open311_cli.group("key")
def key_group() -> None:
    """API keys of Open311 client applications."""


@key_group.command("create")
@click.argument("name")
@click.option("--contact", default="", help="Who runs the client (for the administrators).")
def key_create(name: str, contact: str) -> None:
    """Register client NAME and print its API key (shown this once only)."""
    with database().new_session() as sess:
        try:
            client, key = issue_key(sess, name, contact)
        except ClientKeyError as exc:
            raise click.ClickException(str(exc)) from None
        sess.commit()
        click.echo(
            f"Open311 client {client.id} ({client.name}); its API key (shown once):", err=True
        )
    click.echo(key)


@key_group.command("revoke")
@click.argument("client_id", type=int)
def key_revoke(client_id: int) -> None:
    """Revoke the key of client CLIENT_ID (its requests stay)."""
    with database().new_session() as sess:
        try:
            client = revoke_key(sess, client_id)
        except ClientKeyError as exc:
            raise click.ClickException(str(exc)) from None
        sess.commit()
        click.echo(f"Open311 client {client.id} ({client.name}) revoked.")


@key_group.command("list")
def key_list() -> None:
    """Every client: id, name, key prefix, created, revoked, last used."""
    with database().new_session() as sess:
        for c in clients(sess):
            state = f"revoked {local_time(c.revoked_at)}" if c.revoked_at else "live"
            used = local_time(c.last_used_at) or "never"
            click.echo(
                f"{c.id:>4}  {c.name:<30} {c.key_prefix}…  created {local_time(c.created_at)}"
                f"  {state}  last used {used}  {c.contact}"
            )
