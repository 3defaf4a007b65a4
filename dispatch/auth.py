"""Logging in: password sessions for people, bearer tokens for machines, CSRF, throttling.

Pages use Flask-Login sessions (secure cookie flags, CSRF on every form through Flask-WTF).
The JSON API accepts either a bearer token (``Authorization: Bearer …``, for machine clients;
no CSRF needed) or the page session (then the ``X-CSRFToken`` header is required). Login is
throttled per address and per user name (Flask-Limiter; Redis-backed when REDIS_URL is set).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, CSRFProtect, validate_csrf
from sqlalchemy import event, select
from sqlalchemy.orm import Session, joinedload
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from core.db import session as db_session
from core.errors import ApiError, error_body
from core.types import utcnow
from dispatch.models import ApiToken, RoleGrant, User

bp = Blueprint("auth", __name__, template_folder="templates")
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])

F = TypeVar("F", bound=Callable[..., Any])

#: The cost of hashing a password that does not exist, so timing does not reveal user names.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def hash_password(password: str) -> str:
    """A salted, slow hash (Werkzeug's scrypt) of ``password``."""
    return generate_password_hash(password)


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None (constant-ish time either way)."""
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.is_active:
        return None
    return user


def issue_token(session: Session, user: User, name: str) -> str:
    """Create an API token for ``user``; the plain token is returned once and never stored."""
    token = "cdt_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name, token_hash=_digest(token)))
    session.flush()
    return token


def revoke_token(session: Session, token_id: int) -> bool:
    """Revoke a token by id; False when there is no such live token."""
    tok = session.get(ApiToken, token_id)
    if tok is None or tok.revoked_at is not None:
        return False
    tok.revoked_at = utcnow()
    session.flush()
    forget_tokens()  # this process at once; others within API_TOKEN_CACHE_SECONDS
    return True


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class _TokenCache:
    """Bearer token → the user it belongs to, kept for a few seconds per process.

    Machine clients (the hotline's call system, the phones' outboxes, Open311 peers) send a
    token with every request; looking it up is a third of an intake request's database work.
    Entries are detached snapshots loaded in a session of their own and never handed out:
    each request gets its own copy (``Session.merge(load=False)``, no SQL). A token revoked in
    this process is forgotten at once; one revoked elsewhere (the CLI, another worker) stops
    working within ``API_TOKEN_CACHE_SECONDS`` (0 turns the cache off).
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._entries: dict[str, tuple[float, User]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> User | None:
        hit = self._entries.get(digest)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, digest: str, user: User, ttl: float) -> None:
        with self._lock:
            if len(self._entries) >= self.size:
                now = time.monotonic()
                self._entries = {k: v for k, v in self._entries.items() if v[0] >= now}
                if len(self._entries) >= self.size:
                    self._entries.clear()
            self._entries[digest] = (time.monotonic() + ttl, user)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_token_cache = _TokenCache()


def forget_tokens(*_args: Any) -> None:
    """Drop this process's cached token look-ups (after a revocation or a change of roles)."""
    _token_cache.clear()


# Whatever changes who a token stands for, made in this process, takes effect at once.
event.listen(User.is_active, "set", forget_tokens)
event.listen(ApiToken.revoked_at, "set", forget_tokens)
for _change in ("after_insert", "after_update", "after_delete"):
    event.listen(RoleGrant, _change, forget_tokens)


def _load_token_user(session: Session, digest: str) -> User | None:
    # One round trip: the token, its user and the user's role grants.
    return (
        session.scalars(
            select(User)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(
                ApiToken.token_hash == digest,
                ApiToken.revoked_at.is_(None),
                User.is_active.is_(True),
            )
            .options(joinedload(User.grants))
        )
        .unique()
        .one_or_none()
    )


def user_from_token(session: Session, token: str, *, attach: bool = True) -> User | None:
    """The active user behind a live bearer token, as an instance of ``session``.

    ``attach=False`` returns the process's cached instance itself when the cache answers:
    detached, with its columns and role grants loaded, shared by every request of the process,
    so it is only read, never changed.
    """
    digest = _digest(token)
    ttl = float(current_app.config.get("API_TOKEN_CACHE_SECONDS", 0)) if current_app else 0.0
    if ttl <= 0:
        return _load_token_user(session, digest)
    cached = _token_cache.get(digest)
    if cached is None:
        from core.db import database

        with database().new_session() as own:  # closing detaches it, attributes loaded
            cached = _load_token_user(own, digest)
        if cached is None:
            return None  # unknown or revoked tokens are not remembered: a new one works at once
        _token_cache.put(digest, cached, ttl)
    return session.merge(cached, load=False) if attach else cached


def api_user(*, required: bool = True, attach: bool = True) -> User | None:
    """The caller of an API request: bearer token, or page session (with its CSRF header on
    writes). Raises a 401 ApiError when ``required`` and nobody is logged in.

    ``attach=False`` is for views that only read who calls (id and roles): a token's user may
    then come detached from the session (see ``user_from_token``), which spares the hottest
    write, intake, merging the user into its session on every request.
    """
    if "api_user" in g:
        return g.api_user
    user: User | None = None
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        user = user_from_token(db_session(), header[7:].strip(), attach=attach)
        if user is None:
            raise ApiError(401, "unauthorized", "the API token is unknown or revoked")
        if not attach:
            return user  # not kept for the request: a later call may want it attached
    elif current_user.is_authenticated:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            try:
                validate_csrf(request.headers.get("X-CSRFToken", ""))
            except Exception:
                raise ApiError(
                    400, "csrf_failed", "missing or invalid X-CSRFToken header"
                ) from None
        user = current_user._get_current_object()
    if user is None and required:
        raise ApiError(401, "unauthorized", "log in, or send an API token")
    g.api_user = user
    return user


def login_required_page(view: F) -> F:
    """Pages: redirect anonymous visitors to the login page (and back afterwards)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


def _safe_next(target: str | None) -> str:
    """Only local paths are followed after login (no open redirect)."""
    if not target:
        return url_for("home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("home")
    return target


def _login_key() -> str:
    return f"{get_remote_address()}|{(request.form.get('username') or '').strip().lower()}"


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
@limiter.limit("5 per minute", methods=["POST"], key_func=_login_key)
def login() -> ResponseReturnValue:
    """The login page."""
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(db_session(), form.username.data or "", form.password.data or "")
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        flash(_("Wrong user name or password."), "error")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form), 200 if request.method == "GET" else 400


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Log out (a POST with the CSRF token)."""
    logout_user()
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    """Sessions, CSRF, throttling and the login pages."""
    app.config.setdefault("SESSION_COOKIE_SECURE", False)
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    redis_url = app.config.get("REDIS_URL")
    app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    # A Redis outage must not lock people out: throttle in memory until it is back.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    csrf.init_app(app)
    limiter.init_app(app)
    app.register_blueprint(bp)

    @app.teardown_request
    def _forget_api_user(_exc: BaseException | None) -> None:
        g.pop("api_user", None)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Any:
        if request.path.startswith("/api/"):
            return jsonify(error_body("csrf_failed", exc.description or "CSRF check failed")), 400
        return render_template("auth/csrf.html", reason=exc.description), 400


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    try:
        user = db_session().get(User, int(user_id))
    except ValueError:
        return None
    return user if user is not None and user.is_active else None


def exempt_api(blueprint: Blueprint) -> None:
    """API blueprints check CSRF themselves (only for session-authenticated writes)."""
    csrf.exempt(blueprint)
