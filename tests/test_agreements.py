"""Agreements through the services, on the seeded world: a hoster's terms applied to a
package, acknowledged by its three parties; new versions when the builder or the plan changes;
bad input refused with nothing half-saved; history that cannot be changed, not even in SQL;
the weekly reminder to hosters through a real SMTP server; contacts a package serves, marked.

The tests make their own package "sport" (hoster one's plan, builder Webbouwer, owner
Sportschool, domain sportschool.example), so they hold whatever agreements the world seeds."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask_babel import force_locale, format_date, gettext, ngettext
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from panel.extensions import db
from panel.models import (
    Acknowledgement,
    Agreement,
    AuditEvent,
    HostingNode,
    Membership,
    Package,
    Party,
    PartyKind,
    Plan,
    Role,
    TermsTemplate,
    User,
)
from panel.models.agreement import HistoryImmutableError
from panel.models.base import utcnow
from panel.policy.agreement import (
    DEFAULT_DEADLINES,
    DEFAULT_GRACE,
    DEFAULT_MATRIX,
    DEFAULT_THRESHOLDS,
)
from panel.services import accounts, agreements, packages, parties, reminders
from panel.services.errors import ServiceError
from panel.services.scope import Actor
from tests.conftest import (
    DatabaseStates,
    close_app,
    https_client,
    login,
    make_app,
    row_counts,
)
from tests.smtp import Received, SMTPSink, free_port
from tests.world import LOGINS, MIB, PASSWORD, World, tenancy
from workers import tasks

TERMS_NAME = "Service test terms"
TEXT_EN = "These are the terms of Hoster one. <b>Not HTML</b>."
TEXT_NL = "Dit zijn de voorwaarden van Hoster one."
GUARD = "agreements, terms and acknowledgements are never changed"


# --- helpers ---------------------------------------------------------------------------------


@dataclass
class Sport:
    """The tests' own package and its parties' ids, and who acts for each role."""

    package: int
    builder: int
    owner: int
    actors: dict[str, Actor]


def actor_of(email: str, party_id: int) -> Actor:
    """The person with login ``email``, acting in ``party_id``."""
    user = accounts.find_user(email)
    assert user is not None
    return Actor.for_membership(user, party(party_id))


def values(**changes: Any) -> dict[str, Any]:
    """A terms template as the form would give it, with ``changes``."""
    return {
        "name": TERMS_NAME,
        "text_en": TEXT_EN,
        "text_nl": TEXT_NL,
        "matrix": DEFAULT_MATRIX,
        "thresholds": DEFAULT_THRESHOLDS,
        "deadlines": DEFAULT_DEADLINES,
        "grace": DEFAULT_GRACE,
        **changes,
    }


def package(name: str) -> Package:
    found = db.session.scalars(select(Package).where(Package.name == name)).one()
    db.session.refresh(found)
    return found


def party(pid: int) -> Party:
    found = db.session.get(Party, pid)
    assert found is not None
    return found


def only_contact(who: Party, kind: str, value: str) -> None:
    """Leave ``who`` a single contact (as the hoster sets it)."""
    hoster = actor_of(LOGINS["hoster"], who.tenant_id)
    for contact in list(who.contacts):
        parties.remove_contact(hoster, contact)
    parties.add_contact(hoster, who, kind, value, "")
    db.session.refresh(who)


def tick() -> datetime:
    """A moment strictly between what came before and what comes after."""
    time.sleep(0.002)
    moment = utcnow()
    time.sleep(0.002)
    return moment


def person(who: Party, email: str) -> Actor:
    user = User(email=email, name=who.name, password_hash=None)
    db.session.add(user)
    db.session.flush()
    db.session.add(Membership(user_id=user.id, party_id=who.id))
    db.session.commit()
    return Actor.for_membership(user, who)


@pytest.fixture
def ctx(world_app: Flask, world: World) -> Iterator[World]:
    """An app context on the world, whose hoster can be reached outside its own packages."""
    with world_app.app_context():
        hoster = party(world.hoster)
        if not hoster.contacts:
            parties.add_contact(
                actor_of(LOGINS["hoster"], hoster.id),
                hoster,
                "email",
                "office@elsewhere.example",
                "",
            )
        yield world
        db.session.rollback()


@pytest.fixture
def hoster(ctx: World) -> Actor:
    return actor_of(LOGINS["hoster"], ctx.hoster)


@pytest.fixture
def sport(ctx: World, hoster: Actor) -> Sport:
    """A package of hoster one with a builder and an owner of its own, and their people."""
    builder = parties.create_party(hoster, PartyKind.BUILDER, "Webbouwer", "en")
    owner = parties.create_party(hoster, PartyKind.OWNER, "Sportschool", "nl")
    parties.add_contact(hoster, builder, "email", "alerts@webbouwer.example", "")
    parties.add_contact(hoster, owner, "email", "board@sportschool-home.example", "")
    created = packages.create_package(
        hoster,
        {"name": "sport", "plan_id": ctx.plan, "node_id": ctx.node, "status": "active"},
        owner,
        builder,
        ["sportschool.example"],
    )
    actors = {
        "hoster": hoster,
        "builder": person(builder, "dev@webbouwer.example"),
        "owner": person(owner, "secretary@sportschool-home.example"),
    }
    return Sport(created.id, builder.id, owner.id, actors)


@pytest.fixture
def terms(hoster: Actor) -> TermsTemplate:
    return agreements.save_template(hoster, None, values())


@pytest.fixture
def sport_v1(hoster: Actor, sport: Sport, terms: TermsTemplate) -> Agreement:
    return agreements.apply_template(hoster, package("sport"), terms)


def acknowledge_all(sport: Sport, agreement: Agreement, *roles: str) -> None:
    for role in roles or ("hoster", "builder", "owner"):
        agreements.acknowledge(sport.actors[role], agreement, "192.0.2.10", "en")


def answered(pid: int, category: str, at: datetime) -> list[tuple[str, str, int, bool]]:
    """(role, party name, version, acknowledged) of who answered for ``category`` at ``at``."""
    return [
        (a.role, p.name, a.version, a.acknowledged)
        for a, p in agreements.who_answered(pid, category, at)
    ]


def refused_without_change(app: Flask, call: Callable[[], object], *words: str) -> str:
    """``call`` raises a ServiceError naming ``words``, and no table gained or lost a row."""
    before = row_counts(app)
    with pytest.raises(ServiceError) as info:
        call()
    db.session.rollback()
    assert row_counts(app) == before, "something was half-saved"
    message = str(info.value)
    for word in words:
        assert word in message, message
    return message


# --- applying and acknowledging --------------------------------------------------------------


def test_applying_a_template_makes_version_1_with_limits_and_names_filled_in(
    ctx: World, hoster: Actor, sport: Sport, terms: TermsTemplate
) -> None:
    assert agreements.current(sport.package) is None
    agreement = agreements.apply_template(hoster, package("sport"), terms)
    assert (agreement.version, agreement.template_id) == (1, terms.id)
    assert agreement.limits == {
        "storage_quota_bytes": 150 * MIB,
        "mailbox_count": 3,
        "default_mailbox_quota_bytes": 50 * MIB,
    }
    assert agreement.parties == {
        "hoster": ctx.hoster,
        "builder": sport.builder,
        "owner": sport.owner,
    }
    assert agreement.party_names == {
        "hoster": "Hoster one",
        "builder": "Webbouwer",
        "owner": "Sportschool",
    }
    assert (agreement.text_en, agreement.text_nl) == (TEXT_EN, TEXT_NL)
    assert agreement.matrix == DEFAULT_MATRIX
    assert agreement.created_by_id == hoster.user_id
    assert agreements.versions(sport.package) == [agreement]
    for_owner = agreements.shown_text(agreement, "owner", "en")
    assert for_owner.startswith(TEXT_EN)  # stored as written (escaped where it is shown)
    assert "Your package has 150 MiB, shared by your mailboxes and your website." in for_owner
    assert "You answer for the mailboxes" in for_owner
    assert "Webbouwer answers for the website's files" in for_owner
    assert "Hoster one answers for the size of the package" in for_owner
    for_builder_nl = agreements.shown_text(agreement, "builder", "nl")
    assert for_builder_nl.startswith(TEXT_NL)
    assert "Jij bent verantwoordelijk voor de bestanden van de website" in for_builder_nl
    assert "Sportschool is verantwoordelijk voor de mailboxen" in for_builder_nl


def test_each_party_acknowledges_with_who_where_which_language_and_the_exact_text(
    sport: Sport, sport_v1: Agreement
) -> None:
    before = utcnow()
    ack = agreements.acknowledge(sport.actors["builder"], sport_v1, "2001:db8::7", "nl")
    assert (ack.agreement_id, ack.party_id, ack.role) == (sport_v1.id, sport.builder, "builder")
    assert ack.user_id == sport.actors["builder"].user_id
    assert (ack.address, ack.language) == ("2001:db8::7", "nl")
    assert before <= ack.at <= utcnow()
    assert ack.text == agreements.shown_text(sport_v1, "builder", "nl")
    assert ack.text.startswith(TEXT_NL) and "Jij bent verantwoordelijk" in ack.text
    assert ack.text_hash == hashlib.sha256(ack.text.encode()).hexdigest()

    owner_ack = agreements.acknowledge(sport.actors["owner"], sport_v1, "198.51.100.4", "en")
    assert (owner_ack.role, owner_ack.language) == ("owner", "en")
    assert "You answer for the mailboxes" in owner_ack.text
    hoster_ack = agreements.acknowledge(sport.actors["hoster"], sport_v1, "192.0.2.1", "nl")
    assert hoster_ack.role == "hoster"
    # read back from the database, as stored
    db.session.expire_all()
    stored = db.session.scalars(
        select(Acknowledgement)
        .where(Acknowledgement.agreement_id == sport_v1.id)
        .order_by(Acknowledgement.id)
    ).all()
    assert [(a.role, a.language, a.address) for a in stored] == [
        ("builder", "nl", "2001:db8::7"),
        ("owner", "en", "198.51.100.4"),
        ("hoster", "nl", "192.0.2.1"),
    ]
    assert all(a.text_hash == hashlib.sha256(a.text.encode()).hexdigest() for a in stored)
    assert stored[1].text == agreements.shown_text(sport_v1, "owner", "en")


def test_an_unknown_language_is_recorded_as_the_english_that_was_shown(
    sport: Sport, sport_v1: Agreement
) -> None:
    ack = agreements.acknowledge(sport.actors["owner"], sport_v1, "192.0.2.9", "fr")
    assert ack.language == "en"
    assert ack.text == agreements.shown_text(sport_v1, "owner", "en")


def test_state_goes_from_none_to_waiting_to_agreed(
    ctx: World, hoster: Actor, sport: Sport, terms: TermsTemplate
) -> None:
    pid = sport.package
    assert agreements.states_of([pid])[pid] == agreements.AgreementState("none")
    agreement = agreements.apply_template(hoster, package("sport"), terms)
    state = agreements.states_of([pid])[pid]
    assert (state.kind, state.version, state.since) == ("waiting", 1, agreement.created_at)
    assert state.waiting_for == ["Webbouwer", "Hoster one", "Sportschool"]  # by role
    acknowledge_all(sport, agreement, "hoster", "builder")
    state = agreements.states_of([pid])[pid]
    assert (state.kind, state.waiting_for, state.since) == (
        "waiting",
        ["Sportschool"],
        agreement.created_at,
    )
    acknowledge_all(sport, agreement, "owner")
    state = agreements.states_of([pid])[pid]
    assert (state.kind, state.version, state.waiting_for) == ("agreed", 1, [])
    # many packages in one call: one with no agreement at all, an unknown id
    states = agreements.states_of([pid, ctx.foreign_package, 999_999])
    assert states[pid].kind == "agreed"
    assert states[ctx.foreign_package].kind == "none"
    assert states[999_999].kind == "none"


def test_incomplete_by_hoster_lists_active_packages_until_all_have_agreed(
    ctx: World, sport: Sport, sport_v1: Agreement
) -> None:
    def incomplete() -> dict[int, list[str]]:
        return {
            hoster_id: [p.name for p, _state in found]
            for hoster_id, found in agreements.incomplete_by_hoster().items()
        }

    assert "sport" in incomplete()[ctx.hoster]
    assert incomplete()[ctx.other_hoster] == ["gamma"]
    acknowledge_all(sport, sport_v1)
    assert "sport" not in incomplete().get(ctx.hoster, [])
    # a suspended package is not nagged about
    gamma = package("gamma")
    gamma.status = "suspended"
    db.session.commit()
    assert ctx.other_hoster not in incomplete()


# --- new versions --------------------------------------------------------------------------


def test_a_new_builder_makes_version_2_while_version_1_stays_readable_and_in_force(
    ctx: World, hoster: Actor, sport: Sport, sport_v1: Agreement
) -> None:
    acknowledge_all(sport, sport_v1)
    v1_text = agreements.shown_text(sport_v1, "owner", "en")
    all_agreed = tick()
    packages.assign(hoster, package("sport"), Role.BUILDER, party(ctx.builder))
    between = tick()

    [v1, v2] = agreements.versions(sport.package)
    assert (v1.id, v2.version) == (sport_v1.id, 2)
    assert "Builder One" in v2.reason
    assert v2.parties == {"hoster": ctx.hoster, "builder": ctx.builder, "owner": sport.owner}
    assert v2.party_names["builder"] == "Builder One"
    assert "Builder One answers for the website's files" in agreements.shown_text(v2, "owner", "en")
    # version 1 is there as it was, with its acknowledgements
    assert v1.party_names["builder"] == "Webbouwer"
    assert len(v1.acknowledgements) == 3
    assert agreements.shown_text(v1, "owner", "en") == v1_text
    state = agreements.states_of([sport.package])[sport.package]
    assert (state.kind, state.version, state.since) == ("waiting", 2, v2.created_at)
    assert state.waiting_for == ["Builder One", "Hoster one", "Sportschool"]

    pid = sport.package
    assert answered(pid, "site_files", all_agreed) == [("builder", "Webbouwer", 1, True)]
    # the replaced builder no longer answers; the new one does, not yet acknowledged; the
    # owner and the hoster still answer under version 1 until they acknowledge version 2
    assert answered(pid, "site_files", between) == [("builder", "Builder One", 2, False)]
    assert answered(pid, "mailbox", between) == [("owner", "Sportschool", 1, True)]
    assert answered(pid, "capacity", between) == [("hoster", "Hoster one", 1, True)]
    assert answered(pid, "site_uploads", between) == [("owner", "Sportschool", 1, True)]

    builder_one = actor_of(LOGINS["builder"], ctx.builder)
    agreements.acknowledge(builder_one, v2, "192.0.2.11", "nl")
    agreements.acknowledge(sport.actors["owner"], v2, "192.0.2.12", "nl")
    later = tick()
    assert answered(pid, "site_files", later) == [("builder", "Builder One", 2, True)]
    assert answered(pid, "delivery", later) == [
        ("hoster", "Hoster one", 1, True),
        ("owner", "Sportschool", 2, True),
    ]
    # what was, stays what it was
    assert answered(pid, "site_files", between) == [("builder", "Builder One", 2, False)]
    assert answered(pid, "site_files", all_agreed) == [("builder", "Webbouwer", 1, True)]


def test_a_new_plan_makes_version_2_with_the_new_limits(
    ctx: World, hoster: Actor, sport: Sport, sport_v1: Agreement
) -> None:
    acknowledge_all(sport, sport_v1)
    form = {"name": "sport", "plan_id": ctx.spare_plan, "node_id": ctx.node, "status": "active"}
    packages.update_package(hoster, package("sport"), form)
    between = tick()
    [v1, v2] = agreements.versions(sport.package)
    assert v1.limits["storage_quota_bytes"] == 150 * MIB
    assert v2.limits == {
        "storage_quota_bytes": 1024 * MIB,
        "mailbox_count": 10,
        "default_mailbox_quota_bytes": 100 * MIB,
    }
    assert "Plan spare" in v2.reason
    assert v2.parties == v1.parties
    assert "Your package has 1 GiB" in agreements.shown_text(v2, "owner", "en")
    assert "Your package has 150 MiB" in agreements.shown_text(v1, "owner", "en")
    assert agreements.states_of([sport.package])[sport.package].kind == "waiting"
    # nobody acknowledged v2 yet: each answers under the v1 it acknowledged
    for category in ("mailbox", "site_files", "capacity", "delivery"):
        found = answered(sport.package, category, between)
        assert found and {(v, acked) for _r, _n, v, acked in found} == {(1, True)}

    agreements.acknowledge(sport.actors["owner"], v2, "192.0.2.12", "en")
    after_owner = tick()
    assert answered(sport.package, "mailbox", after_owner) == [("owner", "Sportschool", 2, True)]
    assert answered(sport.package, "site_files", after_owner) == [("builder", "Webbouwer", 1, True)]
    # a change to something the agreement does not say makes no new version
    packages.update_package(hoster, package("sport"), {**form, "node_id": ctx.spare_node})
    assert len(agreements.versions(sport.package)) == 2


def test_a_change_to_a_package_without_agreement_makes_none(
    ctx: World, hoster: Actor, sport: Sport
) -> None:
    packages.assign(hoster, package("sport"), Role.BUILDER, party(ctx.builder))
    form = {"name": "sport", "plan_id": ctx.spare_plan, "node_id": ctx.node, "status": "active"}
    packages.update_package(hoster, package("sport"), form)
    assert agreements.versions(sport.package) == []
    assert agreements.who_answered(sport.package, "mailbox", utcnow()) == []


def test_a_new_template_version_leaves_the_old_one_and_its_agreements_alone(
    ctx: World, hoster: Actor, terms: TermsTemplate, sport: Sport, sport_v1: Agreement
) -> None:
    newer = agreements.save_template(
        hoster, terms, values(name="ignored", text_en="Terms, second edition.")
    )
    assert (newer.name, newer.version) == (TERMS_NAME, 2)
    latest = [t.id for t in agreements.latest_templates(ctx.hoster) if t.name == TERMS_NAME]
    assert latest == [newer.id]
    db.session.expire_all()
    assert db.session.get(TermsTemplate, terms.id).text_en == TEXT_EN  # type: ignore[union-attr]
    assert agreements.current(sport.package).text_en == TEXT_EN  # type: ignore[union-attr]


# --- bad input: refused in words, nothing half-saved -----------------------------------------


def matrix_with(**changes: tuple[list[str], list[str]]) -> dict[str, Any]:
    result: dict[str, Any] = {k: dict(v) for k, v in DEFAULT_MATRIX.items()}
    for category, (responsible, escalation) in changes.items():
        result[category] = {"responsible": responsible, "escalation": escalation}
    return result


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"matrix": matrix_with(site_files=([], ["hoster"]))}, ["Nobody answers for"]),
        ({"matrix": {"mailbox": DEFAULT_MATRIX["mailbox"]}}, ["no entry for"]),
        ({"matrix": matrix_with(mailbox=(["tenant"], []))}, ["'tenant'"]),
        ({"thresholds": {"notice": 80, "warning": 90, "critical": 101}}, ["100 %"]),
        ({"thresholds": {"notice": 90, "warning": 80, "critical": 100}}, ["rise"]),
        ({"thresholds": {"notice": "80", "warning": 90, "critical": 100}}, ["whole-number"]),
        ({"deadlines": {**DEFAULT_DEADLINES, "critical": 0}}, ["1 to 720 hours"]),
        ({"grace": {"at_full": "defer", "defer_hours": "a week", "upgrade": "none"}}, ["168"]),
        ({"text_nl": "   "}, ["English and in Dutch"]),
        ({"text_en": "x" * 20_001}, ["20,000"]),
        ({"name": "  "}, ["needs a name"]),
    ],
)
def test_a_bad_template_is_refused_in_words(
    world_app: Flask, hoster: Actor, changes: dict[str, Any], words: list[str]
) -> None:
    refused_without_change(
        world_app, lambda: agreements.save_template(hoster, None, values(**changes)), *words
    )


def test_a_policy_refusal_names_the_category_in_words_not_as_a_code(
    world_app: Flask, hoster: Actor
) -> None:
    message = refused_without_change(
        world_app,
        lambda: agreements.save_template(
            hoster, None, values(matrix=matrix_with(site_backups=(["builder"], ["builder"])))
        ),
        "site backups kept on the package",
    )
    assert "site_backups" not in message


def test_templates_are_the_hosters_and_their_names_unique(
    world_app: Flask, ctx: World, hoster: Actor, sport: Sport, terms: TermsTemplate
) -> None:
    refused_without_change(
        world_app, lambda: agreements.save_template(hoster, None, values()), TERMS_NAME
    )
    owner = sport.actors["owner"]
    refused_without_change(
        world_app,
        lambda: agreements.save_template(owner, None, values(name="Mine")),
        "Only the hoster",
    )
    refused_without_change(
        world_app,
        lambda: agreements.apply_template(owner, package("sport"), terms),
        "Only the hoster",
    )
    other = actor_of(LOGINS["other_hoster"], ctx.other_hoster)
    refused_without_change(
        world_app,
        lambda: agreements.apply_template(other, package("gamma"), terms),
        "Only the hoster",
    )


def test_a_matrix_giving_a_category_to_a_missing_builder_is_refused(
    world_app: Flask, ctx: World, hoster: Actor, sport: Sport, terms: TermsTemplate
) -> None:
    packages.assign(hoster, package("sport"), Role.BUILDER, None)  # no agreement yet: allowed
    assert package("sport").builder is None
    message = refused_without_change(
        world_app,
        lambda: agreements.apply_template(hoster, package("sport"), terms),
        "site files",
        "web builder",
    )
    assert "site_files" not in message
    # a matrix that gives the builder's share to the owner fits a package without builder
    no_builder = agreements.save_template(
        hoster,
        None,
        values(
            name="Without builder",
            matrix=matrix_with(
                site_files=(["owner"], ["hoster"]),
                site_backups=(["owner"], ["hoster"]),
                databases=(["owner"], ["hoster"]),
                delivery=(["owner", "hoster"], []),
            ),
        ),
    )
    agreement = agreements.apply_template(hoster, package("sport"), no_builder)
    assert set(agreement.parties) == {"hoster", "owner"}
    assert answered(sport.package, "site_files", utcnow()) == [("owner", "Sportschool", 1, False)]


@pytest.mark.parametrize(
    ("role", "kind", "value"),
    [
        ("owner", "email", "info@sportschool.example"),
        ("owner", "email", "secretary@mail.sportschool.example"),  # a subdomain is served too
        ("builder", "webhook", "https://sportschool.example/hooks/onus"),
        ("hoster", "email", "support@sportschool.example"),
    ],
)
def test_an_agreement_is_refused_while_a_party_can_only_be_reached_through_the_package(
    world_app: Flask, hoster: Actor, sport: Sport, terms: TermsTemplate, role: str, kind: str,
    value: str,
) -> None:  # fmt: skip
    target = party(sport.actors[role].party_id)
    only_contact(target, kind, value)
    refused_without_change(
        world_app,
        lambda: agreements.apply_template(hoster, package("sport"), terms),
        target.name,
        value,
    )
    assert agreements.versions(sport.package) == []
    # a second address elsewhere makes it safe; the unsafe one may stay
    parties.add_contact(hoster, target, "email", "second@elsewhere.example", "")
    db.session.refresh(target)
    assert agreements.apply_template(hoster, package("sport"), terms).version == 1


def test_a_party_without_any_contact_is_refused(
    world_app: Flask, hoster: Actor, sport: Sport, terms: TermsTemplate
) -> None:
    owner = party(sport.owner)
    for contact in list(owner.contacts):
        parties.remove_contact(hoster, contact)
    db.session.refresh(owner)
    refused_without_change(
        world_app,
        lambda: agreements.apply_template(hoster, package("sport"), terms),
        "Sportschool",
        "no contact",
    )


def test_served_by_and_unsafe_contact_ids(ctx: World, hoster: Actor, sport: Sport) -> None:
    owner = party(sport.owner)
    unsafe = parties.add_contact(hoster, owner, "email", "Info@SportSchool.Example", "")
    hook = parties.add_contact(hoster, owner, "webhook", "https://www.sportschool.example/h", "")
    lookalike = parties.add_contact(hoster, owner, "email", "info@notsportschool.example", "")
    sport_package = package("sport")
    assert agreements.unsafe_contact_ids([sport_package]) == {unsafe.id, hook.id}
    assert agreements.unsafe_contact_ids([package("gamma")]) == set()
    assert not agreements.served_by(lookalike, ["sportschool.example"])
    assert agreements.served_by(unsafe, agreements.package_domains(sport_package))


def test_acknowledging_an_old_version_is_refused(
    world_app: Flask, ctx: World, hoster: Actor, sport: Sport, sport_v1: Agreement
) -> None:
    packages.assign(hoster, package("sport"), Role.BUILDER, party(ctx.builder))
    refused_without_change(
        world_app,
        lambda: agreements.acknowledge(sport.actors["owner"], sport_v1, "192.0.2.1", "en"),
        "newer version",
    )


def test_acknowledging_for_a_party_outside_the_agreement_is_refused(
    world_app: Flask, ctx: World, sport_v1: Agreement
) -> None:
    outsiders = [
        actor_of(LOGINS["builder"], ctx.builder),  # a builder of the same hoster, not on sport
        actor_of(LOGINS["owner"], ctx.owner),
        actor_of(LOGINS["other_hoster"], ctx.other_hoster),
    ]
    for outsider in outsiders:
        refused_without_change(
            world_app,
            lambda outsider=outsider: agreements.acknowledge(outsider, sport_v1, "192.0.2.1", "en"),
            "not part of this agreement",
        )


def test_acknowledging_twice_is_refused(
    world_app: Flask, sport: Sport, sport_v1: Agreement
) -> None:
    agreements.acknowledge(sport.actors["owner"], sport_v1, "192.0.2.1", "en")
    refused_without_change(
        world_app,
        lambda: agreements.acknowledge(sport.actors["owner"], sport_v1, "192.0.2.1", "nl"),
        "already",
    )


def test_an_unreachable_builder_is_refused_before_anything_changes(
    world_app: Flask, ctx: World, hoster: Actor, sport: Sport, sport_v1: Agreement
) -> None:
    builder_one = party(ctx.builder)
    only_contact(builder_one, "email", "webmaster@sportschool.example")
    refused_without_change(
        world_app,
        lambda: packages.assign(hoster, package("sport"), Role.BUILDER, builder_one),
        "Builder One",
        "webmaster@sportschool.example",
    )
    assert package("sport").builder.id == sport.builder  # type: ignore[union-attr]
    assert len(agreements.versions(sport.package)) == 1


def test_removing_the_builder_the_agreement_relies_on_is_refused(
    world_app: Flask, hoster: Actor, sport: Sport, sport_v1: Agreement
) -> None:
    refused_without_change(
        world_app,
        lambda: packages.assign(hoster, package("sport"), Role.BUILDER, None),
        "web builder",
    )
    assert package("sport").builder is not None


def test_a_new_builder_is_refused_while_another_party_has_become_unreachable(
    world_app: Flask, ctx: World, hoster: Actor, sport: Sport, sport_v1: Agreement
) -> None:
    # after the agreement, the owner's only address moved into the package: the version a
    # new builder would make is impossible, so the builder does not change either
    only_contact(party(sport.owner), "email", "info@sportschool.example")
    refused_without_change(
        world_app,
        lambda: packages.assign(hoster, package("sport"), Role.BUILDER, party(ctx.builder)),
        "Sportschool",
    )
    assert package("sport").builder.id == sport.builder  # type: ignore[union-attr]


def test_check_reissue_refuses_a_new_version_that_cannot_be_made(
    world_app: Flask, sport: Sport, sport_v1: Agreement
) -> None:
    agreements.check_reissue(package("sport"))
    agreements.check_reissue(package("gamma"))  # no agreement: nothing to check
    only_contact(party(sport.owner), "email", "info@sportschool.example")
    refused_without_change(
        world_app, lambda: agreements.check_reissue(package("sport")), "Sportschool"
    )


def test_a_new_plan_is_refused_before_anything_changes_when_no_new_version_can_be_made(
    world_app: Flask, ctx: World, hoster: Actor, sport: Sport, sport_v1: Agreement
) -> None:
    only_contact(party(sport.owner), "email", "info@sportschool.example")
    form = {"name": "sport", "plan_id": ctx.spare_plan, "node_id": ctx.node, "status": "active"}
    refused_without_change(
        world_app,
        lambda: packages.update_package(hoster, package("sport"), form),
        "Sportschool",
    )
    assert package("sport").plan_id == ctx.plan


# --- history that cannot be changed ----------------------------------------------------------


@pytest.fixture
def history(sport: Sport, sport_v1: Agreement, terms: TermsTemplate) -> dict[str, Any]:
    ack = agreements.acknowledge(sport.actors["owner"], sport_v1, "192.0.2.1", "en")
    return {"terms_template": terms, "agreement": sport_v1, "acknowledgement": ack}


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("terms_template", "text_en", "Rewritten terms"),
        ("agreement", "reason", "rewritten"),
        ("acknowledgement", "text_hash", "0" * 64),
    ],
)
def test_the_orm_refuses_to_change_or_remove_history(
    world_app: Flask, history: dict[str, Any], table: str, column: str, value: str
) -> None:
    obj = history[table]
    model, obj_id = type(obj), obj.id
    before = row_counts(world_app)
    setattr(obj, column, value)
    with pytest.raises(HistoryImmutableError):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(model, obj_id))
    with pytest.raises(HistoryImmutableError):
        db.session.commit()
    db.session.rollback()
    assert row_counts(world_app) == before
    db.session.expire_all()
    assert getattr(db.session.get(model, obj_id), column) != value


@pytest.mark.parametrize("table", ["terms_template", "agreement", "acknowledgement"])
def test_the_database_refuses_raw_sql_updates_and_deletes(
    world_app: Flask, history: dict[str, Any], table: str
) -> None:
    row_id = history[table].id
    column = "address" if table == "acknowledgement" else "text_en"
    statements = [
        f"UPDATE {table} SET {column} = 'forged' WHERE id = :id",
        f"DELETE FROM {table} WHERE id = :id",
        f"DELETE FROM {table}",
    ]
    before = row_counts(world_app)
    for statement in statements:
        with pytest.raises(DBAPIError) as info:
            db.session.execute(text(statement), {"id": row_id})
        db.session.rollback()
        assert GUARD in str(info.value), statement
    assert row_counts(world_app) == before
    stored = db.session.execute(
        text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": row_id}
    ).scalar_one()
    assert stored != "forged"


def test_every_step_is_in_the_audit_log(
    ctx: World, hoster: Actor, sport: Sport, terms: TermsTemplate, sport_v1: Agreement
) -> None:
    ack = agreements.acknowledge(sport.actors["owner"], sport_v1, "192.0.2.1", "en")
    packages.assign(hoster, package("sport"), Role.BUILDER, party(ctx.builder))
    v2 = agreements.current(sport.package)
    assert v2 is not None

    def events(subject: Any) -> list[AuditEvent]:
        return list(
            db.session.scalars(
                select(AuditEvent).where(
                    AuditEvent.subject_type == type(subject).__name__,
                    AuditEvent.subject_id == subject.id,
                )
            )
        )

    [written] = events(terms)
    assert (written.action, written.actor_user_id) == ("create", hoster.user_id)
    assert TERMS_NAME in written.summary
    assert written.after is not None and written.after["matrix"] == DEFAULT_MATRIX
    [applied] = events(sport_v1)
    assert applied.action == "create" and "sport" in applied.summary
    assert applied.after is not None
    assert applied.after["limits"]["storage_quota_bytes"] == 150 * MIB
    [reissued] = events(v2)
    assert "Builder One" in reissued.summary and reissued.hoster_id == ctx.hoster
    [acknowledged] = events(ack)
    assert acknowledged.action == "acknowledge"
    assert (acknowledged.actor_party_id, acknowledged.hoster_id) == (sport.owner, ctx.hoster)
    assert acknowledged.actor_user_id == sport.actors["owner"].user_id
    assert acknowledged.after is not None
    assert acknowledged.after["text_hash"] == ack.text_hash
    assert acknowledged.after["text"] == ack.text


# --- the weekly reminder ---------------------------------------------------------------------

MAIL_FROM = "panel@onus.test"
REMINDER_SINGULAR = "Onus: %(num)d package without a complete agreement"
REMINDER_PLURAL = "Onus: %(num)d packages without a complete agreement"


def mailing_app(database: DatabaseStates, port: int) -> Flask:
    """The seeded world, with an app that mails to 127.0.0.1:``port``."""
    database.restore("world")
    return make_app(
        database,
        ONUS_MAIL_SERVER="127.0.0.1",
        ONUS_MAIL_PORT=port,
        ONUS_MAIL_STARTTLS=False,
        ONUS_MAIL_USERNAME="",
        ONUS_MAIL_FROM=MAIL_FROM,
    )


@pytest.fixture
def mail_app(database: DatabaseStates, smtp: SMTPSink) -> Iterator[Flask]:
    app = mailing_app(database, smtp.port)
    yield app
    close_app(app)


def package_with_parties(
    hoster: Actor, plan: Plan, node: HostingNode, name: str, owner_name: str
) -> tuple[Package, dict[str, Actor]]:
    """An active package with a builder and an owner who can be reached, and their people."""
    builder = parties.create_party(hoster, PartyKind.BUILDER, f"Builder of {name}", "en")
    owner = parties.create_party(hoster, PartyKind.OWNER, owner_name, "nl")
    for who in (builder, owner):
        parties.add_contact(hoster, who, "email", f"{name}-{who.kind}@elsewhere.example", "")
    created = packages.create_package(
        hoster,
        {"name": name, "plan_id": plan.id, "node_id": node.id, "status": "active"},
        owner,
        builder,
        [f"{name}.example"],
    )
    people = {
        "hoster": hoster,
        "builder": person(builder, f"{name}.builder@elsewhere.example"),
        "owner": person(owner, f"{name}.owner@elsewhere.example"),
    }
    return created, people


def expected_incomplete(hoster_id: int) -> set[str]:
    """The hoster's active packages whose newest agreement not every party acknowledged,
    worked out here from the rows, not by the service under test."""
    names = set()
    for found in db.session.scalars(
        select(Package).where(Package.hoster_id == hoster_id, Package.status == "active")
    ):
        history = agreements.versions(found.id)
        newest = history[-1] if history else None
        acked = {a.party_id for a in newest.acknowledgements} if newest else set()
        if newest is None or acked != set(newest.parties.values()):
            names.add(found.name)
    return names


def listed(received: Received) -> list[str]:
    """The package names the plain-text reminder lists, one per "- name: state" line."""
    text, _html = text_and_html(received)
    return [line[2:].split(":", 1)[0] for line in text.splitlines() if line.startswith("- ")]


def text_and_html(received: Received) -> tuple[str, str]:
    message = received.message
    assert message.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part for part in message.iter_parts()}
    return parts["text/plain"].get_content(), parts["text/html"].get_content()


@dataclass
class Tenancies:
    """The reminder's world: hoster one and two as seeded, a Dutch hoster Drie with one
    package without agreement, one waiting, one agreed and one suspended, and an English
    hoster Vier whose one package is agreed by all."""

    drie: int
    vier: int
    drie_to: list[str]
    vier_to: list[str]


@pytest.fixture
def tenancies(mail_app: Flask) -> Iterator[Tenancies]:
    with mail_app.app_context():
        drie, plan, node = tenancy("Drie", "login@drie.example", "nl")
        drie_party = party(drie.party_id)
        drie_to = ["kantoor@drie-elders.example", "noodgeval@drie-elders.example"]
        for address in drie_to:
            parties.add_contact(drie, drie_party, "email", address, "")
        parties.add_contact(drie, drie_party, "webhook", "https://hooks.drie-elders.example/x", "")
        terms = agreements.save_template(drie, None, values())
        package_with_parties(drie, plan, node, "drie-geen", "Geen Afspraak")
        waiting, people = package_with_parties(drie, plan, node, "drie-wacht", "Sport & <Spel>")
        agreement = agreements.apply_template(drie, waiting, terms)
        agreements.acknowledge(people["builder"], agreement, "192.0.2.1", "en")
        agreed, people = package_with_parties(drie, plan, node, "drie-klaar", "Alles Klaar")
        agreement = agreements.apply_template(drie, agreed, terms)
        for actor in people.values():
            agreements.acknowledge(actor, agreement, "192.0.2.1", "nl")
        suspended, _people = package_with_parties(drie, plan, node, "drie-stil", "Stil Gezet")
        suspended.status = "suspended"
        db.session.commit()

        vier, plan, node = tenancy("Vier", "login@vier.example", "en")
        vier_to = ["office@vier-elsewhere.example"]
        parties.add_contact(vier, party(vier.party_id), "email", vier_to[0], "")
        terms = agreements.save_template(vier, None, values())
        done, people = package_with_parties(vier, plan, node, "vier-klaar", "Vier Klaar")
        agreement = agreements.apply_template(vier, done, terms)
        for actor in people.values():
            agreements.acknowledge(actor, agreement, "192.0.2.1", "en")
        yield Tenancies(drie.party_id, vier.party_id, drie_to, vier_to)


def test_each_hoster_gets_one_reminder_listing_exactly_its_incomplete_packages(
    mail_app: Flask, smtp: SMTPSink, tenancies: Tenancies
) -> None:
    with mail_app.app_context():
        world = World.load()
        expected = {
            world.hoster: expected_incomplete(world.hoster),
            world.other_hoster: expected_incomplete(world.other_hoster),
            tenancies.drie: {"drie-geen", "drie-wacht"},
        }
        assert expected_incomplete(tenancies.drie) == expected[tenancies.drie]
        assert expected_incomplete(tenancies.vier) == set()
        addresses = {
            hoster_id: reminders.reminder_addresses(party(hoster_id)) for hoster_id in expected
        }
        other_contacts = [c.value for c in party(world.other_hoster).contacts if c.kind == "email"]
        now = utcnow()
        counts = reminders.send_agreement_reminders(now)

    assert counts == {
        "hosters": 3,
        "packages": sum(len(names) for names in expected.values()),
        "failed": 0,
        "unreachable": 0,
    }
    received = smtp.wait_for(4, timeout=2)  # a fourth would be one too many
    assert len(received) == 3, [r.rcpt_tos for r in received]
    by_hoster = {}
    for mail in received:
        [hoster_id] = [h for h, to in addresses.items() if sorted(to) == sorted(mail.rcpt_tos)]
        by_hoster[hoster_id] = mail
        assert mail.mail_from == MAIL_FROM
        assert sorted(listed(mail)) == sorted(expected[hoster_id])
    assert set(by_hoster) == set(expected)
    assert addresses[tenancies.drie] == tenancies.drie_to  # its email contacts, not the webhook
    assert addresses[world.other_hoster] == (
        other_contacts or ["hoster@two.example"]  # no contact: the reminder goes to its people
    )
    assert not any(tenancies.vier_to[0] in mail.rcpt_tos for mail in received)


def test_a_dutch_hoster_gets_its_reminder_in_dutch(
    mail_app: Flask, smtp: SMTPSink, tenancies: Tenancies
) -> None:
    with mail_app.app_context():
        now = utcnow()
        reminders.send_agreement_reminders(now)
        waiting = agreements.current(package("drie-wacht").id)
        assert waiting is not None
        with force_locale("nl"):
            subject = ngettext(REMINDER_SINGULAR, REMINDER_PLURAL, 2)
            no_agreement = gettext("no agreement")
            hello = gettext("Hello %(name)s,", name="Hoster Drie")
            since = format_date(waiting.created_at, "long")
    [mail] = [m for m in smtp.wait_for(3) if sorted(m.rcpt_tos) == tenancies.drie_to]
    assert mail.message["Subject"] == subject
    assert mail.message["To"] == ", ".join(tenancies.drie_to)
    text, html = text_and_html(mail)
    assert hello in text
    lines = {line[2:].split(":", 1)[0]: line for line in text.splitlines() if line.startswith("- ")}
    assert lines["drie-geen"] == f"- drie-geen: {no_agreement}"
    waiting_line = lines["drie-wacht"]
    # waiting for the hoster and the owner; the builder acknowledged
    assert "Hoster Drie" in waiting_line and "Sport & <Spel>" in waiting_line
    assert "Builder of drie-wacht" not in waiting_line
    assert since in waiting_line
    # the HTML part links each package and escapes what people typed
    assert f'/hoster/packages/{package_id(mail_app, "drie-wacht")}"' in html
    assert "Sport &amp; &lt;Spel&gt;" in html and "<Spel>" not in html


def package_id(app: Flask, name: str) -> int:
    with app.app_context():
        return package(name).id


def test_a_dead_mail_server_is_counted_not_lost(database: DatabaseStates) -> None:
    app = mailing_app(database, free_port())
    try:
        with app.app_context():
            to_remind = len(agreements.incomplete_by_hoster())
            counts = reminders.send_agreement_reminders(utcnow())
    finally:
        close_app(app)
    assert to_remind == 2  # the world's two hosters
    assert counts == {"hosters": 0, "packages": 0, "failed": to_remind, "unreachable": 0}


def test_a_hoster_nobody_can_be_mailed_for_is_counted(mail_app: Flask, smtp: SMTPSink) -> None:
    with mail_app.app_context():
        world = World.load()
        hoster_two = party(world.other_hoster)
        for contact in list(hoster_two.contacts):
            if contact.kind == "email":
                parties.remove_contact(actor_of(LOGINS["other_hoster"], hoster_two.id), contact)
        for membership in hoster_two.memberships:
            membership.user.active = False
        db.session.commit()
        counts = reminders.send_agreement_reminders(utcnow())
        expected = len(expected_incomplete(world.hoster))
    assert counts == {"hosters": 1, "packages": expected, "failed": 0, "unreachable": 1}
    [mail] = smtp.wait_for(2, timeout=2)
    assert "hoster@two.example" not in mail.rcpt_tos


def test_the_weekly_task_and_its_schedule(
    mail_app: Flask, smtp: SMTPSink, tenancies: Tenancies
) -> None:
    celery = mail_app.extensions["celery"]
    assert celery.conf.beat_schedule["agreement-reminders"] == {
        "task": "workers.tasks.send_agreement_reminders",
        "schedule": timedelta(days=7),
    }
    counts = tasks.send_agreement_reminders.apply().get()
    assert counts["hosters"] == 3 and counts["failed"] == 0
    assert len(smtp.wait_for(3)) == 3


# --- contacts a package serves, marked where they are kept -----------------------------------

UNSAFE_MARK = "served by package {0} — not used for {0}’s own warnings"


def contacts_page(app: Flask, email: str) -> str:
    client = https_client(app)
    assert login(client, email, PASSWORD).status_code == 302
    response = client.get("/contacts")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def contact_row(page: str, value: str) -> str:
    """The table row of the contact ``value``."""
    start = page.index(f"<td>{value}")
    return page[start : page.index("</tr>", start)]


def test_contacts_served_by_the_partys_own_packages_are_marked(world_app: Flask) -> None:
    with world_app.app_context():
        world = World.load()
        hoster = actor_of(LOGINS["hoster"], world.hoster)
        owner_beta = party(world.other_owner)
        parties.add_contact(hoster, owner_beta, "email", "info@beta.example", "")
        parties.add_contact(hoster, owner_beta, "webhook", "https://beta.example/hook", "")
        # served by a package, but not one of Owner Beta's: no concern of its warnings
        parties.add_contact(hoster, owner_beta, "email", "owner@alpha.example", "")
        parties.add_contact(hoster, party(world.hoster), "email", "desk@alpha-extra.example", "")

    page = contacts_page(world_app, LOGINS["other_owner"])
    beta_mark = UNSAFE_MARK.format("beta")
    assert beta_mark in contact_row(page, "info@beta.example")
    assert beta_mark in contact_row(page, "https://beta.example/hook")
    assert "served by package" not in contact_row(page, "owner@alpha.example")
    assert "served by package" not in contact_row(page, "other_owner@elsewhere.example")
    assert page.count("served by package") == 2
    # it can still be reached elsewhere, so no warning about that
    assert "Every contact of" not in page

    # the hoster's own packages are all of its packages
    hoster_page = contacts_page(world_app, LOGINS["hoster"])
    assert UNSAFE_MARK.format("alpha") in contact_row(hoster_page, "desk@alpha-extra.example")
    assert hoster_page.count("served by package") == 1


def test_a_party_reachable_only_through_its_package_is_warned(world_app: Flask) -> None:
    with world_app.app_context():
        world = World.load()
        only_contact(party(world.other_owner), "email", "info@beta.example")
    page = contacts_page(world_app, LOGINS["other_owner"])
    assert UNSAFE_MARK.format("beta") in contact_row(page, "info@beta.example")
    assert "Every contact of Owner Beta is served by package beta" in page


def test_served_by_packages_lists_each_serving_package(ctx: World, hoster: Actor) -> None:
    owner = party(ctx.owner)  # Owner Alpha, on alpha (alpha.example, alpha-extra.example)
    contact = parties.add_contact(hoster, owner, "email", "me@alpha-extra.example", "")
    served = agreements.served_by_packages(owner, [package("beta"), package("alpha")])
    assert served == {contact.id: ["alpha"]}
    assert agreements.served_by_packages(owner, []) == {}


def test_the_hosters_party_page_marks_contacts_the_partys_packages_serve(
    world_app: Flask,
) -> None:
    with world_app.app_context():
        world = World.load()
        hoster = actor_of(LOGINS["hoster"], world.hoster)
        parties.add_contact(hoster, party(world.other_owner), "email", "info@beta.example", "")
    client = https_client(world_app)
    assert login(client, LOGINS["hoster"], PASSWORD).status_code == 302
    page = client.get(f"/hoster/parties/{world.other_owner}").get_data(as_text=True)
    assert UNSAFE_MARK.format("beta") in contact_row(page, "info@beta.example")
    assert "served by package" not in contact_row(page, "other_owner@elsewhere.example")
