"""Counters that must be atomic under concurrent writers (case numbers per day)."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class CaseCounter(Base):
    """The last case sequence number handed out on a day (Asia/Shanghai)."""

    __tablename__ = "case_counter"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)
