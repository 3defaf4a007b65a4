"""The knowledge base of answers: consultations answered on the call are read from here.

Administrators write the entries; operators search them while the caller waits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from core.types import utcnow
from dispatch.errors import InvalidInput, NotFound
from dispatch.models import User
from hotline.models import KnowledgeEntry


def entry_json(entry: KnowledgeEntry) -> dict[str, Any]:
    """An entry as the desk and the admin page show it."""
    return {
        "id": entry.id,
        "title": entry.title,
        "answer": entry.answer,
        "keywords": entry.keywords,
        "is_active": entry.is_active,
        "updated_at": entry.updated_at.isoformat(),
    }


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(
    session: Session, query: str, *, include_inactive: bool = False, limit: int = 10
) -> list[KnowledgeEntry]:
    """Entries whose title, keywords or answer hold every word of ``query`` (titles first)."""
    stmt = select(KnowledgeEntry)
    if not include_inactive:
        stmt = stmt.where(KnowledgeEntry.is_active.is_(True))
    words = query.split()[:5]
    if words:
        stmt = stmt.where(
            and_(
                *(
                    or_(
                        KnowledgeEntry.title.like(_like(w), escape="\\"),
                        KnowledgeEntry.keywords.like(_like(w), escape="\\"),
                        KnowledgeEntry.answer.like(_like(w), escape="\\"),
                    )
                    for w in words
                )
            )
        )
    rows = session.scalars(stmt.order_by(KnowledgeEntry.id).limit(200)).all()
    if words:
        rows = sorted(rows, key=lambda e: (words[0] not in e.title, words[0] not in e.keywords))
    return list(rows[: max(1, min(limit, 100))])


def save_entry(
    session: Session,
    user: User,
    *,
    title: str,
    answer: str,
    keywords: str = "",
    is_active: bool = True,
    entry_id: int | None = None,
) -> KnowledgeEntry:
    """Create an entry, or replace entry ``entry_id``'s text. Flushes; the caller commits."""
    title, answer = title.strip(), answer.strip()
    fields = {}
    if not title or len(title) > 200:
        fields["title"] = "required, at most 200 characters"
    if not answer or len(answer) > 10_000:
        fields["answer"] = "required, at most 10000 characters"
    if len(keywords) > 500:
        fields["keywords"] = "at most 500 characters"
    if fields:
        raise InvalidInput("the entry is incomplete", fields)
    if entry_id is None:
        entry = KnowledgeEntry()
        session.add(entry)
    else:
        entry = session.get(KnowledgeEntry, entry_id)
        if entry is None:
            raise NotFound(f"no knowledge entry {entry_id}")
    entry.title = title
    entry.answer = answer
    entry.keywords = " ".join(keywords.split())
    entry.is_active = is_active
    entry.updated_at = utcnow()
    entry.updated_by_id = user.id
    session.flush()
    return entry


#: A few answers the demo desk starts with (administrators replace them).
DEMO_ENTRIES = (
    (
        "垃圾清运时间",
        "城区生活垃圾每天清运两次：早上6:00-8:00，下午17:00-19:00。大件垃圾请预约，电话12319。",
        "垃圾 清运 收垃圾 几点 时间 大件垃圾",
    ),
    (
        "占道经营许可办理",
        "临时占道经营需向所在区城管执法局申请，携带身份证和经营场所说明，5个工作日内答复。",
        "占道 摆摊 经营 许可 办证 申请",
    ),
    (
        "路灯报修",
        "路灯不亮可直接在本热线报修，一般1个工作日内修复；高压线路故障请拨95598。",
        "路灯 不亮 报修 灯坏了",
    ),
    (
        "违章搭建如何举报",
        "可通过12345热线举报违章搭建，请说明具体位置；举报人信息严格保密。",
        "违建 违章 搭建 私搭乱建 举报",
    ),
)


def load_demo_entries(session: Session) -> int:
    """Add the demo answers the base lacks (by title); return how many were added."""
    have = set(session.scalars(select(KnowledgeEntry.title)))
    added = 0
    for title, answer, keywords in DEMO_ENTRIES:
        if title not in have:
            session.add(KnowledgeEntry(title=title, answer=answer, keywords=keywords))
            added += 1
    session.flush()
    return added
