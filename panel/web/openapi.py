"""The API's OpenAPI 3.1 document, built in code next to the views it describes.

The test suite checks every operation against this document (schemathesis), so it cannot
drift from what the API answers. It is written for developers and stays in English.
"""

from __future__ import annotations

from typing import Any

from panel.policy.agreement import ROLES
from panel.services import usage
from panel.web import api

JSON, PROBLEM = "application/json", api.PROBLEM_TYPE
Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict[str, Schema], optional: tuple[str, ...] = ()) -> Schema:
    """An object with these members, all required but ``optional``."""
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
    }


INTEGER: Schema = {"type": "integer"}
BYTES: Schema = {"type": "integer", "description": "bytes"}
NUMBER: Schema = {"type": "number"}
STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time", "description": "RFC 3339, UTC"}
FREE_OBJECT: Schema = {"type": "object"}
COUNTS = {
    "delivered": INTEGER,
    "deferred": INTEGER,
    "refused": INTEGER,
    "refused_mailbox_full": INTEGER,
}
NAMED = _object({"id": INTEGER, "name": STRING})


def _schemas() -> dict[str, Schema]:
    usage_summary = {
        "measured_at": _nullable(TIME),
        "used_bytes": BYTES,
        "quota_bytes": BYTES,
        "free_bytes": BYTES,
        "percent": NUMBER,
    }
    alert = {
        "id": INTEGER,
        "package": _ref("Named"),
        "subject": STRING,
        "about": STRING,
        "title": STRING,
        "category": STRING,
        "level": {"type": "string", "enum": list(api.LEVELS)},
        "reason": STRING,
        "status": {"type": "string", "enum": list(api.ALERT_STATUSES)},
        "used_bytes": BYTES,
        "quota_bytes": BYTES,
        "percent": NUMBER,
        "hours_to_full": _nullable(NUMBER),
        "opened_at": TIME,
        "measured_at": TIME,
        "acknowledged_at": _nullable(TIME),
        "acknowledged_by": _nullable(_ref("Named")),
        "acknowledged_via": _nullable(STRING),
        "resolved_at": _nullable(TIME),
        "resolution": _nullable(STRING),
    }
    agreement_party = _object({"id": INTEGER, "name": STRING, "acknowledged_at": _nullable(TIME)})
    agreement = {
        "id": INTEGER,
        "package": _ref("Named"),
        "version": INTEGER,
        "reason": STRING,
        "created_at": TIME,
        "state": {"type": "string", "enum": ["waiting", "agreed"]},
        "parties": {
            "type": "object",
            "properties": dict.fromkeys(ROLES, agreement_party),
            "additionalProperties": False,
        },
        "matrix": FREE_OBJECT,
        "levels": FREE_OBJECT,
        "deadlines_hours": FREE_OBJECT,
        "grace": FREE_OBJECT,
        "limits": FREE_OBJECT,
    }
    file = _object({"path": STRING, "bytes": BYTES})
    problem = _object(
        {
            "type": STRING,
            "title": STRING,
            "status": INTEGER,
            "detail": STRING,
            "instance": STRING,
        }
    )
    return {
        "Problem": problem,
        "ValidationProblem": {
            "allOf": [
                _ref("Problem"),
                _object(
                    {
                        "errors": {
                            "type": "array",
                            "items": _object({"parameter": STRING, "detail": STRING}),
                        }
                    }
                ),
            ]
        },
        "Named": NAMED,
        "Me": _object(
            {
                "user": _object(
                    {
                        "id": INTEGER,
                        "name": STRING,
                        "email": STRING,
                        "language": STRING,
                        "timezone": STRING,
                    }
                ),
                "party": _object({"id": INTEGER, "name": STRING, "kind": STRING}),
                "token": _object(
                    {
                        "id": INTEGER,
                        "name": STRING,
                        "prefix": STRING,
                        "created_at": TIME,
                        "last_used_at": _nullable(TIME),
                    }
                ),
            }
        ),
        "Package": _object(
            {
                "id": INTEGER,
                "name": STRING,
                "status": {"type": "string", "enum": list(api.PACKAGE_STATUSES)},
                "created_at": TIME,
                "plan": _object(
                    {
                        "id": INTEGER,
                        "name": STRING,
                        "quota_bytes": BYTES,
                        "mailbox_count": INTEGER,
                        "default_mailbox_quota_bytes": BYTES,
                    }
                ),
                "node": _ref("Named"),
                "domains": {"type": "array", "items": STRING},
                "parties": _object(dict.fromkeys(ROLES, _nullable(_ref("Named")))),
                "usage": _object(usage_summary),
                "agreement": _object(
                    {
                        "state": {"type": "string", "enum": ["none", "waiting", "agreed"]},
                        "version": _nullable(INTEGER),
                    }
                ),
            }
        ),
        "Usage": _object(
            {
                "package_id": INTEGER,
                **usage_summary,
                "split": _nullable(
                    _object(dict.fromkeys(("mail", "site", "databases", "other", "free"), BYTES))
                ),
                "skipped": INTEGER,
                "mailboxes": {
                    "type": "array",
                    "items": _object(
                        {
                            "address": STRING,
                            "bytes": BYTES,
                            "messages": INTEGER,
                            "quota_bytes": BYTES,
                            "percent": NUMBER,
                            "missing": BOOLEAN,
                        }
                    ),
                },
                "sites": {
                    "type": "array",
                    "items": _object(
                        {
                            "docroot": STRING,
                            "kind": STRING,
                            "version": _nullable(STRING),
                            "bytes": BYTES,
                            "files": INTEGER,
                            "missing": BOOLEAN,
                            "parts": {
                                "type": "array",
                                "items": _object(
                                    {"part": STRING, "bytes": BYTES, "files": INTEGER}
                                ),
                            },
                            "largest_files": {
                                "type": "array",
                                "items": file,
                                "description": "not shown to owners",
                            },
                            "stale_backups": {
                                "type": "array",
                                "items": file,
                                "description": "not shown to owners",
                            },
                        },
                        optional=("largest_files", "stale_backups"),
                    ),
                },
                "databases": {
                    "type": "array",
                    "items": _object({"name": STRING, "bytes": _nullable(BYTES)}),
                },
            }
        ),
        "UsageSample": _object(
            {
                "taken_at": TIME,
                "resolution": {"type": "string", "enum": ["raw", "day", "week"]},
                "total_bytes": BYTES,
                "parts": {
                    "type": "object",
                    "properties": dict.fromkeys(usage.HISTORY_PARTS, BYTES),
                    "additionalProperties": False,
                },
            }
        ),
        "Alert": _object(alert),
        "AlertDetail": _object(
            {
                **alert,
                "events": {
                    "type": "array",
                    "items": _object(
                        {
                            "kind": STRING,
                            "at": TIME,
                            "step": INTEGER,
                            "party": _nullable(STRING),
                            "detail": STRING,
                        }
                    ),
                },
            }
        ),
        "Agreement": _object(agreement),
        "AgreementDetail": _object(
            {**agreement, "language": {"type": "string", "enum": ["en", "nl"]}, "terms": STRING}
        ),
        "MailFlow": _object(
            {
                "package_id": INTEGER,
                "days": INTEGER,
                "start": TIME,
                "end": TIME,
                "totals": _object(COUNTS),
                "daily": {
                    "type": "array",
                    "items": _object({"day": {"type": "string", "format": "date"}, **COUNTS}),
                },
                "mailboxes": {"type": "array", "items": _object({"address": STRING, **COUNTS})},
            }
        ),
    }


def _page_of(name: str) -> Schema:
    return _object(
        {
            "items": {"type": "array", "items": _ref(name)},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": api.MAX_PER_PAGE},
            "total": {"type": "integer", "minimum": 0},
        }
    )


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path_id(name: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": api.MAX_ID},
    }


PAGING = [
    _query(
        "page",
        {"type": "integer", "minimum": 1, "maximum": api.MAX_PAGE, "default": 1},
        "the page, from 1",
    ),
    _query(
        "per_page",
        {"type": "integer", "minimum": 1, "maximum": api.MAX_PER_PAGE, "default": api.PER_PAGE},
        "rows per page",
    ),
]
LINK_HEADER = {
    "Link": {
        "description": "RFC 8288 links to the first, prev, next and last pages",
        "schema": STRING,
    }
}


def _problem(description: str, schema: str = "Problem") -> Schema:
    return {"description": description, "content": {PROBLEM: {"schema": _ref(schema)}}}


def _operation(
    summary: str,
    schema: Schema,
    parameters: list[Schema] | None = None,
    *,
    paged: bool = False,
    missing: bool = False,
    public: bool = False,
    extra: dict[str, Schema] | None = None,
) -> Schema:
    """One operation: its answer, and the problems it may answer instead."""
    ok: Schema = {"description": "OK", "content": {JSON: {"schema": schema}}}
    if paged:
        ok["headers"] = LINK_HEADER
    responses: dict[str, Schema] = {"200": ok}
    if not public:
        responses["400"] = _problem(
            "Bad or unknown query parameters, each named", "ValidationProblem"
        )
        responses["401"] = {
            **_problem("No valid token"),
            "headers": {"WWW-Authenticate": {"schema": STRING}},
        }
    if missing:
        responses["404"] = _problem("Unknown, or not visible to the token's party")
    responses.update(extra or {})
    responses["429"] = _problem("Too many requests with this token")
    responses["default"] = _problem("Any other error")
    found: Schema = {"summary": summary, "parameters": parameters or [], "responses": responses}
    if public:
        found["security"] = []
    return found


def document() -> Schema:
    """The whole document; paths are absolute, so it needs no ``servers``."""
    base = "/api/v1"
    package_id = _path_id("package_id")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Onus API",
            "version": "1",
            "description": (
                "Read packages, usage, alerts, agreements and mail flow, and acknowledge "
                "alerts, as the person who made the token sees them in its party. Make a "
                "token in the panel under Account → API tokens and send it as "
                "`Authorization: Bearer onus_...`. Lists are paginated (`page`, `per_page`, "
                "`Link` header); errors are RFC 9457 problem documents; times are RFC 3339 "
                "in UTC and sizes are bytes."
            ),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
        "security": [{"bearer": []}],
        "paths": {
            f"{base}/openapi.json": {
                "get": _operation("This document", FREE_OBJECT, public=True),
            },
            f"{base}/me": {"get": _operation("Who the token speaks for", _ref("Me"))},
            f"{base}/packages": {
                "get": _operation(
                    "The packages the token's party sees",
                    _page_of("Package"),
                    [
                        _query(
                            "status",
                            {"type": "string", "enum": list(api.PACKAGE_STATUSES)},
                            "only packages with this status",
                        ),
                        *PAGING,
                    ],
                    paged=True,
                )
            },
            f"{base}/packages/{{package_id}}": {
                "get": _operation("One package", _ref("Package"), [package_id], missing=True)
            },
            f"{base}/packages/{{package_id}}/usage": {
                "get": _operation(
                    "The package's latest measurement",
                    _ref("Usage"),
                    [package_id],
                    missing=True,
                )
            },
            f"{base}/packages/{{package_id}}/usage/history": {
                "get": _operation(
                    "The package's measured points, oldest first",
                    _page_of("UsageSample"),
                    [
                        package_id,
                        _query("since", TIME, "points taken at or after this time"),
                        _query("until", TIME, "points taken at or before this time"),
                        *PAGING,
                    ],
                    paged=True,
                    missing=True,
                )
            },
            f"{base}/packages/{{package_id}}/agreement": {
                "get": _operation(
                    "The package's agreement in force, in the token person's language",
                    _ref("AgreementDetail"),
                    [package_id],
                    missing=True,
                )
            },
            f"{base}/packages/{{package_id}}/mail-flow": {
                "get": _operation(
                    "Messages per day and per mailbox",
                    _ref("MailFlow"),
                    [
                        package_id,
                        _query(
                            "days",
                            {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": api.MAX_MAIL_DAYS,
                                "default": api.MAIL_DAYS,
                            },
                            "how many days back, today (UTC) included",
                        ),
                    ],
                    missing=True,
                )
            },
            f"{base}/alerts": {
                "get": _operation(
                    "The alerts the token's party sees, newest first",
                    _page_of("Alert"),
                    [
                        _query(
                            "status",
                            {"type": "string", "enum": list(api.ALERT_STATUSES)},
                            "only alerts with this status",
                        ),
                        _query("package_id", _path_id("")["schema"], "only this package's"),
                        _query(
                            "level",
                            {"type": "string", "enum": list(api.LEVELS)},
                            "only alerts of this level",
                        ),
                        *PAGING,
                    ],
                    paged=True,
                )
            },
            f"{base}/alerts/{{alert_id}}": {
                "get": _operation(
                    "One alert with its timeline",
                    _ref("AlertDetail"),
                    [_path_id("alert_id")],
                    missing=True,
                )
            },
            f"{base}/alerts/{{alert_id}}/acknowledge": {
                "post": _operation(
                    "Acknowledge the alert for the token's party: escalation stops",
                    _ref("AlertDetail"),
                    [_path_id("alert_id")],
                    missing=True,
                    extra={
                        "403": _problem("The token's party is not on the alert's package"),
                        "409": _problem("The alert is resolved already"),
                    },
                )
            },
            f"{base}/agreements": {
                "get": _operation(
                    "The agreements in force on the packages the token's party sees",
                    _page_of("Agreement"),
                    PAGING,
                    paged=True,
                )
            },
        },
    }
