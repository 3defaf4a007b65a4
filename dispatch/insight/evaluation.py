"""Performance evaluation (综合评价, DOMAIN.md §7): departments, inspectors, hotline operators,
shift supervisors and dispatchers, for a period, from the event log and the frozen stage results.

Every figure is a count of *items* (an action in the event log, or a case) attributed to one
subject. A **source** is one query that yields items with their facts as columns; a **factor**
says which items its denominator counts and which of those its numerator counts. The table on the
page aggregates each source once (one ``GROUP BY`` for all the factors it feeds) and the trace of
a figure lists the same source's rows for one subject, so the case numbers behind a figure are
exactly the ones it counted.

Timeliness comes from the frozen results: when a stage ends, ``perform`` records the result it
froze (``on_time`` / ``late``) in the ending event's ``data.timers.ended`` (the value of the
``case_timer`` row, never recomputed), so "on time" is read from the event that ended the stage,
which also says who ended it. Handling stages are judged by their ``case_timer`` rows directly
(due in the period, whoever owned them).

Sizes that decide the shape of the queries (1,000,000 cases, bench/results/supervisor.json): the
people's figures come from **one** pass over the period's events (``source_events``), and the
few approved returns of the period are looked up once and joined, never probed per event.
Cases are read by the ids the period's events or timers name (``among``), so PostgreSQL reads
those rows by key instead of hashing the whole case table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    any_,
    case,
    false,
    func,
    literal,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import True_

from core.types import utcnow
from dispatch.insight.periods import Period
from dispatch.insight.settings import SUBJECT_KINDS, Settings, load_settings
from dispatch.models import Case, CaseEvent, CaseTimer, Department, RoleGrant, User

c = Case.__table__
e = CaseEvent.__table__
t = CaseTimer.__table__
g = RoleGrant.__table__

#: The roles whose people are evaluated from the event log, and the actions that count.
EVALUATED_ROLES = ("operator", "inspector", "shift_supervisor", "dispatcher")
#: Actions that end a stage, and the stage whose frozen result they carry.
STAGE_ENDED_BY = {
    "verify_true": "verify",
    "verify_false": "verify",
    "file": "file",
    "refuse": "file",
    "dispatch": "dispatch",
    "check_pass": "check",
    "check_fail": "check",
    "close": "close",
    "record_callback": "callback",
    "reopen": "callback",
}
EVENT_ACTIONS = ("report", *STAGE_ENDED_BY)


@dataclass(frozen=True)
class Context:
    """What every source query needs: the period, the instant "now", the viewer's scope and the
    database's dialect (``among`` is written per dialect)."""

    period: Period
    now: datetime
    #: A WHERE clause on ``case_file`` (``access.scope_clause``); None: the whole city.
    scope: ColumnElement[bool] | None = None
    dialect: str = "sqlite"

    @property
    def scope_clause(self) -> ColumnElement[bool]:
        return self.scope if self.scope is not None else true()


def context(
    session: Session, period: Period, now: datetime, scope: ColumnElement[bool] | None
) -> Context:
    """The context of queries run on ``session``. A city-wide viewer's scope (``true()``) is
    no scope at all: written out, it turned the outer joins of ``source_events`` into inner
    ones and PostgreSQL's plan from 1.7 s into 20 s (bench/results/supervisor.json)."""
    if isinstance(scope, True_):
        scope = None
    return Context(period, now, scope, session.get_bind().dialect.name)


def among(ctx: Context, ids: Select[Any]) -> ColumnElement[bool]:
    """``case_file.id`` is one of the ids ``ids`` selects. PostgreSQL gets ``= ANY(ARRAY(…))``:
    a plain ``IN`` becomes a hash join that reads all the cases (a second or more at a million),
    the array is read by key, in id order. SQLite already probes by key for ``IN``."""
    if ctx.dialect == "postgresql":
        return c.c.id == any_(func.array(ids.scalar_subquery()))
    return c.c.id.in_(ids)


def _id_range(ctx: Context, ids: Any) -> ColumnElement[bool]:
    """``case_file.id`` lies between the least and the greatest of ``ids`` (a column of a CTE);
    the join that follows keeps exactly those ids. Cases falling due in a period were opened
    within weeks of each other and ids follow time, so on PostgreSQL one index range read
    replaces tens of thousands of probes by key (``among``): 36,000 due cases of a month,
    157 ms → see bench/results/supervisor.json. SQLite keeps ``among``."""
    if ctx.dialect != "postgresql":
        return among(ctx, select(ids))
    return c.c.id.between(
        select(func.min(ids)).scalar_subquery(), select(func.max(ids)).scalar_subquery()
    )


def for_reporting(session: Session) -> None:
    """Prepare ``session``'s transaction for the reporting queries: on PostgreSQL without JIT
    compilation, which costs 100-400 ms per statement here (LLVM emission; measured in
    bench/results/supervisor.json) for statements that run in a few hundred, and with room
    to group in memory. ``SET LOCAL``: the rest of the transaction only."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        # A month's events and cases are hashed and grouped in memory, not spilled to disk.
        session.execute(text("SET LOCAL work_mem = '64MB'"))


# ---------------------------------------------------------------------------- sources
def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _stage_result(stage: str) -> ColumnElement[str]:
    """The frozen result of ``stage`` that the event ended (``on_time``, ``late``; NULL if none)."""
    return e.c.data[("timers", "ended", stage)].as_string()


def returned_dispatches(ctx: Context) -> Select[Any]:
    """Dispatch events undone by an approved return (回退), as (case_id, seq, role): for each
    approval since the period began, the case's last dispatch before it. Approvals are few
    (about 2% of cases), so this is a small set the period's events are joined with."""
    ret = CaseEvent.__table__.alias("ret")
    disp = CaseEvent.__table__.alias("disp")
    last = (
        select(ret.c.case_id, func.max(disp.c.seq).label("seq"))
        .select_from(
            ret.join(
                disp,
                and_(
                    disp.c.case_id == ret.c.case_id,
                    disp.c.action == "dispatch",
                    disp.c.seq < ret.c.seq,
                ),
            )
        )
        .where(ret.c.action == "approve_return", ret.c.at >= ctx.period.start)
        .group_by(ret.c.case_id, ret.c.seq)
        .subquery("last_dispatch")
    )
    again = CaseEvent.__table__.alias("returned_dispatch")
    return select(last.c.case_id, last.c.seq, again.c.actor_role.label("role")).select_from(
        last.join(again, and_(again.c.case_id == last.c.case_id, again.c.seq == last.c.seq))
    )


def source_events(ctx: Context) -> Select[Any]:
    """The period's actions by people in the evaluated roles, one row per event, with the facts
    the factors need: the frozen result of the stage it ended; for reports whether the case's
    fate is known and whether it was a valid report / intake; for filings whether the filing
    proved accurate; for dispatches whether a return undid them.

    The cases and the returns are LEFT JOINed: an inner join after the by-key read of the
    cases (``among``) would leave PostgreSQL guessing a handful of rows and nesting loops over
    the period's hundreds of thousands of events; an outer join keeps its estimate at the
    events' count, so it hashes the small sides."""
    result = case(
        *[(e.c.action == action, _stage_result(stage)) for action, stage in STAGE_ENDED_BY.items()],
        else_=None,
    )
    events = (
        select(
            e.c.actor_role.label("role"),
            e.c.actor_user_id.label("subject_id"),
            e.c.case_id,
            e.c.seq,
            e.c.at,
            e.c.action,
            result.label("result"),
        )
        .where(
            e.c.action.in_(EVENT_ACTIONS),
            e.c.at >= ctx.period.start,
            e.c.at < ctx.period.end,
            e.c.actor_user_id.is_not(None),
            e.c.actor_role.in_(EVALUATED_ROLES),
        )
        .cte("period_events")
    )
    # The viewer's scope is a column of the cases, tested after the outer join (through
    # COALESCE, which PostgreSQL cannot turn back into an inner join): filtering the cases
    # first brought back the nested loops above (a district's month: 3 s instead of 1).
    cases = (
        select(c.c.id, c.c.state, c.c.filed_at, ctx.scope_clause.label("in_scope"))
        .where(among(ctx, select(events.c.case_id)))
        .subquery("period_cases")
    )
    returned = returned_dispatches(ctx).cte("returned")
    # A case is filed once (to_file comes only before filing), so every dispatch follows the
    # filing: a return after an automatic dispatch (whose route follows the class chosen at
    # filing) counts against the filing; one after a dispatcher's choice, against them.
    misrouted = (
        select(returned.c.case_id)
        .where(returned.c.role == "system")
        .distinct()
        .subquery("misrouted")
    )
    decided = or_(cases.c.filed_at.is_not(None), cases.c.state.in_(("void", "merged")))
    not_void = cases.c.state != "void"
    query = select(
        events.c.role,
        events.c.subject_id,
        events.c.case_id,
        events.c.at,
        events.c.action,
        events.c.result,
        _flag(decided).label("decided"),
        # Inspector: filed and not voided afterwards; operator: not voided (a merged duplicate
        # was still a valid call).
        _flag(and_(cases.c.filed_at.is_not(None), not_void)).label("valid_report"),
        _flag(and_(decided, not_void)).label("valid_intake"),
        _flag(and_(events.c.action == "file", not_void, misrouted.c.case_id.is_(None))).label(
            "accurate_filing"
        ),
        _flag(returned.c.case_id.is_not(None)).label("undone"),
    ).select_from(
        events.outerjoin(cases, cases.c.id == events.c.case_id)
        .outerjoin(
            returned,
            and_(returned.c.case_id == events.c.case_id, returned.c.seq == events.c.seq),
        )
        .outerjoin(misrouted, misrouted.c.case_id == events.c.case_id)
    )
    if ctx.scope is not None:
        query = query.where(func.coalesce(cases.c.in_scope, false()))
    return query


def handling_due(ctx: Context) -> Select[Any]:
    """Cases due in the period, one row per case: the case has a handling stage (any round, not
    cancelled by a return) whose due time falls in the period and that either ended or is still
    running past it (a paused stage is not judged yet). Flags: closed (before the period's end),
    on_time (every such stage ended on time: the frozen result), reworked (rework count above
    0). The dashboard's on-time closure rate and the departments' factors both use it."""
    judged = or_(t.c.state == "met", and_(t.c.state == "running", t.c.due_at <= ctx.now))
    stages = (
        select(
            t.c.case_id,
            func.min(t.c.due_at).label("at"),
            func.min(_flag(t.c.result == "on_time")).label("on_time"),
        )
        .where(
            t.c.stage == "handle",
            t.c.due_at >= ctx.period.start,
            t.c.due_at < ctx.period.end,
            judged,
        )
        .group_by(t.c.case_id)
        .cte("due_stages")
    )
    cases = (
        select(
            c.c.id,
            c.c.district_code,
            c.c.owner_department_id,
            _flag(and_(c.c.state == "closed", c.c.closed_at < ctx.period.end)).label("closed"),
            _flag(c.c.rework_count > 0).label("reworked"),
        )
        .where(_id_range(ctx, stages.c.case_id), ctx.scope_clause)
        .cte("due_cases")
    )
    return select(
        stages.c.case_id,
        cases.c.district_code,
        cases.c.owner_department_id,
        stages.c.at,
        literal(1).label("one"),
        cases.c.closed,
        stages.c.on_time,
        cases.c.reworked,
    ).select_from(stages.join(cases, cases.c.id == stages.c.case_id))


def source_department_due(ctx: Context) -> Select[Any]:
    """``handling_due`` for the cases a department owns (subject: the owning department)."""
    due = handling_due(ctx).subquery("due")
    return select(due.c.owner_department_id.label("subject_id"), due).where(
        due.c.owner_department_id.is_not(None)
    )


def _area_match(district: Any, grid: Any) -> ColumnElement[bool]:
    """The place (``district`` code, ``grid`` code or '') lies in the area of the inspector
    grant ``g`` (city, district, grid list)."""
    padded = literal(" ").concat(g.c.scope_code).concat(literal(" "))
    return or_(
        g.c.scope_kind == "city",
        and_(g.c.scope_kind == "district", district == g.c.scope_code),
        and_(
            g.c.scope_kind == "grids",
            grid != "",
            padded.like(literal("% ").concat(grid).concat(literal(" %"))),
        ),
    )


def source_inspector_missed(ctx: Context) -> Select[Any]:
    """Per inspector, the missed cases: filed cases of the period in their area that someone
    else reported (not an inspector report). Their denominator adds the inspector's valid
    reports (``plus_hits_of``).

    Areas are matched per grid, not per case: the period's few hundred grids are paired with
    the inspectors whose grants cover them (once each, however many grants overlap), then the
    cases join their grid's pairs."""
    cases = (
        select(
            c.c.id,
            c.c.created_at,
            c.c.district_code,
            func.coalesce(c.c.grid_code, "").label("grid"),
        )
        .where(
            c.c.created_at >= ctx.period.start,
            c.c.created_at < ctx.period.end,
            c.c.source != "inspector",
            c.c.filed_at.is_not(None),
            c.c.state != "void",
            ctx.scope_clause,
        )
        .cte("missed_cases")
    )
    places = select(cases.c.district_code, cases.c.grid).distinct().subquery("places")
    pairs = (
        select(g.c.user_id, places.c.grid)
        .select_from(
            places.join(
                g, and_(g.c.role == "inspector", _area_match(places.c.district_code, places.c.grid))
            )
        )
        .distinct()
        .subquery("pairs")
    )
    return select(
        pairs.c.user_id.label("subject_id"),
        cases.c.id.label("case_id"),
        cases.c.created_at.label("at"),
        literal(1).label("one"),
    ).select_from(cases.join(pairs, pairs.c.grid == cases.c.grid))


# ---------------------------------------------------------------------------- factors
Condition = Callable[[Any], ColumnElement[bool]]


def _did(role: str, *actions: str, decided: bool = False, timed: bool = False) -> Condition:
    """Items of ``source_events``: ``role`` took one of ``actions`` (``decided``: the report's
    fate is known; ``timed``: the action froze a stage result)."""

    def condition(items: Any) -> ColumnElement[bool]:
        parts = [items.c.role == role, items.c.action.in_(actions)]
        if decided:
            parts.append(items.c.decided == 1)
        if timed:
            parts.append(items.c.result.in_(("on_time", "late")))
        return and_(*parts)

    return condition


def _on_time(items: Any) -> ColumnElement[bool]:
    return items.c.result == "on_time"


@dataclass(frozen=True)
class Factor:
    """One term of a score: which items count, and how the rate becomes points."""

    key: str
    #: ``rate`` (points = 100 × rate), ``inverse`` (100 × (1 − rate)), ``count`` (100 × count /
    #: the best count among the subjects evaluated).
    kind: str
    source: Callable[[Context], Select[Any]]
    #: Which items of the source the denominator counts, and which of those the numerator.
    counted: Condition
    hit: Condition
    label: Any
    definition: Any
    #: The denominator also counts the numerator items of this factor of the same kind.
    plus_hits_of: str | None = None


FACTORS: dict[str, tuple[Factor, ...]] = {
    "department": (
        Factor(
            "filed_count",
            "count",
            source_department_due,
            lambda i: i.c.one == 1,
            lambda i: i.c.one == 1,
            _l("Filed-count score"),
            _l(
                "Cases due: filed cases owned by the department whose handling deadline fell in "
                "the period (ended, or still running past it). Score: 100 × the department's count "
                "/ the highest count of any department in the period."
            ),
        ),
        Factor(
            "closure_rate",
            "rate",
            source_department_due,
            lambda i: i.c.one == 1,
            lambda i: i.c.closed == 1,
            _l("Closure rate"),
            _l("Of the cases due, those closed before the end of the period."),
        ),
        Factor(
            "on_time_handling",
            "rate",
            source_department_due,
            lambda i: i.c.one == 1,
            lambda i: i.c.on_time == 1,
            _l("On-time handling rate"),
            _l(
                "Of the cases due, those whose handling stage ended on time (the result frozen "
                "when the stage ended; a stage still running past its deadline is late)."
            ),
        ),
        Factor(
            "rework",
            "inverse",
            source_department_due,
            lambda i: i.c.one == 1,
            lambda i: i.c.reworked == 1,
            _l("Rework rate"),
            _l(
                "Of the cases due, those sent back at least once because the check found the "
                "problem not fixed (rework count above 0). Points: 100 × (1 − rework rate)."
            ),
        ),
    ),
    "inspector": (
        Factor(
            "valid_reports",
            "rate",
            source_events,
            _did("inspector", "report", decided=True),
            lambda i: i.c.valid_report == 1,
            _l("Valid report rate"),
            _l(
                "Of the inspector's reports in the period whose fate is known (filed, or void or "
                "merged without filing), those filed and not voided afterwards. Reports still "
                "waiting are not counted yet."
            ),
        ),
        Factor(
            "missed_reports",
            "inverse",
            source_inspector_missed,
            lambda i: i.c.one == 1,
            lambda i: i.c.one == 1,
            _l("Missed report rate"),
            _l(
                "Missed: filed cases created in the period in the inspector's area (their role's "
                "scope: district, grids or city) that came from another source than an inspector "
                "report. Rate: missed / (missed + the inspector's valid reports). Inspectors "
                "sharing an area share its missed cases. Points: 100 × (1 − rate)."
            ),
            plus_hits_of="valid_reports",
        ),
        Factor(
            "on_time_verification",
            "rate",
            source_events,
            _did("inspector", "verify_true", "verify_false", timed=True),
            _on_time,
            _l("On-time verification rate"),
            _l(
                "Of the verifications (true or false) the inspector made in the period, those that "
                "ended the verification stage on time."
            ),
        ),
        Factor(
            "on_time_check",
            "rate",
            source_events,
            _did("inspector", "check_pass", "check_fail", timed=True),
            _on_time,
            _l("On-time check rate"),
            _l(
                "Of the checks (fixed or not fixed) the inspector made in the period, those that "
                "ended the check stage on time."
            ),
        ),
    ),
    "operator": (
        Factor(
            "intake_count",
            "count",
            source_events,
            _did("operator", "report"),
            _did("operator", "report"),
            _l("Intake count score"),
            _l(
                "Cases the operator took in the period. Score: 100 × the operator's count / the "
                "highest count of any operator in the period."
            ),
        ),
        Factor(
            "valid_intake",
            "rate",
            source_events,
            _did("operator", "report", decided=True),
            lambda i: i.c.valid_intake == 1,
            _l("Valid intake rate"),
            _l(
                "Of the cases the operator took in the period whose fate is known (filed, or void "
                "or merged), those not voided (found invalid, verified false, refused or voided). "
                "A duplicate merged into another case counts as valid."
            ),
        ),
        Factor(
            "on_time_callback",
            "rate",
            source_events,
            _did("operator", "record_callback", "reopen", timed=True),
            _on_time,
            _l("On-time callback rate"),
            _l(
                "Of the callbacks the operator ended in the period (citizen satisfied, or "
                "dissatisfied and the case reopened), those that ended the callback stage on time "
                "(next working day)."
            ),
        ),
    ),
    "shift_supervisor": (
        Factor(
            "on_time_filing",
            "rate",
            source_events,
            _did("shift_supervisor", "file", "refuse", timed=True),
            _on_time,
            _l("On-time filing rate"),
            _l(
                "Of the filing decisions (file or refuse) the shift supervisor made in the period, "
                "those that ended the filing stage on time."
            ),
        ),
        Factor(
            "accurate_filing",
            "rate",
            source_events,
            _did("shift_supervisor", "file"),
            lambda i: i.c.accurate_filing == 1,
            _l("Accurate filing rate"),
            _l(
                "Of the cases the shift supervisor filed in the period, those not voided later and "
                "not returned (approved return) after an automatic dispatch, whose route follows "
                "the class chosen at filing. Returns after a dispatcher's choice count against the "
                "dispatcher instead."
            ),
        ),
        Factor(
            "on_time_closing",
            "rate",
            source_events,
            _did("shift_supervisor", "close", timed=True),
            _on_time,
            _l("On-time closing rate"),
            _l(
                "Of the cases the shift supervisor closed in the period, those that ended the "
                "closing stage on time."
            ),
        ),
    ),
    "dispatcher": (
        Factor(
            "dispatch_count",
            "count",
            source_events,
            _did("dispatcher", "dispatch"),
            _did("dispatcher", "dispatch"),
            _l("Dispatch-count score"),
            _l(
                "Cases the dispatcher dispatched by hand in the period (automatic dispatches count "
                "for nobody). Score: 100 × the dispatcher's count / the highest count of any "
                "dispatcher in the period."
            ),
        ),
        Factor(
            "on_time_dispatch",
            "rate",
            source_events,
            _did("dispatcher", "dispatch", timed=True),
            _on_time,
            _l("On-time dispatch rate"),
            _l(
                "Of the dispatcher's dispatches in the period, those that ended the dispatch stage "
                "on time."
            ),
        ),
        Factor(
            "accurate_dispatch",
            "rate",
            source_events,
            _did("dispatcher", "dispatch"),
            lambda i: i.c.undone == 0,
            _l("Accurate dispatch rate"),
            _l(
                "Of the dispatcher's dispatches in the period, those not undone by an approved "
                "return (回退: the owner was wrong), whenever the return came."
            ),
        ),
    ),
}

KIND_LABELS = {
    "department": _l("Departments"),
    "inspector": _l("Inspectors"),
    "operator": _l("Hotline operators"),
    "shift_supervisor": _l("Shift supervisors"),
    "dispatcher": _l("Dispatchers"),
}


def factor(kind: str, key: str) -> Factor:
    """The factor ``key`` of ``kind`` (KeyError when there is none)."""
    for item in FACTORS[kind]:
        if item.key == key:
            return item
    raise KeyError(key)


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Figure:
    """One factor of one subject: numerator / denominator, the points it gives."""

    factor: Factor
    numerator: int
    denominator: int
    weight: Decimal

    @property
    def rate(self) -> Fraction | None:
        return Fraction(self.numerator, self.denominator) if self.denominator else None

    @property
    def points(self) -> Fraction | None:
        """0-100 (None when nothing was counted)."""
        rate = self.rate
        if rate is None:
            return None
        return 100 * (1 - rate) if self.factor.kind == "inverse" else 100 * rate


@dataclass
class SubjectResult:
    """A department or person: every factor's figure, the score and the grade."""

    kind: str
    subject_id: int
    name: str
    figures: list[Figure] = field(default_factory=list)
    score: Decimal | None = None
    grade: str | None = None


@dataclass
class Evaluation:
    """An evaluation of every kind of subject for one period."""

    period: Period
    now: datetime
    settings: Settings
    results: dict[str, list[SubjectResult]]


def round_score(value: Fraction) -> Decimal:
    """A score with two decimals, half up (the grade is taken from this rounded value)."""
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def score_of(figures: Iterable[Figure]) -> Fraction | None:
    """Σ weight × points / Σ weight over the factors that counted something (a factor with an
    empty denominator is left out and the others weigh proportionally more)."""
    total = Fraction(0)
    weights = Fraction(0)
    for fig in figures:
        points = fig.points
        if points is None:
            continue
        weight = Fraction(fig.weight)
        total += weight * points
        weights += weight
    return total / weights if weights else None


Counts = dict[int, dict[tuple[str, str], tuple[int, int]]]


def _aggregate(
    session: Session,
    ctx: Context,
    source: Callable[[Context], Select[Any]],
    factors: list[tuple[str, Factor]],
) -> Counts:
    """subject id -> (kind, factor key) -> (numerator, denominator): one GROUP BY over
    ``source`` for every factor it feeds."""
    items = source(ctx).subquery("items")
    columns = []
    for i, (_kind, f) in enumerate(factors):
        counted = f.counted(items)
        columns.append(func.sum(_flag(counted)).label(f"den_{i}"))
        columns.append(func.sum(_flag(and_(counted, f.hit(items)))).label(f"num_{i}"))
    query = select(items.c.subject_id, *columns).group_by(items.c.subject_id)
    out: Counts = {}
    for row in session.execute(query).mappings():
        if row["subject_id"] is None:
            continue
        out[row["subject_id"]] = {
            (kind, f.key): (int(row[f"num_{i}"] or 0), int(row[f"den_{i}"] or 0))
            for i, (kind, f) in enumerate(factors)
        }
    return out


def _names(session: Session, kind: str, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    if kind == "department":
        rows = session.execute(
            select(Department.id, Department.name).where(Department.id.in_(wanted))
        )
    else:
        rows = session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
    return {row[0]: row[1] for row in rows}


def evaluate(
    session: Session,
    period: Period,
    *,
    scope: ColumnElement[bool] | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
    kinds: Iterable[str] = SUBJECT_KINDS,
) -> Evaluation:
    """Evaluate every department and person with counted items in ``period`` (within ``scope``,
    a WHERE clause on cases such as ``access.scope_clause``)."""
    ctx = context(session, period, now or utcnow(), scope)
    for_reporting(session)
    settings = settings or load_settings(session)
    kinds = list(kinds)
    by_source: dict[Callable[[Context], Select[Any]], list[tuple[str, Factor]]] = {}
    for kind in kinds:
        for f in FACTORS[kind]:
            by_source.setdefault(f.source, []).append((kind, f))
    counts: Counts = {}
    for source, factors in by_source.items():
        for subject, figures in _aggregate(session, ctx, source, factors).items():
            counts.setdefault(subject, {}).update(figures)
    results: dict[str, list[SubjectResult]] = {}
    for kind in kinds:
        factors = FACTORS[kind]
        own = {
            subject: {f.key: figures.get((kind, f.key), (0, 0)) for f in factors}
            for subject, figures in counts.items()
        }
        # Subjects of this kind: someone with anything counted by its factors.
        own = {s: figs for s, figs in own.items() if any(n or d for n, d in figs.values())}
        for figs in own.values():
            for f in factors:
                if f.plus_hits_of:
                    num, den = figs[f.key]
                    figs[f.key] = (num, den + figs[f.plus_hits_of][0])
        best = {
            f.key: max((figs[f.key][0] for figs in own.values()), default=0)
            for f in factors
            if f.kind == "count"
        }
        names = _names(session, kind, own)
        rows = []
        for subject, figs in own.items():
            result = SubjectResult(kind, subject, names.get(subject, f"#{subject}"))
            for f in factors:
                num, den = figs[f.key]
                if f.kind == "count":
                    den = best[f.key]
                result.figures.append(Figure(f, num, den, settings.weights[kind][f.key]))
            score = score_of(result.figures)
            if score is not None:
                result.score = round_score(score)
                result.grade = settings.grade_of(result.score)
            rows.append(result)
        rows.sort(key=lambda r: (r.score is None, -(r.score or 0), r.name, r.subject_id))
        results[kind] = rows
    return Evaluation(period, ctx.now, settings, results)


# ---------------------------------------------------------------------------- traces
@dataclass(frozen=True)
class TraceItem:
    """One counted item behind a figure: the case, when, and whether the numerator has it."""

    number: str
    at: datetime
    in_numerator: bool


def _trace_rows(
    session: Session, ctx: Context, f: Factor, subject_id: int, *, hits_only: bool = False
) -> list[TraceItem]:
    items = f.source(ctx).subquery("items")
    counted = f.counted(items)
    wanted = and_(counted, f.hit(items)) if hits_only else counted
    query = (
        select(c.c.number, items.c.at, _flag(f.hit(items)))
        .select_from(items.join(c, c.c.id == items.c.case_id))
        .where(items.c.subject_id == subject_id, wanted)
    )
    return [
        TraceItem(number, at, bool(hit) and not hits_only)
        for number, at, hit in session.execute(query)
    ]


def trace(
    session: Session,
    kind: str,
    key: str,
    subject_id: int,
    period: Period,
    *,
    scope: ColumnElement[bool] | None = None,
    now: datetime | None = None,
) -> list[TraceItem]:
    """The items a figure counted for one subject (its denominator; ``in_numerator`` marks the
    numerator), in time order. For a count factor these are the items counted."""
    f = factor(kind, key)
    ctx = context(session, period, now or utcnow(), scope)
    for_reporting(session)
    items = _trace_rows(session, ctx, f, subject_id)
    if f.plus_hits_of:
        items += _trace_rows(session, ctx, factor(kind, f.plus_hits_of), subject_id, hits_only=True)
    return sorted(items, key=lambda i: (i.at, i.number))


def subject_name(session: Session, kind: str, subject_id: int) -> str | None:
    """The name of a department or person (None when there is none)."""
    return _names(session, kind, [subject_id]).get(subject_id)
