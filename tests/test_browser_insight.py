"""The supervisor's dashboard, wall screen and evaluation in a real headless Chromium: the charts
draw (a canvas each), the wall screen refreshes its figures without reloading, and a figure of
the evaluation leads to the cases it counted and on to a case's page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import delete, select

from core.db import database
from tests.browser import live_server, log_in_page
from tests.conftest import make_test_app

pytestmark = pytest.mark.browser

LEADER = "insight-browser-leader"
PREFIX = "insb"
WEEK = "from=2026-03-02&to=2026-03-06"
CHARTS = ("intake", "status", "district", "department", "categories", "grids")


@pytest.fixture(scope="module")
def insight_app(app: Flask, database_url: str) -> Iterator[Flask]:
    """An app on the test database that dispatches by hand only (the cases stay as set up)."""
    local = make_test_app(database_url, AUTO_DISPATCH=False)
    yield local
    database(local).engine.dispose()


@pytest.fixture(scope="module")
def base_url(insight_app: Flask) -> Iterator[str]:
    with live_server(insight_app) as url:
        yield url


@dataclass
class Week:
    """What the browser looks for: disp2's dispatches (c7 was returned) and their numbers."""

    disp2_id: int
    accurate: list[str]
    dispatched: list[str]


@pytest.fixture(scope="module")
def week(insight_app: Flask) -> Iterator[Week]:
    """The scenario week committed (fresh catalogue rows, so nothing seeded is touched) and a
    city-wide leader; all of it deleted afterwards."""
    from dispatch.models import (
        Case,
        CaseCounter,
        Category,
        Department,
        FilingCondition,
        RoutingRule,
        User,
    )
    from tests.factories import make_user
    from tests.insight_scenario import build_scenario

    with insight_app.app_context(), database(insight_app).new_session() as sess:
        counter = sess.get(CaseCounter, "20260302")
        assert counter is None, "another test left cases on 2 March 2026"
        sc = build_scenario(
            sess, prefix=PREFIX, code="99961", other_code="99962", fresh_catalogue=True
        )
        make_user(sess, LEADER, "leader")
        sess.commit()
        made = Week(sc.user_id("disp2"), sc.numbers("c5", "c6"), sc.numbers("c5", "c6", "c7"))
        case_ids = [c.id for c in sc.cases.values()]
        category_ids = [sc.world.category.id, sc.world.other_category.id]
        department_ids = [sc.world.department.id, sc.world.other_department.id]
    yield made
    with insight_app.app_context(), database(insight_app).new_session() as sess:
        sess.execute(delete(Case).where(Case.duplicate_of_id.in_(case_ids)))
        sess.execute(delete(Case).where(Case.id.in_(case_ids)))
        sess.execute(delete(FilingCondition).where(FilingCondition.category_id.in_(category_ids)))
        sess.execute(delete(RoutingRule).where(RoutingRule.category_id.in_(category_ids)))
        sess.execute(delete(Category).where(Category.id.in_(category_ids)))
        users = select(User.id).where(User.username.like(f"{PREFIX}-%") | (User.username == LEADER))
        sess.execute(delete(User).where(User.id.in_(users)))
        sess.execute(delete(Department).where(Department.id.in_(department_ids)))
        sess.execute(delete(CaseCounter).where(CaseCounter.day == "20260302"))
        sess.commit()


def new_page(browser):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


def test_dashboard_draws_its_charts_and_the_wall_screen_refreshes_itself(
    browser, base_url: str, week: Week
) -> None:
    page, errors = new_page(browser)
    log_in_page(page, base_url, LEADER, f"/insight?{WEEK}&lang=en")
    for name in CHARTS:
        page.wait_for_selector(f"#chart-{name} canvas", timeout=10_000)
    assert page.locator('[data-kpi="intake"]').first.inner_text() == "14"
    assert page.locator('[data-kpi="on_time_rate"]').first.inner_text() == "37.5%"

    page.click("#wall-link")
    page.wait_for_url("**/insight?wall=1*")
    assert page.locator("body.wall").count() == 1
    assert page.locator(".topbar").count() == 0
    for name in CHARTS:
        page.wait_for_selector(f"#chart-{name} canvas", timeout=10_000)

    # A short refresh: the figures come again from the API while the page stays loaded.
    page.goto(f"{base_url}/insight?wall=1&{WEEK}&refresh=5&lang=en")
    page.wait_for_selector("#chart-intake canvas")
    page.evaluate("window.__stillTheSamePage = true")
    page.wait_for_selector('body[data-refreshes="1"]', timeout=20_000)
    assert page.evaluate("window.__stillTheSamePage") is True
    assert page.locator('[data-kpi="intake"]').first.inner_text() == "14"
    assert page.locator("#wall-updated").inner_text() != ""
    assert page.locator("#wall-status").inner_text() == ""
    assert errors == []
    page.close()


def test_a_figure_of_the_evaluation_leads_to_its_cases(browser, base_url: str, week: Week) -> None:
    page, errors = new_page(browser)
    log_in_page(page, base_url, LEADER, f"/insight/evaluation?{WEEK}&lang=en")
    cell = page.locator(
        f'table[data-kind="dispatcher"] tr[data-subject="{week.disp2_id}"] '
        'td[data-factor="accurate_dispatch"]'
    )
    assert "66.7%" in cell.inner_text() and "2/3" in cell.inner_text()
    cell.locator("a").click()
    page.wait_for_url("**/insight/evaluation/trace*")
    assert page.locator("#trace-numerator").inner_text() == "2"
    assert page.locator("#trace-denominator").inner_text() == "3"
    listed = page.locator("#trace-items tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.number, r.dataset.numerator])"
    )
    assert sorted(n for n, _ in listed) == week.dispatched
    assert sorted(n for n, hit in listed if hit == "1") == week.accurate
    returned = next(n for n in week.dispatched if n not in week.accurate)
    page.click(f"#trace-items a:text('{returned}')")
    page.wait_for_url(f"**/cases/{returned}*")
    assert returned in page.locator("h1").first.inner_text()
    assert errors == []
    page.close()
