"""The scoping function and the audit log, below the web layer."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from panel.extensions import db
from panel.models import (
    Assignment,
    AuditEvent,
    Contact,
    Mailbox,
    Package,
    Party,
    PartyKind,
    Plan,
    Role,
)
from panel.models.audit import AuditImmutableError
from panel.services import packages, parties
from panel.services.errors import NotFound, ServiceError
from panel.services.scope import Actor, get_scoped, scoped
from tests.world import World, actor_of


def names(model: type, actor: Actor, attribute: str = "name") -> set[str]:
    return {getattr(o, attribute) for o in db.session.scalars(scoped(model, actor))}


def test_each_party_sees_only_its_packages(world_app: Flask) -> None:
    with world_app.app_context():
        assert names(Package, actor_of("hoster")) == {"alpha", "beta"}
        assert names(Package, actor_of("other_hoster")) == {"gamma"}
        assert names(Package, actor_of("builder")) == {"alpha"}
        assert names(Package, actor_of("other_builder")) == {"beta"}
        assert names(Package, actor_of("owner")) == {"alpha"}
        assert names(Package, actor_of("other_owner")) == {"beta"}
        assert names(Mailbox, actor_of("builder"), "address") == {"info@alpha.example"}


def test_hoster_only_data_is_invisible_to_builders_and_owners(world_app: Flask) -> None:
    with world_app.app_context():
        for role in ("builder", "owner"):
            assert names(Plan, actor_of(role)) == set()
            assert list(db.session.scalars(scoped(AuditEvent, actor_of(role)))) == []
        assert names(Plan, actor_of("other_hoster")) == {"Plan two"}


def test_contacts_are_private_to_their_party_and_its_hoster(world_app: Flask) -> None:
    with world_app.app_context():
        assert names(Contact, actor_of("owner"), "value") == {"owner@elsewhere.example"}
        assert "owner@elsewhere.example" in names(Contact, actor_of("hoster"), "value")
        assert names(Contact, actor_of("other_hoster"), "value") == set()


def test_builder_sees_names_of_co_parties_only(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        visible = names(Party, actor_of("builder"))
        assert visible == {"Builder One", "Owner Alpha", "Hoster one"}


def test_foreign_ids_are_not_found(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        with pytest.raises(NotFound):
            get_scoped(Package, world.foreign_package, actor_of("hoster"))
        with pytest.raises(NotFound):
            get_scoped(Package, "not-a-number", actor_of("hoster"))
        assert get_scoped(Package, world.package, actor_of("owner")).name == "alpha"


def test_reassigning_a_builder_is_audited_with_before_and_after(
    world_app: Flask, world: World
) -> None:
    with world_app.app_context():
        hoster = actor_of("hoster")
        package = db.session.get(Package, world.package)
        builder2 = db.session.get(Party, world.other_builder)
        packages.assign(hoster, package, Role.BUILDER, builder2)
        event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert event.subject_type == "Assignment" and event.action == "update"
        assert event.before == {"party_id": world.builder}
        assert event.after == {"party_id": world.other_builder}
        assert event.actor_user_id == hoster.user_id
        assert names(Package, actor_of("other_builder")) == {"alpha", "beta"}
        assert names(Package, actor_of("builder")) == set()
        packages.assign(hoster, package, Role.BUILDER, None)
        assert package.builder is None
        last = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert last.action == "delete" and last.before["party_id"] == world.other_builder


def test_package_needs_owner_and_roles_fit_their_kind(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        hoster = actor_of("hoster")
        package = db.session.get(Package, world.package)
        with pytest.raises(ServiceError, match="always has an owner"):
            packages.assign(hoster, package, Role.OWNER, None)
        with pytest.raises(ServiceError, match="builder"):
            packages.assign(hoster, package, Role.BUILDER, db.session.get(Party, world.owner))
        with pytest.raises(ServiceError, match="hoster"):
            packages.assign(actor_of("builder"), package, Role.BUILDER, None)
        assert package.builder.id == world.builder


def test_audit_events_cannot_be_changed_through_the_orm(world_app: Flask) -> None:
    with world_app.app_context():
        event = db.session.scalars(select(AuditEvent)).first()
        event.summary = "rewritten"
        with pytest.raises(AuditImmutableError):
            db.session.commit()
        db.session.rollback()
        db.session.delete(db.session.scalars(select(AuditEvent)).first())
        with pytest.raises(AuditImmutableError):
            db.session.commit()


def test_contact_changes_are_audited(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        owner = actor_of("owner")
        party = db.session.get(Party, world.owner)
        contact = parties.add_contact(owner, party, "webhook", "https://hook.example/x", "chat")
        parties.remove_contact(owner, contact)
        events = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_type == "Contact")
            .order_by(AuditEvent.id.desc())
            .limit(2)
        ).all()
        assert [e.action for e in events] == ["delete", "create"]
        assert events[0].before["value"] == "https://hook.example/x"
        assert events[1].actor_party_id == world.owner and events[1].hoster_id == world.hoster


def test_mailbox_allowance_and_domains_are_enforced(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        hoster = actor_of("hoster")
        package = db.session.get(Package, world.package)
        packages.save_mailbox(hoster, package, None, "sales", "alpha.example", None)
        packages.save_mailbox(hoster, package, None, "jobs", "alpha.example", None)
        with pytest.raises(ServiceError, match="allows 3 mailboxes"):
            packages.save_mailbox(hoster, package, None, "more", "alpha.example", None)
        with pytest.raises(ServiceError, match="package's domains"):
            packages.save_mailbox(
                hoster,
                package,
                db.session.get(Mailbox, world.mailbox),
                "info",
                "beta.example",
                None,
            )
        count = db.session.scalar(
            select(func.count()).select_from(Mailbox).where(Mailbox.package_id == package.id)
        )
        assert count == 3


def test_new_package_assigns_hoster_owner_and_builder(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        hoster = actor_of("hoster")
        package = packages.create_package(
            hoster,
            {"name": "delta", "plan_id": world.plan, "node_id": world.node, "status": "active"},
            db.session.get(Party, world.owner),
            db.session.get(Party, world.builder),
            ["Delta.Example", "delta.example", "www.delta.example"],
        )
        roles = {
            a.role: a.party_id
            for a in db.session.scalars(
                select(Assignment).where(Assignment.package_id == package.id)
            )
        }
        assert roles == {"hoster": world.hoster, "owner": world.owner, "builder": world.builder}
        assert [d.name for d in package.domains] == ["delta.example", "www.delta.example"]
        audited = db.session.scalars(
            select(AuditEvent.subject_type).where(AuditEvent.summary.contains("delta"))
        ).all()
        assert audited.count("Assignment") == 3 and "Package" in audited
        assert PartyKind.HOSTER == "hoster"
