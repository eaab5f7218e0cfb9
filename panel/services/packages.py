"""Packages and what lives in them: domains, role assignments, mailboxes, sites, databases."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from panel.extensions import db
from panel.models import (
    Assignment,
    Domain,
    HostedDatabase,
    HostingNode,
    Mailbox,
    Package,
    PackageStatus,
    Party,
    PartyKind,
    Plan,
    Role,
    Site,
)
from panel.services import agreements, audit, records
from panel.services.errors import ServiceError
from panel.services.scope import Actor

PACKAGE_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
DOMAIN_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
LOCAL_PART = re.compile(r"^[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?$")
DATABASE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
DOCROOT = re.compile(r"^[A-Za-z0-9._/-]{1,300}$")
ROLE_KIND = {
    Role.OWNER: PartyKind.OWNER,
    Role.BUILDER: PartyKind.BUILDER,
    Role.HOSTER: PartyKind.HOSTER,
}


def _require_hoster(actor: Actor) -> None:
    if not actor.is_hoster:
        raise ServiceError(_("Only the hoster can do this."))


def clean_domain(name: str) -> str:
    domain = name.strip().lower().rstrip(".")
    if not DOMAIN_NAME.match(domain):
        raise ServiceError(_("%(name)s is not a domain name.", name=repr(name)))
    return domain


def _check_package(actor: Actor, values: dict[str, Any]) -> None:
    if not PACKAGE_NAME.match(values["name"]):
        raise ServiceError(
            _("An account name is 2–32 lowercase letters, digits, - or _, starting with a letter.")
        )
    if values["status"] not in tuple(PackageStatus):
        raise ServiceError(_("Unknown package status."))
    for key, model in (("plan_id", Plan), ("node_id", HostingNode)):
        obj = db.session.get(model, values[key])
        if obj is None or obj.hoster_id != actor.tenant_id:
            raise ServiceError(
                _("Choose one of your own plans.")
                if model is Plan
                else _("Choose one of your own hosting nodes.")
            )


def _check_party(actor: Actor, party: Party | None, role: Role) -> None:
    if party is None:
        return
    if party.kind != ROLE_KIND[role] or party.tenant_id != actor.tenant_id:
        raise ServiceError(
            _("Choose one of your own builders for the builder role.")
            if role == Role.BUILDER
            else _("Choose one of your own owners for the owner role.")
        )


def create_package(
    actor: Actor,
    values: dict[str, Any],
    owner: Party,
    builder: Party | None,
    domains: list[str],
) -> Package:
    """A new package with the hoster, owner (and builder) roles assigned and its domains."""
    _require_hoster(actor)
    _check_package(actor, values)
    _check_party(actor, owner, Role.OWNER)
    _check_party(actor, builder, Role.BUILDER)
    package = Package(hoster_id=actor.tenant_id, **values)
    cleaned = dict.fromkeys(clean_domain(d) for d in domains if d.strip())
    package.domains = [Domain(name=name) for name in cleaned]
    package.assignments = [
        Assignment(role=Role.HOSTER, party_id=actor.tenant_id),
        Assignment(role=Role.OWNER, party_id=owner.id),
    ]
    if builder is not None:
        package.assignments.append(Assignment(role=Role.BUILDER, party_id=builder.id))
    conflict = _("That account name or one of the domains is in use already.")
    records.create(actor, package, f"Package {package.name} created", conflict)
    for assignment in package.assignments:
        audit.record(
            actor,
            "assign",
            assignment,
            f"{assignment.role} of {package.name}: {assignment.party.name}",
            None,
            audit.snapshot(assignment),
        )
    records.commit_or_explain(conflict)
    return package


def update_package(actor: Actor, package: Package, values: dict[str, Any]) -> Package:
    """Change a package; a new plan changes the agreed limits, so the agreement is reissued."""
    _require_hoster(actor)
    _check_package(actor, values)
    plan_changed = values["plan_id"] != package.plan_id
    if plan_changed:
        agreements.check_reissue(package)
    records.update(
        actor,
        package,
        values,
        f"Package {values['name']} changed",
        _("That account name is in use already."),
    )
    if plan_changed:
        agreements.reissue(actor, package, f"plan changed to {package.plan.name}")
    return package


def change_plan(actor: Actor, package: Package, plan_id: int) -> Package:
    """Move a package to another of the hoster's plans (an upgrade, usually): audited, and
    the agreement is reissued with the new limits."""
    if plan_id == package.plan_id:
        raise ServiceError(_("The package is on this plan already."))
    values = {
        "name": package.name,
        "plan_id": plan_id,
        "node_id": package.node_id,
        "status": package.status,
    }
    return update_package(actor, package, values)


def assign(actor: Actor, package: Package, role: Role, party: Party | None) -> None:
    """Give ``role`` on ``package`` to ``party`` (None removes a builder). Audited."""
    _require_hoster(actor)
    if role == Role.HOSTER:
        raise ServiceError(_("The hoster role belongs to the hoster."))
    if party is None and role == Role.OWNER:
        raise ServiceError(_("A package always has an owner."))
    _check_party(actor, party, role)
    current = next((a for a in package.assignments if a.role == role), None)
    if current is not None and party is not None and current.party_id == party.id:
        return
    agreements.check_new_party(package, role, party)
    summary = f"{role} of {package.name}: {party.name if party else 'nobody'}"
    if current is None and party is not None:
        records.create(
            actor,
            Assignment(package_id=package.id, role=role, party_id=party.id),
            summary,
            _("Assignment not saved."),
        )
    elif current is not None and party is None:
        records.delete(actor, current, summary, _("Assignment not removed."))
    elif current is not None and party is not None:
        records.update(actor, current, {"party_id": party.id}, summary, _("Assignment not saved."))
    db.session.refresh(package)
    agreements.reissue(actor, package, summary)


def add_domain(actor: Actor, package: Package, name: str) -> Domain:
    _require_hoster(actor)
    domain = Domain(package_id=package.id, name=clean_domain(name))
    return records.create(
        actor,
        domain,
        f"Domain {domain.name} added to {package.name}",
        _("%(domain)s is served by a package already.", domain=domain.name),
    )


def remove_domain(actor: Actor, domain: Domain) -> None:
    _require_hoster(actor)
    suffix = "@" + domain.name
    if any(m.address.endswith(suffix) for m in domain.package.mailboxes):
        raise ServiceError(
            _("Mailboxes at %(domain)s exist; remove them first.", domain=domain.name)
        )
    records.delete(
        actor,
        domain,
        f"Domain {domain.name} removed from {domain.package.name}",
        _("Domain not removed."),
    )


def _mailbox_values(package: Package, local: str, domain: str, quota: int | None) -> dict[str, Any]:
    local = local.strip().lower()
    if not LOCAL_PART.match(local):
        raise ServiceError(_("%(name)s is not a usable mailbox name.", name=repr(local)))
    if domain not in {d.name for d in package.domains}:
        raise ServiceError(_("Choose one of the package's domains."))
    if quota is not None and quota > package.plan.storage_quota_bytes:
        raise ServiceError(_("A mailbox's quota cannot exceed the package's storage."))
    return {"address": f"{local}@{domain}", "quota_bytes": quota}


def save_mailbox(
    actor: Actor,
    package: Package,
    mailbox: Mailbox | None,
    local: str,
    domain: str,
    quota: int | None,
) -> Mailbox:
    """Create or change a mailbox within the plan's mailbox allowance."""
    _require_hoster(actor)
    values = _mailbox_values(package, local, domain, quota)
    conflict = _("%(address)s exists already.", address=values["address"])
    if mailbox is None:
        count = db.session.scalar(
            select(func.count()).select_from(Mailbox).where(Mailbox.package_id == package.id)
        )
        if (count or 0) >= package.plan.mailbox_count:
            raise ServiceError(
                ngettext(
                    "The plan allows %(num)d mailbox; it is in use.",
                    "The plan allows %(num)d mailboxes; all are in use.",
                    package.plan.mailbox_count,
                )
            )
    return records.save(
        actor,
        mailbox,
        Mailbox,
        values,
        f"Mailbox {values['address']}",
        conflict,
        package_id=package.id,
    )


def save_site(actor: Actor, package: Package, site: Site | None, domain: str, docroot: str) -> Site:
    _require_hoster(actor)
    domain = clean_domain(domain)
    docroot = docroot.strip().strip("/") or "public_html"
    if not DOCROOT.match(docroot) or ".." in docroot.split("/"):
        raise ServiceError(_("A document root is a folder inside the package's home."))
    values = {"domain": domain, "docroot": docroot}
    conflict = _("A site in %(docroot)s exists already.", docroot=docroot)
    return records.save(
        actor, site, Site, values, f"Site {domain}", conflict, package_id=package.id
    )


def save_database(
    actor: Actor, package: Package, database: HostedDatabase | None, name: str, engine: str
) -> HostedDatabase:
    _require_hoster(actor)
    if not DATABASE_NAME.match(name):
        raise ServiceError(_("A database name is 1–64 letters, digits or _."))
    if engine not in ("mysql", "postgresql"):
        raise ServiceError(_("The engine is MySQL/MariaDB or PostgreSQL."))
    values = {"name": name, "engine": engine}
    conflict = _("A database %(name)s exists already.", name=name)
    return records.save(
        actor,
        database,
        HostedDatabase,
        values,
        f"Database {name}",
        conflict,
        package_id=package.id,
    )


def remove_part(actor: Actor, part: Mailbox | Site | HostedDatabase) -> None:
    """Remove a mailbox, site or database from its package."""
    _require_hoster(actor)
    label = getattr(part, "address", None) or getattr(part, "domain", None) or part.name  # type: ignore[union-attr]
    records.delete(actor, part, f"{type(part).__name__} {label} removed", _("Not removed."))
