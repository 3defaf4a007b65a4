"""``flask jobs ...``: the RQ worker, the periodic scheduler, and one-off runs of periodic work."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

jobs_cli = AppGroup("jobs", help="Background jobs: worker, scheduler, sweep, pump.")


@jobs_cli.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker_command(queues: tuple[str, ...], burst: bool) -> None:
    """Run an RQ worker on QUEUES (default: notifications, sla, default), inside the app."""
    from rq import Worker

    from dispatch.jobs.queue import QUEUES, redis_connection, rq_queue

    conn = redis_connection()
    if conn is None:
        raise click.UsageError("REDIS_URL is not set: the embedded default runs jobs in-process")
    worker = Worker([rq_queue(name) for name in queues or QUEUES], connection=conn)
    # with_scheduler: delayed retries (enqueue_in) are moved to their queue when due.
    worker.work(with_scheduler=True, burst=burst)


@jobs_cli.command("scheduler")
def scheduler_command() -> None:
    """Enqueue the periodic work (run one or more; only the lock holder enqueues)."""
    from dispatch.jobs.scheduler import Scheduler

    click.echo(
        "scheduler: waiting for the lock; periodic work: "
        + ", ".join(f"{t.name} every {t.seconds:g}s" for t in Scheduler(current_app).tasks)
    )
    Scheduler(current_app._get_current_object()).run()  # type: ignore[attr-defined]


@jobs_cli.command("sweep")
def sweep_command() -> None:
    """Run the SLA sweep once, now, in this process."""
    from dispatch.jobs import tasks

    click.echo(json.dumps(tasks.sweep()))


@jobs_cli.command("pump")
def pump_command() -> None:
    """Hand every due notification delivery to a job now."""
    from dispatch.jobs import tasks

    click.echo(f"{tasks.pump()} deliveries handed over")
