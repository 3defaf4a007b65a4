"""The public look-up page in a real headless Chromium on a phone-sized screen: a citizen types
the case number and check code and reads the progress; a wrong code gets one plain message."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import select

from core.db import database
from dispatch.access import SYSTEM, Actor
from dispatch.intake import Report, create_case
from dispatch.models import Category, User
from dispatch.models.cases import Source
from dispatch.models.people import Role
from dispatch.workflow import Action, perform
from tests.browser import live_server
from tests.conftest import make_test_app
from tests.live_support import LiveWorld, committed_world

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
OPERATOR = "track-browser-op"
SUPERVISOR = "track-browser-sup"


@dataclass
class Tracked:
    number: str
    code: str


@pytest.fixture(scope="module")
def track_app(app: Flask, database_url: str) -> Iterator[Flask]:
    local = make_test_app(database_url, AUTO_DISPATCH=False)
    yield local
    database(local).engine.dispose()


@pytest.fixture(scope="module")
def world(track_app: Flask) -> Iterator[LiveWorld]:
    roles = {OPERATOR: "operator", SUPERVISOR: "shift_supervisor"}
    with committed_world(track_app, **roles) as made:
        yield made


@pytest.fixture(scope="module")
def tracked(track_app: Flask, world: LiveWorld) -> Tracked:
    """A case a caller reported by phone, filed and dispatched (committed)."""
    with track_app.app_context(), database(track_app).new_session() as sess:
        operator = sess.scalar(select(User).where(User.username == OPERATOR))
        supervisor = sess.scalar(select(User).where(User.username == SUPERVISOR))
        assert operator is not None and supervisor is not None
        category_id = sess.scalar(
            select(Category.id).where(
                Category.kind == "matter", Category.code == world.service_code[1:]
            )
        )
        case, _created = create_case(
            sess,
            Report(
                source=Source.HOTLINE,
                description="小区门口垃圾三天没人清",
                address="石鼓区中山北路 12 号",
                lng=world.lng,
                lat=world.lat,
                reporter_name="孙丽",
                reporter_phone="13511112222",
            ),
            Actor(operator, Role.OPERATOR),
        )
        perform(sess, case.id, Action.ACCEPT_REPORT, Actor(operator, Role.OPERATOR))
        perform(
            sess,
            case.id,
            Action.FILE,
            Actor(supervisor, Role.SHIFT_SUPERVISOR),
            data={"category_id": category_id},
        )
        perform(sess, case.id, Action.DISPATCH, SYSTEM)
        sess.commit()
        world.case_ids.append(case.id)
        return Tracked(case.number, case.check_code)


@pytest.fixture(scope="module")
def base_url(track_app: Flask, tracked: Tracked) -> Iterator[str]:
    with live_server(track_app) as url:
        yield url


def test_a_citizen_tracks_a_report_on_a_phone(browser, base_url: str, tracked: Tracked) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base_url}/track")
    assert page.get_attribute("html", "lang") == "zh-Hans"
    assert "办理进度查询" in page.inner_text("h1")
    # Nothing sticks out sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.fill("#track-number", tracked.number)
    page.fill("#track-code", tracked.code.lower())  # people type codes any which way
    with page.expect_navigation():
        page.tap("#track-submit")
    page.wait_for_selector("#track-result")
    assert page.get_attribute("#track-status", "data-phase") == "handling"
    milestones = page.locator("#track-timeline li")
    assert [milestones.nth(i).get_attribute("data-milestone") for i in range(2)] == [
        "received",
        "dispatched",
    ]
    first_time = milestones.nth(0).locator("time")
    assert first_time.get_attribute("datetime").endswith("+08:00")  # type: ignore[union-attr]
    # The office in charge: a department's name or "grid officer of <grid>", never a person.
    assert page.inner_text("#track-office").strip()
    text = page.inner_text("body")
    for secret in ("孙丽", "13511112222", "小区门口垃圾三天没人清"):
        assert secret not in text
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert not errors


def test_a_wrong_code_gets_one_plain_message_in_english_too(
    browser, base_url: str, tracked: Tracked
) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    page.goto(f"{base_url}/track")
    page.click("#lang-switch")
    page.wait_for_selector("html[lang='en']")
    assert "Track your report" in page.inner_text("h1")
    page.fill("#track-number", tracked.number)
    wrong = "ZZZZZZ" if tracked.code != "ZZZZZZ" else "YYYYYY"
    page.fill("#track-code", wrong)
    with page.expect_navigation():
        page.click("#track-submit")
    assert "No case matches" in page.inner_text("#track-error")
    assert page.locator("#track-result").count() == 0
    # The number stays filled in, the code does not: the citizen retypes only the code.
    assert page.input_value("#track-number") == tracked.number
    assert page.input_value("#track-code") == ""
