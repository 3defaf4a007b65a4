"""Words for notifications, in the reader's language (rendered when shown or sent, not stored)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.i18n import local_time

STAGE_LABELS = {
    "verify": _l("verification"),
    "file": _l("filing"),
    "dispatch": _l("dispatch"),
    "accept": _l("acceptance"),
    "handle": _l("handling"),
    "check": _l("check"),
    "close": _l("closing"),
    "callback": _l("callback"),
}


def stage_label(stage: str) -> str:
    return str(STAGE_LABELS.get(stage, stage))


def _when(value: Any) -> str:
    if not value:
        return ""
    try:
        return local_time(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def render(kind: str, params: dict[str, Any]) -> tuple[str, str]:
    """(title, body) of a notification of ``kind`` with ``params``, in the current locale."""
    number = params.get("case_number", "")
    stage = stage_label(params.get("stage", ""))
    due = _when(params.get("due_at"))
    note = params.get("note") or ""
    if kind == "dispatched":
        return _("Case %(n)s dispatched to you", n=number), _(
            "Handle it by %(due)s.", due=due
        ) if due else ""
    if kind == "yellow":
        return _("Case %(n)s: %(stage)s due soon", n=number, stage=stage), _(
            "Due at %(due)s.", due=due
        )
    if kind == "red":
        return _("Case %(n)s: %(stage)s overdue", n=number, stage=stage), _(
            "Was due at %(due)s.", due=due
        )
    if kind == "red_digest":
        cases = params.get("cases") or []
        more = int(params.get("count", len(cases))) - len(cases)
        listed = "、".join(cases) + (_(" and %(n)d more", n=more) if more > 0 else "")
        return _("%(n)d cases went overdue", n=int(params.get("count", len(cases)))), listed
    if kind == "urged":
        return _("Case %(n)s urged by %(who)s", n=number, who=params.get("by", "")), note
    if kind == "rework":
        return _("Case %(n)s not fixed: rework", n=number), note
    if kind == "approval_waiting":
        return _(
            "Case %(n)s: a %(kind)s request waits for you",
            n=number,
            kind=request_label(params.get("request", "")),
        ), note
    if kind == "request_decided":
        decision = _("approved") if params.get("decision") == "approved" else _("rejected")
        return _(
            "Case %(n)s: your %(kind)s request was %(decision)s",
            n=number,
            kind=request_label(params.get("request", "")),
            decision=decision,
        ), note
    if kind == "report_flagged":  # an inspector's report to look at before filing
        reasons = []
        if "photo_distance_m" in params:
            reasons.append(_("photo %(m)s m from the point", m=params["photo_distance_m"]))
        if "accuracy_m" in params:
            reasons.append(_("position vague (±%(m)s m)", m=params["accuracy_m"]))
        if "no_position" in (params.get("flags") or []):
            reasons.append(_("no position"))
        return _("Case %(n)s: inspector report flagged", n=number), "; ".join(reasons)
    return f"{kind} {number}", note


REQUEST_LABELS = {"return": _l("return"), "extension": _l("extension"), "suspend": _l("suspension")}


def request_label(kind: str) -> str:
    return str(REQUEST_LABELS.get(kind, kind))
