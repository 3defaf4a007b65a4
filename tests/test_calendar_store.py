"""The calendar in the database: seeding, coverage warnings, edits, the cache, CLI, page, banner.

The session database was seeded once (``seed_all`` includes the calendar: chinesecalendar's
2004-2026); each test's changes roll back with its transaction.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from datetime import date, time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from dispatch.models import CalendarDay, CalendarRevision, CalendarWindow, CalendarYear
from dispatch.sla import calendar_pages, calendar_store, cli
from dispatch.sla.calendar import DayKind
from dispatch.sla.calendar_store import (
    PACKAGE_SOURCE,
    CalendarError,
    coverage_warning,
    import_csv,
    load_calendar,
    seed_calendar,
    set_day,
    set_windows,
    set_year_covered,
)
from tests.conftest import log_in
from tests.factories import make_user

NOVEMBER = date(2026, 11, 21)  # the project's "today": chinesecalendar stops at 2026
MARCH = date(2026, 3, 1)


@pytest.fixture(autouse=True)
def fresh_cache(app: Flask) -> Iterator[None]:
    """No calendar cached from another test's (rolled back) data, before or after."""
    calendar_store.invalidate(app)
    yield
    calendar_store.invalidate(app)


@pytest.fixture
def today_is(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Set the date the page, banner, health check and CLI believe it is."""

    def set_today(day: date) -> None:
        monkeypatch.setattr(calendar_pages, "today", lambda: day)
        monkeypatch.setattr(cli, "today", lambda: day)
        monkeypatch.setattr(calendar_store, "local_today", lambda: day)

    set_today(NOVEMBER)
    return set_today


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _revision(session: Session) -> int:
    return session.scalar(select(CalendarRevision.revision)) or 0


def _day(session: Session, day: date) -> CalendarDay | None:
    return session.scalar(select(CalendarDay).where(CalendarDay.day == day))


def csrf_token(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match
    return match.group(1)


# ---------------------------------------------------------------------------- seeding
def test_seed_from_nothing_then_again_changes_nothing(db_session: Session) -> None:
    for model in (CalendarDay, CalendarYear, CalendarWindow):
        db_session.execute(delete(model))
    db_session.flush()

    added = seed_calendar(db_session)
    assert added > 700  # 2004-2026: about 33 a year
    years = db_session.scalars(select(CalendarYear.year).order_by(CalendarYear.year)).all()
    assert years[0] == 2004 and years[-1] == 2026 and len(years) == 23
    assert all(
        y.source == PACKAGE_SOURCE == "chinesecalendar 1.11.0"
        for y in db_session.scalars(select(CalendarYear))
    )
    assert db_session.get(CalendarYear, 2027) is None
    spring_makeup = _day(db_session, date(2026, 2, 14))
    assert spring_makeup is not None
    assert (spring_makeup.kind, spring_makeup.name) == ("workday", "春节")
    national = _day(db_session, date(2026, 10, 1))
    assert national is not None and (national.kind, national.name) == ("holiday", "国庆节")
    assert _day(db_session, date(2026, 3, 7)) is None  # an ordinary Saturday is no exception
    workdays = db_session.scalars(select(CalendarDay.day).where(CalendarDay.kind == "workday"))
    assert all(d.weekday() >= 5 for d in workdays)
    windows = calendar_store.stored_windows(db_session)
    assert [calendar_store.format_windows(windows[wd]) for wd in range(8)] == [
        "08:00-12:00,14:30-17:30"
    ] * 5 + ["", ""] + ["08:00-12:00,14:30-17:30"]

    counts = [_count(db_session, m) for m in (CalendarDay, CalendarYear, CalendarWindow)]
    revision = _revision(db_session)
    assert seed_calendar(db_session) == 0
    assert seed_calendar(db_session, years=[2025, 2026]) == 0
    assert [_count(db_session, m) for m in (CalendarDay, CalendarYear, CalendarWindow)] == counts
    assert _revision(db_session) == revision


def test_seed_keeps_what_administrators_changed(db_session: Session) -> None:
    set_day(db_session, date(2026, 10, 8), DayKind.HOLIDAY, "国庆节（本地）")
    set_day(db_session, date(2026, 10, 7), None, "")
    set_windows(db_session, 0, [(time(9), time(12))])
    assert seed_calendar(db_session) == 0
    assert _day(db_session, date(2026, 10, 7)) is None  # removed stays removed
    changed = _day(db_session, date(2026, 10, 8))
    assert changed is not None and changed.source == "admin"
    assert calendar_store.stored_windows(db_session)[0] == [(time(9), time(12))]
    # Asking for a year explicitly restores the package's missing days, and changes no row.
    assert seed_calendar(db_session, years=[2026]) == 1
    assert _day(db_session, date(2026, 10, 7)) is not None
    assert seed_calendar(db_session, years=[2099]) == 0  # a year the package does not know


# ---------------------------------------------------------------------------- coverage
@pytest.mark.parametrize(
    ("today", "warned_year"),
    [
        pytest.param(date(2026, 3, 1), None, id="march-2026-fine"),
        pytest.param(date(2026, 9, 30), None, id="september-30-fine"),
        pytest.param(date(2026, 10, 1), 2027, id="october-1-coming-year"),
        pytest.param(date(2026, 11, 21), 2027, id="november-coming-year"),
        pytest.param(date(2027, 1, 5), 2027, id="2027-current-year"),
        pytest.param(date(2027, 11, 5), 2027, id="late-2027-current-year-first"),
    ],
)
def test_coverage_warning(db_session: Session, today: date, warned_year: int | None) -> None:
    message = coverage_warning(db_session, today)
    if warned_year is None:
        assert message is None
    else:
        assert message is not None and str(warned_year) in message
        assert ("yet" in message) is (today.year < warned_year)


def test_covering_the_coming_year_silences_the_warning(db_session: Session) -> None:
    set_year_covered(db_session, 2027, True)
    assert coverage_warning(db_session, NOVEMBER) is None
    set_year_covered(db_session, 2027, False)
    assert coverage_warning(db_session, NOVEMBER) is not None


def test_the_warning_is_logged_once_a_day(
    db_session: Session, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(calendar_store, "_logged_on", None)
    with caplog.at_level(logging.WARNING, logger="dispatch.sla.calendar"):
        for _ in range(3):
            assert calendar_store.check_coverage(db_session, NOVEMBER)
        calendar_store.check_coverage(db_session, date(2026, 11, 22))
        assert calendar_store.check_coverage(db_session, MARCH) is None
    records = [r for r in caplog.records if r.name == "dispatch.sla.calendar"]
    assert len(records) == 2
    assert "2027" in records[0].getMessage()


# ---------------------------------------------------------------------------- edits and loading
def test_load_calendar_reflects_the_tables(db_session: Session) -> None:
    set_windows(db_session, 7, [(time(9), time(12))])  # make-up days: mornings only
    set_windows(db_session, 5, [(time(9), time(11))])  # Saturday mornings are worked
    set_day(db_session, date(2027, 2, 8), "holiday", "春节")
    cal = load_calendar(db_session)
    assert cal.covered_years == frozenset(range(2004, 2027))
    assert cal.workday_windows == ((time(9), time(12)),)
    assert cal.is_working_day(date(2026, 3, 7))  # a Saturday, now with windows
    assert not cal.is_working_day(date(2027, 2, 8))
    assert not cal.is_working_day(date(2026, 2, 16))
    assert len(cal.windows_on(date(2026, 2, 14))) == 1


def test_windows_are_validated(db_session: Session) -> None:
    with pytest.raises(CalendarError, match="overlap"):
        set_windows(db_session, 0, [(time(8), time(12)), (time(11), time(13))])
    with pytest.raises(CalendarError):
        set_windows(db_session, 8, [])
    with pytest.raises(CalendarError, match="08:00-12:00"):
        calendar_store.parse_windows("8 to 12")
    assert calendar_store.parse_windows(" 14:30-17:30 ，08:00-12:00 ") == [
        (time(8), time(12)),
        (time(14, 30), time(17, 30)),
    ]
    for weekday in range(1, 5):
        set_windows(db_session, weekday, [])
    with pytest.raises(CalendarError, match="at least one"):
        set_windows(db_session, 0, [])


def test_every_edit_bumps_the_revision(db_session: Session) -> None:
    before = _revision(db_session)
    set_day(db_session, date(2026, 3, 4), "holiday", "test")
    set_day(db_session, date(2026, 3, 4), None)
    set_windows(db_session, 6, [(time(9), time(10))])
    set_year_covered(db_session, 2027, True)
    assert _revision(db_session) == before + 4
    set_day(db_session, date(2026, 3, 4), None)  # nothing to clear: no change
    assert _revision(db_session) == before + 4


def test_the_cache_sees_an_edit(
    app: Flask, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        first = calendar_store.calendar(db_session)
        assert first.is_working_day(date(2026, 3, 4))
        assert calendar_store.calendar(db_session) is first  # cached
        set_day(db_session, date(2026, 3, 4), "holiday", "test")
        # Within the check interval the process keeps its calendar …
        monkeypatch.setitem(app.config, "CALENDAR_CHECK_SECONDS", 3600.0)
        assert calendar_store.calendar(db_session) is first
        # … and once it checks, the new revision makes it rebuild.
        monkeypatch.setitem(app.config, "CALENDAR_CHECK_SECONDS", 0.0)
        second = calendar_store.calendar(db_session)
        assert second is not first
        assert not second.is_working_day(date(2026, 3, 4))
        calendar_store.invalidate()
        assert calendar_store.calendar(db_session) is not second


# ---------------------------------------------------------------------------- CSV import
def test_import_csv(db_session: Session, tmp_path: Path) -> None:
    path = tmp_path / "2027.csv"
    path.write_text(
        "\ufeffdate,kind,name\n2027-01-01,holiday,元旦\n2027-02-06,班,春节\n2027/02/07,workday,\n",
        encoding="utf-8",
    )
    assert import_csv(db_session, path) == 3
    assert db_session.get(CalendarYear, 2027) is None  # not marked covered without asking
    found = _day(db_session, date(2027, 2, 6))
    assert found is not None and (found.kind, found.name, found.source) == (
        "workday",
        "春节",
        "csv",
    )

    set_day(db_session, date(2027, 5, 1), "holiday", "劳动节")
    assert import_csv(db_session, path, covers_years=[2027]) == 3
    assert db_session.get(CalendarYear, 2027) is not None
    assert _day(db_session, date(2027, 5, 1)) is None  # the file is 2027's complete list
    assert _day(db_session, date(2026, 10, 1)) is not None  # other years untouched


def test_import_csv_reports_every_error_and_changes_nothing(db_session: Session) -> None:
    before = _count(db_session, CalendarDay)
    bad = io.BytesIO(
        b"date,kind,name\n2027-13-01,holiday,x\n2027-01-01,sometimes,y\n"
        b"2027-01-02,holiday,z\n2027-01-02,holiday,z\n"
    )
    with pytest.raises(CalendarError) as caught:
        import_csv(db_session, bad)
    message = str(caught.value)
    assert "line 2" in message and "line 3" in message and "line 5" in message
    assert _count(db_session, CalendarDay) == before
    with pytest.raises(CalendarError, match="header"):
        import_csv(db_session, io.StringIO("when,what\n2027-01-01,holiday\n"))
    with pytest.raises(CalendarError, match="2028"):
        import_csv(db_session, io.StringIO("date,kind\n2027-01-01,holiday\n"), covers_years=[2028])


# ---------------------------------------------------------------------------- CLI
def test_cli_show_set_windows_import_seed(
    runner: FlaskCliRunner, db_session: Session, tmp_path: Path, today_is
) -> None:  # type: ignore[no-untyped-def]
    shown = runner.invoke(args=["sla", "calendar", "show", "2026"])
    assert shown.exit_code == 0, shown.output
    assert "Known years: 2004-2026" in shown.output
    assert "2026-02-14 Sat workday  春节" in shown.output
    assert "2027" in shown.output  # the warning

    result = runner.invoke(
        args=["sla", "calendar", "set", "2027-01-01", "holiday", "--name", "元旦"]
    )
    assert result.exit_code == 0, result.output
    found = _day(db_session, date(2027, 1, 1))
    assert found is not None and (found.kind, found.name) == ("holiday", "元旦")
    result = runner.invoke(args=["sla", "calendar", "set", "2027-01-01", "clear"])
    assert result.exit_code == 0 and _day(db_session, date(2027, 1, 1)) is None

    result = runner.invoke(
        args=["sla", "calendar", "windows", "--weekday", "5", "--set", "09:00-12:00"]
    )
    assert result.exit_code == 0, result.output
    assert "5 Sat          09:00-12:00" in result.output
    bad = runner.invoke(args=["sla", "calendar", "windows", "--weekday", "5", "--set", "12-9"])
    assert bad.exit_code != 0
    assert runner.invoke(args=["sla", "calendar", "windows", "--weekday", "5"]).exit_code != 0

    csv_file = tmp_path / "days.csv"
    csv_file.write_text("date,kind,name\n2027-01-01,holiday,元旦\n", encoding="utf-8")
    result = runner.invoke(
        args=["sla", "calendar", "import", str(csv_file), "--covers-year", "2027"]
    )
    assert result.exit_code == 0, result.output
    assert "Known years: 2004-2027" in result.output
    broken = tmp_path / "broken.csv"
    broken.write_text("date,kind\nnot-a-date,holiday\n", encoding="utf-8")
    result = runner.invoke(args=["sla", "calendar", "import", str(broken)])
    assert result.exit_code != 0 and "line 2" in result.output

    result = runner.invoke(args=["sla", "calendar", "seed"])
    assert result.exit_code == 0 and result.output.startswith("0 days added")


def test_cli_check(runner: FlaskCliRunner, db_session: Session, today_is) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["sla", "calendar", "check"])
    assert result.exit_code == 1
    assert "2027" in result.output
    today_is(MARCH)
    result = runner.invoke(args=["sla", "calendar", "check"])
    assert result.exit_code == 0 and "Calendar OK" in result.output


# ---------------------------------------------------------------------------- the page
def test_admin_page_zh_and_en(client: FlaskClient, db_session: Session, today_is) -> None:  # type: ignore[no-untyped-def]
    log_in(client, make_user(db_session, "cal-admin", "admin"))
    zh = client.get("/admin/calendar?year=2026")
    assert zh.status_code == 200
    html = zh.get_data(as_text=True)
    for text in ("工作日历", "调休上班日", "2026-02-14", "春节", "2004-2026", "尚未录入 2027"):
        assert text in html, text
    assert 'id="nav-calendar"' in html

    en = client.get("/admin/calendar?year=2026&lang=en").get_data(as_text=True)
    for text in ("Working calendar", "Make-up working day", "2026-10-10", "Mark 2026 as not known"):
        assert text in en, text


def test_admin_page_posts(client: FlaskClient, db_session: Session, today_is) -> None:  # type: ignore[no-untyped-def]
    log_in(client, make_user(db_session, "cal-admin2", "admin"))
    token = csrf_token(client.get("/admin/calendar?lang=en").get_data(as_text=True))

    no_token = client.post("/admin/calendar/day", data={"day": "2027-01-01", "kind": "holiday"})
    assert no_token.status_code == 400
    assert _day(db_session, date(2027, 1, 1)) is None

    response = client.post(
        "/admin/calendar/day",
        data={"csrf_token": token, "day": "2027-01-01", "kind": "holiday", "name": "元旦"},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/calendar?year=2027")
    found = _day(db_session, date(2027, 1, 1))
    assert found is not None and found.updated_by_id is not None and found.source == "admin"
    page = client.get("/admin/calendar?year=2027").get_data(as_text=True)
    assert "2027-01-01 saved." in page and 'data-day="2027-01-01"' in page

    response = client.post(
        "/admin/calendar/windows",
        data={"csrf_token": token, "weekday": "4", "windows": "08:00-12:00"},
    )
    assert response.status_code == 302
    assert calendar_store.stored_windows(db_session)[4] == [(time(8), time(12))]
    client.post(
        "/admin/calendar/windows",
        data={"csrf_token": token, "weekday": "4", "windows": "08:00-13:00,12:00-14:00"},
    )
    page = client.get("/admin/calendar").get_data(as_text=True)
    assert "Windows not saved" in page
    assert calendar_store.stored_windows(db_session)[4] == [(time(8), time(12))]

    upload = (io.BytesIO("date,kind,name\n2027-02-06,workday,春节\n".encode()), "2027.csv")
    response = client.post(
        "/admin/calendar/import",
        data={"csrf_token": token, "file": upload, "covers_year": "2027"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert db_session.get(CalendarYear, 2027) is not None
    assert _day(db_session, date(2027, 1, 1)) is None  # replaced by the year's complete list
    assert "Days imported: 1." in client.get("/admin/calendar").get_data(as_text=True)

    response = client.post(
        "/admin/calendar/year", data={"csrf_token": token, "year": "2027", "covered": "0"}
    )
    assert response.status_code == 302 and db_session.get(CalendarYear, 2027) is None

    response = client.post(
        "/admin/calendar/day", data={"csrf_token": token, "day": "2027-02-06", "kind": "clear"}
    )
    assert response.status_code == 302 and _day(db_session, date(2027, 2, 6)) is None


def test_only_administrators_open_the_page(client: FlaskClient, db_session: Session) -> None:
    anonymous = client.get("/admin/calendar")
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith("/login?next=")

    log_in(client, make_user(db_session, "cal-operator", "operator"))
    assert client.get("/admin/calendar").status_code == 403
    token = csrf_token(client.get("/api/docs").get_data(as_text=True))
    forbidden = client.post(
        "/admin/calendar/day", data={"csrf_token": token, "day": "2027-01-01", "kind": "holiday"}
    )
    assert forbidden.status_code == 403
    assert _day(db_session, date(2027, 1, 1)) is None
    assert 'id="nav-calendar"' not in client.get("/api/docs").get_data(as_text=True)


# ---------------------------------------------------------------------------- banner and health
@pytest.mark.parametrize(
    ("role", "shown"),
    [
        pytest.param("admin", True, id="admin"),
        pytest.param("shift_supervisor", True, id="shift-supervisor"),
        pytest.param("leader", True, id="leader"),
        pytest.param("operator", False, id="operator"),
        pytest.param("dispatcher", False, id="dispatcher"),
    ],
)
def test_banner(client: FlaskClient, db_session: Session, today_is, role: str, shown: bool) -> None:  # type: ignore[no-untyped-def]
    log_in(client, make_user(db_session, f"banner-{role}", role))
    html = client.get("/api/docs?lang=en").get_data(as_text=True)
    assert ('id="calendar-warning"' in html) is shown
    assert ("public holidays and make-up working days of 2027" in html) is shown
    today_is(MARCH)
    assert 'id="calendar-warning"' not in client.get("/api/docs").get_data(as_text=True)


def test_healthz(client: FlaskClient, db_session: Session, today_is) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/healthz").get_json()
    assert client.get("/healthz").status_code == 200
    assert body["status"] == "warn"
    assert body["checks"]["calendar"]["ok"] is False
    assert "2027" in body["checks"]["calendar"]["message"]
    assert body["checks"]["calendar"]["message"].startswith("The working calendar")  # English

    set_year_covered(db_session, 2027, True)
    body = client.get("/healthz").get_json()
    assert body == {"status": "ok", "checks": {"calendar": {"ok": True, "message": None}}}


def test_livez_answers_without_the_database(client: FlaskClient) -> None:
    assert client.get("/livez").get_json() == {"status": "ok"}
