"""The working calendar in the database: load it, cache it per process, seed it, edit it.

Every edit (``set_day``, ``set_windows``, ``set_year_covered``, ``import_csv``, ``seed_calendar``)
bumps the one-row ``CalendarRevision``; ``calendar(session)`` re-reads that row at most every
``CALENDAR_CHECK_SECONDS`` and rebuilds its ``WorkCalendar`` when it changed. Services flush and
never commit: the request, command or job that called them owns the transaction.

Seeding takes the public holidays and make-up working days the ``chinesecalendar`` package knows.
Packages stop at the current year and a new release comes around November, so the coming year is
often missing: ``coverage_warning`` says so (on pages for supervisors, at ``/healthz``, in the log
and from ``flask sla calendar check``), and until the year is covered its working-day deadlines
assume ordinary weeks (``WorkCalendar.assumed`` marks them).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import threading
import time as monotonic_clock
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time
from importlib import metadata
from typing import IO, Any

from flask import Flask, current_app, has_app_context, has_request_context
from flask_babel import gettext
from sqlalchemy import delete, extract, func, select, update
from sqlalchemy.orm import Session

from core.db import after_commit
from core.types import utcnow
from dispatch.access import today as local_today
from dispatch.models import CalendarDay, CalendarRevision, CalendarWindow, CalendarYear, User
from dispatch.models.calendar import MAKEUP_WEEKDAY
from dispatch.sla.calendar import STANDARD_WINDOWS, DayKind, Window, WorkCalendar, checked_windows

#: Named for the pure module: the coverage warning is about the calendar, wherever it is raised.
log = logging.getLogger("dispatch.sla.calendar")

#: Where seeded days come from (the package and its version, e.g. "chinesecalendar 1.11.0").
PACKAGE_SOURCE = f"chinesecalendar {metadata.version('chinesecalendar')}"
ADMIN_SOURCE = "admin"
CSV_SOURCE = "csv"

#: Accepted spellings of a CSV row's kind (compared lower-cased).
_KIND_NAMES: dict[DayKind, frozenset[str]] = {
    DayKind.HOLIDAY: frozenset({"holiday", "休", "假", "休息", "节假日", "放假"}),
    DayKind.WORKDAY: frozenset({"workday", "班", "上班", "调休", "调休上班", "补班"}),
}
#: Accepted CSV header names per column (compared lower-cased).
_COLUMNS: dict[str, frozenset[str]] = {
    "date": frozenset({"date", "day", "日期"}),
    "kind": frozenset({"kind", "type", "类型"}),
    "name": frozenset({"name", "名称", "节日"}),
}


class CalendarError(ValueError):
    """An edit the calendar refuses (bad windows, a malformed CSV …); the message says why."""


# ---------------------------------------------------------------------------- reading
def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def parse_windows(text: str) -> list[Window]:
    """``"08:00-12:00,14:30-17:30"`` -> windows; an empty text means no windows (a day off)."""
    out: list[Window] = []
    for part in text.replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            start, end = (time.fromisoformat(x.strip()) for x in part.split("-"))
        except ValueError:
            raise CalendarError(f"{part!r} is not a window like 08:00-12:00") from None
        if start.second or end.second or start.microsecond or end.microsecond:
            raise CalendarError(f"{part!r}: windows are whole minutes")
        out.append((start, end))
    try:
        return list(checked_windows(out))
    except ValueError as exc:
        raise CalendarError(str(exc)) from None


def format_windows(windows: Iterable[Window]) -> str:
    """Windows as ``"08:00-12:00,14:30-17:30"`` (what ``parse_windows`` reads)."""
    return ",".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in windows)


def stored_windows(session: Session) -> dict[int, list[Window]]:
    """Weekday (0-6, and 7 for make-up working days) -> stored windows, in order."""
    out: dict[int, list[Window]] = {wd: [] for wd in range(MAKEUP_WEEKDAY + 1)}
    rows = session.execute(
        select(CalendarWindow.weekday, CalendarWindow.start_time, CalendarWindow.end_time).order_by(
            CalendarWindow.weekday, CalendarWindow.start_time
        )
    )
    for weekday, start, end in rows:
        out[weekday].append((time.fromisoformat(start), time.fromisoformat(end)))
    return out


def covered_years(session: Session) -> list[int]:
    """Years whose public holidays and make-up working days are known, ascending."""
    return list(session.scalars(select(CalendarYear.year).order_by(CalendarYear.year)))


def days_of_year(session: Session, year: int) -> list[CalendarDay]:
    """The exceptions (holidays and make-up days) dated in ``year``, in date order."""
    return list(
        session.scalars(
            select(CalendarDay)
            .where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
            .order_by(CalendarDay.day)
        )
    )


def load_calendar(session: Session) -> WorkCalendar:
    """A ``WorkCalendar`` of the tables as this session sees them.

    With no windows stored at all (a database not seeded yet) the centre's standard windows
    apply, as configuration defaults do; make-up days without windows of their own use Monday's.
    """
    stored = stored_windows(session)
    if not any(stored.values()):
        stored = {wd: list(STANDARD_WINDOWS) for wd in range(5)}
    days = {
        d: DayKind(kind) for d, kind in session.execute(select(CalendarDay.day, CalendarDay.kind))
    }
    return WorkCalendar(
        {wd: stored.get(wd, []) for wd in range(7)},
        days,
        covered_years(session),
        workday_windows=stored.get(MAKEUP_WEEKDAY) or None,
    )


# ---------------------------------------------------------------------------- the process cache
def revision_key(session: Session) -> tuple[int, str]:
    """The calendar's revision and when it changed: a key that changes with every edit.

    The timestamp keeps the key unique even if a bumped revision was rolled back and the same
    number was then committed by another edit.
    """
    row = session.execute(
        select(CalendarRevision.revision, CalendarRevision.changed_at).where(
            CalendarRevision.id == 1
        )
    ).first()
    if row is None:
        return (0, "")
    return (row.revision, row.changed_at.isoformat() if row.changed_at else "")


class CalendarCache:
    """One process's ``WorkCalendar``, rebuilt when the stored revision changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calendar: WorkCalendar | None = None
        self._key: tuple[int, str] | None = None
        self._checked_at = -math.inf

    def invalidate(self) -> None:
        """Forget the calendar: the next ``get`` rebuilds it."""
        with self._lock:
            self._calendar = None
            self._key = None
            self._checked_at = -math.inf

    def get(self, session: Session, check_seconds: float) -> WorkCalendar:
        """The calendar, re-checking the revision at most every ``check_seconds``."""
        now = monotonic_clock.monotonic()
        found = self._calendar
        if found is not None and now - self._checked_at < check_seconds:
            return found
        key = revision_key(session)
        with self._lock:
            if self._calendar is None or key != self._key:
                self._calendar = load_calendar(session)
                self._key = key
            self._checked_at = now
            return self._calendar


def _cache(app: Flask) -> CalendarCache:
    return app.extensions.setdefault("work_calendar", CalendarCache())  # type: ignore[no-any-return]


def calendar(session: Session) -> WorkCalendar:
    """The current app's working calendar (cached per process; see the module docstring)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    check_seconds = float(app.config.get("CALENDAR_CHECK_SECONDS", 5.0))
    return _cache(app).get(session, check_seconds)


def invalidate(app: Flask | None = None) -> None:
    """Make this process rebuild its calendar on next use (after an edit here, in tests)."""
    _cache(app or current_app._get_current_object()).invalidate()  # type: ignore[attr-defined]


def bump_revision(session: Session) -> None:
    """Record that the calendar changed (other processes see it within their check interval)."""
    values = {"revision": CalendarRevision.revision + 1, "changed_at": utcnow()}
    result = session.execute(
        update(CalendarRevision).where(CalendarRevision.id == 1).values(**values)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(CalendarRevision(id=1, revision=1, changed_at=utcnow()))
    session.flush()
    if has_app_context():
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        # This process need not wait for its next check to see its own edit.
        after_commit(session, lambda: invalidate(app))


# ---------------------------------------------------------------------------- coverage
def N_(msgid: str) -> str:  # the marker pybabel extracts by default
    """Mark ``msgid`` for translation where it is defined; it is translated where it is used."""
    return msgid


#: The coverage warnings: this year unknown, and (from October 1) the coming year unknown.
_YEAR_UNKNOWN = N_(
    "The working calendar does not know the public holidays and make-up working days of "
    "%(year)d: working-day deadlines assume ordinary weeks. Load or enter them on the calendar "
    "page."
)
_COMING_YEAR_UNKNOWN = N_(
    "The working calendar does not know the public holidays and make-up working days of "
    "%(year)d yet: deadlines that reach into %(year)d assume ordinary weeks. Enter them on the "
    "calendar page as soon as they are published (usually in November)."
)


def _warning_text(year: int, *, coming: bool, translated: bool) -> str:
    """The coverage warning: in the request's language, or English (outside requests, logs)."""
    msgid = _COMING_YEAR_UNKNOWN if coming else _YEAR_UNKNOWN
    if translated and has_request_context():
        return gettext(msgid, year=year)
    return msgid % {"year": year}


def _coverage_gap(session: Session, today: date) -> tuple[int, bool] | None:
    """(the missing year, whether it is the coming one), or None when nothing is missing."""
    wanted = [today.year, today.year + 1]
    known = set(session.scalars(select(CalendarYear.year).where(CalendarYear.year.in_(wanted))))
    if today.year not in known:
        return (today.year, False)
    if today >= date(today.year, 10, 1) and today.year + 1 not in known:
        return (today.year + 1, True)
    return None


def coverage_warning(session: Session, today: date, *, translated: bool = True) -> str | None:
    """A warning when ``today``'s year is not covered, or (from October 1) the coming year is not.

    The message is in the request's language (English outside requests or with
    ``translated=False``); None when all is well.
    """
    gap = _coverage_gap(session, today)
    if gap is None:
        return None
    return _warning_text(gap[0], coming=gap[1], translated=translated)


_logged_on: date | None = None


def check_coverage(
    session: Session, today: date | None = None, *, translated: bool = True
) -> str | None:
    """``coverage_warning`` for ``today`` (default: today in Asia/Shanghai), and a log warning
    (in English) at most once per process per day while something is missing."""
    global _logged_on
    today = today or local_today()
    gap = _coverage_gap(session, today)
    if gap is None:
        return None
    if _logged_on != today:
        _logged_on = today
        log.warning("%s", _warning_text(gap[0], coming=gap[1], translated=False))
    return _warning_text(gap[0], coming=gap[1], translated=translated)


def compact_years(years: Iterable[int]) -> str:
    """``[2004, 2005, 2006, 2010]`` -> ``"2004-2006, 2010"``."""
    runs: list[list[int]] = []
    for year in sorted(set(years)):
        if runs and runs[-1][1] == year - 1:
            runs[-1][1] = year
        else:
            runs.append([year, year])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


# ---------------------------------------------------------------------------- seeding
def package_years() -> list[int]:
    """The years ``chinesecalendar`` has data for, found by asking it (it raises beyond)."""
    import chinese_calendar

    years = []
    for year in range(1949, date.today().year + 10):
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            continue
        years.append(year)
    return years


def package_days(years: Iterable[int]) -> dict[date, tuple[DayKind, str]]:
    """The package's named holidays and its make-up working days (Saturdays and Sundays)."""
    import chinese_calendar

    def chinese(name: str) -> str:
        try:
            return str(chinese_calendar.Holiday(name).chinese)
        except ValueError:
            return name

    wanted = set(years)
    out: dict[date, tuple[DayKind, str]] = {}
    for d, name in chinese_calendar.holidays.items():
        if d.year in wanted:
            out[d] = (DayKind.HOLIDAY, chinese(name))
    for d, name in chinese_calendar.workdays.items():
        # The package also lists ordinary weekdays in some versions: only Saturdays and Sundays
        # worked in lieu are exceptions to the weekday rule.
        if d.year in wanted and d.weekday() >= 5:
            out[d] = (DayKind.WORKDAY, chinese(name))
    return out


def seed_calendar(session: Session, years: Iterable[int] | None = None) -> int:
    """Default windows if none exist, and the package's holidays and make-up days; re-runnable.

    With ``years`` None, every year the package covers that is not yet recorded as covered is
    loaded (a year already covered is left alone, so what administrators changed or removed
    stays). With ``years``, those years (the ones the package knows) get any of the package's
    days that are missing; existing rows are never changed. Returns the number of days added.
    """
    changed = False
    if session.scalar(select(CalendarWindow.id).limit(1)) is None:
        for weekday in (0, 1, 2, 3, 4, MAKEUP_WEEKDAY):
            for start, end in STANDARD_WINDOWS:
                session.add(
                    CalendarWindow(weekday=weekday, start_time=_hhmm(start), end_time=_hhmm(end))
                )
        changed = True
    known = set(covered_years(session))
    available = package_years()
    if years is None:
        targets = [y for y in available if y not in known]
    else:
        asked = set(years)
        missing = sorted(asked - set(available))
        if missing:
            log.warning("calendar seed: %s has no data for %s", PACKAGE_SOURCE, missing)
        targets = [y for y in available if y in asked]
    added = 0
    if targets:
        existing = set(
            session.scalars(
                select(CalendarDay.day).where(
                    CalendarDay.day >= date(min(targets), 1, 1),
                    CalendarDay.day <= date(max(targets), 12, 31),
                )
            )
        )
        for d, (kind, name) in sorted(package_days(targets).items()):
            if d not in existing:
                session.add(CalendarDay(day=d, kind=kind, name=name, source=PACKAGE_SOURCE))
                added += 1
        for year in targets:
            if year not in known:
                session.add(CalendarYear(year=year, source=PACKAGE_SOURCE))
                changed = True
    if changed or added:
        session.flush()
        bump_revision(session)
    return added


# ---------------------------------------------------------------------------- editing
def set_day(
    session: Session,
    day: date,
    kind: DayKind | str | None,
    name: str = "",
    user: User | None = None,
    *,
    source: str = ADMIN_SOURCE,
) -> CalendarDay | None:
    """Make ``day`` a holiday or a make-up working day, or (``kind`` None) an ordinary day."""
    row = session.scalar(select(CalendarDay).where(CalendarDay.day == day))
    if kind is None:
        if row is None:
            return None
        session.delete(row)
        session.flush()
        bump_revision(session)
        return None
    try:
        kind = DayKind(kind)
    except ValueError:
        raise CalendarError(f"unknown kind {kind!r} (holiday or workday)") from None
    if row is None:
        row = CalendarDay(day=day)
        session.add(row)
    row.kind = kind
    row.name = name.strip()[:100]
    row.source = source
    row.updated_at = utcnow()
    row.updated_by_id = user.id if user is not None else None
    session.flush()
    bump_revision(session)
    return row


def set_windows(session: Session, weekday: int, windows: Sequence[Window]) -> None:
    """Replace the windows of ``weekday`` (0 = Monday … 6; 7 = make-up working days)."""
    if not 0 <= weekday <= MAKEUP_WEEKDAY:
        raise CalendarError(f"weekday {weekday} is not 0 (Monday) to 7 (make-up working days)")
    try:
        clean = checked_windows(windows)
    except ValueError as exc:
        raise CalendarError(str(exc)) from None
    others = session.scalar(
        select(CalendarWindow.id).where(
            CalendarWindow.weekday != weekday, CalendarWindow.weekday < MAKEUP_WEEKDAY
        )
    )
    if not clean and weekday < MAKEUP_WEEKDAY and others is None:
        raise CalendarError("at least one weekday must keep working windows")
    # An immediate DELETE: the unit of work would insert the new rows before deleting the old.
    session.execute(delete(CalendarWindow).where(CalendarWindow.weekday == weekday))
    for start, end in clean:
        session.add(CalendarWindow(weekday=weekday, start_time=_hhmm(start), end_time=_hhmm(end)))
    session.flush()
    bump_revision(session)


def set_year_covered(
    session: Session, year: int, covered: bool, *, source: str = ADMIN_SOURCE
) -> None:
    """Record that ``year``'s holidays and make-up days are (or are not) all entered."""
    row = session.get(CalendarYear, year)
    if covered and row is None:
        session.add(CalendarYear(year=year, source=source))
    elif not covered and row is not None:
        session.delete(row)
    else:
        return
    session.flush()
    bump_revision(session)


@dataclass(frozen=True)
class CsvDay:
    """A valid row of a calendar CSV."""

    line: int
    day: date
    kind: DayKind
    name: str


def _parse_kind(raw: str) -> DayKind | None:
    text = raw.strip().lower()
    for kind, names in _KIND_NAMES.items():
        if text in names:
            return kind
    return None


def read_calendar_csv(text: str) -> list[CsvDay]:
    """Parse ``date,kind,name`` rows (a header row first); every problem is reported at once."""
    rows = [(n, r) for n, r in enumerate(csv.reader(io.StringIO(text)), 1) if any(r)]
    if not rows:
        raise CalendarError("the file is empty")
    header_line, header = rows[0]
    columns: dict[str, int] = {}
    for index, title in enumerate(header):
        for column, names in _COLUMNS.items():
            if title.strip().lower() in names:
                columns.setdefault(column, index)
    if "date" not in columns or "kind" not in columns:
        raise CalendarError(f"line {header_line}: the header needs the columns date,kind,name")
    errors: list[str] = []
    out: list[CsvDay] = []
    seen: dict[date, int] = {}

    def cell(row: list[str], column: str) -> str:
        index = columns.get(column)
        return row[index].strip() if index is not None and index < len(row) else ""

    for number, row in rows[1:]:
        raw_day, raw_kind = cell(row, "date"), cell(row, "kind")
        try:
            day = date.fromisoformat(raw_day.replace("/", "-"))
        except ValueError:
            errors.append(f"line {number}: {raw_day!r} is not a date (YYYY-MM-DD)")
            continue
        kind = _parse_kind(raw_kind)
        if kind is None:
            errors.append(f"line {number}: {raw_kind!r} is not holiday or workday")
            continue
        if day in seen:
            errors.append(f"line {number}: {day} is already on line {seen[day]}")
            continue
        seen[day] = number
        out.append(CsvDay(number, day, kind, cell(row, "name")[:100]))
    if errors:
        raise CalendarError("\n".join(errors))
    return out


def _read_text(source: str | os.PathLike[str] | IO[str] | IO[bytes]) -> str:
    if isinstance(source, str | os.PathLike):
        with open(source, encoding="utf-8-sig", newline="") as fh:
            return fh.read()
    data: Any = source.read()
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CalendarError("the file is not UTF-8 text") from None
    return str(data).removeprefix("\ufeff")


def import_csv(
    session: Session,
    source: str | os.PathLike[str] | IO[str] | IO[bytes],
    *,
    covers_years: Iterable[int] = (),
    user: User | None = None,
) -> int:
    """Import holidays and make-up working days from a CSV (``date,kind,name``, header first).

    Each row sets its day. Each year in ``covers_years`` must appear in the file, which is then
    taken as that year's complete list: its other days are removed and the year is recorded as
    covered. Nothing changes when any row is wrong. Returns the number of rows imported.
    """
    rows = read_calendar_csv(_read_text(source))
    years = sorted(set(covers_years))
    in_file = {r.day.year for r in rows}
    absent = [y for y in years if y not in in_file]
    if absent:
        raise CalendarError(
            f"the file has no days in {', '.join(map(str, absent))}: it cannot cover that year"
        )
    listed = {r.day for r in rows}
    for year in years:
        stale = [d for d in days_of_year(session, year) if d.day not in listed]
        for row in stale:
            session.delete(row)
    session.flush()
    existing = {
        d.day: d
        for d in session.scalars(select(CalendarDay).where(CalendarDay.day.in_(sorted(listed))))
    }
    now = utcnow()
    for r in rows:
        found = existing.get(r.day)
        if found is None:
            found = CalendarDay(day=r.day)
            session.add(found)
        found.kind = r.kind
        found.name = r.name
        found.source = CSV_SOURCE
        found.updated_at = now
        found.updated_by_id = user.id if user is not None else None
    for year in years:
        found_year = session.get(CalendarYear, year)
        if found_year is None:
            session.add(CalendarYear(year=year, source=CSV_SOURCE))
        else:
            found_year.source = CSV_SOURCE
            found_year.loaded_at = now
    session.flush()
    bump_revision(session)
    return len(rows)


def year_summary(session: Session) -> Mapping[int, int]:
    """Year -> number of stored exceptions, for the years that have any."""
    year = extract("year", CalendarDay.day)
    rows = session.execute(select(year, func.count()).group_by(year).order_by(year))
    return {int(y): n for y, n in rows}
