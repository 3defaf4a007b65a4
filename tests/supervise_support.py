"""Cases for the supervisor's workspace tests, built through the workflow with explicit ``now``.

``supervision_cases`` makes one case per row of ``PLAN`` (grid, owner, category, source, day) on
the working days of early March 2026 (2026-03-02 is an ordinary Monday; working windows
08:00-12:00 and 14:30-17:30). A handled case is dispatched at 10:00 and accepted at 10:30, so
its handling clock (4 working hours for the world's condition) is due 16:30 that day and turns
yellow at 15:42; the other condition (urgent, 1 working day) is due 17:30 the next working
day. At ``NOW`` (2026-03-05 16:00) the cases of 03-05 are near due and the older ones overdue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from dispatch.intake import Report, create_case
from dispatch.models import Case, User
from dispatch.models.cases import Source
from tests.factories import make_user
from tests.workflow_helpers import GridInfo, World, act

SH = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    """An Asia/Shanghai wall-clock time."""
    return datetime.fromisoformat(text).replace(tzinfo=SH)


#: The moment the tables are read at.
NOW = at("2026-03-05 16:00")


@dataclass(frozen=True)
class Plan:
    """How one case of the set is made."""

    grid: str = "home"  #: home (grid A), near (grid C, A's district) or far (grid B)
    owner: str = "officer"  #: officer (the grid's primary officer) or department
    category: str = "main"  #: main (4 working hours) or other (urgent, 1 working day)
    source: Source = Source.HOTLINE
    day: str = "2026-03-02"
    accepted: bool = True  #: False: left waiting to be accepted (accept + handle clocks run)


#: name -> plan. Expected clocks at NOW: every case's handling clock (red, or yellow for the
#: cases of 03-05), plus the acceptance clock of ``waiting``.
PLAN: dict[str, Plan] = {
    "home": Plan(),
    "near_dept": Plan(grid="near", owner="department"),
    "far": Plan(grid="far"),
    "other_cat": Plan(category="other", day="2026-03-03"),
    "web": Plan(source=Source.WEB, day="2026-03-04"),
    "waiting": Plan(accepted=False, day="2026-03-04"),
    "fresh": Plan(day="2026-03-05"),
    "fresh_far": Plan(grid="far", day="2026-03-05"),
}


def grid_of(world: World, key: str) -> GridInfo:
    return {"home": world.grid, "near": world.near_grid, "far": world.far_grid}[key]


def make_case(session: Session, world: World, plan: Plan, *, phone: str = "13812345678") -> Case:
    """One case reported on ``plan.day`` at 09:00 and walked through the workflow."""
    grid = grid_of(world, plan.grid)
    case, _created = create_case(
        session,
        Report(
            source=plan.source,
            description="路边有暴露垃圾",
            address="解放路 1 号",
            lng=grid.lng,
            lat=grid.lat,
            reporter_name="张先生",
            reporter_phone=phone,
        ),
        world.actor("operator"),
        now=at(f"{plan.day} 09:00"),
    )
    category, condition = (
        (world.category, world.condition)
        if plan.category == "main"
        else (world.other_category, world.other_condition)
    )
    act(session, world, case, "accept_report", now=at(f"{plan.day} 09:00"))
    act(
        session,
        world,
        case,
        "file",
        now=at(f"{plan.day} 09:10"),
        data={"category_id": category.id, "filing_condition_id": condition.id},
    )
    dispatch = (
        {"department_id": world.department.id, "reason": "归环卫处管"}
        if plan.owner == "department"
        else {}
    )
    act(session, world, case, "dispatch", now=at(f"{plan.day} 10:00"), data=dispatch)
    if plan.accepted:
        who = {"home": "officer", "far": "other_officer"}.get(plan.grid)
        if plan.owner == "department":
            who = "department"
        assert who is not None, "grid C's officer has no user: dispatch to the department"
        act(session, world, case, "accept", who, now=at(f"{plan.day} 10:30"))
    return case


def supervision_cases(session: Session, world: World) -> dict[str, Case]:
    """Every case of ``PLAN``, by name."""
    return {name: make_case(session, world, plan) for name, plan in PLAN.items()}


def district_supervisor(session: Session, world: World, name: str = "sup-district") -> User:
    """A shift supervisor whose grant reaches only grid A's district."""
    return make_user(
        session, name, "shift_supervisor", scope_kind="district", scope_code=world.grid.district
    )
