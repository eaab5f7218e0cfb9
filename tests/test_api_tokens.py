"""API tokens: made in the panel and shown once, kept only as a hash, audited, revoked for
good, and worthless once their person leaves the party or is deactivated."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from panel.extensions import db
from panel.models import ApiToken, AuditEvent, Membership, User
from panel.models.base import utcnow
from panel.services import api_tokens
from panel.services.errors import ServiceError
from tests.conftest import csrf_token, https_client, login
from tests.world import LOGINS, PASSWORD, World, actor_of

SECRET = re.compile(r'<code class="secret" id="new-token">(onus_[A-Za-z0-9_-]+)</code>')


def test_a_token_is_kept_as_a_hash_and_speaks_for_its_person(world_app: Flask) -> None:
    with world_app.app_context():
        builder = actor_of("builder")
        token, raw = api_tokens.create(builder, "  monitoring ")
        stored = db.session.get_one(ApiToken, token.id)
        assert raw.startswith("onus_") and len(raw) > 40
        assert stored.name == "monitoring" and raw.startswith(stored.prefix)
        assert stored.token_hash == hashlib.sha256(raw.encode()).hexdigest()
        assert raw not in repr(db.session.execute(select(ApiToken.__table__)).all())

        now = utcnow()
        caller = api_tokens.authenticate(raw, now)
        assert caller is not None and caller.actor == builder and caller.token.id == token.id
        assert stored.last_used_at == now
        # a second call within the minute does not write again
        assert api_tokens.authenticate(raw, now + timedelta(seconds=30)) is not None
        assert stored.last_used_at == now
        later = now + timedelta(minutes=2)
        assert api_tokens.authenticate(raw, later) is not None
        assert stored.last_used_at == later

        for wrong in ("", raw[:-1], raw + "x", "Bearer " + raw, raw.replace("onus_", "xxxx_")):
            assert api_tokens.authenticate(wrong, now) is None


def test_making_and_revoking_is_audited_without_the_secret(world_app: Flask) -> None:
    with world_app.app_context():
        owner = actor_of("owner")
        token, raw = api_tokens.create(owner, "billing")
        api_tokens.revoke(owner, token, utcnow())
        api_tokens.revoke(owner, token, utcnow())  # twice: nothing more happens
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.subject_type == "ApiToken")
        ).all()
        assert [e.action for e in events] == ["create", "revoke"]
        assert all(e.actor_party_id == owner.party_id for e in events)
        for event in events:
            stored = repr((event.summary, event.before, event.after))
            assert raw not in stored and "token_hash" not in stored
        assert api_tokens.authenticate(raw, utcnow()) is None

        try:
            api_tokens.create(owner, "   ")
        except ServiceError as exc:
            assert "name" in str(exc)
        else:
            raise AssertionError("a token without a name was made")


def test_only_its_person_can_revoke_or_list_a_token(world_app: Flask) -> None:
    with world_app.app_context():
        token, _raw = api_tokens.create(actor_of("builder"), "mine")
        other = actor_of("other_builder")
        assert api_tokens.tokens_of(other) == []
        assert [t.id for t in api_tokens.tokens_of(actor_of("builder"))] == [token.id]
        try:
            api_tokens.revoke(other, token, utcnow())
        except ServiceError:
            pass
        else:
            raise AssertionError("another person revoked the token")
        assert db.session.get_one(ApiToken, token.id).revoked_at is None


def test_a_token_dies_with_its_membership_or_its_person(world_app: Flask) -> None:
    with world_app.app_context():
        _t1, left = api_tokens.create(actor_of("owner"), "one")
        _t2, deactivated = api_tokens.create(actor_of("builder"), "two")
        owner = db.session.scalars(select(User).where(User.email == LOGINS["owner"])).one()
        db.session.delete(db.session.scalars(select(Membership).filter_by(user_id=owner.id)).one())
        builder = db.session.scalars(select(User).where(User.email == LOGINS["builder"])).one()
        builder.active = False
        db.session.commit()
        assert api_tokens.authenticate(left, utcnow()) is None
        assert api_tokens.authenticate(deactivated, utcnow()) is None


def test_the_panel_shows_a_new_token_once_and_revokes_it(world_app: Flask, world: World) -> None:
    client = https_client(world_app)
    assert login(client, LOGINS["hoster"], PASSWORD).status_code == 302
    page = client.get("/account/tokens")
    assert page.status_code == 200 and "no tokens" in page.get_data(as_text=True)

    refused = client.post("/account/tokens", data={"name": "no csrf"})
    assert refused.status_code == 400

    made = client.post(
        "/account/tokens",
        data={"csrf_token": csrf_token(client, "/account/tokens"), "name": "prometheus"},
    )
    assert made.status_code == 201
    found = SECRET.search(made.get_data(as_text=True))
    assert found is not None
    raw = found.group(1)
    again = client.get("/account/tokens").get_data(as_text=True)
    assert "prometheus" in again and raw not in again and raw[:11] in again

    with world_app.app_context():
        token_id = db.session.scalars(select(ApiToken.id)).one()
        assert api_tokens.authenticate(raw, utcnow()) is not None

    # another hoster's person cannot see or revoke it
    other = https_client(world_app)
    assert login(other, LOGINS["other_hoster"], PASSWORD).status_code == 302
    missing = other.post(
        f"/account/tokens/{token_id}/revoke",
        data={"csrf_token": csrf_token(other, "/account/tokens")},
    )
    assert missing.status_code == 404

    revoked = client.post(
        f"/account/tokens/{token_id}/revoke",
        data={"csrf_token": csrf_token(client, "/account/tokens")},
    )
    assert revoked.status_code == 302
    with world_app.app_context():
        assert api_tokens.authenticate(raw, utcnow()) is None
    assert "revoked" in client.get("/account/tokens").get_data(as_text=True)
