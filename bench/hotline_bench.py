"""Hotline desk benchmark: the server side of taking a call on the demo city.

A simulated operator takes ``--calls`` calls through the desk's JSON API (Flask test client, so
the figures are server time: routing, login by token, queries, serialisation, commit). Each call
walks the whole path from first key to case number: the caller's history, gazetteer suggestions
for three growing prefixes of a place name, category suggestions for the description, locating
the picked point, the duplicates near it, and the submit. 70% open a new case, 20% are repeat
calls attached to a duplicate, 10% consultations answered from the knowledge base.

- ``submit_p95_ms``: p95 of the whole path's server time per call (all its requests summed).
- ``gazetteer_p95_ms``: p95 of one gazetteer suggestion request.
- also ``submit_only_p95_ms`` (the POST alone) and each step's p95.

Reference measured in the same run with the same client, interleaved with the calls (three
requests after each call, so under the same load): ``GET /livez`` (no database); ``ratios`` say
how many bare requests the path and one suggestion cost. Before timing, the city gets
``--open`` open hotline cases spread over it (so duplicates have something to search).

Backend: ``DATABASE_URL`` (a throwaway ``hotline_bench_<pid>`` database is created with PostGIS
on that server and dropped afterwards) or, by default, a SQLite file in a temporary directory.
Results: ``bench/results/hotline.json``.

    python -m bench.hotline_bench [--calls N] [--open N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.sla_bench import load, percentile, psycopg_dsn, with_database

#: Idempotency keys, unique over the warm-up and the timed run.
_KEYS = itertools.count()
RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"submit_p95_ms": 200.0, "gazetteer_p95_ms": 50.0}
DESCRIPTIONS = (
    "小区门口的井盖丢了，晚上很危险",
    "路边暴露垃圾好几天没人清理",
    "这条街的路灯连着三盏不亮",
    "有人在人行道上占道经营摆摊",
    "绿化带里堆了建筑垃圾渣土",
    "公交站旁边有人私搭乱建",
)


@contextmanager
def database_url() -> Iterator[tuple[str, str]]:
    """(url, backend): a throwaway PostgreSQL database when DATABASE_URL is set, else SQLite."""
    server = os.environ.get("DATABASE_URL", "")
    if server.startswith("postgresql"):
        import psycopg

        name = f"hotline_bench_{os.getpid()}"
        with psycopg.connect(psycopg_dsn(server), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        url = with_database(server, name)
        try:
            with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION postgis")
            yield url, "postgresql"
        finally:
            with psycopg.connect(psycopg_dsn(server), autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{Path(tmp) / 'hotline_bench.sqlite3'}", "sqlite"


def build(app: Any, open_cases: int, rng: random.Random) -> dict[str, Any]:
    """Migrate, load the demo city, catalogue, users, gazetteer and answers; spread open
    hotline cases over the city. Returns what the simulation needs."""
    from sqlalchemy import select

    from core.cli import upgrade_database
    from core.db import database
    from dispatch.access import Actor
    from dispatch.auth import issue_token
    from dispatch.intake import Report, create_case
    from dispatch.models import User
    from dispatch.models.cases import Source
    from dispatch.models.people import Role
    from dispatch.seed import seed_all
    from grids import services as grid_services
    from hotline import gazetteer, knowledge
    from hotline.models import GazetteerEntry, KnowledgeEntry

    upgrade_database(app)
    with app.app_context(), database(app).new_session() as sess:
        grid_services.load_demo_city(sess)
        seed_all(sess)
        gazetteer.load_demo_gazetteer(sess)
        knowledge.load_demo_entries(sess)
        operator = sess.scalar(select(User).where(User.username == "operator"))
        token = issue_token(sess, operator, "bench")
        places = [
            (e.name, e.lng, e.lat)
            for e in sess.scalars(select(GazetteerEntry).where(GazetteerEntry.kind != "district"))
        ]
        actor = Actor(operator, Role.OPERATOR)
        for i in range(open_cases):
            _name, lng, lat = rng.choice(places)
            create_case(
                sess,
                Report(
                    source=Source.HOTLINE,
                    description=rng.choice(DESCRIPTIONS),
                    lng=lng + rng.uniform(-0.002, 0.002),
                    lat=lat + rng.uniform(-0.002, 0.002),
                    reporter_phone=f"139{i:08d}",
                ),
                actor,
            )
            if i % 500 == 499:
                sess.commit()
        answers = list(sess.scalars(select(KnowledgeEntry.id)))
        sess.commit()
    return {"token": token, "places": places, "answers": answers}


def simulate(app: Any, world: dict[str, Any], calls: int, rng: random.Random) -> dict[str, Any]:
    """Take ``calls`` calls; return per-step and per-call server times (ms)."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {world['token']}"}
    steps: dict[str, list[float]] = {
        k: [] for k in ("history", "gazetteer", "suggest", "locate", "duplicates", "submit")
    }
    per_call: list[float] = []
    livez: list[float] = []
    outcomes: dict[str, int] = {}
    failures = 0

    def timed(step: str, method: str, url: str, **kw: Any) -> Any:
        t0 = time.perf_counter()
        kw["headers"] = {**headers, **kw.get("headers", {})}
        res = client.open(url, method=method, **kw)
        ms = (time.perf_counter() - t0) * 1000
        steps[step].append(ms)
        return res, ms

    for _ in range(calls):
        total = 0.0
        phone = (
            f"138{rng.randrange(10**8):08d}"
            if rng.random() < 0.7
            else f"139{rng.randrange(2000):08d}"
        )
        name, lng, lat = rng.choice(world["places"])
        description = rng.choice(DESCRIPTIONS)
        res, ms = timed("history", "GET", f"/api/v1/hotline/callers/{phone}/history")
        total += ms
        for n in (1, 2, len(name)):
            res, ms = timed(
                "gazetteer", "GET", "/api/v1/hotline/gazetteer", query_string={"q": name[:n]}
            )
            total += ms
        res, ms = timed(
            "suggest",
            "GET",
            "/api/v1/hotline/categories/suggest",
            query_string={"text": description},
        )
        total += ms
        categories = res.json["categories"]
        category_id = categories[0]["id"] if categories else None
        res, ms = timed("locate", "GET", "/api/v1/locate", query_string={"lng": lng, "lat": lat})
        total += ms
        params = {"lng": lng, "lat": lat}
        if category_id:
            params["category_id"] = category_id
        res, ms = timed("duplicates", "GET", "/api/v1/hotline/duplicates", query_string=params)
        total += ms
        dups = res.json["cases"]
        roll = rng.random()
        body: dict[str, Any] = {
            "request_type": "complaint",
            "caller_phone": phone,
            "description": description,
            "address": name,
            "lng": lng,
            "lat": lat,
            "category_id": category_id,
        }
        if roll < 0.1 and world["answers"]:
            body.update(
                request_type="consultation", knowledge_entry_id=rng.choice(world["answers"])
            )
        elif roll < 0.3 and dups:
            body["attach_to"] = dups[0]["number"]
        res, ms = timed(
            "submit", "POST", "/api/v1/hotline/calls", json=body,
            headers={"Idempotency-Key": f"bench-{os.getpid()}-{next(_KEYS)}"},
        )  # fmt: skip
        total += ms
        if res.status_code != 201:
            failures += 1
        else:
            outcomes[res.json["outcome"]] = outcomes.get(res.json["outcome"], 0) + 1
        per_call.append(total)
        # The reference, interleaved so it runs under the same load as the calls.
        for _ in range(3):
            t0 = time.perf_counter()
            client.get("/livez")
            livez.append((time.perf_counter() - t0) * 1000)
    return {
        "steps": steps,
        "per_call": per_call,
        "outcomes": outcomes,
        "failures": failures,
        "livez": livez,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--open", type=int, default=2000, dest="open_cases")
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    from core.db import database
    from core.factory import create_app

    with database_url() as (url, backend):
        app = create_app(
            {"DATABASE_URL": url, "SECRET_KEY": "bench", "TESTING": True, "AUTO_DISPATCH": False}
        )
        t0 = time.perf_counter()
        world = build(app, args.open_cases, rng)
        build_s = time.perf_counter() - t0
        simulate(app, world, 20, rng)  # warm-up: caches, the locate index, prepared statements
        result = simulate(app, world, args.calls, rng)
        database(app).engine.dispose()
    ref_p95 = percentile(result["livez"], 95)
    metrics = {
        "submit_p95_ms": round(percentile(result["per_call"], 95), 2),
        "gazetteer_p95_ms": round(percentile(result["steps"]["gazetteer"], 95), 2),
        "submit_only_p95_ms": round(percentile(result["steps"]["submit"], 95), 2),
        **{
            f"{k}_p95_ms": round(percentile(v, 95), 2)
            for k, v in result["steps"].items()
            if k not in ("gazetteer", "submit")
        },
    }
    out = {
        "metrics": metrics,
        "reference": {"livez_p95_ms": round(ref_p95, 3)},
        "ratios": {
            "submit_path_vs_livez": round(metrics["submit_p95_ms"] / ref_p95, 1),
            "gazetteer_vs_livez": round(metrics["gazetteer_p95_ms"] / ref_p95, 1),
        },
        "checks": {"failed_submits": result["failures"], "outcomes": result["outcomes"]},
        "targets": TARGETS,
        "within_targets": {k: metrics[k] <= v for k, v in TARGETS.items()},
        "context": {
            "backend": backend,
            "calls": args.calls,
            "open_cases": args.open_cases,
            "gazetteer_entries": len(world["places"]),
            "build_s": round(build_s, 1),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load": load(),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hotline.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(out["metrics"], indent=2))
    print(json.dumps(out["within_targets"]))
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
