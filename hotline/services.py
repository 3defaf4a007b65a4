"""Taking a call: caller history, category suggestions, duplicates nearby, and the one
function that records a call (a new case, a duplicate merged into an open case, or a
consultation answered and closed at intake).

Cases are created by ``dispatch.intake.create_case`` and merged by ``dispatch.workflow.perform``
(action ``merge``): the hotline never changes a case by itself. Services flush, never commit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from sqlalchemy import LargeBinary, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from core.types import utcnow
from dispatch.access import Actor, scope_clause
from dispatch.case_numbers import bump_day_counter, day_of
from dispatch.errors import InvalidInput, NotFound
from dispatch.intake import Report, create_case
from dispatch.models import Case, CaseCaller, Category, FilingCondition, User
from dispatch.models.cases import FINAL_STATES, Source
from dispatch.workflow import Action, perform
from grids import services as grid_services
from grids.crs import CRS, distance_m, to_wgs84
from hotline.models import (
    CallOutcome,
    Channel,
    HotlineCall,
    HotlineCounter,
    KnowledgeEntry,
    RequestType,
)

#: Digits, with an optional leading + (extensions and separators are stripped).
_PHONE = re.compile(r"^\+?\d{3,20}$")


def normalise_phone(raw: str) -> str:
    """A caller number as stored: digits only (a leading + kept); spaces and dashes dropped."""
    phone = re.sub(r"[\s\-()]", "", raw or "")
    if phone and not _PHONE.match(phone):
        raise InvalidInput("a phone number has 3-20 digits", {"caller_phone": "not a number"})
    return phone


# ---------------------------------------------------------------------------- caller history
def caller_history(session: Session, user: User, phone: str, limit: int = 20) -> dict[str, Any]:
    """Earlier calls from ``phone`` and the cases they (or this number as a caller) are on,
    newest first: a repeat caller is recognised while the number is typed."""
    phone = normalise_phone(phone)
    if len(phone) < 5:
        return {"phone": phone, "calls": [], "cases": []}
    calls = session.scalars(
        select(HotlineCall)
        .where(HotlineCall.caller_phone == phone)
        .order_by(HotlineCall.created_at.desc(), HotlineCall.id.desc())
        .limit(limit)
    ).all()
    case_ids = {c.attached_to_case_id or c.case_id for c in calls if c.case_id}
    case_ids.update(
        session.scalars(
            select(CaseCaller.case_id).where(CaseCaller.phone == phone).limit(limit)
        ).all()
    )
    cases = []
    if case_ids:
        cases = session.scalars(
            select(Case)
            .where(Case.id.in_(case_ids), scope_clause(session, user))
            .order_by(Case.created_at.desc())
        ).all()
    visible = {c.id: c for c in cases}
    return {
        "phone": phone,
        "calls": [
            {
                "id": c.id,
                "number": c.number,
                "at": c.created_at.isoformat(),
                "request_type": c.request_type,
                "channel": c.channel,
                "outcome": c.outcome,
                "description": c.description[:200],
                "case_number": _told_number(c, visible),
                "answer": c.answer[:200],
            }
            for c in calls
        ],
        "cases": [
            {
                "number": c.number,
                "state": c.state,
                "created_at": c.created_at.isoformat(),
                "description": c.description[:200],
                "address": c.address,
            }
            for c in cases
        ],
    }


def _told_number(call: HotlineCall, visible: dict[int, Case]) -> str | None:
    case = visible.get(call.attached_to_case_id or call.case_id or -1)
    return case.number if case else None


# ---------------------------------------------------------------------------- suggestions
def suggest_categories(session: Session, text: str, limit: int = 5) -> list[dict[str, Any]]:
    """Minor classes whose name or keywords/synonyms occur in ``text``, best first, each with
    its active filing conditions and their time limits."""
    text = (text or "").strip()
    if len(text) < 2:
        return []
    rows = session.execute(
        select(Category.id, Category.name, Category.keywords).where(Category.is_active.is_(True))
    ).all()
    scored = []
    for cid, name, keywords in rows:
        score = 3 * len(name) if name and name in text else 0
        for word in set((keywords or "").split()):
            if len(word) >= 2 and word in text:
                score += len(word)
        if score:
            scored.append((score, cid))
    scored.sort(key=lambda s: (-s[0], s[1]))
    ids = [cid for _score, cid in scored[:limit]]
    if not ids:
        return []
    # Plain rows, not ORM objects: this answers while the operator types.
    cat = Category.__table__.c
    cats = {
        r.id: r
        for r in session.execute(
            select(cat.id, cat.kind, cat.code, cat.name, cat.major_name).where(cat.id.in_(ids))
        )
    }
    fc = FilingCondition.__table__.c
    conds: dict[int, list[dict[str, Any]]] = {}
    for r in session.execute(
        select(fc.id, fc.category_id, fc.text, fc.limit_value, fc.clock_type, fc.urgency)
        .where(fc.category_id.in_(ids), fc.is_active.is_(True))
        .order_by(fc.id)
    ):
        conds.setdefault(r.category_id, []).append(
            {
                "id": r.id,
                "text": r.text,
                "limit_value": r.limit_value,
                "clock_type": r.clock_type,
                "urgency": r.urgency,
            }
        )
    score_of = {cid: s for s, cid in scored}
    return [
        {
            "id": cid,
            "code": ("C" if cats[cid].kind == "component" else "M") + cats[cid].code,
            "name": cats[cid].name,
            "major_name": cats[cid].major_name,
            "score": score_of[cid],
            "conditions": conds.get(cid, []),
        }
        for cid in ids
    ]


def set_category_keywords(session: Session, category_id: int, keywords: str) -> Category:
    """Replace a minor class's keywords and synonyms (administrators edit them)."""
    category = session.get(Category, category_id)
    if category is None:
        raise NotFound(f"no category {category_id}")
    words = " ".join(dict.fromkeys(keywords.split()))
    if len(words) > 4000:
        raise InvalidInput("at most 4000 characters of keywords", {"keywords": "too long"})
    category.keywords = words
    session.flush()
    return category


# ---------------------------------------------------------------------------- duplicates
@dataclass(frozen=True)
class DuplicateQuery:
    """Where and what a new call is about, and how far to look for the same problem."""

    lng: float
    lat: float
    crs: str = "wgs84"
    category_id: int | None = None
    radius_m: float = 250.0
    days: int = 30


def find_duplicates(
    session: Session, user: User, q: DuplicateQuery, now: datetime | None = None, limit: int = 10
) -> list[dict[str, Any]]:
    """Open cases within ``radius_m`` of the point, reported in the last ``days``, of the same
    category or another of its major class (any category when the call has none yet), in the
    viewer's scope: nearest first."""
    if not (math.isfinite(q.lng) and math.isfinite(q.lat)):
        raise InvalidInput("coordinates must be finite", {"lng": "finite"})
    if not (-180 <= q.lng <= 180 and -90 <= q.lat <= 90):
        raise InvalidInput("coordinates out of range", {"lng": "range", "lat": "range"})
    try:
        crs = CRS.parse(q.crs or "wgs84")
    except ValueError as exc:
        raise InvalidInput(str(exc), {"crs": "unknown coordinate system"}) from None
    lng, lat = to_wgs84(q.lng, q.lat, crs)
    now = now or utcnow()
    c = Case.__table__
    where = [
        c.c.state.not_in([str(s) for s in FINAL_STATES]),
        c.c.location.is_not(None),
        c.c.created_at >= now - timedelta(days=max(q.days, 0)),
        scope_clause(session, user),
    ]
    category = session.get(Category, q.category_id) if q.category_id is not None else None
    if category is not None:
        related = select(Category.id).where(
            Category.kind == category.kind, Category.major_code == category.major_code
        )
        where.append(or_(c.c.category_id.in_(related), c.c.category_id.is_(None)))
    # A degree of latitude is ~111 km; a box a little larger than the circle pre-filters.
    dlat = q.radius_m / 111_000 * 1.2
    dlng = dlat / max(math.cos(math.radians(lat)), 0.01)
    if session.get_bind().dialect.name == "postgresql":
        envelope = func.ST_MakeEnvelope(lng - dlng, lat - dlat, lng + dlng, lat + dlat, 4326)
        rows = session.execute(
            select(c.c.id, func.ST_X(c.c.location), func.ST_Y(c.c.location))
            .where(*where, c.c.location.op("&&")(envelope))
            .limit(5000)
        ).all()
        points = [(r[0], r[1], r[2]) for r in rows]
    else:
        # SQLite keeps points as WKB: narrow to the grids near the point (indexed) first, and
        # the located cases outside every grid, then measure in Python.
        index = grid_services.locator().index(session)
        if index is not None:
            codes = index.codes_near(lng, lat, q.radius_m * 1.2)
            where.append(or_(c.c.grid_code.in_(codes), c.c.grid_code.is_(None)))
        rows = session.execute(
            select(c.c.id, type_coerce(c.c.location, LargeBinary)).where(*where).limit(50_000)
        ).all()
        if not rows:
            return []
        geoms = shapely.from_wkb(np.array([bytes(r[1]) for r in rows], dtype=object))
        xs, ys = shapely.get_x(geoms).tolist(), shapely.get_y(geoms).tolist()
        points = [(r[0], x, y) for r, x, y in zip(rows, xs, ys, strict=True)]
    near = []
    for case_id, x, y in points:
        if abs(x - lng) > dlng or abs(y - lat) > dlat:
            continue
        d = distance_m(lng, lat, x, y)
        if d <= q.radius_m:
            near.append((d, case_id))
    near.sort()
    near = near[:limit]
    if not near:
        return []
    cases = {
        k.id: k for k in session.scalars(select(Case).where(Case.id.in_([i for _, i in near])))
    }
    names = dict(
        session.execute(
            select(Category.id, Category.name).where(
                Category.id.in_([k.category_id for k in cases.values() if k.category_id])
            )
        ).all()
    )
    return [
        {
            "number": cases[i].number,
            "state": cases[i].state,
            "distance_m": round(d, 1),
            "description": cases[i].description[:200],
            "address": cases[i].address,
            "category_id": cases[i].category_id,
            "category": names.get(cases[i].category_id, ""),
            "same_category": category is not None and cases[i].category_id == category.id,
            "created_at": cases[i].created_at.isoformat(),
            "callers": len(cases[i].callers),
        }
        for d, i in near
    ]


# ---------------------------------------------------------------------------- taking a call
@dataclass
class CallInput:
    """What the operator typed."""

    request_type: str
    description: str
    channel: str = Channel.L12345
    caller_phone: str = ""
    caller_name: str = ""
    is_anonymous: bool = False
    address: str = ""
    lng: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    category_id: int | None = None
    filing_condition_id: int | None = None
    #: A duplicate: the number of the open case this call is about.
    attach_to: str | None = None
    #: A consultation answered on the call: the knowledge entry read (optional) and the answer.
    knowledge_entry_id: int | None = None
    answer: str = ""
    seat: str = ""
    idempotency_key: str | None = None


@dataclass
class CallResult:
    """What the operator reads to the caller."""

    call: HotlineCall
    #: The number the caller is told: the case's (new or attached to), or the call's.
    told_number: str
    case: Case | None
    created: bool


def next_call_number(session: Session, now: datetime) -> str:
    """H + date (Asia/Shanghai) + 5-digit daily sequence; atomic under concurrent calls."""
    day = day_of(now)
    return f"H{day}{bump_day_counter(session, HotlineCounter.__table__, day):05d}"


def _validate_call(session: Session, data: CallInput) -> None:
    if data.request_type not in {str(t) for t in RequestType}:
        raise InvalidInput("unknown request type", {"request_type": "unknown"})
    if data.channel not in {str(c) for c in Channel}:
        raise InvalidInput("unknown channel", {"channel": "unknown"})
    if not data.description.strip():
        raise InvalidInput("say what the caller asks or reports", {"description": "required"})
    if len(data.description) > 5000:
        raise InvalidInput("at most 5000 characters", {"description": "too long"})
    if len(data.caller_name) > 100 or len(data.address) > 500 or len(data.seat) > 32:
        raise InvalidInput("a field is too long", {"caller_name": "too long"})
    answering = bool(data.answer.strip() or data.knowledge_entry_id is not None)
    if answering and data.request_type != RequestType.CONSULTATION:
        raise InvalidInput(
            "only consultations are answered and closed at intake", {"answer": "not a consultation"}
        )
    if answering and data.attach_to:
        raise InvalidInput("answer the call or attach it, not both", {"attach_to": "ambiguous"})


def take_call(
    session: Session, actor: Actor, data: CallInput, *, now: datetime | None = None
) -> CallResult:
    """Record a call: a consultation answered from the knowledge base is closed at intake; a
    duplicate becomes a case merged at once into the open case it is about (the caller is kept
    there and told its number); anything else opens a new case (placed on the map when the
    point is usable, else waiting for placement). A retried submission (same idempotency
    key) returns what the first one recorded. Flushes; the caller commits."""
    if data.idempotency_key:
        found = session.scalar(
            select(HotlineCall).where(HotlineCall.idempotency_key == data.idempotency_key)
        )
        if found is not None:
            return _result_of(session, found, created=False)
    _validate_call(session, data)
    phone = normalise_phone(data.caller_phone)
    now = now or utcnow()
    call = HotlineCall(
        idempotency_key=data.idempotency_key,
        caller_phone=phone,
        caller_name="" if data.is_anonymous else data.caller_name.strip(),
        is_anonymous=data.is_anonymous,
        request_type=data.request_type,
        channel=data.channel,
        description=data.description.strip(),
        address=data.address.strip(),
        operator_user_id=actor.user.id if actor.user else None,
        seat=data.seat.strip(),
        created_at=now,
        answer="",
    )
    if data.answer.strip() or data.knowledge_entry_id is not None:
        entry = None
        if data.knowledge_entry_id is not None:
            entry = session.get(KnowledgeEntry, data.knowledge_entry_id)
            if entry is None or not entry.is_active:
                raise InvalidInput("no such answer", {"knowledge_entry_id": "not found"})
        call.knowledge_entry_id = entry.id if entry else None
        call.answer = data.answer.strip() or (entry.answer if entry else "")
        call.outcome = CallOutcome.ANSWERED
        call.number = next_call_number(session, now)
        session.add(call)
        session.flush()
        return CallResult(call, call.number, None, True)

    target = None
    if data.attach_to:
        target = session.scalar(select(Case).where(Case.number == data.attach_to.strip()))
        if target is None:
            raise InvalidInput(f"no case {data.attach_to}", {"attach_to": "not found"})
    # Anonymous callers are not put on the case: nobody passes their number on or calls back.
    report = Report(
        source=Source.HOTLINE,
        description=call.description,
        address=call.address,
        lng=data.lng,
        lat=data.lat,
        crs=data.crs or "wgs84",
        reporter_name=call.caller_name,
        reporter_phone="" if data.is_anonymous else phone,
        category_id=data.category_id,
        filing_condition_id=data.filing_condition_id,
    )
    case, _created = create_case(session, report, actor, now=now)
    call.case_id = case.id
    call.number = next_call_number(session, now)
    if target is not None:
        # 重复诉求并单: the call's case is merged into the open one; the workflow moves its
        # caller there (to be called back with everyone else) and checks scope and state.
        perform(
            session,
            case.id,
            Action.MERGE,
            actor,
            note=f"12345 repeat call {call.number}",
            data={"duplicate_of": target.number},
            now=now,
        )
        call.outcome = CallOutcome.ATTACHED
        call.attached_to_case_id = target.id
    else:
        call.outcome = CallOutcome.NEW_CASE
    session.add(call)
    session.flush()
    return CallResult(call, target.number if target else case.number, target or case, True)


def _result_of(session: Session, call: HotlineCall, *, created: bool) -> CallResult:
    case_id = call.attached_to_case_id or call.case_id
    case = session.get(Case, case_id) if case_id else None
    return CallResult(call, case.number if case else call.number, case, created)


def call_json(result: CallResult) -> dict[str, Any]:
    """The answer to a recorded call: what to read to the caller."""
    call = result.call
    return {
        "call_number": call.number,
        "outcome": call.outcome,
        "told_number": result.told_number,
        "case": (
            {
                "number": result.case.number,
                "state": result.case.state,
                "placement": result.case.placement,
                "grid_code": result.case.grid_code,
                "check_code": result.case.check_code,
            }
            if result.case is not None
            else None
        ),
        "answer": call.answer,
        "created": result.created,
    }


__all__ = [
    "CallInput",
    "CallResult",
    "DuplicateQuery",
    "caller_history",
    "find_duplicates",
    "suggest_categories",
    "take_call",
]
