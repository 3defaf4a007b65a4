"""The working-time calendar's tables: weekday windows, dated exceptions, known years, revision.

``dispatch.sla.calendar_store`` reads them into a ``WorkCalendar`` and changes them (every change
bumps ``CalendarRevision`` so each process notices and rebuilds its cached calendar).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import UTCDateTime, utcnow

#: ``CalendarWindow.weekday`` of the windows a make-up working day (调休上班) uses.
MAKEUP_WEEKDAY = 7


class CalendarWindow(Base):
    """A local working window ("08:00"-"12:00") of a weekday (0 = Monday) or of make-up days (7)."""

    __tablename__ = "calendar_window"
    __table_args__ = (
        UniqueConstraint("weekday", "start_time", name="uq_calendar_window_weekday_start"),
        CheckConstraint("weekday BETWEEN 0 AND 7", name="weekday_known"),
        CheckConstraint(
            "start_time LIKE '__:__' AND end_time LIKE '__:__'", name="times_are_hh_mm"
        ),
        # Zero-padded "HH:MM" strings order like the times they name.
        CheckConstraint("start_time < end_time", name="start_before_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: 0 (Monday) … 6 (Sunday); 7: the windows of a make-up working day.
    weekday: Mapped[int] = mapped_column(Integer)
    #: Local wall-clock time, "HH:MM".
    start_time: Mapped[str] = mapped_column(String(5))
    end_time: Mapped[str] = mapped_column(String(5))


class CalendarDay(Base):
    """An exception to the weekday rule: a public holiday or a make-up working day (调休上班)."""

    __tablename__ = "calendar_day"
    __table_args__ = (CheckConstraint("kind IN ('holiday', 'workday')", name="kind_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    #: 'holiday' (no work) or 'workday' (a make-up working day).
    kind: Mapped[str] = mapped_column(String(8))
    #: The holiday it belongs to (春节, 国庆节 …), for people.
    name: Mapped[str] = mapped_column(String(100), default="")
    #: Where it came from: 'chinesecalendar 1.11.0', 'admin' or 'csv'.
    source: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )


class CalendarYear(Base):
    """A year whose public holidays and make-up working days are known (loaded or entered)."""

    __tablename__ = "calendar_year"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(40))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CalendarRevision(Base):
    """The one-row change counter: bumped on every calendar edit, read cheaply by each process."""

    __tablename__ = "calendar_revision"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, default=1)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
