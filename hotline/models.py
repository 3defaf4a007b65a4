"""Hotline models: calls taken at the desk, the gazetteer, the knowledge base of answers,
per-caller callbacks (回访), incoming-call announcements and the log of revealed numbers."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, one_of
from core.types import UTCDateTime, utcnow
from dispatch.models import CaseCaller

#: The caller history looks a number up among the callers of every case (dispatch's table; the
#: index belongs to the desk that needs it).
Index("ix_case_caller_phone", CaseCaller.__table__.c.phone)


class RequestType(enum.StrEnum):
    """诉求类型 of DOMAIN.md §6."""

    CONSULTATION = "consultation"  #: 咨询
    HELP = "help"  #: 求助
    COMPLAINT = "complaint"  #: 投诉
    REPORT = "report"  #: 举报
    SUGGESTION = "suggestion"  #: 建议
    PRAISE = "praise"  #: 表扬/感谢
    OTHER = "other"  #: 其他


class Channel(enum.StrEnum):
    """How the request reached the desk: 12345, the merged lines, web, SMS, mini-program."""

    L12345 = "12345"
    L12319 = "12319"  #: urban management
    L12369 = "12369"  #: environment
    L12348 = "12348"  #: legal
    L12318 = "12318"  #: culture
    L12355 = "12355"  #: youth
    ENTERPRISE = "enterprise"  #: the enterprise line
    WEB = "web"
    SMS = "sms"
    MINI_PROGRAM = "mini_program"


class CallOutcome(enum.StrEnum):
    """What became of a call."""

    NEW_CASE = "new_case"  #: a new case was opened
    ATTACHED = "attached"  #: a duplicate: merged into an open case (并单), caller kept there
    ANSWERED = "answered"  #: a consultation answered on the call and closed at intake


class Satisfaction(enum.StrEnum):
    """What a caller says at the callback."""

    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"


class GazetteerKind(enum.StrEnum):
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    ROAD = "road"
    LANDMARK = "landmark"


class HotlineCall(Base):
    """One call (or web/SMS message) taken at the desk, whatever became of it."""

    __tablename__ = "hotline_call"
    __table_args__ = (
        CheckConstraint(one_of("request_type", RequestType), name="request_type_known"),
        CheckConstraint(one_of("channel", Channel), name="channel_known"),
        CheckConstraint(one_of("outcome", CallOutcome), name="outcome_known"),
        CheckConstraint("(outcome = 'answered') = (case_id IS NULL)", name="case_unless_answered"),
        CheckConstraint("outcome <> 'answered' OR answer <> ''", name="answered_has_answer"),
        Index("ix_hotline_call_phone_created", "caller_phone", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: H + Asia/Shanghai date + daily sequence: what the caller is told for a consultation.
    number: Mapped[str] = mapped_column(String(16), unique=True)
    #: A client-generated key: a double submit records one call.
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True, nullable=True)
    #: Personal data: shown in full only to roles that need it (see ``hotline.privacy``).
    caller_phone: Mapped[str] = mapped_column(String(32), default="")
    caller_name: Mapped[str] = mapped_column(String(100), default="")
    #: The caller does not want their name or number passed on (no caller on the case).
    is_anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    request_type: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16), default=Channel.L12345)
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(String(500), default="")
    outcome: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_file.id", ondelete="SET NULL"), nullable=True, index=True
    )
    #: For an attached call: the case the caller was told (the one that goes on).
    attached_to_case_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_file.id", ondelete="SET NULL"), nullable=True
    )
    knowledge_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("knowledge_entry.id", ondelete="SET NULL"), nullable=True
    )
    #: The answer given on the call (consultations closed at intake).
    answer: Mapped[str] = mapped_column(Text, default="")
    operator_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    seat: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class HotlineCounter(Base):
    """The last call sequence number handed out on a day (Asia/Shanghai)."""

    __tablename__ = "hotline_counter"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class GazetteerEntry(Base):
    """A named place of the city (district, street, community, road, landmark) with a point."""

    __tablename__ = "gazetteer_entry"
    __table_args__ = (
        CheckConstraint(one_of("kind", GazetteerKind), name="kind_known"),
        CheckConstraint("lng BETWEEN -180 AND 180 AND lat BETWEEN -90 AND 90", name="lnglat"),
        UniqueConstraint("kind", "name", "parent_name", name="uq_gazetteer_entry_place"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), index=True)
    #: Other names people use (space separated): 旧称, abbreviations.
    aliases: Mapped[str] = mapped_column(String(500), default="")
    #: Where it is, for reading (district / street), and to tell equal names apart.
    parent_name: Mapped[str] = mapped_column(String(200), default="")
    #: WGS-84 / CGCS2000.
    lng: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    #: demo, import:<file name>
    source: Mapped[str] = mapped_column(String(100), default="")


class KnowledgeEntry(Base):
    """An answer of the knowledge base, for consultations answered on the call."""

    __tablename__ = "knowledge_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    #: The answer read to the caller.
    answer: Mapped[str] = mapped_column(Text)
    #: Words callers use (space separated), for the search.
    keywords: Mapped[str] = mapped_column(String(500), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )


class CallbackRecord(Base):
    """One caller of a closed case called back (回访), for one closing of the case."""

    __tablename__ = "hotline_callback"
    __table_args__ = (
        CheckConstraint(one_of("satisfaction", Satisfaction), name="satisfaction_known"),
        UniqueConstraint("caller_id", "timer_round", name="uq_hotline_callback_caller_round"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    caller_id: Mapped[int] = mapped_column(ForeignKey("case_caller.id", ondelete="CASCADE"))
    #: The round of the case's callback clock this answers (a reopened case is called again).
    timer_round: Mapped[int] = mapped_column(Integer)
    satisfaction: Mapped[str] = mapped_column(String(24))
    note: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IncomingCall(Base):
    """A call the telephony system announced (number, line, seat) before the operator answers."""

    __tablename__ = "hotline_incoming"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(32))
    line: Mapped[str] = mapped_column(String(16), default="12345")
    seat: Mapped[str] = mapped_column(String(32), default="", index=True)
    announced_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PhoneReveal(Base):
    """A full caller number shown to someone who asked for it (personal data: logged)."""

    __tablename__ = "phone_reveal"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True, index=True
    )
    role: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("hotline_call.id", ondelete="SET NULL"), nullable=True
    )
    caller_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_caller.id", ondelete="SET NULL"), nullable=True
    )
    reason: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
