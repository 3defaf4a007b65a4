"""The supervisor's workspace in a real headless Chromium: filter and sort the overdue list,
urge two cases at once, approve an extension from the approvals queue, open the map and click a
grid, export the list as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import shapely
from flask import Flask
from sqlalchemy import select

from core.db import database
from tests.browser import case_counters, delete_committed, live_server, log_in_page
from tests.conftest import make_test_app
from tests.supervise_support import Plan, at, make_case

pytestmark = pytest.mark.browser

PREFIX = "supb"
SUPERVISOR = f"{PREFIX}-shift_supervisor"
#: The days the committed cases are reported on (their case counters are put back afterwards).
DAYS = ("20260302", "20260303", "20260304")


@pytest.fixture(scope="module")
def sup_app(app: Flask, database_url: str) -> Iterator[Flask]:
    """An app on the test database that dispatches by hand only (the cases stay as set up)."""
    local = make_test_app(database_url, AUTO_DISPATCH=False)
    yield local
    database(local).engine.dispose()


@pytest.fixture(scope="module")
def base_url(sup_app: Flask) -> Iterator[str]:
    with live_server(sup_app) as url:
        yield url


@dataclass
class Committed:
    """The committed cases the browser works on (numbers) and where they are."""

    oldest: str  #: grid A, handling due 2026-03-02 16:30
    middle: str  #: grid C (A's district), the department's, due 2026-03-03 16:30
    newest: str  #: grid B (another district), due 2026-03-04 16:30
    extension: str  #: grid A, an extension request waiting
    home_district: str
    far_district: str
    home_grid: str
    officer_user_id: int
    department_user_id: int


@pytest.fixture(scope="module")
def world(sup_app: Flask) -> Iterator[Committed]:
    """A world of users, fresh categories and departments, and four cases, committed; all deleted
    (and the case counters of their days put back) afterwards."""
    from tests.workflow_helpers import act, build_world

    with sup_app.app_context(), database(sup_app).new_session() as sess:
        counters = case_counters(sess, DAYS)
        w = build_world(sess, prefix=PREFIX, code="99911", other_code="99912", fresh_catalogue=True)
        oldest = make_case(sess, w, Plan(day="2026-03-02"))
        middle = make_case(sess, w, Plan(grid="near", owner="department", day="2026-03-03"))
        newest = make_case(sess, w, Plan(grid="far", day="2026-03-04"))
        extension = make_case(sess, w, Plan(day="2026-03-04"))
        act(
            sess,
            w,
            extension,
            "request_extension",
            "officer",
            note="需要协调市政部门，申请延期",
            now=at("2026-03-04 11:00"),
        )
        sess.commit()
        made = Committed(
            oldest=oldest.number,
            middle=middle.number,
            newest=newest.number,
            extension=extension.number,
            home_district=w.grid.district,
            far_district=w.far_grid.district,
            home_grid=w.grid.code,
            officer_user_id=w.users["officer"].id,
            department_user_id=w.users["department"].id,
        )
        case_ids = [oldest.id, middle.id, newest.id, extension.id]
        category_ids = [w.category.id, w.other_category.id]
        department_ids = [w.department.id, w.other_department.id]
        user_ids = [u.id for u in w.users.values()]
    yield made
    with database(sup_app).new_session() as sess:
        delete_committed(
            sess,
            case_ids=case_ids,
            user_ids=user_ids,
            category_ids=category_ids,
            department_ids=department_ids,
            counters=counters,
        )


def new_page(browser):  # type: ignore[no-untyped-def]
    """A page in a fresh browser context (own cookies), and the script errors it records."""
    page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


def listed(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all(
        "#overdue-table tbody tr", "rows => rows.map(r => r.dataset.number)"
    )


def case_of(sup_app: Flask, number: str):  # type: ignore[no-untyped-def]
    from dispatch.models import Case

    with database(sup_app).new_session() as sess:
        case = sess.scalar(select(Case).where(Case.number == number))
        assert case is not None
        _ = case.requests  # loaded while the session is open
        return case


def test_filter_sort_and_urge_two_cases_at_once(
    browser, base_url: str, world: Committed, sup_app: Flask
) -> None:
    from dispatch.models import Notification

    page, errors = new_page(browser)
    log_in_page(page, base_url, SUPERVISOR, "/supervise/overdue?lang=en")
    ours = {world.oldest, world.middle, world.newest}
    # Most late first; the case waiting for an extension decision has a stopped clock.
    rows = [n for n in listed(page) if n in ours | {world.extension}]
    assert rows == [world.oldest, world.middle, world.newest]
    oldest = page.locator(f"tr[data-number='{world.oldest}']")
    assert "Handling" in oldest.inner_text() and "03-02 16:30" in oldest.inner_text()

    # Filter by district: the other district's case leaves the list.
    page.select_option("#f-district", world.home_district)
    with page.expect_navigation():
        page.click("#filter-apply")
    assert f"district={world.home_district}" in page.url
    assert world.newest not in listed(page)
    assert {world.oldest, world.middle} <= set(listed(page))

    # Sort by case number, then the other way round (the filter stays).
    with page.expect_navigation():
        page.click("th a.sort[data-sort='number']")
    numbers = listed(page)
    assert numbers == sorted(numbers)
    assert page.get_attribute("th:has(a[data-sort='number'])", "aria-sort") == "ascending"
    with page.expect_navigation():
        page.click("th a.sort[data-sort='number']")
    numbers = listed(page)
    assert numbers == sorted(numbers, reverse=True) and world.newest not in numbers
    assert f"district={world.home_district}" in page.url

    # Tick two rows, write one note, urge.
    assert page.is_disabled("#urge-submit")
    for number in (world.oldest, world.middle):
        page.check(f"tr[data-number='{number}'] .pick-row")
    assert page.inner_text("#urge-selected") == "2"
    page.click("#urge-submit")  # no note yet: the page asks for one, nothing is sent
    assert "Write a note" in page.inner_text("#urge-note-error")
    page.fill("#urge-note", "群众反映强烈，请今日办结")
    page.click("#urge-submit")
    for number in (world.oldest, world.middle):
        row = page.locator(f"tr[data-number='{number}']")
        row.locator(".row-result:not(:empty)").wait_for()
        assert "Urged (1 times in all)" in row.locator(".row-result").inner_text()
        assert row.locator(".urge-count").inner_text() == "1"
    assert "2 urged, 0 not urged" in page.inner_text("#urge-status")
    assert page.inner_text("#urge-selected") == "0"

    with database(sup_app).new_session() as sess:
        for number, owner in (
            (world.oldest, world.officer_user_id),
            (world.middle, world.department_user_id),
        ):
            case = case_of(sup_app, number)
            assert case.urge_count == 1
            kinds = sess.scalars(
                select(Notification.kind).where(
                    Notification.case_id == case.id, Notification.user_id == owner
                )
            ).all()
            assert "urged" in kinds
    assert not errors


def test_approve_an_extension_from_the_queue(
    browser, base_url: str, world: Committed, sup_app: Flask
) -> None:
    page, errors = new_page(browser)
    log_in_page(page, base_url, SUPERVISOR, "/supervise/approvals?lang=en")
    row = page.locator(f"#approvals-table tr[data-number='{world.extension}']")
    assert row.get_attribute("data-kind") == "extension"
    text = row.inner_text()
    assert "Extension" in text and "需要协调市政部门" in text
    assert "Paused (extension request waiting)" in text
    before = int(page.inner_text("#approvals-count"))

    row.locator("button.reject").click()  # rejecting needs a note: nothing is sent
    assert "needs a note" in row.locator(".row-error").inner_text()
    row.locator("textarea").fill("同意，请按新时限办结")
    row.locator("button.approve").click()
    row.wait_for(state="detached")
    assert f"Case {world.extension}: Extension request approved." in page.inner_text(
        "#approvals-status"
    )
    assert int(page.inner_text("#approvals-count")) == before - 1
    case = case_of(sup_app, world.extension)
    [request] = case.requests
    assert request.decision == "approved" and request.decision_note == "同意，请按新时限办结"
    assert case.extended_due_at == request.requested_due_at
    assert not errors


def test_open_the_map_and_click_a_grid(
    browser, base_url: str, world: Committed, sup_app: Flask, demo_city
) -> None:
    page, errors = new_page(browser)
    log_in_page(page, base_url, SUPERVISOR, "/supervise/map?lang=en")
    page.wait_for_selector("#supervise-map[data-loaded='140']", timeout=15_000)
    page.wait_for_selector("#supervise-map[data-cases]", timeout=15_000)
    assert int(page.get_attribute("#supervise-map", "data-cases")) >= 4
    assert page.locator("#legend li").count() >= 2  # 0 and at least one class
    assert page.locator(".marker-cluster, path.leaflet-interactive").count() > 0

    # Zoom to grid A and click inside it, away from its cases' markers.
    feature = next(f for f in demo_city.features if f.code == world.home_grid)
    part = max(shapely.get_parts(feature.geometry), key=lambda g: g.area)
    spot = part.difference(part.representative_point().buffer(0.002)).representative_point()
    minx, miny, maxx, maxy = part.bounds
    page.evaluate(
        "b => { window.__superviseMap.fitBounds([[b[1], b[0]], [b[3], b[2]]], {animate: false}); }",
        [minx, miny, maxx, maxy],
    )
    xy = page.evaluate(
        "([lat, lng]) => { const m = window.__superviseMap;"
        " const p = m.latLngToContainerPoint([lat, lng]);"
        " const r = m.getContainer().getBoundingClientRect();"
        " return [p.x + r.left, p.y + r.top]; }",
        [spot.y, spot.x],
    )
    page.mouse.click(*xy)
    page.wait_for_selector("#grid-info[data-loaded='1']")
    assert page.inner_text("#grid-info-code") == world.home_grid
    assert int(page.inner_text("#grid-info-open")) >= 2  # the oldest case, the extension one
    assert int(page.inner_text("#grid-info-overdue")) >= 1
    assert page.locator("#grid-info-officers li").count() >= 1
    link = page.get_attribute("#grid-info-list", "href")
    assert link and f"grid={world.home_grid}" in link

    # Colour by open cases instead: the legend follows.
    page.check("input[name=metric][value=open]")
    assert page.get_attribute("#legend", "data-metric") == "open"

    # Close in on the other district's case (alone in its grid) and click its marker.
    point = case_of(sup_app, world.newest).location
    page.evaluate(
        "([lat, lng]) => { window.__superviseMap.setView([lat, lng], 18, {animate: false}); }",
        [point.y, point.x],
    )
    page.click(f".case-marker[title='{world.newest}']")
    link = page.locator(".leaflet-popup-content a.case-link")
    link.wait_for()
    assert link.get_attribute("href") == f"/cases/{world.newest}"
    assert "Overdue" in page.inner_text(".leaflet-popup-content")
    assert not errors


def test_export_the_list_as_csv(browser, base_url: str, world: Committed) -> None:
    page, errors = new_page(browser)
    log_in_page(page, base_url, SUPERVISOR, "/supervise/overdue?lang=en&sort=number")
    with page.expect_download() as info:
        page.click("#export-csv")
    download = info.value
    assert download.suggested_filename.startswith("overdue-")
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(io.StringIO(f.read())))
    numbers = [r["Case"] for r in rows]
    assert {world.oldest, world.middle, world.newest} <= set(numbers)
    assert numbers == sorted(numbers)  # the list's order
    assert all("13812345678" not in v for r in rows for v in r.values())
    assert not errors
