"""The working-time calendar: working windows, working days, public holidays and make-up days.

Pure values and arithmetic: no database, no Flask (``calendar_store`` builds a ``WorkCalendar``
from the tables). The rules below are product decisions; the tests in ``tests/test_calendar.py``
pin each of them.

Time
    Every datetime argument must be timezone-aware (a naive one raises ``ValueError``); every
    datetime returned is UTC-aware (``datetime.timezone.utc``). Days, weekdays and windows are
    local to the calendar's zone (Asia/Shanghai by default: no DST; storage is UTC).

Days
    A local date is a *working day* when it is a make-up working day (``DayKind.WORKDAY``, 调休上班:
    it then has ``workday_windows``), or when it is not a public holiday (``DayKind.HOLIDAY``) and
    its weekday has windows. Holidays and make-up days are only *known* for ``covered_years``: a
    date in another year with no explicit entry follows the weekday rule, and ``assumed`` reports
    that an answer relied on it. The calendar never guesses a holiday; an entry an administrator
    typed for an uncovered year (say the first announced days of next year) is used as given.

Clocks (``add``)
    natural_hours
        ``start + amount`` hours, exactly, whatever the day.
    working_hours
        ``amount * 3600`` working seconds. A start outside working time counts from the next
        window; a result that lands exactly on a window's end is that end (not the next window's
        start); ``amount == 0`` returns the start unchanged.
    working_days
        The whole part N counts days from the day *after* the start's local date (次日起算): the
        due time is the end of the last window of the N-th working day after that date. So one
        working day from Friday 09:00 is Monday 17:30, and from the Saturday of a holiday week it
        is the end of the first working day after the holiday. A fractional part f then adds
        ``f`` × (the working seconds of a standard Monday) working seconds after that (after the
        start itself when N == 0).
    Working amounts must be >= 0.

Elapsed time (``elapsed``)
    Seconds of the clock between ``a`` and ``b`` (natural seconds for natural_hours, working
    seconds for working_hours and working_days), minus the parts of the paused intervals that
    overlap ``[a, b]``; an open pause ``(x, None)`` runs to ``b``; overlapping pauses count once.

Speed
    Deadline arithmetic runs for every case on every sweep, so it is table look-ups: at
    construction the calendar lays out every working window (epoch microseconds) from the year
    before its first known year to a few years after its last, with a running total of working
    time, and answers with ``bisect``. Outside that range it walks day by day (same answers,
    slower). Integer microseconds keep both paths exact and identical.
"""

from __future__ import annotations

import enum
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from dispatch.models.catalog import ClockType

#: The zone of the centre's working day (China has one time zone and no DST).
SHANGHAI = ZoneInfo("Asia/Shanghai")

#: A local working window: (start, end), start < end, within one day.
Window = tuple[time, time]

#: The standard windows of the centre: 08:00-12:00 and 14:30-17:30.
STANDARD_WINDOWS: tuple[Window, ...] = ((time(8, 0), time(12, 0)), (time(14, 30), time(17, 30)))

# The clock names (ClockType's values; compared as strings so this module imports no models).
NATURAL_HOURS = "natural_hours"
WORKING_HOURS = "working_hours"
WORKING_DAYS = "working_days"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_US_PER_SECOND = 1_000_000
_US_PER_HOUR = 3_600 * _US_PER_SECOND
_ONE_DAY = timedelta(days=1)
#: Years laid out after the last known year (deadlines reach into the next year or two).
_YEARS_AHEAD = 3
#: A day-by-day walk that finds no working window for this many days gives up.
_MAX_IDLE_DAYS = 3_700


class DayKind(enum.StrEnum):
    """An exception to the weekday rule: a public holiday or a make-up working day (调休上班)."""

    HOLIDAY = "holiday"
    WORKDAY = "workday"


def _us(t: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (naive ones are refused)."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime refused: {t!r} (give a timezone-aware datetime)")
    return (t - _EPOCH) // _ONE_US


def _dt(us: int) -> datetime:
    """The UTC-aware datetime of ``us`` microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=us)


def checked_windows(windows: Iterable[Sequence[time]], what: str = "windows") -> tuple[Window, ...]:
    """Windows sorted by start, each non-empty, none overlapping another."""
    out = sorted((w[0], w[1]) for w in windows)
    for start, end in out:
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError(f"{what}: windows are local wall-clock times, without a zone")
        if not start < end:
            raise ValueError(f"{what}: window {start:%H:%M}-{end:%H:%M} does not end after start")
    for (_s1, e1), (s2, _e2) in pairwise(out):
        if s2 < e1:
            raise ValueError(f"{what}: windows overlap at {s2:%H:%M}")
    return tuple(out)


def _window_us(windows: Sequence[Window]) -> int:
    """Total length of ``windows`` in microseconds."""
    total = 0
    for start, end in windows:
        total += (datetime.combine(date.min, end) - datetime.combine(date.min, start)) // _ONE_US
    return total


class WorkCalendar:
    """An immutable working-time calendar: weekday windows plus dated exceptions.

    ``windows`` maps weekday (0 = Monday … 6 = Sunday) to that day's local windows; ``days`` maps
    dates to ``DayKind`` exceptions; ``covered_years`` are the years whose exceptions are known.
    ``workday_windows`` are a make-up working day's windows (default: Monday's). ``precompute``
    is for tests: False answers everything by the day-by-day walk.
    """

    __slots__ = (
        "_cum",
        "_day_end",
        "_days",
        "_ends",
        "_first_ordinal",
        "_frozen",
        "_hi",
        "_lo",
        "_midnights",
        "_standard_day_us",
        "_starts",
        "_tz",
        "_weekday_windows",
        "_work_ordinals",
        "_workday_windows",
        "covered_years",
    )

    covered_years: frozenset[int]

    def __init__(
        self,
        windows: Mapping[int, Sequence[tuple[time, time]]],
        days: Mapping[date, DayKind | str],
        covered_years: Iterable[int],
        *,
        workday_windows: Sequence[tuple[time, time]] | None = None,
        tz: ZoneInfo = SHANGHAI,
        precompute: bool = True,
    ) -> None:
        unknown = set(windows) - set(range(7))
        if unknown:
            raise ValueError(f"weekdays are 0 (Monday) to 6 (Sunday), not {sorted(unknown)}")
        self._weekday_windows = tuple(
            checked_windows(windows.get(wd, ()), f"weekday {wd}") for wd in range(7)
        )
        self._workday_windows = (
            self._weekday_windows[0]
            if workday_windows is None
            else checked_windows(workday_windows, "make-up working day")
        )
        self._days = MappingProxyType({d: DayKind(kind) for d, kind in days.items()})
        self.covered_years = frozenset(int(y) for y in covered_years)
        self._tz = tz
        self._standard_day_us = _window_us(self._weekday_windows[0]) or _window_us(
            self._workday_windows
        )
        self._lay_out(precompute)
        self._frozen = True

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError("WorkCalendar is immutable: build a new one")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        years = sorted(self.covered_years)
        span = f"{years[0]}-{years[-1]}" if years else "none"
        return f"<WorkCalendar covered={span} exceptions={len(self._days)} tz={self._tz.key}>"

    @classmethod
    def standard(
        cls,
        days: Mapping[date, DayKind | str] | None = None,
        covered_years: Iterable[int] = (),
    ) -> WorkCalendar:
        """Monday to Friday 08:00-12:00 and 14:30-17:30 (Asia/Shanghai), with ``days``."""
        return cls({wd: STANDARD_WINDOWS for wd in range(5)}, days or {}, covered_years)

    # ------------------------------------------------------------------ read-only views
    @property
    def windows(self) -> Mapping[int, tuple[Window, ...]]:
        """Weekday (0-6) -> that weekday's windows."""
        return MappingProxyType(dict(enumerate(self._weekday_windows)))

    @property
    def workday_windows(self) -> tuple[Window, ...]:
        """The windows of a make-up working day."""
        return self._workday_windows

    @property
    def days(self) -> Mapping[date, DayKind]:
        """The dated exceptions (public holidays and make-up working days)."""
        return self._days

    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    # ------------------------------------------------------------------ days
    def _local_windows(self, d: date) -> tuple[Window, ...]:
        kind = self._days.get(d)
        if kind is DayKind.HOLIDAY:
            return ()
        if kind is DayKind.WORKDAY:
            return self._workday_windows
        return self._weekday_windows[d.weekday()]

    def _spans(self, d: date) -> list[tuple[int, int]]:
        """The windows of local date ``d`` as epoch microseconds."""
        tz = self._tz
        return [
            (
                _us(datetime.combine(d, start, tzinfo=tz)),
                _us(datetime.combine(d, end, tzinfo=tz)),
            )
            for start, end in self._local_windows(d)
        ]

    def _local_date(self, us: int) -> date:
        return _dt(us).astimezone(self._tz).date()

    def is_working_day(self, d: date) -> bool:
        """Whether local date ``d`` has working windows (see the module's rules)."""
        return bool(self._local_windows(d))

    def windows_on(self, d: date) -> list[tuple[datetime, datetime]]:
        """The working windows of local date ``d``, as UTC instants."""
        return [(_dt(s), _dt(e)) for s, e in self._spans(d)]

    def assumed(self, start: datetime, end: datetime) -> bool:
        """True when ``[start, end]`` touches a local date whose year is not covered."""
        a, b = sorted((_us(start), _us(end)))
        first, last = self._local_date(a).year, self._local_date(b).year
        return any(y not in self.covered_years for y in range(first, last + 1))

    # ------------------------------------------------------------------ the fast tables
    def _lay_out(self, precompute: bool) -> None:
        """Lay out every window of the covered years (and a few beyond) for ``bisect``."""
        starts: list[int] = []
        ends: list[int] = []
        cum = [0]
        midnights: list[int] = []
        work_ordinals: list[int] = []
        day_end: list[int] = []
        first_ordinal = 0
        if precompute:
            years = set(self.covered_years) | {d.year for d in self._days}
            years.add(date.today().year)  # only widens the fast range; answers do not change
            hi = min(max(years) + _YEARS_AHEAD, 9_990)
            lo = max(min(years) - 1, hi - 200, 2)
            first_ordinal = date(lo, 1, 1).toordinal()
            last_ordinal = date(hi + 1, 1, 1).toordinal()
            tz = self._tz
            midnight = time(0)
            for ordinal in range(first_ordinal, last_ordinal + 1):
                d = date.fromordinal(ordinal)
                midnights.append(_us(datetime.combine(d, midnight, tzinfo=tz)))
                if ordinal == last_ordinal:
                    break
                spans = self._spans(d)
                for s, e in spans:
                    starts.append(s)
                    ends.append(e)
                    cum.append(cum[-1] + e - s)
                if spans:
                    work_ordinals.append(ordinal)
                    day_end.append(spans[-1][1])
        self._starts = starts
        self._ends = ends
        self._cum = cum
        self._midnights = midnights
        self._work_ordinals = work_ordinals
        self._day_end = day_end
        self._first_ordinal = first_ordinal
        # [_lo, _hi): instants the tables answer for (empty when nothing was laid out).
        self._lo = midnights[0] if midnights else 0
        self._hi = midnights[-1] if midnights else 0

    def _worked_before(self, us: int) -> int:
        """Working microseconds in the tables' windows before ``us`` (``_lo <= us <= _hi``)."""
        i = bisect_right(self._starts, us) - 1
        if i < 0:
            return 0
        end = self._ends[i]
        return self._cum[i] + (end if us > end else us) - self._starts[i]

    # ------------------------------------------------------------------ instants
    def is_working_time(self, t: datetime) -> bool:
        """Whether ``t`` is inside a working window (windows include their start, not their end)."""
        us = _us(t)
        if self._lo <= us < self._hi:
            i = bisect_right(self._starts, us) - 1
            return i >= 0 and us < self._ends[i]
        return any(s <= us < e for s, e in self._spans(self._local_date(us)))

    def next_working_instant(self, t: datetime) -> datetime:
        """``t`` itself when inside a window, else the start of the next window (UTC)."""
        return _dt(self._next_working_us(_us(t)))

    def _next_working_us(self, us: int) -> int:
        if self._lo <= us < self._hi:
            i = bisect_right(self._starts, us) - 1
            if i >= 0 and us < self._ends[i]:
                return us
            if i + 1 < len(self._starts):
                return self._starts[i + 1]
        d = self._local_date(us)
        for _ in range(_MAX_IDLE_DAYS):
            for s, e in self._spans(d):
                if us < e:
                    return s if s > us else us
            d += _ONE_DAY
        raise ValueError(f"no working window within {_MAX_IDLE_DAYS} days of {_dt(us)}")

    # ------------------------------------------------------------------ working seconds
    def add_working_seconds(self, start: datetime, seconds: float) -> datetime:
        """The instant ``seconds`` working seconds after ``start`` (see the module's rules)."""
        return _dt(self._add_working_us(_us(start), _amount_us(seconds, _US_PER_SECOND)))

    def _add_working_us(self, us: int, amount: int) -> int:
        if amount == 0:
            return us
        if self._lo <= us < self._hi:
            target = self._worked_before(us) + amount
            cum = self._cum
            if target <= cum[-1]:
                j = bisect_left(cum, target) - 1
                return self._starts[j] + target - cum[j]
            # Runs past the tables: use up what they hold, walk on from their end.
            amount = target - cum[-1]
            us = self._hi
        return self._add_working_slow(us, amount)

    def _add_working_slow(self, us: int, amount: int) -> int:
        """Day-by-day walk: the instant ``amount`` (> 0) working microseconds after ``us``."""
        d = self._local_date(us)
        idle = 0
        while idle < _MAX_IDLE_DAYS:
            spans = self._spans(d)
            idle = 0 if spans else idle + 1
            for s, e in spans:
                if e <= us:
                    continue
                begin = s if s > us else us
                available = e - begin
                if amount <= available:
                    return begin + amount
                amount -= available
            d += _ONE_DAY
        raise ValueError(f"no working window within {_MAX_IDLE_DAYS} days of {d}")

    def working_seconds_between(self, a: datetime, b: datetime) -> float:
        """Working seconds from ``a`` to ``b`` (0 when ``b <= a``)."""
        return self._working_us_between(_us(a), _us(b)) / _US_PER_SECOND

    def _working_us_between(self, a: int, b: int) -> int:
        if b <= a:
            return 0
        lo, hi = self._lo, self._hi
        if lo <= a and b <= hi:
            return self._worked_before(b) - self._worked_before(a)
        total = 0
        if a < lo:
            cut = b if b < lo else lo
            total += self._working_slow_between(a, cut)
            a = cut
        if lo <= a < hi and a < b:
            cut = b if b < hi else hi
            total += self._worked_before(cut) - self._worked_before(a)
            a = cut
        if a < b:
            total += self._working_slow_between(a, b)
        return total

    def _working_slow_between(self, a: int, b: int) -> int:
        """Day-by-day walk: working microseconds in ``[a, b]``."""
        total = 0
        d, last = self._local_date(a), self._local_date(b)
        while d <= last:
            for s, e in self._spans(d):
                lo = s if s > a else a
                hi = e if e < b else b
                if hi > lo:
                    total += hi - lo
            d += _ONE_DAY
        return total

    # ------------------------------------------------------------------ working days
    def _add_working_days_us(self, us: int, n: int) -> int:
        """End of the last window of the ``n``-th (>= 1) working day after ``us``'s local date."""
        if self._lo <= us < self._hi:
            ordinal = self._first_ordinal + bisect_right(self._midnights, us) - 1
            k = bisect_right(self._work_ordinals, ordinal) + n - 1
            if k < len(self._day_end):
                return self._day_end[k]
        d = self._local_date(us)
        idle = 0
        while idle < _MAX_IDLE_DAYS:
            d += _ONE_DAY
            spans = self._spans(d)
            if not spans:
                idle += 1
                continue
            idle = 0
            n -= 1
            if n == 0:
                return spans[-1][1]
        raise ValueError(f"no working day within {_MAX_IDLE_DAYS} days of {d}")

    # ------------------------------------------------------------------ the clocks
    def add(self, start: datetime, amount: float, clock: ClockType | str) -> datetime:
        """The due instant ``amount`` units of ``clock`` after ``start`` (module rules)."""
        us = _us(start)
        if clock == WORKING_HOURS:
            return _dt(self._add_working_us(us, _amount_us(amount, _US_PER_HOUR)))
        if clock == WORKING_DAYS:
            if not (amount >= 0 and math.isfinite(amount)):
                raise ValueError(f"working days must be finite and >= 0, not {amount!r}")
            whole = int(amount)
            fraction = amount - whole
            if whole:
                us = self._add_working_days_us(us, whole)
            if fraction:
                if not self._standard_day_us:
                    raise ValueError("a fraction of a working day needs Monday's windows")
                us = self._add_working_us(us, round(fraction * self._standard_day_us))
            return _dt(us)
        if clock == NATURAL_HOURS:
            if not math.isfinite(amount):
                raise ValueError(f"natural hours must be finite, not {amount!r}")
            return _dt(us + round(amount * _US_PER_HOUR))
        raise ValueError(f"unknown clock {clock!r}")

    def elapsed(
        self,
        a: datetime,
        b: datetime,
        clock: ClockType | str,
        paused: Iterable[tuple[datetime, datetime | None]] = (),
    ) -> float:
        """Seconds of ``clock`` from ``a`` to ``b``, less the paused parts (see the module)."""
        a_us, b_us = _us(a), _us(b)
        if clock == NATURAL_HOURS:
            measure = _natural_us
        elif clock in (WORKING_HOURS, WORKING_DAYS):
            measure = self._working_us_between
        else:
            raise ValueError(f"unknown clock {clock!r}")
        if b_us <= a_us:
            return 0.0
        total = measure(a_us, b_us)
        for lo, hi in _merged_pauses(paused, a_us, b_us):
            total -= measure(lo, hi)
        return total / _US_PER_SECOND


def _natural_us(a: int, b: int) -> int:
    return b - a if b > a else 0


def _amount_us(amount: float, unit: int) -> int:
    """A non-negative working amount in microseconds."""
    if not (amount >= 0 and math.isfinite(amount)):
        raise ValueError(f"working amounts must be finite and >= 0, not {amount!r}")
    return round(amount * unit)


def _merged_pauses(
    paused: Iterable[tuple[datetime, datetime | None]], a: int, b: int
) -> list[tuple[int, int]]:
    """The pauses clipped to ``[a, b]``, sorted and merged so overlaps count once."""
    clipped = []
    for start, end in paused:
        lo = max(_us(start), a)
        hi = b if end is None else min(_us(end), b)
        if hi > lo:
            clipped.append((lo, hi))
    clipped.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in clipped:
        if merged and lo <= merged[-1][1]:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged
