"""The performance evaluation (综合评价) against the scenario week (tests/insight_scenario.py).

Every expected figure below was counted by hand from the scenario's table: each line says
which cases make the numerator and the denominator.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.access import scope_clause
from dispatch.errors import InvalidInput
from dispatch.insight.evaluation import Evaluation, context, evaluate, round_score, trace
from dispatch.insight.settings import (
    DEFAULT_GRADES,
    DEFAULT_WEIGHTS,
    Settings,
    load_settings,
    save_grades,
    save_weights,
)
from dispatch.models import CaseEvent, CaseTimer
from tests.conftest import log_in
from tests.factories import make_user
from tests.insight_scenario import NOW, PERIOD, Scenario, build_scenario


@pytest.fixture
def scenario(app: Flask, db_session: Session) -> Scenario:
    # The app context ends here: each request of the test then gets its own (and its locale).
    with app.app_context():
        return build_scenario(db_session)


def figures(result: Evaluation, kind: str, subject_id: int) -> dict[str, tuple[int, int]]:
    row = next(r for r in result.results[kind] if r.subject_id == subject_id)
    return {f.factor.key: (f.numerator, f.denominator) for f in row.figures}


def score_and_grade(
    result: Evaluation, kind: str, subject_id: int
) -> tuple[str | None, str | None]:
    row = next(r for r in result.results[kind] if r.subject_id == subject_id)
    return (f"{row.score:.2f}" if row.score is not None else None, row.grade)


def subjects(result: Evaluation, kind: str) -> set[int]:
    return {r.subject_id for r in result.results[kind]}


def test_every_figure_matches_the_cases_counted_by_hand(
    scenario: Scenario, db_session: Session
) -> None:
    result = evaluate(db_session, PERIOD, now=NOW)
    sc, w = scenario, scenario.world
    d, d2 = w.department.id, w.other_department.id

    # Department D: due c1 c2 c3 c4 (c7's round with D was cancelled by the return);
    # closed c1 c2 c3; on time c1 only (c3's second round was late); reworked c3. Highest
    # count of the period: D's 4.
    assert figures(result, "department", d) == {
        "filed_count": (4, 4),
        "closure_rate": (3, 4),
        "on_time_handling": (1, 4),
        "rework": (1, 4),
    }
    # 10×100 + 30×75 + 30×25 + 30×(100−25) = 6250 / 100
    assert score_and_grade(result, "department", d) == ("62.50", "C")
    # D2: c5, closed and on time, no rework; count 1 of the best 4.
    assert figures(result, "department", d2) == {
        "filed_count": (1, 4),
        "closure_rate": (1, 1),
        "on_time_handling": (1, 1),
        "rework": (0, 1),
    }
    assert score_and_grade(result, "department", d2) == ("92.50", "A")

    # insp1 (city-wide): no reports; missed: every filed non-inspector case of the week
    # (c1-c8, c13); verified c6 late; checks c1 c2 c3(fail) c3 c5 on time, c6 late.
    assert figures(result, "inspector", sc.user_id("insp1")) == {
        "valid_reports": (0, 0),
        "missed_reports": (9, 9),
        "on_time_verification": (0, 1),
        "on_time_check": (5, 6),
    }
    # valid reports count nothing: (20×0 + 20×0 + 20×500/6) / 60
    assert score_and_grade(result, "inspector", sc.user_id("insp1")) == ("27.78", "E")
    # insp2 (district of grid A): reports c9 (filed), c10 (void), c11 (waiting: not counted);
    # missed in the district: c1-c8 (c13 is in another district); + own valid c9.
    assert figures(result, "inspector", sc.user_id("insp2")) == {
        "valid_reports": (1, 2),
        "missed_reports": (8, 9),
        "on_time_verification": (0, 0),
        "on_time_check": (0, 0),
    }
    assert score_and_grade(result, "inspector", sc.user_id("insp2")) == ("37.04", "E")

    # op1 took c1-c8 and c13, all filed; recorded c1's callback on time.
    assert figures(result, "operator", sc.user_id("op1")) == {
        "intake_count": (9, 9),
        "valid_intake": (9, 9),
        "on_time_callback": (1, 1),
    }
    assert score_and_grade(result, "operator", sc.user_id("op1")) == ("100.00", "A")
    # op2 took c12 (void) and c14 (merged: a valid call); recorded c5's callback on time.
    assert figures(result, "operator", sc.user_id("op2")) == {
        "intake_count": (2, 9),
        "valid_intake": (1, 2),
        "on_time_callback": (1, 1),
    }
    # (20×200/9 + 40×50 + 40×100) / 100
    assert score_and_grade(result, "operator", sc.user_id("op2")) == ("64.44", "C")

    # sup1 filed c1 c2 c3 c4 c5 c7 c9 c13 on time (c7's return followed a dispatcher's choice);
    # closed c1 c3 c5 on time and c2 late.
    assert figures(result, "shift_supervisor", sc.user_id("sup1")) == {
        "on_time_filing": (8, 8),
        "accurate_filing": (8, 8),
        "on_time_closing": (3, 4),
    }
    assert score_and_grade(result, "shift_supervisor", sc.user_id("sup1")) == ("91.25", "A")
    # sup2 filed c6 and c8 on time; c8 came back after its automatic dispatch; closed c6.
    assert figures(result, "shift_supervisor", sc.user_id("sup2")) == {
        "on_time_filing": (2, 2),
        "accurate_filing": (1, 2),
        "on_time_closing": (1, 1),
    }
    assert score_and_grade(result, "shift_supervisor", sc.user_id("sup2")) == ("80.00", "B")

    # disp1: c1 c2(late) c3 c4, and c7 c8 again after their returns; none returned (c4's
    # return was asked for and refused).
    assert figures(result, "dispatcher", sc.user_id("disp1")) == {
        "dispatch_count": (6, 6),
        "on_time_dispatch": (5, 6),
        "accurate_dispatch": (6, 6),
    }
    assert score_and_grade(result, "dispatcher", sc.user_id("disp1")) == ("93.33", "A")
    # disp2: c5, c6, and c7 which D returned; the automatic dispatch of c8 is nobody's.
    assert figures(result, "dispatcher", sc.user_id("disp2")) == {
        "dispatch_count": (3, 6),
        "on_time_dispatch": (3, 3),
        "accurate_dispatch": (2, 3),
    }
    assert score_and_grade(result, "dispatcher", sc.user_id("disp2")) == ("76.67", "B")

    # Only people acting in the role count: the officer and department staff are no subjects.
    people = set().union(*(subjects(result, k) for k in result.results if k != "department"))
    assert w.users["officer"].id not in people and w.users["department"].id not in people


def test_traces_list_exactly_the_cases_behind_a_figure(
    scenario: Scenario, db_session: Session
) -> None:
    sc, w = scenario, scenario.world

    def traced(kind: str, key: str, subject: int) -> tuple[list[str], list[str]]:
        items = trace(db_session, kind, key, subject, PERIOD, now=NOW)
        return (
            sorted(i.number for i in items if i.in_numerator),
            sorted(i.number for i in items),
        )

    missed, base = traced("inspector", "missed_reports", sc.user_id("insp2"))
    assert missed == sc.numbers("c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8")
    assert base == sc.numbers("c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9")
    accurate, dispatched = traced("dispatcher", "accurate_dispatch", sc.user_id("disp2"))
    assert accurate == sc.numbers("c5", "c6")
    assert dispatched == sc.numbers("c5", "c6", "c7")
    on_time, due = traced("department", "on_time_handling", w.department.id)
    assert on_time == sc.numbers("c1")
    assert due == sc.numbers("c1", "c2", "c3", "c4")
    accurate, filed = traced("shift_supervisor", "accurate_filing", sc.user_id("sup2"))
    assert (accurate, filed) == (sc.numbers("c6"), sc.numbers("c6", "c8"))
    # c3 was checked twice: the trace has one line per check.
    checks = trace(db_session, "inspector", "on_time_check", sc.user_id("insp1"), PERIOD, now=NOW)
    assert sorted(i.number for i in checks) == sc.numbers("c1", "c2", "c3", "c3", "c5", "c6")
    assert [i.number for i in checks if not i.in_numerator] == [sc.number("c6")]
    # A count's trace lists what it counted.
    intake, _ = traced("operator", "intake_count", sc.user_id("op2"))
    assert intake == sc.numbers("c12", "c14")


def test_results_read_from_events_are_the_frozen_timer_results(
    scenario: Scenario, db_session: Session
) -> None:
    """The event that ended a stage carries the result frozen on its timer row."""
    ids = [c.id for c in scenario.cases.values()]
    events = db_session.scalars(select(CaseEvent).where(CaseEvent.case_id.in_(ids))).all()
    timers = db_session.scalars(
        select(CaseTimer).where(CaseTimer.case_id.in_(ids), CaseTimer.state == "met")
    ).all()
    by_end = {(t.case_id, t.stage, t.ended_at): t.result for t in timers}
    recorded = 0
    for ev in events:
        for stage, result in ((ev.data or {}).get("timers", {}).get("ended", {})).items():
            if result == "cancelled":
                continue
            assert by_end[(ev.case_id, stage, ev.at)] == result
            recorded += 1
    assert recorded == len(timers) > 40


def test_scope_limits_the_figures_to_the_viewers_cases(
    scenario: Scenario, db_session: Session
) -> None:
    sc, w = scenario, scenario.world
    home = make_user(
        db_session, "ins-lead-a", "leader", scope_kind="district", scope_code=w.grid.district
    )
    result = evaluate(db_session, PERIOD, now=NOW, scope=scope_clause(db_session, home))
    # c13 lies in another district: gone from op1's intake, insp1's missed and sup1's filing.
    assert figures(result, "operator", sc.user_id("op1"))["intake_count"] == (8, 8)
    assert figures(result, "inspector", sc.user_id("insp1"))["missed_reports"] == (8, 8)
    assert figures(result, "shift_supervisor", sc.user_id("sup1"))["on_time_filing"] == (7, 7)

    far = make_user(
        db_session, "ins-lead-b", "leader", scope_kind="district", scope_code=w.far_grid.district
    )
    result = evaluate(db_session, PERIOD, now=NOW, scope=scope_clause(db_session, far))
    assert w.department.id not in subjects(result, "department")
    assert sc.user_id("insp2") not in subjects(result, "inspector")
    assert figures(result, "operator", sc.user_id("op1"))["intake_count"] == (1, 1)
    assert figures(result, "shift_supervisor", sc.user_id("sup1"))["on_time_filing"] == (1, 1)
    assert subjects(result, "dispatcher") == set()  # c13 was never dispatched


def test_a_city_wide_viewer_gets_the_unscoped_evaluation(
    scenario: Scenario, db_session: Session
) -> None:
    """A city-wide scope is ``true()``: it must mean "no scope" (the same figures), not a
    written-out filter that changes the query's joins (and its plan: 1.7 s became 20 s)."""
    leader = make_user(db_session, "ins-lead-city", "leader")
    scope = scope_clause(db_session, leader)
    assert context(db_session, PERIOD, NOW, scope).scope is None
    city = evaluate(db_session, PERIOD, now=NOW, scope=scope)
    unscoped = evaluate(db_session, PERIOD, now=NOW)
    for kind in ("operator", "inspector", "shift_supervisor", "dispatcher", "department"):
        assert subjects(city, kind) == subjects(unscoped, kind)
        for subject in subjects(city, kind):
            assert figures(city, kind, subject) == figures(unscoped, kind, subject)


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        ("100", "A"),
        ("90.00", "A"),
        ("89.99", "B"),
        ("75.00", "B"),
        ("74.99", "C"),
        ("60.00", "C"),
        ("59.99", "D"),
        ("40.00", "D"),
        ("39.99", "E"),
        ("0", "E"),
    ],
)
def test_grades_at_the_band_edges(score: str, grade: str) -> None:
    settings = Settings(DEFAULT_WEIGHTS, DEFAULT_GRADES)
    assert settings.grade_of(Decimal(score)) == grade


def test_scores_are_rounded_before_grading() -> None:
    settings = Settings(DEFAULT_WEIGHTS, DEFAULT_GRADES)
    assert round_score(Fraction(89995, 1000)) == Decimal("90.00")
    assert settings.grade_of(round_score(Fraction(89995, 1000))) == "A"
    assert settings.grade_of(round_score(Fraction(89994, 1000))) == "B"
    assert round_score(Fraction(9, 10) * 100) == Decimal("90.00")  # no float 89.999…


def test_edited_weights_and_bands_change_scores_and_grades(
    scenario: Scenario, db_session: Session
) -> None:
    d2 = scenario.world.other_department.id
    save_weights(
        db_session,
        "department",
        {"filed_count": "40", "closure_rate": "20", "on_time_handling": "20", "rework": "20"},
        None,
    )
    # D2: (40×25 + 20×100 + 20×100 + 20×100) / 100 = 70 exactly: on C's edge once C starts at 70.
    save_grades(db_session, {"A": "90", "B": "80", "C": "70", "D": "50"}, None)
    result = evaluate(db_session, PERIOD, now=NOW)
    assert score_and_grade(result, "department", d2) == ("70.00", "C")
    save_grades(db_session, {"A": "90", "B": "80", "C": "70.01", "D": "50"}, None)
    result = evaluate(db_session, PERIOD, now=NOW)
    assert score_and_grade(result, "department", d2) == ("70.00", "D")
    stored = load_settings(db_session)
    assert stored.weights["department"]["filed_count"] == Decimal("40.00")
    assert stored.grades["C"] == Decimal("70.01")


@pytest.mark.parametrize(
    ("kind", "raw", "field"),
    [
        (
            "department",
            {"filed_count": "10", "closure_rate": "30", "on_time_handling": "30"},
            "rework",
        ),
        (
            "department",
            {"filed_count": "11", "closure_rate": "30", "on_time_handling": "30", "rework": "30"},
            "department",
        ),
        (
            "dispatcher",
            {"dispatch_count": "-10", "on_time_dispatch": "60", "accurate_dispatch": "50"},
            "dispatch_count",
        ),
        (
            "dispatcher",
            {"dispatch_count": "x", "on_time_dispatch": "60", "accurate_dispatch": "40"},
            "dispatch_count",
        ),
        (
            "dispatcher",
            {
                "dispatch_count": "20",
                "on_time_dispatch": "40",
                "accurate_dispatch": "40",
                "speed": "0",
            },
            "speed",
        ),
        ("nobody", {}, "kind"),
    ],
)
def test_weights_that_do_not_add_up_are_refused(
    db_session: Session, kind: str, raw: dict[str, str], field: str
) -> None:
    before = load_settings(db_session)
    with pytest.raises(InvalidInput) as refused:
        save_weights(db_session, kind, raw, None)
    assert field in refused.value.fields
    assert load_settings(db_session) == before


@pytest.mark.parametrize(
    "raw",
    [
        {"A": "90", "B": "90", "C": "60", "D": "40"},
        {"A": "90", "B": "75", "C": "80", "D": "40"},
        {"A": "101", "B": "75", "C": "60", "D": "40"},
        {"A": "90", "B": "75", "C": "60", "D": "0"},
        {"A": "90", "B": "75", "C": "60"},
    ],
)
def test_grade_bands_must_fall_strictly(db_session: Session, raw: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        save_grades(db_session, raw, None)


# ---------------------------------------------------------------------------- pages
def test_the_page_shows_figures_that_link_to_their_cases(
    scenario: Scenario, client: FlaskClient, db_session: Session
) -> None:
    leader = make_user(db_session, "ins-page-leader", "leader")
    log_in(client, leader)
    query = "from=2026-03-02&to=2026-03-06&lang=en"
    html = client.get(f"/insight/evaluation?{query}").get_data(as_text=True)
    assert "Accurate dispatch rate" in html and "How these figures are counted" in html
    disp2 = scenario.user_id("disp2")
    link = (
        f"/insight/evaluation/trace?kind=dispatcher&amp;factor=accurate_dispatch&amp;"
        f"subject={disp2}&amp;from=2026-03-02&amp;to=2026-03-06"
    )
    assert link in html
    page = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    for name in ("c5", "c6", "c7"):
        assert f"/cases/{scenario.number(name)}" in page
    assert 'id="trace-numerator">2<' in page and 'id="trace-denominator">3<' in page


def test_csv_export_has_one_row_per_subject_and_factor(
    scenario: Scenario, client: FlaskClient, db_session: Session
) -> None:
    log_in(client, make_user(db_session, "ins-csv-sup", "shift_supervisor"))
    res = client.get("/insight/evaluation.csv?from=2026-03-02&to=2026-03-06")
    assert res.status_code == 200 and res.mimetype == "text/csv"
    assert "evaluation_2026-03-02_2026-03-06.csv" in res.headers["Content-Disposition"]
    lines = res.get_data(as_text=True).lstrip("\ufeff").splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    disp2 = [r for r in rows if r["subject_id"] == str(scenario.user_id("disp2"))]
    assert [(r["factor"], r["numerator"], r["denominator"]) for r in disp2] == [
        ("dispatch_count", "3", "6"),
        ("on_time_dispatch", "3", "3"),
        ("accurate_dispatch", "2", "3"),
    ]
    assert {r["score"] for r in disp2} == {"76.67"} and {r["grade"] for r in disp2} == {"B"}


@pytest.mark.parametrize("role", ["operator", "inspector", "dispatcher", "grid_officer"])
def test_other_roles_cannot_open_the_evaluation(
    client: FlaskClient, db_session: Session, role: str
) -> None:
    log_in(client, make_user(db_session, f"ins-no-{role}", role))
    assert client.get("/insight/evaluation").status_code == 403
    assert client.get("/insight/evaluation.csv").status_code == 403
    assert client.get("/insight/settings").status_code == 403


def test_administrators_edit_weights_on_the_page(client: FlaskClient, db_session: Session) -> None:
    admin = make_user(db_session, "ins-admin", "admin")
    log_in(client, admin)
    page = client.get("/insight/settings?lang=en")
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert token is not None
    form = {
        "csrf_token": token.group(1),
        "form": "weights",
        "kind": "dispatcher",
        "weight_dispatch_count": "10",
        "weight_on_time_dispatch": "45",
        "weight_accurate_dispatch": "45",
    }
    res = client.post("/insight/settings", data=form)
    assert res.status_code == 302
    assert load_settings(db_session).weights["dispatcher"]["dispatch_count"] == Decimal(10)
    res = client.post("/insight/settings", data={**form, "weight_dispatch_count": "20"})
    assert res.status_code == 302
    assert load_settings(db_session).weights["dispatcher"]["dispatch_count"] == Decimal(10)
    shown = client.get("/insight/settings?lang=en").get_data(as_text=True)
    assert "add up to 110" in shown
    supervisor = make_user(db_session, "ins-sup-edit", "shift_supervisor")
    log_in(client, supervisor)
    assert client.post("/insight/settings", data=form).status_code == 403


def test_cli_sets_and_shows_weights_and_grades(app: Flask, runner, db_session: Session) -> None:  # type: ignore[no-untyped-def]
    res = runner.invoke(
        args=["insight", "set-weights", "operator", "intake_count=30", "valid_intake=30",
              "on_time_callback=40"]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(args=["insight", "set-grades", "A=95", "B=80", "C=65", "D=45"])
    assert res.exit_code == 0, res.output
    shown = runner.invoke(args=["insight", "weights"]).output
    assert "operator: intake_count=30 valid_intake=30 on_time_callback=40" in shown
    assert "A>=95 B>=80 C>=65 D>=45" in shown
    bad = runner.invoke(args=["insight", "set-weights", "operator", "intake_count=30"])
    assert bad.exit_code != 0 and "missing" in bad.output
