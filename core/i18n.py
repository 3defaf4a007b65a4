"""Languages and time zones: zh-Hans by default, English on request; Asia/Shanghai on screen."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import Babel

SHANGHAI = ZoneInfo("Asia/Shanghai")

babel = Babel()


def select_locale() -> str:
    """The UI language: ``?lang=``, then the session's choice, then zh-Hans (the default)."""
    if not has_request_context():  # jobs and commands: the default, unless force_locale says
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    languages = current_app.config["LANGUAGES"]
    wanted = request.args.get("lang")
    if wanted:
        wanted = {"zh": "zh_Hans_CN", "zh-Hans": "zh_Hans_CN", "zh_CN": "zh_Hans_CN"}.get(
            wanted, wanted
        )
        if wanted in languages:
            session["lang"] = wanted
            return wanted
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Format a UTC-aware instant in Asia/Shanghai for display."""
    if value is None:
        return ""
    return value.astimezone(SHANGHAI).strftime(fmt)


def init_app(app: Flask) -> None:
    """Attach Babel (translations in ``translations/``) and the template helpers."""
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters["local_time"] = local_time

    @app.context_processor
    def _language() -> dict[str, str]:
        from flask_babel import get_locale

        locale = str(get_locale() or app.config["BABEL_DEFAULT_LOCALE"])
        return {
            "current_lang": locale,
            "html_lang": "zh-Hans" if locale.startswith("zh") else locale,
        }
