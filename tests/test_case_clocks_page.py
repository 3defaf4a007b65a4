"""The case page's clocks panel and the timers in the case JSON, for a case walked through the
workflow at fixed instants (Monday 2026-11-16, Beijing time; windows 08:00-12:00, 14:30-17:30).

Handling limit of the World's filing condition: 4 working hours, counted from dispatch.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core.i18n import SHANGHAI
from dispatch.models import Case
from dispatch.models.sla import CaseTimer
from dispatch.openapi import spec
from dispatch.sla import sweep as sla_sweep
from dispatch.sla.calendar_store import calendar
from dispatch.workflow import Action
from tests import workflow_helpers as wf
from tests.conftest import log_in
from tests.workflow_helpers import World, build_world

A = Action


def at(day: int, hhmm: str) -> datetime:
    """An instant of November 2026 given in Beijing time."""
    hour, minute = (int(p) for p in hhmm.split(":"))
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def local(value: str) -> str:
    """An ISO 8601 instant from the JSON as the page prints it (Beijing time)."""
    return datetime.fromisoformat(value).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def row(html: str, stage: str, round_: int = 1) -> str:
    """The clocks panel's row of ``stage`` (round ``round_``)."""
    match = re.search(
        rf'<tr class="clock[^"]*"\s+data-stage="{stage}" data-round="{round_}".*?</tr>', html, re.S
    )
    assert match, f"no clock row for {stage} round {round_}"
    return match.group(0)


def timers_of(client: FlaskClient, number: str) -> list[dict[str, Any]]:
    """The case's timers from its JSON detail (checked against the OpenAPI description)."""
    res = client.get(f"/api/v1/cases/{number}")
    assert res.status_code == 200, res.get_json()
    doc = spec()
    schema = doc["paths"]["/api/v1/cases/{number}"]["get"]["responses"]["200"]["content"]
    validator = jsonschema.Draft202012Validator(
        {**schema["application/json"]["schema"], "components": doc["components"]}
    )
    validator.validate(res.get_json())
    return res.get_json()["timers"]


def one(timers: list[dict[str, Any]], stage: str, round_: int = 1) -> dict[str, Any]:
    found = [t for t in timers if t["stage"] == stage and t["round"] == round_]
    assert len(found) == 1, f"{stage}/{round_}: {timers}"
    return found[0]


@pytest.fixture
def world(app: Flask, db_session: Session) -> World:
    """The workflow tests' world (built in an app context: the locator needs one)."""
    with app.app_context():
        return build_world(db_session, prefix="clk")


@pytest.fixture(autouse=True)
def _app(app: Flask) -> Iterator[None]:
    """Lets the helpers below open an app context per workflow step: the test itself holds none,
    or every request of the test client would share it (and its cached translations)."""
    global APP
    APP = app
    yield
    APP = None


APP: Flask | None = None


def act(sess: Session, world: World, case: Case, action: Action, **kw: Any) -> Any:
    """``workflow_helpers.act`` in an app context of its own."""
    assert APP is not None
    with APP.app_context():
        return wf.act(sess, world, case, action, **kw)


def new_case(sess: Session, world: World, **kw: Any) -> Case:
    assert APP is not None
    with APP.app_context():
        return wf.new_case(sess, world, **kw)


def sweep(sess: Session, now: datetime) -> None:
    """The escalation sweep at ``now``."""
    assert APP is not None
    with APP.app_context():
        sla_sweep.sweep(sess, now=now)


def in_progress(sess: Session, world: World) -> Case:
    """A case reported 09:00, filed 09:02, dispatched 09:05 and accepted 10:20 (accept limit 1
    working hour: 15 minutes late)."""
    case = new_case(sess, world, now=at(16, "09:00"))
    act(sess, world, case, A.ACCEPT_REPORT, now=at(16, "09:01"))
    act(sess, world, case, A.FILE, now=at(16, "09:02"))
    act(sess, world, case, A.DISPATCH, now=at(16, "09:05"))
    act(sess, world, case, A.ACCEPT, now=at(16, "10:20"))
    return case


def test_clocks_follow_dispatch_accept_and_an_extension(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    case = in_progress(db_session, world)
    log_in(client, world.users["shift_supervisor"])

    # Running: handling is due 4 working hours after dispatch (09:05 + 2 h 55 + 1 h 05).
    html = client.get(f"/cases/{case.number}?lang=en").get_data(as_text=True)
    handle = row(html, "handle")
    assert 'data-state="running"' in handle and "Running" in handle
    assert "Handling" in handle and "4 working hours" in handle
    assert "2026-11-16 09:05" in handle and "2026-11-16 15:35" in handle
    accept = row(html, "accept")
    assert 'data-result="late"' in accept and "Late by 15 min" in accept
    assert "On time" in row(html, "file") and "On time" in row(html, "dispatch")
    assert 'id="urge-count"' not in html  # nobody urged yet
    timers = timers_of(client, case.number)
    assert [t["stage"] for t in timers] == ["file", "dispatch", "accept", "handle"]
    running = one(timers, "handle")
    assert running["state"] == "running" and running["level"] == "none"
    assert running["limit"] == {
        "value": 4.0,
        "clock": "working_hours",
        "source": f"filing_condition:{world.condition.id}",
    }
    assert local(running["due_at"]) == "2026-11-16 15:35"
    assert running["paused_by"] == [] and running["result"] is None
    late = one(timers, "accept")
    assert late["state"] == "met" and late["result"] == "late" and late["late_by_s"] == 15 * 60
    assert local(late["ended_at"]) == "2026-11-16 10:20"

    # The extension request stops the clock while it waits.
    act(
        db_session,
        world,
        case,
        A.REQUEST_EXTENSION,
        data={"due_at": "2026-11-18T17:00"},
        now=at(16, "10:30"),
    )
    html = client.get(f"/cases/{case.number}?lang=zh_Hans_CN").get_data(as_text=True)
    handle = row(html, "handle")
    assert 'data-state="paused"' in handle
    assert "已暂停（延期申请待审批）" in handle and "4 工作小时" in handle
    assert "自 2026-11-16 10:30 起暂停计时：延期申请待审批" in handle
    paused = one(timers_of(client, case.number), "handle")
    assert paused["state"] == "paused" and paused["paused_by"] == ["request:extension"]

    # Approved half an hour later: the clock runs again, towards the new due time.
    act(db_session, world, case, A.APPROVE_EXTENSION, now=at(16, "11:00"))
    timer = one(timers_of(client, case.number), "handle")
    assert timer["state"] == "running" and timer["paused_by"] == []
    assert local(timer["due_at"]) == "2026-11-18 17:00"
    assert [(local(p["from"]), local(p["to"]), p["reason"]) for p in timer["pauses"]] == [
        ("2026-11-16 10:30", "2026-11-16 11:00", "request:extension")
    ]
    # Before the extension the deadline had moved by the 30 minutes the clock stood still.
    [ext] = timer["extensions"]
    assert (local(ext["from"]), local(ext["to"]), local(ext["at"])) == (
        "2026-11-16 16:05",
        "2026-11-18 17:00",
        "2026-11-16 11:00",
    )
    assert ext["request_id"] == case.requests[0].id
    html = client.get(f"/cases/{case.number}?lang=en").get_data(as_text=True)
    handle = row(html, "handle")
    assert 'data-state="running"' in handle and "2026-11-18 17:00" in handle
    assert "Clock stopped 2026-11-16 10:30 – 2026-11-16 11:00: extension request waiting" in handle
    assert "Extended on 2026-11-16 11:00 from 2026-11-16 16:05 to 2026-11-18 17:00" in handle
    assert "provisional" not in handle


def test_a_failed_check_starts_handling_round_two(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    case = in_progress(db_session, world)
    act(db_session, world, case, A.REPORT_DONE, now=at(16, "11:40"))
    act(db_session, world, case, A.CHECK_FAIL, now=at(16, "11:50"))
    log_in(client, world.users["inspector"])

    timers = timers_of(client, case.number)
    first, second = one(timers, "handle", 1), one(timers, "handle", 2)
    assert first["state"] == "met" and first["result"] == "on_time" and first["late_by_s"] == 0
    assert one(timers, "check")["result"] == "on_time"
    # 10 minutes before noon, 3 h before 17:30, and the last 50 minutes the next morning.
    assert second["state"] == "running" and local(second["started_at"]) == "2026-11-16 11:50"
    assert local(second["due_at"]) == "2026-11-17 08:50"

    html = client.get(f"/cases/{case.number}?lang=en").get_data(as_text=True)
    round_two = row(html, "handle", 2)
    assert "round 2" in round_two and "2026-11-17 08:50" in round_two
    assert '<th scope="row">Handling</th>' in row(html, "handle", 1)  # no "round 1"
    zh = client.get(f"/cases/{case.number}?lang=zh_Hans_CN").get_data(as_text=True)
    assert "第 2 轮" in row(zh, "handle", 2) and "按时完成" in row(zh, "handle", 1)


def test_warnings_show_as_yellow_then_red(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    case = in_progress(db_session, world)
    log_in(client, world.users["leader"])

    # Yellow after 80% of 4 working hours (3 h 12 min: 14:47); red at 15:35.
    sweep(db_session, now=at(16, "14:50"))
    html = client.get(f"/cases/{case.number}?lang=en").get_data(as_text=True)
    handle = row(html, "handle")
    assert 'data-level="yellow"' in handle and "Due soon" in handle
    assert one(timers_of(client, case.number), "handle")["level"] == "yellow"

    sweep(db_session, now=at(16, "15:40"))
    html = client.get(f"/cases/{case.number}?lang=zh_Hans_CN").get_data(as_text=True)
    handle = row(html, "handle")
    assert 'data-level="red"' in handle and "已超时" in handle
    timer = one(timers_of(client, case.number), "handle")
    assert timer["level"] == "red" and local(timer["red_at"]) == "2026-11-16 15:40"
    # Ended stages show their result, not a warning.
    assert 'data-level="none"' in row(html, "accept")


def test_a_deadline_in_a_year_without_a_calendar_is_marked_provisional(
    app: Flask, client: FlaskClient, db_session: Session, world: World
) -> None:
    with app.app_context():
        year = max(calendar(db_session).covered_years) + 1
    case = in_progress(db_session, world)
    act(
        db_session,
        world,
        case,
        A.REQUEST_EXTENSION,
        data={"due_at": f"{year}-01-08T17:00"},
        now=at(16, "10:30"),
    )
    act(db_session, world, case, A.APPROVE_EXTENSION, now=at(16, "11:00"))
    log_in(client, world.users["shift_supervisor"])

    assert one(timers_of(client, case.number), "handle")["provisional"] is True
    assert one(timers_of(client, case.number), "accept")["provisional"] is False
    html = client.get(f"/cases/{case.number}?lang=en").get_data(as_text=True)
    handle = row(html, "handle")
    assert 'class="badge provisional"' in handle
    assert f"the working calendar of {year}" in handle and "is not loaded yet" in handle
    assert "provisional" not in row(html, "accept")
    zh = client.get(f"/cases/{case.number}?lang=zh_Hans_CN").get_data(as_text=True)
    assert f"工作日历尚未录入 {year} 年" in row(zh, "handle")


def test_urging_shows_the_count_and_reaches_the_owners_inbox(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    case = in_progress(db_session, world)
    act(db_session, world, case, A.URGE, note="请今天下班前处理完毕", now=at(16, "11:30"))
    act(db_session, world, case, A.URGE, who="leader", note="再次督办", now=at(16, "11:45"))
    log_in(client, world.users["shift_supervisor"])

    html = client.get(f"/cases/{case.number}?lang=en").get_data(as_text=True)
    count = re.search(r'<span class="badge urged" id="urge-count"[^>]*>([^<]*)</span>', html)
    assert count and count.group(1) == "Urged: 2"
    assert 'data-action="urge"' in html  # both urges are in the timeline
    assert "请今天下班前处理完毕" in html
    assert client.get(f"/api/v1/cases/{case.number}").get_json()["urge_count"] == 2
    zh = client.get(f"/cases/{case.number}?lang=zh_Hans_CN").get_data(as_text=True)
    assert "督办 2 次" in zh

    log_in(client, world.users["officer"])
    items = client.get("/api/v1/notifications?lang=zh_Hans_CN").get_json()["items"]
    urged = [i for i in items if i["kind"] == "urged" and i["case_number"] == case.number]
    assert len(urged) == 2
    newest = urged[0]
    assert newest["title"] == f"案件 {case.number} 被 clk-leader 督办"
    assert newest["body"] == "再次督办" and newest["read_at"] is None
    assert urged[1]["body"] == "请今天下班前处理完毕"


def test_supervisors_get_an_urge_button_and_operators_a_callback_form(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    case = in_progress(db_session, world)
    log_in(client, world.users["shift_supervisor"])
    html = client.get(f"/cases/{case.number}?lang=en").get_data(as_text=True)
    assert '<button type="button" id="btn-urge"' in html and ">Urge</button>" in html
    urge_form = html.split('id="form-urge"')[1].split("</form>")[0]
    assert "required" in urge_form.split('name="note"')[1].split(">")[0]

    for action, minute in ((A.REPORT_DONE, 40), (A.CHECK_PASS, 45), (A.CLOSE, 50)):
        act(db_session, world, case, action, now=at(16, "11:00") + timedelta(minutes=minute))
    log_in(client, world.users["operator"])
    html = client.get(f"/cases/{case.number}?lang=en").get_data(as_text=True)
    assert 'id="btn-record_callback"' in html and 'id="btn-reopen"' in html
    form = html.split('id="form-record_callback"')[1].split("</form>")[0]
    assert 'data-kind="callback"' in html.split('id="form-record_callback"')[1][:80]
    assert '<option value="satisfied">Satisfied</option>' in form
    assert '<option value="basically_satisfied">Basically satisfied</option>' in form
    assert "dissatisfied" not in form.split("<select")[1].split("</select>")[0]
    assert "use Reopen instead" in form
    callback = row(html, "callback")
    assert 'data-state="running"' in callback and "1 working days" in callback
    zh = client.get(f"/cases/{case.number}?lang=zh_Hans_CN").get_data(as_text=True)
    zh_form = zh.split('id="form-record_callback"')[1].split("</form>")[0]
    assert "回访" in zh and "满意" in zh_form and "基本满意" in zh_form

    act(
        db_session,
        world,
        case,
        A.RECORD_CALLBACK,
        data={"satisfaction": "basically_satisfied"},
        now=at(17, "09:00"),
    )
    timer = one(timers_of(client, case.number), "callback")
    assert timer["state"] == "met" and timer["result"] == "on_time"


def test_recording_the_callback_leaves_no_callback_clock_running(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    case = in_progress(db_session, world)
    for action, hhmm in ((A.REPORT_DONE, "11:40"), (A.CHECK_PASS, "11:45"), (A.CLOSE, "11:50")):
        act(db_session, world, case, action, now=at(16, hhmm))
    act(db_session, world, case, A.RECORD_CALLBACK, now=at(17, "09:00"))
    log_in(client, world.users["operator"])

    callbacks = [t for t in timers_of(client, case.number) if t["stage"] == "callback"]
    assert [(t["round"], t["state"]) for t in callbacks] == [(1, "met")]
    # Called back once: the action is no longer offered, and a second attempt is a conflict.
    html = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert 'id="btn-record_callback"' not in html
    from dispatch.errors import Conflict

    with pytest.raises(Conflict):
        act(db_session, world, case, A.RECORD_CALLBACK, now=at(17, "10:00"))


def test_a_case_with_no_clock_yet_says_so(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    case = new_case(db_session, world, now=at(16, "09:00"))
    log_in(client, world.users["operator"])
    html = client.get(f"/cases/{case.number}?lang=en").get_data(as_text=True)
    assert 'id="no-clocks"' in html and "No stage clock has started yet." in html
    assert timers_of(client, case.number) == []
    assert db_session.query(CaseTimer).filter_by(case_id=case.id).count() == 0
