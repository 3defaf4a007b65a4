"""Who hears about a case: its owner, the desk of its current stage, the supervisors above.

``Recipients`` loads every active user's grants once and answers by scope from dictionaries, so
the sweep can resolve thousands of cases without a query each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import RoleGrant, User
from dispatch.models.people import Role, ScopeKind
from dispatch.models.sla import Stage


@dataclass(frozen=True)
class CaseRef:
    """The parts of a case that decide who is told."""

    id: int
    number: str
    grid_code: str | None
    district_code: str | None
    owner_officer_id: int | None
    owner_department_id: int | None
    urgency: str


#: Who works each stage (the owner, for the stages that have one).
STAGE_DESK: dict[Stage, tuple[Role, ...]] = {
    Stage.VERIFY: (Role.INSPECTOR,),
    Stage.FILE: (Role.SHIFT_SUPERVISOR,),
    Stage.DISPATCH: (Role.DISPATCHER,),
    Stage.CHECK: (Role.INSPECTOR,),
    Stage.CLOSE: (Role.SHIFT_SUPERVISOR,),
    Stage.CALLBACK: (Role.OPERATOR,),
}
OWNER_STAGES = frozenset({Stage.ACCEPT, Stage.HANDLE})
#: The supervisors above, told when a stage goes red.
SUPERVISORS = (Role.SHIFT_SUPERVISOR, Role.LEADER)


class Recipients:
    """An index of active users by role and scope, officer and department."""

    def __init__(self, session: Session) -> None:
        self._city: dict[Role, set[int]] = defaultdict(set)
        self._district: dict[tuple[Role, str], set[int]] = defaultdict(set)
        self._grid: dict[tuple[Role, str], set[int]] = defaultdict(set)
        self._officer: dict[int, set[int]] = defaultdict(set)
        self._department: dict[int, set[int]] = defaultdict(set)
        rows = session.execute(
            select(
                User.id,
                User.officer_id,
                User.department_id,
                RoleGrant.role,
                RoleGrant.scope_kind,
                RoleGrant.scope_code,
            )
            .join(RoleGrant, RoleGrant.user_id == User.id)
            .where(User.is_active.is_(True))
        )
        for uid, officer_id, department_id, role, kind, code in rows:
            role = Role(role)
            if role is Role.GRID_OFFICER and officer_id is not None:
                self._officer[officer_id].add(uid)
            if role is Role.DEPARTMENT_STAFF and department_id is not None:
                self._department[department_id].add(uid)
            if kind == ScopeKind.CITY:
                self._city[role].add(uid)
            elif kind == ScopeKind.DISTRICT:
                self._district[(role, code)].add(uid)
            elif kind == ScopeKind.GRIDS:
                for grid in code.split():
                    self._grid[(role, grid)].add(uid)

    def owners(self, case: CaseRef) -> set[int]:
        """The users who own the case now (its officer, or its department's staff)."""
        if case.owner_officer_id is not None:
            return set(self._officer.get(case.owner_officer_id, ()))
        if case.owner_department_id is not None:
            return set(self._department.get(case.owner_department_id, ()))
        return set()

    def in_scope(self, case: CaseRef, roles: Iterable[Role]) -> set[int]:
        """Users holding one of ``roles`` with a scope reaching the case (the nearest scope
        that has anyone: grid, then district, then city-wide)."""
        out: set[int] = set()
        for role in roles:
            found: set[int] = set()
            if case.grid_code:
                found = set(self._grid.get((role, case.grid_code), ()))
            if not found and case.district_code:
                found = set(self._district.get((role, case.district_code), ()))
            if not found:
                found = set(self._city.get(role, ()))
            out |= found
        return out

    def for_stage(self, case: CaseRef, stage: Stage) -> set[int]:
        """Who works ``stage`` of the case: the owner for accept/handle, else the stage's desk."""
        if stage in OWNER_STAGES:
            owners = self.owners(case)
            if owners:
                return owners
            return self.in_scope(case, (Role.DISPATCHER,))  # nobody owns it: whoever dispatches
        return self.in_scope(case, STAGE_DESK.get(stage, (Role.SHIFT_SUPERVISOR,)))

    def supervisors(self, case: CaseRef) -> set[int]:
        """The supervisors above the case (shift supervisors and leaders reaching it)."""
        return self.in_scope(case, SUPERVISORS)
