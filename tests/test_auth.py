"""Logging in, the session's protection, invitations and switching party."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask
from sqlalchemy import select

from panel.extensions import db
from panel.models import Invitation, Membership, Party, User
from panel.services import invitations
from panel.services.scope import Actor
from tests.conftest import csrf_token, https_client, login, make_app
from tests.world import LOGINS, PASSWORD, World


def test_each_role_lands_on_its_own_home(world_app: Flask) -> None:
    homes = {"hoster": "/hoster/", "builder": "/builder/", "owner": "/client/"}
    for role, home in homes.items():
        client = https_client(world_app)
        response = login(client, LOGINS[role], PASSWORD)
        assert response.status_code == 302 and response.headers["Location"] == home
        assert client.get(home).status_code == 200


def test_wrong_password_and_unknown_address_get_the_same_answer(world_app: Flask) -> None:
    client = https_client(world_app)
    for email, password in ((LOGINS["hoster"], "wrong password!"), ("nobody@x.example", PASSWORD)):
        response = login(client, email, password)
        assert response.status_code == 400
        assert "Wrong email address or password." in response.get_data(as_text=True)
    assert client.get("/hoster/").status_code == 302


def test_inactive_person_cannot_log_in(world_app: Flask) -> None:
    with world_app.app_context():
        user = db.session.scalars(select(User).where(User.email == LOGINS["builder"])).one()
        user.active = False
        db.session.commit()
    assert login(https_client(world_app), LOGINS["builder"], PASSWORD).status_code == 400


def test_passwords_are_stored_as_argon2_hashes(world_app: Flask) -> None:
    with world_app.app_context():
        hashes = db.session.scalars(select(User.password_hash)).all()
    assert hashes and all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)


def test_login_is_rate_limited(database: object) -> None:
    """On the configured limiter storage: memory, or Redis in the production-stack run."""
    from panel.config import load_settings

    app = make_app(
        database,  # type: ignore[arg-type]
        ONUS_LOGIN_LIMIT="3 per minute",
        RATELIMIT_STORAGE_URI=load_settings()["RATELIMIT_STORAGE_URI"],
        RATELIMIT_KEY_PREFIX=f"onus-test-{uuid.uuid4().hex}",
    )
    client = https_client(app)
    statuses = [login(client, "nobody@x.example", "wrong password").status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
    blocked = login(client, LOGINS["hoster"], PASSWORD)
    assert blocked.status_code == 429 and "Too many attempts" in blocked.get_data(as_text=True)


def test_post_without_csrf_token_is_refused(world_app: Flask) -> None:
    client = https_client(world_app)
    response = client.post("/login", data={"email": LOGINS["hoster"], "password": PASSWORD})
    assert response.status_code == 400
    assert "Form expired" in response.get_data(as_text=True)


def test_session_cookie_is_secure_httponly_and_samesite(world_app: Flask) -> None:
    client = https_client(world_app)
    response = login(client, LOGINS["hoster"], PASSWORD)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_security_headers(world_app: Flask) -> None:
    headers = https_client(world_app).get("/login").headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["Cache-Control"] == "no-store"


def _invite(app: Flask, world: World, email: str) -> str:
    with app.app_context():
        hoster = db.session.scalars(select(User).where(User.email == LOGINS["hoster"])).one()
        actor = Actor.for_membership(hoster, hoster.memberships[0].party)
        party = db.session.get(Party, world.owner)
        assert party is not None
        _invitation, token = invitations.invite(
            actor, party, email, "Newcomer", app.config["SECRET_KEY"]
        )
        return token


def test_invitation_sets_password_once_and_joins_the_party(world_app: Flask, world: World) -> None:
    token = _invite(world_app, world, "Newcomer@Elsewhere.example")
    client = https_client(world_app)
    page = client.get(f"/invite/{token}")
    assert page.status_code == 200 and "newcomer@elsewhere.example" in page.get_data(as_text=True)

    def accept(password: str) -> Any:
        token_field = csrf_token(client, f"/invite/{token}")
        return client.post(
            f"/invite/{token}",
            data={
                "csrf_token": token_field,
                "name": "Newcomer",
                "password": password,
                "confirm": password,
            },
        )

    assert accept("short").status_code == 400
    response = accept("a long enough password")
    assert response.status_code == 302
    assert client.get("/client/").status_code == 200
    with world_app.app_context():
        user = db.session.scalars(
            select(User).where(User.email == "newcomer@elsewhere.example")
        ).one()
        assert [m.party_id for m in user.memberships] == [world.owner]
        assert (
            db.session.scalars(
                select(Invitation).where(Invitation.email == "newcomer@elsewhere.example")
            )
            .one()
            .accepted_at
            is not None
        )
    again = https_client(world_app).get(f"/invite/{token}")
    assert again.status_code == 410 and "used already" in again.get_data(as_text=True)


def test_expired_or_forged_invitation_is_refused(
    database: object, world: World, world_app: Flask
) -> None:
    token = _invite(world_app, world, "late@elsewhere.example")
    forged = https_client(world_app).get(f"/invite/{token[:-2]}xx")
    assert forged.status_code == 410 and "not valid" in forged.get_data(as_text=True)
    expired_app = make_app(database, ONUS_INVITE_MAX_AGE=-1)  # type: ignore[arg-type]
    expired = https_client(expired_app).get(f"/invite/{token}")
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)


def test_person_in_two_parties_switches_between_them(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        user = db.session.scalars(select(User).where(User.email == LOGINS["builder"])).one()
        db.session.add(Membership(user_id=user.id, party_id=world.other_owner))
        db.session.commit()
    client = https_client(world_app)
    login(client, LOGINS["builder"], PASSWORD)
    assert client.get("/builder/").status_code == 200
    assert client.get("/client/").status_code == 403
    token = csrf_token(client, "/builder/")
    switched = client.post("/switch", data={"csrf_token": token, "party_id": world.other_owner})
    assert switched.headers["Location"] == "/"
    assert "beta.example" in client.get("/client/").get_data(as_text=True)
    assert client.get("/builder/").status_code == 403
    foreign = client.post("/switch", data={"csrf_token": token, "party_id": world.hoster})
    assert foreign.status_code == 404
