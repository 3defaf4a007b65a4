"""The category catalogue (部件/事件 classes), filing conditions, departments and routing rules."""

from __future__ import annotations

import enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base


class CategoryKind(enum.StrEnum):
    """管理部件 (physical components) or 管理事项 (events / matters)."""

    COMPONENT = "component"
    MATTER = "matter"


class ClockType(enum.StrEnum):
    """How a limit is counted: natural hours, working hours or working days."""

    NATURAL_HOURS = "natural_hours"
    WORKING_HOURS = "working_hours"
    WORKING_DAYS = "working_days"


class Urgency(enum.StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class Category(Base):
    """A minor class of the directory (e.g. 01001 供水井盖), editable by administrators."""

    __tablename__ = "category"
    __table_args__ = (
        UniqueConstraint("kind", "code", name="uq_category_kind_code"),
        CheckConstraint("kind IN ('component', 'matter')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: 5 digits today (2 major + 3 minor); 4 in older 2+2 code sets.
    code: Mapped[str] = mapped_column(String(8))
    major_code: Mapped[str] = mapped_column(String(2))
    major_name: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    #: Words and synonyms citizens use for it (space separated), for suggestions.
    keywords: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    conditions: Mapped[list[FilingCondition]] = relationship(
        back_populates="category", order_by="FilingCondition.id"
    )

    @property
    def full_code(self) -> str:
        """Kind-qualified code, unique across both tables (``C01001`` / ``M01001``)."""
        return ("C" if self.kind == CategoryKind.COMPONENT else "M") + self.code


class FilingCondition(Base):
    """A filing condition (立案条件) of a minor class: its handling limit and closing condition."""

    __tablename__ = "filing_condition"
    __table_args__ = (
        CheckConstraint("limit_value > 0", name="limit_positive"),
        CheckConstraint(
            "clock_type IN ('natural_hours', 'working_hours', 'working_days')", name="clock_known"
        ),
        CheckConstraint("urgency IN ('normal', 'urgent')", name="urgency_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(
        ForeignKey("category.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    #: Handling limit (处置时限), counted in ``clock_type`` units.
    limit_value: Mapped[float] = mapped_column(Float)
    clock_type: Mapped[str] = mapped_column(String(16))
    closing_condition: Mapped[str] = mapped_column(Text, default="")
    urgency: Mapped[str] = mapped_column(String(8), default=Urgency.NORMAL)
    #: True for the catalogue-wide default an administrator has not yet refined.
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    category: Mapped[Category] = relationship(back_populates="conditions")


class Department(Base):
    """A professional department (专业部门 / 责任单位) that handles some classes of case."""

    __tablename__ = "department"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: District admin code (6 digits) for a district-level department; NULL for city level.
    district_code: Mapped[str | None] = mapped_column(String(6), nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class RoutingRule(Base):
    """Who handles a minor class: the grid's officer, or a named department (optionally only in
    one district). The most specific active rule wins: district rule over city-wide rule."""

    __tablename__ = "routing_rule"
    __table_args__ = (
        UniqueConstraint("category_id", "district_code", name="uq_routing_rule_category_district"),
        CheckConstraint(
            "(handler = 'grid_officer' AND department_id IS NULL)"
            " OR (handler = 'department' AND department_id IS NOT NULL)",
            name="handler_consistent",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(
        ForeignKey("category.id", ondelete="CASCADE"), index=True
    )
    #: NULL: the whole city.
    district_code: Mapped[str | None] = mapped_column(String(6), nullable=True)
    handler: Mapped[str] = mapped_column(String(16))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="RESTRICT"), nullable=True
    )
    priority: Mapped[int] = mapped_column(Integer, default=0)

    department: Mapped[Department | None] = relationship()
