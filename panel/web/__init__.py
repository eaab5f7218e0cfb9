"""Web layer: one blueprint per audience, thin views over the services."""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from panel.extensions import csrf, db, login_manager
from panel.labels import label
from panel.measure.units import format_size
from panel.models import User


def _load_user(user_id: str) -> User | None:
    try:
        return db.session.get(User, int(user_id))
    except ValueError:
        return None


def _error_page(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("error.html", status=status, title=title, message=message), status


def register_web(app: Flask) -> None:
    from panel.web.agreements import bp as agreements_bp
    from panel.web.alerts import bp as alerts_bp
    from panel.web.api import bp as api_bp
    from panel.web.api import is_api_request, problem_for
    from panel.web.auth import bp as auth_bp
    from panel.web.builder import bp as builder_bp
    from panel.web.client import bp as client_bp
    from panel.web.common import inject_navigation
    from panel.web.hoster import bp as hoster_bp
    from panel.web.mail import bp as mail_bp
    from panel.web.metrics import bp as metrics_bp
    from panel.web.reports import bp as reports_bp
    from panel.web.tokens import bp as tokens_bp

    login_manager.user_loader(_load_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"

    for blueprint in (
        auth_bp,
        hoster_bp,
        builder_bp,
        client_bp,
        agreements_bp,
        alerts_bp,
        mail_bp,
        reports_bp,
        tokens_bp,
        api_bp,
        metrics_bp,
    ):
        app.register_blueprint(blueprint)
    # token-authenticated, never by the session cookie: no cross-site request can use them
    csrf.exempt(api_bp)
    csrf.exempt(metrics_bp)

    app.context_processor(inject_navigation)
    app.jinja_env.globals["get_locale"] = get_locale
    app.add_template_filter(format_size, "size")
    app.add_template_filter(label, "label")
    app.add_template_filter(lambda value: format_datetime(value) if value else "—", "when")

    pages = {
        403: lambda: (_("Not allowed"), _("Your role cannot open this page.")),
        404: lambda: (_("Not found"), _("There is nothing here, or it is not yours.")),
        413: lambda: (_("Too large"), _("What you sent is too large.")),
        429: lambda: (
            _("Too many attempts"),
            _("Too many attempts from your address. Wait a minute and try again."),
        ),
    }

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Any:
        """Under /api/ a problem document (also for 405 and 500); elsewhere the panel's
        page, or Werkzeug's own for the errors the panel has no page for."""
        if is_api_request():
            return problem_for(e)
        page = pages.get(e.code or 500)
        return _error_page(e.code or 500, *page()) if page else e

    @app.errorhandler(CSRFError)
    def csrf_failed(_e: CSRFError) -> tuple[str, int]:
        return _error_page(
            400,
            _("Form expired"),
            _("The form was too old or not sent from this panel. Try again."),
        )
