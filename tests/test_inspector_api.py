"""The inspector's API: report with photos through intake (one case per idempotency key),
bad uploads refused without a trace, flags for the shift supervisor, photo files served
without metadata to those who may see the case, tasks completed through the workflow."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.models import Case, CaseEvent, User
from dispatch.models.cases import CaseState
from dispatch.models.inspector import CasePhoto, ReportEvidence
from dispatch.models.people import Role
from tests.factories import api_client, make_user
from tests.inspector_support import gif, jpeg, png_header_bomb
from tests.workflow_helpers import World, advance_to, build_world

REPORTS = "/api/v1/inspector/reports"


@pytest.fixture
def photo_dir(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Photos of this test go to a folder of its own."""
    folder = tmp_path / "photos"
    monkeypatch.setitem(app.config, "PHOTO_DIR", str(folder))
    return folder


@pytest.fixture
def world(app: Flask, db_session: Session) -> Iterator[World]:
    with app.app_context():
        yield build_world(db_session, prefix="insp")


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _form(world: World, *photos: bytes, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "description": "人行道上有暴露垃圾",
        "lng": str(world.grid.lng),
        "lat": str(world.grid.lat),
        "crs": "wgs84",
        "position_source": "gps",
        "accuracy_m": "8",
        "category_id": str(world.category.id),
        "filing_condition_id": str(world.condition.id),
    }
    data.update({k: v for k, v in fields.items() if v is not None})
    data["photos"] = [(io.BytesIO(p), f"p{i}.jpg") for i, p in enumerate(photos)]
    return data


def _post(api: Any, data: dict[str, Any], key: str | None = "key-0000-0001") -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return api.post(REPORTS, data=data, headers=headers, content_type="multipart/form-data")


def _case_count(sess: Session) -> int:
    return sess.scalar(select(func.count()).select_from(Case)) or 0


def test_report_with_photos_becomes_one_case_however_often_it_is_sent(
    client: FlaskClient, db_session: Session, world: World, photo_dir: Path
) -> None:
    api = api_client(client, db_session, world.users["inspector"])
    here = (world.grid.lng, world.grid.lat)
    first = _post(api, _form(world, jpeg(gps=here, orientation=6), jpeg(gps=here)))
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    case = db_session.scalar(select(Case).where(Case.number == body["number"]))
    assert case.source == "inspector" and case.state == CaseState.REPORTED
    assert case.grid_code == world.grid.code and case.location_crs == "wgs84"
    assert case.category_id == world.category.id
    assert [a["kind"] for a in case.attachments] == ["photo", "photo"]
    assert body["flags"] == [] and len(body["thumbs"]) == 2
    rows = db_session.scalars(select(CasePhoto).where(CasePhoto.case_id == case.id)).all()
    assert {(r.purpose, r.event_seq) for r in rows} == {("report", 1)}
    assert all(r.gps_lng == pytest.approx(here[0], abs=1e-5) for r in rows)
    assert all(r.distance_m is not None and r.distance_m < 5 for r in rows)
    assert sorted((r.width, r.height) for r in rows) == [(48, 64), (64, 48)]
    evidence = db_session.get(ReportEvidence, case.id)
    assert evidence.position_source == "gps" and evidence.accuracy_m == 8
    assert len(_files(photo_dir)) == 6  # original, display, thumbnail per photo
    count = _case_count(db_session)

    # The outbox retries (the answer was lost): same key, same case, nothing new stored.
    for _ in range(3):
        again = _post(api, _form(world, jpeg(gps=here)))
        assert again.status_code == 200
        assert again.get_json()["number"] == body["number"]
    assert _case_count(db_session) == count
    assert len(_files(photo_dir)) == 6
    assert db_session.scalar(select(func.count()).select_from(CasePhoto)) == 2


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (gif(), "wrong type"),
        (b"MZ\x90\x00 an executable", "wrong type"),
        (jpeg(400, 300)[:-700], "damaged"),
        (png_header_bomb(), "too many pixels"),
        (png_header_bomb(9_000, 8_000), "too many pixels"),
    ],
)
def test_bad_uploads_are_refused_and_change_nothing(
    client: FlaskClient, db_session: Session, world: World, photo_dir: Path, bad: bytes, reason: str
) -> None:
    api = api_client(client, db_session, world.users["inspector"])
    before = _case_count(db_session)
    response = _post(api, _form(world, jpeg(), bad))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["fields"] == {"photos[1]": reason}
    assert "p1.jpg" in error["message"]
    assert _case_count(db_session) == before
    assert _files(photo_dir) == []
    # The same key then works once the photo is retaken: the refusal left no trace.
    assert _post(api, _form(world, jpeg())).status_code == 201


def test_too_large_and_missing_and_too_many_photos(
    app: Flask,
    client: FlaskClient,
    db_session: Session,
    world: World,
    photo_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = api_client(client, db_session, world.users["inspector"])
    assert _post(api, _form(world)).get_json()["error"]["fields"] == {"photos": "required"}
    many = _form(world, *[jpeg()] * 7)
    assert _post(api, many).get_json()["error"]["fields"] == {"photos": "too many"}
    monkeypatch.setitem(app.config, "PHOTO_MAX_BYTES", 2000)
    big = jpeg(300, 300, color=(10, 200, 30))
    assert len(big) > 2000
    response = _post(api, _form(world, big))
    assert response.get_json()["error"]["fields"] == {"photos[0]": "too large"}
    # A body bigger than every allowed photo together is cut off before it is read.
    response = _post(api, _form(world, *[jpeg(600, 600)] * 2), key="key-big-0001")
    assert response.status_code in (400, 413)
    assert _files(photo_dir) == []


def test_only_inspectors_report(client: FlaskClient, db_session: Session, world: World) -> None:
    assert client.post(REPORTS, data={"description": "x"}).status_code == 401
    api = api_client(client, db_session, world.users["operator"])
    response = _post(api, _form(world, jpeg()))
    assert response.status_code == 403
    assert api.get("/api/v1/inspector/tasks").status_code == 403


def test_far_photo_and_vague_position_are_flagged_not_refused(
    client: FlaskClient, db_session: Session, world: World, photo_dir: Path
) -> None:
    api = api_client(client, db_session, world.users["inspector"])
    far = (world.grid.lng + 0.01, world.grid.lat)  # ~1 km east
    response = _post(api, _form(world, jpeg(gps=far)), key="key-far-00001")
    assert response.status_code == 201
    assert response.get_json()["flags"] == ["photo_far"]
    vague = _post(api, _form(world, jpeg(), accuracy_m="180"), key="key-vague-0001")
    assert vague.get_json()["flags"] == ["poor_accuracy"]
    fine = _post(api, _form(world, jpeg(gps=(world.grid.lng, world.grid.lat))), key="key-ok-00001")
    assert fine.get_json()["flags"] == []

    # The shift supervisors reaching the case are told (inbox), once per report.
    from dispatch.models import Notification
    from dispatch.notifications.render import render

    told = db_session.scalars(
        select(Notification).where(Notification.kind == "report_flagged")
    ).all()
    by_case = {n.case_id for n in told}
    far_case = db_session.scalar(select(Case).where(Case.number == response.get_json()["number"]))
    fine_case = db_session.scalar(select(Case).where(Case.number == fine.get_json()["number"]))
    assert far_case.id in by_case and fine_case.id not in by_case
    for note in told:
        user = db_session.get(User, note.user_id)
        assert user.has_role(Role.SHIFT_SUPERVISOR)
    far_note = next(n for n in told if n.case_id == far_case.id)
    title, body = render(far_note.kind, far_note.params)
    assert far_case.number in title and body

    supervisor = api_client(client, db_session, world.users["shift_supervisor"])
    listed = supervisor.get("/api/v1/inspector/flags").get_json()["reports"]
    numbers = {r["number"] for r in listed}
    assert response.get_json()["number"] in numbers and vague.get_json()["number"] in numbers
    assert fine.get_json()["number"] not in numbers
    far_row = next(r for r in listed if r["number"] == response.get_json()["number"])
    assert 900 < far_row["flag_detail"]["photo_distance_m"] < 1100
    # The case page shows the supervisor the photo (a thumbnail) and why the report is flagged.
    from tests.conftest import log_in

    log_in(client, world.users["shift_supervisor"])
    g.pop("_login_user", None)
    page = client.get(f"/cases/{response.get_json()['number']}").get_data(as_text=True)
    assert 'id="evidence-flags"' in page and "照片距上报点" in page
    assert response.get_json()["thumbs"][0] in page
    fine_page = client.get(f"/cases/{fine.get_json()['number']}").get_data(as_text=True)
    assert 'id="report-evidence"' in fine_page and 'id="evidence-flags"' not in fine_page
    reviewed = supervisor.post(f"/api/v1/inspector/flags/{response.get_json()['number']}/review")
    assert reviewed.status_code == 200
    listed = supervisor.get("/api/v1/inspector/flags").get_json()["reports"]
    assert response.get_json()["number"] not in {r["number"] for r in listed}
    assert api.get("/api/v1/inspector/flags").status_code == 403


def test_served_photos_carry_no_metadata_and_only_for_those_who_see_the_case(
    client: FlaskClient, db_session: Session, world: World, photo_dir: Path
) -> None:
    from tests.conftest import log_in

    api = api_client(client, db_session, world.users["inspector"])
    body = _post(api, _form(world, jpeg(gps=(world.grid.lng, world.grid.lat)))).get_json()
    url = body["thumbs"][0]
    display = url.replace("/thumb.jpg", "/display.jpg")
    log_in(client, world.users["inspector"])
    for size_url in (url, display):
        with client.get(size_url) as response:
            assert response.status_code == 200 and response.mimetype == "image/jpeg"
            image = Image.open(io.BytesIO(response.data))
            assert dict(image.getexif()) == {} and b"TestPhone" not in response.data
    assert client.get(url.replace("/thumb.jpg", "/original.jpg")).status_code == 404
    other = make_user(
        db_session,
        "insp-elsewhere",
        "inspector",
        scope_kind="district",
        scope_code=world.far_grid.district,
    )
    log_in(client, other)
    g.pop("_login_user", None)  # the world's app context outlives requests: forget who logged in
    with client.get(url) as response:
        assert response.status_code == 404


def test_tasks_nearest_first_and_completion_through_the_workflow(
    client: FlaskClient, db_session: Session, world: World, photo_dir: Path
) -> None:
    verify = advance_to(db_session, world, CaseState.TO_VERIFY)
    verify_near = advance_to(db_session, world, CaseState.TO_VERIFY, grid=world.near_grid)
    check = advance_to(db_session, world, CaseState.TO_CHECK)
    elsewhere = advance_to(db_session, world, CaseState.TO_VERIFY, grid=world.far_grid)
    inspector = make_user(
        db_session,
        "insp-district",
        "inspector",
        scope_kind="district",
        scope_code=world.grid.district,
    )
    api = api_client(client, db_session, inspector)
    near = world.near_grid
    tasks = api.get(f"/api/v1/inspector/tasks?lng={near.lng}&lat={near.lat}").get_json()["tasks"]
    numbers = [t["number"] for t in tasks]
    assert verify_near.number == numbers[0]  # I stand in its grid
    assert {verify.number, check.number} <= set(numbers)
    assert elsewhere.number not in numbers  # another district
    by_number = {t["number"]: t for t in tasks}
    assert by_number[verify.number]["kind"] == "verify" and by_number[verify.number]["due_at"]
    assert by_number[check.number]["kind"] == "check"
    assert by_number[verify.number]["level"] in ("ok", "yellow", "red")

    def complete(case: Case, **form: Any) -> Any:
        data = {**form, "photos": [(io.BytesIO(jpeg()), "after.jpg")]}
        return api.post(
            f"/api/v1/inspector/tasks/{case.number}/complete",
            data=data,
            content_type="multipart/form-data",
        )

    assert complete(elsewhere, verdict="true").status_code == 404
    assert complete(verify, verdict="pass").status_code == 400  # a check's verdict
    assert complete(verify, verdict="false").get_json()["error"]["fields"] == {"note": "required"}
    done = complete(verify, verdict="true", version=str(verify.version))
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["state"] == CaseState.TO_FILE
    assert complete(verify, verdict="true").status_code == 400  # no longer a task
    failed = complete(check, verdict="fail", note="垃圾还在")
    assert failed.get_json()["state"] == CaseState.IN_PROGRESS
    event = db_session.scalar(
        select(CaseEvent).where(CaseEvent.case_id == check.id).order_by(CaseEvent.seq.desc())
    )
    assert event.action == "check_fail" and event.attachments[0]["kind"] == "photo"
    purposes = db_session.scalars(
        select(CasePhoto.purpose).where(CasePhoto.case_id.in_([verify.id, check.id]))
    ).all()
    assert sorted(purposes) == ["check", "verify"]
    # My figures count what I just did, as the evaluation does.
    figures = {f["key"]: f for f in api.get("/api/v1/inspector/figures").get_json()["figures"]}
    assert (
        figures["on_time_verification"]["numerator"],
        figures["on_time_verification"]["denominator"],
    ) == (1, 1)
    assert (figures["on_time_check"]["numerator"], figures["on_time_check"]["denominator"]) == (
        1,
        1,
    )


def test_stale_version_is_a_conflict(
    client: FlaskClient, db_session: Session, world: World, photo_dir: Path
) -> None:
    case = advance_to(db_session, world, CaseState.TO_VERIFY)
    api = api_client(client, db_session, world.users["inspector"])
    response = api.post(
        f"/api/v1/inspector/tasks/{case.number}/complete",
        data={"verdict": "true", "version": "1", "photos": [(io.BytesIO(jpeg()), "a.jpg")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 409
    assert _files(photo_dir) == []


def test_my_reports_categories_and_figures(
    client: FlaskClient, db_session: Session, world: World, photo_dir: Path
) -> None:
    api = api_client(client, db_session, world.users["inspector"])
    made = _post(api, _form(world, jpeg())).get_json()
    reports = api.get("/api/v1/inspector/reports").get_json()["reports"]
    assert [r["number"] for r in reports] == [made["number"]]
    assert reports[0]["state"] == "reported" and reports[0]["state_label"]
    other = make_user(db_session, "insp-other", "inspector")
    assert api_client(client, db_session, other).get(REPORTS).get_json()["reports"] == []
    choices = api.get("/api/v1/inspector/categories").get_json()
    assert choices["recent"] == [world.category.id]
    assert any(c["id"] == world.category.id and c["conditions"] for c in choices["categories"])
    figures = api.get("/api/v1/inspector/figures").get_json()["figures"]
    assert [f["key"] for f in figures] == ["valid_reports", "on_time_verification", "on_time_check"]
    assert api.get("/api/v1/inspector/figures?from=2026-02-01&to=2026-01-01").status_code == 400
    grids = api.get("/api/v1/inspector/grids").get_json()
    assert len(grids["grids"]) > 100  # a city-wide inspector sees every community grid
    district = make_user(
        db_session,
        "insp-grids",
        "inspector",
        scope_kind="district",
        scope_code=world.grid.district,
    )
    mine = api_client(client, db_session, district).get("/api/v1/inspector/grids").get_json()
    codes = {g["code"] for g in mine["grids"]}
    assert world.grid.code in codes and world.far_grid.code not in codes
    assert {c[:6] for c in codes} == {world.grid.district}
    # The delta-encoded outline decodes to the grid's own ring (within the 1 m rounding).
    from shapely.geometry import Polygon

    from grids import services as grid_services

    grid = grid_services.grid_by_code(db_session, world.grid.code)
    polygon = next(g for g in mine["grids"] if g["code"] == world.grid.code)["polygons"][0]
    x = y = 0
    ring = []
    flat = polygon[0]
    for i in range(0, len(flat), 2):
        x, y = x + flat[i], y + flat[i + 1]
        ring.append((x / mine["unit"], y / mine["unit"]))
    drawn = Polygon(ring)
    assert drawn.symmetric_difference(grid.geom).area / grid.geom.area < 0.02


def test_task_levels_red_and_yellow(client: FlaskClient, db_session: Session, world: World) -> None:
    from datetime import timedelta

    from core.types import utcnow
    from dispatch.inspector.services import open_timer, timer_level
    from dispatch.models.sla import Stage

    late = advance_to(db_session, world, CaseState.TO_VERIFY)
    soon = advance_to(db_session, world, CaseState.TO_VERIFY)
    fresh = advance_to(db_session, world, CaseState.TO_VERIFY)
    now = utcnow()
    late_timer = open_timer(db_session, late.id, Stage.VERIFY)
    late_timer.warn_at, late_timer.due_at = now - timedelta(hours=2), now - timedelta(hours=1)
    soon_timer = open_timer(db_session, soon.id, Stage.VERIFY)
    soon_timer.warn_at, soon_timer.due_at = now - timedelta(minutes=5), now + timedelta(hours=1)
    fresh_timer = open_timer(db_session, fresh.id, Stage.VERIFY)
    fresh_timer.warn_at, fresh_timer.due_at = now + timedelta(hours=1), now + timedelta(hours=2)
    db_session.flush()
    assert timer_level(None, now) == "ok"
    api = api_client(client, db_session, world.users["inspector"])
    levels = {
        t["number"]: t["level"] for t in api.get("/api/v1/inspector/tasks").get_json()["tasks"]
    }
    assert (levels[late.number], levels[soon.number], levels[fresh.number]) == (
        "red",
        "yellow",
        "ok",
    )
    # Without my position: soonest due first.
    numbers = [t["number"] for t in api.get("/api/v1/inspector/tasks").get_json()["tasks"]]
    assert numbers.index(late.number) < numbers.index(soon.number) < numbers.index(fresh.number)


def test_a_point_in_gcj02_is_recorded_as_such_and_compared_in_wgs84(
    client: FlaskClient, db_session: Session, world: World, photo_dir: Path
) -> None:
    """A pin from an AutoNavi-style map (GCJ-02, ~650 m off here): the case keeps the system it
    came in, and the photo's GPS (WGS-84) is compared with the converted point, not the raw one."""
    from grids.crs import CRS, from_wgs84

    api = api_client(client, db_session, world.users["inspector"])
    lng, lat = from_wgs84(world.grid.lng, world.grid.lat, CRS.GCJ02)
    photo = jpeg(gps=(world.grid.lng, world.grid.lat))
    body = _post(
        api,
        _form(world, photo, lng=str(lng), lat=str(lat), crs="gcj02", position_source="pin"),
        key="key-gcj-00001",
    ).get_json()
    assert body["flags"] == [] and body["grid_code"] == world.grid.code
    case = db_session.scalar(select(Case).where(Case.number == body["number"]))
    assert case.location_crs == "gcj02"
    assert case.location.x == pytest.approx(world.grid.lng, abs=1e-5)
    row = db_session.scalar(select(CasePhoto).where(CasePhoto.case_id == case.id))
    assert row.distance_m < 5
    assert db_session.get(ReportEvidence, case.id).position_source == "pin"
