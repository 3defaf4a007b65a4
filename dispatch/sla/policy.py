"""The process limits per stage, as an editable table seeded with DOMAIN.md §4's typical values."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models.sla import SlaPolicy
from dispatch.sla.timers import DEFAULT_POLICY, warn_share_default


def seed_policies(session: Session) -> int:
    """Add the default limit of every stage and urgency that has no row yet (edited rows stay
    edited); returns how many were added."""
    have = {(p.stage, p.urgency) for p in session.scalars(select(SlaPolicy))}
    added = 0
    for (stage, urgency), (value, clock) in DEFAULT_POLICY.items():
        if (str(stage), urgency) in have:
            continue
        session.add(
            SlaPolicy(
                stage=str(stage),
                urgency=urgency,
                limit_value=value,
                clock_type=str(clock),
                warn_share=warn_share_default(),
            )
        )
        added += 1
    session.flush()
    return added
