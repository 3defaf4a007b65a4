"""Supervisor benchmark: the overdue list, the dashboard and a month's evaluation on PostgreSQL.

The data set is ``bench.sla_bench``'s (imported, not copied): 1,000,000 closed cases over two
years with their met stage timers, and 50,000 open cases whose open timers have real due times,
around the same fixed "now" (Wednesday 2026-11-18 10:15 Asia/Shanghai). This bench adds what the
evaluation reads and that one does not make, set-based: the people (operators, inspectors per
district, shift supervisors, dispatchers), department owners for the classes routed to
departments, 5% reworked cases, and the event log of every closed case (report, verification for
30% of calls, filing, dispatch — 70% automatic —, 2% approved returns and a second dispatch,
acceptance, completion, check, closing, the callback of hotline cases), each event carrying the
stage result it froze, as ``workflow.perform`` records it.

- ``overdue_list_p95_ms``: the ``/supervise/overdue`` page (first page) of a district
  supervisor through a test client (server time); also the page city-wide and the bare
  ``dispatch.sla.queries.overdue(session, district=…, limit=50)`` over the 7 districts.
- ``dashboard_ms``: p95 of the ``/insight`` page (last 30 days, city-wide) through a test
  client; also the JSON twin, a district's view and the bare function.
- ``evaluation_month_s``: median of ``/insight/evaluation`` for October 2026, city-wide, through
  a test client; also the bare function, a district's view and the CSV export.

The database is dropped at the end (``--keep`` keeps it). Without a reachable PostgreSQL the run
is skipped (exit 0). Results: ``bench/results/supervisor.json``.

    python -m bench.supervisor_bench [--closed N] [--open N] [--calls N] [--runs N] [--keep]
    python -m bench.supervisor_bench --reuse sla_bench_<pid>   # measure again, kept database
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from bench.sla_bench import (
    DEFAULT_SERVER,
    NOW,
    CountingRunner,
    Reference,
    build,
    explain,
    load,
    percentile,
    plan_summary,
    psycopg_dsn,
    reachable,
    throwaway_database,
    timed_calls,
    with_database,
)

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"overdue_list_p95_ms": 100.0, "dashboard_ms": 300.0, "evaluation_month_s": 2.0}
#: The month evaluated (complete, inside the closed history) and the dashboard's 30 days.
MONTH = (date(2026, 10, 1), date(2026, 10, 31))
LAST_30 = (date(2026, 10, 20), date(2026, 11, 18))
#: People of each role the event log is spread over.
OPERATORS, SUPERVISORS, DISPATCHERS, INSPECTORS_PER_DISTRICT = 12, 8, 6, 3

PEOPLE = """
INSERT INTO app_user (username, display_name, password_hash, is_active, locale, created_at)
SELECT 'bench-' || r.role || '-' || n, r.label || ' ' || n, 'x', true, 'zh_Hans_CN', now()
FROM (VALUES ('operator', '受理员', %(ops)s), ('shift_supervisor', '值班长', %(sups)s),
             ('dispatcher', '派遣员', %(disps)s)) AS r(role, label, k)
CROSS JOIN LATERAL generate_series(1, r.k) AS n
UNION ALL
SELECT 'bench-inspector-' || d || '-' || n, '监督员 ' || d || '-' || n, 'x', true, 'zh_Hans_CN',
    now()
FROM unnest(%(districts)s::text[]) AS d CROSS JOIN generate_series(1, %(per)s) AS n
"""

GRANTS = """
INSERT INTO role_grant (user_id, role, scope_kind, scope_code)
SELECT id, CASE WHEN username LIKE 'bench-inspector-%' THEN 'inspector'
        ELSE substring(username FROM '^bench-(.*)-[0-9]+$') END,
    CASE WHEN username LIKE 'bench-inspector-%' THEN 'district' ELSE 'city' END,
    CASE WHEN username LIKE 'bench-inspector-%' THEN split_part(username, '-', 3) ELSE '' END
FROM app_user WHERE username LIKE 'bench-%'
"""

VIEWERS = """
INSERT INTO app_user (username, display_name, password_hash, is_active, locale, created_at)
VALUES ('bench-leader', '领导', 'x', true, 'zh_Hans_CN', now()),
       ('bench-district-supervisor', '区值班长', 'x', true, 'zh_Hans_CN', now())
RETURNING id, username
"""

#: Classes a department handles (city-wide routing rules) go to that department.
DEPARTMENT_OWNERS = """
UPDATE case_file c SET owner_department_id = r.department_id, owner_officer_id = NULL
FROM routing_rule r
WHERE r.category_id = c.category_id AND r.handler = 'department' AND r.district_code IS NULL
    AND c.state IN ('closed', 'to_accept', 'in_progress', 'suspended', 'to_check')
"""

REWORK = "UPDATE case_file SET rework_count = 1 WHERE state = 'closed' AND mod(id, 20) = 3"

#: The event log of every closed case, one INSERT (seq numbered per case in path order).
CLOSED_EVENTS = """
INSERT INTO case_event (case_id, seq, action, from_state, to_state, actor_user_id, actor_role,
    at, note, data, attachments)
SELECT c.id, s.seq, s.action, s.from_state, s.to_state, s.actor, s.role, s.at, '', s.data, '[]'
FROM case_file c
CROSS JOIN LATERAL (
    SELECT (%(ops)s::int[])[1 + mod(c.id, cardinality(%(ops)s::int[]))] AS op,
        (%(sups)s::int[])[1 + mod(c.id / 7, cardinality(%(sups)s::int[]))] AS sup,
        (%(sups)s::int[])[1 + mod(c.id / 3, cardinality(%(sups)s::int[]))] AS closer,
        (%(disps)s::int[])[1 + mod(c.id / 5, cardinality(%(disps)s::int[]))] AS disp,
        (%(insps)s::int[])[%(per)s * (array_position(%(districts)s::text[], c.district_code) - 1)
            + 1 + mod(c.id, %(per)s)] AS insp,
        c.source <> 'inspector' AND mod(c.id, 10) < 3 AS verified,
        mod(c.id, 10) < 7 AS automatic,
        mod(c.id, 50) = 7 AS returned,
        CASE WHEN c.owner_department_id IS NULL THEN 'grid_officer' ELSE 'department_staff' END
            AS owner_role
) p
CROSS JOIN LATERAL (
    SELECT max(t.result) FILTER (WHERE t.stage = 'accept') AS r_accept,
        max(t.result) FILTER (WHERE t.stage = 'handle') AS r_handle,
        max(t.result) FILTER (WHERE t.stage = 'check') AS r_check,
        max(t.result) FILTER (WHERE t.stage = 'close') AS r_close
    FROM case_timer t WHERE t.case_id = c.id
) r
CROSS JOIN LATERAL (
    SELECT row_number() OVER (ORDER BY v.step) AS seq, v.*
    FROM (VALUES
        (1, 'report', NULL, 'reported',
            CASE c.source WHEN 'inspector' THEN p.insp WHEN 'hotline' THEN p.op END,
            CASE c.source WHEN 'inspector' THEN 'inspector' WHEN 'hotline' THEN 'operator'
                ELSE 'system' END,
            c.created_at, json_build_object('source', c.source), true),
        (2, 'send_to_verify', 'reported', 'to_verify', p.op, 'operator',
            c.created_at + interval '1 min',
            json_build_object('timers', json_build_object('started', json_build_array('verify'))),
            p.verified),
        (3, 'verify_true', 'to_verify', 'to_file', p.insp, 'inspector', c.verified_at,
            json_build_object('timers', json_build_object('ended', json_build_object('verify',
                CASE WHEN random() < 0.92 THEN 'on_time' ELSE 'late' END))),
            p.verified),
        (4, 'accept_report', 'reported', 'to_file', p.op, 'operator',
            c.created_at + interval '1 min', json_build_object(), NOT p.verified),
        (5, 'file', 'to_file', 'to_dispatch', p.sup, 'shift_supervisor', c.filed_at,
            json_build_object('category_id', c.category_id, 'timers', json_build_object('ended',
                json_build_object('file', CASE WHEN random() < 0.95 THEN 'on_time'
                    ELSE 'late' END))),
            true),
        (6, 'dispatch', 'to_dispatch', 'to_accept',
            CASE WHEN p.automatic THEN NULL ELSE p.disp END,
            CASE WHEN p.automatic THEN 'system' ELSE 'dispatcher' END, c.dispatched_at,
            json_build_object('owner_officer_id', c.owner_officer_id, 'owner_department_id',
                c.owner_department_id, 'automatic', p.automatic, 'timers',
                json_build_object('ended', json_build_object('dispatch',
                    CASE WHEN random() < 0.9 THEN 'on_time' ELSE 'late' END))),
            true),
        (7, 'request_return', 'to_accept', 'to_accept', NULL, p.owner_role,
            c.dispatched_at + interval '2 min', json_build_object('request', 'return'),
            p.returned),
        (8, 'approve_return', 'to_accept', 'to_dispatch', p.sup, 'shift_supervisor',
            c.dispatched_at + interval '3 min',
            json_build_object('request', 'return', 'decision', 'approved'), p.returned),
        (9, 'dispatch', 'to_dispatch', 'to_accept', p.disp, 'dispatcher',
            c.dispatched_at + interval '4 min',
            json_build_object('owner_officer_id', c.owner_officer_id, 'owner_department_id',
                c.owner_department_id, 'automatic', false, 'timers',
                json_build_object('ended', json_build_object('dispatch', 'on_time'))),
            p.returned),
        (10, 'accept', 'to_accept', 'in_progress', NULL, p.owner_role, c.accepted_at,
            json_build_object('timers', json_build_object('ended',
                json_build_object('accept', r.r_accept))),
            true),
        (11, 'report_done', 'in_progress', 'to_check', NULL, p.owner_role, c.done_at,
            json_build_object('timers', json_build_object('ended',
                json_build_object('handle', r.r_handle))),
            true),
        (12, 'check_pass', 'to_check', 'to_close', p.insp, 'inspector', c.checked_at,
            json_build_object('timers', json_build_object('ended',
                json_build_object('check', r.r_check))),
            true),
        (13, 'close', 'to_close', 'closed', p.closer, 'shift_supervisor', c.closed_at,
            json_build_object('timers', json_build_object('ended',
                json_build_object('close', r.r_close))),
            true),
        (14, 'record_callback', 'closed', 'closed', p.op, 'operator',
            c.closed_at + interval '20 hours',
            json_build_object('satisfaction', 'satisfied', 'timers', json_build_object('ended',
                json_build_object('callback', CASE WHEN random() < 0.85 THEN 'on_time'
                    ELSE 'late' END))),
            c.source = 'hotline')
    ) AS v(step, action, from_state, to_state, actor, role, at, data, include)
    WHERE v.include
) s
WHERE c.state = 'closed'
"""


# ---------------------------------------------------------------------------- the data set
def add_supervision_data(url: str, ref: Reference) -> dict[str, Any]:
    """People, department owners, rework and the closed cases' event log (set-based)."""
    import psycopg

    districts = sorted({code[:6] for code in ref.grid_codes})
    timings: dict[str, float] = {}
    with psycopg.connect(psycopg_dsn(url)) as conn:
        cur = conn.cursor()
        cur.execute("SET synchronous_commit = off")
        cur.execute("SET work_mem = '64MB'")
        cur.execute("SELECT setseed(0.42)")
        started = time.perf_counter()
        cur.execute(
            PEOPLE,
            {
                "ops": OPERATORS,
                "sups": SUPERVISORS,
                "disps": DISPATCHERS,
                "districts": districts,
                "per": INSPECTORS_PER_DISTRICT,
            },
        )
        cur.execute(GRANTS)
        viewers = dict((name, uid) for uid, name in cur.execute(VIEWERS).fetchall())
        cur.execute(
            "INSERT INTO role_grant (user_id, role, scope_kind, scope_code) VALUES"
            " (%s, 'leader', 'city', ''), (%s, 'shift_supervisor', 'district', %s)",
            (viewers["bench-leader"], viewers["bench-district-supervisor"], districts[2]),
        )

        def ids(pattern: str) -> list[int]:
            rows = cur.execute(
                "SELECT id FROM app_user WHERE username LIKE %s ORDER BY username", (pattern,)
            )
            return [row[0] for row in rows]

        insps = [
            uid
            for d in districts
            for uid in ids(f"bench-inspector-{d}-%")  # in district order, 3 each
        ]
        people = {
            "ops": ids("bench-operator-%"),
            "sups": ids("bench-shift_supervisor-%"),
            "disps": ids("bench-dispatcher-%"),
            "insps": insps,
            "districts": districts,
            "per": INSPECTORS_PER_DISTRICT,
        }
        departments = cur.execute(DEPARTMENT_OWNERS).rowcount
        reworked = cur.execute(REWORK).rowcount
        timings["people_and_owners_s"] = time.perf_counter() - started
        # The period index is built once after the bulk insert (faster than row by row).
        cur.execute("DROP INDEX ix_case_event_action_at")
        started = time.perf_counter()
        events = cur.execute(CLOSED_EVENTS, people).rowcount
        timings["closed_events_s"] = time.perf_counter() - started
        started = time.perf_counter()
        cur.execute("CREATE INDEX ix_case_event_action_at ON case_event (action, at)")
        timings["event_index_s"] = time.perf_counter() - started
        conn.commit()
    started = time.perf_counter()
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    timings["vacuum_analyze_s"] = time.perf_counter() - started
    return {
        "viewers": viewers,
        "district_viewed": districts[2],
        "districts": districts,
        "rows": {
            "people": len(people["ops"]) + len(people["sups"]) + len(people["disps"]) + len(insps),
            "cases_owned_by_departments": departments,
            "reworked_cases": reworked,
            "events": events,
        },
        "timings": {k: round(v, 1) for k, v in timings.items()},
    }


def existing_supervision_data(url: str) -> dict[str, Any]:
    """What ``add_supervision_data`` returned, read back from a database it filled before
    (``--reuse``: measure again on a kept database without building it again)."""
    import psycopg

    with psycopg.connect(psycopg_dsn(url)) as conn:
        viewers = dict(
            conn.execute(
                "SELECT username, id FROM app_user WHERE username IN"
                " ('bench-leader', 'bench-district-supervisor')"
            ).fetchall()
        )
        district = conn.execute(
            "SELECT g.scope_code FROM role_grant g JOIN app_user u ON u.id = g.user_id"
            " WHERE u.username = 'bench-district-supervisor'"
        ).fetchone()[0]
        districts = [
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT district_code FROM case_file WHERE district_code IS NOT NULL"
                " ORDER BY 1"
            )
        ]
        events = conn.execute("SELECT count(*) FROM case_event").fetchone()[0]
    if len(viewers) != 2:
        raise SystemExit("--reuse: this database was not filled by the supervisor bench")
    return {
        "viewers": viewers,
        "district_viewed": district,
        "districts": districts,
        "rows": {"events": events, "reused": True},
        "timings": {},
    }


# ---------------------------------------------------------------------------- timing helpers
def timed(fn: Callable[[], Any], calls: int, warm: int = 2) -> list[float]:
    """Milliseconds of ``calls`` calls after ``warm`` untimed ones (sla_bench's timer)."""
    return timed_calls(fn, calls, warm=warm)


def summary(times: list[float]) -> dict[str, float]:
    return {
        "calls": len(times),
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(percentile(times, 95), 2),
        "max_ms": round(max(times), 2),
    }


@contextlib.contextmanager
def clock_at(instant: Any) -> Iterator[None]:
    """Every module's ``utcnow`` (``core.types.utcnow``, imported by name) answers ``instant``:
    the pages then see the data set at the moment it was built around, not days later."""
    import sys

    import core.types

    real = core.types.utcnow
    patched = [m for m in list(sys.modules.values()) if getattr(m, "utcnow", None) is real]
    for module in patched:
        module.utcnow = lambda: instant  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module in patched:
            module.utcnow = real  # type: ignore[attr-defined]


def logged_in_client(app: Any, user_id: int) -> Any:
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = str(user_id)
        sess["_fresh"] = True
    return client


def get_ok(client: Any, url: str) -> Callable[[], Any]:
    def call() -> Any:
        res = client.get(url)
        if res.status_code != 200:
            raise SystemExit(f"GET {url}: {res.status_code}")
        return res

    return call


# ---------------------------------------------------------------------------- measurements
def bench_overdue(app: Any, data: dict[str, Any], calls: int) -> dict[str, Any]:
    """The other engineer's overdue list: the query by district, and the page if it exists."""
    import random

    from core.db import database
    from dispatch.sla.queries import overdue

    rng = random.Random(7)
    districts = data["districts"]
    out: dict[str, Any] = {}
    with app.app_context(), database(app).new_session() as sess:

        def by_district() -> Any:
            rows = overdue(sess, district=rng.choice(districts), limit=50, now=NOW)
            sess.rollback()
            return rows

        out["query_by_district"] = summary(timed(by_district, calls, warm=10))
        page = overdue(sess, district=districts[2], limit=50, now=NOW)
        out["page_rows"] = len(page)
        out["plan"] = plan_summary(
            explain(sess, lambda: overdue(sess, district=districts[2], limit=50, now=NOW))
        )
        sess.rollback()
    if "supervise.overdue_review" in app.view_functions:
        # No app context around the test clients: each request needs its own g (its
        # logged-in user); inside one, the first request's user answers them all.
        city = logged_in_client(app, data["viewers"]["bench-leader"])
        local = logged_in_client(app, data["viewers"]["bench-district-supervisor"])
        n = max(20, calls // 5)
        with clock_at(NOW):  # the figure with a target: as many calls as the other figures
            out["page_district_supervisor"] = summary(
                timed(get_ok(local, "/supervise/overdue"), calls)
            )
        # Three days later every open stage of the data set is past due (46,000 of 50,000):
        # the worst morning there could be, kept as a second figure.
        out["page_district_supervisor_real_now"] = summary(
            timed(get_ok(local, "/supervise/overdue"), n)
        )
        out["page_city_by_district"] = summary(
            timed(
                lambda: get_ok(city, f"/supervise/overdue?district={rng.choice(districts)}")(),
                n,
            )
        )
        out["page_city"] = summary(timed(get_ok(city, "/supervise/overdue"), n))
        out["page"] = "/supervise/overdue (first page; at NOW, and at the real now)"
    else:
        out["page"] = "not measured: /supervise/overdue does not exist yet"
    return out


def bench_dashboard(app: Any, data: dict[str, Any], calls: int) -> dict[str, Any]:
    from core.db import database
    from dispatch.access import scope_clause
    from dispatch.insight.dashboard import dashboard
    from dispatch.insight.periods import Period
    from dispatch.models import User

    period = Period(*LAST_30)
    query = f"from={LAST_30[0].isoformat()}&to={LAST_30[1].isoformat()}"
    out: dict[str, Any] = {"period": period.params()}
    with app.app_context(), database(app).new_session() as sess:

        def function() -> Any:
            result = dashboard(sess, period, now=NOW)
            sess.rollback()
            return result

        out["function_city"] = summary(timed(function, calls))
        figures = dashboard(sess, period, now=NOW)
        district = sess.get(User, data["viewers"]["bench-district-supervisor"])
        scope = scope_clause(sess, district)

        def function_district() -> Any:
            result = dashboard(sess, period, now=NOW, scope=scope)
            sess.rollback()
            return result

        out["function_district"] = summary(timed(function_district, calls))
        sess.rollback()
    # No app context around the test clients: each request needs its own g (its
    # logged-in user); inside one, the first request's user answers them all.
    city = logged_in_client(app, data["viewers"]["bench-leader"])
    local = logged_in_client(app, data["viewers"]["bench-district-supervisor"])
    out["page_city"] = summary(timed(get_ok(city, f"/insight?{query}"), calls))
    out["api_city"] = summary(timed(get_ok(city, f"/api/v1/insight/dashboard?{query}"), calls))
    out["page_district"] = summary(timed(get_ok(local, f"/insight?{query}"), calls))
    out["wall_city"] = summary(timed(get_ok(city, f"/insight?wall=1&{query}"), calls))
    out["figures"] = {
        "totals": figures["totals"],
        "districts": len(figures["on_time_by_district"]),
        "departments": len(figures["on_time_by_department"]),
    }
    return out


def bench_evaluation(app: Any, data: dict[str, Any], runs: int) -> dict[str, Any]:
    from core.db import database
    from dispatch.access import scope_clause
    from dispatch.insight.evaluation import evaluate
    from dispatch.insight.periods import Period
    from dispatch.models import User

    period = Period(*MONTH)
    query = f"from={MONTH[0].isoformat()}&to={MONTH[1].isoformat()}"
    out: dict[str, Any] = {"period": period.params()}
    with app.app_context(), database(app).new_session() as sess:

        def function() -> Any:
            result = evaluate(sess, period, now=NOW)
            sess.rollback()
            return result

        out["function_city"] = summary(timed(function, runs, warm=1))
        result = evaluate(sess, period, now=NOW)
        district = sess.get(User, data["viewers"]["bench-district-supervisor"])
        scope = scope_clause(sess, district)
        out["function_district"] = summary(
            timed(lambda: evaluate(sess, period, now=NOW, scope=scope), runs, warm=1)
        )
        sess.rollback()
    # No app context around the test clients: each request needs its own g (its
    # logged-in user); inside one, the first request's user answers them all.
    city = logged_in_client(app, data["viewers"]["bench-leader"])
    local = logged_in_client(app, data["viewers"]["bench-district-supervisor"])
    out["page_city"] = summary(timed(get_ok(city, f"/insight/evaluation?{query}"), runs, warm=1))
    out["page_district"] = summary(
        timed(get_ok(local, f"/insight/evaluation?{query}"), runs, warm=1)
    )
    out["csv_city"] = summary(timed(get_ok(city, f"/insight/evaluation.csv?{query}"), runs, warm=1))
    out["subjects"] = {kind: len(rows) for kind, rows in result.results.items()}
    out["result"] = result
    return out


#: The browser script that measures the map: frames drawn while it zooms and pans with its
#: clustered markers, and the longest gap between two frames (a stutter the eye sees).
FRAMES_JS = """async () => {
  const map = window.__superviseMap;
  const gaps = [];
  let last = performance.now(), running = true;
  const tick = (t) => { gaps.push(t - last); last = t; if (running) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  const wait = (ms) => new Promise((r) => setTimeout(r, ms));
  const started = performance.now();
  const c = map.getCenter();
  for (const [dz, dx] of [[1, 0], [1, 0.01], [-1, -0.01], [1, 0.02], [-2, 0]]) {
    map.setView([c.lat, c.lng + dx], map.getZoom() + dz, { animate: true });
    await wait(700);
    map.panBy([200, 120], { animate: true });
    await wait(500);
  }
  running = false;
  const seconds = (performance.now() - started) / 1000;
  gaps.sort((a, b) => a - b);
  return { frames: gaps.length, seconds, fps: gaps.length / seconds,
           longest_frame_ms: gaps[gaps.length - 1],
           p95_frame_ms: gaps[Math.floor(gaps.length * 0.95)] };
}"""


LOCATE_OPEN_CASES = """
UPDATE case_file c SET location = ST_GeometryN(ST_GeneratePoints(g.geom, 1, c.id), 1)
FROM grid g
WHERE g.id = c.grid_id AND c.location IS NULL AND c.state NOT IN ('closed', 'void', 'merged')
"""


def bench_map(app: Any, data: dict[str, Any], calls: int) -> dict[str, Any]:
    """The supervisors' map: its two JSON feeds (server time, bytes), then the page itself in
    headless Chromium for the leader (every open case) and a district supervisor: time until
    every marker is clustered (beside the time the grids alone took, the page's own reference),
    and the frame rate while zooming and panning over them (headless Chromium without a GPU)."""
    from werkzeug.security import generate_password_hash

    from core.db import database
    from tests.browser import CHROMIUM, CHROMIUM_ARGS, live_server, log_in_page
    from tests.factories import PASSWORD

    out: dict[str, Any] = {}
    # No app context around the test clients: each request needs its own g (its
    # logged-in user); inside one, the first request's user answers them all.
    with database(app).new_session() as sess:
        from sqlalchemy import text

        # The SLA data set places cases in grids without points: give each open case a
        # point inside its grid (reproducible: the case id seeds it), once.
        located = sess.execute(text(LOCATE_OPEN_CASES)).rowcount
        out["open_cases_given_points"] = located
        sess.execute(
            text("UPDATE app_user SET password_hash = :h WHERE id IN (:a, :b)"),
            {
                "h": generate_password_hash(PASSWORD),
                "a": data["viewers"]["bench-leader"],
                "b": data["viewers"]["bench-district-supervisor"],
            },
        )
        sess.commit()
    city = logged_in_client(app, data["viewers"]["bench-leader"])
    local = logged_in_client(app, data["viewers"]["bench-district-supervisor"])
    for name, client in (("city", city), ("district", local)):
        for feed in ("grids", "cases"):
            url = f"/api/v1/supervise/map/{feed}"
            out[f"api_{feed}_{name}"] = summary(timed(get_ok(client, url), max(calls // 5, 5)))
            out[f"api_{feed}_{name}"]["bytes"] = len(client.get(url).data)
    if not CHROMIUM.exists():
        out["browser"] = "skipped: /usr/bin/chromium missing"
        return out
    from playwright.sync_api import sync_playwright

    with live_server(app) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for name, who in (("city", "bench-leader"), ("district", "bench-district-supervisor")):
                page = browser.new_page(viewport={"width": 1600, "height": 900})
                started = time.perf_counter()
                log_in_page(page, base, who, "/supervise/map")
                page.wait_for_selector("#supervise-map[data-loaded]", timeout=120_000)
                grids_s = time.perf_counter() - started
                page.wait_for_selector("#supervise-map[data-cases]", timeout=300_000)
                ready_s = time.perf_counter() - started
                frames = page.evaluate(FRAMES_JS)
                out[f"browser_{name}"] = {
                    "cases_on_map": int(page.get_attribute("#supervise-map", "data-cases")),
                    "grids_drawn_s": round(grids_s, 2),
                    "every_marker_clustered_s": round(ready_s, 2),
                    "zoom_pan_fps": round(frames["fps"], 1),
                    "p95_frame_ms": round(frames["p95_frame_ms"], 1),
                    "longest_frame_ms": round(frames["longest_frame_ms"], 1),
                }
                page.close()
        finally:
            browser.close()
    return out


def checks(url: str, dashboard: dict[str, Any], evaluation: dict[str, Any]) -> dict[str, bool]:
    """The figures against counts made straight in SQL (the rule, counted another way)."""
    import psycopg

    from dispatch.insight.periods import Period

    month, last30 = Period(*MONTH), Period(*LAST_30)
    result = evaluation.pop("result")
    rows = {kind: {r.subject_id: r for r in rs} for kind, rs in result.results.items()}

    def total(kind: str, key: str, part: str) -> int:
        return sum(
            getattr(next(f for f in r.figures if f.factor.key == key), part)
            for r in rows[kind].values()
        )

    with psycopg.connect(psycopg_dsn(url)) as conn:

        def one(sql: str, *params: Any) -> int:
            return int(conn.execute(sql, params).fetchone()[0])

        manual = one(
            "SELECT count(*) FROM case_event WHERE action = 'dispatch'"
            " AND actor_role = 'dispatcher' AND at >= %s AND at < %s",
            month.start,
            month.end,
        )
        returned = one(
            "SELECT count(*) FROM case_event d WHERE d.action = 'dispatch'"
            " AND d.actor_role = 'dispatcher' AND d.at >= %s AND d.at < %s AND EXISTS ("
            " SELECT 1 FROM case_event r WHERE r.case_id = d.case_id"
            " AND r.action = 'approve_return' AND r.seq = d.seq + 2)",
            month.start,
            month.end,
        )
        closings = one(
            "SELECT count(*) FROM case_event WHERE action = 'close' AND at >= %s AND at < %s",
            month.start,
            month.end,
        )
        intake = one(
            "SELECT count(*) FROM case_file WHERE created_at >= %s AND created_at < %s",
            last30.start,
            last30.end,
        )
    return {
        "dispatch_counts_add_up": total("dispatcher", "dispatch_count", "numerator") == manual,
        "returned_dispatches_add_up": (
            total("dispatcher", "accurate_dispatch", "denominator")
            - total("dispatcher", "accurate_dispatch", "numerator")
        )
        == returned,
        "closings_add_up": total("shift_supervisor", "on_time_closing", "denominator") == closings,
        "dashboard_intake_adds_up": dashboard["figures"]["totals"]["intake"] == intake,
        "every_kind_evaluated": all(rows[kind] for kind in rows),
    }


# ---------------------------------------------------------------------------- main
def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from core.cli import upgrade_database
    from core.db import database
    from core.factory import create_app
    from dispatch.seed import seed_all
    from grids.services import load_demo_city

    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench",
            "REDIS_URL": None,
            "NOTIFY_CHANNELS": ["log"],
            "NOTIFY_WEBHOOK_URL": "",
            "AUTO_DISPATCH": False,
        }
    )
    app.extensions["job_runner"] = CountingRunner()
    try:
        seed_s = sla_build_s = supervision_s = 0.0
        built: dict[str, Any] = {"timings": {}}
        if args.reuse:
            data = existing_supervision_data(url)
        else:
            started = time.perf_counter()
            upgrade_database(app)
            with app.app_context(), database(app).new_session() as sess:
                load_demo_city(sess)
                seed_all(sess)
                sess.commit()
            seed_s = time.perf_counter() - started
            started = time.perf_counter()
            built = build(url, app, args.closed, args.open, args.seed)
            sla_build_s = time.perf_counter() - started
            started = time.perf_counter()
            data = add_supervision_data(url, built["reference"])
            supervision_s = time.perf_counter() - started

        load_before = load()
        overdue = bench_overdue(app, data, args.calls)
        with clock_at(NOW):  # the pages see the data set's own moment, as the functions do
            dash = bench_dashboard(app, data, args.calls)
            evaluation = bench_evaluation(app, data, args.runs)
        mapped = bench_map(app, data, args.calls)
        load_after = load()
        verified = checks(url, dash, evaluation)
        import psycopg

        with psycopg.connect(psycopg_dsn(url)) as conn:

            def one(sql: str) -> Any:
                return conn.execute(sql).fetchone()[0]

            counts = {
                "case_file": one("SELECT count(*) FROM case_file"),
                "open_cases": one("SELECT count(*) FROM case_file WHERE state <> 'closed'"),
                "case_timer": one("SELECT count(*) FROM case_timer"),
                "case_event": one("SELECT count(*) FROM case_event"),
                "events_in_month": one(
                    "SELECT count(*) FROM case_event WHERE at >= '2026-09-30T16:00:00Z'"
                    " AND at < '2026-10-31T16:00:00Z'"
                ),
            }
            sizes = {
                rel: one(f"SELECT pg_size_pretty(pg_total_relation_size('{rel}'))")
                for rel in ("case_file", "case_timer", "case_event")
            }
            pg_version = one("SHOW server_version")
            settings = {k: one(f"SHOW {k}") for k in ("shared_buffers", "work_mem", "jit")}
    finally:
        database(app).engine.dispose()

    query_p95 = overdue["query_by_district"]["p95_ms"]
    page_p95 = overdue["page_district_supervisor"]["p95_ms"]
    metrics = {
        "overdue_list_p95_ms": page_p95,
        "dashboard_ms": dash["page_city"]["p95_ms"],
        "evaluation_month_s": round(evaluation["page_city"]["median_ms"] / 1000, 3),
    }
    extra = {
        "overdue_query_p95_ms": query_p95,
        "overdue_page_real_now_p95_ms": overdue["page_district_supervisor_real_now"]["p95_ms"],
        "overdue_page_city_p95_ms": overdue["page_city"]["p95_ms"],
        "dashboard_api_p95_ms": dash["api_city"]["p95_ms"],
        "dashboard_function_median_ms": dash["function_city"]["median_ms"],
        "evaluation_function_median_s": round(evaluation["function_city"]["median_ms"] / 1000, 3),
        "evaluation_csv_median_s": round(evaluation["csv_city"]["median_ms"] / 1000, 3),
        "map_cases_city_p95_ms": mapped["api_cases_city"]["p95_ms"],
        "map_cases_city_bytes": mapped["api_cases_city"]["bytes"],
        **{
            f"map_{name}_{k}": v
            for name in ("city", "district")
            for k, v in mapped.get(f"browser_{name}", {}).items()
        },
    }
    return {
        "metrics": metrics,
        "more": extra,
        "targets": TARGETS,
        "within_targets": {k: metrics[k] <= v for k, v in TARGETS.items()},
        "definitions": {
            "overdue_list_p95_ms": "GET /supervise/overdue (first page: count, 50 rows, filter "
            "choices, template) as a district supervisor through a test client, p95 of the "
            "server time, at NOW (the clock the data set was built around)",
            "dashboard_ms": "GET /insight (30 days, city-wide leader) through a test client, "
            "p95 of the server time (queries + template)",
            "evaluation_month_s": "GET /insight/evaluation for October 2026 (city-wide leader) "
            "through a test client, median",
        },
        "overdue": overdue,
        "dashboard": dash,
        "evaluation": evaluation,
        "map": mapped,
        "checks": verified,
        "context": {
            "now": NOW.isoformat(),
            "rows": counts,
            "sizes": sizes,
            "supervision_data": data["rows"],
            "build_s": {
                "migrate_and_seed": round(seed_s, 1),
                "sla_bench_dataset": round(sla_build_s, 1),
                "supervision_data": round(supervision_s, 1),
                **built["timings"],
                **data["timings"],
            },
            "not_generated": "events of the 50,000 open cases, timers of the verify, file, "
            "dispatch and callback stages of closed cases (the evaluation reads stage results "
            "from the events), void and merged cases",
            "database": f"PostgreSQL {pg_version}, same machine",
            "settings": settings,
            "load_average_1_5_15": {"before_measuring": load_before, "after": load_after},
            "machine": f"{platform.machine()} {os.cpu_count()} cores, "
            f"Python {platform.python_version()}",
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--closed", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=50_000)
    parser.add_argument("--calls", type=int, default=100, help="timed calls per list/dashboard")
    parser.add_argument("--runs", type=int, default=5, help="timed evaluations")
    parser.add_argument("--seed", type=int, default=20261118)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse",
        default=None,
        metavar="DATABASE",
        help="measure again on a database a --keep run left (its name), without rebuilding",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "supervisor.json")
    args = parser.parse_args()

    env_url = os.environ.get("DATABASE_URL", "")
    server = args.database_url or (env_url if env_url.startswith("postgresql") else DEFAULT_SERVER)
    why = reachable(server)
    if why is not None:
        print(
            f"supervisor bench skipped: PostgreSQL at {server.split('@')[-1]} unreachable ({why})"
        )
        return
    load_start = load()
    wall = time.perf_counter()
    if args.reuse:
        result = run(with_database(server, args.reuse), args)
    else:
        with throwaway_database(server, args.keep) as url:
            result = run(url, args)
    result["context"]["load_average_1_5_15"]["start"] = load_start
    result["context"]["load_average_1_5_15"]["end"] = load()
    result["context"]["wall_s"] = round(time.perf_counter() - wall, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    print(json.dumps({k: result[k] for k in ("metrics", "more", "within_targets", "checks")}))
    if not all(result["checks"].values()):
        raise SystemExit("a check failed: see checks")


if __name__ == "__main__":
    main()
