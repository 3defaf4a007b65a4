"""CSV and Excel exports of the filtered overdue list, read back with csv and openpyxl: same rows
as the list, same filters and scope, no personal data, no formulas."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from dispatch.models import Case, User
from dispatch.supervise.export import safe_text
from tests.conftest import log_in
from tests.factories import api_client
from tests.supervise_support import district_supervisor, supervision_cases
from tests.workflow_helpers import World, build_world

PHONE = "13812345678"  # every case's reporter (tests/supervise_support.py)


@pytest.fixture
def world(app: Flask, db_session: Session) -> Iterator[World]:
    with app.app_context():
        yield build_world(db_session, prefix="exp")


@pytest.fixture
def cases(db_session: Session, world: World) -> dict[str, Case]:
    return supervision_cases(db_session, world)


def csv_rows(client: FlaskClient, user: User, query: str) -> tuple[bytes, list[dict[str, str]]]:
    log_in(client, user)
    res = client.get(f"/supervise/overdue/export.csv?lang=en&{query}")
    assert res.status_code == 200
    assert res.mimetype == "text/csv"
    assert res.headers["Content-Disposition"].startswith('attachment; filename="overdue-')
    raw = res.get_data()
    assert raw.startswith("\ufeff".encode())  # Excel needs the BOM to read UTF-8
    return raw, list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def xlsx_rows(
    client: FlaskClient, user: User, query: str
) -> tuple[bytes, list[str], list[list[object]], openpyxl.Workbook]:
    log_in(client, user)
    res = client.get(f"/supervise/overdue/export.xlsx?lang=en&{query}")
    assert res.status_code == 200
    assert res.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    raw = res.get_data()
    book = openpyxl.load_workbook(io.BytesIO(raw))
    rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    return raw, [str(h) for h in rows[0]], rows[1:], book


def api_keys(client: FlaskClient, session: Session, user: User, query: str) -> list[tuple]:
    """The list the API answers for the same filter (the page and exports' twin)."""
    api = api_client(client, session, user)
    body = api.get(f"/api/v1/supervise/overdue?per_page=200&{query}").json
    return [(r["number"], r["stage"]) for r in body["cases"]]


HEADERS = [
    "Case",
    "Warning",
    "Stage",
    "Round",
    "Due (Beijing time)",
    "Late by / due in",
    "Minutes past due",
    "State",
    "District",
    "Grid",
    "Category",
    "Owner",
    "Source",
    "Reported (Beijing time)",
    "Urged",
]


def test_csv_holds_the_filtered_list_in_its_order_without_personal_data(
    client: FlaskClient, db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    user = world.users["shift_supervisor"]
    query = f"district={world.grid.district}&sort=number"
    raw, rows = csv_rows(client, user, query)
    expected = api_keys(client, db_session, user, query)
    assert list(rows[0]) == HEADERS
    assert [(r["Case"], r["Stage"]) for r in rows] == [
        (n, {"handle": "Handling", "accept": "Acceptance"}[s]) for n, s in expected
    ]
    # Every overdue clock of the district (all past due by now), not just one page.
    assert len(rows) == 7
    home = next(r for r in rows if r["Case"] == cases["home"].number)
    assert home["Due (Beijing time)"] == "2026-03-02 16:30"
    assert home["Reported (Beijing time)"] == "2026-03-02 09:00"
    assert home["Warning"] == "Overdue" and home["State"] == "In progress"
    assert int(home["Minutes past due"]) > 0 and home["Round"] == "1"
    assert home["Grid"].startswith(world.grid.code) and home["Urged"] == "0"
    dept = next(r for r in rows if r["Case"] == cases["near_dept"].number)
    assert dept["Owner"] == world.department.name
    text = raw.decode("utf-8-sig")
    assert PHONE not in text and "138****" not in text
    assert "张先生" not in text and "解放路" not in text  # reporter, address
    assert cases["far"].number not in text


def test_xlsx_holds_the_same_rows_with_real_dates(
    client: FlaskClient, db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    user = world.users["leader"]
    query = "level=all&sort=number&dir=desc"
    raw, headers, rows, book = xlsx_rows(client, user, query)
    expected = api_keys(client, db_session, user, query)
    assert headers == HEADERS
    assert [(r[0], r[2]) for r in rows] == [
        (n, {"handle": "Handling", "accept": "Acceptance"}[s]) for n, s in expected
    ]
    by_number = {r[0]: r for r in rows if r[2] == "Handling"}
    home = by_number[cases["home"].number]
    assert home[4] == datetime(2026, 3, 2, 16, 30)  # Beijing wall-clock time
    assert isinstance(home[6], int) and home[6] > 0
    assert home[13] == datetime(2026, 3, 2, 9, 0)
    assert {r[1] for r in rows} >= {"Overdue"}
    about = {r[0]: r[1] for r in book.worksheets[1].iter_rows(values_only=True)}
    assert about["Rows"] == len(rows) and about["level"] == "all" and about["dir"] == "desc"
    cells = [str(v) for r in rows for v in r]
    assert not any(PHONE in c or "张先生" in c for c in cells)
    import zipfile

    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        everything = b"".join(archive.read(n) for n in archive.namelist())
    assert PHONE.encode() not in everything and "张先生".encode() not in everything


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_district_supervisor_exports_only_their_district(
    client: FlaskClient, db_session: Session, world: World, cases: dict[str, Case], kind: str
) -> None:
    user = district_supervisor(db_session, world)
    if kind == "csv":
        _raw, rows = csv_rows(client, user, "level=all")
        numbers = {r["Case"] for r in rows}
    else:
        _raw, _h, xrows, _book = xlsx_rows(client, user, "level=all")
        numbers = {r[0] for r in xrows}
    assert cases["home"].number in numbers and cases["fresh"].number in numbers
    assert not numbers & {cases["far"].number, cases["fresh_far"].number}
    # Asking for the other district gives an empty file, not the other district.
    if kind == "csv":
        _raw, rows = csv_rows(client, user, f"district={world.far_grid.district}")
        assert rows == []


def test_text_that_looks_like_a_formula_stays_text(
    client: FlaskClient, db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    world.department.name = '=HYPERLINK("http://evil.example","x")'
    db_session.flush()
    user = world.users["shift_supervisor"]
    _raw, rows = csv_rows(client, user, f"department={world.department.id}")
    assert [r["Owner"] for r in rows] == ["'" + world.department.name]
    raw, _h, xrows, _book = xlsx_rows(client, user, f"department={world.department.id}")
    assert [r[11] for r in xrows] == [world.department.name]  # a string, not a formula
    book = openpyxl.load_workbook(io.BytesIO(raw))
    assert book.worksheets[0].cell(row=2, column=12).data_type == "s"


@pytest.mark.parametrize(
    ("text", "safe"),
    [("=1+1", "'=1+1"), ("+86", "'+86"), ("-3", "'-3"), ("@SUM", "'@SUM"), ("井盖", "井盖")],
)
def test_safe_text(text: str, safe: str) -> None:
    assert safe_text(text) == safe


def test_csv_headers_are_chinese_by_default(
    client: FlaskClient, db_session: Session, world: World, cases: dict[str, Case]
) -> None:
    log_in(client, world.users["shift_supervisor"])
    raw = client.get("/supervise/overdue/export.csv?sort=number").get_data()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["案卷", "预警", "环节"]
    assert rows[1][1] == "已超时" and rows[1][2] == "处置"


def test_exports_are_for_supervisors_and_check_the_filter(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    log_in(client, world.users["dispatcher"])
    assert client.get("/supervise/overdue/export.csv").status_code == 403
    assert client.get("/supervise/overdue/export.xlsx").status_code == 403


def test_a_bad_filter_is_a_400(client: FlaskClient, db_session: Session, world: World) -> None:
    log_in(client, world.users["leader"])
    assert client.get("/supervise/overdue/export.csv?level=purple").status_code == 400
