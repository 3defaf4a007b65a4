"""The seed: national directory, old-code imports, filing conditions, keywords, routing, demo users.

The demo city is in the test database; the catalogue is not, so each test seeds what it needs
inside its rolled-back transaction.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from dispatch import seed
from dispatch.access import duty_grid_codes
from dispatch.models import Category, Department, FilingCondition, RoutingRule, User
from dispatch.models.catalog import ClockType, Urgency
from dispatch.models.people import Role, ScopeKind
from dispatch.routing import primary_officer, rule_for


@pytest.fixture(autouse=True)
def empty_catalogue(db_session: Session) -> None:
    """The session database is seeded for the other tests; these start from nothing (the
    deletions roll back with the test)."""
    from sqlalchemy import delete

    from dispatch.models import RoleGrant

    db_session.execute(delete(RoutingRule))
    db_session.execute(delete(FilingCondition))
    db_session.execute(delete(Category))
    names = ["operator", "inspector", "supervisor", "dispatcher", "officer", "officer2"]
    names += ["municipal", "leader", "admin", "district_supervisor"]
    demo = select(User.id).where(User.username.in_(names))
    db_session.execute(delete(RoleGrant).where(RoleGrant.user_id.in_(demo)))
    db_session.execute(delete(User).where(User.username.in_(names)))
    db_session.execute(delete(Department))
    db_session.flush()


def _category(session: Session, kind: str, name: str) -> Category:
    found = session.scalar(select(Category).where(Category.kind == kind, Category.name == name))
    assert found is not None, f"no {kind} {name}"
    return found


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _active_conditions(category: Category) -> list[FilingCondition]:
    return [c for c in category.conditions if c.is_active]


# ---------------------------------------------------------------------- directory
def test_directory_loads_every_class_once(db_session: Session) -> None:
    assert seed.load_directory(db_session) == 403
    kinds = Counter(db_session.scalars(select(Category.kind)))
    assert kinds == {"component": 153, "matter": 250}
    pairs = db_session.execute(select(Category.kind, Category.code)).all()
    assert len(set(pairs)) == len(pairs) == 403
    cover = _category(db_session, "component", "供水井盖")
    assert (cover.code, cover.major_code, cover.major_name) == ("01001", "01", "市政公用设施")
    assert cover.full_code == "C01001" and cover.is_active
    building = _category(db_session, "matter", "私搭乱建")
    assert (building.code, building.major_code, building.major_name) == (
        "06001",
        "06",
        "市容环境类",
    )
    # The same code names a component and a matter.
    assert _category(db_session, "matter", "供水井盖异常").code == "01001"


def test_directory_reload_updates_names_but_keeps_deactivation(db_session: Session) -> None:
    seed.load_directory(db_session)
    kiosk = _category(db_session, "component", "报刊亭")
    kiosk.is_active = False
    lamp = _category(db_session, "component", "路灯")
    lamp.name = "路灯（旧名）"
    db_session.flush()

    assert seed.load_directory(db_session) == 403
    assert _count(db_session, Category) == 403
    db_session.refresh(kiosk)
    db_session.refresh(lamp)
    assert kiosk.is_active is False
    assert lamp.name == "路灯"


def test_directory_file_has_the_documented_shape() -> None:
    with seed.DEFAULT_DIRECTORY.open(encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh, delimiter="\t") if r and not r[0].startswith("#")]
    assert rows[0] == ["kind", "code", "category", "name"]
    assert Counter(r[0] for r in rows[1:]) == {"管理部件": 153, "管理事项": 250}
    assert all(len(r[1]) == 5 and r[1].isdigit() for r in rows[1:])


# ---------------------------------------------------------------------- old code sets
def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_import_old_two_plus_two_codes(db_session: Session, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "old.tsv",
        "# GB/T 30428.2-2013 style codes\n"
        "kind\tcode\tmajor_name\tname\tkeywords\n"
        "部件\t0101\t公用设施\t上水井盖\t井盖 自来水\n"
        "管理部件\t0102\t公用设施\t污水井盖\t\n"
        "事件\t0101\t市容环境\t私搭乱建\t违建\n"
        "matter\t0102\t市容环境\t暴露垃圾\t\n",
    )
    result = seed.import_categories(db_session, path)
    assert (result.created, result.updated, result.unchanged) == (4, 0, 0)
    cover = _category(db_session, "component", "上水井盖")
    assert (cover.code, cover.major_code, cover.major_name) == ("0101", "01", "公用设施")
    assert cover.keywords == "井盖 自来水"
    assert _category(db_session, "matter", "私搭乱建").code == "0101"

    # Again, with one name changed: updated in place, nothing duplicated.
    path.write_text(path.read_text(encoding="utf-8").replace("上水井盖", "供水井盖"), "utf-8")
    again = seed.import_categories(db_session, path)
    assert (again.created, again.updated, again.unchanged) == (0, 1, 3)
    assert _count(db_session, Category) == 4
    assert cover.name == "供水井盖" and cover.keywords == "井盖 自来水"


def test_import_takes_kind_as_argument_and_reads_csv(db_session: Session, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "matters.csv",
        "code,major_name,name\n0201,街面秩序,无照经营游商\n0202,街面秩序,占道经营\n",
    )
    result = seed.import_categories(db_session, path, kind="事项")
    assert result.created == 2
    assert _category(db_session, "matter", "占道经营").code == "0202"
    # Without a kind column the kind must be given.
    with pytest.raises(ValueError, match="kind"):
        seed.import_categories(db_session, path)


def test_import_rejects_bad_rows_and_writes_nothing(db_session: Session, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "bad.tsv",
        "kind\tcode\tmajor_name\tname\n"
        "部件\t0101\t公用设施\t上水井盖\n"
        "部件\t101\t公用设施\t污水井盖\n"
        "杂项\t0103\t公用设施\t雨水井盖\n"
        "部件\t0104\t公用设施\t\n"
        "部件\t0101\t公用设施\t重复\n",
    )
    with pytest.raises(ValueError) as raised:
        seed.import_categories(db_session, path)
    message = str(raised.value)
    assert "row 3" in message and "leading zeros" in message
    assert "row 4" in message and "杂项" in message
    assert "row 5" in message and "name is empty" in message
    assert "row 6" in message and "repeats row 2" in message
    assert "row 2:" not in message
    assert _count(db_session, Category) == 0


def test_import_names_missing_columns(db_session: Session, tmp_path: Path) -> None:
    path = _write(tmp_path / "cols.tsv", "kind\tcode\tname\n部件\t0101\t上水井盖\n")
    with pytest.raises(ValueError, match="major_name"):
        seed.import_categories(db_session, path)


def test_parse_kind_accepts_chinese_and_english() -> None:
    for raw in ("component", "部件", "管理部件", " Component "):
        assert seed.parse_kind(raw) == "component"
    for raw in ("matter", "事件", "事项", "管理事项"):
        assert seed.parse_kind(raw) == "matter"
    with pytest.raises(ValueError):
        seed.parse_kind("杂项")


# ---------------------------------------------------------------------- filing conditions
def test_every_active_category_can_be_filed(db_session: Session) -> None:
    seed.load_directory(db_session)
    created = seed.load_filing_conditions(db_session)
    assert created >= 403
    for category in db_session.scalars(select(Category).where(Category.is_active.is_(True))):
        assert _active_conditions(category), f"{category.full_code} {category.name}"
    # Running again creates nothing.
    assert seed.load_filing_conditions(db_session) == 0
    assert _count(db_session, FilingCondition) == created


def test_seeded_limits(db_session: Session) -> None:
    seed.load_directory(db_session)
    seed.load_filing_conditions(db_session)
    covers = [c for c in db_session.scalars(select(Category)) if seed.MANHOLES.matches(c.name)]
    # 20 kinds of 井盖, the storm grate 雨水箅子 and the trench cover 沟槽盖板, in both kinds.
    assert len(covers) == 2 * 22
    assert {c.name for c in covers} >= {"不明井盖", "燃气井盖异常", "雨水箅子异常", "沟槽盖板"}
    for cover in covers:
        conditions = _active_conditions(cover)
        assert conditions and not any(c.is_default for c in conditions)
        for condition in conditions:
            assert condition.urgency == Urgency.URGENT
            assert condition.clock_type == ClockType.NATURAL_HOURS
            assert 1.5 <= condition.limit_value <= 6
    missing = _active_conditions(_category(db_session, "matter", "供水井盖异常"))[0]
    assert "丢失" in missing.text and missing.limit_value == 2

    for kind, name in (("component", "路灯"), ("matter", "路灯异常")):
        dark = _active_conditions(_category(db_session, kind, name))[0]
        assert "连续3盏" in dark.text
        assert (dark.limit_value, dark.clock_type) == (1, ClockType.WORKING_DAYS)

    building = _active_conditions(_category(db_session, "matter", "私搭乱建"))
    assert [(c.limit_value, c.clock_type) for c in building] == [
        (4, ClockType.WORKING_HOURS),
        (15, ClockType.WORKING_DAYS),
    ]
    assert all(c.closing_condition for c in building)

    rubbish = _active_conditions(_category(db_session, "matter", "暴露垃圾"))
    assert [(c.limit_value, c.clock_type) for c in rubbish] == [(4, ClockType.WORKING_HOURS)]
    dirty = _active_conditions(_category(db_session, "matter", "道路不洁"))[0]
    assert "08:00" in dirty.text and dirty.limit_value == 2

    kiosk = _active_conditions(_category(db_session, "component", "报刊亭"))
    assert len(kiosk) == 1 and kiosk[0].is_default
    assert (kiosk[0].text, kiosk[0].limit_value, kiosk[0].clock_type) == (
        "符合立案标准",
        3,
        ClockType.WORKING_DAYS,
    )


def test_condition_edits_survive_a_rerun(db_session: Session) -> None:
    seed.load_directory(db_session)
    seed.load_filing_conditions(db_session)
    lamp = _active_conditions(_category(db_session, "component", "路灯"))[0]
    lamp.limit_value = 2
    kiosk = _category(db_session, "component", "报刊亭")
    kiosk.conditions[0].is_active = False
    db_session.flush()

    assert seed.load_filing_conditions(db_session) == 0
    db_session.refresh(lamp)
    db_session.refresh(kiosk)
    assert lamp.limit_value == 2
    assert [c.is_active for c in kiosk.conditions] == [False]


def test_every_seed_table_entry_matches_the_directory(db_session: Session) -> None:
    seed.load_directory(db_session)
    names = list(db_session.scalars(select(Category.name)))
    for match, _specs in seed.FILING_CONDITIONS:
        for wanted in match.names:
            assert wanted in names, wanted
    for rule in seed.ROUTING_RULES:
        for wanted in rule.match.names:
            assert wanted in names, wanted
    # No category is claimed by two condition entries (the first would silently win).
    for name in names:
        assert sum(m.matches(name) for m, _ in seed.FILING_CONDITIONS) <= 1, name


# ---------------------------------------------------------------------- keywords
def test_keywords_for_common_classes(db_session: Session) -> None:
    seed.load_directory(db_session)
    changed = seed.load_keywords(db_session)
    assert changed >= 150
    expected = {
        ("component", "供水井盖"): "井盖",
        ("matter", "污水井盖异常"): "下水道盖",
        ("component", "路灯"): "灯不亮",
        ("matter", "路灯异常"): "黑灯",
        ("matter", "暴露垃圾"): "垃圾堆",
        ("matter", "占道经营"): "摆摊",
        ("matter", "私搭乱建"): "违建",
        ("matter", "机动车乱停放"): "乱停车",
        ("matter", "非法小广告"): "牛皮癣",
    }
    for (kind, name), word in expected.items():
        assert word in _category(db_session, kind, name).keywords.split(), name
    assert seed.load_keywords(db_session) == 0


def test_keywords_merge_with_admin_words(db_session: Session) -> None:
    seed.load_directory(db_session)
    lamp = _category(db_session, "component", "路灯")
    lamp.keywords = "灯坏了 路灯"
    db_session.flush()
    seed.load_keywords(db_session)
    words = lamp.keywords.split()
    assert words[:2] == ["灯坏了", "路灯"]
    assert "黑灯" in words and len(words) == len(set(words))


def test_keywords_file_names_directory_classes(db_session: Session) -> None:
    seed.load_directory(db_session)
    by_key = {(c.kind, c.code): c.name for c in db_session.scalars(select(Category))}
    with seed.KEYWORDS_FILE.open(encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh, delimiter="\t") if r and not r[0].startswith("#")]
    assert rows[0] == ["kind", "code", "name", "keywords"]
    for kind, code, name, words in rows[1:]:
        assert by_key.get((kind, code)) == name, (kind, code, name)
        assert words.split()


def test_keywords_file_errors_name_the_row(db_session: Session, tmp_path: Path) -> None:
    path = _write(tmp_path / "kw.tsv", "kind\tcode\tkeywords\nmatter\t06010\t垃圾\n杂项\t1\tx\n")
    with pytest.raises(ValueError, match="row 3"):
        seed.load_keywords(db_session, path)


# ---------------------------------------------------------------------- departments and routing
def test_routing_rules(db_session: Session) -> None:
    seed.load_directory(db_session)
    created = seed.load_departments_and_routing(db_session)
    assert created > 0
    departments = {d.code: d for d in db_session.scalars(select(Department))}
    assert {
        "municipal",
        "sanitation",
        "streetlight",
        "enforcement",
        "greening",
        "traffic",
        "enforcement-430407",
    } <= set(departments)
    assert departments["enforcement-430407"].district_code == "430407"
    assert departments["municipal"].district_code is None

    def routed(kind: str, name: str, district: str | None) -> str | None:
        rule = rule_for(db_session, _category(db_session, kind, name).id, district)
        assert rule is not None, (name, district)
        return rule.department.code if rule.department else rule.handler

    for kind, name in (("matter", "私搭乱建"), ("matter", "占道经营"), ("matter", "无照经营游商")):
        assert routed(kind, name, "430405") == "enforcement"
        assert routed(kind, name, None) == "enforcement"
        assert routed(kind, name, "430407") == "enforcement-430407"
    assert routed("component", "供水井盖", "430407") == "municipal"
    assert routed("matter", "燃气井盖异常", "430405") == "municipal"
    assert routed("matter", "路灯异常", "430405") == "streetlight"
    assert routed("component", "路灯井盖", "430405") == "municipal"
    assert routed("matter", "机动车乱停放", "430405") == "traffic"
    assert routed("matter", "暴露垃圾", "430407") == "grid_officer"
    assert routed("matter", "道路不洁", "430405") == "grid_officer"
    # No rule: the grid officer fallback of propose_owner applies.
    assert rule_for(db_session, _category(db_session, "component", "报刊亭").id, "430405") is None

    assert seed.load_departments_and_routing(db_session) == 0
    assert _count(db_session, RoutingRule) == created
    assert _count(db_session, Department) == len(seed.DEPARTMENTS)


def test_routing_keeps_admin_rules(db_session: Session) -> None:
    seed.load_directory(db_session)
    seed.load_departments_and_routing(db_session)
    rubbish = _category(db_session, "matter", "暴露垃圾")
    rule = rule_for(db_session, rubbish.id, None)
    assert rule is not None
    sanitation = db_session.scalar(select(Department).where(Department.code == "sanitation"))
    assert sanitation is not None
    rule.handler, rule.department_id = "department", sanitation.id
    db_session.flush()
    seed.load_departments_and_routing(db_session)
    db_session.refresh(rule)
    assert rule.department_id == sanitation.id


# ---------------------------------------------------------------------- demo people
EXPECTED_USERS = {
    "operator": (Role.OPERATOR, ScopeKind.CITY),
    "inspector": (Role.INSPECTOR, ScopeKind.DISTRICT),
    "supervisor": (Role.SHIFT_SUPERVISOR, ScopeKind.CITY),
    "dispatcher": (Role.DISPATCHER, ScopeKind.CITY),
    "officer": (Role.GRID_OFFICER, ScopeKind.GRIDS),
    "officer2": (Role.GRID_OFFICER, ScopeKind.GRIDS),
    "municipal": (Role.DEPARTMENT_STAFF, ScopeKind.GRIDS),
    "leader": (Role.LEADER, ScopeKind.CITY),
    "admin": (Role.ADMIN, ScopeKind.CITY),
    "district_supervisor": (Role.SHIFT_SUPERVISOR, ScopeKind.DISTRICT),
}


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None, username
    return user


def test_demo_people(db_session: Session) -> None:
    logins = seed.load_demo_people(db_session)
    assert [login.username for login in logins] == list(EXPECTED_USERS)
    assert all(login.created and login.password == "demo12345" for login in logins)
    every_role = {r for r in Role if r is not Role.SYSTEM}
    assert {r for login in logins for r in login.roles} == every_role

    for username, (role, scope_kind) in EXPECTED_USERS.items():
        user = _user(db_session, username)
        assert [(g.role, g.scope_kind) for g in user.grants] == [(role, scope_kind)]
        assert check_password_hash(user.password_hash, "demo12345")
        assert not check_password_hash(user.password_hash, "wrong")
    for username in ("inspector", "district_supervisor"):
        assert _user(db_session, username).grants[0].scope_code == "430407"

    districts = []
    for username in ("officer", "officer2"):
        user = _user(db_session, username)
        assert user.officer_id is not None and user.grants[0].scope_code == ""
        grids = duty_grid_codes(db_session, user.officer_id)
        primary_of = [g for g in grids if primary_officer(db_session, g) == user.officer_id]
        assert primary_of, username
        districts.append(primary_of[0][:6])
    assert districts[0] == "430407" and districts[1] != "430407"

    municipal = _user(db_session, "municipal")
    department = db_session.get(Department, municipal.department_id)
    assert department is not None and department.code == "municipal"
    login = next(lg for lg in logins if lg.username == "municipal")
    assert "市政设施管理处" in login.scope


def test_demo_people_rerun_skips_existing(db_session: Session) -> None:
    seed.load_demo_people(db_session)
    admin = _user(db_session, "admin")
    admin.display_name = "改过的名字"
    db_session.flush()
    count = _count(db_session, User)
    again = seed.load_demo_people(db_session, password="other-password")
    assert _count(db_session, User) == count == len(EXPECTED_USERS)
    assert not any(login.created for login in again)
    assert check_password_hash(admin.password_hash, "demo12345")
    assert next(lg for lg in again if lg.username == "admin").display_name == "改过的名字"


# ---------------------------------------------------------------------- everything
def test_seed_all_twice(db_session: Session) -> None:
    logins = seed.seed_all(db_session)
    assert len(logins) == len(EXPECTED_USERS)
    counts = [_count(db_session, m) for m in (Category, FilingCondition, RoutingRule, User)]
    again = seed.seed_all(db_session)
    assert [lg.username for lg in again] == [lg.username for lg in logins]
    assert [_count(db_session, m) for m in (Category, FilingCondition, RoutingRule, User)] == counts
    assert counts[0] == 403
