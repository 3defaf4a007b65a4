"""The inspector's phone in a real headless Chromium: a 390 × 844 touch screen, geolocation
granted at a street of the demo city, photos from the "camera" input. Report a case; go offline,
report two, reload the page from the service worker, come back online (the first answer is lost
on the way, so the outbox retries) and find exactly two new cases; complete a verification and a
check (before and after side by side)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import func, select

from core.db import database
from core.i18n import SHANGHAI
from tests.browser import case_counters, delete_committed, live_server, log_in_page
from tests.conftest import make_test_app
from tests.inspector_support import gif as gif_bytes
from tests.inspector_support import jpeg

pytestmark = pytest.mark.browser

PREFIX = "inspb"
INSPECTOR = f"{PREFIX}-phone"
WAIT = 60_000  #: generous: another engineer's suite may load the same two cores


@pytest.fixture(scope="module")
def insp_app(
    app: Flask, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    local = make_test_app(database_url, PHOTO_DIR=str(tmp_path_factory.mktemp("photos")))
    yield local
    database(local).engine.dispose()


@pytest.fixture(scope="module")
def base_url(insp_app: Flask) -> Iterator[str]:
    with live_server(insp_app) as url:
        yield url


@dataclass
class Committed:
    """What the browser works on."""

    lng: float
    lat: float
    category_id: int
    condition_id: int
    verify: str  #: a citizen report waiting for verification in the inspector's district
    check: str  #: an inspector's report (with a photo), fixed by the officer, to check
    inspector_id: int


@pytest.fixture(scope="module")
def world(insp_app: Flask) -> Iterator[Committed]:
    """Users, fresh categories, a case to verify and one to check, committed; everything made
    meanwhile is deleted afterwards and today's case counter put back."""
    from dispatch.inspector import photos as photo_mod
    from dispatch.inspector import services
    from dispatch.inspector.api import photo_url
    from dispatch.models.cases import CaseState
    from tests.factories import make_user
    from tests.workflow_helpers import advance_to, build_world

    day = datetime.now(SHANGHAI).strftime("%Y%m%d")
    with insp_app.test_request_context(), database(insp_app).new_session() as sess:
        counters = case_counters(sess, [day])
        w = build_world(sess, prefix=PREFIX, code="99931", other_code="99932", fresh_catalogue=True)
        phone = make_user(
            sess, INSPECTOR, "inspector", scope_kind="district", scope_code=w.grid.district
        )
        verify = advance_to(sess, w, CaseState.TO_VERIFY)
        photo = photo_mod.process_upload(jpeg(320, 240, color=(180, 30, 30)))
        photo_mod.write_files(photo)
        reported, _ = services.submit_report(
            sess,
            phone,
            services.ReportInput(
                description="窨井盖缺失", lng=w.grid.lng, lat=w.grid.lat, accuracy_m=6
            ),
            [(photo, photo.descriptor(photo_url))],
            services.Thresholds(),
        )
        check = advance_to(sess, w, CaseState.TO_CHECK, case=reported)
        sess.commit()
        made = Committed(
            w.grid.lng,
            w.grid.lat,
            w.category.id,
            w.condition.id,
            verify.number,
            check.number,
            phone.id,
        )
        user_ids = [u.id for u in w.users.values()] + [phone.id]
        category_ids = [w.category.id, w.other_category.id]
        department_ids = [w.department.id, w.other_department.id]
        case_ids = [verify.id, check.id]
    yield made
    with database(insp_app).new_session() as sess:
        delete_committed(
            sess,
            case_ids=case_ids,
            user_ids=user_ids,
            category_ids=category_ids,
            department_ids=department_ids,
            counters=counters,
        )


@pytest.fixture
def phone(browser, world: Committed, base_url: str):  # type: ignore[no-untyped-def]
    """A phone-sized touch browser context at the test's street, logged in as the inspector."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        geolocation={"latitude": world.lat, "longitude": world.lng, "accuracy": 12},
        permissions=["geolocation"],
        locale="zh-CN",
        service_workers="allow",
    )
    context.set_default_timeout(WAIT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in_page(page, base_url, INSPECTOR, "/inspector/report")
    yield context, page, errors
    context.close()


def _cases_by(insp_app: Flask, user_id: int) -> list[tuple[str, str, int]]:
    from dispatch.models import Case

    with database(insp_app).new_session() as sess:
        rows = sess.execute(
            select(Case.number, Case.description, func.json_array_length(Case.attachments))
            .where(Case.reporter_user_id == user_id)
            .order_by(Case.id)
        ).all()
        return [tuple(r) for r in rows]


def _state(insp_app: Flask, number: str) -> str:
    from dispatch.models import Case

    with database(insp_app).new_session() as sess:
        return sess.scalar(select(Case.state).where(Case.number == number))


def _fill_report(page, world: Committed, description: str, photo: bytes) -> None:  # type: ignore[no-untyped-def]
    page.set_input_files(
        "#photos", files=[{"name": "camera.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    expect(page.locator("#previews img")).to_have_count(1)
    page.fill("#category-search", "99931")
    page.select_option("#category", str(world.category_id))
    page.select_option("#condition", str(world.condition_id))
    page.fill("#description", description)
    page.tap("#submit")


def test_report_online_then_offline_and_back(
    phone, world: Committed, insp_app: Flask, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    context, page, errors = phone
    before = _cases_by(insp_app, world.inspector_id)
    # My position (with its accuracy circle) places the pin.
    expect(page.locator("#position")).to_contain_text(f"{world.lat:.6f}")
    expect(page.locator("#map path.leaflet-interactive").first).to_be_attached()
    here = jpeg(gps=(world.lng, world.lat))
    _fill_report(page, world, "路口暴露垃圾一堆", here)
    sent = page.locator("#outbox li[data-status=sent]")
    expect(sent).to_have_count(1)
    after_one = _cases_by(insp_app, world.inspector_id)
    assert len(after_one) == len(before) + 1
    number, description, photos = after_one[-1]
    assert description == "路口暴露垃圾一堆" and photos == 1
    expect(sent.first).to_contain_text(number)

    # The service worker controls the page before the network goes.
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    expect(page.locator("#position")).to_contain_text(f"{world.lat:.6f}")

    context.set_offline(True)
    expect(page.locator("#net.off")).to_be_visible()
    _fill_report(page, world, "离线上报一：乱堆物料", here)
    expect(page.locator("#outbox li[data-status=queued]")).to_have_count(1)
    _fill_report(page, world, "离线上报二：占道经营", here)
    expect(page.locator("#outbox li[data-status=queued]")).to_have_count(2)
    expect(page.locator("#outbox-badge")).to_have_text("2")
    # The page opens again without a network (service worker), the outbox still there.
    page.reload()
    expect(page.locator("#outbox li[data-status=queued]")).to_have_count(2)
    assert len(_cases_by(insp_app, world.inspector_id)) == len(after_one)

    # Back online; the first answer is lost on the way back (the case is made, the phone does
    # not hear it): the outbox sends again with the same key.
    lost: list[str] = []

    def lose_first_answer(route):  # type: ignore[no-untyped-def]
        if not lost:
            response = route.fetch()
            lost.append(str(response.status))
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/v1/inspector/reports", lose_first_answer)
    context.set_offline(False)
    expect(page.locator("#outbox li[data-status=sent]")).to_have_count(3, timeout=90_000)
    assert lost == ["201"]
    after = _cases_by(insp_app, world.inspector_id)
    new = [d for _n, d, _p in after[len(after_one) :]]
    assert sorted(new) == sorted(["离线上报一：乱堆物料", "离线上报二：占道经营"])
    expect(page.locator("#outbox-badge")).to_be_hidden()

    # A photo the centre refuses: the item says why and waits to be removed, never resent.
    _fill_report(page, world, "动图一张", gif_bytes())
    refused = page.locator("#outbox li[data-status=failed]")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("GIF")
    refused.locator("button").tap()
    expect(refused).to_have_count(0)
    assert len(_cases_by(insp_app, world.inspector_id)) == len(after)
    assert errors == []


def test_complete_a_verification_and_a_check(phone, world: Committed, insp_app: Flask) -> None:  # type: ignore[no-untyped-def]
    _context, page, errors = phone
    page.tap("#tab-tasks")
    cards = page.locator("#tasks li.card")
    expect(page.locator(f"#tasks li[data-number='{world.verify}']")).to_be_visible()
    expect(page.locator(f"#tasks li[data-number='{world.check}']")).to_be_visible()
    assert cards.count() >= 2

    page.tap(f"#tasks li[data-number='{world.verify}'] a")
    page.wait_for_url(f"**/inspector/tasks/{world.verify}")
    page.set_input_files(
        "#photos", files=[{"name": "v.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}]
    )
    expect(page.locator("#previews img")).to_have_count(1)
    page.tap("#verdict-true")
    expect(page.locator("#task-done")).to_be_visible()
    assert _state(insp_app, world.verify) == "to_file"

    page.goto(page.url.replace(world.verify, world.check))
    before = page.locator("#compare figure").first
    expect(before.locator("img")).to_have_count(1)  # the report's photo
    page.set_input_files(
        "#photos", files=[{"name": "after.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}]
    )
    # The new photo appears beside the old one.
    expect(page.locator("#compare figure").nth(1).locator("#after-previews img")).to_have_count(1)
    box_before = before.bounding_box()
    box_after = page.locator("#compare figure").nth(1).bounding_box()
    assert box_before and box_after and box_after["x"] > box_before["x"]
    assert abs(box_after["y"] - box_before["y"]) < 2
    page.tap("#verdict-pass")
    expect(page.locator("#task-done")).to_be_visible()
    assert _state(insp_app, world.check) == "to_close"

    # My reports (the checked one among them) and my figures for the month.
    page.tap("#tab-mine")
    expect(page.locator(f"#reports li[data-number='{world.check}']")).to_contain_text("待结案")
    expect(page.locator("#figures dd")).to_have_count(3)
    expect(page.locator("#figures dd[data-key=on_time_check]")).to_contain_text("(1/1)")
    page.tap("#period-last")  # nothing of mine last month
    expect(page.locator("#period-last[aria-pressed=true]")).to_be_visible()
    expect(page.locator("#figures dd[data-key=on_time_check]")).to_have_text("—")
    assert errors == []
