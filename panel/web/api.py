"""The REST API under /api/v1: JSON for scripts, authenticated by a person's API token.

Only ``Authorization: Bearer onus_...`` authenticates here, never the session cookie: the
API is CSRF-exempt, so a cookie a browser sends along must not act for anyone. The token
becomes its person's :class:`Actor` in its party, and every read goes through the scope,
so a script sees exactly what its person sees. Errors are RFC 9457 problem documents.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, NoReturn, TypeVar

from flask import Blueprint, abort, current_app, g, has_request_context, jsonify, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from panel.extensions import limiter
from panel.models import AlertStatus, Package, PackageStatus, PackageUsage
from panel.models.base import utcnow
from panel.services import alerts, api, api_tokens, dashboard, usage
from panel.services.errors import NotFound, ServiceError
from panel.services.scope import Actor, get_scoped
from panel.web.common import bearer_token

bp = Blueprint("api", __name__, url_prefix="/api/v1")

PER_PAGE, MAX_PER_PAGE, MAX_PAGE = 50, 200, 1_000_000
MAX_ID = 2**31 - 1  # ids are 32-bit: a larger one names nothing
MAIL_DAYS, MAX_MAIL_DAYS = 7, 90
PROBLEM_TYPE = "application/problem+json"
ALERT_STATUSES = tuple(status.value for status in AlertStatus)
PACKAGE_STATUSES = tuple(status.value for status in PackageStatus)
LEVELS = dashboard.LEVELS

T = TypeVar("T")


def _limit() -> str:
    return str(current_app.config["ONUS_API_LIMIT"])


def _limit_key() -> str:
    """Per token (by its hash, so no secret sits in the limiter's store); per address
    without one."""
    header = request.headers.get("Authorization", "")
    if not header:
        return get_remote_address()
    return "api-token:" + hashlib.sha256(header.encode()).hexdigest()


limiter.limit(_limit, key_func=_limit_key)(bp)


# --- problem documents --------------------------------------------------------------------------


def is_api_request() -> bool:
    """Whether the request is the API's, so an error answers as a problem document."""
    return has_request_context() and (request.path == "/api" or request.path.startswith("/api/"))


def problem(
    status: int, detail: str, headers: dict[str, str] | None = None, **members: Any
) -> Response:
    """An RFC 9457 problem document: ``about:blank`` with the status's own title."""
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.path,
        **members,
    }
    response = current_app.response_class(
        current_app.json.dumps(body), status=status, mimetype=PROBLEM_TYPE
    )
    response.headers.update(headers or {})
    return response


_DETAILS: dict[int, Callable[[], str]] = {
    404: lambda: _("There is nothing here, or it is not yours."),
    405: lambda: _("This address does not take that method."),
    429: lambda: _("Too many requests with this token. Wait a minute and try again."),
    500: lambda: _("Something went wrong on our side. Try again later."),
}


def problem_for(error: HTTPException) -> Response:
    """Any HTTP error under /api/ as a problem document (405 keeps its ``Allow``; the
    limiter adds ``Retry-After`` to a 429 itself)."""
    status = error.code or 500
    detail = _DETAILS.get(status, lambda: str(error.description or ""))()
    return problem(status, detail, {k: v for k, v in error.get_headers() if k == "Allow"})


def _refuse(
    status: int, detail: str, headers: dict[str, str] | None = None, **members: Any
) -> NoReturn:
    abort(problem(status, detail, headers, **members))


def _not_found() -> NoReturn:
    _refuse(404, _DETAILS[404]())


def _id(value: int) -> int:
    """A path's id; one beyond the ids' range names nothing (and must not reach the
    database, which would refuse it)."""
    if value > MAX_ID:
        _not_found()
    return value


# --- who is calling -----------------------------------------------------------------------------


@bp.before_request
def _authenticate() -> None:
    """The bearer token's person in its party, speaking their language; else 401."""
    if request.endpoint == "api.openapi":
        return
    raw = bearer_token()
    caller = api_tokens.authenticate(raw, utcnow()) if raw else None
    if caller is None:
        challenge = 'Bearer realm="onus"' + (', error="invalid_token"' if raw else "")
        _refuse(
            401,
            _("Send a valid API token: Authorization: Bearer onus_..."),
            {"WWW-Authenticate": challenge},
        )
    g.api_caller = caller
    # shared code reading the current actor sees the token's, never a session cookie's
    g.actor = caller.actor
    g.api_locale = ExitStack()
    g.api_locale.enter_context(force_locale(caller.user.language))


@bp.teardown_request
def _forget_locale(_exc: BaseException | None) -> None:
    stack = g.pop("api_locale", None)
    if stack is not None:
        stack.close()


@bp.after_request
def _not_cached(response: Response) -> Response:
    """Tenant data: no shared cache may keep it, and it differs per token."""
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Authorization")
    return response


def _caller() -> api_tokens.Caller:
    return g.api_caller  # type: ignore[no-any-return]


def _actor() -> Actor:
    return _caller().actor


def _found(value: T | None) -> T:
    if value is None:
        _not_found()
    return value


def _package(package_id: int) -> Package:
    """A package the caller sees, else 404 (foreign and unknown alike)."""
    try:
        return get_scoped(Package, _id(package_id), _actor())
    except NotFound:
        _not_found()


# --- query parameters ---------------------------------------------------------------------------


class Query:
    """The request's query parameters read within their bounds; every bad one, and every
    one the address does not take (a typo would otherwise be silently ignored), is listed
    in the 400 problem's ``errors``, so a script can fix them all at once."""

    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []
        self.known: set[str] = set()

    def _bad(self, name: str, detail: str) -> None:
        self.errors.append({"parameter": name, "detail": detail})

    def _raw(self, name: str) -> str | None:
        self.known.add(name)
        return request.args.get(name)

    def integer(self, name: str, default: int | None, low: int, high: int) -> int | None:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            self._bad(
                name,
                _("A whole number from %(low)d to %(high)d.", low=low, high=high),
            )
            return default
        return value

    def choice(self, name: str, choices: Sequence[str]) -> str | None:
        raw = self._raw(name)
        if raw is None:
            return None
        if raw not in choices:
            self._bad(name, _("One of: %(choices)s.", choices=", ".join(choices)))
            return None
        return raw

    def moment(self, name: str) -> datetime | None:
        raw = self._raw(name)
        if raw is None:
            return None
        try:
            value = datetime.fromisoformat(raw.strip())
            if value.tzinfo is None:
                raise ValueError(raw)
            return value.astimezone(UTC)
        except (ValueError, OverflowError):
            self._bad(name, _("A date and time in RFC 3339, such as 2026-01-31T12:00:00Z."))
            return None

    def paging(self) -> tuple[int, int]:
        page = self.integer("page", 1, 1, MAX_PAGE)
        per_page = self.integer("per_page", PER_PAGE, 1, MAX_PER_PAGE)
        return int(page or 1), int(per_page or PER_PAGE)

    def check(self) -> None:
        for name in request.args:
            if name not in self.known:
                self._bad(name, _("This address takes no such parameter."))
        if self.errors:
            _refuse(400, _("Some query parameters are not valid."), errors=self.errors)


def _listing(found: api.Page, page: int, per_page: int) -> Response:
    """A page of a list, with RFC 8288 links to the first, previous, next and last pages."""
    response = jsonify(
        {"items": found.items, "page": page, "per_page": per_page, "total": found.total}
    )
    last = max(1, math.ceil(found.total / per_page))
    kept = {k: v for k, v in request.args.items() if k != "page"}

    def link(number: int, rel: str) -> str:
        target = url_for(request.endpoint or "", **(request.view_args or {}), **kept, page=number)
        return f'<{target}>; rel="{rel}"'

    links = [link(1, "first")]
    if page > 1:
        links.append(link(min(page - 1, last), "prev"))
    if page < last:
        links.append(link(page + 1, "next"))
    links.append(link(last, "last"))
    response.headers["Link"] = ", ".join(links)
    return response


# --- the endpoints ------------------------------------------------------------------------------


@bp.get("/openapi.json")
def openapi() -> Response:
    """The API's own description; public, so tools can read it before anyone has a token."""
    from panel.web.openapi import document

    return jsonify(document())


@bp.get("/me")
def me() -> Response:
    Query().check()
    caller = _caller()
    return jsonify(api.me(caller.user, caller.token.party, caller.token))


@bp.get("/packages")
def package_list() -> Response:
    query = Query()
    status = query.choice("status", PACKAGE_STATUSES)
    page, per_page = query.paging()
    query.check()
    return _listing(api.packages(_actor(), status, page, per_page), page, per_page)


@bp.get("/packages/<int:package_id>")
def package_detail(package_id: int) -> Response:
    Query().check()
    return jsonify(_found(api.one_package(_actor(), _id(package_id))))


@bp.get("/packages/<int:package_id>/usage")
def package_usage(package_id: int) -> Response:
    package = _package(package_id)
    Query().check()
    latest: PackageUsage | None = usage.latest_for([package.id]).get(package.id)
    return jsonify(api.usage_detail(package, latest, _actor().kind))


@bp.get("/packages/<int:package_id>/usage/history")
def package_usage_history(package_id: int) -> Response:
    package = _package(package_id)
    query = Query()
    since, until = query.moment("since"), query.moment("until")
    page, per_page = query.paging()
    query.check()
    return _listing(api.usage_history(package, since, until, page, per_page), page, per_page)


@bp.get("/packages/<int:package_id>/agreement")
def package_agreement(package_id: int) -> Response:
    package = _package(package_id)
    Query().check()
    found = api.agreement_in_force(_actor(), package, _caller().user.language)
    if found is None:
        _refuse(404, _("This package has no agreement."))
    return jsonify(found)


@bp.get("/packages/<int:package_id>/mail-flow")
def package_mail_flow(package_id: int) -> Response:
    package = _package(package_id)
    query = Query()
    days = query.integer("days", MAIL_DAYS, 1, MAX_MAIL_DAYS)
    query.check()
    return jsonify(api.mail_flow(package, int(days or MAIL_DAYS), utcnow().date()))


@bp.get("/alerts")
def alert_list() -> Response:
    query = Query()
    status = query.choice("status", ALERT_STATUSES)
    level = query.choice("level", LEVELS)
    package_id = query.integer("package_id", None, 1, MAX_ID)
    page, per_page = query.paging()
    query.check()
    found = api.alerts(_actor(), status, package_id, level, page, per_page)
    return _listing(found, page, per_page)


@bp.get("/alerts/<int:alert_id>")
def alert_detail(alert_id: int) -> Response:
    Query().check()
    me = _actor()
    return jsonify(api.alert_detail(me, _found(api.one_alert(me, _id(alert_id)))))


@bp.post("/alerts/<int:alert_id>/acknowledge")
def alert_acknowledge(alert_id: int) -> Response:
    """Stop the alert's escalation for the caller's party (audited); twice changes nothing."""
    Query().check()
    me = _actor()
    alert = _found(api.one_alert(me, _id(alert_id)))
    try:
        alerts.acknowledge(alert, me.party_id, me.user_id, "api", utcnow(), me)
    except ServiceError as exc:
        on_package = me.party_id in alerts.roles_of(alert.package)
        _refuse(409 if on_package else 403, str(exc))
    return jsonify(api.alert_detail(me, alert))


@bp.get("/agreements")
def agreement_list() -> Response:
    query = Query()
    page, per_page = query.paging()
    query.check()
    return _listing(api.agreements_in_force(_actor(), page, per_page), page, per_page)
