"""``/admin/open311``: administrators issue and revoke Open311 client API keys.

A new key is shown once, in the answer to the form that created it (never flashed into the
session, never stored): only its SHA-256 is kept.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import Forbidden

from core.db import session as db_session
from dispatch.auth import login_required_page
from dispatch.models import User
from dispatch.models.people import Role
from dispatch.open311.keys import ClientKeyError, clients, issue_key, revoke_key

bp = Blueprint("open311_admin", __name__, template_folder="templates")

#: Who manages Open311 clients.
ADMIN_ROLES = frozenset({Role.ADMIN})


def _admin() -> User:
    user: User = current_user._get_current_object()  # type: ignore[attr-defined]
    if not user.has_role(*ADMIN_ROLES):
        raise Forbidden()
    return user


def _page(new_key: str | None = None, new_name: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    html = render_template(
        "open311/admin.html",
        clients=clients(db_session()),
        new_key=new_key,
        new_name=new_name,
    )
    return html, status, {"Cache-Control": "no-store"}


@bp.get("/admin/open311")
@login_required_page
def keys_page() -> ResponseReturnValue:
    """Every Open311 client with its key prefix, dates and state; a form for a new one."""
    _admin()
    return _page()


@bp.post("/admin/open311")
@login_required_page
def create_key() -> ResponseReturnValue:
    """Register a client and show its key this once."""
    user = _admin()
    sess = db_session()
    try:
        client, key = issue_key(
            sess, request.form.get("name", ""), request.form.get("contact", ""), user
        )
    except ClientKeyError as exc:
        sess.rollback()
        flash(_("No key issued: %(reason)s", reason=str(exc)), "error")
        return redirect(url_for(".keys_page"))
    sess.commit()
    return _page(new_key=key, new_name=client.name, status=201)


@bp.post("/admin/open311/<int:client_id>/revoke")
@login_required_page
def revoke(client_id: int) -> ResponseReturnValue:
    """Revoke a client's key at once."""
    user = _admin()
    sess = db_session()
    try:
        client = revoke_key(sess, client_id, user)
    except ClientKeyError:
        sess.rollback()
        flash(_("No such Open311 client."), "error")
        return redirect(url_for(".keys_page"))
    sess.commit()
    flash(_("The key of %(name)s is revoked.", name=client.name), "ok")
    return redirect(url_for(".keys_page"))


@bp.app_context_processor
def _admin_link() -> dict[str, object]:
    return {"open311_admin_url": admin_url}


def admin_url() -> str | None:
    """The key page's address for administrators, for the top bar (None for others)."""
    if not current_user.is_authenticated or not current_user.has_role(*ADMIN_ROLES):
        return None
    return url_for("open311_admin.keys_page")
