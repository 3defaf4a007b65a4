"""Urging, the inbox and the callback in a real headless Chromium: a supervisor urges a case from
its page, the officer sees the count in the header, opens the inbox and follows the link to the
case, and an operator records a satisfied citizen on a closed case."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest
import shapely
from flask import Flask
from sqlalchemy import func, select

from core.db import database
from tests.browser import case_counters, delete_committed, live_server, log_in_page
from tests.conftest import make_test_app

pytestmark = pytest.mark.browser

SUPERVISOR = "sla-browser-sup"
OFFICER = "sla-browser-officer"
OPERATOR = "sla-browser-op"
INSPECTOR = "sla-browser-insp"
USERS = (SUPERVISOR, OFFICER, OPERATOR, INSPECTOR)


@pytest.fixture(scope="module")
def sla_app(app: Flask, database_url: str) -> Iterator[Flask]:
    """An app on the test database that dispatches by hand only (the cases stay as set up)."""
    local = make_test_app(database_url, AUTO_DISPATCH=False)
    yield local
    database(local).engine.dispose()


@pytest.fixture(scope="module")
def base_url(sla_app: Flask) -> Iterator[str]:
    with live_server(sla_app) as url:
        yield url


@dataclass
class World:
    """The committed users and cases the browser works on."""

    in_progress: str  #: owned by OFFICER, being handled
    urged_by_setup: str  #: owned by OFFICER, urged once by the supervisor before the test
    closed: str  #: closed, its caller waits for the callback
    officer_user_id: int
    supervisor_user_id: int


@pytest.fixture(scope="module")
def world(sla_app: Flask, demo_city) -> Iterator[World]:  # type: ignore[no-untyped-def]
    """Users, a category and three cases, committed; all deleted (and the day's case counter put
    back) afterwards. Deleting the users and cases deletes their notifications too."""
    from core.i18n import SHANGHAI
    from dispatch.access import SYSTEM, Actor
    from dispatch.intake import Report, create_case
    from dispatch.models import Case, Category, FilingCondition, User
    from dispatch.models.cases import Source
    from dispatch.models.people import Role
    from dispatch.routing import propose_owner
    from dispatch.workflow import Action, perform
    from tests.factories import make_user

    day = datetime.now(SHANGHAI).strftime("%Y%m%d")
    point = next(
        max(shapely.get_parts(f.geometry), key=lambda g: g.area).representative_point()
        for f in demo_city.features
        if int(f.level) == 4
    )
    with sla_app.app_context(), database(sla_app).new_session() as sess:
        counters = case_counters(sess, [day])
        operator = make_user(sess, OPERATOR, "operator")
        supervisor = make_user(sess, SUPERVISOR, "shift_supervisor")
        inspector = make_user(sess, INSPECTOR, "inspector")
        category = Category(
            kind="matter",
            code="99903",
            major_code="99",
            major_name="浏览器测试大类",
            name="浏览器督办测试",
            keywords="slabrowsertest",
        )
        sess.add(category)
        sess.flush()
        sess.add(
            FilingCondition(
                category_id=category.id,
                text="公共场所有垃圾堆放",
                limit_value=4,
                clock_type="working_hours",
            )
        )
        sess.flush()
        as_operator = Actor(operator, Role.OPERATOR)
        as_supervisor = Actor(supervisor, Role.SHIFT_SUPERVISOR)
        officer: User | None = None

        def handled() -> Case:
            """A case dispatched to the grid's primary officer, who accepted it."""
            nonlocal officer
            case, _created = create_case(
                sess,
                Report(
                    source=Source.HOTLINE,
                    description="路口垃圾桶满溢",
                    address="蒸湘南路 99 号",
                    lng=point.x,
                    lat=point.y,
                    reporter_name="王五",
                    reporter_phone="13700002222",
                ),
                as_operator,
            )
            perform(sess, case.id, Action.ACCEPT_REPORT, as_operator)
            perform(sess, case.id, Action.FILE, as_supervisor, data={"category_id": category.id})
            proposal = propose_owner(sess, case)
            assert proposal is not None and proposal.officer_id is not None
            if officer is None:
                officer = make_user(sess, OFFICER, "grid_officer", officer_id=proposal.officer_id)
            perform(sess, case.id, Action.DISPATCH, SYSTEM)
            perform(sess, case.id, Action.ACCEPT, Actor(officer, Role.GRID_OFFICER))
            return case

        in_progress = handled()
        urged = handled()
        perform(sess, urged.id, Action.URGE, as_supervisor, note="今天必须处理完")
        closed = handled()
        assert officer is not None
        perform(sess, closed.id, Action.REPORT_DONE, Actor(officer, Role.GRID_OFFICER))
        perform(sess, closed.id, Action.CHECK_PASS, Actor(inspector, Role.INSPECTOR))
        perform(sess, closed.id, Action.CLOSE, as_supervisor)
        sess.commit()
        case_ids = [in_progress.id, urged.id, closed.id]
        made = World(
            in_progress=in_progress.number,
            urged_by_setup=urged.number,
            closed=closed.number,
            officer_user_id=officer.id,
            supervisor_user_id=supervisor.id,
        )
        category_id = category.id
    yield made
    with database(sla_app).new_session() as sess:
        delete_committed(
            sess,
            case_ids=case_ids,
            user_ids=sess.scalars(select(User.id).where(User.username.in_(USERS))),
            category_ids=[category_id],
            counters=counters,
        )


def case_row(sla_app: Flask, number: str):  # type: ignore[no-untyped-def]
    from dispatch.models import Case

    with database(sla_app).new_session() as sess:
        return sess.scalar(select(Case).where(Case.number == number))


def unread_of(sla_app: Flask, user_id: int) -> int:
    from dispatch.notifications import unread_count

    with database(sla_app).new_session() as sess:
        return unread_count(sess, user_id)


def new_page(browser):  # type: ignore[no-untyped-def]
    """A page in a fresh browser context (own cookies), and the script errors it records."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


def test_a_supervisor_urges_a_case_from_its_page(
    browser, base_url: str, world: World, sla_app: Flask
) -> None:
    page, errors = new_page(browser)
    log_in_page(page, base_url, SUPERVISOR, f"/cases/{world.in_progress}?lang=en")
    assert page.locator("#urge-count").count() == 0
    handle = page.locator("#clocks tr[data-stage='handle'][data-round='1']")
    assert handle.get_attribute("data-state") == "running"
    assert "4 working hours" in handle.inner_text()

    page.click("#btn-urge")
    assert page.get_attribute("#btn-urge", "aria-expanded") == "true"
    assert page.evaluate("document.activeElement.name") == "note"  # the form's only field
    page.fill("#form-urge textarea[name=note]", "群众反映强烈，请于今日办结")
    with page.expect_navigation():
        page.click("#form-urge button.submit")

    assert page.inner_text("#urge-count") == "Urged: 1"
    entry = page.locator("#timeline li[data-action='urge']")
    assert entry.count() == 1
    text = entry.inner_text()
    assert "Urge" in text and "群众反映强烈，请于今日办结" in text and SUPERVISOR in text
    assert case_row(sla_app, world.in_progress).urge_count == 1
    assert not errors


def test_the_officer_sees_the_badge_opens_the_inbox_and_follows_the_link(
    browser, base_url: str, world: World, sla_app: Flask
) -> None:
    from dispatch.access import Actor
    from dispatch.models import Case, User
    from dispatch.models.people import Role
    from dispatch.workflow import Action, perform

    page, errors = new_page(browser)
    log_in_page(page, base_url, OFFICER, "/grids/map?lang=en")
    unread = unread_of(sla_app, world.officer_user_id)
    assert unread >= 1  # at least the urge made before the test
    assert page.inner_text("#inbox-count") == str(unread) and page.is_visible("#inbox-count")

    # Somebody urges another case meanwhile: the header catches up without a reload.
    with sla_app.app_context(), database(sla_app).new_session() as sess:
        supervisor = sess.get(User, world.supervisor_user_id)
        case = sess.scalar(select(Case).where(Case.number == world.in_progress))
        perform(sess, case.id, Action.URGE, Actor(supervisor, Role.SHIFT_SUPERVISOR), note="再催")
        sess.commit()
    page.evaluate("window.__inboxRefresh()")
    page.wait_for_function(f"document.getElementById('inbox-count').textContent === '{unread + 1}'")
    assert page.url.endswith("/grids/map?lang=en")  # still the same page

    page.click("#nav-inbox")
    page.wait_for_url("**/inbox")
    link = f"a[href='/cases/{world.urged_by_setup}']"
    item = page.locator(f"#inbox-items li.notification.unread[data-kind='urged']:has({link})")
    assert item.count() == 1
    assert f"Case {world.urged_by_setup} urged by {SUPERVISOR}" in item.inner_text()
    assert "今天必须处理完" in item.inner_text()
    message_id = int(item.get_attribute("data-id"))

    item.locator("a.case-link").click()
    page.wait_for_url(f"**/cases/{world.urged_by_setup}")
    assert page.inner_text("#case-number") == world.urged_by_setup
    assert page.inner_text("#urge-count") == "Urged: 1"
    # Following the link marked that message read (the header follows on its next refresh).
    page.wait_for_function(
        "n => window.__inboxRefresh().then("
        "() => document.getElementById('nav-inbox').dataset.unread === String(n))",
        arg=unread,
        polling=200,
    )
    from dispatch.models import Notification

    with database(sla_app).new_session() as sess:
        assert sess.get(Notification, message_id).read_at is not None
        left = sess.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == world.officer_user_id, Notification.read_at.is_(None))
        )
    assert left == unread
    assert not errors


def test_an_operator_records_a_satisfied_callback(
    browser, base_url: str, world: World, sla_app: Flask
) -> None:
    page, errors = new_page(browser)
    log_in_page(page, base_url, OPERATOR, f"/cases/{world.closed}?lang=en")
    callback = page.locator("#clocks tr[data-stage='callback'][data-round='1']")
    assert callback.get_attribute("data-state") == "running"

    page.click("#btn-record_callback")
    form = page.locator("#form-record_callback")
    assert "use Reopen instead" in form.inner_text()
    options = form.locator("select[name=satisfaction] option").all_inner_texts()
    assert options[1:] == ["Satisfied", "Basically satisfied"]
    page.select_option("#form-record_callback select[name=satisfaction]", "satisfied")
    page.fill("#form-record_callback textarea[name=note]", "市民表示满意")
    with page.expect_navigation():
        page.click("#form-record_callback button.submit")

    entry = page.locator("#timeline li[data-action='record_callback']")
    assert entry.count() == 1 and "市民表示满意" in entry.inner_text()
    assert "Record callback" in entry.inner_text()
    callback = page.locator("#clocks tr[data-stage='callback'][data-round='1']")
    assert callback.get_attribute("data-state") == "met"
    assert callback.get_attribute("data-result") == "on_time"
    assert "On time" in callback.inner_text()
    case = case_row(sla_app, world.closed)
    assert case.state == "closed"
    from dispatch.models import CaseEvent

    with database(sla_app).new_session() as sess:
        event = sess.scalar(
            select(CaseEvent).where(
                CaseEvent.case_id == case.id, CaseEvent.action == "record_callback"
            )
        )
        assert event is not None and event.data["satisfaction"] == "satisfied"
    assert not errors
