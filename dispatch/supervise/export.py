"""Exports of the filtered overdue list: CSV (UTF-8 with BOM, so Excel opens it in Chinese) and
Excel (.xlsx, openpyxl).

The exports hold work data only: no reporter name, phone number, address or description (a
citizen's text may carry personal data), and no officer phone numbers. Text cells that a
spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@`` …) are written as plain text.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _

from core.i18n import SHANGHAI, local_time
from dispatch.supervise.queries import OverdueItem

#: The most rows one export holds (a city's whole open list is far below this).
MAX_EXPORT_ROWS = 100_000
#: Characters that make a spreadsheet treat a text cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """One column of the export: its key (stable, for machines), header and kind."""

    key: str
    header: str
    kind: str = "text"  #: text, int or datetime


def columns() -> list[Column]:
    """The export's columns in order, with headers in the request's language."""
    return [
        Column("number", _("Case")),
        Column("warning", _("Warning")),
        Column("stage", _("Stage")),
        Column("round", _("Round"), "int"),
        Column("due_at", _("Due (Beijing time)"), "datetime"),
        Column("late_by", _("Late by / due in")),
        Column("minutes_past_due", _("Minutes past due"), "int"),
        Column("state", _("State")),
        Column("district", _("District")),
        Column("grid", _("Grid")),
        Column("category", _("Category")),
        Column("owner", _("Owner")),
        Column("source", _("Source")),
        Column("reported_at", _("Reported (Beijing time)"), "datetime"),
        Column("urge_count", _("Urged"), "int"),
    ]


def _values(item: OverdueItem) -> dict[str, Any]:
    row = item.row
    return {
        "number": row.number,
        "warning": _("Overdue") if item.level == "red" else _("Due soon"),
        "stage": item.stage_label,
        "round": row.round,
        "due_at": row.due_at,
        "late_by": item.late_text if item.level == "red" else _("due in %(t)s", t=item.late_text),
        # Whole minutes past the due time (rounded up); negative: not due yet.
        "minutes_past_due": math.ceil(row.late_by_s / 60),
        "state": item.state_label,
        "district": item.district,
        "grid": item.grid,
        "category": item.category,
        "owner": item.owner,
        "source": item.source_label,
        "reported_at": row.created_at,
        "urge_count": row.urge_count,
    }


def safe_text(value: str) -> str:
    """Text a spreadsheet shows as typed, never evaluates (leading ``'`` before formulas)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_lines(items: list[OverdueItem]) -> Iterator[str]:
    """The CSV export, line by line (the first starts with a BOM for Excel)."""
    cols = columns()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([c.header for c in cols])
    yield "\ufeff" + flush()
    for item in items:
        values = _values(item)
        out = []
        for col in cols:
            value = values[col.key]
            if col.kind == "datetime":
                out.append(local_time(value) if value else "")
            elif col.kind == "int":
                out.append(str(value))
            else:
                out.append(safe_text(str(value or "")))
        writer.writerow(out)
        yield flush()


def xlsx_bytes(items: list[OverdueItem], *, filters: dict[str, str], now: datetime) -> bytes:
    """The Excel export: the list on its first sheet, what was asked for on the second."""
    # Imported here: openpyxl takes half a second to import, which workers and the scheduler
    # (that never export) should not pay at start-up.
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    cols = columns()
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Overdue cases"))
    sheet.freeze_panes = "B2"
    bold = Font(bold=True)
    header = []
    for col in cols:
        cell = WriteOnlyCell(sheet, value=col.header)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for item in items:
        values = _values(item)
        out = []
        for col in cols:
            value = values[col.key]
            if col.kind == "datetime":
                # Excel has no time zones: Beijing wall-clock time, as the header says.
                cell = WriteOnlyCell(
                    sheet,
                    value=value.astimezone(SHANGHAI).replace(tzinfo=None) if value else None,
                )
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif col.kind == "int":
                cell = WriteOnlyCell(sheet, value=int(value))
            else:
                cell = WriteOnlyCell(sheet, value=str(value or ""))
                cell.data_type = "s"  # never a formula, whatever the text starts with
            out.append(cell)
        sheet.append(out)
    about = book.create_sheet(_("About"))
    about.append([_("Generated (Beijing time)"), local_time(now)])
    about.append([_("Rows"), len(items)])
    for name, value in sorted(filters.items()):
        cell = WriteOnlyCell(about, value=value)
        cell.data_type = "s"
        about.append([name, cell])
    stream = io.BytesIO()
    book.save(stream)
    return stream.getvalue()


def filename(now: datetime, extension: str) -> str:
    """``overdue-20260302-0930.csv``: the list and when it was taken (Beijing time)."""
    return f"overdue-{now.astimezone(SHANGHAI).strftime('%Y%m%d-%H%M')}.{extension}"
