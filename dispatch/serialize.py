"""JSON shapes of cases, events and the catalogue, with personal data masked by role."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from dispatch.access import Actor
from dispatch.models import Case, CaseEvent, Category, Department, FilingCondition, User
from dispatch.models.people import Role
from dispatch.models.sla import CaseTimer, Level
from dispatch.routing import Proposal, propose_owner
from dispatch.workflow import actions_for
from grids.models import Officer

#: Roles that work with callers by phone and so see their numbers in full.
PHONE_ROLES = frozenset({Role.OPERATOR})
#: Roles that may reveal a masked number when they need it; every reveal is logged (the
#: hotline's ``phone_reveal`` table).
PHONE_REVEAL_ROLES = frozenset({Role.OPERATOR, Role.SHIFT_SUPERVISOR, Role.ADMIN})


def mask_phone(phone: str) -> str:
    """138****1234 for mobiles; keep only the last 4 digits of anything else."""
    digits = phone.strip()
    if not digits:
        return ""
    if len(digits) == 11 and digits.isdigit():
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * max(len(digits) - 4, 0) + digits[-4:]


def may_see_phone(user: User | None) -> bool:
    """Whether ``user`` sees callers' numbers in full."""
    return user is not None and bool(user.roles & PHONE_ROLES)


def may_reveal_phone(user: User | None) -> bool:
    """Whether ``user`` may ask for a masked number in full (the reveal is logged)."""
    return user is not None and user.is_active and bool(user.roles & PHONE_REVEAL_ROLES)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def case_summary(case: Case, user: User | None) -> dict[str, Any]:
    """A case as a list row."""
    return {
        "number": case.number,
        "state": case.state,
        "source": case.source,
        "version": case.version,
        "description": case.description,
        "address": case.address,
        "grid_code": case.grid_code,
        "district_code": case.district_code,
        "placement": case.placement,
        "category_id": case.category_id,
        "urgency": case.urgency,
        "owner": {"officer_id": case.owner_officer_id, "department_id": case.owner_department_id},
        "rework_count": case.rework_count,
        "created_at": _iso(case.created_at),
        "updated_at": _iso(case.updated_at),
    }


def case_created(case: Case, user: User | None) -> dict[str, Any]:
    """What intake answers: the number to read to the caller, where the case fell, its state."""
    body = case_summary(case, user)
    body.update(
        {
            "location": _location(case),
            "placement_distance_m": case.placement_distance_m,
            "boundary_set_version": case.boundary_set_version,
            # Read to the caller with the number: together they open the public look-up.
            "check_code": case.check_code,
        }
    )
    return body


def _location(case: Case) -> dict[str, Any] | None:
    loc = case.location
    if loc is None:
        return None
    return {"lng": loc.x, "lat": loc.y, "crs_reported": case.location_crs}


def case_detail(session: Session, case: Case, user: User | None) -> dict[str, Any]:
    """A case with everything its page shows."""
    show_phone = may_see_phone(user)
    body = case_created(case, user)
    body.update(
        {
            "filing_condition_id": case.filing_condition_id,
            "reporter": {
                "name": case.reporter_name,
                "phone": case.reporter_phone if show_phone else mask_phone(case.reporter_phone),
            },
            "callers": [
                {
                    "name": c.name,
                    "phone": c.phone if show_phone else mask_phone(c.phone),
                    "from_case_id": c.from_case_id,
                }
                for c in case.callers
            ],
            "duplicate_of_id": case.duplicate_of_id,
            "extended_due_at": _iso(case.extended_due_at),
            "attachments": case.attachments,
            "timestamps": {
                name: _iso(getattr(case, f"{name}_at"))
                for name in (
                    "created",
                    "verified",
                    "filed",
                    "dispatched",
                    "accepted",
                    "done",
                    "checked",
                    "closed",
                    "voided",
                )
            },
            "requests": [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "reason": r.reason,
                    "requested_due_at": _iso(r.requested_due_at),
                    "requested_at": _iso(r.requested_at),
                    "decision": r.decision,
                    "decided_at": _iso(r.decided_at),
                }
                for r in case.requests
            ],
            "events": [event(e) for e in case.events],
            "urge_count": case.urge_count,
            "timers": [timer(t) for t in case.timers],
            "proposal": proposal(session, propose_owner(session, case)) if case.is_open else None,
            "allowed_actions": (
                sorted(
                    {str(a) for r in user.roles for a in actions_for(session, case, Actor(user, r))}
                )
                if user is not None
                else []
            ),
        }
    )
    return body


#: ``CaseTimer.level`` as the API names it.
LEVEL_NAMES = {Level.NONE: "none", Level.YELLOW: "yellow", Level.RED: "red"}


def timer(t: CaseTimer) -> dict[str, Any]:
    """One stage clock of a case: its limit, deadline, warnings, stops and frozen result."""
    return {
        "stage": t.stage,
        "round": t.round,
        "state": t.state,
        "limit": {"value": t.limit_value, "clock": t.clock_type, "source": t.limit_source},
        "started_at": _iso(t.started_at),
        "due_at": _iso(t.due_at),
        "warn_at": _iso(t.warn_at),
        "level": LEVEL_NAMES[Level(t.level)],
        "yellow_at": _iso(t.yellow_at),
        "red_at": _iso(t.red_at),
        "paused_by": list(t.paused_by or []),
        "pauses": [{"from": p[0], "to": p[1], "reason": p[2]} for p in t.pauses or []],
        "extensions": [
            {
                "from": e.get("from"),
                "to": e.get("to"),
                "at": e.get("at"),
                "request_id": e.get("request_id"),
            }
            for e in t.extensions or []
        ],
        "result": t.result,
        "late_by_s": t.late_by_s,
        "ended_at": _iso(t.ended_at),
        "provisional": t.provisional,
    }


def event(ev: CaseEvent) -> dict[str, Any]:
    """One timeline entry."""
    return {
        "seq": ev.seq,
        "action": ev.action,
        "from_state": ev.from_state,
        "to_state": ev.to_state,
        "actor_user_id": ev.actor_user_id,
        "actor_role": ev.actor_role,
        "at": _iso(ev.at),
        "note": ev.note,
        "data": ev.data,
        "attachments": ev.attachments,
    }


def proposal(session: Session, prop: Proposal | None) -> dict[str, Any] | None:
    """A routing proposal with the owner's name."""
    if prop is None:
        return None
    name = None
    if prop.officer_id is not None:
        officer = session.get(Officer, prop.officer_id)
        name = officer.name if officer else None
    elif prop.department_id is not None:
        dept = session.get(Department, prop.department_id)
        name = dept.name if dept else None
    return {
        "officer_id": prop.officer_id,
        "department_id": prop.department_id,
        "name": name,
        "reason": prop.reason,
    }


def category(c: Category) -> dict[str, Any]:
    return {
        "id": c.id,
        "kind": c.kind,
        "code": c.code,
        "major_code": c.major_code,
        "major_name": c.major_name,
        "name": c.name,
        "keywords": c.keywords,
        "is_active": c.is_active,
    }


def condition(c: FilingCondition) -> dict[str, Any]:
    return {
        "id": c.id,
        "category_id": c.category_id,
        "text": c.text,
        "limit_value": c.limit_value,
        "clock_type": c.clock_type,
        "closing_condition": c.closing_condition,
        "urgency": c.urgency,
        "is_default": c.is_default,
    }


def department(d: Department) -> dict[str, Any]:
    return {"id": d.id, "code": d.code, "name": d.name, "district_code": d.district_code}


def user(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "username": u.username,
        "display_name": u.display_name,
        "roles": [
            {"role": g.role, "scope_kind": g.scope_kind, "scope_code": g.scope_code}
            for g in u.grants
        ],
        "officer_id": u.officer_id,
        "department_id": u.department_id,
    }
