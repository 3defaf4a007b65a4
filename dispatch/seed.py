"""Seed data: the national category directory, filing conditions, keywords, departments, routing
rules and demo users.

Every loader takes a session, flushes and never commits, and is safe to run again: it adds what is
missing and leaves alone what an administrator has changed (a deactivated category stays inactive,
an edited time limit stays edited, an existing user keeps their password). ``seed_all`` runs them
all in order. The directory and the keywords are data files in ``seed_data/``; the filing
conditions, departments and routing rules are the tables below.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from dispatch.access import duty_grid_codes
from dispatch.models import Category, Department, FilingCondition, RoleGrant, RoutingRule, User
from dispatch.models.catalog import CategoryKind, ClockType, Urgency
from dispatch.models.people import Role, ScopeKind
from dispatch.routing import primary_officer
from grids.features import Level
from grids.models import Grid, Officer
from grids.services import active_set, grids_of

log = logging.getLogger(__name__)

SEED_DATA = Path(__file__).resolve().parent / "seed_data"
#: GB/T 47678.5-2026: 153 components and 250 matters.
DEFAULT_DIRECTORY = SEED_DATA / "gbt47678-5-directory.tsv"
#: Words citizens use for the common classes; administrators edit this file.
KEYWORDS_FILE = SEED_DATA / "keywords.tsv"

#: The demo district that gets district-scoped users and its own enforcement team (石鼓区).
DEMO_DISTRICT = "430407"

_CODE_RE = re.compile(r"[0-9]{4,5}")


# ---------------------------------------------------------------------- reading CSV / TSV files
_KIND_NAMES: dict[CategoryKind, frozenset[str]] = {
    CategoryKind.COMPONENT: frozenset({"component", "components", "部件", "管理部件", "城市部件"}),
    CategoryKind.MATTER: frozenset(
        {"matter", "matters", "event", "events", "事件", "事项", "管理事项", "城市事件"}
    ),
}

#: Accepted header names per column (compared lower-cased).
_COLUMN_NAMES: dict[str, frozenset[str]] = {
    "kind": frozenset({"kind", "type", "类型", "种类"}),
    "code": frozenset({"code", "代码", "编码", "小类代码", "小类编码"}),
    "major_name": frozenset({"major_name", "major", "category", "大类", "大类名称"}),
    "name": frozenset({"name", "小类", "小类名称", "名称"}),
    "keywords": frozenset({"keywords", "keyword", "关键词", "同义词"}),
}


def parse_kind(raw: str | CategoryKind) -> CategoryKind:
    """``component`` or ``matter`` from English or Chinese names (部件, 事件, 事项, ...)."""
    if isinstance(raw, CategoryKind):
        return raw
    text = raw.strip().lower()
    for kind, names in _KIND_NAMES.items():
        if text in names:
            return kind
    raise ValueError(f"unknown kind {raw!r} (component/部件/管理部件 or matter/事件/事项/管理事项)")


@dataclass(frozen=True)
class _Row:
    #: The spreadsheet row number: the file's line (header and comment lines count).
    number: int
    cells: int
    values: dict[str, str]


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("gb18030")  # what Chinese Excel writes when saving as CSV


def _delimiter(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return ","
    if suffix in (".tsv", ".tab"):
        return "\t"
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")), "")
    return "\t" if "\t" in first else ","


def _read_table(path: Path, required: Sequence[str]) -> tuple[list[_Row], int]:
    """Data rows of a CSV/TSV with a header row (``#`` comment lines and blank lines skipped)."""
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(path, text))
    header: dict[str, int] | None = None
    width = 0
    rows: list[_Row] = []
    for record in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in record) or record[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = {}
            for index, cell in enumerate(record):
                column = next(
                    (c for c, ns in _COLUMN_NAMES.items() if cell.strip().lower() in ns), None
                )
                if column is not None and column not in header:
                    header[column] = index
            missing = [c for c in required if c not in header]
            if missing:
                raise ValueError(
                    f"{path.name} row {number}: the header lacks column(s) {', '.join(missing)}"
                    f" (found: {', '.join(c.strip() for c in record)})"
                )
            width = len(record)
            continue
        while record and not record[-1].strip() and len(record) > width:
            record.pop()  # trailing empty cells (spreadsheets write them)
        values = {col: record[i].strip() if i < len(record) else "" for col, i in header.items()}
        rows.append(_Row(number, len(record), values))
    if header is None:
        raise ValueError(f"{path.name}: no header row")
    return rows, width


def _bad_rows(path: Path, errors: list[str], what: str) -> ValueError:
    shown = errors[:50] + ([f"… and {len(errors) - 50} more"] if len(errors) > 50 else [])
    return ValueError(
        f"{path.name}: {len(errors)} bad row(s), nothing {what}:\n" + "\n".join(shown)
    )


# ---------------------------------------------------------------------- categories
@dataclass(frozen=True)
class ImportResult:
    """What a category import did: rows created, rows changed, rows already up to date."""

    created: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass(frozen=True)
class _CategoryRow:
    number: int
    kind: CategoryKind
    code: str
    major_name: str
    name: str
    #: None: leave the category's keywords as they are.
    keywords: str | None


def _parse_category_rows(path: Path, kind: CategoryKind | None) -> list[_CategoryRow]:
    """Validate every row of a category file; ValueError listing all bad rows."""
    required = ["code", "major_name", "name"] + ([] if kind else ["kind"])
    rows, width = _read_table(path, required)
    errors: list[str] = []
    parsed: list[_CategoryRow] = []
    seen: dict[tuple[CategoryKind, str], int] = {}
    for row in rows:
        problems: list[str] = []
        if row.cells > width:
            problems.append(f"{row.cells} cells, the header has {width}")
        row_kind: CategoryKind | None = kind
        if row.values.get("kind"):
            try:
                row_kind = parse_kind(row.values["kind"])
            except ValueError as exc:
                problems.append(str(exc))
        elif kind is None:
            problems.append("kind is empty")
        code = row.values["code"]
        if not _CODE_RE.fullmatch(code):
            hint = ""
            if code.isdigit() and len(code) < 4:
                hint = " (leading zeros lost? keep the column as text in a spreadsheet)"
            problems.append(f"code {code!r} is not 4 or 5 digits{hint}")
        major_name, name = row.values["major_name"], row.values["name"]
        if not major_name:
            problems.append("major_name is empty")
        elif len(major_name) > 100:
            problems.append("major_name is longer than 100 characters")
        if not name:
            problems.append("name is empty")
        elif len(name) > 200:
            problems.append("name is longer than 200 characters")
        if row_kind is not None and not problems:
            first = seen.setdefault((row_kind, code), row.number)
            if first != row.number:
                problems.append(f"{row_kind.value} {code} repeats row {first}")
        if problems:
            errors.append(f"row {row.number}: " + "; ".join(problems))
            continue
        assert row_kind is not None
        keywords = " ".join(row.values.get("keywords", "").split()) or None
        parsed.append(_CategoryRow(row.number, row_kind, code, major_name, name, keywords))
    if errors:
        raise _bad_rows(path, errors, "imported")
    return parsed


def _upsert_categories(session: Session, rows: Iterable[_CategoryRow]) -> ImportResult:
    """Create missing (kind, code) rows, update names of existing ones; never touch is_active."""
    existing = {(c.kind, c.code): c for c in session.scalars(select(Category))}
    created = updated = unchanged = 0
    for row in rows:
        category = existing.get((row.kind.value, row.code))
        if category is None:
            category = Category(
                kind=row.kind.value,
                code=row.code,
                major_code=row.code[:2],
                major_name=row.major_name,
                name=row.name,
                keywords=row.keywords or "",
                is_active=True,
            )
            session.add(category)
            existing[(row.kind.value, row.code)] = category
            created += 1
            continue
        new = {"major_code": row.code[:2], "major_name": row.major_name, "name": row.name}
        if row.keywords is not None:
            new["keywords"] = row.keywords
        if all(getattr(category, attr) == value for attr, value in new.items()):
            unchanged += 1
            continue
        for attr, value in new.items():
            setattr(category, attr, value)
        updated += 1
    session.flush()
    return ImportResult(created, updated, unchanged)


def load_directory(session: Session, path: Path | str = DEFAULT_DIRECTORY) -> int:
    """Load the national directory (kind, code, category, name); return the rows loaded."""
    rows = _parse_category_rows(Path(path), None)
    return _upsert_categories(session, rows).total


def import_categories(
    session: Session, path: Path | str, kind: CategoryKind | str | None = None
) -> ImportResult:
    """Import a CSV/TSV category list (e.g. an older 2+2-digit code set); all rows or none.

    Columns (header row, English or Chinese names): kind (optional when ``kind`` is given; it is
    then the default for rows with an empty kind cell), code (4 or 5 digits), major_name, name,
    keywords (optional; an empty cell keeps the category's keywords). Rows match existing
    categories on (kind, code): names are updated, nothing is duplicated or reactivated.
    """
    return _upsert_categories(
        session, _parse_category_rows(Path(path), parse_kind(kind) if kind else None)
    )


# ---------------------------------------------------------------------- keywords
def _merge_words(current: str, extra: str) -> str:
    words = current.split()
    words += [w for w in dict.fromkeys(extra.split()) if w not in words]
    return " ".join(words)


def load_keywords(session: Session, path: Path | str = KEYWORDS_FILE) -> int:
    """Add the file's keywords to the categories it names (never removing any); return changes.

    Columns: kind, code, keywords (and name, for reading only). Rows naming a category that is not
    in the database are skipped with a warning.
    """
    path = Path(path)
    rows, width = _read_table(path, ["kind", "code", "keywords"])
    errors: list[str] = []
    wanted: list[tuple[CategoryKind, str, str]] = []
    for row in rows:
        problems = []
        kind: CategoryKind | None = None
        try:
            kind = parse_kind(row.values["kind"])
        except ValueError as exc:
            problems.append(str(exc))
        if not _CODE_RE.fullmatch(row.values["code"]):
            problems.append(f"code {row.values['code']!r} is not 4 or 5 digits")
        if row.cells > width:
            problems.append(f"{row.cells} cells, the header has {width}")
        if problems or kind is None:
            errors.append(f"row {row.number}: " + "; ".join(problems))
            continue
        wanted.append((kind, row.values["code"], row.values["keywords"]))
    if errors:
        raise _bad_rows(path, errors, "loaded")
    existing = {(c.kind, c.code): c for c in session.scalars(select(Category))}
    changed = 0
    for kind, code, words in wanted:
        category = existing.get((kind.value, code))
        if category is None:
            log.warning("%s: no %s category %s, keywords skipped", path.name, kind.value, code)
            continue
        merged = _merge_words(category.keywords or "", words)
        if merged != (category.keywords or ""):
            category.keywords = merged
            changed += 1
    session.flush()
    return changed


# ---------------------------------------------------------------------- filing conditions
@dataclass(frozen=True)
class CategoryMatch:
    """Which directory classes a seed entry covers, by name.

    ``names`` are exact names; each also matches its matter form (the directory names the matter
    of a component ``<component>异常``: 路灯 / 路灯异常). ``contains`` are substrings (井盖).
    """

    names: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()

    def matches(self, name: str) -> bool:
        """Whether a category called ``name`` is covered."""
        if name in self.names or name.removesuffix("异常") in self.names:
            return True
        return any(part in name for part in self.contains)


@dataclass(frozen=True)
class ConditionSpec:
    """A seeded filing condition: its text, handling limit and closing condition."""

    text: str
    limit_value: float
    clock_type: ClockType
    closing_condition: str
    urgency: Urgency = Urgency.NORMAL


_NAT = ClockType.NATURAL_HOURS
_WH = ClockType.WORKING_HOURS
_WD = ClockType.WORKING_DAYS
_URGENT = Urgency.URGENT

MANHOLES = CategoryMatch(names=("雨水箅子", "沟槽盖板"), contains=("井盖",))
ILLEGAL_BUILDING = CategoryMatch(names=("私搭乱建", "无证建设"))
STREET_LAMPS = CategoryMatch(names=("路灯",))
STREET_VENDING = CategoryMatch(names=("无照经营游商", "占道经营"))

#: Filing conditions of the common classes (DOMAIN.md §4 and published city rules). The first
#: entry matching a category's name gives all its conditions.
FILING_CONDITIONS: tuple[tuple[CategoryMatch, tuple[ConditionSpec, ...]], ...] = (
    (
        MANHOLES,
        (
            ConditionSpec(
                "井盖（箅子、盖板）丢失、缺失", 2, _NAT, "已补齐，盖面平整、稳固", _URGENT
            ),
            ConditionSpec(
                "井盖（箅子、盖板）破损、移位、下沉或松动",
                6,
                _NAT,
                "已更换或复位，盖面平整、与路面齐平",
                _URGENT,
            ),
        ),
    ),
    (
        STREET_LAMPS,
        (
            ConditionSpec("连续3盏及以上路灯不亮，或整条道路路灯不亮", 1, _WD, "路灯已恢复亮灯"),
            ConditionSpec(
                "灯杆倾斜、灯具松动或破损，有坠落危险",
                4,
                _NAT,
                "已加固、更换或拆除，危险已消除",
                _URGENT,
            ),
        ),
    ),
    (
        CategoryMatch(names=("交通信号灯",)),
        (ConditionSpec("信号灯不亮、损坏或显示错误", 2, _NAT, "信号灯已恢复正常", _URGENT),),
    ),
    (
        CategoryMatch(names=("交通护栏",)),
        (ConditionSpec("护栏缺失、倾倒或破损", 1, _WD, "已修复或更换，护栏整齐稳固"),),
    ),
    (
        CategoryMatch(names=("消防设施",)),
        (ConditionSpec("消火栓漏水、损坏或被圈占、遮挡", 1, _WD, "已修复或清除遮挡，可正常使用"),),
    ),
    (
        CategoryMatch(names=("垃圾箱",)),
        (
            ConditionSpec("垃圾箱满溢、周边脏污", 4, _WH, "已清运，箱体及周边干净"),
            ConditionSpec("垃圾箱破损、缺失", 3, _WD, "已修复或补齐"),
        ),
    ),
    (
        CategoryMatch(names=("公共厕所",)),
        (ConditionSpec("公厕脏污、有异味或设施损坏", 1, _WD, "已保洁或修复，可正常使用"),),
    ),
    (
        CategoryMatch(names=("行道树", "独立树", "古树名木")),
        (
            ConditionSpec(
                "树木倒伏、断枝，危及行人车辆安全",
                4,
                _NAT,
                "已扶正、修剪或清除，危险已消除",
                _URGENT,
            ),
            ConditionSpec("树木缺株、枯死或歪斜", 15, _WD, "已补植或扶正"),
        ),
    ),
    (
        CategoryMatch(names=("道路破损",)),
        (
            ConditionSpec(
                "路面塌陷或出现大坑，危及通行安全",
                6,
                _NAT,
                "已设置警示并完成修复，路面平整",
                _URGENT,
            ),
            ConditionSpec("路面破损、坑洼、拥包或人行道砖松动", 5, _WD, "已修复，路面平整"),
        ),
    ),
    (
        CategoryMatch(names=("路缘石缺损", "盲道缺损", "台阶破损", "无障碍坡道破损")),
        (ConditionSpec("路缘石、盲道、台阶或坡道缺损", 5, _WD, "已修复完好"),),
    ),
    (
        CategoryMatch(names=("暴露垃圾",)),
        (ConditionSpec("主次干道、广场、公共场所有暴露垃圾", 4, _WH, "已清理干净，无残留"),),
    ),
    (
        CategoryMatch(names=("积存垃圾渣土",)),
        (ConditionSpec("积存的生活垃圾、建筑渣土", 1, _WD, "已清运干净，无残留"),),
    ),
    (
        CategoryMatch(names=("道路不洁",)),
        (
            ConditionSpec(
                "08:00 后主次干道、公共场所路面不洁（垃圾、污物、积水）", 2, _WH, "路面已清扫干净"
            ),
        ),
    ),
    (
        CategoryMatch(names=("道路遗撒（洒）",)),
        (ConditionSpec("车辆遗撒泥浆、渣土或其他物料", 2, _WH, "已清理干净，路面无遗撒"),),
    ),
    (
        CategoryMatch(names=("绿地脏乱",)),
        (ConditionSpec("绿地内有垃圾、杂物或枯枝落叶堆积", 1, _WD, "绿地已清理干净"),),
    ),
    (
        CategoryMatch(names=("垃圾站（箱）满溢",)),
        (ConditionSpec("垃圾站、垃圾箱满溢，周边散落垃圾", 4, _WH, "已清运，周边干净"),),
    ),
    (
        CategoryMatch(names=("焚烧垃圾、树叶",)),
        (ConditionSpec("露天焚烧垃圾、树叶", 2, _NAT, "已扑灭并清理现场", _URGENT),),
    ),
    (
        CategoryMatch(names=("动物尸体",)),
        (ConditionSpec("道路或公共场所有动物尸体", 2, _WH, "已清理并消毒"),),
    ),
    (
        CategoryMatch(names=("乱堆杂物", "废弃家具设备")),
        (ConditionSpec("公共场所乱堆乱放杂物、废弃家具", 1, _WD, "已清运，现场干净"),),
    ),
    (
        CategoryMatch(names=("废弃车辆",)),
        (
            ConditionSpec(
                "长期停放、无人使用的废弃车辆（僵尸车）", 5, _WD, "车辆已移走或由车主处置"
            ),
        ),
    ),
    (
        CategoryMatch(names=("乱倒乱排污水、废水",)),
        (ConditionSpec("乱倒乱排污水、废水", 4, _WH, "已停止排放，现场清理干净"),),
    ),
    (
        ILLEGAL_BUILDING,
        (
            ConditionSpec("正在搭建的违法建设（责令停止施工）", 4, _WH, "已停止施工"),
            ConditionSpec("已建成的违法建设（限期拆除）", 15, _WD, "已拆除，恢复原状"),
        ),
    ),
    (
        STREET_VENDING,
        (ConditionSpec("占道摆摊、流动摊贩经营", 2, _WH, "摊点已撤离，现场清理干净"),),
    ),
    (
        CategoryMatch(names=("店外经营",)),
        (ConditionSpec("店铺超出门窗、外墙经营或摆放", 2, _WH, "已退回店内经营，门前整洁"),),
    ),
    (
        CategoryMatch(names=("占道洗车", "占道促销宣传")),
        (ConditionSpec("占用道路洗车或促销宣传", 2, _WH, "已停止占道，现场清理干净"),),
    ),
    (
        CategoryMatch(names=("露天烧烤",)),
        (ConditionSpec("露天烧烤影响市容和周边居民", 2, _WH, "已停止露天烧烤，现场清理干净"),),
    ),
    (
        CategoryMatch(names=("机动车乱停放", "非机动车乱停放", "共享单车乱象")),
        (
            ConditionSpec(
                "车辆乱停乱放，占用人行道、盲道或影响通行", 2, _WH, "车辆已驶离或摆放整齐"
            ),
        ),
    ),
    (
        CategoryMatch(names=("占用消防通道",)),
        (ConditionSpec("占用、堵塞消防通道", 2, _NAT, "消防通道已畅通", _URGENT),),
    ),
    (
        # Night-time construction is an offence in itself, but the case is still handled in
        # working hours by the enforcement team, so the class stays normal.
        CategoryMatch(names=("施工扰民",)),
        (ConditionSpec("施工噪声、灯光、振动扰民", 4, _WH, "已停止违规施工，扰民问题消除"),),
    ),
    (
        CategoryMatch(names=("噪声扰民",)),
        (
            ConditionSpec(
                "社会生活噪声扰民（广场舞、高音喇叭、商业宣传等）",
                4,
                _WH,
                "噪声已停止或降至规定标准",
            ),
        ),
    ),
    (
        CategoryMatch(names=("工地扬尘",)),
        (
            ConditionSpec(
                "施工工地扬尘，未采取覆盖、洒水等防尘措施", 4, _WH, "已落实防尘措施，无明显扬尘"
            ),
        ),
    ),
    (
        CategoryMatch(names=("非法小广告",)),
        (ConditionSpec("乱张贴、乱涂写、乱刻画小广告", 1, _WD, "已清除，无残留痕迹"),),
    ),
    (
        CategoryMatch(names=("街头散发广告",)),
        (ConditionSpec("街头散发广告传单", 2, _WH, "已停止散发，散落传单已清理"),),
    ),
    (
        CategoryMatch(names=("道路积雪、结冰",)),
        (
            ConditionSpec(
                "主次干道、桥梁、坡道积雪结冰影响通行",
                6,
                _NAT,
                "已清除积雪、撒布融雪剂，通行安全",
                _URGENT,
            ),
        ),
    ),
    (
        CategoryMatch(names=("架空线缆脱落",)),
        (
            ConditionSpec(
                "架空线缆脱落、低垂，影响通行或有触电危险",
                2,
                _NAT,
                "已固定、规整或拆除，危险已消除",
                _URGENT,
            ),
        ),
    ),
)

#: Every other class starts with this one condition (is_default=True) until an administrator
#: refines it. 3 working days is the middle of the 1-5 working-day range published city rules
#: give non-urgent repairs and clean-ups: short enough that a forgotten case still turns overdue
#: within the week, long enough not to flood the overdue list with classes whose real limit is
#: days (a replacement sign, a broken bench) before anyone has looked at them.
DEFAULT_CONDITION = ConditionSpec("符合立案标准", 3, _WD, "问题已处置完毕")


def conditions_for(name: str) -> tuple[ConditionSpec, ...]:
    """The seeded filing conditions for a class called ``name`` (empty: use the default)."""
    return next((specs for match, specs in FILING_CONDITIONS if match.matches(name)), ())


def load_filing_conditions(session: Session) -> int:
    """Give every category without any condition its seeded ones or the default; return created.

    A category that already has conditions (seeded earlier, or set up by an administrator,
    active or not) is left alone, so edits and deactivations survive a re-run. Inactive
    categories get conditions too, so reactivating one makes it fileable at once.
    """
    has_conditions = set(session.scalars(select(FilingCondition.category_id).distinct()))
    created = 0
    for category in session.scalars(select(Category).order_by(Category.kind, Category.code)):
        if category.id in has_conditions:
            continue
        specs = conditions_for(category.name)
        for spec in specs or (DEFAULT_CONDITION,):
            session.add(
                FilingCondition(
                    category_id=category.id,
                    text=spec.text,
                    limit_value=float(spec.limit_value),
                    clock_type=spec.clock_type.value,
                    closing_condition=spec.closing_condition,
                    urgency=spec.urgency.value,
                    is_default=not specs,
                    is_active=True,
                )
            )
            created += 1
    session.flush()
    return created


# ---------------------------------------------------------------------- departments and routing
@dataclass(frozen=True)
class DepartmentSpec:
    """A demo department: city level unless ``district_code`` is set."""

    code: str
    name: str
    district_code: str | None = None


DEPARTMENTS: tuple[DepartmentSpec, ...] = (
    DepartmentSpec("municipal", "市政设施管理处"),
    DepartmentSpec("sanitation", "环境卫生管理处"),
    DepartmentSpec("streetlight", "路灯管理所"),
    DepartmentSpec("enforcement", "城市管理行政执法支队"),
    DepartmentSpec("greening", "园林绿化管理处"),
    DepartmentSpec("traffic", "交通警察支队"),
    DepartmentSpec(f"enforcement-{DEMO_DISTRICT}", "石鼓区城管执法大队", DEMO_DISTRICT),
)


@dataclass(frozen=True)
class RoutingSpec:
    """Who handles the matched classes: a department by code, or (None) the grid's officer."""

    match: CategoryMatch
    department: str | None
    district_code: str | None = None


ENFORCEMENT = CategoryMatch(
    names=(
        *ILLEGAL_BUILDING.names,
        *STREET_VENDING.names,
        "店外经营",
        "占道洗车",
        "占道促销宣传",
        "露天烧烤",
        "非法小广告",
        "街头散发广告",
        "违规户外广告",
        "违规牌匾标识",
        "施工扰民",
        "工地扬尘",
    )
)

#: Routing rules; for one category and district the first matching entry wins. Classes without a
#: rule go to the grid's primary officer (the fallback of ``dispatch.routing.propose_owner``).
ROUTING_RULES: tuple[RoutingSpec, ...] = (
    RoutingSpec(MANHOLES, "municipal"),
    RoutingSpec(
        CategoryMatch(
            names=(
                "道路破损",
                "路缘石缺损",
                "盲道缺损",
                "台阶破损",
                "无障碍坡道破损",
                "过街天桥",
                "地下通道",
            )
        ),
        "municipal",
    ),
    RoutingSpec(CategoryMatch(names=("路灯", "地灯", "景观灯", "路灯配电箱")), "streetlight"),
    RoutingSpec(
        CategoryMatch(
            names=(
                "垃圾箱",
                "垃圾间（楼）",
                "公共厕所",
                "积存垃圾渣土",
                "垃圾站（箱）满溢",
                "道路遗撒（洒）",
                "动物尸体",
            )
        ),
        "sanitation",
    ),
    RoutingSpec(ENFORCEMENT, "enforcement"),
    # In 石鼓区 the district's own team does the enforcement work.
    RoutingSpec(ENFORCEMENT, f"enforcement-{DEMO_DISTRICT}", DEMO_DISTRICT),
    RoutingSpec(
        CategoryMatch(
            names=(
                "行道树",
                "独立树",
                "古树名木",
                "绿地",
                "绿地护栏",
                "树池树穴",
                "绿地脏乱",
                "病虫害",
                "非法伐树",
                "非法占绿毁绿",
            )
        ),
        "greening",
    ),
    RoutingSpec(CategoryMatch(names=("机动车乱停放", "交通信号灯", "交通信号设施")), "traffic"),
    # Community-level matters: the grid's officer knows the street and calls the cleaners.
    RoutingSpec(
        CategoryMatch(names=("暴露垃圾", "道路不洁", "非机动车乱停放", "乱堆杂物", "沿街晾挂")),
        None,
    ),
)


def _ensure_departments(session: Session) -> dict[str, Department]:
    """The demo departments by code, creating those missing (existing ones are not changed)."""
    existing = {d.code: d for d in session.scalars(select(Department))}
    for spec in DEPARTMENTS:
        if spec.code not in existing:
            department = Department(
                code=spec.code, name=spec.name, district_code=spec.district_code, is_active=True
            )
            session.add(department)
            existing[spec.code] = department
    session.flush()
    return existing


def load_departments_and_routing(session: Session) -> int:
    """Create the demo departments and routing rules that are missing; return rules created.

    A category that already has a rule for a district (or city-wide) keeps it.
    """
    departments = _ensure_departments(session)
    taken = {(r.category_id, r.district_code) for r in session.scalars(select(RoutingRule))}
    categories = list(session.scalars(select(Category).order_by(Category.kind, Category.code)))
    created = 0
    for spec in ROUTING_RULES:
        department = departments[spec.department] if spec.department else None
        for category in categories:
            key = (category.id, spec.district_code)
            if key in taken or not spec.match.matches(category.name):
                continue
            session.add(
                RoutingRule(
                    category_id=category.id,
                    district_code=spec.district_code,
                    handler="department" if department else "grid_officer",
                    department_id=department.id if department else None,
                    priority=0,
                )
            )
            taken.add(key)
            created += 1
    session.flush()
    return created


# ---------------------------------------------------------------------- demo people
@dataclass
class DemoLogin:
    """A demo account as the start command prints it."""

    username: str
    password: str
    display_name: str
    roles: list[str]
    scope: str
    #: False when the user already existed (its password may have been changed since).
    created: bool = True


@dataclass(frozen=True)
class _Person:
    username: str
    display_name: str
    role: Role
    scope_kind: ScopeKind = ScopeKind.CITY
    scope_code: str = ""
    officer_id: int | None = None
    department_id: int | None = None


def _officer_of(
    session: Session, communities: list[Grid], district: str, taken: set[int]
) -> tuple[Officer, Grid] | None:
    """The primary officer on duty today of the first community grid of ``district`` with one."""
    for grid in communities:
        if not grid.code.startswith(district) or not grid.is_active:
            continue
        officer_id = primary_officer(session, grid.code)
        if officer_id is not None and officer_id not in taken:
            officer = session.get(Officer, officer_id)
            if officer is not None and officer.is_active:
                return officer, grid
    return None


def _scope_label(session: Session, user: User, grant: RoleGrant) -> str:
    if grant.role == Role.DEPARTMENT_STAFF and user.department_id is not None:
        department = session.get(Department, user.department_id)
        return f"department {department.name if department else user.department_id}"
    if grant.scope_kind == ScopeKind.DISTRICT:
        return f"district {grant.scope_code}"
    if grant.scope_kind == ScopeKind.GRIDS:
        codes = sorted(grant.scope_code.split())
        if user.officer_id is not None:
            codes = sorted(set(codes) | duty_grid_codes(session, user.officer_id))
        return "grids " + (" ".join(codes) if codes else "(none)")
    return "city"


def _demo_people(session: Session) -> list[_Person]:
    """The demo accounts, with districts and officers taken from the active boundary set."""
    departments = _ensure_departments(session)
    bset = active_set(session)
    districts = (
        {g.code[:6]: g.name for g in grids_of(session, bset.id, level=Level.DISTRICT)}
        if bset
        else {}
    )
    district = DEMO_DISTRICT if DEMO_DISTRICT in districts or not districts else min(districts)
    district_name = districts.get(district, "")
    people = [
        _Person("operator", "话务员 刘芳", Role.OPERATOR),
        _Person(
            "inspector",
            f"监督员 李强（{district_name or district}）",
            Role.INSPECTOR,
            ScopeKind.DISTRICT,
            district,
        ),
        _Person("supervisor", "值班长 王军", Role.SHIFT_SUPERVISOR),
        _Person("dispatcher", "派遣员 陈静", Role.DISPATCHER),
    ]
    # Grid officers reach their grids through their duties: scope "grids" with no codes.
    if bset is not None:
        communities = grids_of(session, bset.id, level=Level.COMMUNITY)
        taken: set[int] = set()
        others = sorted(d for d in districts if d != district)
        for username, candidates in (("officer", [district]), ("officer2", others)):
            found = next(
                (hit for d in candidates if (hit := _officer_of(session, communities, d, taken))),
                None,
            )
            if found is None:
                log.warning("no primary officer on duty today for demo user %s", username)
                continue
            officer, grid = found
            taken.add(officer.id)
            people.append(
                _Person(
                    username,
                    f"网格员 {officer.name}（{grid.name}）",
                    Role.GRID_OFFICER,
                    ScopeKind.GRIDS,
                    "",
                    officer_id=officer.id,
                )
            )
    else:
        log.warning("no active boundary set: demo grid officers are not created")
    people += [
        # Department staff reach the cases their department owns, nothing else.
        _Person(
            "municipal",
            "市政设施管理处 赵刚",
            Role.DEPARTMENT_STAFF,
            ScopeKind.GRIDS,
            "",
            department_id=departments["municipal"].id,
        ),
        _Person("leader", "领导 周建国", Role.LEADER),
        _Person("admin", "系统管理员", Role.ADMIN),
        _Person(
            "district_supervisor",
            f"{district_name or district}值班长 孙伟",
            Role.SHIFT_SUPERVISOR,
            ScopeKind.DISTRICT,
            district,
        ),
    ]
    return people


def load_demo_people(session: Session, password: str = "demo12345") -> list[DemoLogin]:
    """Create the demo users (existing usernames are skipped); return every demo login."""
    logins: list[DemoLogin] = []
    for person in _demo_people(session):
        user = session.scalar(select(User).where(User.username == person.username))
        created = user is None
        if user is None:
            user = User(
                username=person.username,
                display_name=person.display_name,
                password_hash=generate_password_hash(password),
                is_active=True,
                officer_id=person.officer_id,
                department_id=person.department_id,
                grants=[
                    RoleGrant(
                        role=person.role.value,
                        scope_kind=person.scope_kind.value,
                        scope_code=person.scope_code,
                    )
                ],
            )
            session.add(user)
            session.flush()
        logins.append(
            DemoLogin(
                username=user.username,
                password=password,
                display_name=user.display_name,
                roles=sorted(g.role for g in user.grants),
                scope="; ".join(_scope_label(session, user, g) for g in user.grants) or "(none)",
                created=created,
            )
        )
    return logins


# ---------------------------------------------------------------------- everything
def seed_all(session: Session) -> list[DemoLogin]:
    """Directory, keywords, filing conditions, departments and routing, demo people; re-runnable."""
    rows = load_directory(session)
    words = load_keywords(session)
    conditions = load_filing_conditions(session)
    rules = load_departments_and_routing(session)
    logins = load_demo_people(session)
    from dispatch.sla.policy import seed_policies

    seed_policies(session)  # the stage limits (verify, file, dispatch, accept, check, close…)
    from dispatch.sla.calendar_store import seed_calendar

    seed_calendar(session)  # working windows, holidays and make-up days (chinesecalendar)
    from dispatch.insight.settings import seed_evaluation_settings

    seed_evaluation_settings(session)  # evaluation weights and grade bands (DOMAIN.md §7)
    log.info(
        "seed: %d directory rows, %d categories given keywords, %d conditions and %d routing "
        "rules created, %d new demo users",
        rows,
        words,
        conditions,
        rules,
        sum(login.created for login in logins),
    )
    return logins
