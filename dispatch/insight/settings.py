"""The evaluation's weights and grade bands: defaults (DOMAIN.md §7), reading, checking, saving.

Weights are percents per kind of subject and must add up to 100; grade bands are the lowest
score of A, B, C and D (strictly falling; E is everything below D). Reading falls back to the
defaults for anything missing from the tables, so an unseeded database still evaluates.
Services flush, never commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import pairwise

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.types import utcnow
from dispatch.errors import InvalidInput
from dispatch.models.evaluation import EvaluationGrade, EvaluationWeight

#: Kinds of subject, in the order the page shows them.
SUBJECT_KINDS = ("department", "inspector", "operator", "shift_supervisor", "dispatcher")

#: Factor weights in percent (DOMAIN.md §7; the hotline operator's are our own choice).
DEFAULT_WEIGHTS: dict[str, dict[str, Decimal]] = {
    "department": {
        "filed_count": Decimal(10),
        "closure_rate": Decimal(30),
        "on_time_handling": Decimal(30),
        "rework": Decimal(30),
    },
    "inspector": {
        "valid_reports": Decimal(40),
        "missed_reports": Decimal(20),
        "on_time_verification": Decimal(20),
        "on_time_check": Decimal(20),
    },
    "operator": {
        "intake_count": Decimal(20),
        "valid_intake": Decimal(40),
        "on_time_callback": Decimal(40),
    },
    "shift_supervisor": {
        "on_time_filing": Decimal(25),
        "accurate_filing": Decimal(40),
        "on_time_closing": Decimal(35),
    },
    "dispatcher": {
        "dispatch_count": Decimal(20),
        "on_time_dispatch": Decimal(40),
        "accurate_dispatch": Decimal(40),
    },
}
#: Lowest score of each grade; below D's is E.
DEFAULT_GRADES: dict[str, Decimal] = {
    "A": Decimal(90),
    "B": Decimal(75),
    "C": Decimal(60),
    "D": Decimal(40),
}
GRADES = ("A", "B", "C", "D", "E")


@dataclass(frozen=True)
class Settings:
    """Weights per kind and factor, and the grade bands, as one evaluation uses them."""

    weights: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    grades: dict[str, Decimal] = field(default_factory=dict)

    def grade_of(self, score: Decimal) -> str:
        """The grade a (rounded) score earns: the highest band whose minimum it reaches."""
        for grade in GRADES[:-1]:
            if score >= self.grades[grade]:
                return grade
        return "E"


def _decimal(value: object, name: str) -> Decimal:
    """``value`` as a number with two decimals (InvalidInput when it is not one, or huge)."""
    try:
        number = Decimal(str(value).strip())
        if not number.is_finite() or abs(number) > 1000:
            raise InvalidOperation
        return number.quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"{name} must be a number", {name: "not a number"}) from None


def plain(value: Decimal) -> str:
    """A weight or score as people write it: ``40``, ``37.5``."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def load_settings(session: Session) -> Settings:
    """The weights and bands in force (stored rows over the defaults)."""
    weights = {kind: dict(factors) for kind, factors in DEFAULT_WEIGHTS.items()}
    for row in session.scalars(select(EvaluationWeight)):
        if row.factor in weights.get(row.subject_kind, {}):
            weights[row.subject_kind][row.factor] = _decimal(row.weight, row.factor)
    grades = dict(DEFAULT_GRADES)
    for grade in session.scalars(select(EvaluationGrade)):
        if grade.grade in grades:
            grades[grade.grade] = _decimal(grade.min_score, grade.grade)
    return Settings(weights, grades)


def check_weights(kind: str, raw: Mapping[str, object]) -> dict[str, Decimal]:
    """Every factor of ``kind`` given, each 0-100, together exactly 100 (else InvalidInput)."""
    if kind not in DEFAULT_WEIGHTS:
        raise InvalidInput(f"unknown kind {kind!r}", {"kind": "unknown"})
    factors = DEFAULT_WEIGHTS[kind]
    unknown = set(raw) - set(factors)
    if unknown:
        raise InvalidInput(
            f"{kind} has no factor {', '.join(sorted(unknown))}", {sorted(unknown)[0]: "unknown"}
        )
    out: dict[str, Decimal] = {}
    for factor in factors:
        if factor not in raw or str(raw[factor]).strip() == "":
            raise InvalidInput(f"the weight of {factor} is missing", {factor: "required"})
        value = _decimal(raw[factor], factor)
        if not 0 <= value <= 100:
            raise InvalidInput(f"the weight of {factor} must be 0-100", {factor: "out of range"})
        out[factor] = value
    total = sum(out.values(), Decimal(0))
    if total != 100:
        raise InvalidInput(
            f"the weights of {kind} add up to {total}, not 100", {f"{kind}": "sum not 100"}
        )
    return out


def check_grades(raw: Mapping[str, object]) -> dict[str, Decimal]:
    """Minimum scores of A, B, C, D: each in (0, 100], strictly falling (else InvalidInput)."""
    out: dict[str, Decimal] = {}
    for grade in GRADES[:-1]:
        if grade not in raw or str(raw[grade]).strip() == "":
            raise InvalidInput(f"the lowest score of {grade} is missing", {grade: "required"})
        value = _decimal(raw[grade], grade)
        if not 0 < value <= 100:
            raise InvalidInput(
                f"the lowest score of {grade} must be above 0, at most 100", {grade: "out of range"}
            )
        out[grade] = value
    for higher, lower in pairwise(GRADES[:-1]):
        if out[lower] >= out[higher]:
            raise InvalidInput(
                f"{lower} must start below {higher} ({out[lower]} >= {out[higher]})",
                {lower: "not below " + higher},
            )
    return out


def save_weights(
    session: Session, kind: str, raw: Mapping[str, object], user_id: int | None
) -> dict[str, Decimal]:
    """Check and store the weights of one kind of subject (flushes)."""
    weights = check_weights(kind, raw)
    rows = {
        r.factor: r
        for r in session.scalars(
            select(EvaluationWeight).where(EvaluationWeight.subject_kind == kind)
        )
    }
    now = utcnow()
    for factor, value in weights.items():
        row = rows.get(factor)
        if row is None:
            row = EvaluationWeight(subject_kind=kind, factor=factor)
            session.add(row)
        row.weight = float(value)
        row.updated_at = now
        row.updated_by_id = user_id
    session.flush()
    return weights


def save_grades(
    session: Session, raw: Mapping[str, object], user_id: int | None
) -> dict[str, Decimal]:
    """Check and store the grade bands (flushes)."""
    grades = check_grades(raw)
    rows = {r.grade: r for r in session.scalars(select(EvaluationGrade))}
    now = utcnow()
    for grade, value in grades.items():
        row = rows.get(grade)
        if row is None:
            row = EvaluationGrade(grade=grade)
            session.add(row)
        row.min_score = float(value)
        row.updated_at = now
        row.updated_by_id = user_id
    session.flush()
    return grades


def seed_evaluation_settings(session: Session) -> int:
    """Store the default weights and bands that are not stored yet; returns rows created."""
    created = 0
    have = {(r.subject_kind, r.factor) for r in session.scalars(select(EvaluationWeight))}
    for kind, factors in DEFAULT_WEIGHTS.items():
        for factor, value in factors.items():
            if (kind, factor) not in have:
                session.add(EvaluationWeight(subject_kind=kind, factor=factor, weight=float(value)))
                created += 1
    graded = set(session.scalars(select(EvaluationGrade.grade)))
    for grade, value in DEFAULT_GRADES.items():
        if grade not in graded:
            session.add(EvaluationGrade(grade=grade, min_score=float(value)))
            created += 1
    session.flush()
    return created
