"""What an inspector's phone adds to a case: photos kept as evidence, and where the report was
made from (the phone's position, its accuracy, and the flags a shift supervisor should look at).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, one_of
from core.types import UTCDateTime, utcnow


class PhotoPurpose(enum.StrEnum):
    """Which step of the case a photo documents."""

    REPORT = "report"  #: the inspector's report (上报)
    VERIFY = "verify"  #: 核实
    CHECK = "check"  #: 核查 (the "after" of before/after)


class ReportFlag(enum.StrEnum):
    """Why a shift supervisor should look at an inspector's report (flagged, never refused)."""

    PHOTO_FAR = "photo_far"  #: a photo's GPS lies far from the reported point
    POOR_ACCURACY = "poor_accuracy"  #: the phone's position was vague
    NO_POSITION = "no_position"  #: the phone gave no position at all


class CasePhoto(Base):
    """A photo attached to a case by a person, validated and re-encoded by the server.

    The files (the original as uploaded, a display size and a thumbnail, the last two without any
    metadata) live under the photo folder named by ``uid``; the original's GPS and capture time are
    kept here as evidence.
    """

    __tablename__ = "case_photo"
    __table_args__ = (
        CheckConstraint(one_of("purpose", PhotoPurpose), name="purpose_known"),
        CheckConstraint("width > 0 AND height > 0", name="size_positive"),
        Index("ix_case_photo_case_purpose", "case_id", "purpose"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random public name of the files (URLs carry it, never the row id).
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"))
    #: The case event the photo belongs to (1 for the report).
    event_seq: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(16))
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    #: The format found in the content (jpeg, png, webp), whatever the file was called.
    original_format: Mapped[str] = mapped_column(String(8))
    original_bytes: Mapped[int] = mapped_column(Integer)
    #: SHA-256 of the original upload (the evidence file's integrity).
    sha256: Mapped[str] = mapped_column(String(64))
    #: Size after EXIF orientation.
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    #: EXIF DateTimeOriginal (with its offset, else taken as Beijing time).
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: EXIF GPS position (WGS-84, as cameras write it).
    gps_lng: Mapped[float | None] = mapped_column(Float, nullable=True)
    gps_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: Metres from the photo's GPS position to the case's point, when both are known.
    distance_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReportEvidence(Base):
    """Where an inspector's report was made from, and what looks doubtful about it."""

    __tablename__ = "report_evidence"
    __table_args__ = (
        CheckConstraint("position_source IN ('gps', 'pin', 'none')", name="position_known"),
        Index("ix_report_evidence_flagged", "is_flagged", "reviewed_at"),
        Index("ix_report_evidence_reporter", "reporter_user_id", "case_id"),
    )

    case_id: Mapped[int] = mapped_column(
        ForeignKey("case_file.id", ondelete="CASCADE"), primary_key=True
    )
    #: The inspector who reported (their "my reports" list reads this index).
    reporter_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    #: ``gps``: reported where the phone stood; ``pin``: the pin was dragged; ``none``: no position.
    position_source: Mapped[str] = mapped_column(String(8))
    #: The phone's own position when the report was made (WGS-84, as browsers give it).
    device_lng: Mapped[float | None] = mapped_column(Float, nullable=True)
    device_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: The browser's accuracy radius (metres, 68 % confidence).
    accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: When the phone made the report (it may reach us much later from the offline outbox).
    reported_on_device_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: ``ReportFlag`` values, with what triggered them in ``flag_detail``.
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    flag_detail: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    is_flagged: Mapped[bool] = mapped_column(default=False)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reviewed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
