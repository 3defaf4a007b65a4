"""Stage timers through the workflow, with frozen clocks (every action takes an explicit ``now``).

The world's filing condition is 4 working hours; the seeded process limits are file 0.5, dispatch
0.5, accept 1, check 1, close 2 working hours and callback 1 working day. Working windows are
08:00-12:00 and 14:30-17:30 Asia/Shanghai; 2026-03-02 is an ordinary Monday.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatch.models import Case
from dispatch.models.sla import CaseTimer, SlaPolicy
from tests.workflow_helpers import World, act, build_world, new_case

SH = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    """An Asia/Shanghai wall-clock time (how people state deadlines)."""
    return datetime.fromisoformat(text).replace(tzinfo=SH)


@pytest.fixture
def world(app: Flask, db_session: Session) -> Iterator[World]:
    with app.app_context():
        yield build_world(db_session, prefix="sla")


def timers(case: Case, stage: str) -> list[CaseTimer]:
    return [t for t in case.timers if t.stage == stage]


def local(t: datetime | None) -> str | None:
    return t.astimezone(SH).strftime("%m-%d %H:%M") if t else None


def run(session: Session, world: World, steps: list[tuple[str, str, dict[str, Any]]]) -> Case:
    case = new_case(session, world, now=at(steps[0][1]))
    for action, when, data in steps:
        act(session, world, case, action, now=at(when), data=data or None)
    return case


# Each row: the steps (action, Shanghai time, data) and the expected timers afterwards:
# (stage, round) -> (state, due (MM-DD HH:MM), result, late_by minutes or None).
FLOWS: list[tuple[str, list[tuple[str, str, dict[str, Any]]], dict[tuple[str, int], tuple]]] = [
    (
        "on time and late stages, lunch break",
        [
            ("accept_report", "2026-03-02 09:00", {}),
            ("file", "2026-03-02 09:10", {}),
            ("dispatch", "2026-03-02 10:00", {}),
            ("accept", "2026-03-02 10:30", {}),
        ],
        {
            ("file", 1): ("met", "03-02 09:30", "on_time", 0),
            ("dispatch", 1): ("met", "03-02 09:40", "late", 20),
            ("accept", 1): ("met", "03-02 11:00", "on_time", 0),
            # 4 working hours from 10:00: 10-12, then 14:30-16:30 after lunch.
            ("handle", 1): ("running", "03-02 16:30", None, None),
        },
    ),
    (
        "started outside working time: the clock starts at the next window",
        [
            ("accept_report", "2026-03-02 19:00", {}),
            ("file", "2026-03-03 08:20", {}),
        ],
        {
            ("file", 1): ("met", "03-03 08:30", "on_time", 0),
            ("dispatch", 1): ("running", "03-03 08:50", None, None),
        },
    ),
    (
        "check failed: rework restarts handling (round 2) with the full limit",
        [
            ("accept_report", "2026-03-02 09:00", {}),
            ("file", "2026-03-02 09:05", {}),
            ("dispatch", "2026-03-02 09:10", {}),
            ("accept", "2026-03-02 09:20", {}),
            ("report_done", "2026-03-02 11:00", {}),
            ("check_fail", "2026-03-02 17:00", {}),
        ],
        {
            ("handle", 1): ("met", "03-02 15:40", "on_time", 0),
            # 1 working hour from 11:00: 11-12 → due 12:00; checked at 17:00 → 5 h late.
            ("check", 1): ("met", "03-02 12:00", "late", 300),
            # 4 working hours from 17:00: 17:00-17:30, then 08:00-11:30 next day.
            ("handle", 2): ("running", "03-03 11:30", None, None),
        },
    ),
    (
        "an approved return cancels the owner's clocks and starts dispatch again",
        [
            ("accept_report", "2026-03-02 09:00", {}),
            ("file", "2026-03-02 09:05", {}),
            ("dispatch", "2026-03-02 09:10", {}),
            ("request_return", "2026-03-02 09:30", {}),
            ("approve_return", "2026-03-02 10:00", {}),
        ],
        {
            ("accept", 1): ("cancelled", "03-02 10:10", None, None),
            ("handle", 1): ("cancelled", "03-02 15:40", None, None),
            ("dispatch", 1): ("met", "03-02 09:35", "on_time", 0),
            ("dispatch", 2): ("running", "03-02 10:30", None, None),
        },
    ),
    (
        "suspension stops the handling clock; resuming moves the deadline by the time stopped",
        [
            ("accept_report", "2026-03-02 09:00", {}),
            ("file", "2026-03-02 09:00", {}),
            ("dispatch", "2026-03-02 09:00", {}),
            ("accept", "2026-03-02 09:00", {}),
            # 1 working hour used by 10:00; the request itself stops the clock (configurable).
            ("request_suspend", "2026-03-02 10:00", {}),
            ("approve_suspend", "2026-03-02 11:00", {}),
            ("resume", "2026-03-04 09:00", {}),
        ],
        {
            # 3 working hours left from Wednesday 09:00: 09:00-12:00.
            ("handle", 1): ("running", "03-04 12:00", None, None),
        },
    ),
    (
        "closed with a caller: the callback is due by the end of the next working day",
        [
            ("accept_report", "2026-03-06 09:00", {}),
            ("file", "2026-03-06 09:00", {}),
            ("dispatch", "2026-03-06 09:00", {}),
            ("accept", "2026-03-06 09:00", {}),
            ("report_done", "2026-03-06 10:00", {}),
            ("check_pass", "2026-03-06 10:30", {}),
            ("close", "2026-03-06 11:00", {}),  # a Friday
            ("record_callback", "2026-03-09 10:00", {"satisfaction": "satisfied"}),
        ],
        {
            ("close", 1): ("met", "03-06 15:00", "on_time", 0),  # 10:30-12:00 + 14:30-15:00
            ("callback", 1): ("met", "03-09 17:30", "on_time", 0),
        },
    ),
    (
        "a dissatisfied citizen reopens: callback met, dispatch starts round 2",
        [
            ("accept_report", "2026-03-02 09:00", {}),
            ("file", "2026-03-02 09:00", {}),
            ("dispatch", "2026-03-02 09:00", {}),
            ("accept", "2026-03-02 09:00", {}),
            ("report_done", "2026-03-02 10:00", {}),
            ("check_pass", "2026-03-02 10:10", {}),
            ("close", "2026-03-02 10:20", {}),
            ("reopen", "2026-03-04 09:00", {}),
        ],
        {
            ("callback", 1): ("met", "03-03 17:30", "late", 15 * 60 + 30),
            ("dispatch", 2): ("running", "03-04 09:30", None, None),
        },
    ),
]


@pytest.mark.parametrize(
    ("steps", "expected"), [(s, e) for _, s, e in FLOWS], ids=[name for name, _, _ in FLOWS]
)
def test_stage_timers(db_session: Session, world: World, steps, expected) -> None:  # type: ignore[no-untyped-def]
    case = run(db_session, world, steps)
    for (stage, rnd), (state, due, result, late_min) in expected.items():
        [timer] = [t for t in timers(case, stage) if t.round == rnd]
        assert (timer.state, local(timer.due_at), timer.result) == (state, due, result), (
            stage,
            rnd,
        )
        if late_min is not None:
            assert timer.late_by_s == pytest.approx(late_min * 60)
    # At most one open timer per stage, and the frozen results are on the event log.
    open_stages = [t.stage for t in case.timers if t.is_open]
    assert len(open_stages) == len(set(open_stages))


def test_extension_pauses_while_waiting_then_sets_the_new_due_time(
    db_session: Session, world: World
) -> None:
    case = run(
        db_session,
        world,
        [
            ("accept_report", "2026-03-02 09:00", {}),
            ("file", "2026-03-02 09:00", {}),
            ("dispatch", "2026-03-02 09:00", {}),
            ("accept", "2026-03-02 09:00", {}),
        ],
    )
    act(
        db_session,
        world,
        case,
        "request_extension",
        now=at("2026-03-02 10:00"),
        data={"due_at": "2026-03-05T17:00:00+08:00"},
    )
    [handle] = timers(case, "handle")
    assert handle.state == "paused" and handle.paused_by == ["request:extension"]
    assert handle.used_s == pytest.approx(3600)
    act(db_session, world, case, "approve_extension", now=at("2026-03-03 09:00"))
    assert handle.state == "running" and handle.paused_by == []
    assert local(handle.due_at) == "03-05 17:00"
    assert handle.extensions and handle.extensions[0]["to"].startswith("2026-03-05T09:00")
    assert [p[2] for p in handle.pauses] == ["request:extension"]
    assert handle.level == 0  # warnings start afresh for the new deadline


def test_rejected_extension_resumes_with_the_time_it_waited_added(
    db_session: Session, world: World
) -> None:
    case = run(
        db_session,
        world,
        [
            ("accept_report", "2026-03-02 09:00", {}),
            ("file", "2026-03-02 09:00", {}),
            ("dispatch", "2026-03-02 09:00", {}),
            ("accept", "2026-03-02 09:00", {}),
            ("request_extension", "2026-03-02 10:00", {"due_at": "2026-03-09T17:00:00+08:00"}),
            ("reject_extension", "2026-03-02 15:30", {}),
        ],
    )
    [handle] = timers(case, "handle")
    # 1 h used before the request, 3 h left from 15:30: 15:30-17:30, then 08:00-09:00.
    assert handle.state == "running" and local(handle.due_at) == "03-03 09:00"


def test_policy_edit_applies_to_new_stages_only(db_session: Session, world: World) -> None:
    case = run(db_session, world, [("accept_report", "2026-03-02 09:00", {})])
    [file_timer] = timers(case, "file")
    assert local(file_timer.due_at) == "03-02 09:30"
    db_session.execute(
        update(SlaPolicy)
        .where(SlaPolicy.stage == "file", SlaPolicy.urgency == "normal")
        .values(limit_value=2.0)
    )
    db_session.execute(
        update(SlaPolicy)
        .where(SlaPolicy.stage == "dispatch", SlaPolicy.urgency == "normal")
        .values(limit_value=2.0)
    )
    db_session.refresh(file_timer)
    assert local(file_timer.due_at) == "03-02 09:30" and file_timer.limit_value == 0.5
    act(db_session, world, case, "file", now=at("2026-03-02 09:10"))
    [dispatch_timer] = timers(case, "dispatch")
    assert dispatch_timer.limit_value == 2.0 and local(dispatch_timer.due_at) == "03-02 11:10"


def test_frozen_result_never_changes(db_session: Session, world: World) -> None:
    case = run(
        db_session,
        world,
        [
            ("accept_report", "2026-03-02 09:00", {}),
            ("file", "2026-03-02 10:00", {}),
        ],
    )
    [file_timer] = timers(case, "file")
    frozen = (file_timer.result, file_timer.late_by_s, file_timer.ended_at, file_timer.due_at)
    assert frozen[0] == "late"
    # Later actions, an edited policy and a sweep do not touch an ended stage.
    db_session.execute(update(SlaPolicy).values(limit_value=8.0))
    act(db_session, world, case, "dispatch", now=at("2026-03-02 10:05"))
    from dispatch.sla.sweep import sweep

    sweep(db_session, now=at("2026-03-09 09:00"))
    db_session.expire_all()
    again = db_session.get(CaseTimer, file_timer.id)
    assert (again.result, again.late_by_s, again.ended_at, again.due_at) == frozen


def test_urgent_cases_use_natural_hours_at_night(db_session: Session, world: World) -> None:
    case = new_case(db_session, world, now=at("2026-03-02 22:00"))
    act(db_session, world, case, "accept_report", now=at("2026-03-02 22:00"))
    act(
        db_session,
        world,
        case,
        "file",
        now=at("2026-03-02 22:05"),
        data={
            "category_id": world.other_category.id,
            "filing_condition_id": world.other_condition.id,
        },
    )
    assert case.urgency == "urgent"
    [dispatch_timer] = timers(case, "dispatch")
    # Urgent dispatch: 10 natural minutes, even at night.
    assert dispatch_timer.clock_type == "natural_hours"
    assert local(dispatch_timer.due_at) == "03-02 22:15"


def test_deadline_in_an_unknown_year_is_provisional(db_session: Session, world: World) -> None:
    case = run(db_session, world, [("accept_report", "2026-12-31 17:20", {})])
    [file_timer] = timers(case, "file")
    # 10 min left on 31 December, 20 more on the next working day of 2027 (not yet published).
    assert file_timer.provisional is True
    assert file_timer.due_at.astimezone(SH).year == 2027


def test_timers_are_on_the_event_log(db_session: Session, world: World) -> None:
    case = run(
        db_session,
        world,
        [
            ("accept_report", "2026-03-02 09:00", {}),
            ("file", "2026-03-02 10:00", {}),
        ],
    )
    from tests.workflow_helpers import events_of

    last = events_of(db_session, case)[-1]
    assert last.data["timers"] == {"ended": {"file": "late"}, "started": ["dispatch"]}


def test_no_callback_clock_without_a_phone(db_session: Session, world: World) -> None:
    case = new_case(db_session, world, phone="", name="", now=at("2026-03-02 09:00"))
    for action in (
        "accept_report",
        "file",
        "dispatch",
        "accept",
        "report_done",
        "check_pass",
        "close",
    ):
        act(db_session, world, case, action, now=at("2026-03-02 09:30"))
    assert timers(case, "callback") == []
    assert (
        db_session.scalars(
            select(CaseTimer).where(CaseTimer.case_id == case.id, CaseTimer.state.in_(["running"]))
        ).all()
        == []
    )


def test_a_stage_ending_while_its_clock_stands_still_is_judged_by_its_budget(
    db_session: Session, world: World
) -> None:
    steps = [
        ("accept_report", "2026-03-02 09:00", {}),
        ("file", "2026-03-02 09:00", {}),
        ("dispatch", "2026-03-02 09:00", {}),
        ("accept", "2026-03-02 09:00", {}),
    ]
    ask = {"due_at": "2026-03-09T17:00:00+08:00"}
    # Asked for more time after 1 of its 4 working hours, then finished while waiting: on time,
    # though the stale due time (14:30) is long past when the work is reported done.
    early = run(
        db_session,
        world,
        [
            *steps,
            ("request_extension", "2026-03-02 10:00", ask),
            ("report_done", "2026-03-03 16:00", {}),
        ],
    )
    [handle] = timers(early, "handle")
    assert (handle.result, handle.late_by_s) == ("on_time", 0.0)
    # Already 1 working hour over (due 14:30, asked at 16:30), then done while waiting: late by
    # the working hour it overran, not by the day the request waited.
    late = run(
        db_session,
        world,
        [
            *steps,
            ("request_extension", "2026-03-02 16:30", ask),
            ("report_done", "2026-03-04 09:00", {}),
        ],
    )
    [handle] = timers(late, "handle")
    assert handle.result == "late" and handle.late_by_s == pytest.approx(3600)


def test_policy_commands_show_and_edit_the_stage_limits(runner, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    shown = runner.invoke(args=["sla", "policy", "show"])
    assert shown.exit_code == 0 and "dispatch  normal  0.5 working_hours" in shown.output
    edited = runner.invoke(
        args=[
            "sla",
            "policy",
            "set",
            "dispatch",
            "normal",
            "1",
            "working_hours",
            "--warn-share",
            "0.5",
        ]
    )
    assert edited.exit_code == 0, edited.output
    row = db_session.scalar(
        select(SlaPolicy).where(SlaPolicy.stage == "dispatch", SlaPolicy.urgency == "normal")
    )
    assert (row.limit_value, row.warn_share) == (1.0, 0.5)
    refused = runner.invoke(
        args=["sla", "policy", "set", "dispatch", "normal", "-1", "natural_hours"]
    )
    assert refused.exit_code != 0
