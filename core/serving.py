"""Getting a web worker ready before its first request.

A worker that starts cold pays on its first requests: the grid index takes seconds to build,
and the garbage collector keeps re-scanning the hundred thousand objects the app made at start
(a full collection every ~1,250 intakes, 60 ms each). ``prepare_worker`` builds what the
features registered as warm-ups, then freezes the start-up heap (``gc.freeze``) so collections
only look at what requests make. gunicorn runs it in every worker (``gunicorn.conf.py``).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

from flask import Flask

log = logging.getLogger(__name__)


def add_warm_up(app: Flask, name: str, warm: Callable[[], object]) -> None:
    """Register ``warm`` (run in an app context) to be done before a worker's first request."""
    app.extensions.setdefault("warm_ups", {})[name] = warm


def prepare_worker(app: Flask) -> dict[str, float]:
    """Run the app's warm-ups, then move every object made so far out of the collector's way.

    A warm-up that fails is logged and left to the first request that needs it (the worker
    still serves: a database that is not migrated yet must not stop the pages that explain
    it). Returns each warm-up's seconds, for the log.
    """
    took: dict[str, float] = {}
    with app.app_context():
        for name, warm in app.extensions.get("warm_ups", {}).items():
            start = time.perf_counter()
            try:
                warm()
            except Exception:
                log.exception("warm-up %s failed; the first request will do it", name)
            took[name] = round(time.perf_counter() - start, 3)
    gc.collect()
    gc.freeze()
    return took
