"""Open311 GeoReport v2 on top of the case workflow: services, requests and their public view.

Services are the active categories of the catalogue (``service_code`` = the kind-qualified code,
e.g. ``M06001``); a service's filing conditions are its one attribute. A POSTed request becomes
a case through ``dispatch.intake.create_case`` like any other report (source ``api``: same
placement, numbering and idempotency rules; an address-only request waits for placement), filed
by the system on behalf of the client. The public view of a case never carries personal data:
no names, phones or e-mail, no notes, no officer's name; the description is published only for
requests filed through Open311 (whose reporters wrote it for a public API).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from core.types import utcnow
from dispatch.access import SYSTEM, Actor
from dispatch.intake import Report, create_case
from dispatch.models import Case, Category, FilingCondition, Open311Client, Open311Request
from dispatch.models.cases import FINAL_STATES, CaseState, Source
from dispatch.tracking.progress import (
    category_names,
    expected_due,
    local_iso,
    office_names,
    phase_label,
    phase_of,
)

#: Cases filed through Open311 are created by the system on behalf of the client (the client
#: is recorded on the request row and on the case's first event), never as a staff member.
SERVICE_ACTOR: Actor = SYSTEM
#: The attribute every service with filing conditions has (a singlevaluelist of them).
CONDITION_ATTRIBUTE = "filing_condition"
#: GET requests: the default and longest window, and the most rows per page (the spec's).
DEFAULT_SPAN = timedelta(days=90)
MAX_PAGE_SIZE = 1000
#: Field limits (the spec's 4,000 characters for descriptions; the case table's for the rest).
LIMITS = {
    "description": 4000,
    "address_string": 500,
    "address_id": 100,
    "first_name": 50,
    "last_name": 50,
    "phone": 32,
    "email": 254,
    "media_url": 1000,
    "device_id": 200,
    "account_id": 200,
}
MAX_IDS = 1000
MAX_ATTRIBUTE_VALUES = 20


class Open311Error(Exception):
    """An error the client sees as GeoReport errors (HTTP 400, 403 or 404)."""

    def __init__(self, status: int, *descriptions: str) -> None:
        super().__init__(descriptions[0] if descriptions else str(status))
        self.status = status
        self.descriptions = descriptions or (str(status),)


# ---------------------------------------------------------------------------- services
def parse_service_code(code: str) -> tuple[str, str] | None:
    """(kind, code) of a service code such as ``M06001`` (None when it cannot be one)."""
    if len(code) < 2 or len(code) > 9 or not code[1:].isascii() or not code[1:].isdigit():
        return None
    kind = {"C": "component", "M": "matter"}.get(code[0])
    return (kind, code[1:]) if kind else None


def find_service(session: Session, code: str) -> Category | None:
    """The active category behind a service code."""
    parsed = parse_service_code(code)
    if parsed is None:
        return None
    kind, number = parsed
    return session.scalar(
        select(Category).where(
            Category.kind == kind, Category.code == number, Category.is_active.is_(True)
        )
    )


def _conditions(session: Session, category_ids: Sequence[int]) -> dict[int, list[FilingCondition]]:
    found: dict[int, list[FilingCondition]] = {}
    if not category_ids:
        return found
    rows = session.scalars(
        select(FilingCondition)
        .where(FilingCondition.category_id.in_(category_ids), FilingCondition.is_active.is_(True))
        .order_by(FilingCondition.id)
    )
    for cond in rows:
        found.setdefault(cond.category_id, []).append(cond)
    return found


def _service(category: Category, conditions: list[FilingCondition]) -> dict[str, Any]:
    return {
        "service_code": category.full_code,
        "service_name": category.name,
        "description": "；".join(c.text for c in conditions) or None,
        "metadata": bool(conditions),
        "type": "realtime",
        "keywords": ", ".join(category.keywords.split()) or None,
        "group": category.major_name,
    }


def list_services(session: Session) -> list[dict[str, Any]]:
    """GET services: every active category, components then matters, by code."""
    categories = session.scalars(
        select(Category).where(Category.is_active.is_(True)).order_by(Category.kind, Category.code)
    ).all()
    conditions = _conditions(session, [c.id for c in categories])
    return [_service(c, conditions.get(c.id, [])) for c in categories]


def service_definition(session: Session, category: Category) -> dict[str, Any]:
    """GET services/{code}: the service's attributes (its filing conditions, to choose one)."""
    conditions = _conditions(session, [category.id]).get(category.id, [])
    attributes = []
    if conditions:
        attributes.append(
            {
                "variable": True,
                "code": CONDITION_ATTRIBUTE,
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": _("Choose the description that fits best."),
                "order": 1,
                "description": _(
                    "Which of these describes the problem? It sets the time allowed to fix it; "
                    "the centre chooses when you do not."
                ),
                "values": [{"key": str(c.id), "name": c.text} for c in conditions],
            }
        )
    return {"service_code": category.full_code, "attributes": attributes}


# ---------------------------------------------------------------------------- POST requests
@dataclass
class NewRequest:
    """A POSTed service request, parsed (strings trimmed, numbers converted)."""

    service_code: str
    lat: float | None = None
    long: float | None = None
    address_string: str = ""
    address_id: str = ""
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    description: str = ""
    media_url: str = ""
    #: ``attribute[code]=v`` → {code: [v]}; ``attribute[code][]=v1&…`` → {code: [v1, …]}.
    attributes: dict[str, list[str]] = field(default_factory=dict)
    idempotency_key: str | None = None


def check_media_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL, else an Open311Error (400)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Open311Error(400, "media_url must be an http or https URL")
    return url


def check_location(new: NewRequest) -> None:
    """The spec's location rule: lat and long together, or an address (string or id)."""
    if (new.lat is None) != (new.long is None):
        raise Open311Error(400, "lat and long must be sent together")
    if new.lat is None and not new.address_string and not new.address_id:
        raise Open311Error(
            400, "a location is required: lat and long, address_string or address_id"
        )
    if new.lat is not None and new.long is not None:
        if not (math.isfinite(new.lat) and math.isfinite(new.long)):
            raise Open311Error(400, "lat and long must be numbers")
        if not (-90 <= new.lat <= 90 and -180 <= new.long <= 180):
            raise Open311Error(400, "lat and long are out of range (WGS-84 degrees)")


def _condition_id(new: NewRequest, conditions: list[FilingCondition]) -> int | None:
    unknown = sorted(set(new.attributes) - {CONDITION_ATTRIBUTE})
    if unknown:
        raise Open311Error(400, f"unknown attribute {unknown[0]!r} for this service_code")
    values = new.attributes.get(CONDITION_ATTRIBUTE, [])
    if not values:
        return None
    if len(values) > 1:
        raise Open311Error(400, f"attribute {CONDITION_ATTRIBUTE!r} takes one value")
    by_key = {str(c.id): c.id for c in conditions}
    if values[0] not in by_key:
        raise Open311Error(400, f"attribute {CONDITION_ATTRIBUTE!r} has no value {values[0]!r}")
    return by_key[values[0]]


def submit_request(
    session: Session, client: Open311Client, new: NewRequest, *, now: datetime | None = None
) -> tuple[Case, Open311Request, bool]:
    """File ``new`` as a case for ``client``; returns (case, request row, created).

    A retry with the same ``Idempotency-Key`` (per client) returns the first request. Flushes;
    the caller commits.
    """
    now = now or utcnow()
    category = find_service(session, new.service_code)
    if category is None:
        raise Open311Error(404, f"service_code {new.service_code!r} was not found")
    check_location(new)
    conditions = _conditions(session, [category.id]).get(category.id, [])
    condition_id = _condition_id(new, conditions)
    address = new.address_string or (f"address_id {new.address_id}" if new.address_id else "")
    report = Report(
        source=Source.API,
        description=new.description or category.name,
        address=address,
        lng=new.long,
        lat=new.lat,
        crs="wgs84",
        reporter_name=" ".join(p for p in (new.first_name, new.last_name) if p),
        reporter_phone=new.phone,
        category_id=category.id,
        filing_condition_id=condition_id,
        attachments=(
            [{"kind": "media_url", "url": new.media_url, "name": "Open311 media_url"}]
            if new.media_url
            else []
        ),
        idempotency_key=(
            f"o311:{client.id}:{new.idempotency_key}" if new.idempotency_key else None
        ),
    )
    case, created = create_case(session, report, SERVICE_ACTOR, now=now)
    row = session.scalar(select(Open311Request).where(Open311Request.case_id == case.id))
    if row is None:
        row = Open311Request(
            case_id=case.id,
            client_id=client.id,
            token=secrets.token_urlsafe(18),
            service_code=category.full_code,
            attributes={code: values for code, values in new.attributes.items()},
            media_url=new.media_url,
            address_id=new.address_id,
            email=new.email,
            created_at=now,
        )
        session.add(row)
        if created and case.events:
            # Who filed it, on the case's own first event (written in this same transaction).
            first = case.events[0]
            first.data = {
                **first.data,
                "open311_client_id": client.id,
                "open311_client": client.name,
            }
    client.last_used_at = now
    session.flush()
    return case, row, created


def post_response(case: Case, row: Open311Request, track_url: str) -> list[dict[str, Any]]:
    """What POST requests answers: the request id (realtime), its token and a notice telling the
    reporter the check code that opens the public progress page."""
    return [
        {
            "service_request_id": case.number,
            "token": row.token,
            "service_notice": _(
                "Case %(number)s, check code %(code)s: follow its progress at %(url)s",
                number=case.number,
                code=case.check_code,
                url=track_url,
            ),
            "account_id": None,
        }
    ]


def token_response(session: Session, token: str) -> list[dict[str, Any]] | None:
    """GET tokens/{token}: the request id behind a token (None when unknown)."""
    if not token or len(token) > 40:
        return None
    row = session.scalar(select(Open311Request).where(Open311Request.token == token))
    if row is None:
        return None
    number = session.scalar(select(Case.number).where(Case.id == row.case_id))
    return [{"service_request_id": number, "token": row.token}]


# ---------------------------------------------------------------------------- GET requests
@dataclass
class RequestQuery:
    """The filters of GET requests, parsed."""

    ids: list[str] = field(default_factory=list)
    service_codes: list[str] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    statuses: set[str] = field(default_factory=set)
    page: int = 1
    page_size: int = MAX_PAGE_SIZE


def window(query: RequestQuery, now: datetime) -> tuple[datetime, datetime]:
    """The requested_datetime window: the last 90 days by default; never longer than 90 days."""
    start, end = query.start, query.end
    try:
        if start is None and end is None:
            end = now
            start = now - DEFAULT_SPAN
        elif start is None:
            assert end is not None
            start = end - DEFAULT_SPAN
        elif end is None:
            end = start + DEFAULT_SPAN
    except OverflowError:
        raise Open311Error(400, "start_date or end_date is out of range") from None
    assert start is not None and end is not None
    if start > end:
        raise Open311Error(400, "start_date is after end_date")
    if end - start > DEFAULT_SPAN:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    return start, end


def _status_clause(statuses: set[str]) -> ColumnElement[bool] | None:
    final = [str(s) for s in FINAL_STATES]
    if statuses == {"open"}:
        return Case.state.not_in(final)
    if statuses == {"closed"}:
        return Case.state.in_(final)
    return None


def find_requests(
    session: Session, query: RequestQuery, *, now: datetime | None = None
) -> tuple[list[Case], int]:
    """The cases GET requests lists (newest first) and how many match in all.

    Only classified cases are service requests (a hotline report gets its category when
    filed). ``service_request_id`` overrides every other filter, as the spec says.
    """
    stmt = select(Case).where(Case.category_id.is_not(None))
    if query.ids:
        stmt = stmt.where(Case.number.in_(query.ids))
    else:
        start, end = window(query, now or utcnow())
        stmt = stmt.where(Case.created_at >= start, Case.created_at <= end)
        if query.service_codes:
            # (kind, code) pairs: a component and a matter may share a numeric code.
            wanted = {p for p in map(parse_service_code, query.service_codes) if p}
            pairs = [and_(Category.kind == k, Category.code == c) for k, c in sorted(wanted)]
            ids = session.scalars(select(Category.id).where(or_(*pairs))).all() if pairs else []
            stmt = stmt.where(Case.category_id.in_(ids))
        clause = _status_clause(query.statuses)
        if clause is not None:
            stmt = stmt.where(clause)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.options(selectinload(Case.timers))
        .order_by(Case.created_at.desc(), Case.id.desc())
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    ).all()
    return list(rows), total


def find_request(session: Session, number: str) -> Case | None:
    """The service request (a classified case) with this id."""
    if not number or len(number) > 16:
        return None
    return session.scalar(
        select(Case)
        .where(Case.number == number, Case.category_id.is_not(None))
        .options(selectinload(Case.timers))
    )


def _updated_at(case: Case) -> datetime:
    if case.state == CaseState.CLOSED and case.closed_at is not None:
        return case.closed_at
    if case.state == CaseState.VOID and case.voided_at is not None:
        return case.voided_at
    return case.updated_at


def request_views(session: Session, cases: Sequence[Case]) -> list[dict[str, Any]]:
    """The public GeoReport view of each case (ids as strings, times in +08:00, WGS-84)."""
    if not cases:
        return []
    categories = category_names(session, [c.category_id for c in cases])
    offices = office_names(session, cases)
    rows = {
        r.case_id: r
        for r in session.scalars(
            select(Open311Request).where(Open311Request.case_id.in_([c.id for c in cases]))
        )
    }
    kept_ids = {c.duplicate_of_id for c in cases if c.duplicate_of_id}
    kept: dict[int, str] = {}
    if kept_ids:
        query = select(Case.id, Case.number).where(Case.id.in_(kept_ids))
        kept = {row.id: row.number for row in session.execute(query)}
    views = []
    for case in cases:
        category = categories.get(case.category_id or 0)
        row = rows.get(case.id)
        if case.state == CaseState.MERGED and case.duplicate_of_id in kept:
            notes = _(
                "Duplicate: handled together with request %(id)s", id=kept[case.duplicate_of_id]
            )
        else:
            notes = phase_label(phase_of(case))
        location = case.location
        views.append(
            {
                "service_request_id": case.number,
                "status": "open" if case.is_open else "closed",
                "status_notes": notes,
                "service_name": category.name if category else None,
                "service_code": category.full_code if category else "",
                "description": case.description if row is not None else None,
                "agency_responsible": offices.get(case.id),
                "service_notice": None,
                "requested_datetime": local_iso(case.created_at),
                "updated_datetime": local_iso(_updated_at(case)),
                "expected_datetime": local_iso(expected_due(case)) if case.is_open else None,
                "address": case.address or None,
                "address_id": (row.address_id or None) if row is not None else None,
                "zipcode": None,
                "lat": round(location.y, 7) if location is not None else None,
                "long": round(location.x, 7) if location is not None else None,
                "media_url": (row.media_url or None) if row is not None else None,
            }
        )
    return views
