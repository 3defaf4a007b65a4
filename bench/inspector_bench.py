"""What the inspector's report page costs a phone on a slow network: the bytes transferred on a
first visit (empty cache) in headless Chromium at 390 × 844, per resource, and what a
gzip-compressing proxy would send; then a second visit, which the service worker answers.

Runs on a throwaway SQLite file with the demo city; writes ``bench/results/inspector.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "inspector.json"
#: The budget the issue asks to keep: small pages on a slow mobile network.
BUDGET_BYTES = 300_000
BUDGET_GZIP_BYTES = 110_000


def _build_app(folder: Path) -> Any:
    from core.cli import upgrade_database
    from core.db import database
    from core.factory import create_app
    from dispatch.seed import seed_all
    from grids.services import load_demo_city

    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
            "SECRET_KEY": "bench",
            "PHOTO_DIR": str(folder / "photos"),
        }
    )
    upgrade_database(app)
    with app.app_context(), database(app).new_session() as sess:
        load_demo_city(sess)
        seed_all(sess)  # demo users, the inspector among them (password demo12345)
        sess.commit()
    return app


def _context(browser: Any, *, service_workers: str) -> Any:
    return browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        geolocation={"latitude": 26.8968, "longitude": 112.5720, "accuracy": 10},
        permissions=["geolocation"],
        service_workers=service_workers,
    )


def _log_in(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/login?next=/livez")
    page.fill("input[name=username]", "inspector")
    page.fill("input[name=password]", "demo12345")
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")


def measure(base_url: str) -> dict[str, Any]:
    """Load the report page in a phone-sized Chromium: first visit (nothing cached, no service
    worker yet), then a visit once the service worker is installed."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        fresh = _context(browser, service_workers="block")
        page = fresh.new_page()
        _log_in(page, base_url)
        first = _visit(page, f"{base_url}/inspector/report")
        fresh.close()
        installed = _context(browser, service_workers="allow")
        page = installed.new_page()
        _log_in(page, base_url)
        page.goto(f"{base_url}/inspector/report")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        repeat = _visit(page, f"{base_url}/inspector/report")
        browser.close()
    return {"first_visit": first, "repeat_visit": repeat}


def _visit(page: Any, url: str) -> dict[str, Any]:
    """One page load with the HTTP cache off: every resource, its bytes, and who served it."""
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    session.send("Network.setCacheDisabled", {"cacheDisabled": True})
    seen: dict[str, dict[str, Any]] = {}

    def on_response(params: dict[str, Any]) -> None:
        r = params["response"]
        seen[params["requestId"]] = {
            "url": r["url"],
            "type": params.get("type", ""),
            "from_service_worker": bool(r.get("fromServiceWorker")),
            "status": r["status"],
        }

    def on_finished(params: dict[str, Any]) -> None:
        if params["requestId"] in seen:
            seen[params["requestId"]]["transferred"] = int(params["encodedDataLength"])

    session.on("Network.responseReceived", on_response)
    session.on("Network.loadingFinished", on_finished)
    started = time.perf_counter()
    page.goto(url, wait_until="networkidle")
    page.wait_for_selector("#outbox li")
    elapsed = time.perf_counter() - started
    session.detach()
    rows = []
    for item in seen.values():
        if item["status"] >= 400 or item["url"].startswith("data:"):
            continue
        body = page.request.get(item["url"]).body()
        rows.append(
            {
                "path": item["url"].split("/", 3)[-1].split("?")[0],
                "type": item["type"],
                "from_service_worker": item["from_service_worker"],
                "transferred": item.get("transferred", 0),
                "body": len(body),
                "gzip": len(gzip.compress(body, 6)),
            }
        )
    network = [r for r in rows if not r["from_service_worker"]]
    return {
        "requests": len(rows),
        "network_requests": len(network),
        "transferred_bytes": sum(r["transferred"] for r in network),
        "body_bytes": sum(r["body"] for r in rows),
        "gzip_bytes": sum(r["gzip"] for r in rows),
        "load_s": round(elapsed, 3),
        "resources": sorted(rows, key=lambda r: -r["body"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from tests.browser import live_server

    with tempfile.TemporaryDirectory() as tmp:
        app = _build_app(Path(tmp))
        with live_server(app) as base_url:
            figures = measure(base_url)
    first = figures["first_visit"]
    result = {
        "metrics": {
            "report_page_transferred_bytes": first["transferred_bytes"],
            "report_page_gzip_bytes": first["gzip_bytes"],
            "report_page_requests": first["requests"],
            # The service worker answers static files from its cache; the page and its data
            # (network first, for fresh figures) still cross the network when there is one.
            "repeat_visit_network_bytes": sum(
                r["gzip"]
                for r in figures["repeat_visit"]["resources"]
                if not r["path"].startswith("static/")
            ),
            "repeat_visit_from_service_worker": sum(
                1 for r in figures["repeat_visit"]["resources"] if r["from_service_worker"]
            ),
        },
        "checks": {
            "within_budget": first["transferred_bytes"] <= BUDGET_BYTES,
            "within_gzip_budget": first["gzip_bytes"] <= BUDGET_GZIP_BYTES,
        },
        "budget": {"transferred_bytes": BUDGET_BYTES, "gzip_bytes": BUDGET_GZIP_BYTES},
        "detail": figures,
        "context": {
            "machine": platform.machine(),
            "python": platform.python_version(),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "note": "uncompressed as Flask serves it; gzip_bytes: what a compressing proxy "
            "would send (level 6). Repeat visit: the service worker answers from its cache.",
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result["metrics"], indent=2))
    if not all(result["checks"].values()):
        raise SystemExit(f"over budget: {result['checks']}")


if __name__ == "__main__":
    main()
