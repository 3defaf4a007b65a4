"""Urging (督办) one case or many at once from the overdue list.

Each case goes through ``workflow.perform(..., Action.URGE, ...)`` (which counts the urge, logs
the event and notifies the owner) inside its own SAVEPOINT: a case that cannot be urged (it moved
on since the list was read, closed, out of scope) is reported on its own row and leaves nothing
behind, while the others go ahead. The caller commits once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.types import utcnow
from dispatch.access import Actor, can_view, choose_role
from dispatch.errors import InvalidInput, WorkflowError
from dispatch.models import Case, User
from dispatch.workflow import TRANSITIONS, Action, perform

#: The most cases one bulk urge takes (a page of the list holds at most 200).
MAX_BULK = 200
#: The longest note (as the action API takes).
MAX_NOTE = 2000


@dataclass(frozen=True)
class UrgeItem:
    """A case to urge, with the version the supervisor saw (None: whatever it is now)."""

    number: str
    version: int | None = None


@dataclass
class UrgeResult:
    """What happened to one case of a (bulk) urge."""

    number: str
    ok: bool
    status: int  #: the HTTP status the single action would have had
    code: str = "ok"
    message: str = ""
    urge_count: int | None = None
    version: int | None = None
    #: For a conflict: the state the case is in now (so the page can say where it went).
    current_state: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_items(raw: Any) -> list[UrgeItem]:
    """``[{"number": …, "version": …}, …]`` (or plain numbers) → UrgeItems, each once."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("cases must be a non-empty list", {"cases": "required"})
    if len(raw) > MAX_BULK:
        raise InvalidInput(f"at most {MAX_BULK} cases at once", {"cases": "too many"})
    items: dict[str, UrgeItem] = {}
    for entry in raw:
        if isinstance(entry, str):
            entry = {"number": entry}
        if not isinstance(entry, dict):
            raise InvalidInput("each case is {number, version}", {"cases": "not an object"})
        number = entry.get("number")
        version = entry.get("version")
        if not isinstance(number, str) or not 1 <= len(number) <= 16:
            raise InvalidInput("each case needs its number", {"cases": "number"})
        if version is not None and (
            isinstance(version, bool) or not isinstance(version, int) or not 0 < version < 2**31
        ):
            raise InvalidInput("version must be a positive integer", {"cases": "version"})
        items.setdefault(number, UrgeItem(number, version))
    return list(items.values())


def urge_cases(
    session: Session,
    user: User,
    items: list[UrgeItem],
    note: str,
    *,
    now: datetime | None = None,
) -> list[UrgeResult]:
    """Urge each case as ``user`` with one ``note``; one result per case, in order. Flushes
    (the caller commits): successful urges stand even when others fail."""
    if not note.strip():
        raise InvalidInput("urging needs a note saying why", {"note": "required"})
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"the note is too long ({MAX_NOTE} at most)", {"note": "too long"})
    now = now or utcnow()
    roles = TRANSITIONS[Action.URGE].roles
    results = []
    for item in items:
        case = session.scalar(select(Case).where(Case.number == item.number))
        if case is None or not can_view(session, user, case):
            results.append(UrgeResult(item.number, False, 404, "not_found", "no such case"))
            continue
        role = choose_role(session, user, roles, case)
        if role is None:
            results.append(
                UrgeResult(item.number, False, 403, "forbidden", "none of your roles may urge it")
            )
            continue
        try:
            with session.begin_nested():
                outcome = perform(
                    session,
                    case.id,
                    Action.URGE,
                    Actor(user, role),
                    note=note,
                    expected_version=item.version,
                    now=now,
                )
        except WorkflowError as exc:
            session.expire(case)
            results.append(
                UrgeResult(
                    item.number,
                    False,
                    exc.status,
                    exc.code,
                    exc.message,
                    urge_count=case.urge_count,
                    version=case.version,
                    current_state=case.state,
                )
            )
            continue
        results.append(
            UrgeResult(
                item.number,
                True,
                200,
                urge_count=outcome.case.urge_count,
                version=outcome.case.version,
                current_state=outcome.case.state,
            )
        )
    return results
