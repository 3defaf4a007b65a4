"""gunicorn settings read when it is started from the project folder (``gunicorn wsgi:app``).

Command-line options still win (``-w``, ``-b``). Each worker builds the grid index and freezes
its start-up heap before it takes a request (``core.serving.prepare_worker``).
"""

from typing import Any


def post_worker_init(worker: Any) -> None:
    """A worker loaded the app: warm it before it accepts connections."""
    from core.serving import prepare_worker

    took = prepare_worker(worker.wsgi)
    worker.log.info("worker %s ready (warm-ups: %s)", worker.pid, took)
