"""A small seeded world for the tests: two hosters, and around hoster one's packages
alpha and beta a builder and an owner each; so every role has an own and a foreign object.

Hoster one has terms ("Standard terms", the default matrix), applied to beta: version 1 of
beta's agreement, acknowledged by nobody yet. Alpha has no agreement, so its roles can
change freely (with an agreement, a change of party makes a new version)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from panel.extensions import db
from panel.models import (
    Agreement,
    Contact,
    Domain,
    HostedDatabase,
    HostingNode,
    Mailbox,
    Membership,
    Package,
    Party,
    PartyKind,
    Plan,
    Site,
    TermsTemplate,
    User,
)
from panel.policy.agreement import (
    DEFAULT_DEADLINES,
    DEFAULT_GRACE,
    DEFAULT_MATRIX,
    DEFAULT_THRESHOLDS,
)
from panel.services import accounts, agreements, catalog, invitations, packages, parties
from panel.services.scope import Actor

PASSWORD = "correct horse battery"
MIB = 1024 * 1024
SECRET_FOR_SEED = "seed-only"

# role name -> login email
LOGINS = {
    "hoster": "hoster@one.example",
    "other_hoster": "hoster@two.example",
    "builder": "builder@one.example",
    "other_builder": "builder2@one.example",
    "owner": "owner@one.example",
    "other_owner": "owner2@one.example",
}
ROLES = ["anonymous", *LOGINS]

TERMS_NAME = "Standard terms"
TERMS_EN = "These are the terms of Hoster one.\n\nStorage is shared by mail and website."
TERMS_NL = "Dit zijn de voorwaarden van Hoster one.\n\nMail en website delen de opslag."

# A valid plan as the plan form posts it.
PLAN_FORM = {
    "name": "Plan X",
    "storage_quota_bytes": "200 MiB",
    "mailbox_count": "5",
    "default_mailbox_quota_bytes": "50 MiB",
    "notice_percent": "80",
    "warning_percent": "90",
    "critical_percent": "100",
}


def _person(party: Party, email: str, name: str) -> None:
    user = User(email=email, name=name, password_hash=accounts.hash_password(PASSWORD))
    db.session.add(user)
    db.session.flush()
    db.session.add(Membership(user_id=user.id, party_id=party.id))
    db.session.commit()


def tenancy(label: str, hoster_email: str, language: str = "en") -> tuple[Actor, Plan, HostingNode]:
    """A hoster "Hoster <label>" with its first login, a 150 MiB plan and a cPanel node."""
    user = accounts.create_hoster(f"Hoster {label}", hoster_email, PASSWORD, language)
    actor = Actor.for_membership(user, user.memberships[0].party)
    plan = catalog.save_plan(
        actor,
        None,
        {
            "name": f"Plan {label}",
            "storage_quota_bytes": 150 * MIB,
            "mailbox_count": 3,
            "default_mailbox_quota_bytes": 50 * MIB,
            "notice_percent": 80,
            "warning_percent": 90,
            "critical_percent": 100,
        },
    )
    node = catalog.save_node(
        actor,
        None,
        {
            "name": f"node-{label}",
            "layout": "cpanel",
            "home_template": "",
            "mail_template": "",
            "docroot_template": "",
        },
    )
    return actor, plan, node


def _package(
    actor: Actor, plan: Plan, node: HostingNode, name: str, owner: Party, builder: Party | None
) -> Package:
    package = packages.create_package(
        actor,
        {"name": name, "plan_id": plan.id, "node_id": node.id, "status": "active"},
        owner,
        builder,
        [f"{name}.example"],
    )
    packages.save_mailbox(actor, package, None, "info", f"{name}.example", None)
    packages.save_site(actor, package, None, f"{name}.example", "public_html")
    packages.save_database(actor, package, None, f"wp_{name}", "mysql")
    return package


def build_world() -> None:
    actor, plan, node = tenancy("one", LOGINS["hoster"])
    builder = parties.create_party(actor, PartyKind.BUILDER, "Builder One", "nl")
    builder2 = parties.create_party(actor, PartyKind.BUILDER, "Builder Two", "en")
    owner = parties.create_party(actor, PartyKind.OWNER, "Owner Alpha", "nl")
    owner2 = parties.create_party(actor, PartyKind.OWNER, "Owner Beta", "en")
    for party, role in (
        (builder, "builder"),
        (builder2, "other_builder"),
        (owner, "owner"),
        (owner2, "other_owner"),
    ):
        _person(party, LOGINS[role], party.name)
        parties.add_contact(actor, party, "email", f"{role}@elsewhere.example", "")
    alpha = _package(actor, plan, node, "alpha", owner, builder)
    packages.add_domain(actor, alpha, "alpha-extra.example")
    catalog.save_plan(
        actor,
        None,
        {
            "name": "Plan spare",
            "storage_quota_bytes": 1024 * MIB,
            "mailbox_count": 10,
            "default_mailbox_quota_bytes": 100 * MIB,
            "notice_percent": 80,
            "warning_percent": 90,
            "critical_percent": 100,
        },
    )
    catalog.save_node(
        actor,
        None,
        {
            "name": "node-spare",
            "layout": "vmail",
            "home_template": "",
            "mail_template": "",
            "docroot_template": "",
        },
    )
    beta = _package(actor, plan, node, "beta", owner2, builder2)
    hoster = db.session.get(Party, actor.party_id)
    assert hoster is not None
    # the hoster, too, is a party to its agreements and needs an address outside them
    parties.add_contact(actor, hoster, "email", "hoster@elsewhere.example", "")
    terms = agreements.save_template(
        actor,
        None,
        {
            "name": TERMS_NAME,
            "text_en": TERMS_EN,
            "text_nl": TERMS_NL,
            "matrix": DEFAULT_MATRIX,
            "thresholds": DEFAULT_THRESHOLDS,
            "deadlines": DEFAULT_DEADLINES,
            "grace": DEFAULT_GRACE,
        },
    )
    # on beta, so that alpha's roles can still change freely in the tests
    agreements.apply_template(actor, beta, terms)
    invitations.invite(actor, owner, "new.person@one.example", "New Person", SECRET_FOR_SEED)

    actor2, plan2, node2 = tenancy("two", LOGINS["other_hoster"])
    owner3 = parties.create_party(actor2, PartyKind.OWNER, "Owner Gamma", "en")
    _package(actor2, plan2, node2, "gamma", owner3, None)


@dataclass
class World:
    """Ids of the seeded objects, looked up by name so tests read like the story."""

    ids: dict[str, int]

    def __getattr__(self, name: str) -> int:
        try:
            return self.ids[name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    @classmethod
    def load(cls) -> World:
        def one(stmt: object) -> int:
            return db.session.scalars(stmt).one()  # type: ignore[arg-type]

        def party(name: str) -> int:
            return one(select(Party.id).where(Party.name == name))

        def package(name: str) -> int:
            return one(select(Package.id).where(Package.name == name))

        ids = {
            "hoster": party("Hoster one"),
            "other_hoster": party("Hoster two"),
            "builder": party("Builder One"),
            "other_builder": party("Builder Two"),
            "owner": party("Owner Alpha"),
            "other_owner": party("Owner Beta"),
            "foreign_owner": party("Owner Gamma"),
            "package": package("alpha"),
            "other_package": package("beta"),
            "foreign_package": package("gamma"),
        }
        for prefix in ("", "foreign_"):
            pid = ids[f"{prefix}package"]
            ids[f"{prefix}plan"] = one(select(Package.plan_id).where(Package.id == pid))
            ids[f"{prefix}node"] = one(select(Package.node_id).where(Package.id == pid))
            ids[f"{prefix}domain"] = one(
                select(Domain.id).where(
                    Domain.package_id == pid,
                    Domain.name.like("%.example"),
                    Domain.name.not_like("%-extra.example"),
                )
            )
            ids[f"{prefix}mailbox"] = one(select(Mailbox.id).where(Mailbox.package_id == pid))
            ids[f"{prefix}site"] = one(select(Site.id).where(Site.package_id == pid))
            ids[f"{prefix}database"] = one(
                select(HostedDatabase.id).where(HostedDatabase.package_id == pid)
            )
        ids["spare_domain"] = one(select(Domain.id).where(Domain.name == "alpha-extra.example"))
        ids["spare_plan"] = one(select(Plan.id).where(Plan.name == "Plan spare"))
        ids["spare_node"] = one(select(HostingNode.id).where(HostingNode.name == "node-spare"))
        ids["terms"] = one(select(TermsTemplate.id).where(TermsTemplate.name == TERMS_NAME))
        ids["agreement"] = one(
            select(Agreement.id).where(Agreement.package_id == ids["other_package"])
        )
        for role in ("builder", "owner", "other_owner"):
            ids[f"{role}_contact"] = one(select(Contact.id).where(Contact.party_id == ids[role]))
        return cls(ids)


def actor_of(role: str) -> Actor:
    """The actor of a world login (``LOGINS`` key), in its first party."""
    user = db.session.scalars(select(User).where(User.email == LOGINS[role])).one()
    return Actor.for_membership(user, user.memberships[0].party)
