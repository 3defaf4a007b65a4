"""Intake benchmark: case creation through the HTTP API against a bare endpoint of the same app.

Both are served by gunicorn (4 sync workers) on the database of ``DATABASE_URL`` (PostgreSQL
for the figures the issue asks for) and loaded by ``wrk`` (16 connections, loopback only, fixed
duration). Intake = token lookup + locate + case number + case row + caller row + event row in
one transaction. Afterwards the cases are counted: none lost, none duplicated.

    python -m bench.intake_bench [--rounds 5] [--seconds 8] [--connections 16] [--out PATH]

Bare and intake runs alternate (``--rounds`` pairs): the figures are the pair with the median
ratio, and every intake run's cases are counted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from sqlalchemy import func, select

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent

LUA = r"""
-- Each request: a new idempotency key, a point inside a grid, a realistic description.
local points = {%(points)s}
local counter = 0
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  created = 0
  replayed = 0
  failed = 0
end
function request()
  counter = counter + 1
  local p = points[(counter %% #points) + 1]
  local key = string.format("%(prefix)s-%%d-%%d", id, counter)
  local body = string.format(
    '{"description":"路边垃圾堆积，无人清理","address":"测试路%%d号",' ..
    '"lng":%%.7f,"lat":%%.7f,"reporter_phone":"13800000000"}',
    counter, p[1], p[2])
  return wrk.format("POST", "/api/v1/cases",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %(token)s",
     ["Idempotency-Key"] = key}, body)
end
function response(status, headers, body)
  if status == 201 then created = created + 1
  elseif status == 200 then replayed = replayed + 1
  else failed = failed + 1 end
end
function done(summary, latency, requests)
  local c, r, f = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created"); r = r + t:get("replayed"); f = f + t:get("failed")
  end
  io.write(string.format("COUNTS created=%%d replayed=%%d failed=%%d\n", c, r, f))
  io.write(string.format("LATENCY p50=%%.3f p99=%%.3f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""

BARE_LUA = r"""
function done(summary, latency, requests)
  io.write(string.format("LATENCY p50=%.3f p99=%.3f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"server at {url} did not start")


def run_wrk(url: str, script: Path, seconds: int, connections: int) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    out = subprocess.run(
        [*command, "-s", str(script), url], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    result: dict[str, float] = {"per_s": rps}
    lat = re.search(r"LATENCY p50=([\d.]+) p99=([\d.]+)", out)
    if lat:
        result["p50_ms"], result["p99_ms"] = float(lat.group(1)), float(lat.group(2))
    counts = re.search(r"COUNTS created=(\d+) replayed=(\d+) failed=(\d+)", out)
    if counts:
        result["created"], result["replayed"], result["failed"] = map(float, counts.groups())
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8, help="length of each run")
    parser.add_argument("--rounds", type=int, default=5, help="bare/intake pairs")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS / "intake.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (Debian: apt-get install wrk)")

    from core.cli import upgrade_database
    from core.db import database
    from core.factory import create_app
    from dispatch.auth import issue_token
    from dispatch.models import Case, User
    from grids import services
    from tests.factories import make_user

    app = create_app()
    url = app.config["DATABASE_URL"]
    upgrade_database(app)
    prefix = f"bench{int(time.time())}"
    with app.app_context(), database(app).new_session() as sess:
        if services.active_set(sess) is None:
            services.load_demo_city(sess)
        user = sess.scalar(select(User).where(User.username == "bench-intake"))
        if user is None:
            user = make_user(sess, "bench-intake", "operator")
        token = issue_token(sess, user, prefix)
        leaves = services.leaf_grids(sess, services.active_set(sess).id)
        points = [g.geom.representative_point() for g in leaves]
        before = sess.scalar(select(func.count()).select_from(Case)) or 0
        sess.commit()

    tmp = Path(tempfile.mkdtemp())

    def intake_script(label: str) -> Path:
        """A wrk script whose idempotency keys are new (``prefix-label-thread-n``)."""
        path = tmp / f"intake-{label}.lua"
        path.write_text(
            LUA
            % {
                "points": ",".join(f"{{{p.x:.7f},{p.y:.7f}}}" for p in points),
                "prefix": f"{prefix}-{label}",
                "token": token,
            }
        )
        return path

    bare_script = tmp / "bare.lua"
    bare_script.write_text(BARE_LUA)

    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "wsgi:app"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    rounds: list[dict[str, dict[str, float]]] = []
    try:
        wait_ready(f"{base}/livez")
        # Warm every worker (grid index, connection pools) before measuring.
        run_wrk(f"{base}/api/v1/cases", intake_script("warm"), 4, args.connections)
        time.sleep(3)  # let the server drain what the warm-up left queued
        with app.app_context(), database(app).new_session() as sess:
            warm = sess.scalar(select(func.count()).select_from(Case)) or 0
        # Bare and intake alternate in short rounds: this machine's speed drifts over minutes,
        # and each ratio compares two runs taken side by side.
        for n in range(args.rounds):
            bare = run_wrk(f"{base}/livez", bare_script, args.seconds, args.connections)
            time.sleep(1)
            intake = run_wrk(
                f"{base}/api/v1/cases", intake_script(f"r{n}"), args.seconds, args.connections
            )
            time.sleep(1)
            rounds.append({"bare": bare, "intake": intake})
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    with app.app_context(), database(app).new_session() as sess:
        made = (sess.scalar(select(func.count()).select_from(Case)) or 0) - warm
        measured = Case.idempotency_key.like(f"{prefix}-r%")
        keys = sess.scalar(select(func.count(func.distinct(Case.idempotency_key))).where(measured))
        rows = sess.scalar(select(func.count()).where(measured))
    ratios = [r["intake"]["per_s"] / r["bare"]["per_s"] for r in rounds]
    middle = sorted(range(len(rounds)), key=lambda i: ratios[i])[len(rounds) // 2]
    bare, intake = rounds[middle]["bare"], rounds[middle]["intake"]
    created = int(sum(r["intake"].get("created", 0) for r in rounds))
    replayed = int(sum(r["intake"].get("replayed", 0) for r in rounds))
    failed = int(sum(r["intake"].get("failed", 0) for r in rounds))
    result = {
        "metrics": {
            "intake_per_s": round(intake["per_s"], 1),
            "bare_per_s": round(bare["per_s"], 1),
            "intake_p99_ms": max(r["intake"].get("p99_ms", 0.0) for r in rounds),
        },
        "ratios": {
            "intake_vs_bare": round(ratios[middle], 3),
            "each_round": [round(r, 3) for r in ratios],
        },
        "checks": {
            "responses_201": created,
            "responses_200_replayed": replayed,
            "cases_created_in_db": made,
            "lost": max(0, created - made),
            "completed_after_client_stopped": made - created,
            "duplicated": int(rows - keys),
            "failed_responses": failed,
        },
        "context": {
            "database": url.split("@")[-1] if "@" in url else url.split(":")[0],
            "server": f"gunicorn {args.workers} sync workers",
            "load": (
                f"wrk 2 threads, {args.connections} connections, loopback; {args.rounds} rounds "
                f"of {args.seconds} s /livez then {args.seconds} s intake"
            ),
            "figures": (
                "the round with the median ratio; intake_p99_ms is the worst round's p99; "
                "checks count every round"
            ),
            "bare_endpoint": "/livez (same app, same server: no database, no checks)",
            "bare_p99_ms": bare.get("p99_ms"),
            "intake_p50_ms": intake.get("p50_ms"),
            "rounds": [
                {
                    "bare_per_s": round(r["bare"]["per_s"], 1),
                    "intake_per_s": round(r["intake"]["per_s"], 1),
                    "intake_p99_ms": r["intake"].get("p99_ms"),
                }
                for r in rounds
            ],
            "cases_before": before,
            "machine": (
                f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
            ),
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    shutil.rmtree(tmp, ignore_errors=True)
    checks = result["checks"]
    if checks["lost"] or checks["duplicated"] or checks["failed_responses"]:
        raise SystemExit("cases were lost, duplicated or refused: see checks")


if __name__ == "__main__":
    main()
