"""The escalation sweep: yellow and red exactly once each, notifications in the same transaction,
officer first and the supervisors above when red, quiet hours for outbound messages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import Notification, OutboxMessage, RoleGrant, User
from dispatch.sla.queries import overdue
from dispatch.sla.sweep import sweep
from tests.test_sla_timers import at, local
from tests.workflow_helpers import World, act, build_world, new_case


@pytest.fixture
def world(app: Flask, db_session: Session) -> Iterator[World]:
    with app.app_context():
        yield build_world(db_session, prefix="sweep")


def in_progress(session: Session, world: World, day: str = "2026-03-02"):  # type: ignore[no-untyped-def]
    """A case accepted at 10:30 on ``day``: its handling stage (4 working hours from the 10:00
    dispatch) is due 16:30 and turns yellow at 80 %, 15:42."""
    case = new_case(session, world, now=at(f"{day} 09:00"))
    for action, when in (
        ("accept_report", "09:00"),
        ("file", "09:10"),
        ("dispatch", "10:00"),
        ("accept", "10:30"),
    ):
        act(session, world, case, action, now=at(f"{day} {when}"))
    [handle] = [t for t in case.timers if t.stage == "handle"]
    assert (local(handle.warn_at), local(handle.due_at)) == ("03-02 15:42", "03-02 16:30")
    return case, handle


def notified(session: Session, case_id: int, kind: str) -> set[int]:
    return set(
        session.scalars(
            select(Notification.user_id).where(
                Notification.case_id == case_id, Notification.kind == kind
            )
        )
    )


def owners_of(session: Session, officer_id: int) -> set[int]:
    return set(
        session.scalars(
            select(User.id)
            .join(RoleGrant)
            .where(
                User.officer_id == officer_id,
                RoleGrant.role == "grid_officer",
                User.is_active.is_(True),
            )
        )
    )


def supervisors(session: Session) -> set[int]:
    """City-wide shift supervisors and leaders (the world and the demo people are city-wide)."""
    return set(
        session.scalars(
            select(User.id)
            .join(RoleGrant)
            .where(
                RoleGrant.role.in_(["shift_supervisor", "leader"]),
                RoleGrant.scope_kind == "city",
                User.is_active.is_(True),
            )
        )
    )


def test_yellow_then_red_exactly_once(db_session: Session, world: World) -> None:
    case, handle = in_progress(db_session, world)
    assert sweep(db_session, now=at("2026-03-02 15:00")).yellow == 0
    first = sweep(db_session, now=at("2026-03-02 15:45"))
    assert (first.yellow, first.red) == (1, 0)
    db_session.refresh(handle)
    assert handle.level == 1 and handle.yellow_at == at("2026-03-02 15:45")
    owners = owners_of(db_session, case.owner_officer_id)
    assert owners and notified(db_session, case.id, "yellow") == owners
    # Again, and again later: nothing new until the due time passes.
    assert sweep(db_session, now=at("2026-03-02 15:46")).yellow == 0
    assert sweep(db_session, now=at("2026-03-02 16:29")).red == 0
    red = sweep(db_session, now=at("2026-03-02 16:31"))
    assert (red.yellow, red.red) == (0, 1)
    assert notified(db_session, case.id, "red") == owners | supervisors(db_session)
    assert sweep(db_session, now=at("2026-03-03 09:00")).red == 0
    reds = db_session.scalars(
        select(Notification.user_id).where(
            Notification.case_id == case.id, Notification.kind == "red"
        )
    ).all()
    assert len(reds) == len(set(reds))  # one per person


def test_crossing_both_at_once_marks_yellow_silently_and_red_once(
    db_session: Session, world: World
) -> None:
    case, handle = in_progress(db_session, world)
    result = sweep(db_session, now=at("2026-03-02 17:00"))
    assert (result.yellow, result.red) == (0, 1)
    db_session.refresh(handle)
    assert handle.level == 2 and handle.yellow_at == handle.red_at == at("2026-03-02 17:00")
    assert notified(db_session, case.id, "yellow") == set()
    assert notified(db_session, case.id, "red")


def test_paused_clock_is_not_marked(db_session: Session, world: World) -> None:
    case, handle = in_progress(db_session, world)
    act(
        db_session,
        world,
        case,
        "request_extension",
        now=at("2026-03-02 11:00"),
        data={"due_at": "2026-03-09T17:00:00+08:00"},
    )
    assert handle.state == "paused"
    result = sweep(db_session, now=at("2026-03-05 09:00"))
    assert (result.yellow, result.red) == (0, 0)
    assert overdue(db_session, now=at("2026-03-05 09:00"), grid=case.grid_code) == []


def test_extension_gives_a_new_deadline_new_warnings(db_session: Session, world: World) -> None:
    case, handle = in_progress(db_session, world)
    sweep(db_session, now=at("2026-03-02 16:31"))
    act(
        db_session,
        world,
        case,
        "request_extension",
        now=at("2026-03-02 16:40"),
        data={"due_at": "2026-03-03T12:00:00+08:00"},
    )
    act(db_session, world, case, "approve_extension", now=at("2026-03-02 16:45"))
    assert handle.level == 0 and local(handle.due_at) == "03-03 12:00"
    result = sweep(db_session, now=at("2026-03-03 12:01"))
    assert result.red == 1
    keys = set(
        db_session.scalars(
            select(Notification.dedupe_key).where(
                Notification.case_id == case.id, Notification.kind == "red"
            )
        )
    )
    assert any(f"timer:{handle.id}:0:" in k for k in keys)
    assert any(f"timer:{handle.id}:1:" in k for k in keys)


def test_overdue_query_lists_the_most_late_first_by_district(
    db_session: Session, world: World
) -> None:
    first, _ = in_progress(db_session, world)
    second, _ = in_progress(db_session, world)
    act(db_session, world, second, "report_done", now=at("2026-03-02 11:00"))
    rows = overdue(db_session, now=at("2026-03-03 09:00"), district=world.grid.district)
    numbers = [r.number for r in rows]
    assert first.number in numbers
    # The second case's handling ended; its check stage (due 12:00) is overdue instead.
    check_rows = [r for r in rows if r.number == second.number]
    assert [r.stage for r in check_rows] == ["check"]
    lates = [r.late_by_s for r in rows]
    assert lates == sorted(lates, reverse=True)
    assert overdue(db_session, now=at("2026-03-03 09:00"), district="999999") == []


def test_outbound_messages_wait_for_working_time_unless_urgent(
    db_session: Session, world: World
) -> None:
    case, _handle = in_progress(db_session, world)
    # The sweep runs late (say the scheduler was down) and finds the crossing at 20:00.
    sweep(db_session, now=at("2026-03-02 20:00"))
    waits = db_session.scalars(
        select(OutboxMessage.next_attempt_at)
        .join(Notification)
        .where(Notification.case_id == case.id, Notification.kind == "red")
    ).all()
    assert waits and all(local(w) == "03-03 08:00" for w in waits)
    # Urgent: an urgent case's notifications leave at once, day or night.
    urgent = new_case(db_session, world, now=at("2026-03-02 21:00"))
    act(db_session, world, urgent, "accept_report", now=at("2026-03-02 21:00"))
    act(
        db_session,
        world,
        urgent,
        "file",
        now=at("2026-03-02 21:01"),
        data={
            "category_id": world.other_category.id,
            "filing_condition_id": world.other_condition.id,
        },
    )
    sweep(db_session, now=at("2026-03-02 21:30"))  # dispatch due 21:11: red
    urgent_waits = db_session.scalars(
        select(OutboxMessage.next_attempt_at)
        .join(Notification)
        .where(Notification.case_id == urgent.id, Notification.kind == "red")
    ).all()
    assert urgent_waits and all(local(w) == "03-02 21:30" for w in urgent_waits)
    # Red before anyone owns it: the dispatch desk and the supervisors hear of it.
    dispatchers = set(
        db_session.scalars(
            select(User.id)
            .join(RoleGrant)
            .where(RoleGrant.role == "dispatcher", RoleGrant.scope_kind == "city")
        )
    )
    assert dispatchers <= notified(db_session, urgent.id, "red")


def test_the_inbox_shows_messages_at_once_even_in_quiet_hours(
    db_session: Session, world: World
) -> None:
    _case, _ = in_progress(db_session, world)
    sweep(db_session, now=at("2026-03-02 22:00"))
    officer_user = world.users["officer"]
    from dispatch.notifications import unread_count

    assert unread_count(db_session, officer_user.id) >= 1


def test_supervisors_get_one_digest_when_many_stages_go_red_at_once(
    db_session: Session, world: World
) -> None:
    cases = [in_progress(db_session, world)[0] for _ in range(7)]
    result = sweep(db_session, now=at("2026-03-02 16:31"))
    assert result.red == 7
    bosses = supervisors(db_session)
    owners = owners_of(db_session, cases[0].owner_officer_id)
    for case in cases:  # the owner still hears of each case
        assert notified(db_session, case.id, "red") == owners
    digests = db_session.scalars(
        select(Notification).where(Notification.kind == "red_digest")
    ).all()
    assert {d.user_id for d in digests} == bosses and len(digests) == len(bosses)
    assert all(d.params["count"] == 7 for d in digests)
    assert sorted(digests[0].params["cases"]) == sorted(c.number for c in cases)
    from dispatch.notifications.render import render

    title, body = render("red_digest", digests[0].params)
    assert "7" in title and cases[0].number in body
