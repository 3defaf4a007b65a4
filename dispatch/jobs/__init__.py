"""Background work: notification delivery, the SLA sweep, the outbox pump (and auto-dispatch,
which runs right after the commit that makes a case dispatchable).

``queue`` decides where jobs run (RQ on Redis, or this process); ``tasks`` holds the job
functions; ``scheduler`` runs the periodic work, exactly once across any number of processes.
Jobs take ids, open their own sessions and are safe to run twice (they re-check the state).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from flask import current_app

from core.db import database
from dispatch.jobs.queue import enqueue, enqueue_many, start_embedded

__all__ = ["auto_dispatch", "enqueue", "enqueue_deliveries", "enqueue_many", "start_embedded"]

log = logging.getLogger(__name__)


def enqueue_deliveries(
    outbox_ids: Iterable[int], delay: timedelta | None = None, attempt: int = 0
) -> bool:
    """Ask for the delivery of these outbox rows (job id ``outbox-<id>``, ``outbox-<id>-r<n>``
    for the n-th retry: asking twice is harmless, the delivery claims its row). A job may not
    outlive the row's claim (``OUTBOX_LEASE_SECONDS``), so a slow send is never sent twice."""
    from dispatch.jobs import tasks

    ids = list(outbox_ids)
    suffix = f"-r{attempt}" if attempt else ""
    return enqueue_many(
        tasks.deliver,
        [(i,) for i in ids],
        job_ids=[f"outbox-{i}{suffix}" for i in ids],
        queue="notifications",
        delay=delay,
        timeout=max(int(float(current_app.config.get("OUTBOX_LEASE_SECONDS", 120))) - 5, 5),
    )


def auto_dispatch(case_id: int) -> bool:
    """Dispatch a case to its proposed owner, as the system; a no-op if it moved on meanwhile.

    Runs in the committing process right after the commit (database work only, no outside
    call, so no queue is needed); should it not happen, the case waits in the dispatcher's
    queue and its dispatch clock warns like any other."""
    from dispatch.access import SYSTEM
    from dispatch.errors import WorkflowError
    from dispatch.models import Case
    from dispatch.models.cases import CaseState
    from dispatch.routing import propose_owner
    from dispatch.workflow import Action, perform

    if not current_app.config.get("AUTO_DISPATCH", True):
        return False
    with database().new_session() as sess:
        case = sess.get(Case, case_id)
        if case is None or case.state != CaseState.TO_DISPATCH or propose_owner(sess, case) is None:
            return False  # no proposal: the case waits in the dispatcher's queue
        try:
            perform(sess, case_id, Action.DISPATCH, SYSTEM, note="")
        except WorkflowError as exc:
            log.info("auto-dispatch of case %s skipped: %s", case_id, exc.message)
            sess.rollback()
            return False
        sess.commit()
        return True
