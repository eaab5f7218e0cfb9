"""Terms templates and package agreements: writing, applying, acknowledging, asking who
answered. Nothing is changed in place; every step is a new row and an audit event."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from flask_babel import gettext
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from panel.extensions import db
from panel.labels import label
from panel.models import (
    Acknowledgement,
    Agreement,
    Contact,
    Package,
    Party,
    TermsTemplate,
)
from panel.models.base import utcnow
from panel.policy import agreement as policy
from panel.policy.wording import LANGUAGES, plain_words
from panel.services import audit, records
from panel.services.errors import ServiceError
from panel.services.scope import Actor

MAX_TEXT = 20_000


def policy_message(exc: policy.PolicyError) -> str:
    """The core's refusal in the reader's language, its codes in words."""
    params = {
        key: label(value) if key in ("category", "role", "level") else value
        for key, value in exc.params.items()
    }
    return gettext(exc.message, **params)


def _policy_checked(call: Any, *args: Any) -> None:
    try:
        call(*args)
    except policy.PolicyError as exc:
        raise ServiceError(policy_message(exc)) from exc


# --- terms templates ----------------------------------------------------------------------


def save_template(
    actor: Actor, previous: TermsTemplate | None, values: dict[str, Any]
) -> TermsTemplate:
    """A new template, or a new version of ``previous``: old versions stay as they were."""
    if not actor.is_hoster:
        raise ServiceError(_("Only the hoster can do this."))
    name = (previous.name if previous else values["name"]).strip()
    if not name:
        raise ServiceError(_("A template needs a name."))
    for language in LANGUAGES:
        text = values[f"text_{language}"].strip()
        if not text or len(text) > MAX_TEXT:
            raise ServiceError(
                _("Write the terms in English and in Dutch (at most 20,000 characters each).")
            )
    _policy_checked(policy.check_matrix, values["matrix"])
    _policy_checked(policy.check_thresholds, values["thresholds"], values["deadlines"])
    _policy_checked(policy.check_grace, values["grace"])
    newest = db.session.scalar(
        select(func.max(TermsTemplate.version)).where(
            TermsTemplate.hoster_id == actor.tenant_id, TermsTemplate.name == name
        )
    )
    if previous is None and newest:
        raise ServiceError(_("A template named %(name)s exists already.", name=name))
    template = TermsTemplate(
        hoster_id=actor.tenant_id,
        name=name,
        version=(newest or 0) + 1,
        text_en=values["text_en"].strip(),
        text_nl=values["text_nl"].strip(),
        matrix=values["matrix"],
        thresholds=values["thresholds"],
        deadlines=values["deadlines"],
        grace=values["grace"],
        created_by_id=actor.user_id,
    )
    return records.create(
        actor,
        template,
        f"Terms {name} version {template.version} written",
        _("A template named %(name)s exists already.", name=name),
    )


def latest_templates(tenant_id: int) -> list[TermsTemplate]:
    """The newest version of each of a hoster's templates."""
    newest = (
        select(TermsTemplate.name, func.max(TermsTemplate.version).label("version"))
        .where(TermsTemplate.hoster_id == tenant_id)
        .group_by(TermsTemplate.name)
        .subquery()
    )
    return list(
        db.session.scalars(
            select(TermsTemplate)
            .join(
                newest,
                (TermsTemplate.name == newest.c.name) & (TermsTemplate.version == newest.c.version),
            )
            .where(TermsTemplate.hoster_id == tenant_id)
            .order_by(TermsTemplate.name)
        )
    )


# --- contacts that still work when the package is full -------------------------------------


def served_by(contact: Contact, domains: Iterable[str]) -> bool:
    """Whether the contact's address (or webhook host) is at one of these domains: a
    warning about the package would then go into the package that is in trouble."""
    if contact.kind == "email":
        host = contact.value.rpartition("@")[2].lower()
    else:
        host = (urlparse(contact.value).hostname or "").lower()
    return any(host == d or host.endswith("." + d) for d in domains)


def package_domains(package: Package) -> list[str]:
    return [d.name for d in package.domains]


def served_by_packages(party: Party, packages: Iterable[Package]) -> dict[int, list[str]]:
    """For each of the party's contacts that one of ``packages`` serves, those packages'
    names: a warning about such a package must not rely on that address."""
    served: dict[int, list[str]] = {}
    for package in sorted(packages, key=lambda p: p.name):
        domains = package_domains(package)
        for contact in party.contacts:
            if served_by(contact, domains):
                served.setdefault(contact.id, []).append(package.name)
    return served


def unsafe_contact_ids(packages: Sequence[Package]) -> set[int]:
    """Contacts of these packages' parties that the package itself serves."""
    unsafe = set()
    for package in packages:
        domains = package_domains(package)
        for assignment in package.assignments:
            unsafe |= {c.id for c in assignment.party.contacts if served_by(c, domains)}
    return unsafe


def _check_contacts(package: Package, parties: Iterable[Party] | None = None) -> None:
    domains = package_domains(package)
    for party in parties if parties is not None else [a.party for a in package.assignments]:
        if not party.contacts:
            raise ServiceError(
                _("%(party)s has no contact address: add one before agreeing.", party=party.name)
            )
        if all(served_by(c, domains) for c in party.contacts):
            raise ServiceError(
                _(
                    "%(party)s can only be reached at %(address)s, which this package serves: a "
                    "warning about a full mailbox would go into that mailbox. Add an address "
                    "elsewhere first.",
                    party=party.name,
                    address=party.contacts[0].value,
                )
            )


# --- agreements -----------------------------------------------------------------------------


def current(package_id: int) -> Agreement | None:
    return db.session.scalars(
        select(Agreement)
        .where(Agreement.package_id == package_id)
        .order_by(Agreement.version.desc())
        .limit(1)
    ).first()


def current_of(package_ids: Iterable[int]) -> dict[int, Agreement]:
    """Each package's agreement in force (its newest version), for those that have one, in
    one query however many packages."""
    ids = list(package_ids)
    newest = (
        select(Agreement.package_id, func.max(Agreement.version).label("version"))
        .where(Agreement.package_id.in_(ids))
        .group_by(Agreement.package_id)
        .subquery()
    )
    return {
        agreement.package_id: agreement
        for agreement in db.session.scalars(
            select(Agreement).join(
                newest,
                (Agreement.package_id == newest.c.package_id)
                & (Agreement.version == newest.c.version),
            )
        )
    }


def versions(package_id: int) -> list[Agreement]:
    return list(
        db.session.scalars(
            select(Agreement)
            .where(Agreement.package_id == package_id)
            .order_by(Agreement.version)
            .options(selectinload(Agreement.acknowledgements))
        )
    )


def apply_template(
    actor: Actor, package: Package, template: TermsTemplate, reason: str = "terms applied"
) -> Agreement:
    """The package's next agreement version, from ``template`` and the package as it is now."""
    if not actor.is_hoster or template.hoster_id != actor.tenant_id:
        raise ServiceError(_("Only the hoster can do this."))
    parties = {a.role: a.party_id for a in package.assignments}
    _policy_checked(policy.check_matrix, template.matrix, parties)
    _check_contacts(package)
    plan = package.plan
    previous = current(package.id)
    agreement = Agreement(
        package_id=package.id,
        version=(previous.version + 1) if previous else 1,
        template_id=template.id,
        reason=reason[:200],
        text_en=template.text_en,
        text_nl=template.text_nl,
        matrix=template.matrix,
        thresholds=template.thresholds,
        deadlines=template.deadlines,
        grace=template.grace,
        limits={
            "storage_quota_bytes": plan.storage_quota_bytes,
            "mailbox_count": plan.mailbox_count,
            "default_mailbox_quota_bytes": plan.default_mailbox_quota_bytes,
        },
        parties=parties,
        party_names={a.role: a.party.name for a in package.assignments},
        created_by_id=actor.user_id,
    )
    return records.create(
        actor,
        agreement,
        f"Agreement {agreement.version} for {package.name}: {reason}",
        _("The agreement changed meanwhile; try again."),
    )


def check_new_party(package: Package, role: str, party: Party | None) -> None:
    """Before a role changes hands on a package that has an agreement: the new version
    must be possible (someone answers for every category, every party can be reached),
    so the change is refused before anything is saved rather than half-done."""
    agreement = current(package.id)
    if agreement is None:
        return
    parties = {a.role: a.party for a in package.assignments if a.role != role}
    if party is not None:
        parties[role] = party
    _policy_checked(policy.check_matrix, agreement.matrix, parties)
    _check_contacts(package, parties.values())


def check_reissue(package: Package) -> None:
    """Before another change that reissues the agreement (a new plan): the same checks,
    with the parties as they are."""
    agreement = current(package.id)
    if agreement is None:
        return
    _policy_checked(policy.check_matrix, agreement.matrix, [a.role for a in package.assignments])
    _check_contacts(package)


def reissue(actor: Actor, package: Package, reason: str) -> Agreement | None:
    """After a change to what the agreement says (plan, parties), a new version to
    acknowledge; None when the package has no agreement yet."""
    previous = current(package.id)
    if previous is None:
        return None
    db.session.refresh(package)
    return apply_template(actor, package, previous.template, reason)


def shown_text(agreement: Agreement, role: str, language: str) -> str:
    """Exactly what a party in ``role`` reads, in ``language``: the terms, then plain words."""
    language = language if language in LANGUAGES else "en"
    terms = agreement.text_nl if language == "nl" else agreement.text_en
    summary = plain_words(
        language,
        agreement.matrix,
        agreement.party_names,
        agreement.limits,
        agreement.thresholds,
        agreement.deadlines,
        agreement.grace,
        role,
    )
    return f"{terms}\n\n{summary}"


def role_of(agreement: Agreement, party_id: int) -> str | None:
    return next((r for r, p in agreement.parties.items() if p == party_id), None)


def acknowledge(actor: Actor, agreement: Agreement, address: str, language: str) -> Acknowledgement:
    """Record that the actor's party read and accepts this version, with the text it saw."""
    role = role_of(agreement, actor.party_id)
    if role is None:
        raise ServiceError(_("Your party is not part of this agreement."))
    newest = current(agreement.package_id)
    if newest is None or newest.id != agreement.id:
        raise ServiceError(
            _("A newer version of this agreement exists: read and acknowledge that one.")
        )
    if any(a.party_id == actor.party_id for a in agreement.acknowledgements):
        raise ServiceError(_("Your party has acknowledged this version already."))
    language = language if language in LANGUAGES else "en"  # the language actually shown
    text = shown_text(agreement, role, language)
    ack = Acknowledgement(
        agreement_id=agreement.id,
        party_id=actor.party_id,
        role=role,
        user_id=actor.user_id,
        at=utcnow(),
        address=address[:64],
        language=language,
        text=text,
        text_hash=policy.text_hash(text),
    )
    db.session.add(ack)
    try:
        db.session.flush()
    except IntegrityError as exc:  # the same party, acknowledging twice at once
        db.session.rollback()
        raise ServiceError(_("Your party has acknowledged this version already.")) from exc
    audit.record(
        actor,
        "acknowledge",
        ack,
        f"Agreement {agreement.version} of {agreement.package.name} acknowledged as {role}",
        None,
        audit.snapshot(ack),
    )
    db.session.commit()
    return ack


@dataclass(frozen=True)
class AgreementState:
    """Agreed by all / waiting for (parties) since (date) / no agreement."""

    kind: str  # "none", "waiting" or "agreed"
    version: int | None = None
    since: datetime | None = None
    waiting_for: list[str] = field(default_factory=list)
    pending: frozenset[int] = frozenset()  # ids of the parties that still have to acknowledge


def _state(agreement: Agreement | None, acked: set[int]) -> AgreementState:
    if agreement is None:
        return AgreementState("none")
    waiting = [
        agreement.party_names.get(role, role)
        for role, party_id in sorted(agreement.parties.items())
        if party_id not in acked
    ]
    if waiting:
        pending = frozenset(p for p in agreement.parties.values() if p not in acked)
        return AgreementState("waiting", agreement.version, agreement.created_at, waiting, pending)
    return AgreementState("agreed", agreement.version, agreement.created_at)


def states_of(package_ids: Iterable[int]) -> dict[int, AgreementState]:
    """Each package's agreement state, in two queries however many packages."""
    ids = list(package_ids)
    agreements = current_of(ids)
    acked: dict[int, set[int]] = {}
    if agreements:
        rows = db.session.execute(
            select(Acknowledgement.agreement_id, Acknowledgement.party_id).where(
                Acknowledgement.agreement_id.in_([a.id for a in agreements.values()])
            )
        )
        for agreement_id, party_id in rows:
            acked.setdefault(agreement_id, set()).add(party_id)
    return {
        pid: _state(
            agreements.get(pid),
            acked.get(agreements[pid].id, set()) if pid in agreements else set(),
        )
        for pid in ids
    }


def who_answered(
    package_id: int, category: str, at: datetime, history: Sequence[Agreement] | None = None
) -> list[tuple[policy.Answerer, Party]]:
    """Who answered for ``category`` of the package at ``at``, from the versions and the
    acknowledgements made by then (``history``: the package's versions, read already)."""
    if history is None:
        history = versions(package_id)
    found = policy.who_answered(
        [policy.Version(a.version, a.created_at, a.matrix, a.parties) for a in history],
        [
            policy.Acknowledged(a.version, ack.party_id, ack.at)
            for a in history
            for ack in a.acknowledgements
        ],
        category,
        at,
    )
    return [(answerer, db.session.get(Party, answerer.party_id)) for answerer in found]


def incomplete_by_hoster() -> dict[int, list[tuple[Package, AgreementState]]]:
    """Per hoster, its active packages without an agreement acknowledged by all."""
    packages = list(
        db.session.scalars(select(Package).where(Package.status == "active").order_by(Package.name))
    )
    states = states_of(p.id for p in packages)
    found: dict[int, list[tuple[Package, AgreementState]]] = {}
    for package in packages:
        if states[package.id].kind != "agreed":
            found.setdefault(package.hoster_id, []).append((package, states[package.id]))
    return found
