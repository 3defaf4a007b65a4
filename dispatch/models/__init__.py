"""Dispatch models: the category catalogue, people and access, cases and their event log."""

from dispatch.models.cases import Case, CaseCaller, CaseEvent, CaseRequest
from dispatch.models.catalog import Category, Department, FilingCondition, RoutingRule
from dispatch.models.counters import CaseCounter
from dispatch.models.people import ApiToken, RoleGrant, User

__all__ = [
    "ApiToken",
    "Case",
    "CaseCaller",
    "CaseCounter",
    "CaseEvent",
    "CaseRequest",
    "Category",
    "Department",
    "FilingCondition",
    "RoleGrant",
    "RoutingRule",
    "User",
]
