"""What the background-job tests need besides the code under test: a database of their own,
a redis-server per test, a webhook receiver, and RQ worker processes.

Workers are separate processes, so these tests cannot use the rolled-back test transaction:
each test module migrates a fresh database (a SQLite file, or a new PostgreSQL database next to
the one ``DATABASE_URL`` names) and loads the demo city and the seed into it.

Worker and scheduler processes run the production entry point, ``flask --app wsgi jobs ...``,
configured the production way: through the environment (``DATABASE_URL``, ``REDIS_URL``,
``NOTIFY_WEBHOOK_URL``, ``OUTBOX_LEASE_SECONDS`` …).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, TypeVar

PROJECT_ROOT = Path(__file__).resolve().parent.parent

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None], what: str, timeout: float = 30.0, every: float = 0.05
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------ the database
def _admin_engine(url: str) -> Any:
    """An engine outside transactions (CREATE/DROP DATABASE), holding no idle connection."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


@contextlib.contextmanager
def fresh_database(base_url: str, tmp_dir: Path) -> Iterator[str]:
    """A new, empty database for this module: a SQLite file in ``tmp_dir``, or (when
    ``base_url`` is PostgreSQL) ``<dbname>_jobs_<pid>`` with PostGIS, dropped afterwards."""
    if not base_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_dir / 'jobs.sqlite3'}"
        return
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    base = make_url(base_url)
    name = f"{base.database or 'postgres'}_jobs_{os.getpid()}"
    url = base.set(database=name)
    admin = _admin_engine(base_url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        new = _admin_engine(url.render_as_string(hide_password=False))
        with new.connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        new.dispose()
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def prepare_database(url: str) -> None:
    """Migrate ``url`` and load the demo city, the seed and its demo users (committed)."""
    from core.cli import upgrade_database
    from core.db import database
    from dispatch.seed import seed_all
    from grids import services
    from tests.conftest import make_test_app

    app = make_test_app(url)
    upgrade_database(app)
    with app.app_context(), database(app).new_session() as sess:
        services.load_demo_city(sess)
        seed_all(sess)
        sess.commit()
    database(app).engine.dispose()


# ------------------------------------------------------------------------------ Redis
class RedisServer:
    """A redis-server of this test's own on a free port (no persistence): stopping it disturbs
    nothing else, and it comes back empty on the same port."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.proc is None, "already running"
        self._log = open(self.log_dir / f"redis-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["/usr/bin/redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.log_dir)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for(self.ping, f"redis-server on port {self.port}", timeout=10)

    def ping(self) -> bool:
        from redis import Redis
        from redis.exceptions import RedisError

        client = Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def client(self) -> Any:
        from redis import Redis

        return Redis.from_url(self.url)


# ------------------------------------------------------------------------------ the receiver
@dataclass
class Received:
    """One POST the receiver saw and what became of it."""

    key: str
    body: dict[str, Any]
    #: ``ok`` (answered 2xx to a live connection), ``failed`` (answered 500), ``aborted`` (the
    #: sender was gone when the hang was released), ``hanging``.
    outcome: str


def _peer_closed(conn: socket.socket) -> bool:
    """Whether the other end has closed the connection (a killed process's socket is closed by
    the kernel: its FIN reads as end of file)."""
    readable, _, _ = select.select([conn], [], [], 0)
    if not readable:
        return False
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class WebhookReceiver:
    """A local HTTP endpoint recording every POST (Idempotency-Key, JSON body).

    ``hang_first(key)`` (or ``hang_first(None)``: any key) holds the first request of that key
    until ``release()``; ``fail_first(key)`` answers the first request of that key with 500. A
    request counts as delivered (``ok``) only when its answer went to a live connection.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.hang_any = False
        self.hang_keys: set[str] = set()
        self.fail_keys: set[str] = set()
        self.hanging = threading.Event()
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                receiver._handle(self, self.headers.get("Idempotency-Key") or "", body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def hang_first(self, key: str | None) -> None:
        with self.lock:
            if key is None:
                self.hang_any = True
            else:
                self.hang_keys.add(key)

    def fail_first(self, key: str) -> None:
        with self.lock:
            self.fail_keys.add(key)

    def release(self) -> None:
        self.released.set()

    def _handle(self, handler: BaseHTTPRequestHandler, key: str, body: dict[str, Any]) -> None:
        with self.lock:
            first = all(r.key != key for r in self.received)
            entry = Received(key, body, "hanging")
            self.received.append(entry)
            hang = first and (self.hang_any or key in self.hang_keys)
            fail = first and key in self.fail_keys
        if hang:
            self.hanging.set()
            self.released.wait(timeout=120)
            if _peer_closed(handler.connection):
                with self.lock:
                    entry.outcome = "aborted"
                return
        status = 500 if fail else 200
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        handler.wfile.flush()
        with self.lock:
            entry.outcome = "failed" if fail else "ok"

    def requests_for(self, key: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.key == key]

    def delivered(self) -> dict[str, int]:
        """Idempotency-Key -> how many times a request with it was delivered (answered 2xx)."""
        out: dict[str, int] = {}
        with self.lock:
            for r in self.received:
                if r.outcome == "ok":
                    out[r.key] = out.get(r.key, 0) + 1
        return out

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


# ------------------------------------------------------------------------------ processes
class FlaskProcess:
    """``flask --app wsgi <args>`` in a process of its own, logging to a file (shown when a
    test fails)."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]

    def wait(self, timeout: float) -> int:
        """Wait for the process to end; its exit code (fails the test on timeout)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.proc.args} still running after {timeout:g}s:\n{self.log()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL (no warm shutdown, nothing cleaned up)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not end within 10 s; the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode


def process_env(database_url: str, redis_url: str, config: dict[str, Any]) -> dict[str, str]:
    """The environment of a worker process: ``config`` as environment variables (lists
    comma-separated), on this test's database and Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    for key, value in config.items():
        env[key] = ",".join(value) if isinstance(value, list | tuple) else str(value)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PYTHONPATH=str(PROJECT_ROOT),
        PYTHONUNBUFFERED="1",
    )
    return env


def is_gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie nobody reaps counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def kill_pid(pid: int) -> None:
    """SIGKILL a process that is not our child (an RQ work horse), if it still runs."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
