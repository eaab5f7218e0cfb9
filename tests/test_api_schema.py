"""The API against its own OpenAPI document, with schemathesis: every operation, fuzzed
(valid and invalid requests) with a hoster's token, and called once with the world's real
ids so that full answers are checked too. Every answer must be no server error, have a
documented status, content type and headers, and match its schema.

The world has what each answer can show: alpha measured (with files), an open alert on
alpha's mailbox, mail counted for it, and beta's agreement.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from sqlalchemy import select

from panel.extensions import db
from panel.models import Alert, MailFlowHour, Package, User
from panel.models.base import utcnow
from panel.services import alerts, api_tokens, usage
from panel.services.scope import Actor
from tests.alerting import MIB, report
from tests.conftest import DatabaseStates, close_app, make_app
from tests.world import LOGINS, World

EXAMPLES = 25  # per operation and mode: enough to reach each parameter's bounds, quick


@pytest.fixture(scope="module")
def api_app(database: DatabaseStates) -> Iterator[Flask]:
    database.restore("world")
    app = make_app(database, ONUS_API_LIMIT="100000/minute")
    with app.app_context():
        w = World.load()
        package = db.session.get_one(Package, w.package)
        found = report(mailboxes={"info@alpha.example": 55 * MIB}, parts={"core": 20 * MIB})
        found["sites"]["public_html"]["largest"] = [{"path": "big.zip", "bytes": 9 * MIB}]
        found["sites"]["public_html"]["stale_backups"] = [{"path": "big.zip", "bytes": 9 * MIB}]
        found["databases"] = {"wp_alpha": {"bytes": None, "error": "no access"}}
        now = utcnow()
        usage.record_measurement(package, found, now, 0.1)
        alerts.evaluate([w.package], now)
        db.session.add(
            MailFlowHour(
                package_id=w.package,
                address="info@alpha.example",
                hour=datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
                - timedelta(days=1),
                delivered=3,
                rejected=1,
                over_quota=1,
            )
        )
        db.session.commit()
        db.session.remove()
    yield app
    close_app(app)


@pytest.fixture(scope="module")
def ids(api_app: Flask) -> dict[str, int]:
    with api_app.app_context():
        w = World.load()
        alert_id = db.session.scalars(select(Alert.id)).one()
        db.session.remove()
    return {"package_id": w.package, "alert_id": alert_id, "beta": w.other_package}


@pytest.fixture(scope="module")
def auth(api_app: Flask) -> dict[str, str]:
    with api_app.app_context():
        user = db.session.scalars(select(User).where(User.email == LOGINS["hoster"])).one()
        actor = Actor.for_membership(user, user.memberships[0].party)
        raw = api_tokens.create(actor, "schemathesis")[1]
        db.session.remove()
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture(scope="module")
def schema(api_app: Flask) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", api_app)


def operations(schema: Any) -> list[Any]:
    """Every operation of the document but the document itself, which schemathesis leaves
    out as the place it read the schema from."""
    found = [result.ok() for result in schema.get_all_operations()]
    described = {
        f"{method.upper()} {path}"
        for path, methods in schema.raw_schema["paths"].items()
        for method in methods
    }
    assert {o.label for o in found} == described - {"GET /api/v1/openapi.json"}
    return found


def test_every_operation_with_the_worlds_ids_matches_the_document(
    schema: Any, auth: dict[str, str], ids: dict[str, int]
) -> None:
    statuses = {}
    for operation in operations(schema):
        wanted = {p.name for p in operation.path_parameters}
        values = {"package_id": ids["package_id"], "alert_id": ids["alert_id"]}
        if operation.path.endswith("/agreement"):
            values["package_id"] = ids["beta"]
        case = operation.Case(path_parameters={k: v for k, v in values.items() if k in wanted})
        response = case.call_and_validate(headers=auth)
        statuses[operation.label] = response.status_code
    assert set(statuses.values()) == {200}, statuses


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzzed_requests_get_documented_answers(
    schema: Any, auth: dict[str, str], mode: GenerationMode
) -> None:
    seen: set[int] = set()
    for operation in operations(schema):

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            seen.add(case.call_and_validate(headers=auth).status_code)

        run()
    # really run: lists answered, made-up ids missing; invalid requests refused
    assert {200, 404} <= seen if mode == GenerationMode.POSITIVE else 400 in seen, seen


def test_a_document_that_lies_is_caught(api_app: Flask, schema: Any, auth: dict[str, str]) -> None:
    """The checks are real: a document claiming names are numbers fails on the list."""
    lying = copy.deepcopy(schema.raw_schema)
    lying["components"]["schemas"]["Package"]["properties"]["name"] = {"type": "integer"}
    broken = schemathesis.openapi.from_dict(lying)
    broken.app = api_app
    case = broken["/api/v1/packages"]["GET"].Case()
    with pytest.raises(schemathesis.errors.FailureGroup) as caught:
        case.call_and_validate(headers=auth)
    (failure,) = caught.value.exceptions
    assert failure.title == "Response violates schema"
    assert '"alpha" is not of type "integer"' in str(failure)
