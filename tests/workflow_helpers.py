"""Shared helpers for the workflow, permission, property and concurrency tests.

A ``World`` is what those tests need beyond the demo city: a category with its filing condition
(and a second one, for mismatches), two departments, three community grids (home grid A, grid C
in A's district, grid B in another district) with their primary officers, and one city-wide
user per role. ``act`` performs an action with sensible defaults (who, note, data) so a test
reads as a table of actions; ``advance_to`` brings a new case to any state through the workflow.

``expected_status`` is the independent oracle of the permission matrix and the state machine:
it decides the outcome of an action from the transition table (the specification) and the
scope rules of DOMAIN.md §1, without calling the application's access functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import shapely
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.types import utcnow
from dispatch.access import SYSTEM, Actor
from dispatch.intake import Report, create_case
from dispatch.models import (
    Case,
    CaseEvent,
    Category,
    Department,
    FilingCondition,
    RoutingRule,
    User,
)
from dispatch.models.cases import CaseState, Source
from dispatch.models.people import Role
from dispatch.routing import primary_officer
from dispatch.workflow import NOTE_REQUIRED, TRANSITIONS, Action, Outcome, perform, replay
from grids import services as grid_services
from grids.features import Level
from grids.models import GridDuty
from tests.factories import make_user

A = Action
S = CaseState
R = Role

#: The eight stamps the workflow sets (besides created_at / updated_at).
STAMPS = (
    "verified_at",
    "filed_at",
    "dispatched_at",
    "accepted_at",
    "done_at",
    "checked_at",
    "closed_at",
    "voided_at",
)

#: Keys of the city-wide users of a World, and the role each acts in.
USER_ROLES: dict[str, Role] = {
    "operator": R.OPERATOR,
    "inspector": R.INSPECTOR,
    "shift_supervisor": R.SHIFT_SUPERVISOR,
    "dispatcher": R.DISPATCHER,
    "leader": R.LEADER,
    "admin": R.ADMIN,
    "officer": R.GRID_OFFICER,  # linked to grid A's primary officer
    "other_officer": R.GRID_OFFICER,  # linked to grid B's primary officer
    "department": R.DEPARTMENT_STAFF,  # staff of World.department
    "other_department": R.DEPARTMENT_STAFF,  # staff of World.other_department
}

#: Who takes each action by default (owner-only actions: the case's owner, see ``default_actor``).
DEFAULT_WHO: dict[Action, str] = {
    A.SEND_TO_VERIFY: "operator",
    A.ACCEPT_REPORT: "operator",
    A.MARK_INVALID: "operator",
    A.MERGE: "operator",
    A.VERIFY_TRUE: "inspector",
    A.VERIFY_FALSE: "inspector",
    A.FILE: "shift_supervisor",
    A.REFUSE: "shift_supervisor",
    A.DISPATCH: "dispatcher",
    A.APPROVE_RETURN: "shift_supervisor",
    A.REJECT_RETURN: "shift_supervisor",
    A.APPROVE_EXTENSION: "shift_supervisor",
    A.REJECT_EXTENSION: "shift_supervisor",
    A.APPROVE_SUSPEND: "leader",
    A.REJECT_SUSPEND: "leader",
    A.RESUME: "leader",
    A.CHECK_PASS: "inspector",
    A.CHECK_FAIL: "inspector",
    A.CLOSE: "shift_supervisor",
    A.REOPEN: "operator",
    A.VOID: "shift_supervisor",
    A.PLACE: "operator",
    A.URGE: "shift_supervisor",
    A.RECORD_CALLBACK: "operator",
}

# Users: tests.factories.make_user (one password hash per run, so it is cheap).
quick_user = make_user


# ------------------------------------------------------------------------------- the world
@dataclass(frozen=True)
class GridInfo:
    """A community grid of the demo city, a point inside it and its primary officer today."""

    code: str
    grid_id: int
    district: str
    lng: float
    lat: float
    officer_id: int

    @property
    def point(self) -> dict[str, float]:
        return {"lng": self.lng, "lat": self.lat}


def inside_point(geom: Any) -> tuple[float, float]:
    """A point well inside a grid (in its largest part)."""
    biggest = max(shapely.get_parts(geom), key=lambda g: g.area)
    pt = biggest.representative_point()
    return pt.x, pt.y


_GRIDS: dict[tuple[str, int, int], tuple[GridInfo, GridInfo, GridInfo]] = {}


def pick_grids(session: Session) -> tuple[GridInfo, GridInfo, GridInfo]:
    """Grid A, grid C (another grid of A's district) and grid B (another district).

    Only grids whose representative point the locator puts back in the same grid, and that
    have a primary officer today, are chosen. The demo city is committed once per run, so the
    choice is cached.
    """
    bset = grid_services.active_set(session)
    assert bset is not None, "the demo city must be loaded"
    key = (str(session.get_bind().engine.url), bset.id, bset.version)
    if key not in _GRIDS:
        _GRIDS[key] = _pick_grids(session, bset.id)
    return _GRIDS[key]


def _pick_grids(session: Session, set_id: int) -> tuple[GridInfo, GridInfo, GridInfo]:
    index = grid_services.locator().index()
    assert index is not None
    by_district: dict[str, list[GridInfo]] = {}
    for grid in grid_services.grids_of(session, set_id, level=Level.COMMUNITY):
        lng, lat = inside_point(grid.geom)
        loc = index.locate(lng, lat)
        if not loc.found or loc.grid_code != grid.code or loc.approximate:
            continue
        officer = primary_officer(session, grid.code)
        if officer is None:
            continue
        info = GridInfo(grid.code, grid.id, grid.code[:6], lng, lat, officer)
        by_district.setdefault(grid.code[:6], []).append(info)
    districts = sorted(by_district)
    home = next(d for d in districts if len(by_district[d]) >= 2)
    other = next(d for d in districts if d != home)
    return by_district[home][0], by_district[home][1], by_district[other][0]


@dataclass
class World:
    category: Category
    condition: FilingCondition
    other_category: Category
    other_condition: FilingCondition
    department: Department
    other_department: Department
    grid: GridInfo  #: A
    near_grid: GridInfo  #: C, in A's district
    far_grid: GridInfo  #: B, in another district
    users: dict[str, User] = field(default_factory=dict)

    def actor(self, who: str | Actor) -> Actor:
        if isinstance(who, Actor):
            return who
        if who == "system":
            return SYSTEM
        return Actor(self.users[who], USER_ROLES[who])


def _category(session: Session, code: str, name: str, *, fresh: bool) -> Category:
    """The matter class ``code`` (created unless the catalogue already has it and not ``fresh``)."""
    found = None
    if not fresh:
        found = session.scalar(
            select(Category).where(Category.kind == "matter", Category.code == code)
        )
    if found is None:
        found = Category(
            kind="matter", code=code, major_code=code[:2], major_name="市容环境", name=name
        )
        session.add(found)
        session.flush()
    return found


def build_world(
    session: Session,
    *,
    prefix: str = "wf",
    code: str = "06001",
    other_code: str = "06002",
    fresh_catalogue: bool = False,
) -> World:
    """Create the catalogue rows, departments and users a workflow test needs (flushed).

    The categories are taken from the catalogue when it is seeded (and created otherwise); their
    routing rules are removed (inside the test's transaction) so that dispatch proposes the
    grid's primary officer whatever the seed says. ``fresh_catalogue`` always creates both
    categories (for committed test data, which must not touch seeded rows).
    """
    category = _category(session, code, "暴露垃圾", fresh=fresh_catalogue)
    other_category = _category(session, other_code, "积存垃圾渣土", fresh=fresh_catalogue)
    session.execute(
        delete(RoutingRule).where(RoutingRule.category_id.in_([category.id, other_category.id]))
    )
    condition = FilingCondition(
        category_id=category.id,
        text="城市道路、广场等公共场所有暴露垃圾",
        limit_value=4,
        clock_type="working_hours",
        urgency="normal",
    )
    other_condition = FilingCondition(
        category_id=other_category.id,
        text="公共场所积存垃圾渣土",
        limit_value=1,
        clock_type="working_days",
        urgency="urgent",
    )
    department = Department(code=f"{prefix}-sanitation", name="测试环卫处")
    other_department = Department(code=f"{prefix}-water", name="测试自来水公司")
    session.add_all([condition, other_condition, department, other_department])
    session.flush()
    grid, near, far = pick_grids(session)
    world = World(
        category,
        condition,
        other_category,
        other_condition,
        department,
        other_department,
        grid,
        near,
        far,
    )
    for key, role in USER_ROLES.items():
        world.users[key] = quick_user(
            session,
            f"{prefix}-{key}",
            role,
            officer_id={"officer": grid.officer_id, "other_officer": far.officer_id}.get(key),
            department_id={
                "department": department.id,
                "other_department": other_department.id,
            }.get(key),
        )
    return world


# ------------------------------------------------------------------------------- cases
def new_case(
    session: Session,
    world: World,
    *,
    grid: GridInfo | None = None,
    placed: bool = True,
    key: str | None = None,
    phone: str = "13812345678",
    name: str = "张先生",
    description: str = "路边有暴露垃圾",
    now: datetime | None = None,
) -> Case:
    """A new case reported by the hotline operator (in grid A unless told otherwise)."""
    grid = grid or world.grid
    report = Report(
        source=Source.HOTLINE,
        description=description,
        address="解放路 1 号",
        lng=grid.lng if placed else None,
        lat=grid.lat if placed else None,
        reporter_name=name,
        reporter_phone=phone,
        idempotency_key=key,
    )
    case, _created = create_case(session, report, world.actor("operator"), now=now)
    return case


def default_actor(world: World, case: Case, action: Action) -> Actor:
    """The natural actor of ``action`` on ``case`` (its owner for owner-only actions)."""
    if TRANSITIONS[action].owner_only:
        return world.actor("department" if case.owner_department_id else "officer")
    return world.actor(DEFAULT_WHO[action])


def default_data(world: World, action: Action, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    if action is A.FILE:
        return {"category_id": world.category.id, "filing_condition_id": world.condition.id}
    if action is A.REQUEST_EXTENSION:
        return {"due_at": (now + timedelta(days=3)).isoformat()}
    if action is A.PLACE:
        return dict(world.grid.point)
    if action is A.RECORD_CALLBACK:
        return {"satisfaction": "satisfied"}
    return {}


def default_note(action: Action) -> str:
    return f"{action} 的理由" if action in NOTE_REQUIRED else ""


def act(
    session: Session,
    world: World,
    case: Case,
    action: Action | str,
    who: str | Actor | None = None,
    *,
    note: str | None = None,
    data: dict[str, Any] | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Outcome:
    """``perform`` with defaults: the natural actor, a note where one is needed, valid data."""
    action = Action(action)
    actor = world.actor(who) if who is not None else default_actor(world, case, action)
    return perform(
        session,
        case.id,
        action,
        actor,
        note=default_note(action) if note is None else note,
        data=default_data(world, action, now) if data is None else data,
        expected_version=expected_version,
        now=now,
    )


#: The actions that bring a new (placed) case to each state, owned by grid A's officer.
PATHS: dict[CaseState, tuple[Action, ...]] = {
    S.REPORTED: (),
    S.TO_VERIFY: (A.SEND_TO_VERIFY,),
    S.TO_FILE: (A.ACCEPT_REPORT,),
    S.TO_DISPATCH: (A.ACCEPT_REPORT, A.FILE),
    S.TO_ACCEPT: (A.ACCEPT_REPORT, A.FILE, A.DISPATCH),
    S.IN_PROGRESS: (A.ACCEPT_REPORT, A.FILE, A.DISPATCH, A.ACCEPT),
    S.SUSPENDED: (
        A.ACCEPT_REPORT, A.FILE, A.DISPATCH, A.ACCEPT, A.REQUEST_SUSPEND, A.APPROVE_SUSPEND
    ),
    S.TO_CHECK: (A.ACCEPT_REPORT, A.FILE, A.DISPATCH, A.ACCEPT, A.REPORT_DONE),
    S.TO_CLOSE: (A.ACCEPT_REPORT, A.FILE, A.DISPATCH, A.ACCEPT, A.REPORT_DONE, A.CHECK_PASS),
    S.CLOSED: (
        A.ACCEPT_REPORT, A.FILE, A.DISPATCH, A.ACCEPT, A.REPORT_DONE, A.CHECK_PASS, A.CLOSE
    ),
    S.VOID: (A.MARK_INVALID,),
    S.MERGED: (A.MERGE,),
}  # fmt: skip


def advance_to(
    session: Session,
    world: World,
    state: CaseState,
    *,
    case: Case | None = None,
    to_department: bool = False,
    requests: Iterable[str] = (),
    grid: GridInfo | None = None,
    placed: bool = True,
) -> Case:
    """A case brought to ``state`` through the workflow (merged: into a fresh open case).

    ``to_department``: dispatched to World.department instead of the grid's officer.
    ``requests``: kinds of request (return, extension, suspend) left pending at the end.
    """
    case = case or new_case(session, world, grid=grid, placed=placed)
    for action in PATHS[state]:
        data = None
        if action is A.MERGE:
            target = new_case(session, world, grid=grid, placed=placed, phone="13900001111")
            data = {"duplicate_of": target.number}
        elif action is A.DISPATCH and to_department:
            data = {"department_id": world.department.id, "reason": "归环卫处管"}
        act(session, world, case, action, data=data)
    for kind in requests:
        act(session, world, case, f"request_{kind}")
    return case


def prepare_for(
    session: Session,
    world: World,
    action: Action,
    *,
    to_department: bool = False,
    grid: GridInfo | None = None,
) -> Case:
    """A case on which ``action`` is possible (right state, request pending where needed)."""
    edge = TRANSITIONS[action]
    if action is A.PLACE:
        return new_case(session, world, placed=False)
    state = next(s for s in PATHS if s in edge.sources)
    if action in (A.REQUEST_EXTENSION, A.REQUEST_SUSPEND, A.REPORT_DONE) or edge.needs_request:
        state = S.IN_PROGRESS
    requests = [edge.needs_request] if edge.needs_request else []
    return advance_to(
        session, world, state, to_department=to_department, requests=requests, grid=grid
    )


def events_of(session: Session, case: Case | int) -> list[CaseEvent]:
    case_id = case if isinstance(case, int) else case.id
    return list(
        session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
        )
    )


def event_count(session: Session, case: Case | int) -> int:
    case_id = case if isinstance(case, int) else case.id
    return session.scalar(select(func.count()).where(CaseEvent.case_id == case_id)) or 0


def assert_replay_matches(session: Session, case: Case) -> None:
    """The event log alone rebuilds the case: state, owners, rework, grid, category, version."""
    events = events_of(session, case)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    snap = replay(events)
    assert snap.state == case.state
    assert snap.owner_officer_id == case.owner_officer_id
    assert snap.owner_department_id == case.owner_department_id
    assert snap.rework_count == case.rework_count
    assert snap.category_id == case.category_id
    assert snap.filing_condition_id == case.filing_condition_id
    assert snap.grid_code == case.grid_code
    assert snap.duplicate_of_id == case.duplicate_of_id
    assert snap.version == case.version == len(events)


def duty_grids(session: Session, officer_id: int | None) -> frozenset[str]:
    """The grids an officer has a duty for today (read straight from the duty table)."""
    if officer_id is None:
        return frozenset()
    from dispatch.access import today

    day = today()
    duties = session.scalars(select(GridDuty).where(GridDuty.officer_id == officer_id))
    return frozenset(d.grid_code for d in duties if d.covers(day))


# ------------------------------------------------------------------------------- the oracle
@dataclass(frozen=True)
class Who:
    """What the oracle knows of an actor: role, scope and what the person is linked to."""

    role: Role
    scope_kind: str = "city"
    scope_codes: frozenset[str] = frozenset()
    officer_id: int | None = None
    department_id: int | None = None
    duty_grids: frozenset[str] = frozenset()

    @classmethod
    def of(cls, session: Session, user: User, role: Role) -> Who:
        grants = [g for g in user.grants if g.role == role]
        assert len(grants) == 1, "the oracle models one grant per role"
        return cls(
            role,
            grants[0].scope_kind,
            frozenset(grants[0].scope_code.split()),
            user.officer_id,
            user.department_id,
            duty_grids(session, user.officer_id) if role is R.GRID_OFFICER else frozenset(),
        )


@dataclass(frozen=True)
class Facts:
    """What the oracle knows of a case."""

    state: CaseState
    grid_code: str | None
    district_code: str | None
    owner_officer_id: int | None
    owner_department_id: int | None
    pending: frozenset[str] = frozenset()

    @classmethod
    def of(cls, case: Case) -> Facts:
        return cls(
            CaseState(case.state),
            case.grid_code,
            case.district_code,
            case.owner_officer_id,
            case.owner_department_id,
            frozenset(r.kind for r in case.requests if r.decision is None),
        )


def sees(who: Who, case: Facts) -> bool:
    """DOMAIN.md §1 scopes: the city sees all; a district or grid list sees its placed cases;
    an officer also sees the grids of today's duties and the cases they own; department staff
    see their department's cases."""
    if who.role is R.SYSTEM or who.scope_kind == "city":
        return True
    if case.grid_code is not None:
        if who.scope_kind == "district" and case.district_code in who.scope_codes:
            return True
        if who.scope_kind == "grids" and case.grid_code in who.scope_codes:
            return True
    if (
        who.role is R.GRID_OFFICER
        and who.officer_id is not None
        and (case.owner_officer_id == who.officer_id or case.grid_code in who.duty_grids)
    ):
        return True
    return (
        who.role is R.DEPARTMENT_STAFF
        and who.department_id is not None
        and case.owner_department_id == who.department_id
    )


def owns(who: Who, case: Facts) -> bool:
    if who.role is R.GRID_OFFICER:
        return who.officer_id is not None and case.owner_officer_id == who.officer_id
    if who.role is R.DEPARTMENT_STAFF:
        return who.department_id is not None and case.owner_department_id == who.department_id
    return False


def expected_status(
    action: Action,
    who: Who,
    case: Facts,
    *,
    note: bool = True,
    placed: bool = True,
    api: bool = True,
) -> int:
    """The HTTP status the spec calls for (``api=False``: the order ``perform`` checks in,
    which tests the role before the scope).

    404 out of scope, 403 role (or not the owner), 409 wrong state or request missing /
    already open, 400 note missing; placing a placed case is a 409, dispatching an unplaced
    one a 400; otherwise 200. Payload validity beyond the note is the caller's business.
    """
    edge = TRANSITIONS[action]
    visible = sees(who, case)
    if api and not visible:
        return 404
    if who.role not in edge.roles:
        return 403
    if not visible:
        return 404
    if case.state not in edge.sources:
        return 409
    if edge.owner_only and not owns(who, case):
        return 403
    if edge.needs_request and edge.needs_request not in case.pending:
        return 409
    if edge.refuses_open_request and edge.refuses_open_request in case.pending:
        return 409
    if action in NOTE_REQUIRED and not note:
        return 400
    if action is A.PLACE and placed:
        return 409
    if action is A.DISPATCH and not placed:
        return 400
    return 200


def status_of(exc: BaseException | None) -> int:
    """The HTTP status of a workflow exception (None: success)."""
    return 200 if exc is None else int(getattr(exc, "status", 500))


def api_act(
    api: Any,
    number: str,
    action: Action | str,
    *,
    note: str = "",
    data: dict[str, Any] | None = None,
    version: int | None = None,
    as_role: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    body: dict[str, Any] = {"note": note, "data": data or {}}
    if version is not None:
        body["version"] = version
    if as_role is not None:
        body["as_role"] = as_role
    return api.post(f"/api/v1/cases/{number}/actions/{action}", json=body, headers=headers or {})


def sorted_actions(actions: Iterable[Action] | None = None) -> list[Action]:
    return sorted(actions if actions is not None else TRANSITIONS, key=str)


def forbidden_edges() -> list[tuple[Action, CaseState]]:
    """Every (action, state) pair the transition table does not allow."""
    return [
        (action, state)
        for action in sorted_actions()
        for state in CaseState
        if state not in TRANSITIONS[action].sources
    ]
