"""Bad input gets a clear message and changes nothing; foreign ids answer 404."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import csrf_token, https_client, login, row_counts
from tests.world import LOGINS, PASSWORD, PLAN_FORM, World


@pytest.fixture
def hoster(world_app: Flask) -> FlaskClient:
    client = https_client(world_app)
    assert login(client, LOGINS["hoster"], PASSWORD).status_code == 302
    return client


def refused(
    app: Flask, client: FlaskClient, page: str, action: str, data: dict[str, Any], message: str
) -> None:
    """POST ``data`` from ``page`` to ``action``: 400, ``message`` shown, no row changed."""
    before = row_counts(app)
    response = client.post(action, data={"csrf_token": csrf_token(client, page), **data})
    text = response.get_data(as_text=True)
    assert response.status_code == 400, text[:500]
    assert message in text, f"{message!r} not shown"
    assert row_counts(app) == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"storage_quota_bytes": "lots"}, "not a size"),
        ({"storage_quota_bytes": "99999999999 TiB"}, "size too large"),
        ({"name": "x" * 101}, "Field cannot be longer than 100 characters."),
        ({"name": ""}, "This field is required."),
        ({"mailbox_count": "many"}, "Not a valid integer value."),
        ({"notice_percent": "95"}, "Thresholds must rise"),
        ({"default_mailbox_quota_bytes": "1 GiB"}, "cannot exceed the plan&#39;s storage"),
    ],
)
def test_plan_form(
    world_app: Flask, hoster: FlaskClient, changes: dict[str, str], message: str
) -> None:
    refused(
        world_app,
        hoster,
        "/hoster/plans/new",
        "/hoster/plans/new",
        {**PLAN_FORM, **changes},
        message,
    )


def test_duplicate_plan_name_is_explained(world_app: Flask, hoster: FlaskClient) -> None:
    refused(
        world_app,
        hoster,
        "/hoster/plans/new",
        "/hoster/plans/new",
        {**PLAN_FORM, "name": "Plan one"},
        "A plan named Plan one exists already.",
    )


def test_node_templates_are_checked(world_app: Flask, hoster: FlaskClient) -> None:
    base = {
        "name": "n2",
        "layout": "custom",
        "home_template": "/srv/{package}",
        "mail_template": "{home}/mail/{domain}/{local}",
        "docroot_template": "{home}/www",
    }
    for changes, message in (
        ({"mail_template": "{home}/mail/{bogus}/{domain}/{local}"}, "Unknown placeholder"),
        ({"home_template": "/srv/all"}, "must contain {package}"),
        ({"docroot_template": "www"}, "must be an absolute path"),
    ):
        refused(
            world_app,
            hoster,
            "/hoster/nodes/new",
            "/hoster/nodes/new",
            {**base, **changes},
            message,
        )


def test_package_forms(world_app: Flask, hoster: FlaskClient, world: World) -> None:
    page = f"/hoster/packages/{world.package}"
    new = {
        "name": "delta",
        "plan_id": world.plan,
        "node_id": world.node,
        "status": "active",
        "owner_id": world.owner,
        "builder_id": "0",
        "domains": "delta.example",
    }
    refused(
        world_app,
        hoster,
        "/hoster/packages/new",
        "/hoster/packages/new",
        {**new, "name": "Bad Name!"},
        "An account name is 2–32 lowercase letters",
    )
    refused(
        world_app,
        hoster,
        "/hoster/packages/new",
        "/hoster/packages/new",
        {**new, "domains": "delta.example not_a_domain"},
        "is not a domain name",
    )
    refused(
        world_app,
        hoster,
        "/hoster/packages/new",
        "/hoster/packages/new",
        {**new, "domains": "beta.example"},
        "in use already",
    )
    refused(
        world_app,
        hoster,
        "/hoster/packages/new",
        "/hoster/packages/new",
        {**new, "plan_id": world.foreign_plan},
        "Not a valid choice",
    )
    refused(
        world_app,
        hoster,
        page,
        f"{page}/mailboxes",
        {"mailbox-local": "two words", "mailbox-domain": "alpha.example"},
        "is not a usable mailbox name",
    )
    refused(
        world_app,
        hoster,
        page,
        f"{page}/mailboxes",
        {"mailbox-local": "info", "mailbox-domain": "alpha.example"},
        "exists already",
    )
    refused(
        world_app,
        hoster,
        page,
        f"{page}/domains",
        {"domain-name": "-bad-.example"},
        "is not a domain name",
    )
    refused(
        world_app,
        hoster,
        page,
        f"{page}/sites",
        {"site-domain": "alpha.example", "site-docroot": "../../etc"},
        "A document root is a folder inside the package",
    )
    refused(
        world_app,
        hoster,
        page,
        f"{page}/databases",
        {"database-name": "drop table;", "database-engine": "mysql"},
        "A database name is 1–64 letters",
    )


def test_contact_values_are_checked(world_app: Flask, hoster: FlaskClient, world: World) -> None:
    page = f"/hoster/parties/{world.owner}"
    refused(
        world_app,
        hoster,
        page,
        f"{page}/contacts",
        {"contact-kind": "email", "contact-value": "not an address"},
        "Not a usable email address",
    )
    refused(
        world_app,
        hoster,
        page,
        f"{page}/contacts",
        {"contact-kind": "webhook", "contact-value": "ftp://files.example/x"},
        "A webhook needs a full http:// or https:// URL.",
    )


def test_removing_a_domain_in_use_is_refused_with_a_reason(
    world_app: Flask, hoster: FlaskClient, world: World
) -> None:
    before = row_counts(world_app)
    token = csrf_token(hoster, f"/hoster/packages/{world.package}")
    response = hoster.post(
        f"/hoster/domains/{world.domain}/delete", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Mailboxes at alpha.example exist; remove them first." in response.get_data(as_text=True)
    assert row_counts(world_app) == before


def test_oversized_request_is_refused(world_app: Flask, hoster: FlaskClient) -> None:
    before = row_counts(world_app)
    response = hoster.post("/hoster/plans/new", data={**PLAN_FORM, "name": "x" * (3 * 2**20)})
    assert response.status_code == 413
    assert row_counts(world_app) == before


FOREIGN_PAGES = [
    "/hoster/packages/{foreign_package}",
    "/hoster/packages/{foreign_package}/edit",
    "/hoster/plans/{foreign_plan}/edit",
    "/hoster/nodes/{foreign_node}/edit",
    "/hoster/parties/{foreign_owner}",
    "/hoster/parties/{foreign_owner}/edit",
    "/hoster/mailboxes/{foreign_mailbox}/edit",
    "/hoster/packages/999999",
    "/builder/packages/{foreign_package}",
    "/client/packages/{foreign_package}",
]
FOREIGN_POSTS = [
    "/hoster/plans/{foreign_plan}/delete",
    "/hoster/nodes/{foreign_node}/delete",
    "/hoster/domains/{foreign_domain}/delete",
    "/hoster/mailboxes/{foreign_mailbox}/delete",
    "/hoster/sites/{foreign_site}/delete",
    "/hoster/databases/{foreign_database}/delete",
    "/hoster/packages/{foreign_package}/domains",
    "/hoster/parties/{foreign_owner}/invite",
]


def test_foreign_ids_answer_404_and_show_nothing(
    world_app: Flask, hoster: FlaskClient, world: World
) -> None:
    token = csrf_token(hoster, "/hoster/")
    before = row_counts(world_app)
    for path in FOREIGN_PAGES:
        response = hoster.get(path.format(**world.ids))
        assert response.status_code in (404, 403), path
        assert "gamma" not in response.get_data(as_text=True)
    for path in FOREIGN_POSTS:
        response = hoster.post(
            path.format(**world.ids), data={"csrf_token": token, "domain-name": "x.example"}
        )
        assert response.status_code == 404, path
    assert row_counts(world_app) == before
