"""Reporting periods: whole local days (Asia/Shanghai), parsed from ``from``/``to`` parameters.

A period ``2026-10-01 … 2026-10-31`` is the half-open instant range [Oct 1 00:00, Nov 1 00:00)
Beijing time, so a case created at 23:59:59 on the last day counts and one at midnight does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from core.i18n import SHANGHAI
from dispatch.errors import InvalidInput

#: The longest period a dashboard or evaluation covers (a leap year).
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    """Local days ``first`` … ``last`` (both included)."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        """The first instant (UTC) of the period."""
        return datetime.combine(self.first, time.min, tzinfo=SHANGHAI).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first instant (UTC) after the period."""
        return datetime.combine(
            self.last + timedelta(days=1), time.min, tzinfo=SHANGHAI
        ).astimezone(UTC)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def params(self) -> dict[str, str]:
        """The query parameters that name this period."""
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def local_today(now: datetime | None = None) -> date:
    """Today in Asia/Shanghai (``now``: an aware instant, default the current one)."""
    return (now or datetime.now(UTC)).astimezone(SHANGHAI).date()


def last_days(n: int, now: datetime | None = None) -> Period:
    """The ``n`` local days ending today."""
    today = local_today(now)
    return Period(today - timedelta(days=n - 1), today)


def month_of(day: date) -> Period:
    """The calendar month that contains ``day``."""
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(first, following - timedelta(days=1))


def previous_month(now: datetime | None = None) -> Period:
    """Last calendar month (the usual monthly evaluation)."""
    return month_of(local_today(now).replace(day=1) - timedelta(days=1))


def _parse_day(raw: str, name: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput(f"{name} must be a date like 2026-10-01", {name: "not a date"}) from None


def parse_period(raw_from: str | None, raw_to: str | None, default: Period) -> Period:
    """The period named by ``from``/``to``: neither, the default; only ``to``, a period as long
    as the default ending there; only ``from``, from there to the default's end (or that day).

    Raises InvalidInput (400) for malformed dates, ``from`` after ``to`` or more than a year.
    """
    first = _parse_day(raw_from, "from") if raw_from else None
    last = _parse_day(raw_to, "to") if raw_to else None
    if first is None and last is None:
        return default
    if first is None:
        assert last is not None
        first = last - (default.last - default.first)  # as long as the default, ending at "to"
    if last is None:
        last = max(default.last, first)  # only "from": up to the default's end
    if first > last:
        raise InvalidInput("from must not be after to", {"from": "after to"})
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput(f"a period covers at most {MAX_DAYS} days", {"to": "too long"})
    return Period(first, last)
