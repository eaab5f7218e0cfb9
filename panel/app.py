"""The app factory: the web app with its settings, extensions, blueprints and commands."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, has_request_context, request, session
from flask_login import current_user

from panel.config import PROJECT_ROOT, instance_path, load_settings
from panel.extensions import babel, csrf, db, limiter, login_manager, migrate

LANGUAGES = ("en", "nl")
TOKEN_BLUEPRINTS = ("api", "metrics")  # called with a token, never with the session


def _select_locale() -> str | None:
    """The person's language; else the browser's; outside a request (tasks, CLI) the default."""
    if not has_request_context():
        return None
    if current_user and current_user.is_authenticated:
        return current_user.language
    return request.accept_languages.best_match(LANGUAGES) or "en"


def _select_timezone() -> str | None:
    if not has_request_context():
        return None
    if current_user and current_user.is_authenticated:
        return current_user.timezone
    return None


def _security_headers(response: Any) -> Any:
    """Headers a panel that holds other people's data should always send."""
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if "text/html" in headers.get("Content-Type", ""):
        headers.setdefault("Cache-Control", "no-store")
    return response


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app from the environment (and ``overrides``, used by tests)."""
    app = Flask(
        "panel",  # the package: its name is the app's, its folder the root
        instance_path=str(instance_path()),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(load_settings())
    if overrides:
        app.config.update(overrides)

    from panel import models  # noqa: F401  (registers the tables)

    db.init_app(app)
    migrate.init_app(
        app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True, compare_type=True
    )
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=_select_timezone)
    login_manager.init_app(app)

    from panel.web import register_web

    register_web(app)
    app.after_request(_security_headers)

    @app.before_request
    def _make_session_permanent() -> None:
        g.setdefault("actor", None)
        if request.blueprint not in TOKEN_BLUEPRINTS:  # no cookie for a script's call
            session.permanent = True

    from panel.cli import register_cli

    register_cli(app)

    from workers import init_celery

    init_celery(app)
    return app
