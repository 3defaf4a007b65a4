"""Users, their role grants (each with a scope) and API tokens for machine clients."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.types import UTCDateTime, utcnow


class Role(enum.StrEnum):
    """The roles of DOMAIN.md §1; one person may hold several, the system keeps them distinct."""

    OPERATOR = "operator"  #: 受理员 / 话务员
    INSPECTOR = "inspector"  #: 监督员
    SHIFT_SUPERVISOR = "shift_supervisor"  #: 值班长
    DISPATCHER = "dispatcher"  #: 派遣员
    GRID_OFFICER = "grid_officer"  #: 网格员 / 网格责任人
    DEPARTMENT_STAFF = "department_staff"  #: 专业部门
    LEADER = "leader"  #: 领导 / 督办
    ADMIN = "admin"  #: 管理员
    SYSTEM = "system"  #: automatic actions (auto-dispatch, sweeps); never granted to a person


class ScopeKind(enum.StrEnum):
    """How far a role grant reaches."""

    CITY = "city"
    DISTRICT = "district"  #: ``scope_code`` = 6-digit district admin code
    GRIDS = "grids"  #: ``scope_code`` = space-separated grid codes; for officers: their duties


class User(Base):
    """A person who logs in (or a machine client acting through an API token)."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(256))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The grid officer this user is (their grids come from the officer's duties).
    officer_id: Mapped[int | None] = mapped_column(
        ForeignKey("officer.id", ondelete="SET NULL"), nullable=True
    )
    #: The department this user works for (department staff).
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL"), nullable=True
    )
    #: Preferred UI language.
    locale: Mapped[str] = mapped_column(String(16), default="zh_Hans_CN")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    grants: Mapped[list[RoleGrant]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    # Flask-Login protocol.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def roles(self) -> set[Role]:
        return {Role(g.role) for g in self.grants}

    def has_role(self, *roles: Role) -> bool:
        """Whether the user holds any of ``roles``."""
        return bool(self.roles.intersection(roles))


class RoleGrant(Base):
    """One role of a user, with the scope it reaches."""

    __tablename__ = "role_grant"
    __table_args__ = (
        UniqueConstraint("user_id", "role", "scope_kind", "scope_code", name="uq_role_grant"),
        CheckConstraint("role <> 'system'", name="no_system_role"),
        CheckConstraint("scope_kind IN ('city', 'district', 'grids')", name="scope_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    scope_kind: Mapped[str] = mapped_column(String(16), default=ScopeKind.CITY)
    scope_code: Mapped[str] = mapped_column(String(2000), default="")

    user: Mapped[User] = relationship(back_populates="grants")


class ApiToken(Base):
    """A bearer token for a machine client, stored hashed; acts as its user."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    #: SHA-256 of the token (tokens are long random strings, so no slow hash is needed).
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    user: Mapped[User] = relationship()
