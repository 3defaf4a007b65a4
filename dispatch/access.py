"""Who may see and act on which case: roles, scopes and ownership.

A user holds role grants, each with a scope (the city, a district, some grids). A grid officer
also reaches the grids of their current duties and the cases they own; department staff reach
the cases their department owns. Nothing outside a user's scope is visible, on pages, API or
exports: listings filter with ``scope_clause`` and single cases check ``in_scope``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from core.i18n import SHANGHAI
from dispatch.models import Case, User
from dispatch.models.people import Role, ScopeKind
from grids.models import GridDuty


@dataclass(frozen=True)
class Actor:
    """A user acting in one of their roles (or the system, with no user)."""

    user: User | None
    role: Role

    @property
    def label(self) -> str:
        return self.user.display_name if self.user else "system"


SYSTEM = Actor(None, Role.SYSTEM)


def today() -> date:
    """Today's date in Asia/Shanghai (duties are by local date)."""
    return datetime.now(SHANGHAI).date()


def duty_grid_codes(session: Session, officer_id: int, day: date | None = None) -> set[str]:
    """The grids an officer is on duty for on ``day`` (primary or deputy)."""
    day = day or today()
    rows = session.scalars(
        select(GridDuty.grid_code).where(
            GridDuty.officer_id == officer_id,
            GridDuty.starts_on <= day,
            (GridDuty.ends_on.is_(None)) | (GridDuty.ends_on >= day),
        )
    )
    return set(rows)


def is_owner(actor: Actor, case: Case) -> bool:
    """Whether the actor is the case's current owner in the role they act in."""
    user = actor.user
    if user is None:
        return False
    if actor.role is Role.GRID_OFFICER:
        return user.officer_id is not None and case.owner_officer_id == user.officer_id
    if actor.role is Role.DEPARTMENT_STAFF:
        return user.department_id is not None and case.owner_department_id == user.department_id
    return False


def in_scope(session: Session, actor: Actor, case: Case) -> bool:
    """Whether ``actor`` (in their role) reaches ``case``."""
    if actor.role is Role.SYSTEM:
        return True
    user = actor.user
    if user is None or not user.is_active or not user.has_role(actor.role):
        return False
    for grant in user.grants:
        if grant.role != actor.role:
            continue
        if grant.scope_kind == ScopeKind.CITY:
            return True
        if case.grid_code is None:
            continue  # unplaced cases belong to the city-wide desks
        if grant.scope_kind == ScopeKind.DISTRICT and case.district_code == grant.scope_code:
            return True
        if grant.scope_kind == ScopeKind.GRIDS and case.grid_code in grant.scope_code.split():
            return True
    if actor.role is Role.GRID_OFFICER and user.officer_id is not None:
        if case.owner_officer_id == user.officer_id:
            return True
        if case.grid_code and case.grid_code in duty_grid_codes(session, user.officer_id):
            return True
    if actor.role is Role.DEPARTMENT_STAFF and user.department_id is not None:
        return case.owner_department_id == user.department_id
    return False


def can_view(session: Session, user: User, case: Case) -> bool:
    """Whether any of the user's roles reaches the case."""
    return any(in_scope(session, Actor(user, role), case) for role in user.roles)


def scope_clause(session: Session, user: User) -> ColumnElement[bool]:
    """A WHERE clause selecting exactly the cases ``can_view`` admits (for lists and exports)."""
    if not user.is_active:
        return false()
    conds: list[ColumnElement[bool]] = []
    for grant in user.grants:
        if grant.scope_kind == ScopeKind.CITY:
            return true()
        if grant.scope_kind == ScopeKind.DISTRICT:
            conds.append(Case.district_code == grant.scope_code)
        elif grant.scope_kind == ScopeKind.GRIDS and grant.scope_code.split():
            conds.append(Case.grid_code.in_(grant.scope_code.split()))
    if user.has_role(Role.GRID_OFFICER) and user.officer_id is not None:
        conds.append(Case.owner_officer_id == user.officer_id)
        codes = duty_grid_codes(session, user.officer_id)
        if codes:
            conds.append(Case.grid_code.in_(sorted(codes)))
    if user.has_role(Role.DEPARTMENT_STAFF) and user.department_id is not None:
        conds.append(Case.owner_department_id == user.department_id)
    return or_(*conds) if conds else false()


def choose_role(session: Session, user: User, roles: frozenset[Role], case: Case) -> Role | None:
    """The role in which ``user`` can act on ``case`` for an edge allowing ``roles``."""
    for role in Role:
        if role in roles and user.has_role(role) and in_scope(session, Actor(user, role), case):
            return role
    return None
