"""Routing: who should handle a case, from its grid and category."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.access import today
from dispatch.models import Case, RoutingRule
from grids.models import GridDuty


@dataclass(frozen=True)
class Proposal:
    """A proposed owner: an officer or a department, and why."""

    officer_id: int | None
    department_id: int | None
    reason: str


def rule_for(session: Session, category_id: int, district_code: str | None) -> RoutingRule | None:
    """The routing rule for a category in a district: a district rule beats the city-wide one."""
    rules = session.scalars(
        select(RoutingRule).where(
            RoutingRule.category_id == category_id,
            (RoutingRule.district_code.is_(None)) | (RoutingRule.district_code == district_code),
        )
    ).all()
    rules = sorted(rules, key=lambda r: (r.district_code is None, -r.priority, r.id))
    return rules[0] if rules else None


def primary_officer(session: Session, grid_code: str) -> int | None:
    """The primary officer on duty for the grid today."""
    day = today()
    return session.scalar(
        select(GridDuty.officer_id)
        .where(
            GridDuty.grid_code == grid_code,
            GridDuty.role == "primary",
            GridDuty.starts_on <= day,
            (GridDuty.ends_on.is_(None)) | (GridDuty.ends_on >= day),
        )
        .order_by(GridDuty.starts_on.desc())
    )


def propose_owner(session: Session, case: Case) -> Proposal | None:
    """Grid + category → the department named by a routing rule, or the grid's primary officer.

    None when the case is not placed, or the rule names the grid officer and the grid has none.
    """
    if case.grid_code is None:
        return None
    if case.category_id is not None:
        rule = rule_for(session, case.category_id, case.district_code)
        if (
            rule is not None
            and rule.handler == "department"
            and rule.department is not None
            and rule.department.is_active
        ):
            scope = f"district {rule.district_code}" if rule.district_code else "city-wide"
            return Proposal(None, rule.department_id, f"routing rule ({scope})")
    officer = primary_officer(session, case.grid_code)
    if officer is None:
        return None
    return Proposal(officer, None, f"primary officer of grid {case.grid_code}")
