"""Boundary sets, grids and officers on duty."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.types import GeometryType, UTCDateTime, utcnow
from grids.features import Level


class BoundarySet(Base):
    """One version of the whole map; exactly one set is active at a time."""

    __tablename__ = "boundary_set"
    __table_args__ = (
        # At most one active set: a partial unique index (PostgreSQL and SQLite both support it).
        Index(
            "uq_boundary_set_one_active",
            "is_active",
            unique=True,
            postgresql_where=text("is_active"),
            sqlite_where=text("is_active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Increasing version number, recorded on every case this set placed.
    version: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: Where the boundaries came from (file name, "demo generator", ...).
    source: Mapped[str] = mapped_column(String(500), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: The import's validation report (JSON), kept for the record.
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    grids: Mapped[list[Grid]] = relationship(back_populates="boundary_set")

    def __repr__(self) -> str:
        return f"<BoundarySet v{self.version} {self.name!r} active={self.is_active}>"


class Grid(Base):
    """A grid of one boundary set: city, district, street, community or unit grid."""

    __tablename__ = "grid"
    __table_args__ = (
        UniqueConstraint("boundary_set_id", "code", name="uq_grid_set_code"),
        CheckConstraint("level BETWEEN 1 AND 5", name="level_range"),
        CheckConstraint("length(code) = 15", name="code_length"),
        Index("ix_grid_set_level", "boundary_set_id", "level"),
        Index("ix_grid_geom_gist", "geom", postgresql_using="gist").ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    boundary_set_id: Mapped[int] = mapped_column(
        ForeignKey("boundary_set.id", ondelete="CASCADE"), index=True
    )
    #: 15 characters: 6 administrative + 3 street + 3 community + 3 sequence.
    code: Mapped[str] = mapped_column(String(15))
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("grid.id", ondelete="CASCADE"), nullable=True, index=True
    )
    #: WGS-84 / CGCS2000 lon/lat, always stored as a MultiPolygon.
    geom: Mapped[MultiPolygon] = mapped_column(GeometryType("MULTIPOLYGON", 4326))
    #: Area in square metres (computed on import, in a local metric projection).
    area_m2: Mapped[float] = mapped_column(Float, default=0.0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Whatever else the boundary file carried for this grid.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    boundary_set: Mapped[BoundarySet] = relationship(back_populates="grids")
    parent: Mapped[Grid | None] = relationship(remote_side=[id])

    @property
    def level_enum(self) -> Level:
        return Level(self.level)

    @property
    def shape(self) -> Polygon | MultiPolygon:
        return self.geom

    def __repr__(self) -> str:
        return f"<Grid {self.code} {self.name}>"


class Officer(Base):
    """A person who can be responsible for grids (网格员 / 网格责任人)."""

    __tablename__ = "officer"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(32), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class GridDuty(Base):
    """An officer's duty for a grid over a period of dates (inclusive; open-ended if no end).

    Duties are keyed by grid *code*, not grid id, because codes outlive boundary sets: a new set
    that redraws a community keeps its officers.
    """

    __tablename__ = "grid_duty"
    __table_args__ = (
        CheckConstraint("role IN ('primary', 'deputy')", name="role_known"),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="period_order"),
        Index("ix_grid_duty_code_dates", "grid_code", "starts_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    grid_code: Mapped[str] = mapped_column(String(15))
    officer_id: Mapped[int] = mapped_column(ForeignKey("officer.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date, nullable=True)

    officer: Mapped[Officer] = relationship()

    def covers(self, day: date) -> bool:
        """Whether this duty is in force on ``day``."""
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)
