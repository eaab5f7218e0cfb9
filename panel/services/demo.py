"""The story of DESIGN.md as data: a hoster, the friend who builds sites, the sports school.

Loading it twice changes nothing but the passwords, so a demo can be reset to known logins.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from panel.extensions import db
from panel.hostingtree import build_story_tree, write_story_mail_log
from panel.models import HostingNode, Membership, Package, Party, PartyKind, User
from panel.policy import agreement as policy
from panel.services import accounts, agreements, catalog, mailflow, packages, parties
from panel.services.scope import Actor

MIB = 1024 * 1024


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    role: str


# (party kind, party name, language, login email, person's name)
PEOPLE = [
    (PartyKind.HOSTER, "Snelhost", "nl", "hoster@snelhost.example", "Henk (Snelhost)"),
    (PartyKind.BUILDER, "Webbouwer", "nl", "jan@webbouwer.example", "Jan (Webbouwer)"),
    (PartyKind.BUILDER, "Pixelwerk", "en", "studio@pixelwerk.example", "Pia (Pixelwerk)"),
    (
        PartyKind.OWNER,
        "Sportschool De Sprint",
        "nl",
        "directie@sprint-post.example",
        "Sanne (De Sprint)",
    ),
    (PartyKind.OWNER, "Bakkerij Van Dam", "nl", "bakker@vandam-post.example", "Bram (Van Dam)"),
    (PartyKind.OWNER, "Jan de Vries", "nl", "jan@webbouwer.example", "Jan (Webbouwer)"),
]

MAIL_LOG = "log/mail.log"  # the node's Postfix log, under the node's root

# package name, owner, builder, domain, mailbox locals, database
PACKAGES = [
    (
        "sprint",
        "Sportschool De Sprint",
        "Webbouwer",
        "sportschool-desprint.nl",
        ["info", "ledenadministratie", "trainers"],
        "wp_sprint",
    ),
    (
        "vandam",
        "Bakkerij Van Dam",
        "Pixelwerk",
        "bakkerijvandam.nl",
        ["info", "bestellingen"],
        "wp_vandam",
    ),
    ("jandevries", "Jan de Vries", None, "jandevries.nl", ["jan"], None),
]


@dataclass(frozen=True)
class DemoStory:
    logins: list[DemoLogin]
    node_id: int


def load_story(password: str | None, node_root: Path) -> DemoStory:
    """Create the story's parties, plan, node and packages (once), and its hosting tree on
    disk under ``node_root`` (once); set every login's password."""
    password = password or secrets.token_urlsafe(12)
    if not (node_root / "home").exists():
        build_story_tree(node_root)
    if not (node_root / MAIL_LOG).exists():
        write_story_mail_log(node_root / MAIL_LOG)
    _kind, hoster_name, hoster_lang, hoster_email, hoster_person = PEOPLE[0]
    hoster_user = accounts.find_user(hoster_email)
    if hoster_user is None:
        hoster_user = accounts.create_hoster(hoster_name, hoster_email, password, hoster_lang)
        hoster_user.name = hoster_person
        _build_tenancy(hoster_user, password, node_root)
    roles: dict[str, list[str]] = {}
    for kind, _name, _lang, email, _person in PEOPLE:
        roles.setdefault(email, []).append(kind)
    for email in roles:
        user = accounts.find_user(email)
        assert user is not None, email
        user.password_hash = accounts.hash_password(password)
    db.session.commit()
    node_id = db.session.scalars(
        select(HostingNode.id).where(HostingNode.hoster_id == hoster_user.memberships[0].party_id)
    ).one()
    logins = [DemoLogin(email, password, " + ".join(kinds)) for email, kinds in roles.items()]
    return DemoStory(logins, node_id)


def _build_tenancy(hoster_user: User, password: str, node_root: Path) -> None:
    hoster = hoster_user.memberships[0].party
    actor = Actor.for_membership(hoster_user, hoster)
    by_name: dict[str, Party] = {hoster.name: hoster}
    for kind, name, language, email, person in PEOPLE[1:]:
        party = parties.create_party(actor, kind, name, language)
        by_name[name] = party
        user = accounts.find_user(email)
        if user is None:
            user = User(
                email=email,
                name=person,
                language=language,
                password_hash=accounts.hash_password(password),
            )
            db.session.add(user)
            db.session.flush()
        db.session.add(Membership(user_id=user.id, party_id=party.id))
        parties.add_contact(actor, party, "email", email, "")
    parties.add_contact(actor, hoster, "email", PEOPLE[0][3], "")
    plan = catalog.save_plan(
        actor,
        None,
        {
            "name": "Start 150 MB",
            "storage_quota_bytes": 150 * MIB,
            "mailbox_count": 5,
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
            "name": "node1",
            "layout": "cpanel",
            "home_template": f"{node_root}/home/{{package}}",
            "mail_template": "",
            "docroot_template": "",
        },
    )
    for name, owner, builder, domain, locals_, database in PACKAGES:
        package = packages.create_package(
            actor,
            {"name": name, "plan_id": plan.id, "node_id": node.id, "status": "active"},
            by_name[owner],
            by_name[builder] if builder else None,
            [domain],
        )
        for local in locals_:
            packages.save_mailbox(actor, package, None, local, domain, None)
        packages.save_site(actor, package, None, domain, "public_html")
        if database:
            packages.save_database(actor, package, None, database, "mysql")
    _agree_on_the_bakery(actor)
    mailflow.add_source(actor, node.id, str(node_root / MAIL_LOG), "postfix")


TERMS_EN = (
    "Snelhost hosts your website and mail on the package below. Each party watches the parts "
    "it answers for and acts on the warnings it receives; Snelhost warns the right party in "
    "time, at an address outside the package."
)
TERMS_NL = (
    "Snelhost host je website en mail op het pakket hieronder. Elke partij let op de "
    "onderdelen waarvoor zij verantwoordelijk is en handelt naar de waarschuwingen die zij "
    "krijgt; Snelhost waarschuwt de juiste partij op tijd, op een adres buiten het pakket."
)


def _agree_on_the_bakery(actor: Actor) -> None:
    """The bakery has agreed terms (its owner has yet to acknowledge the latest); the
    school, as in the story, has agreed nothing."""
    terms = agreements.save_template(
        actor,
        None,
        {
            "name": "Standaardvoorwaarden",
            "text_en": TERMS_EN,
            "text_nl": TERMS_NL,
            "matrix": policy.DEFAULT_MATRIX,
            "thresholds": policy.DEFAULT_THRESHOLDS,
            "deadlines": policy.DEFAULT_DEADLINES,
            "grace": policy.DEFAULT_GRACE,
        },
    )
    bakery = db.session.scalars(select(Package).where(Package.name == "vandam")).one()
    agreement = agreements.apply_template(actor, bakery, terms)
    pixelwerk = accounts.find_user(PEOPLE[2][3])
    assert pixelwerk is not None
    agreements.acknowledge(actor, agreement, "127.0.0.1", "nl")
    builder = Actor.for_membership(pixelwerk, pixelwerk.memberships[0].party)
    agreements.acknowledge(builder, agreement, "127.0.0.1", "en")
