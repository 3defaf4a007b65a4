"""Open311 GeoReport v2: the client applications allowed to file requests, and what they filed.

A client (a city app, a third-party reporting site) holds one API key, issued and revoked by an
administrator. Only the key's SHA-256 is stored. Cases a client files are created by the system
itself (a service actor with no user and no scope), so a client never needs a staff role; the
client is recorded on each request and on the case's first event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.types import UTCDateTime, utcnow


class Open311Client(Base):
    """An application allowed to POST service requests with its API key."""

    __tablename__ = "open311_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    #: Who runs the client (a person, an address): for the administrators, never published.
    contact: Mapped[str] = mapped_column(String(200), default="")
    #: SHA-256 (hex) of the key; keys are long random strings, so no slow hash is needed.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The key's first characters, so an administrator can tell keys apart in the list.
    key_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Open311Request(Base):
    """A service request filed through Open311: the case it became and what only Open311 has."""

    __tablename__ = "open311_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("case_file.id", ondelete="CASCADE"), unique=True
    )
    client_id: Mapped[int] = mapped_column(
        ForeignKey("open311_client.id", ondelete="RESTRICT"), index=True
    )
    #: Resolves to the request id through ``GET tokens/{token}``.
    token: Mapped[str] = mapped_column(String(40), unique=True)
    service_code: Mapped[str] = mapped_column(String(16))
    #: The ``attribute[code]`` answers as sent: {code: value or [values]}.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: A public URL of a photo (http/https only); published with the request.
    media_url: Mapped[str] = mapped_column(String(1000), default="")
    #: The client's own address identifier, when it located the problem that way.
    address_id: Mapped[str] = mapped_column(String(100), default="")
    #: Personal data of the reporter (name and phone live on the case, as for any caller).
    email: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    client: Mapped[Open311Client] = relationship()
