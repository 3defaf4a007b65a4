"""Dispatch models: the category catalogue, people and access, cases and their event log."""

from dispatch.models.calendar import CalendarDay, CalendarRevision, CalendarWindow, CalendarYear
from dispatch.models.cases import Case, CaseCaller, CaseEvent, CaseRequest
from dispatch.models.catalog import Category, Department, FilingCondition, RoutingRule
from dispatch.models.counters import CaseCounter
from dispatch.models.evaluation import EvaluationGrade, EvaluationWeight
from dispatch.models.inspector import CasePhoto, ReportEvidence
from dispatch.models.notifications import Notification, OutboxMessage
from dispatch.models.open311 import Open311Client, Open311Request
from dispatch.models.people import ApiToken, RoleGrant, User
from dispatch.models.sla import CaseTimer, SlaPolicy

__all__ = [
    "ApiToken",
    "CalendarDay",
    "CalendarRevision",
    "CalendarWindow",
    "CalendarYear",
    "Case",
    "CaseCaller",
    "CaseCounter",
    "CaseEvent",
    "CasePhoto",
    "CaseRequest",
    "CaseTimer",
    "Category",
    "Department",
    "EvaluationGrade",
    "EvaluationWeight",
    "FilingCondition",
    "Notification",
    "Open311Client",
    "Open311Request",
    "OutboxMessage",
    "ReportEvidence",
    "RoleGrant",
    "RoutingRule",
    "SlaPolicy",
    "User",
]
