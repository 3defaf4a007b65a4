"""Open311 API keys: issued to a client application once, stored as SHA-256, revoked by an admin."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.types import utcnow
from dispatch.models import Open311Client, User

#: Every key starts with this, so a leaked one is easy to recognise in logs and repositories.
KEY_PREFIX = "o311_"


class ClientKeyError(ValueError):
    """A key request that cannot be carried out (duplicate name, unknown client…)."""


def digest(key: str) -> str:
    """The SHA-256 (hex) under which a key is stored."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def issue_key(
    session: Session, name: str, contact: str = "", created_by: User | None = None
) -> tuple[Open311Client, str]:
    """Register client ``name`` and return it with its key (shown once, never stored)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ClientKeyError("the client's name must be 1-100 characters")
    if len(contact) > 200:
        raise ClientKeyError("the contact must be at most 200 characters")
    if session.scalar(select(Open311Client.id).where(Open311Client.name == name)) is not None:
        raise ClientKeyError(f"a client named {name!r} already exists")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    client = Open311Client(
        name=name,
        contact=contact.strip(),
        key_hash=digest(key),
        key_prefix=key[: len(KEY_PREFIX) + 6],
        created_by_id=created_by.id if created_by else None,
    )
    session.add(client)
    session.flush()
    return client, key


def revoke_key(session: Session, client_id: int, revoked_by: User | None = None) -> Open311Client:
    """Revoke a client's key at once (its requests stay, and stay public)."""
    client = session.get(Open311Client, client_id)
    if client is None:
        raise ClientKeyError(f"no Open311 client {client_id}")
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        client.revoked_by_id = revoked_by.id if revoked_by else None
        session.flush()
    return client


def clients(session: Session) -> Sequence[Open311Client]:
    """Every client, live ones first, newest first."""
    return session.scalars(
        select(Open311Client).order_by(
            Open311Client.revoked_at.is_not(None), Open311Client.created_at.desc()
        )
    ).all()


def client_for_key(session: Session, key: str) -> Open311Client | None:
    """The live client holding ``key`` (None for a missing, unknown or revoked key)."""
    if not key or len(key) > 200:
        return None
    return session.scalar(
        select(Open311Client).where(
            Open311Client.key_hash == digest(key), Open311Client.revoked_at.is_(None)
        )
    )
