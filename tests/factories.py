"""Test factories: users with roles and scopes, API clients carrying a bearer token."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from dispatch.auth import hash_password, issue_token
from dispatch.models import RoleGrant, User

PASSWORD = "test-password"
_password_hash: str | None = None


def password_hash() -> str:
    """The hash of PASSWORD, computed once per run (scrypt is slow on purpose)."""
    global _password_hash
    if _password_hash is None:
        _password_hash = hash_password(PASSWORD)
    return _password_hash


def make_user(
    session: Session,
    username: str,
    *roles: str,
    scope_kind: str = "city",
    scope_code: str = "",
    officer_id: int | None = None,
    department_id: int | None = None,
) -> User:
    """A user holding ``roles``, all with the same scope."""
    user = User(
        username=username,
        display_name=username,
        password_hash=password_hash(),
        officer_id=officer_id,
        department_id=department_id,
    )
    for role in roles:
        user.grants.append(RoleGrant(role=role, scope_kind=scope_kind, scope_code=scope_code))
    session.add(user)
    session.flush()
    return user


class ApiClient:
    """A test client that sends ``Authorization: Bearer <token>`` on every request."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def _h(self, kw: dict[str, Any]) -> dict[str, Any]:
        kw["headers"] = {**self.headers, **kw.get("headers", {})}
        return kw

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **self._h(kw))

    def post(self, url: str, **kw: Any) -> Any:
        return self.client.post(url, **self._h(kw))


def api_client(client: FlaskClient, session: Session, user: User) -> ApiClient:
    """An ApiClient acting as ``user`` (its token lives in the test's transaction)."""
    return ApiClient(client, issue_token(session, user, "test"))
