"""The working-time calendar's arithmetic, from tables of cases on China's real 2026 calendar.

The calendar under test is built from what ``chinesecalendar`` 1.11.0 says about 2025 and 2026
(the same filtering the seed uses), with the centre's windows 08:00-12:00 and 14:30-17:30.
Times in the tables are Asia/Shanghai wall-clock times.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.models.catalog import ClockType
from dispatch.sla.calendar import SHANGHAI, STANDARD_WINDOWS, DayKind, WorkCalendar
from dispatch.sla.calendar_store import package_days

WEEKDAYS = {wd: STANDARD_WINDOWS for wd in range(5)}
DAYS = {d: kind for d, (kind, _name) in package_days([2025, 2026]).items()}
CAL = WorkCalendar(WEEKDAYS, DAYS, [2025, 2026])
#: The same calendar answering everything by the day-by-day walk.
SLOW = WorkCalendar(WEEKDAYS, DAYS, [2025, 2026], precompute=False)

WH, WD, NH = ClockType.WORKING_HOURS, ClockType.WORKING_DAYS, ClockType.NATURAL_HOURS


def sh(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    """A Shanghai wall-clock instant (2026 unless told)."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


# ---------------------------------------------------------------------------- the data relied on
def test_the_package_data_this_file_relies_on() -> None:
    """2026 as chinesecalendar 1.11.0 has it: if a release changes it, the tables need a look."""
    workdays = sorted(d for d, k in DAYS.items() if k == DayKind.WORKDAY and d.year == 2026)
    assert workdays == [
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    ]
    spring = [
        d for d, k in DAYS.items() if k == DayKind.HOLIDAY and d.month == 2 and d.year == 2026
    ]
    assert sorted(spring) == [date(2026, 2, d) for d in range(15, 24)]
    national = [d for d, k in DAYS.items() if k == DayKind.HOLIDAY and d.month == 10]
    assert sorted(d for d in national if d.year == 2026) == [date(2026, 10, d) for d in range(1, 8)]
    # Only Saturdays and Sundays worked in lieu are exceptions; ordinary weekends are not stored.
    assert all(d.weekday() >= 5 for d, k in DAYS.items() if k == DayKind.WORKDAY)
    assert date(2026, 3, 7) not in DAYS


# ---------------------------------------------------------------------------- days
@pytest.mark.parametrize(
    ("day", "working"),
    [
        pytest.param(date(2026, 2, 13), True, id="friday-before-spring-festival"),
        pytest.param(date(2026, 2, 14), True, id="makeup-saturday-feb14"),
        pytest.param(date(2026, 2, 16), False, id="spring-festival-monday"),
        pytest.param(date(2026, 2, 23), False, id="spring-festival-last-day-monday"),
        pytest.param(date(2026, 2, 24), True, id="first-day-back"),
        pytest.param(date(2026, 2, 28), True, id="makeup-saturday-feb28"),
        pytest.param(date(2026, 3, 7), False, id="ordinary-saturday"),
        pytest.param(date(2026, 9, 20), True, id="makeup-sunday-sep20"),
        pytest.param(date(2026, 10, 1), False, id="national-day"),
        pytest.param(date(2026, 10, 10), True, id="makeup-saturday-oct10"),
        pytest.param(date(2026, 10, 11), False, id="sunday-after-makeup"),
        pytest.param(date(2027, 1, 1), True, id="2027-unknown-weekday-rule-no-guess"),
    ],
)
def test_is_working_day(day: date, working: bool) -> None:
    assert CAL.is_working_day(day) is working
    assert SLOW.is_working_day(day) is working


def test_windows_on_are_utc() -> None:
    windows = CAL.windows_on(date(2026, 2, 14))
    assert windows == [
        (sh(2, 14, 8), sh(2, 14, 12)),
        (sh(2, 14, 14, 30), sh(2, 14, 17, 30)),
    ]
    assert all(a.tzinfo is UTC and b.tzinfo is UTC for a, b in windows)
    assert windows[0][0] == datetime(2026, 2, 14, 0, 0, tzinfo=UTC)
    assert CAL.windows_on(date(2026, 2, 16)) == []


def test_makeup_days_use_their_own_windows() -> None:
    cal = WorkCalendar(WEEKDAYS, DAYS, [2026], workday_windows=[(time(9), time(12))])
    assert cal.windows_on(date(2026, 2, 14)) == [(sh(2, 14, 9), sh(2, 14, 12))]
    assert cal.add(sh(2, 13, 17), 1, WH) == sh(2, 14, 9, 30)
    assert cal.add(sh(2, 13, 9), 1, WD) == sh(2, 14, 12)


# ---------------------------------------------------------------------------- add(): the table
ADD_CASES = [
    # --- working hours: lunch break, boundaries, outside working time
    pytest.param(sh(3, 4, 11), 2, WH, sh(3, 4, 15, 30), id="lunch-break-11h+2h"),
    pytest.param(sh(3, 4, 8), 4, WH, sh(3, 4, 12), id="ends-exactly-on-window-end"),
    pytest.param(sh(3, 4, 11), 1, WH, sh(3, 4, 12), id="lands-on-12:00-not-14:30"),
    pytest.param(sh(3, 4, 14, 30), 3, WH, sh(3, 4, 17, 30), id="afternoon-exactly"),
    pytest.param(sh(3, 4, 8), 7, WH, sh(3, 4, 17, 30), id="whole-day-ends-17:30"),
    pytest.param(sh(3, 4, 12), 1, WH, sh(3, 4, 15, 30), id="start-on-window-end"),
    pytest.param(sh(3, 4, 17, 30), 0.5, WH, sh(3, 5, 8, 30), id="start-at-close"),
    pytest.param(sh(3, 4, 12, 30), 1, WH, sh(3, 4, 15, 30), id="start-in-lunch"),
    pytest.param(sh(3, 4, 6), 1, WH, sh(3, 4, 9), id="start-early-morning"),
    pytest.param(sh(3, 4, 19), 1, WH, sh(3, 5, 9), id="start-evening"),
    pytest.param(sh(3, 7, 10), 1, WH, sh(3, 9, 9), id="start-saturday"),
    pytest.param(sh(3, 6, 16), 4, WH, sh(3, 9, 10, 30), id="friday-over-weekend"),
    pytest.param(sh(3, 4, 9, 15), 0.25, WH, sh(3, 4, 9, 30), id="quarter-hour"),
    pytest.param(sh(3, 7, 10), 0, WH, sh(3, 7, 10), id="zero-returns-start-even-off-hours"),
    # --- working hours around Spring Festival 2026 (Feb 15-23 off; Feb 14, 28 worked)
    pytest.param(sh(2, 13, 16), 4, WH, sh(2, 14, 10, 30), id="spring-into-makeup-saturday"),
    pytest.param(sh(2, 14, 17), 1, WH, sh(2, 24, 8, 30), id="spring-makeup-over-holiday"),
    pytest.param(sh(2, 15, 10), 2, WH, sh(2, 24, 10), id="spring-start-on-holiday"),
    pytest.param(sh(2, 27, 17), 1, WH, sh(2, 28, 8, 30), id="spring-into-feb28-makeup"),
    # --- working hours around National Day 2026 (Sep 25-27, Oct 1-7 off; Sep 20, Oct 10 worked)
    pytest.param(sh(9, 24, 15), 4, WH, sh(9, 28, 9, 30), id="mid-autumn-long-weekend"),
    pytest.param(sh(9, 30, 17), 1, WH, sh(10, 8, 8, 30), id="national-day-week"),
    pytest.param(sh(9, 19, 16), 2, WH, sh(9, 20, 10), id="saturday-into-makeup-sunday"),
    pytest.param(sh(10, 9, 17), 1, WH, sh(10, 10, 8, 30), id="friday-into-makeup-saturday"),
    # --- working days: 次日起算, due at the end of the last window
    pytest.param(sh(3, 6, 9), 1, WD, sh(3, 9, 17, 30), id="friday-1wd-is-monday-17:30"),
    pytest.param(sh(3, 4, 9), 1, WD, sh(3, 5, 17, 30), id="wednesday-1wd"),
    pytest.param(sh(3, 4, 23, 59), 1, WD, sh(3, 5, 17, 30), id="late-evening-still-next-day"),
    pytest.param(sh(3, 7, 10), 1, WD, sh(3, 9, 17, 30), id="saturday-1wd"),
    pytest.param(sh(3, 4, 9), 5, WD, sh(3, 11, 17, 30), id="5wd-over-weekend"),
    pytest.param(sh(2, 13, 9), 1, WD, sh(2, 14, 17, 30), id="spring-friday-to-makeup-sat"),
    pytest.param(sh(2, 14, 9), 1, WD, sh(2, 24, 17, 30), id="spring-makeup-sat-over-holiday"),
    pytest.param(sh(2, 21, 10), 1, WD, sh(2, 24, 17, 30), id="spring-holiday-saturday"),
    pytest.param(sh(2, 18, 10), 3, WD, sh(2, 26, 17, 30), id="spring-holiday-3wd"),
    pytest.param(sh(2, 26, 10), 2, WD, sh(2, 28, 17, 30), id="spring-2wd-onto-makeup-sat"),
    pytest.param(sh(4, 2, 10), 2, WD, sh(4, 7, 17, 30), id="qingming-across-holiday"),
    pytest.param(sh(9, 30, 9), 1, WD, sh(10, 8, 17, 30), id="national-day-1wd"),
    pytest.param(sh(9, 30, 9), 3, WD, sh(10, 10, 17, 30), id="national-day-3wd-makeup-sat"),
    pytest.param(sh(9, 19, 9), 1, WD, sh(9, 20, 17, 30), id="saturday-to-makeup-sunday"),
    pytest.param(sh(3, 6, 9), 15, WD, sh(3, 27, 17, 30), id="15wd-complaint-limit"),
    # --- fractional working days: f x 7 h after the whole days (or after the start)
    pytest.param(sh(3, 6, 9), 0.5, WD, sh(3, 6, 15), id="half-day-from-start"),
    pytest.param(sh(3, 6, 9), 1.5, WD, sh(3, 10, 11, 30), id="one-and-a-half-days"),
    pytest.param(sh(3, 7, 9), 0.5, WD, sh(3, 9, 11, 30), id="half-day-from-saturday"),
    pytest.param(sh(2, 13, 16), 0.5, WD, sh(2, 14, 10), id="half-day-into-makeup"),
    pytest.param(sh(3, 6, 9), 0, WD, sh(3, 6, 9), id="zero-working-days"),
    # --- natural hours: exactly, whatever the day
    pytest.param(sh(3, 4, 22), 4, NH, sh(3, 5, 2), id="natural-across-midnight"),
    pytest.param(sh(9, 30, 22), 4, NH, sh(10, 1, 2), id="natural-into-national-day"),
    pytest.param(sh(2, 15, 23, 30), 1.5, NH, sh(2, 16, 1), id="natural-on-spring-festival"),
    pytest.param(sh(3, 7, 10), 6, NH, sh(3, 7, 16), id="natural-saturday"),
]


@pytest.mark.parametrize(("start", "amount", "clock", "due"), ADD_CASES)
def test_add(start: datetime, amount: float, clock: ClockType, due: datetime) -> None:
    result = CAL.add(start, amount, clock)
    assert result == due, result.astimezone(SHANGHAI)
    assert result.utcoffset() == timedelta(0) and result.tzinfo is UTC
    assert SLOW.add(start, amount, clock) == due  # the day-by-day walk agrees
    assert CAL.add(start, amount, str(clock)) == due  # plain strings work too


def test_utc_and_shanghai_inputs_agree() -> None:
    in_utc = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
    in_plus8 = datetime(2026, 3, 4, 11, 0, tzinfo=timezone(timedelta(hours=8)))
    assert in_utc == in_plus8
    for clock, amount in ((WH, 2), (WD, 1), (NH, 2)):
        assert CAL.add(in_utc, amount, clock) == CAL.add(in_plus8, amount, clock)
    assert CAL.add(in_utc, 2, WH) == datetime(2026, 3, 4, 7, 30, tzinfo=UTC)
    # The local date decides working days: 17:00 UTC on Thursday is Friday in Shanghai.
    thursday_evening_utc = datetime(2026, 3, 5, 17, 0, tzinfo=UTC)  # Friday 01:00 locally
    assert CAL.add(thursday_evening_utc, 1, WD) == sh(3, 9, 17, 30)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: CAL.add(datetime(2026, 3, 4, 9), 1, WH), id="add"),
        pytest.param(lambda: CAL.is_working_time(datetime(2026, 3, 4, 9)), id="is_working_time"),
        pytest.param(
            lambda: CAL.working_seconds_between(datetime(2026, 3, 4), sh(3, 5)), id="between"
        ),
        pytest.param(lambda: CAL.elapsed(sh(3, 4), sh(3, 5), WH, [(datetime(2026, 3, 4), None)])),
        pytest.param(lambda: CAL.add(sh(3, 4), -1, WD), id="negative-days"),
        pytest.param(lambda: CAL.add(sh(3, 4), -1, WH), id="negative-hours"),
        pytest.param(lambda: CAL.add(sh(3, 4), float("nan"), WH), id="nan"),
        pytest.param(lambda: CAL.add(sh(3, 4), 1, "fortnights"), id="unknown-clock"),
    ],
)
def test_refused(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call()


def test_invalid_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        WorkCalendar({0: [(time(8), time(12)), (time(11), time(13))]}, {}, [])
    with pytest.raises(ValueError, match="end after start"):
        WorkCalendar({0: [(time(12), time(8))]}, {}, [])
    with pytest.raises(ValueError, match="weekdays"):
        WorkCalendar({7: [(time(8), time(12))]}, {}, [])


def test_calendar_is_immutable() -> None:
    with pytest.raises(AttributeError):
        CAL.covered_years = frozenset()  # type: ignore[misc]
    with pytest.raises(TypeError):
        CAL.days[date(2026, 3, 4)] = DayKind.HOLIDAY  # type: ignore[index]


# ---------------------------------------------------------------------------- instants
@pytest.mark.parametrize(
    ("t", "working", "next_instant"),
    [
        pytest.param(sh(3, 4, 8), True, sh(3, 4, 8), id="window-start-is-inside"),
        pytest.param(sh(3, 4, 11, 59), True, sh(3, 4, 11, 59), id="inside"),
        pytest.param(sh(3, 4, 12), False, sh(3, 4, 14, 30), id="window-end-is-outside"),
        pytest.param(sh(3, 4, 18), False, sh(3, 5, 8), id="evening"),
        pytest.param(sh(3, 7, 9), False, sh(3, 9, 8), id="saturday"),
        pytest.param(sh(2, 14, 9), True, sh(2, 14, 9), id="makeup-saturday"),
        pytest.param(sh(2, 17, 9), False, sh(2, 24, 8), id="spring-festival"),
    ],
)
def test_working_time(t: datetime, working: bool, next_instant: datetime) -> None:
    assert CAL.is_working_time(t) is working
    assert CAL.next_working_instant(t) == next_instant
    assert CAL.next_working_instant(t).tzinfo is UTC
    assert SLOW.is_working_time(t) is working
    assert SLOW.next_working_instant(t) == next_instant


# ---------------------------------------------------------------------------- elapsed
HOUR = 3600.0


@pytest.mark.parametrize(
    ("a", "b", "clock", "paused", "seconds"),
    [
        pytest.param(sh(3, 4, 8), sh(3, 5, 8), WH, [], 7 * HOUR, id="one-working-day"),
        pytest.param(sh(3, 6, 17), sh(3, 9, 9), WH, [], 1.5 * HOUR, id="over-weekend"),
        pytest.param(sh(2, 13, 17), sh(2, 24, 9), WH, [], 8.5 * HOUR, id="over-spring-festival"),
        pytest.param(sh(3, 4, 8), sh(3, 5, 8), WD, [], 7 * HOUR, id="working-days-count-seconds"),
        pytest.param(sh(3, 5, 8), sh(3, 4, 8), WH, [], 0.0, id="backwards-is-zero"),
        pytest.param(sh(3, 4, 0), sh(3, 5, 0), NH, [], 24 * HOUR, id="natural-day"),
        pytest.param(
            sh(3, 4, 8),
            sh(3, 5, 8),
            WH,
            [(sh(3, 4, 9), sh(3, 4, 10)), (sh(3, 4, 9, 30), sh(3, 4, 11))],
            5 * HOUR,
            id="overlapping-pauses-count-once",
        ),
        pytest.param(
            sh(3, 4, 8),
            sh(3, 5, 8),
            WH,
            [(sh(3, 4, 16), None)],
            5.5 * HOUR,
            id="open-pause-runs-to-b",
        ),
        pytest.param(
            sh(3, 4, 8),
            sh(3, 5, 8),
            WH,
            [(sh(3, 3, 16), sh(3, 4, 9)), (sh(3, 5, 9), sh(3, 5, 10))],
            6 * HOUR,
            id="pauses-clipped-to-a-b",
        ),
        pytest.param(
            sh(3, 4, 8),
            sh(3, 5, 8),
            WH,
            [(sh(3, 4, 12, 30), sh(3, 4, 14))],
            7 * HOUR,
            id="pause-in-lunch-costs-nothing",
        ),
        pytest.param(
            sh(3, 4, 0),
            sh(3, 5, 0),
            NH,
            [(sh(3, 4, 10), sh(3, 4, 12)), (sh(3, 4, 11), None)],
            10 * HOUR,
            id="natural-with-open-overlapping-pause",
        ),
    ],
)
def test_elapsed(
    a: datetime,
    b: datetime,
    clock: ClockType,
    paused: list[tuple[datetime, datetime | None]],
    seconds: float,
) -> None:
    assert CAL.elapsed(a, b, clock, paused) == seconds
    assert SLOW.elapsed(a, b, clock, paused) == seconds


# ---------------------------------------------------------------------------- assumed
@pytest.mark.parametrize(
    ("start", "end", "assumed"),
    [
        pytest.param(sh(3, 4, 9), sh(3, 9, 17), False, id="inside-2026"),
        pytest.param(sh(12, 30, 9), sh(1, 4, 17, year=2027), True, id="reaches-2027"),
        pytest.param(sh(1, 4, 9, year=2027), sh(1, 4, 9, year=2027), True, id="in-2027"),
        pytest.param(sh(12, 31, 9, year=2024), sh(1, 2, 9, year=2025), True, id="starts-in-2024"),
        pytest.param(
            datetime(2026, 12, 31, 17, tzinfo=UTC),  # already 2027-01-01 01:00 in Shanghai
            datetime(2026, 12, 31, 17, tzinfo=UTC),
            True,
            id="local-date-decides",
        ),
    ],
)
def test_assumed(start: datetime, end: datetime, assumed: bool) -> None:
    assert CAL.assumed(start, end) is assumed


def test_uncovered_year_uses_entries_given_but_guesses_nothing() -> None:
    cal = WorkCalendar(WEEKDAYS, {**DAYS, date(2027, 1, 1): DayKind.HOLIDAY}, [2025, 2026])
    assert not cal.is_working_day(date(2027, 1, 1))  # entered by hand: used
    assert cal.is_working_day(date(2027, 2, 8))  # nothing known: the weekday rule
    assert cal.add(sh(12, 31, 9), 1, WD) == sh(1, 4, 17, 30, year=2027)
    assert cal.assumed(sh(12, 31, 9), sh(1, 4, 17, 30, year=2027))


def test_standard_calendar() -> None:
    cal = WorkCalendar.standard()
    assert cal.covered_years == frozenset()
    assert cal.add(sh(3, 6, 9), 1, WD) == sh(3, 9, 17, 30)
    assert cal.add(sh(2, 16, 9), 1, WH) == sh(2, 16, 10)  # no holidays known: a Monday


def test_far_from_the_tables_the_walk_answers() -> None:
    """Instants decades outside the laid-out years still get correct answers."""
    start = datetime(1999, 12, 31, 16, tzinfo=SHANGHAI)  # a Friday
    assert CAL.add(start, 2, WH) == datetime(2000, 1, 3, 8, 30, tzinfo=SHANGHAI)
    start = datetime(2060, 3, 5, 17, tzinfo=SHANGHAI)  # a Friday
    assert CAL.add(start, 1, WD) == datetime(2060, 3, 8, 17, 30, tzinfo=SHANGHAI)
    span = CAL.working_seconds_between(sh(1, 1, year=2020), sh(1, 1, year=2040))
    assert span == SLOW.working_seconds_between(sh(1, 1, year=2020), sh(1, 1, year=2040))


# ---------------------------------------------------------------------------- properties
instants = st.datetimes(
    min_value=datetime(2023, 6, 1), max_value=datetime(2030, 6, 1), timezones=st.just(UTC)
)
wide_instants = st.datetimes(
    min_value=datetime(2015, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)
#: Up to ~60 working days, in whole microseconds.
working_us = st.integers(min_value=0, max_value=420 * 3600 * 10**6)
PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(start=instants, amount=working_us)
def test_add_and_between_are_inverse(start: datetime, amount: int) -> None:
    seconds = amount / 10**6
    due = CAL.add_working_seconds(start, seconds)
    assert due >= start
    assert round(CAL.working_seconds_between(start, due) * 10**6) == amount
    if amount:
        # A due time is never in off hours: working time ran right up to it.
        assert CAL.is_working_time(due - timedelta(microseconds=1))


@PROPERTY_SETTINGS
@given(a=instants, b=instants)
def test_between_then_add_gives_back_b_when_b_is_working_time(a: datetime, b: datetime) -> None:
    seconds = CAL.working_seconds_between(a, b)
    back = CAL.add_working_seconds(a, seconds)
    if b <= a:
        assert seconds == 0 and back == a
    else:
        assert back <= b
        if seconds and CAL.is_working_time(b):
            assert back == b


@PROPERTY_SETTINGS
@given(start=instants, one=working_us, two=working_us, later=st.integers(0, 10**12))
def test_monotonic(start: datetime, one: int, two: int, later: int) -> None:
    small, big = sorted((one, two))
    assert CAL.add_working_seconds(start, small / 1e6) <= CAL.add_working_seconds(start, big / 1e6)
    start2 = start + timedelta(microseconds=later)
    assert CAL.add_working_seconds(start, small / 1e6) <= CAL.add_working_seconds(
        start2, small / 1e6
    )
    end1 = start + timedelta(microseconds=small)
    end2 = start + timedelta(microseconds=big)
    assert CAL.working_seconds_between(start, end1) <= CAL.working_seconds_between(start, end2)
    for clock in (WD, NH):
        assert CAL.add(start, small / 1e11, clock) <= CAL.add(start, big / 1e11, clock)


@PROPERTY_SETTINGS
@given(
    start=wide_instants,
    other=wide_instants,
    amount=working_us,
    days=st.floats(min_value=0, max_value=40, allow_nan=False),
)
def test_fast_path_equals_day_by_day_walk(
    start: datetime, other: datetime, amount: int, days: float
) -> None:
    seconds = amount / 10**6
    assert CAL.add_working_seconds(start, seconds) == SLOW.add_working_seconds(start, seconds)
    assert CAL.add(start, days, WD) == SLOW.add(start, days, WD)
    assert CAL.add(start, seconds / 3600, WH) == SLOW.add(start, seconds / 3600, WH)
    assert CAL.working_seconds_between(start, other) == SLOW.working_seconds_between(start, other)
    assert CAL.is_working_time(start) == SLOW.is_working_time(start)
    assert CAL.next_working_instant(start) == SLOW.next_working_instant(start)
