"""The 12345 desk in a real headless Chromium, driven from the keyboard: log a call (caller
history, category suggestion, a place from the gazetteer), place a call by a map click and by
typed GCJ-02 coordinates, attach a call to a duplicate, answer a consultation at intake, work
the callback queue, and see an incoming call announced by the telephony system pop up."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest
import requests
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import delete, select

from core.db import database
from core.i18n import SHANGHAI
from tests.browser import live_server, log_in_page, restore_counters

pytestmark = pytest.mark.browser

PREFIX = "hlb"
OPERATOR = f"{PREFIX}-operator"
WAIT = 30_000  # ms: a loaded 2-core machine runs other suites beside this one


@pytest.fixture(scope="module")
def desk_app(app: Flask, database_url: str) -> Iterator[Flask]:
    from tests.conftest import make_test_app

    local = make_test_app(database_url, AUTO_DISPATCH=False)
    yield local
    database(local).engine.dispose()


@pytest.fixture(scope="module")
def base_url(desk_app: Flask) -> Iterator[str]:
    with live_server(desk_app) as url:
        yield url


@dataclass
class Desk:
    """The committed world the browser works on."""

    token: str  #: an API token of the telephony system (an operator account)
    landmark: str  #: a gazetteer landmark and the community grid it lies in
    landmark_grid: str
    open_case: str  #: an open case at grid A's point (a duplicate to attach to)
    grid_lng: float
    grid_lat: float
    grid_name: str
    closed_case: str  #: closed, two callers waiting for their callback
    second_closed: str  #: closed, one caller waiting (the supervisor's reveal)
    repeat_phone: str  #: the number of the open case's caller


@pytest.fixture(scope="module")
def desk(desk_app: Flask) -> Iterator[Desk]:
    """Users, the demo gazetteer, demo answers, an open and a closed case, committed; all of it
    (and whatever the browser created) removed afterwards, the day's counters put back."""
    from dispatch.auth import issue_token
    from dispatch.models import (
        Case,
        CaseCounter,
        Category,
        Department,
        FilingCondition,
        Notification,
        User,
    )
    from dispatch.models.cases import CaseState
    from grids import services as grid_services
    from grids.models import Grid
    from hotline import gazetteer, knowledge
    from hotline.models import (
        CallbackRecord,
        GazetteerEntry,
        HotlineCall,
        HotlineCounter,
        IncomingCall,
        KnowledgeEntry,
        PhoneReveal,
    )
    from tests.workflow_helpers import act, advance_to, build_world, new_case

    day = datetime.now(SHANGHAI).strftime("%Y%m%d")
    with desk_app.app_context(), database(desk_app).new_session() as sess:
        case_before = (sess.get(CaseCounter, day) or CaseCounter(last=None)).last
        call_before = (sess.get(HotlineCounter, day) or HotlineCounter(last=None)).last
        had_places = gazetteer.has_entries(sess)
        knowledge_before = set(sess.scalars(select(KnowledgeEntry.id)))
        if not had_places:
            gazetteer.load_demo_gazetteer(sess)
        knowledge.load_demo_entries(sess)
        w = build_world(sess, prefix=PREFIX, code="99941", other_code="99942", fresh_catalogue=True)
        token = issue_token(sess, w.users["operator"], "telephony")
        # A landmark with a name of its own (no namesake elsewhere) and the grid it lies in.
        landmarks = sess.scalars(
            select(GazetteerEntry)
            .where(GazetteerEntry.kind == "landmark")
            .order_by(GazetteerEntry.id)
        ).all()
        names = [e.name for e in landmarks]
        entry = next(e for e in landmarks if names.count(e.name) == 1 and len(e.name) >= 4)
        index = grid_services.locator().index(sess)
        loc = index.locate(entry.lng, entry.lat)
        open_case = new_case(sess, w, phone="13755550000", name="赵先生", description="井盖丢了")
        closed = new_case(sess, w, phone="13811110000", name="甲")
        dup = new_case(sess, w, phone="13822220000", name="乙")
        act(sess, w, dup, "merge", data={"duplicate_of": closed.number})
        advance_to(sess, w, CaseState.CLOSED, case=closed)
        second = advance_to(sess, w, CaseState.CLOSED)
        grid_name = sess.scalar(select(Grid.name).where(Grid.id == w.grid.grid_id))
        sess.commit()
        made = Desk(
            token=token,
            landmark=entry.name,
            landmark_grid=loc.grid_name or "",
            open_case=open_case.number,
            grid_lng=w.grid.lng,
            grid_lat=w.grid.lat,
            grid_name=grid_name,
            closed_case=closed.number,
            second_closed=second.number,
            repeat_phone="13755550000",
        )
        user_ids = [u.id for u in w.users.values()]
        category_ids = [w.category.id, w.other_category.id]
        department_ids = [w.department.id, w.other_department.id]
    yield made
    with database(desk_app).new_session() as sess:
        case_ids = set(sess.scalars(select(Case.id).where(Case.reporter_user_id.in_(user_ids))))
        case_ids.update(
            sess.scalars(
                select(HotlineCall.case_id)
                .where(HotlineCall.case_id.is_not(None))
                .where(HotlineCall.operator_user_id.in_(user_ids))
            )
        )
        sess.execute(delete(PhoneReveal).where(PhoneReveal.user_id.in_(user_ids)))
        sess.execute(delete(CallbackRecord).where(CallbackRecord.case_id.in_(case_ids)))
        sess.execute(delete(HotlineCall).where(HotlineCall.operator_user_id.in_(user_ids)))
        sess.execute(delete(IncomingCall).where(IncomingCall.announced_by_id.in_(user_ids)))
        sess.execute(delete(Notification).where(Notification.case_id.in_(case_ids)))
        for case_id in sorted(case_ids, reverse=True):
            case = sess.get(Case, case_id)
            if case is not None:
                sess.delete(case)
        sess.flush()
        sess.execute(delete(KnowledgeEntry).where(KnowledgeEntry.id.not_in(knowledge_before)))
        if not had_places:
            sess.execute(delete(GazetteerEntry).where(GazetteerEntry.source == "demo"))
        sess.execute(delete(GazetteerEntry).where(GazetteerEntry.source == f"import:{PREFIX}.csv"))
        for user_id in user_ids:
            user = sess.get(User, user_id)
            if user is not None:
                sess.delete(user)
        sess.flush()
        sess.execute(delete(FilingCondition).where(FilingCondition.category_id.in_(category_ids)))
        sess.execute(delete(Category).where(Category.id.in_(category_ids)))
        sess.execute(delete(Department).where(Department.id.in_(department_ids)))
        restore_counters(sess, CaseCounter, {day: case_before})
        restore_counters(sess, HotlineCounter, {day: call_before})
        sess.commit()


@pytest.fixture(scope="module")
def operator(browser, base_url: str, desk: Desk):  # type: ignore[no-untyped-def]
    """A browser context logged in once as the operator (login is throttled per user name)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT)
    log_in_page(page, base_url, OPERATOR, "/hotline/?lang=en")
    page.close()
    yield context
    context.close()


def open_desk(operator, base_url: str, path: str = "/hotline/?lang=en"):  # type: ignore[no-untyped-def]
    page = operator.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(WAIT)
    page.goto(f"{base_url}{path}")
    return page, errors


def call_row(desk_app: Flask, told: str):  # type: ignore[no-untyped-def]
    from dispatch.models import Case

    with database(desk_app).new_session() as sess:
        case = sess.scalar(select(Case).where(Case.number == told))
        assert case is not None
        return case, [(c.name, c.phone) for c in case.callers]


def test_log_a_call_from_the_keyboard_alone(
    operator, base_url: str, desk: Desk, desk_app: Flask
) -> None:
    page, errors = open_desk(operator, base_url)
    kb = page.keyboard
    expect(page.locator("#caller-phone")).to_be_focused()
    kb.type(desk.repeat_phone)
    # A repeat caller is recognised: the earlier case appears as the number is typed.
    expect(page.locator(f"#history li[data-number='{desk.open_case}']")).to_be_visible()
    kb.press("Tab")
    kb.type("钱女士")
    kb.press("Enter")  # a stray Enter sends nothing
    kb.press("Tab")  # anonymous: left unticked
    kb.press("Tab")  # request type: complaint (the default)
    kb.press("Tab")  # channel: 12345
    kb.press("Tab")
    expect(page.locator("#description")).to_be_focused()
    description = "学校门口的井盖丢了，很危险"
    kb.type(description)
    expect(page.locator("#call-form")).to_have_attribute("data-suggested-for", description)
    first = page.locator("#categories input[type=radio]").first
    expect(first).to_be_attached()
    expect(page.locator("#categories")).to_contain_text("井盖")
    kb.press("Tab")
    expect(first).to_be_focused()
    kb.press("Space")
    expect(page.locator("#condition-limit")).to_contain_text("Time limit")
    kb.press("Tab")
    expect(page.locator("#condition")).to_be_focused()
    kb.press("Tab")
    expect(page.locator("#place-q")).to_be_focused()
    kb.type(desk.landmark)
    expect(page.locator("#place-q")).to_have_attribute("data-answered", desk.landmark)
    expect(page.locator("#place-list li.active")).to_contain_text(desk.landmark)
    kb.press("Enter")
    expect(page.locator("#grid-name")).to_have_text(desk.landmark_grid)
    expect(page.locator("#grid-info")).to_contain_text("Officer")
    assert page.locator("#result").is_hidden()
    kb.press("Control+Enter")
    told = page.locator("#told-number")
    expect(told).to_have_text(re.compile(r"^\d{13}$"))
    case, callers = call_row(desk_app, told.inner_text())
    assert case.source == "hotline" and case.grid_code is not None
    assert case.category_id is not None and case.address.endswith(desk.landmark)
    assert callers == [("钱女士", desk.repeat_phone)]
    # Esc: a fresh form, focus back on the number.
    kb.press("Escape")
    expect(page.locator("#caller-phone")).to_be_focused()
    expect(page.locator("#result")).to_be_hidden()
    assert errors == []


def test_place_by_map_click_and_by_typed_coordinates(operator, base_url: str, desk: Desk) -> None:
    from grids.crs import CRS, from_wgs84

    page, errors = open_desk(operator, base_url)
    expect(page.locator("#desk-map[data-ready='1']")).to_be_attached()
    box = page.locator("#desk-map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.locator("#coord-lng")).not_to_have_value("")
    expect(page.locator("#grid-info")).to_contain_text("Grid")
    expect(page.locator(".leaflet-marker-icon")).to_have_count(1)
    # Typed AutoNavi (GCJ-02) coordinates of grid A's point land in grid A.
    lng, lat = from_wgs84(desk.grid_lng, desk.grid_lat, CRS.GCJ02)
    page.focus("#coord-lng")
    page.keyboard.press("Control+A")
    page.keyboard.type(f"{lng:.7f}")
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type(f"{lat:.7f}")
    page.keyboard.press("Tab")
    page.select_option("#coord-crs", "gcj02")
    expect(page.locator("#grid-name")).to_have_text(desk.grid_name)
    # Mid-call, one Esc only warns; a second one discards the call.
    page.keyboard.press("Escape")
    expect(page.locator("#form-error")).to_contain_text("Esc again")
    expect(page.locator("#coord-lng")).not_to_have_value("")
    page.keyboard.press("Escape")
    expect(page.locator("#coord-lng")).to_have_value("")
    expect(page.locator("#caller-phone")).to_be_focused()
    assert errors == []


def test_attach_a_call_to_a_duplicate(operator, base_url: str, desk: Desk, desk_app: Flask) -> None:
    page, errors = open_desk(operator, base_url)
    page.keyboard.type("13766660000")
    page.fill("#description", "那个井盖还没盖上")
    page.fill("#coord-lng", f"{desk.grid_lng:.7f}")
    page.fill("#coord-lat", f"{desk.grid_lat:.7f}")
    page.focus("#coord-lat")
    page.keyboard.press("Tab")  # change fires: locate + duplicates
    attach = page.locator(f"#attach-{desk.open_case}")
    expect(attach).to_be_visible()
    attach.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#attach-info")).to_contain_text(desk.open_case)
    expect(page.locator("#submit")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#told-number")).to_have_text(desk.open_case)
    assert page.get_attribute("#result", "data-outcome") == "attached"
    _case, callers = call_row(desk_app, desk.open_case)
    assert ("", "13766660000") in callers and ("赵先生", "13755550000") in callers
    assert errors == []


def test_consultation_answered_and_closed_at_intake(
    operator, base_url: str, desk: Desk, desk_app: Flask
) -> None:
    from hotline.models import HotlineCall

    page, errors = open_desk(operator, base_url)
    page.keyboard.type("13677770000")
    page.focus("#request-type")
    page.select_option("#request-type", "consultation")
    expect(page.locator("#knowledge")).to_be_visible()
    page.focus("#description")
    page.keyboard.type("请问每天几点收垃圾")
    page.focus("#knowledge-q")
    page.keyboard.type("垃圾")
    use = page.locator("#knowledge-list .use-answer").first
    expect(use).to_be_visible()
    use.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#answer")).to_be_focused()
    expect(page.locator("#answer")).not_to_have_value("")
    page.keyboard.press("Control+Enter")
    told = page.locator("#told-number")
    expect(told).to_have_text(re.compile(r"^H\d{13}$"))
    assert page.get_attribute("#result", "data-outcome") == "answered"
    with database(desk_app).new_session() as sess:
        call = sess.scalar(select(HotlineCall).where(HotlineCall.number == told.inner_text()))
        assert call.outcome == "answered" and call.case_id is None and call.answer
    assert errors == []


def test_work_the_callback_queue(operator, base_url: str, desk: Desk, desk_app: Flask) -> None:
    from dispatch.models import Case

    page, errors = open_desk(operator, base_url, "/hotline/callbacks?lang=en")
    row = page.locator(f"tr[data-number='{desk.closed_case}']")
    expect(row.locator(".caller-row")).to_have_count(2)
    expect(row).to_contain_text("13811110000")
    expect(row).to_contain_text("13822220000")
    first, second = row.locator(".caller-row").all()
    first.locator("select").focus()
    first.locator("select").select_option("satisfied")
    first.locator("button.record").focus()
    page.keyboard.press("Enter")
    expect(row.locator(".caller-row").first).to_contain_text("Recorded")
    second = row.locator(".caller-row").nth(1)
    second.locator("select").select_option("dissatisfied")
    second.locator("input").fill("垃圾还没清走")
    second.locator("button.record").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#queue-status")).to_contain_text(f"Case {desk.closed_case} reopened")
    expect(page.locator(f"tr[data-number='{desk.closed_case}']")).to_have_count(0)
    with database(desk_app).new_session() as sess:
        case = sess.scalar(select(Case).where(Case.number == desk.closed_case))
        assert case.state == "to_dispatch"
    assert errors == []


def test_incoming_call_pops_up_with_the_callers_history(
    operator, base_url: str, desk: Desk
) -> None:
    page, errors = open_desk(operator, base_url)
    page.fill("#seat", "A07")
    page.keyboard.press("Tab")  # change: the stream reconnects for seat A07
    expect(page.locator("body[data-stream='open:A07']")).to_be_attached()
    res = requests.post(
        f"{base_url}/api/v1/hotline/incoming",
        json={"phone": desk.repeat_phone, "line": "12345", "seat": "A07"},
        headers={"Authorization": f"Bearer {desk.token}"},
        timeout=30,
    )
    assert res.status_code == 202, res.text
    expect(page.locator("#incoming")).to_contain_text(desk.repeat_phone)
    expect(page.locator("#caller-phone")).to_have_value(desk.repeat_phone)
    expect(page.locator(f"#history li[data-number='{desk.open_case}']")).to_be_visible()
    # Another seat's call does not disturb this page.
    requests.post(
        f"{base_url}/api/v1/hotline/incoming",
        json={"phone": "13900009999", "seat": "B01"},
        headers={"Authorization": f"Bearer {desk.token}"},
        timeout=30,
    )
    # Unauthenticated announcements are refused.
    anonymous = requests.post(
        f"{base_url}/api/v1/hotline/incoming", json={"phone": "1"}, timeout=30
    )
    assert anonymous.status_code == 401
    expect(page.locator("#incoming")).to_contain_text(desk.repeat_phone)
    assert errors == []


def _logged_in(browser, base_url: str, username: str, path: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in_page(page, base_url, username, path)
    return context, page, errors


def test_a_supervisor_sees_masked_numbers_and_reveals_one(
    browser, base_url: str, desk: Desk, desk_app: Flask
) -> None:
    from hotline.models import PhoneReveal

    context, page, errors = _logged_in(
        browser, base_url, f"{PREFIX}-shift_supervisor", "/hotline/callbacks?lang=en"
    )
    row = page.locator(f"tr[data-number='{desk.second_closed}']")
    expect(row.locator(".caller-phone")).to_have_text("138****5678")
    assert row.locator("button.record").count() == 0, "supervisors do not record callbacks"
    row.locator("button.reveal").focus()
    page.keyboard.press("Enter")
    expect(row.locator(".caller-phone")).to_have_text("13812345678")
    with database(desk_app).new_session() as sess:
        logged = sess.scalars(select(PhoneReveal).order_by(PhoneReveal.id.desc())).first()
        assert logged.role == "shift_supervisor" and logged.reason == "callback queue"

    # The case page follows the same policy: masked, and revealed on request (logged).
    page.goto(f"{base_url}/cases/{desk.second_closed}?lang=en")
    expect(page.locator("#reporter-phone")).to_have_text("138****5678")
    page.locator("#case-reporter button.reveal-phone").click()
    expect(page.locator("#reporter-phone")).to_have_text("13812345678")
    expect(page.locator("#case-reporter button.reveal-phone")).to_have_count(0)
    with database(desk_app).new_session() as sess:
        logged = sess.scalars(select(PhoneReveal).order_by(PhoneReveal.id.desc())).first()
        assert logged.role == "shift_supervisor" and logged.reason == "case page"
    assert errors == []
    context.close()


def test_admin_manages_answers_and_imports_places(
    browser, base_url: str, desk: Desk, tmp_path
) -> None:
    context, page, errors = _logged_in(
        browser, base_url, f"{PREFIX}-admin", "/hotline/admin?lang=en"
    )
    page.fill("#kb-title-in", "测试停车收费标准")
    page.fill("#kb-answer", "路内停车首小时2元。")
    page.fill("#kb-keywords", "停车 收费")
    page.click("#kb-save")
    expect(page.locator("#kb-list")).to_contain_text("测试停车收费标准")
    csv_path = tmp_path / f"{PREFIX}.csv"
    csv_path.write_text(
        f"name,kind,lng,lat,parent\n测试导入广场,landmark,{desk.grid_lng},{desk.grid_lat},测试区\n",
        encoding="utf-8",
    )
    page.set_input_files("#gz-file", str(csv_path))
    page.click("#gz-form button[type=submit]")
    expect(page.locator("#admin-status")).to_contain_text("1 added")
    # The operator finds the new answer and the new place at once.
    res = requests.get(
        f"{base_url}/api/v1/hotline/gazetteer",
        params={"q": "测试导入广场"},
        headers={"Authorization": f"Bearer {desk.token}"},
        timeout=30,
    )
    assert [p["name"] for p in res.json()["places"]] == ["测试导入广场"]
    res = requests.get(
        f"{base_url}/api/v1/hotline/knowledge",
        params={"q": "停车"},
        headers={"Authorization": f"Bearer {desk.token}"},
        timeout=30,
    )
    assert "测试停车收费标准" in [e["title"] for e in res.json()["entries"]]
    assert errors == []
    context.close()
