"""A known week of cases for the dashboard and evaluation tests (Mon 2 - Fri 6 March 2026).

Fourteen cases go through the workflow with explicit times, each step on time or plainly late,
so the tests can state every expected figure by hand from the table below. Working windows are
08:00-12:00 and 14:30-17:30; limits: verify 1 h, file 0.5 h, dispatch 0.5 h, accept 1 h,
check 1 h, close 2 h (working hours), handling 4 working hours (the world's condition),
callback 1 working day. Times are Beijing time; "late" steps happen a day (or more) later.

====  =====================================================================================
case  what happens (operator op1 takes the call unless said otherwise)
====  =====================================================================================
c1    department D; everything on time; closed; callback by op1 on time
c2    department D; dispatched late (disp1), handled late, check on time, closed late (sup1)
c3    department D; check fails once (rework); first handling round on time, the second
      late; closed on time
c4    department D; accepted; D asks to return it, refused; never reported done (handling
      overdue at evaluation time)
c5    department D2 (disp2); on time; closed; callback by op2 on time
c6    grid officer; verified late (insp1); filed by sup2; dispatched by disp2; checked late;
      closed by sup2 on time
c7    dispatched by disp2 to D, D asks to return it, approved: disp2's dispatch inaccurate;
      disp1 dispatches it again to the grid officer (on time); left waiting for acceptance
c8    filed by sup2, dispatched automatically, returned (approved): sup2's filing inaccurate;
      disp1 dispatches it again (on time); left waiting for acceptance
c9    reported by inspector insp2 (district of grid A); filed by sup1; left to dispatch
c10   reported by insp2; found invalid by op1 (void)
c11   reported by insp2; still waiting
c12   taken by op2; found invalid by op2 (void)
c13   in grid B (another district); filed by sup1; left to dispatch
c14   taken by op2; merged by op2 into c9 as a duplicate
====  =====================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session

from core.i18n import SHANGHAI
from dispatch.access import SYSTEM, Actor
from dispatch.insight.periods import Period
from dispatch.intake import Report, create_case
from dispatch.models import Case, User
from dispatch.models.cases import Source
from dispatch.models.people import Role
from tests.factories import make_user
from tests.workflow_helpers import A, World, act, build_world, new_case

#: The scenario's week, and the instant the tests evaluate it at (the Monday after).
PERIOD = Period(date(2026, 3, 2), date(2026, 3, 6))
NOW = datetime(2026, 3, 9, 12, 0, tzinfo=SHANGHAI)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A Beijing time in March 2026."""
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI)


@dataclass
class Scenario:
    """The world, the extra people and the cases of the week, by name (c1 … c14)."""

    world: World
    users: dict[str, User] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)

    def number(self, name: str) -> str:
        return self.cases[name].number

    def numbers(self, *names: str) -> list[str]:
        return sorted(self.cases[n].number for n in names)

    def user_id(self, name: str) -> int:
        return self.users[name].id


def build_scenario(session: Session, prefix: str = "ins", **world: object) -> Scenario:
    """Create the week's people and cases (flushed; ``world``: options of ``build_world``, e.g.
    a fresh catalogue for data a browser test commits)."""
    w = build_world(session, prefix=prefix, **world)  # type: ignore[arg-type]
    sc = Scenario(w)
    sc.users = {
        "op1": w.users["operator"],
        "insp1": w.users["inspector"],
        "sup1": w.users["shift_supervisor"],
        "disp1": w.users["dispatcher"],
        "op2": make_user(session, f"{prefix}-op2", "operator"),
        "sup2": make_user(session, f"{prefix}-sup2", "shift_supervisor"),
        "disp2": make_user(session, f"{prefix}-disp2", "dispatcher"),
        "insp2": make_user(
            session,
            f"{prefix}-insp2",
            "inspector",
            scope_kind="district",
            scope_code=w.grid.district,
        ),
    }
    roles = {
        "op1": Role.OPERATOR,
        "op2": Role.OPERATOR,
        "insp1": Role.INSPECTOR,
        "insp2": Role.INSPECTOR,
        "sup1": Role.SHIFT_SUPERVISOR,
        "sup2": Role.SHIFT_SUPERVISOR,
        "disp1": Role.DISPATCHER,
        "disp2": Role.DISPATCHER,
    }

    def who(name: str) -> Actor:
        return Actor(sc.users[name], roles[name])

    to_d = {"department_id": w.department.id, "reason": "归测试环卫处"}
    to_d2 = {"department_id": w.other_department.id, "reason": "归测试自来水公司"}

    def run(case: Case, *steps: tuple) -> Case:  # type: ignore[type-arg]
        for step in steps:
            action, actor, when, *rest = step
            data = rest[0] if rest else None
            act(session, w, case, action, actor, data=data, now=when)
        return case

    def hotline(name: str, *, taker: str = "op1", grid=None) -> Case:  # type: ignore[no-untyped-def]
        if taker == "op1":
            case = new_case(session, w, grid=grid, now=at(2, 9, 0))
        else:
            case, _ = create_case(
                session,
                Report(
                    source=Source.HOTLINE,
                    description="路边有暴露垃圾",
                    lng=w.grid.lng,
                    lat=w.grid.lat,
                    reporter_phone="13812345678",
                ),
                who(taker),
                now=at(2, 9, 0),
            )
        sc.cases[name] = case
        return case

    def inspector_report(name: str) -> Case:
        case, _ = create_case(
            session,
            Report(
                source=Source.INSPECTOR,
                description="巡查发现暴露垃圾",
                lng=w.grid.lng,
                lat=w.grid.lat,
            ),
            who("insp2"),
            now=at(2, 9, 0),
        )
        sc.cases[name] = case
        return case

    insp1, sup1, sup2 = who("insp1"), who("sup1"), who("sup2")
    disp1, disp2, op1, op2 = who("disp1"), who("disp2"), who("op1"), who("op2")
    filed = ((A.ACCEPT_REPORT, op1, at(2, 9, 1)), (A.FILE, sup1, at(2, 9, 2)))

    run(
        hotline("c1"),
        *filed,
        (A.DISPATCH, disp1, at(2, 9, 3), to_d),
        (A.ACCEPT, None, at(2, 9, 10)),
        (A.REPORT_DONE, None, at(2, 10, 0)),
        (A.CHECK_PASS, insp1, at(2, 10, 5)),
        (A.CLOSE, sup1, at(2, 10, 10)),
        (A.RECORD_CALLBACK, op1, at(2, 10, 30)),
    )
    run(
        hotline("c2"),
        *filed,
        (A.DISPATCH, disp1, at(3, 10, 0), to_d),  # late: due Mon 09:32
        (A.ACCEPT, None, at(3, 10, 5)),
        (A.REPORT_DONE, None, at(5, 10, 0)),  # late: due Tue 16:30
        (A.CHECK_PASS, insp1, at(5, 10, 5)),
        (A.CLOSE, sup1, at(6, 10, 0)),  # late: due Thu 12:05
    )
    run(
        hotline("c3"),
        *filed,
        (A.DISPATCH, disp1, at(2, 9, 3), to_d),
        (A.ACCEPT, None, at(2, 9, 10)),
        (A.REPORT_DONE, None, at(2, 10, 0)),
        (A.CHECK_FAIL, insp1, at(2, 10, 5)),
        (A.REPORT_DONE, None, at(3, 10, 0)),  # late: the second round was due Mon 16:35
        (A.CHECK_PASS, insp1, at(3, 10, 5)),
        (A.CLOSE, sup1, at(3, 10, 10)),
    )
    run(
        hotline("c4"),
        *filed,
        (A.DISPATCH, disp1, at(2, 9, 3), to_d),
        (A.ACCEPT, None, at(2, 9, 10)),
        (A.REQUEST_RETURN, None, at(2, 9, 20)),
        (A.REJECT_RETURN, sup1, at(2, 9, 30)),  # the dispatch was right after all
    )
    run(
        hotline("c5"),
        *filed,
        (A.DISPATCH, disp2, at(2, 9, 3), to_d2),
        (A.ACCEPT, w.actor("other_department"), at(2, 9, 10)),
        (A.REPORT_DONE, w.actor("other_department"), at(2, 10, 0)),
        (A.CHECK_PASS, insp1, at(2, 10, 5)),
        (A.CLOSE, sup1, at(2, 10, 10)),
        (A.RECORD_CALLBACK, op2, at(2, 11, 0)),
    )
    run(
        hotline("c6"),
        (A.SEND_TO_VERIFY, op1, at(2, 9, 1)),
        (A.VERIFY_TRUE, insp1, at(3, 10, 0)),  # late: due Mon 10:01
        (A.FILE, sup2, at(3, 10, 1)),
        (A.DISPATCH, disp2, at(3, 10, 2)),
        (A.ACCEPT, None, at(3, 10, 10)),
        (A.REPORT_DONE, None, at(3, 11, 0)),
        (A.CHECK_PASS, insp1, at(4, 10, 0)),  # late: due Tue 12:00
        (A.CLOSE, sup2, at(4, 10, 5)),
    )
    run(
        hotline("c7"),
        *filed,
        (A.DISPATCH, disp2, at(2, 9, 3), to_d),
        (A.REQUEST_RETURN, None, at(2, 9, 20)),
        (A.APPROVE_RETURN, sup1, at(2, 9, 30)),
        (A.DISPATCH, disp1, at(2, 9, 40)),
    )
    run(
        hotline("c8"),
        (A.ACCEPT_REPORT, op1, at(2, 9, 1)),
        (A.FILE, sup2, at(2, 9, 2)),
        (A.DISPATCH, SYSTEM, at(2, 9, 3)),
        (A.REQUEST_RETURN, None, at(2, 9, 20)),
        (A.APPROVE_RETURN, sup1, at(2, 9, 30)),
        (A.DISPATCH, disp1, at(2, 9, 40)),
    )
    run(inspector_report("c9"), *filed)
    run(inspector_report("c10"), (A.MARK_INVALID, op1, at(2, 9, 5)))
    inspector_report("c11")
    run(hotline("c12", taker="op2"), (A.MARK_INVALID, op2, at(2, 9, 5)))
    run(hotline("c13", grid=w.far_grid), *filed)
    run(
        hotline("c14", taker="op2"),
        (A.MERGE, op2, at(2, 9, 6), {"duplicate_of": sc.number("c9")}),
    )
    session.flush()
    return sc
