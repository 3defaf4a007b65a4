"""Cases (案卷), their append-only event log, callers merged into them and approval requests."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shapely.geometry import Point
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import TextClause

from core.db import Base, one_of
from core.types import GeometryType, UTCDateTime, utcnow

if TYPE_CHECKING:
    from dispatch.models.sla import CaseTimer


class CaseState(enum.StrEnum):
    """The states of DOMAIN.md §5."""

    REPORTED = "reported"  #: 待受理
    TO_VERIFY = "to_verify"  #: 待核实
    TO_FILE = "to_file"  #: 待立案
    TO_DISPATCH = "to_dispatch"  #: 待派遣
    TO_ACCEPT = "to_accept"  #: 待签收
    IN_PROGRESS = "in_progress"  #: 处置中
    SUSPENDED = "suspended"  #: 挂账
    TO_CHECK = "to_check"  #: 待核查
    TO_CLOSE = "to_close"  #: 待结案
    CLOSED = "closed"  #: 已结案
    VOID = "void"  #: 作废
    MERGED = "merged"  #: 已并单 (a duplicate merged into another case)


#: States in which nothing more happens (a closed case can still be reopened).
FINAL_STATES = frozenset({CaseState.CLOSED, CaseState.VOID, CaseState.MERGED})
#: SQL for "the case is open" that partial indexes and the queries that use them share.
OPEN_CASE_SQL = "state NOT IN ('closed', 'void', 'merged')"


def case_is_open() -> TextClause:
    """``case_file`` is open, written exactly as ``ix_case_file_open`` is, so that PostgreSQL
    uses that index whatever the statement's parameters (a bound list would not match it)."""
    return text(f"case_file.{OPEN_CASE_SQL}")


#: States that need an owner.
OWNED_STATES = frozenset(
    {CaseState.TO_ACCEPT, CaseState.IN_PROGRESS, CaseState.SUSPENDED, CaseState.TO_CHECK}
)


class Source(enum.StrEnum):
    """Where a case came from."""

    HOTLINE = "hotline"
    INSPECTOR = "inspector"
    WEB = "web"
    API = "api"
    VIDEO = "video"


class Placement(enum.StrEnum):
    """How the case's grid was found."""

    INSIDE = "inside"  #: the point lies in the grid
    NEAREST = "nearest"  #: nearest grid within the tolerance (approximate)
    MANUAL = "manual"  #: placed by hand from the placement queue
    PENDING = "pending"  #: awaiting manual placement (no usable location)


#: Letters and digits nobody confuses on a phone line or a receipt (no 0/O, 1/I/L).
CHECK_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_check_code(length: int = 6) -> str:
    """A random code for the public look-up (31^6 ≈ 890 million values)."""
    # One draw from the OS for the whole code (not one per character), spelt in base 31.
    value = secrets.randbelow(len(CHECK_CODE_ALPHABET) ** length)
    chars = []
    for _ in range(length):
        value, digit = divmod(value, len(CHECK_CODE_ALPHABET))
        chars.append(CHECK_CODE_ALPHABET[digit])
    return "".join(chars)


class Case(Base):
    """A case: one problem in public space, from report to closure."""

    __tablename__ = "case_file"
    __table_args__ = (
        CheckConstraint(one_of("state", CaseState), name="state_known"),
        CheckConstraint(one_of("source", Source), name="source_known"),
        CheckConstraint(one_of("placement", Placement), name="placement_known"),
        CheckConstraint("state <> 'closed' OR closed_at IS NOT NULL", name="closed_has_closed_at"),
        CheckConstraint("state <> 'closed' OR checked_at IS NOT NULL", name="closed_was_checked"),
        CheckConstraint(
            "state NOT IN ('to_accept', 'in_progress', 'suspended', 'to_check')"
            " OR owner_officer_id IS NOT NULL OR owner_department_id IS NOT NULL",
            name="owned_states_have_owner",
        ),
        CheckConstraint(
            "owner_officer_id IS NULL OR owner_department_id IS NULL", name="one_owner_kind"
        ),
        CheckConstraint(
            "state <> 'merged' OR duplicate_of_id IS NOT NULL", name="merged_has_target"
        ),
        CheckConstraint("(placement = 'pending') = (grid_id IS NULL)", name="placed_iff_grid"),
        CheckConstraint("rework_count >= 0", name="rework_nonnegative"),
        CheckConstraint("urge_count >= 0", name="urge_nonnegative"),
        Index("ix_case_file_state_grid", "state", "grid_code"),
        # The open cases (a few percent of the table) with what supervisors filter them by:
        # overdue counts and filter choices read this alone, not a district's closed history.
        Index(
            "ix_case_file_open",
            "district_code",
            "grid_code",
            "owner_officer_id",
            "owner_department_id",
            "category_id",
            "id",
            postgresql_where=text(OPEN_CASE_SQL),
            sqlite_where=text(OPEN_CASE_SQL),
        ),
        Index("ix_case_file_location_gist", "location", postgresql_using="gist").ddl_if(
            dialect="postgresql"
        ),
        # The dashboard's reads, answered from the index alone on PostgreSQL: a period's intake
        # by day, source, state, category and grid; and the few columns it needs of the cases
        # whose handling fell due in the period, looked up by id.
        Index(
            "ix_case_file_created_cover",
            "created_at",
            postgresql_include=["source", "state", "category_id", "grid_code", "district_code"],
        ).ddl_if(dialect="postgresql"),
        Index(
            "ix_case_file_id_cover",
            "id",
            postgresql_include=[
                "district_code",
                "owner_department_id",
                "state",
                "closed_at",
                "rework_count",
            ],
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Readable, sortable, unique: Asia/Shanghai date + 5-digit daily sequence (2026112100042).
    number: Mapped[str] = mapped_column(String(16), unique=True)
    source: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=CaseState.REPORTED, index=True)
    #: Optimistic version, bumped by every transition (clients may send it as If-Match).
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: A client-generated key: any number of retries of one submission create one case.
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True, nullable=True)
    #: Given to the reporter with the number: number + code open the public progress look-up, so
    #: case numbers (which are sequential) cannot be enumerated.
    check_code: Mapped[str] = mapped_column(String(8), default=new_check_code)

    reporter_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    #: Personal data: shown in full only to roles that need it.
    reporter_name: Mapped[str] = mapped_column(String(100), default="")
    reporter_phone: Mapped[str] = mapped_column(String(32), default="")
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(String(500), default="")

    #: WGS-84 point (NULL when the report had no usable location).
    location: Mapped[Point | None] = mapped_column(GeometryType("POINT", 4326), nullable=True)
    #: The coordinate system the point came in (wgs84, cgcs2000, gcj02, bd09).
    location_crs: Mapped[str] = mapped_column(String(16), default="wgs84")
    placement: Mapped[str] = mapped_column(String(16), default=Placement.PENDING)
    placement_distance_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), nullable=True)
    #: Denormalised for scoping and filtering (stable across boundary sets).
    grid_code: Mapped[str | None] = mapped_column(String(15), nullable=True, index=True)
    district_code: Mapped[str | None] = mapped_column(String(6), nullable=True, index=True)
    boundary_set_version: Mapped[int | None] = mapped_column(Integer, nullable=True)

    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"), nullable=True)
    filing_condition_id: Mapped[int | None] = mapped_column(
        ForeignKey("filing_condition.id"), nullable=True
    )
    urgency: Mapped[str] = mapped_column(String(8), default="normal")

    owner_officer_id: Mapped[int | None] = mapped_column(
        ForeignKey("officer.id"), nullable=True, index=True
    )
    owner_department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id"), nullable=True, index=True
    )
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_file.id"), nullable=True, index=True
    )
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    #: How many times a supervisor urged (督办) the case.
    urge_count: Mapped[int] = mapped_column(Integer, default=0)
    #: The due time granted by an approved extension (the SLA timers honour it).
    extended_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Photos and other attachments of the report: [{"id", "kind", ...}].
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    filed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.seq", cascade="all, delete-orphan"
    )
    callers: Mapped[list[CaseCaller]] = relationship(
        back_populates="case",
        order_by="CaseCaller.id",
        cascade="all, delete-orphan",
        foreign_keys="CaseCaller.case_id",
    )
    requests: Mapped[list[CaseRequest]] = relationship(
        back_populates="case", order_by="CaseRequest.id", cascade="all, delete-orphan"
    )
    timers: Mapped[list[CaseTimer]] = relationship(
        back_populates="case", order_by="CaseTimer.id", cascade="all, delete-orphan"
    )

    @property
    def is_open(self) -> bool:
        return CaseState(self.state) not in FINAL_STATES

    @property
    def needs_placement(self) -> bool:
        return self.placement == Placement.PENDING

    def pending_request(self, kind: str) -> CaseRequest | None:
        """The undecided request of ``kind`` (return, extension, suspend), if any."""
        for req in self.requests:
            if req.kind == kind and req.decision is None:
                return req
        return None


class CaseEvent(Base):
    """One action on a case: who, when, from which state to which, note, data, attachments.

    Append-only: rows are never updated or deleted; replaying them gives the case's state.
    """

    __tablename__ = "case_event"
    __table_args__ = (
        UniqueConstraint("case_id", "seq", name="uq_case_event_case_seq"),
        # Who did what in a period (the performance evaluation reads actions by time).
        Index("ix_case_event_action_at", "action", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"))
    #: 1, 2, 3 … per case; the unique constraint makes a lost race fail loudly.
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str] = mapped_column(String(16))
    actor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    #: The role the actor acted in (one person may hold several).
    actor_role: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")
    #: What changed besides the state (owner, category, grid, reason…), for replay and audit.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    case: Mapped[Case] = relationship(back_populates="events")


class CaseCaller(Base):
    """A citizen attached to a case (the reporter, and every caller merged into it)."""

    __tablename__ = "case_caller"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    #: The case this caller first reported (when merged from a duplicate).
    from_case_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_file.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    case: Mapped[Case] = relationship(back_populates="callers", foreign_keys=[case_id])


class CaseRequest(Base):
    """A request awaiting approval: return (回退), extension (延期) or suspension (挂账)."""

    __tablename__ = "case_request"
    __table_args__ = (
        CheckConstraint("kind IN ('return', 'extension', 'suspend')", name="kind_known"),
        CheckConstraint(
            "decision IS NULL OR decision IN ('approved', 'rejected', 'withdrawn')",
            name="decision_known",
        ),
        CheckConstraint("(decision IS NULL) = (decided_at IS NULL)", name="decided_has_time"),
        Index("ix_case_request_open", "kind", "decision"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    #: For extensions: the due time asked for.
    requested_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    requested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_note: Mapped[str] = mapped_column(Text, default="")

    case: Mapped[Case] = relationship(back_populates="requests")
