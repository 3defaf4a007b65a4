"""Case pages through the test client: detail, dispatch queue, placement queue, scope, masking."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import shapely
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from dispatch import pages
from dispatch.access import SYSTEM, Actor
from dispatch.intake import Report, create_case
from dispatch.models import Case, Category, FilingCondition
from dispatch.models.cases import Source
from dispatch.models.people import Role
from dispatch.workflow import Action, perform
from tests.conftest import log_in, make_test_app
from tests.factories import make_user


@pytest.fixture(scope="module")
def app(app: Flask, database_url: str) -> Iterator[Flask]:
    """The session's app once ``dispatch.init_app`` registers the case pages; until then, an app
    on the same database with the blueprint added before its first request."""
    from core.db import database

    if pages.bp.name in app.blueprints:
        yield app
        return
    local = make_test_app(database_url)
    local.register_blueprint(pages.bp)
    yield local
    database(local).engine.dispose()


# ---------------------------------------------------------------------------- helpers
def communities(demo_city) -> list[tuple[str, float, float]]:  # type: ignore[no-untyped-def]
    """(grid code, lng, lat) of a point inside each community grid of the demo city."""
    out = []
    for feature in demo_city.features:
        if int(feature.level) == 4:
            part = max(shapely.get_parts(feature.geometry), key=lambda g: g.area)
            pt = part.representative_point()
            out.append((feature.code, pt.x, pt.y))
    return out


def two_districts(demo_city):  # type: ignore[no-untyped-def]
    """Two community points in one district and one point in another: (a1, a2, b)."""
    points = communities(demo_city)
    a1 = points[0]
    a2 = next(p for p in points[1:] if p[0][:6] == a1[0][:6])
    b = next(p for p in points if p[0][:6] != a1[0][:6])
    return a1, a2, b


def make_category(sess: Session) -> tuple[Category, FilingCondition]:
    """A minor class with one filing condition (the test database has no catalogue)."""
    category = Category(
        kind="matter",
        code="99901",
        major_code="99",
        major_name="测试大类",
        name="测试暴露垃圾",
        keywords="垃圾 rubbish",
    )
    sess.add(category)
    sess.flush()
    condition = FilingCondition(
        category_id=category.id,
        text="主要道路、公共场所有垃圾堆放",
        limit_value=4,
        clock_type="working_hours",
        closing_condition="清理干净",
    )
    sess.add(condition)
    sess.flush()
    return category, condition


class CaseMaker:
    """Creates cases and walks them through the workflow as a city-wide staff member."""

    def __init__(self, app: Flask, sess: Session) -> None:
        self.app = app
        self.sess = sess
        self.staff = make_user(sess, "pages-staff", "operator", "shift_supervisor")
        self.category, self.condition = make_category(sess)

    def __call__(
        self,
        state: str = "reported",
        *,
        at: tuple[float, float] | None = None,
        phone: str = "13812345678",
        when: datetime | None = None,
    ) -> Case:
        when = when or datetime.now(UTC) - timedelta(hours=1)
        report = Report(
            source=Source.HOTLINE,
            description="路边堆放大量垃圾",
            address="解放路 12 号",
            lng=at[0] if at else None,
            lat=at[1] if at else None,
            reporter_name="张三",
            reporter_phone=phone,
        )
        operator = Actor(self.staff, Role.OPERATOR)
        supervisor = Actor(self.staff, Role.SHIFT_SUPERVISOR)
        steps = {
            "reported": [],
            "to_file": [(Action.ACCEPT_REPORT, operator, {})],
            "to_dispatch": [
                (Action.ACCEPT_REPORT, operator, {}),
                (Action.FILE, supervisor, {"category_id": self.category.id}),
            ],
            "to_accept": [
                (Action.ACCEPT_REPORT, operator, {}),
                (Action.FILE, supervisor, {"category_id": self.category.id}),
                (Action.DISPATCH, SYSTEM, {}),
            ],
        }[state]
        with self.app.app_context():
            case, _created = create_case(self.sess, report, operator, now=when)
            for i, (action, actor, data) in enumerate(steps, start=1):
                perform(
                    self.sess, case.id, action, actor, data=data, now=when + timedelta(minutes=i)
                )
        assert case.state == state
        return case


@pytest.fixture
def cases(app: Flask, db_session: Session, monkeypatch: pytest.MonkeyPatch) -> CaseMaker:
    """Cases that stay where the test puts them: no automatic dispatch (as in cities that
    dispatch by hand), so filed cases wait in the dispatcher's queue."""
    monkeypatch.setitem(app.config, "AUTO_DISPATCH", False)
    return CaseMaker(app, db_session)


def user_client(client: FlaskClient, sess: Session, name: str, *roles: str, **kw) -> FlaskClient:  # type: ignore[no-untyped-def]
    return log_in(client, make_user(sess, name, *roles, **kw))


def section(html: str, element_id: str) -> str:
    """The HTML of the element with ``element_id`` up to its closing tag (no nesting of the
    same tag assumed)."""
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}"', html)
    assert match, f"no #{element_id}"
    tag = match.group(1)
    end = html.index(f"</{tag}>", match.end())
    return html[match.start() : end]


# ---------------------------------------------------------------------------- detail page
def test_detail_shows_facts_timeline_and_the_viewers_actions(
    client: FlaskClient, db_session: Session, cases: CaseMaker, demo_city
) -> None:
    code, lng, lat = communities(demo_city)[0]
    case = cases("to_file", at=(lng, lat))
    user_client(client, db_session, "sup", "shift_supervisor")

    html = client.get(f"/cases/{case.number}?lang=en").get_data(as_text=True)

    assert f'<span id="case-number">{case.number}</span>' in html
    badge = section(html, "case-state")
    assert 'data-state="to_file"' in badge and "To file" in badge
    assert code in section(html, "case-grid")
    assert "12345 hotline" in html and "解放路 12 号" in html and "路边堆放大量垃圾" in html
    timeline = section(html, "timeline")
    assert 'data-action="report"' in timeline and 'data-action="accept_report"' in timeline
    assert "Reported → To file" in timeline
    assert "Hotline operator" in timeline and "pages-staff" in timeline
    # Times on screen are Asia/Shanghai (UTC+8).
    created = case.created_at.astimezone(pages.SHANGHAI).strftime("%Y-%m-%d %H:%M")
    assert created in timeline
    # The supervisor's actions on a case to file, as real buttons with their forms.
    for action in ("file", "refuse", "merge", "void"):
        assert f'<button type="button" id="btn-{action}"' in html
        assert f'id="form-{action}"' in html
    assert 'id="btn-dispatch"' not in html and 'id="btn-accept"' not in html
    refuse = section(html, "form-refuse")
    assert "required" in refuse.split('name="note"')[1].split(">")[0]  # refusing needs a reason
    assert f'data-version="{case.version}"' in html
    assert f"/api/v1/cases/{case.number}/actions/ACTION" in html
    assert 'data-grid-url="/api/v1/grids/' + code in html


def test_detail_of_a_filed_case_offers_dispatch_to_the_proposed_officer(
    client: FlaskClient, db_session: Session, cases: CaseMaker, demo_city
) -> None:
    from grids.services import officers_on

    code, lng, lat = communities(demo_city)[0]
    case = cases("to_dispatch", at=(lng, lat))
    user_client(client, db_session, "disp", "dispatcher")

    html = client.get(f"/cases/{case.number}?lang=en").get_data(as_text=True)

    assert 'id="btn-dispatch"' in html and 'id="btn-file"' not in html
    primary = officers_on(db_session, code, pages.today())[0]
    form = section(html, "form-dispatch")
    assert f'data-officer-id="{primary.officer_id}"' in form
    assert primary.officer.name in form and "primary officer on duty in the grid" in form
    assert "测试暴露垃圾" in section(html, "case-category")
    assert "4 working hours" in section(html, "case-condition")
    file_event = section(html, "timeline").split('data-action="file"')[1]
    assert "99901 测试暴露垃圾" in file_event


def test_out_of_scope_and_unknown_cases_are_404(
    client: FlaskClient, db_session: Session, cases: CaseMaker, demo_city
) -> None:
    (_, lng, lat), _, (code_b, _, _) = two_districts(demo_city)
    case = cases("to_dispatch", at=(lng, lat))
    district_b = {"scope_kind": "district", "scope_code": code_b[:6]}
    user_client(client, db_session, "other-district", "dispatcher", **district_b)

    assert client.get(f"/cases/{case.number}").status_code == 404
    assert client.get("/cases/209901010000").status_code == 404


def test_unplaced_cases_belong_to_city_wide_desks(
    client: FlaskClient, db_session: Session, cases: CaseMaker, demo_city
) -> None:
    code, _, _ = communities(demo_city)[0]
    case = cases("reported")
    user_client(
        client, db_session, "district-op", "operator", scope_kind="district", scope_code=code[:6]
    )
    assert client.get(f"/cases/{case.number}").status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client: FlaskClient, cases: CaseMaker) -> None:
    case = cases("reported")
    for path in (f"/cases/{case.number}", "/dispatch/queue", "/dispatch/placement"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
        assert path.split("/")[-1] in response.headers["Location"]


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        ("inspector", "138****5678", "13812345678"),
        ("operator", "13812345678", "138****5678"),
    ],
)
def test_reporter_phone_is_masked_for_roles_that_do_not_need_it(
    client: FlaskClient, db_session: Session, cases: CaseMaker, role: str, shown: str, hidden: str
) -> None:
    case = cases("reported")
    user_client(client, db_session, f"phone-{role}", role)
    html = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert shown in section(html, "reporter-phone")
    assert hidden not in html


def test_unplaced_case_page_offers_placement_on_a_map_of_all_grids(
    client: FlaskClient, db_session: Session, cases: CaseMaker
) -> None:
    case = cases("to_file")
    user_client(client, db_session, "placer", "dispatcher")
    html = client.get(f"/cases/{case.number}?lang=en").get_data(as_text=True)
    assert 'id="btn-place"' in html and 'class="place-lng"' in html
    assert "/api/v1/grids?level=4&amp;simplify=1" in html
    assert "Awaiting placement" in section(html, "case-grid")


# ---------------------------------------------------------------------------- dispatch queue
def test_queue_lists_cases_to_dispatch_in_scope_oldest_first(
    client: FlaskClient, db_session: Session, cases: CaseMaker, demo_city
) -> None:
    (home_grid, *a1), (_, *a2), (_, *b) = two_districts(demo_city)
    home = home_grid[:6]
    now = datetime.now(UTC)
    older = cases("to_dispatch", at=tuple(a1), when=now - timedelta(hours=5))
    newer = cases("to_dispatch", at=tuple(a2), when=now - timedelta(hours=1))
    elsewhere = cases("to_dispatch", at=tuple(b), when=now - timedelta(hours=9))
    to_file = cases("to_file", at=tuple(a1))
    dispatched = cases("to_accept", at=tuple(a2), when=now - timedelta(hours=3))
    user_client(
        client, db_session, "district-disp", "dispatcher", scope_kind="district", scope_code=home
    )

    response = client.get("/dispatch/queue?lang=en")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    queue = section(html, "to-dispatch")
    assert older.number in queue and newer.number in queue
    assert queue.index(older.number) < queue.index(newer.number)
    assert elsewhere.number not in html and to_file.number not in html
    assert "Dispatch to proposed owner" in queue and "primary officer on duty in the grid" in queue
    assert re.search(r'data-officer-id="\d+"', queue)
    # Waiting since it was filed (two minutes after the report, see CaseMaker).
    assert "4 h 58 min" in queue or "4 h 59 min" in queue
    accept = section(html, "to-accept")
    assert dispatched.number in accept and dispatched.number not in queue
    assert f'href="/cases/{older.number}"' in queue


@pytest.mark.parametrize("role", ["operator", "inspector", "grid_officer"])
def test_queue_is_for_dispatchers_and_shift_supervisors(
    client: FlaskClient, db_session: Session, role: str
) -> None:
    user_client(client, db_session, f"no-queue-{role}", role)
    assert client.get("/dispatch/queue").status_code == 403


def test_shift_supervisor_sees_the_queue_and_the_nav_links(
    client: FlaskClient, db_session: Session
) -> None:
    user_client(client, db_session, "sup-queue", "shift_supervisor")
    html = client.get("/dispatch/queue?lang=en").get_data(as_text=True)
    assert "<h1>Dispatch queue</h1>" in html
    assert 'href="/dispatch/placement"' in html
    assert "No case waits for dispatch." in html


# ---------------------------------------------------------------------------- placement queue
def test_placement_queue_lists_open_cases_without_a_location(
    client: FlaskClient, db_session: Session, cases: CaseMaker, demo_city
) -> None:
    _, lng, lat = communities(demo_city)[0]
    pending = cases("to_file")
    far_away = cases("reported", at=(100.0, 40.0))  # a point far outside the city
    placed = cases("to_file", at=(lng, lat))
    user_client(client, db_session, "placement-op", "operator")

    html = client.get("/dispatch/placement?lang=en").get_data(as_text=True)

    listing = section(html, "placement-cases")
    assert pending.number in listing and far_away.number in listing
    assert placed.number not in listing
    assert listing.index(pending.number) < listing.index(far_away.number)  # oldest first
    assert 'data-lng="100.0" data-lat="40.0"' in listing  # the reported point, as a hint
    assert "/api/v1/grids?level=4&amp;simplify=1" in html
    assert "<h1>Placement queue</h1>" in html


def test_placement_queue_is_for_roles_that_may_place(
    client: FlaskClient, db_session: Session
) -> None:
    user_client(client, db_session, "no-place", "inspector")
    assert client.get("/dispatch/placement").status_code == 403


# ---------------------------------------------------------------------------- languages
def test_pages_default_to_chinese_and_switch_to_english(
    client: FlaskClient, db_session: Session, cases: CaseMaker
) -> None:
    case = cases("reported")
    user_client(client, db_session, "lang-user", "shift_supervisor")

    zh = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert '<html lang="zh-Hans">' in zh

    en = client.get(f"/cases/{case.number}?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in en
    for text in ("Timeline", "Actions", "Reported at", "Send to verify", "Reporter"):
        assert text in en
    queue = client.get("/dispatch/queue").get_data(as_text=True)  # the choice sticks
    assert '<html lang="en">' in queue and "To accept" in queue


# ---------------------------------------------------------------------------- the page's API use
def csrf_token(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match
    return match.group(1)


def test_the_page_token_lets_its_script_post_actions(
    client: FlaskClient, db_session: Session, cases: CaseMaker, demo_city
) -> None:
    _, lng, lat = communities(demo_city)[0]
    case = cases("to_file", at=(lng, lat))
    user_client(client, db_session, "sup-post", "shift_supervisor")
    token = csrf_token(client.get(f"/cases/{case.number}").get_data(as_text=True))
    url = f"/api/v1/cases/{case.number}/actions/file"
    body = {
        "note": "",
        "data": {"category_id": cases.category.id, "filing_condition_id": cases.condition.id},
        "version": case.version,
    }

    assert client.post(url, json=body).status_code == 400  # no CSRF header
    response = client.post(url, json=body, headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["state"] == "to_dispatch"

    stale = client.post(url, json=body, headers={"X-CSRFToken": token})
    assert stale.status_code == 409  # what the page shows as "changed by someone else"


# ---------------------------------------------------------------------------- pure helpers
@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=30), "0 min"),
        (timedelta(minutes=7, seconds=59), "7 min"),
        (timedelta(hours=1, minutes=5), "1 h 05 min"),
        (timedelta(hours=23, minutes=59), "23 h 59 min"),
        (timedelta(days=2, hours=3, minutes=10), "2 d 3 h"),
        (timedelta(minutes=-3), "0 min"),  # clocks a little apart never show negative waits
    ],
)
def test_waited(app: Flask, delta: timedelta, text: str) -> None:
    with app.test_request_context("/?lang=en"):
        assert pages.waited(delta) == text


def test_limit_text(app: Flask) -> None:
    with app.test_request_context("/?lang=en"):
        assert pages.limit_text(4.0, "working_hours") == "4 working hours"
        assert pages.limit_text(1.5, "natural_hours") == "1.5 natural hours"


def test_every_state_action_and_role_has_a_label() -> None:
    from dispatch.models.cases import CaseState

    assert set(pages.STATE_LABELS) == set(CaseState)
    assert set(pages.ACTION_LABELS) == set(Action)
    assert set(pages.ROLE_LABELS) == set(Role)
