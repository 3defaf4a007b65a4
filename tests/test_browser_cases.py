"""The case pages in a real headless Chromium: file a case through its form, dispatch from the
queue (and meet a conflict), place an unplaced case by clicking the map."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest
import shapely
from flask import Flask
from sqlalchemy import select

from core.db import database
from dispatch import pages
from tests.browser import case_counters, delete_committed, live_server, log_in_page
from tests.conftest import make_test_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def pages_app(app: Flask, database_url: str) -> Iterator[Flask]:
    """An app on the test database that dispatches by hand only (filed cases wait in the
    dispatcher's queue), with the case pages registered."""
    local = make_test_app(database_url, AUTO_DISPATCH=False)
    if pages.bp.name not in local.blueprints:  # registered by dispatch.init_app already
        local.register_blueprint(pages.bp)
    yield local
    database(local).engine.dispose()


@pytest.fixture(scope="module")
def base_url(pages_app: Flask) -> Iterator[str]:
    with live_server(pages_app) as url:
        yield url


@dataclass
class World:
    """The committed users and cases the browser works on."""

    category_id: int
    condition_id: int
    to_file: str
    to_dispatch: str
    taken_meanwhile: str
    unplaced: str
    officer_id: int
    officer_name: str


SUPERVISOR = "cases-browser-sup"
DISPATCHER = "cases-browser-disp"
OPERATOR = "cases-browser-op"


@pytest.fixture(scope="module")
def world(pages_app: Flask, demo_city) -> Iterator[World]:  # type: ignore[no-untyped-def]
    """Users, a category and four cases, committed; all deleted (and the day's case counter put
    back) afterwards."""
    from core.i18n import SHANGHAI
    from dispatch.access import Actor
    from dispatch.intake import Report, create_case
    from dispatch.models import Case, Category, FilingCondition, User
    from dispatch.models.cases import Source
    from dispatch.models.people import Role
    from dispatch.routing import propose_owner
    from dispatch.workflow import Action, perform
    from grids.models import Officer
    from tests.factories import make_user

    day = datetime.now(SHANGHAI).strftime("%Y%m%d")
    points = [
        max(shapely.get_parts(f.geometry), key=lambda g: g.area).representative_point()
        for f in demo_city.features
        if int(f.level) == 4
    ]
    with pages_app.app_context(), database(pages_app).new_session() as sess:
        counters = case_counters(sess, [day])
        operator = make_user(sess, OPERATOR, "operator")
        make_user(sess, SUPERVISOR, "shift_supervisor")
        make_user(sess, DISPATCHER, "dispatcher")
        category = Category(
            kind="matter",
            code="99902",
            major_code="99",
            major_name="浏览器测试大类",
            name="浏览器测试垃圾",
            keywords="browsertest",
        )
        sess.add(category)
        sess.flush()
        condition = FilingCondition(
            category_id=category.id,
            text="公共场所有垃圾堆放",
            limit_value=4,
            clock_type="working_hours",
            closing_condition="清理干净",
        )
        sess.add(condition)
        sess.flush()
        as_operator = Actor(operator, Role.OPERATOR)
        as_system_supervisor = Actor(
            make_user(sess, "cases-browser-setup", "shift_supervisor"), Role.SHIFT_SUPERVISOR
        )

        def report(point=None) -> Case:  # type: ignore[no-untyped-def]
            case, _created = create_case(
                sess,
                Report(
                    source=Source.HOTLINE,
                    description="人行道上堆满建筑垃圾",
                    address="蒸湘南路 88 号",
                    lng=point.x if point else None,
                    lat=point.y if point else None,
                    reporter_name="李四",
                    reporter_phone="13900001111",
                ),
                as_operator,
            )
            return case

        def to_dispatch(case: Case) -> Case:
            perform(sess, case.id, Action.ACCEPT_REPORT, as_operator)
            perform(
                sess,
                case.id,
                Action.FILE,
                as_system_supervisor,
                data={"category_id": category.id},
            )
            return case

        to_file = report(points[0])
        perform(sess, to_file.id, Action.ACCEPT_REPORT, as_operator)
        queued = to_dispatch(report(points[1]))
        taken = to_dispatch(report(points[2]))
        unplaced = report()  # a caller who only gave an address
        proposal = propose_owner(sess, queued)
        assert proposal is not None and proposal.officer_id is not None
        officer = sess.get(Officer, proposal.officer_id)
        assert officer is not None
        sess.commit()
        case_ids = [to_file.id, queued.id, taken.id, unplaced.id]
        made = World(
            category_id=category.id,
            condition_id=condition.id,
            to_file=to_file.number,
            to_dispatch=queued.number,
            taken_meanwhile=taken.number,
            unplaced=unplaced.number,
            officer_id=officer.id,
            officer_name=officer.name,
        )
    yield made
    with database(pages_app).new_session() as sess:
        names = (OPERATOR, SUPERVISOR, DISPATCHER, "cases-browser-setup")
        delete_committed(
            sess,
            case_ids=case_ids,
            user_ids=sess.scalars(select(User.id).where(User.username.in_(names))),
            category_ids=[made.category_id],
            counters=counters,
        )


def screen_xy(page, map_name: str, lng: float, lat: float) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Where a WGS-84 point is on screen in the Leaflet map ``window[map_name]``."""
    return tuple(
        page.evaluate(
            "([name, lat, lng]) => { const m = window[name];"
            " const p = m.latLngToContainerPoint([lat, lng]);"
            " const r = m.getContainer().getBoundingClientRect();"
            " return [p.x + r.left, p.y + r.top]; }",
            [map_name, lat, lng],
        )
    )


def case_row(pages_app: Flask, number: str):  # type: ignore[no-untyped-def]
    from dispatch.models import Case

    with database(pages_app).new_session() as sess:
        return sess.scalar(select(Case).where(Case.number == number))


def test_shift_supervisor_files_a_case_through_its_form(
    browser, base_url: str, world: World, pages_app: Flask
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in_page(page, base_url, SUPERVISOR, f"/cases/{world.to_file}?lang=en")
    page.wait_for_selector("#case-map[data-loaded='1']", timeout=15_000)
    assert page.get_attribute("#case-state", "data-state") == "to_file"
    assert page.locator("#case-map path.leaflet-interactive").count() >= 1  # the grid outline

    page.click("#btn-file")
    assert page.get_attribute("#btn-file", "aria-expanded") == "true"
    assert page.evaluate("document.activeElement.name") == "category_q"  # focus moves in
    page.keyboard.type("browsertest")
    page.wait_for_selector(
        f"#form-file .category-select option[value='{world.category_id}']", state="attached"
    )
    page.select_option("#form-file .category-select", str(world.category_id))
    page.wait_for_selector(
        f"#form-file .condition-select option[value='{world.condition_id}']", state="attached"
    )
    page.select_option("#form-file .condition-select", str(world.condition_id))
    page.fill("#form-file textarea[name=note]", "核实属实，予以立案")
    with page.expect_navigation():
        page.click("#form-file button.submit")

    page.wait_for_selector("#case-state[data-state='to_dispatch']")
    assert "To dispatch" in page.inner_text("#case-state")
    assert "浏览器测试垃圾" in page.inner_text("#case-category")
    assert "4 working hours" in page.inner_text("#case-condition")
    entry = page.locator("#timeline li[data-action='file']")
    assert entry.count() == 1
    text = entry.inner_text()
    assert "File" in text and "To file → To dispatch" in text and "核实属实，予以立案" in text
    assert SUPERVISOR in text and "Shift supervisor" in text
    assert page.locator("#btn-file").count() == 0  # nothing left to file
    assert case_row(pages_app, world.to_file).state == "to_dispatch"
    assert not errors


def test_dispatcher_dispatches_from_the_queue(
    browser, base_url: str, world: World, pages_app: Flask
) -> None:
    from dispatch.access import SYSTEM
    from dispatch.workflow import Action, perform

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in_page(page, base_url, DISPATCHER, "/dispatch/queue?lang=en")
    row = page.locator(f"#to-dispatch tr[data-number='{world.to_dispatch}']")
    assert world.officer_name in row.inner_text()
    taken = page.locator(f"#to-dispatch tr[data-number='{world.taken_meanwhile}']")
    assert taken.count() == 1

    # Someone else dispatches a case while the page is open: the page says so, and keeps it.
    with pages_app.app_context(), database(pages_app).new_session() as sess:
        perform(sess, case_row(pages_app, world.taken_meanwhile).id, Action.DISPATCH, SYSTEM)
        sess.commit()
    taken.locator("button.dispatch-proposed").click()
    page.wait_for_selector(
        f"#to-dispatch tr[data-number='{world.taken_meanwhile}'] .row-error:not(:empty)"
    )
    assert "changed by someone else" in taken.locator(".row-error").inner_text()

    row.locator("button.dispatch-proposed").click()
    row.wait_for(state="detached")
    assert f"Case {world.to_dispatch} dispatched to {world.officer_name}" in page.inner_text(
        "#queue-status"
    )
    case = case_row(pages_app, world.to_dispatch)
    assert case.state == "to_accept" and case.owner_officer_id == world.officer_id
    assert not errors


def test_dispatcher_places_an_unplaced_case_by_clicking_the_map(
    browser, base_url: str, world: World, pages_app: Flask, demo_city
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in_page(page, base_url, DISPATCHER, "/dispatch/placement?lang=en")
    page.wait_for_selector("#placement-map[data-loaded='140']", timeout=15_000)
    assert page.is_disabled("#placement-confirm")

    page.click(f".placement-case[data-number='{world.unplaced}']")
    assert page.get_attribute(f".placement-case[data-number='{world.unplaced}']", "aria-pressed")
    target = next(f for f in demo_city.features if f.code == demo_city.enclave_code)
    pt = target.geometry.representative_point()
    page.mouse.click(*screen_xy(page, "__placementMap", pt.x, pt.y))
    page.wait_for_selector("#placement-result[data-status='inside']")
    assert page.inner_text("#placement-grid-code") == demo_city.enclave_code

    page.click("#placement-confirm")
    page.wait_for_selector(f"#placement-cases li[data-number='{world.unplaced}']", state="detached")
    assert f"Case {world.unplaced} placed in grid {demo_city.enclave_code}" in page.inner_text(
        "#placement-status"
    )
    case = case_row(pages_app, world.unplaced)
    assert case.placement == "manual" and case.grid_code == demo_city.enclave_code
    assert not errors
