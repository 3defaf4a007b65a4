"""Callers' numbers are personal data: who sees them in full, masking, and the logged reveal.

Operators see the numbers they dial (the desk, the history of the number typed, the callback
queue). Everywhere else a number is masked (138****1234); roles that may need the full number
(shift supervisors, administrators, operators) can reveal one, and every reveal is logged.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from dispatch.access import can_view
from dispatch.errors import Forbidden, NotFound
from dispatch.models import Case, CaseCaller, User
from dispatch.models.people import Role
from dispatch.serialize import PHONE_REVEAL_ROLES, mask_phone
from hotline.models import HotlineCall, PhoneReveal

#: Roles that work the phone: they see the numbers of the desk's own lists in full.
DESK_ROLES = frozenset({Role.OPERATOR})
#: Roles that may reveal a masked number (each reveal is logged): dispatch's, for one policy.
REVEAL_ROLES = PHONE_REVEAL_ROLES

__all__ = ["DESK_ROLES", "REVEAL_ROLES", "mask_phone", "phone_for", "reveal_phone"]


def works_the_desk(user: User | None) -> bool:
    """Whether ``user`` takes calls (and so sees callers' numbers on the desk's pages)."""
    return user is not None and user.is_active and bool(user.roles & DESK_ROLES)


def may_reveal(user: User | None) -> bool:
    """Whether ``user`` may ask for a full number (logged)."""
    return user is not None and user.is_active and bool(user.roles & REVEAL_ROLES)


def phone_for(user: User | None, phone: str) -> str:
    """The number as ``user`` may see it on the desk's lists: in full for operators."""
    return phone if works_the_desk(user) else mask_phone(phone)


def reveal_phone(
    session: Session,
    user: User,
    *,
    call_id: int | None = None,
    caller_id: int | None = None,
    reason: str = "",
) -> str:
    """The full number of a call or of a case's caller, logged as revealed to ``user``."""
    if not may_reveal(user):
        raise Forbidden("your role may not reveal callers' numbers")
    if (call_id is None) == (caller_id is None):
        raise NotFound("name one call or one caller")
    phone = case = None
    if call_id is not None:
        call = session.get(HotlineCall, call_id)
        if call is not None:
            phone = call.caller_phone
            case = session.get(Case, call.case_id) if call.case_id else None
    else:
        caller = session.get(CaseCaller, caller_id)
        if caller is not None:
            phone, case = caller.phone, caller.case
    # Out of scope is indistinguishable from missing, so scope cannot be probed.
    if phone is None or (case is not None and not can_view(session, user, case)):
        raise NotFound("no such call or caller")
    role = next(r for r in Role if r in REVEAL_ROLES and user.has_role(r))
    session.add(
        PhoneReveal(
            user_id=user.id,
            role=str(role),
            call_id=call_id,
            caller_id=caller_id,
            reason=reason.strip()[:200],
        )
    )
    session.flush()
    return phone
