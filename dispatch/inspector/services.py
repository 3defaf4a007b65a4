"""The inspector's work: report from the street (through intake, with photos and position
evidence), the verification and check tasks of their area, completing them (through the
workflow), their own reports and figures, and the flags a shift supervisor reviews.

Services take the session and the acting user, flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import Session, selectinload

from core.types import utcnow
from dispatch.access import Actor, in_scope
from dispatch.errors import Forbidden, InvalidInput, NotFound
from dispatch.inspector.photos import ProcessedPhoto
from dispatch.intake import Report, create_case
from dispatch.models import Case, CaseEvent, Category, User
from dispatch.models.cases import CaseState, Source
from dispatch.models.inspector import CasePhoto, PhotoPurpose, ReportEvidence, ReportFlag
from dispatch.models.people import Role, ScopeKind
from dispatch.models.sla import CaseTimer, Stage, TimerState
from dispatch.workflow import Action, Outcome, perform
from grids.crs import distance_m

#: Task states and the stage clock each runs.
TASK_STAGES = {CaseState.TO_VERIFY: Stage.VERIFY, CaseState.TO_CHECK: Stage.CHECK}
#: The verdicts of a task, per state: verdict -> workflow action.
VERDICTS = {
    CaseState.TO_VERIFY: {"true": Action.VERIFY_TRUE, "false": Action.VERIFY_FALSE},
    CaseState.TO_CHECK: {"pass": Action.CHECK_PASS, "fail": Action.CHECK_FAIL},
}
PURPOSE_OF = {CaseState.TO_VERIFY: PhotoPurpose.VERIFY, CaseState.TO_CHECK: PhotoPurpose.CHECK}
TASK_LIMIT = 200


def inspector(user: User) -> Actor:
    """The user acting as an inspector (403 when they are not one)."""
    if not user.is_active or not user.has_role(Role.INSPECTOR):
        raise Forbidden("only inspectors use the inspector's pages")
    return Actor(user, Role.INSPECTOR)


def area_clause(user: User) -> ColumnElement[bool]:
    """Cases in the area of the user's inspector grants (city, districts, grids)."""
    conds: list[ColumnElement[bool]] = []
    for grant in user.grants:
        if grant.role != Role.INSPECTOR:
            continue
        if grant.scope_kind == ScopeKind.CITY:
            return Case.id.isnot(None)
        if grant.scope_kind == ScopeKind.DISTRICT:
            conds.append(Case.district_code == grant.scope_code)
        elif grant.scope_kind == ScopeKind.GRIDS and grant.scope_code.split():
            conds.append(Case.grid_code.in_(grant.scope_code.split()))
    return or_(*conds) if conds else false()


def area_grid_filter(user: User) -> tuple[bool, list[str], list[str]]:
    """(whole city?, district codes, grid codes) of the user's inspector grants (for the map)."""
    districts: list[str] = []
    grids: list[str] = []
    for grant in user.grants:
        if grant.role != Role.INSPECTOR:
            continue
        if grant.scope_kind == ScopeKind.CITY:
            return True, [], []
        if grant.scope_kind == ScopeKind.DISTRICT:
            districts.append(grant.scope_code)
        elif grant.scope_kind == ScopeKind.GRIDS:
            grids.extend(grant.scope_code.split())
    return False, districts, grids


# ---------------------------------------------------------------------------- reporting
@dataclass
class ReportInput:
    """What the report form sends besides photos."""

    description: str
    lng: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    #: ``gps`` (where the phone stands) or ``pin`` (dragged); ``none`` without a position.
    position_source: str = "gps"
    accuracy_m: float | None = None
    device_lng: float | None = None
    device_lat: float | None = None
    address: str = ""
    category_id: int | None = None
    filing_condition_id: int | None = None
    idempotency_key: str | None = None
    reported_on_device_at: datetime | None = None


@dataclass
class Thresholds:
    """When a report is flagged for the shift supervisor."""

    photo_distance_m: float = 200.0
    poor_accuracy_m: float = 50.0


def case_for_key(session: Session, key: str | None) -> Case | None:
    """The case an idempotency key already created (retries are answered without new work)."""
    if not key:
        return None
    return session.scalar(select(Case).where(Case.idempotency_key == key))


def submit_report(
    session: Session,
    user: User,
    form: ReportInput,
    photos: list[tuple[ProcessedPhoto, dict[str, Any]]],
    thresholds: Thresholds,
    *,
    now: datetime | None = None,
) -> tuple[Case, bool]:
    """Create the case for an inspector's report through intake (one per idempotency key), with
    its photos and position evidence. Returns (case, created)."""
    actor = inspector(user)
    if form.position_source not in ("gps", "pin", "none"):
        raise InvalidInput("position_source is gps, pin or none", {"position_source": "unknown"})
    now = now or utcnow()
    report = Report(
        source=Source.INSPECTOR,
        description=form.description,
        address=form.address,
        lng=form.lng,
        lat=form.lat,
        crs=form.crs or "wgs84",
        category_id=form.category_id,
        filing_condition_id=form.filing_condition_id,
        attachments=[desc for _photo, desc in photos],
        idempotency_key=form.idempotency_key,
    )
    case, created = create_case(session, report, actor, now=now)
    if not created:
        return case, False
    flags, detail = [], {}
    distances = []
    for photo, _desc in photos:
        dist = _photo_distance(case, photo)
        distances.append(dist)
        session.add(_photo_row(case, 1, PhotoPurpose.REPORT, user, photo, dist, now))
    far = [d for d in distances if d is not None and d > thresholds.photo_distance_m]
    if far:
        flags.append(ReportFlag.PHOTO_FAR)
        detail["photo_distance_m"] = round(max(far), 1)
    if form.position_source == "none" or case.location is None:
        flags.append(ReportFlag.NO_POSITION)
    elif form.accuracy_m is not None and form.accuracy_m > thresholds.poor_accuracy_m:
        flags.append(ReportFlag.POOR_ACCURACY)
        detail["accuracy_m"] = round(form.accuracy_m, 1)
    session.add(
        ReportEvidence(
            case_id=case.id,
            reporter_user_id=user.id,
            position_source=form.position_source if case.location is not None else "none",
            device_lng=form.device_lng,
            device_lat=form.device_lat,
            accuracy_m=form.accuracy_m,
            reported_on_device_at=form.reported_on_device_at,
            flags=[str(f) for f in flags],
            flag_detail=detail,
            is_flagged=bool(flags),
        )
    )
    if flags:
        _notify_flagged(session, case, [str(f) for f in flags], detail, now)
    session.flush()
    return case, True


def _notify_flagged(
    session: Session, case: Case, flags: list[str], detail: dict[str, float], now: datetime
) -> None:
    """Tell the shift supervisors reaching the case (nearest scope first) that it is doubtful."""
    from dispatch.models.notifications import NotificationKind
    from dispatch.notifications import Recipients, notify
    from dispatch.notifications.events import case_ref
    from dispatch.sla.calendar_store import calendar

    supervisors = Recipients(session).in_scope(case_ref(case), (Role.SHIFT_SUPERVISOR,))
    if not supervisors:
        return
    notify(
        session,
        calendar(session),
        supervisors,
        case_id=case.id,
        kind=str(NotificationKind.REPORT_FLAGGED),
        params={"case_number": case.number, "flags": flags, **detail},
        urgent=False,
        cause=f"inspector:flagged:{case.id}",
        now=now,
    )


def _photo_distance(case: Case, photo: ProcessedPhoto) -> float | None:
    ev = photo.evidence
    if case.location is None or ev.gps_lng is None or ev.gps_lat is None:
        return None
    return round(distance_m(ev.gps_lng, ev.gps_lat, case.location.x, case.location.y), 1)


def _photo_row(
    case: Case,
    seq: int,
    purpose: PhotoPurpose,
    user: User,
    photo: ProcessedPhoto,
    dist: float | None,
    now: datetime,
) -> CasePhoto:
    return CasePhoto(
        uid=photo.uid,
        case_id=case.id,
        event_seq=seq,
        purpose=str(purpose),
        uploaded_by_id=user.id,
        original_format=photo.original_format,
        original_bytes=len(photo.original),
        sha256=photo.sha256,
        width=photo.width,
        height=photo.height,
        taken_at=photo.evidence.taken_at,
        gps_lng=photo.evidence.gps_lng,
        gps_lat=photo.evidence.gps_lat,
        distance_m=dist,
        created_at=now,
    )


# ---------------------------------------------------------------------------- categories
def category_choices(session: Session, user: User, *, now: datetime | None = None) -> dict:
    """Active minor classes (``conditions``: [id, index into ``condition_texts``]; ``major``:
    key into ``majors``), and the user's recent and frequent ones (from their own reports) to
    show first."""
    categories = session.scalars(
        select(Category)
        .where(Category.is_active.is_(True))
        .options(selectinload(Category.conditions))
        .order_by(Category.kind.desc(), Category.code)
    ).all()
    # Compact for a phone: major class names and condition texts (a few dozen distinct ones
    # over hundreds of classes) are sent once and referred to by key / index.
    items = []
    majors: dict[str, str] = {}
    texts: dict[str, int] = {}
    for c in categories:
        major = c.full_code[:3]
        majors[major] = c.major_name
        conditions = [
            [fc.id, texts.setdefault(fc.text, len(texts))] for fc in c.conditions if fc.is_active
        ]
        items.append(
            {
                "id": c.id,
                "code": c.full_code,
                "name": c.name,
                "major": major,
                "keywords": c.keywords,
                "conditions": conditions,
            }
        )
    mine = (
        select(Case.category_id, Case.created_at)
        .join(ReportEvidence, ReportEvidence.case_id == Case.id)
        .where(ReportEvidence.reporter_user_id == user.id, Case.category_id.isnot(None))
        .order_by(Case.created_at.desc())
        .limit(200)
    )
    rows = session.execute(mine).all()
    recent: list[int] = []
    counts: dict[int, int] = {}
    for category_id, _at in rows:
        if category_id not in recent and len(recent) < 5:
            recent.append(category_id)
        counts[category_id] = counts.get(category_id, 0) + 1
    frequent = [cid for cid, _n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:8]
    return {
        "categories": items,
        "majors": majors,
        "condition_texts": list(texts),
        "recent": recent,
        "frequent": frequent,
    }


# ---------------------------------------------------------------------------- tasks
@dataclass
class Task:
    """A verification or check waiting for the inspector, with its clock."""

    case: Case
    stage: str
    due_at: datetime | None
    level: str  #: ``red``, ``yellow`` or ``ok``
    distance_m: float | None
    photos: list[dict[str, Any]] = field(default_factory=list)


def timer_level(timer: CaseTimer | None, now: datetime) -> str:
    """``red`` past due, ``yellow`` past the warning point, else ``ok`` (live, not the sweep's)."""
    if timer is None:
        return "ok"
    if (timer.state == TimerState.RUNNING and now >= timer.due_at) or timer.level >= 2:
        return "red"
    if (timer.state == TimerState.RUNNING and now >= timer.warn_at) or timer.level >= 1:
        return "yellow"
    return "ok"


def open_timer(session: Session, case_id: int, stage: Stage) -> CaseTimer | None:
    """The running (or paused) clock of a case's stage, latest round first."""
    return session.scalar(
        select(CaseTimer)
        .where(
            CaseTimer.case_id == case_id,
            CaseTimer.stage == str(stage),
            CaseTimer.state.in_([TimerState.RUNNING, TimerState.PAUSED]),
        )
        .order_by(CaseTimer.round.desc())
        .limit(1)
    )


def tasks(
    session: Session,
    user: User,
    *,
    lng: float | None = None,
    lat: float | None = None,
    now: datetime | None = None,
) -> list[Task]:
    """My verifications and checks: nearest first when my position is known, else soonest due."""
    inspector(user)
    now = now or utcnow()
    timer = (
        select(CaseTimer)
        .where(
            CaseTimer.stage.in_([str(s) for s in TASK_STAGES.values()]),
            CaseTimer.state.in_([TimerState.RUNNING, TimerState.PAUSED]),
        )
        .subquery()
    )
    rows = session.execute(
        select(Case, CaseTimer)
        .outerjoin(timer, timer.c.case_id == Case.id)
        .outerjoin(CaseTimer, CaseTimer.id == timer.c.id)
        .where(Case.state.in_([str(s) for s in TASK_STAGES]), area_clause(user))
        .order_by(func.coalesce(timer.c.due_at, Case.created_at), Case.id)
        .limit(TASK_LIMIT)
    ).all()
    out: list[Task] = []
    seen: set[int] = set()
    for case, t in rows:
        if case.id in seen:
            continue
        seen.add(case.id)
        stage = TASK_STAGES[CaseState(case.state)]
        if t is not None and t.stage != stage:
            t = None
        dist = None
        if lng is not None and lat is not None and case.location is not None:
            dist = round(distance_m(lng, lat, case.location.x, case.location.y), 1)
        out.append(Task(case, str(stage), t.due_at if t else None, timer_level(t, now), dist))
    far = float("inf")
    out.sort(
        key=lambda task: (
            task.distance_m if task.distance_m is not None else far,
            task.due_at or task.case.created_at,
        )
    )
    return out


def task_case(session: Session, user: User, number: str) -> Case:
    """A verification or check task of mine (404 when not mine to do or not a task)."""
    actor = inspector(user)
    case = session.scalar(select(Case).where(Case.number == number))
    if case is None or not in_scope(session, actor, case):
        raise NotFound(f"no case {number}")
    return case


def complete_task(
    session: Session,
    user: User,
    number: str,
    verdict: str,
    note: str,
    photos: list[tuple[ProcessedPhoto, dict[str, Any]]],
    *,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Finish a verification (true / false) or a check (pass / fail) with photos, through the
    workflow; the photos are the event's attachments and kept as evidence."""
    actor = inspector(user)
    case = task_case(session, user, number)
    state = CaseState(case.state)
    actions = VERDICTS.get(state)
    if actions is None:
        raise InvalidInput(
            f"case {case.number} is not waiting for a verification or check",
            {"verdict": "no task"},
        )
    action = actions.get(verdict)
    if action is None:
        raise InvalidInput(
            f"the verdict is one of {', '.join(actions)}",
            {"verdict": "one of " + "/".join(actions)},
        )
    now = now or utcnow()
    outcome = perform(
        session,
        case.id,
        action,
        actor,
        note=note,
        attachments=[desc for _photo, desc in photos],
        expected_version=expected_version,
        now=now,
    )
    for photo, _desc in photos:
        session.add(
            _photo_row(
                outcome.case,
                outcome.event.seq,
                PURPOSE_OF[state],
                user,
                photo,
                _photo_distance(outcome.case, photo),
                now,
            )
        )
    session.flush()
    return outcome


def photos_of(session: Session, case: Case) -> dict[str, list[dict[str, Any]]]:
    """A case's photos for the before/after view: ``before`` (report and verification),
    ``after`` (checks, and what the owner attached when reporting the fix)."""
    before: list[dict[str, Any]] = []
    after: list[dict[str, Any]] = []
    events = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
    ).all()
    for ev in events:
        pics = [a for a in ev.attachments or [] if isinstance(a, dict) and a.get("url")]
        if not pics:
            continue
        if ev.action in (Action.REPORT, Action.VERIFY_TRUE, Action.VERIFY_FALSE):
            before.extend(pics)
        elif ev.action in (Action.REPORT_DONE, Action.CHECK_PASS, Action.CHECK_FAIL):
            after.extend(pics)
    return {"before": before, "after": after}


def evidence_of(session: Session, case_id: int) -> dict[str, Any] | None:
    """An inspector report's evidence (position, flags) and its report photos, if any."""
    row = session.get(ReportEvidence, case_id)
    if row is None:
        return None
    photos = session.scalars(
        select(CasePhoto)
        .where(CasePhoto.case_id == case_id, CasePhoto.purpose == str(PhotoPurpose.REPORT))
        .order_by(CasePhoto.id)
    ).all()
    return {"row": row, "photos": photos}


# ---------------------------------------------------------------------------- my reports
def my_reports(
    session: Session, user: User, *, limit: int = 100
) -> list[tuple[Case, ReportEvidence]]:
    """The reports I made from the phone, newest first, with their evidence."""
    inspector(user)
    query = (
        select(Case, ReportEvidence)
        .join(ReportEvidence, ReportEvidence.case_id == Case.id)
        .where(ReportEvidence.reporter_user_id == user.id)
        .order_by(Case.id.desc())
        .limit(limit)
    )
    return [(c, e) for c, e in session.execute(query)]


def my_figures(session: Session, user: User, first: Any, last: Any) -> list[dict[str, Any]]:
    """My valid report rate and on-time verification and check rates for local days
    ``first``-``last``, counted exactly as the performance evaluation counts them."""
    from dispatch.insight.evaluation import factor, trace
    from dispatch.insight.periods import Period

    inspector(user)
    period = Period(first, last)
    out = []
    for key in ("valid_reports", "on_time_verification", "on_time_check"):
        items = trace(session, "inspector", key, user.id, period)
        hits = sum(1 for i in items if i.in_numerator)
        out.append(
            {
                "key": key,
                "label": str(factor("inspector", key).label),
                "numerator": hits,
                "denominator": len(items),
                "rate": round(hits / len(items), 4) if items else None,
            }
        )
    return out


# ---------------------------------------------------------------------------- flags
def may_review_flags(user: User) -> bool:
    """Shift supervisors review flagged inspector reports."""
    return user.is_active and user.has_role(Role.SHIFT_SUPERVISOR)


def flagged_reports(
    session: Session, user: User, *, include_reviewed: bool = False
) -> list[tuple[Case, ReportEvidence]]:
    """Flagged inspector reports within the supervisor's scope, oldest unreviewed first."""
    from dispatch.access import scope_clause

    if not may_review_flags(user):
        raise Forbidden("only shift supervisors review flagged reports")
    query = (
        select(Case, ReportEvidence)
        .join(ReportEvidence, ReportEvidence.case_id == Case.id)
        .where(ReportEvidence.is_flagged.is_(True), scope_clause(session, user))
        .order_by(Case.id)
        .limit(500)
    )
    if not include_reviewed:
        query = query.where(ReportEvidence.reviewed_at.is_(None))
    return [(c, e) for c, e in session.execute(query)]


def review_flag(
    session: Session, user: User, number: str, *, now: datetime | None = None
) -> ReportEvidence:
    """Mark a flagged report as looked at by this shift supervisor."""
    from dispatch.access import Actor as _Actor

    if not may_review_flags(user):
        raise Forbidden("only shift supervisors review flagged reports")
    row = session.execute(
        select(Case, ReportEvidence)
        .join(ReportEvidence, ReportEvidence.case_id == Case.id)
        .where(Case.number == number, ReportEvidence.is_flagged.is_(True))
    ).first()
    if row is None or not in_scope(session, _Actor(user, Role.SHIFT_SUPERVISOR), row[0]):
        raise NotFound(f"no flagged report {number}")
    evidence = row[1]
    if evidence.reviewed_at is None:
        evidence.reviewed_at = now or utcnow()
        evidence.reviewed_by_id = user.id
        session.flush()
    return evidence
