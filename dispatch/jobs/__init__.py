"""Background work started after a commit. Jobs take ids, open their own session and are safe to
run twice (they re-check the state through the workflow)."""

from __future__ import annotations

import logging

from flask import current_app

from core.db import database

log = logging.getLogger(__name__)


def auto_dispatch(case_id: int) -> bool:
    """Dispatch a case to its proposed owner, as the system; a no-op if it moved on meanwhile."""
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
