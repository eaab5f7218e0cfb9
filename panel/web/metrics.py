"""Prometheus metrics at /metrics, for the token's scope."""

from __future__ import annotations

from flask import Blueprint
from flask_babel import gettext as _
from prometheus_client import CONTENT_TYPE_LATEST
from werkzeug.wrappers import Response

from panel.models.base import utcnow
from panel.services import api_tokens, metrics
from panel.web.common import bearer_token

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape() -> Response:
    """The figures the token's person may see; a scraper gets a 401 it can act on without
    learning whether a token ever existed."""
    raw = bearer_token()
    caller = api_tokens.authenticate(raw, utcnow()) if raw else None
    if caller is None:
        return Response(
            _("Send an API token: Authorization: Bearer onus_…") + "\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="onus"'},
            mimetype="text/plain",
        )
    response = Response(metrics.render(caller.actor), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response
