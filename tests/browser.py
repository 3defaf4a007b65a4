"""Helpers for browser tests: a live server thread and a headless Chromium (Debian's)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
#: Flags that keep Chromium from reaching for the (absent) internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def live_server(app: Flask) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def log_in_page(page: Any, base_url: str, username: str, next_path: str) -> None:
    """Fill the login form, as a person would, and land on ``next_path``."""
    from tests.factories import PASSWORD

    page.goto(f"{base_url}{next_path}")
    assert "/login" in page.url  # anonymous visitors are sent to log in first
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(f"**{next_path.split('?')[0]}*")


def case_counters(session: Any, days: Any) -> dict[str, int | None]:
    """Each day's case counter as it is now (None: no case numbered that day yet), to put back."""
    from dispatch.models import CaseCounter

    counters: dict[str, int | None] = {}
    for day in days:
        row = session.get(CaseCounter, day)
        counters[day] = row.last if row else None
    return counters


def delete_committed(
    session: Any,
    *,
    case_ids: Any = (),
    user_ids: Any = (),
    category_ids: Any = (),
    department_ids: Any = (),
    counters: dict[str, int | None] | None = None,
) -> None:
    """Delete what a browser test committed (its cases, and any case its users reported
    meanwhile; its users, categories with their filing conditions, departments) and put the
    case counters back, so the rest of the suite never sees it. Commits."""
    from sqlalchemy import select

    from dispatch.models import Case, CaseCounter, Category, Department, FilingCondition, User

    user_ids, category_ids = list(user_ids), list(category_ids)
    cases = {session.get(Case, case_id) for case_id in case_ids}
    if user_ids:
        cases.update(session.scalars(select(Case).where(Case.reporter_user_id.in_(user_ids))))
    for case in cases - {None}:
        session.delete(case)
    session.flush()
    for user_id in user_ids:
        user = session.get(User, user_id)
        if user is not None:
            session.delete(user)
    session.flush()
    if category_ids:
        for condition in session.scalars(
            select(FilingCondition).where(FilingCondition.category_id.in_(category_ids))
        ):
            session.delete(condition)
        session.flush()
    for category_id in category_ids:
        session.delete(session.get(Category, category_id))
    for department_id in department_ids:
        session.delete(session.get(Department, department_id))
    restore_counters(session, CaseCounter, counters or {})
    session.commit()


def restore_counters(session: Any, model: Any, counters: dict[str, int | None]) -> None:
    """Put a day-counter table (``model``: day, last) back as ``counters`` recorded it (None:
    the day had no row)."""
    for day, before in counters.items():
        row = session.get(model, day)
        if row is not None and before is None:
            session.delete(row)
        elif row is not None:
            row.last = before
