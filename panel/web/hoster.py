"""The hoster's pages: plans, nodes, parties, packages and everything in them, the audit log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from panel.extensions import db
from panel.measure.units import format_size
from panel.models import (
    Alert,
    Assignment,
    AuditEvent,
    Contact,
    Domain,
    HostedDatabase,
    HostingNode,
    Invitation,
    Mailbox,
    Notification,
    Package,
    Party,
    PartyKind,
    Plan,
    Role,
    Site,
    TermsTemplate,
    WorkerHeartbeat,
)
from panel.services import agreements, catalog, invitations, packages, parties, usage
from panel.services.dashboard import PackageFilters, hoster_packages, open_alerts, page_number
from panel.services.measurement import node_queue
from panel.services.scope import scoped
from panel.web.common import (
    PageResult,
    actor,
    handle_action,
    handle_form,
    role_required,
    scoped_or_404,
    submit,
)
from panel.web.forms import (
    ApplyTermsForm,
    AssignForm,
    ChangePlanForm,
    ConfirmForm,
    ContactForm,
    DatabaseForm,
    DomainForm,
    InviteForm,
    MailboxForm,
    NewPackageForm,
    NodeForm,
    PackageForm,
    PartyForm,
    PlanForm,
    SiteForm,
    TermsForm,
    field_values,
    options,
    terms_form_data,
)
from workers.tasks import measure_package, send_invitation

NOTIFICATIONS_SHOWN = 50  # the newest notifications about the package's alerts on its page

bp = Blueprint("hoster", __name__, url_prefix="/hoster")
AUDIT_PAGE_SIZE = 50


@bp.before_request
@role_required(PartyKind.HOSTER)
def _only_hosters() -> None:
    """Every page here is the hoster's."""


def _choices(model: type, label: str = "name", **filters: Any) -> list[SelectChoice]:
    stmt = scoped(model, actor()).filter_by(**filters).order_by(getattr(model, label))
    return options(*((obj.id, getattr(obj, label)) for obj in db.session.scalars(stmt)))


def _party_choices(kind: str) -> list[SelectChoice]:
    return _choices(Party, kind=kind, hoster_id=actor().tenant_id)


# --- dashboard -----------------------------------------------------------------------------


@bp.get("/")
def dashboard() -> str:
    """Packages riskiest first, filtered and paged, and the open alerts above them."""
    filters = PackageFilters.from_args(request.args)
    listing = hoster_packages(actor(), filters, page_number(request.args.get("page")))
    return render_template(
        "hoster/dashboard.html",
        listing=listing,
        filters=filters,
        alerts=open_alerts(actor()),
        heartbeat=db.session.scalar(select(func.max(WorkerHeartbeat.last_seen))),
    )


# --- plans and nodes --------------------------------------------------------------------------


def _catalog_form(
    model: type,
    object_id: int | None,
    form_class: type,
    save: Any,
    list_endpoint: str,
    titles: tuple[str, str],
) -> PageResult:
    """New/edit page of a plan or node: every form field goes to the service."""
    existing = scoped_or_404(model, object_id) if object_id else None
    form = form_class(obj=existing)
    fields = [field.name for field in form if field.name != "csrf_token"]
    return handle_form(
        form,
        lambda: save(actor(), existing, field_values(form, *fields)),
        _("Saved."),
        lambda _saved: url_for(list_endpoint),
        "form.html",
        title=titles[existing is not None],
        back=url_for(list_endpoint),
    )


def _catalog_delete(model: type, object_id: int, delete: Any, list_endpoint: str) -> Response:
    existing = scoped_or_404(model, object_id)
    return handle_action(lambda: delete(actor(), existing), _("Deleted."), url_for(list_endpoint))


@bp.get("/plans")
def plans() -> str:
    rows = db.session.scalars(scoped(Plan, actor()).order_by(Plan.name)).all()
    return render_template("hoster/plans.html", plans=rows, confirm=ConfirmForm())


@bp.route("/plans/new", methods=["GET", "POST"])
@bp.route("/plans/<int:plan_id>/edit", methods=["GET", "POST"])
def plan_form(plan_id: int | None = None) -> PageResult:
    return _catalog_form(
        Plan, plan_id, PlanForm, catalog.save_plan, "hoster.plans", (_("New plan"), _("Edit plan"))
    )


@bp.post("/plans/<int:plan_id>/delete")
def plan_delete(plan_id: int) -> Response:
    return _catalog_delete(Plan, plan_id, catalog.delete_plan, "hoster.plans")


@bp.get("/nodes")
def nodes() -> str:
    rows = db.session.scalars(scoped(HostingNode, actor()).order_by(HostingNode.name)).all()
    return render_template("hoster/nodes.html", nodes=rows, confirm=ConfirmForm())


@bp.route("/nodes/new", methods=["GET", "POST"])
@bp.route("/nodes/<int:node_id>/edit", methods=["GET", "POST"])
def node_form(node_id: int | None = None) -> PageResult:
    return _catalog_form(
        HostingNode,
        node_id,
        NodeForm,
        catalog.save_node,
        "hoster.nodes",
        (_("New hosting node"), _("Edit hosting node")),
    )


@bp.post("/nodes/<int:node_id>/delete")
def node_delete(node_id: int) -> Response:
    return _catalog_delete(HostingNode, node_id, catalog.delete_node, "hoster.nodes")


# --- terms templates ------------------------------------------------------------------------


def _own_terms(template_id: int) -> TermsTemplate:
    """A version of one of this hoster's terms templates, or 404."""
    template = db.session.get(TermsTemplate, template_id)
    if template is None or template.hoster_id != actor().tenant_id:
        abort(404)
    return template


@bp.get("/terms")
def terms_list() -> str:
    """The newest version of each terms template."""
    return render_template(
        "hoster/terms.html", templates=agreements.latest_templates(actor().tenant_id)
    )


@bp.route("/terms/new", methods=["GET", "POST"])
@bp.route("/terms/<int:template_id>/edit", methods=["GET", "POST"])
def terms_form(template_id: int | None = None) -> PageResult:
    """Write terms; editing saves a new version and leaves the old one as it was."""
    previous = _own_terms(template_id) if template_id else None
    form = TermsForm(data=terms_form_data(previous))
    if previous is not None:
        del form.name
    return handle_form(
        form,
        lambda: agreements.save_template(actor(), previous, form.values()),
        _("Terms saved."),
        lambda _t: url_for("hoster.terms_list"),
        "hoster/terms_form.html",
        previous=previous,
    )


# --- parties: clients and builders -----------------------------------------------------------


@bp.get("/parties")
def parties_list() -> str:
    rows = db.session.scalars(
        scoped(Party, actor())
        .where(Party.hoster_id == actor().tenant_id)
        .order_by(Party.kind, Party.name)
    ).all()
    return render_template("hoster/parties.html", parties=rows)


@bp.route("/parties/new", methods=["GET", "POST"])
def party_new() -> PageResult:
    form = PartyForm()
    return handle_form(
        form,
        lambda: parties.create_party(
            actor(), form.kind.data or "", form.name.data or "", form.language.data or "en"
        ),
        _("Party saved."),
        lambda p: url_for("hoster.party_detail", party_id=p.id),
        "form.html",
        title=_("New client or builder"),
        back=url_for("hoster.parties_list"),
    )


def _foreign_party(party_id: int) -> Party:
    """A client or builder of this hoster (not the hoster itself)."""
    party = scoped_or_404(Party, party_id)
    if party.kind == PartyKind.HOSTER:
        abort(404)
    return party


@bp.route("/parties/<int:party_id>/edit", methods=["GET", "POST"])
def party_edit(party_id: int) -> PageResult:
    party = _foreign_party(party_id)
    form = PartyForm(obj=party)
    del form.kind
    return handle_form(
        form,
        lambda: parties.update_party(
            actor(), party, form.name.data or "", form.language.data or "en"
        ),
        _("Party saved."),
        lambda p: url_for("hoster.party_detail", party_id=p.id),
        "form.html",
        title=_("Edit %(name)s", name=party.name),
        back=url_for("hoster.party_detail", party_id=party.id),
    )


def _party_page(party: Party, status: int = 200, **forms: Any) -> tuple[str, int]:
    """A client's or builder's page; a refused form is passed in to show its errors."""
    held = db.session.scalars(
        scoped(Assignment, actor())
        .where(Assignment.party_id == party.id)
        .options(selectinload(Assignment.package))
    ).all()
    open_invitations = db.session.scalars(
        scoped(Invitation, actor()).where(
            Invitation.party_id == party.id, Invitation.accepted_at.is_(None)
        )
    ).all()
    context: dict[str, Any] = {
        "contact_form": ContactForm(prefix="contact"),
        "invite_form": InviteForm(prefix="invite"),
        **forms,
    }
    page = render_template(
        "hoster/party.html",
        party=party,
        held=held,
        served=agreements.served_by_packages(party, [a.package for a in held]),
        invitations=open_invitations,
        confirm=ConfirmForm(),
        **context,
    )
    return page, status


@bp.get("/parties/<int:party_id>")
def party_detail(party_id: int) -> tuple[str, int]:
    return _party_page(_foreign_party(party_id))


@bp.post("/parties/<int:party_id>/contacts")
def contact_add(party_id: int) -> PageResult:
    party = _foreign_party(party_id)
    form = ContactForm(prefix="contact")
    done = submit(
        form,
        lambda: parties.add_contact(actor(), party, **form.values()),
        _("Contact added."),
        lambda _c: url_for("hoster.party_detail", party_id=party.id),
    )
    return done or _party_page(party, 400, contact_form=form)


@bp.post("/contacts/<int:contact_id>/delete")
def contact_delete(contact_id: int) -> Response:
    contact = scoped_or_404(Contact, contact_id)
    back = url_for("hoster.party_detail", party_id=contact.party_id)
    return handle_action(
        lambda: parties.remove_contact(actor(), contact), _("Contact removed."), back
    )


@bp.post("/parties/<int:party_id>/invite")
def party_invite(party_id: int) -> PageResult:
    party = _foreign_party(party_id)
    form = InviteForm(prefix="invite")
    if not form.validate_on_submit():
        return _party_page(party, 400, invite_form=form)
    invitation, token = invitations.invite(
        actor(),
        party,
        form.email.data or "",
        form.name.data or "",
        current_app.config["SECRET_KEY"],
    )
    link = url_for("auth.accept_invitation", token=token, _external=True)
    send_invitation.delay(invitation.id, link)
    flash(
        _(
            "Invitation sent to %(email)s. The link, valid for a week: %(link)s",
            email=invitation.email,
            link=link,
        ),
        "success",
    )
    return redirect(url_for("hoster.party_detail", party_id=party.id))


# --- packages ---------------------------------------------------------------------------------


def _package_choices(form: PackageForm) -> None:
    form.plan_id.choices = _choices(Plan)
    form.node_id.choices = _choices(HostingNode)


@bp.route("/packages/new", methods=["GET", "POST"])
def package_new() -> PageResult:
    form = NewPackageForm()
    _package_choices(form)
    form.owner_id.choices = _party_choices(PartyKind.OWNER)
    form.builder_id.choices = [*options((0, _("— none —"))), *_party_choices(PartyKind.BUILDER)]

    def save() -> Package:
        owner = scoped_or_404(Party, form.owner_id.data)
        builder = scoped_or_404(Party, form.builder_id.data) if form.builder_id.data else None
        return packages.create_package(
            actor(),
            field_values(form, "name", "plan_id", "node_id", "status"),
            owner,
            builder,
            (form.domains.data or "").split(),
        )

    return handle_form(
        form,
        save,
        _("Package created."),
        lambda p: url_for("hoster.package_detail", package_id=p.id),
        "form.html",
        title=_("New package"),
        back=url_for("hoster.dashboard"),
    )


@bp.route("/packages/<int:package_id>/edit", methods=["GET", "POST"])
def package_edit(package_id: int) -> PageResult:
    package = scoped_or_404(Package, package_id)
    form = PackageForm(obj=package)
    _package_choices(form)
    return handle_form(
        form,
        lambda: packages.update_package(
            actor(), package, field_values(form, "name", "plan_id", "node_id", "status")
        ),
        _("Package saved."),
        lambda p: url_for("hoster.package_detail", package_id=p.id),
        "form.html",
        title=_("Edit package %(name)s", name=package.name),
        back=url_for("hoster.package_detail", package_id=package.id),
    )


def _package_forms(package: Package) -> dict[str, Any]:
    assign_form = AssignForm(prefix="assign")
    assign_form.party_id.choices = [
        (0, _("— nobody —")),
        *_party_choices(PartyKind.OWNER),
        *_party_choices(PartyKind.BUILDER),
    ]
    mailbox_form = MailboxForm(prefix="mailbox")
    mailbox_form.domain.choices = options(*((d.name, d.name) for d in package.domains))
    plan_form = ChangePlanForm(prefix="plan")
    plan_form.plan_id.choices = options(
        *(
            (plan.id, f"{plan.name} ({format_size(plan.storage_quota_bytes)})")
            for plan in db.session.scalars(
                scoped(Plan, actor())
                .where(Plan.id != package.plan_id)
                .order_by(Plan.storage_quota_bytes, Plan.name)
            )
        )
    )
    agreement_form = ApplyTermsForm(prefix="terms")
    agreement_form.template_id.choices = options(
        *(
            (t.id, _("%(name)s, version %(version)s", name=t.name, version=t.version))
            for t in agreements.latest_templates(actor().tenant_id)
        )
    )
    return {
        "agreement_form": agreement_form,
        "plan_form": plan_form,
        "assign_form": assign_form,
        "domain_form": DomainForm(prefix="domain"),
        "mailbox_form": mailbox_form,
        "site_form": SiteForm(prefix="site"),
        "database_form": DatabaseForm(prefix="database"),
        "confirm": ConfirmForm(),
    }


def _package_page(package: Package, status: int = 200, **forms: Any) -> tuple[str, int]:
    context = {**_package_forms(package), **forms}
    figures = usage.views_of([package])[package.id]
    told = db.session.scalars(
        scoped(Notification, actor())
        .join(Alert, Notification.alert_id == Alert.id)
        .where(Alert.package_id == package.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(NOTIFICATIONS_SHOWN)
        .options(selectinload(Notification.party), selectinload(Notification.alert))
    ).all()
    page = render_template(
        "hoster/package.html",
        package=package,
        usage=figures,
        history=usage.usage_history_for(package),
        notifications=told,
        agreement_state=agreements.states_of([package.id])[package.id],
        **context,
    )
    return page, status


@bp.get("/packages/<int:package_id>")
def package_detail(package_id: int) -> tuple[str, int]:
    return _package_page(scoped_or_404(Package, package_id))


def _package_post(
    package: Package, form_name: str, form: Any, save: Any, success: str
) -> PageResult:
    """A form on the package page: on success back to the page, else the page with errors."""
    back = url_for("hoster.package_detail", package_id=package.id)
    return submit(form, save, success, lambda _r: back) or _package_page(
        package, 400, **{form_name: form}
    )


@bp.post("/packages/<int:package_id>/measure")
def package_measure(package_id: int) -> Response:
    """Measure now: the package's node worker scans it and records the figures."""
    package = scoped_or_404(Package, package_id)
    queue = node_queue(package.node, current_app.config)
    measure_package.apply_async(args=[package.id], queue=queue)
    flash(_("Measurement queued; the figures appear when the node's worker has run it."), "success")
    return redirect(url_for("hoster.package_detail", package_id=package.id))


@bp.post("/packages/<int:package_id>/assign")
def package_assign(package_id: int) -> PageResult:
    package = scoped_or_404(Package, package_id)
    form = _package_forms(package)["assign_form"]

    def save() -> None:
        party = scoped_or_404(Party, form.party_id.data) if form.party_id.data else None
        packages.assign(actor(), package, Role(form.role.data), party)

    return _package_post(package, "assign_form", form, save, _("Assignment saved."))


@bp.post("/packages/<int:package_id>/agreement")
def package_agreement(package_id: int) -> PageResult:
    """Apply terms: the package's next agreement version, for every party to acknowledge."""
    package = scoped_or_404(Package, package_id)
    form = _package_forms(package)["agreement_form"]
    return _package_post(
        package,
        "agreement_form",
        form,
        lambda: agreements.apply_template(actor(), package, _own_terms(form.template_id.data)),
        _("Agreement made; every party is asked to acknowledge it."),
    )


@bp.post("/packages/<int:package_id>/plan")
def package_plan(package_id: int) -> PageResult:
    """Upgrade (or change) the package's plan: audited, the agreement reissued."""
    package = scoped_or_404(Package, package_id)
    form = _package_forms(package)["plan_form"]
    return _package_post(
        package,
        "plan_form",
        form,
        lambda: packages.change_plan(actor(), package, scoped_or_404(Plan, form.plan_id.data).id),
        _("Plan changed; the agreement is reissued for every party to acknowledge."),
    )


@bp.post("/packages/<int:package_id>/domains")
def domain_add(package_id: int) -> PageResult:
    package = scoped_or_404(Package, package_id)
    form = DomainForm(prefix="domain")
    return _package_post(
        package,
        "domain_form",
        form,
        lambda: packages.add_domain(actor(), package, form.name.data or ""),
        _("Domain added."),
    )


@bp.post("/domains/<int:domain_id>/delete")
def domain_delete(domain_id: int) -> Response:
    domain = scoped_or_404(Domain, domain_id)
    back = url_for("hoster.package_detail", package_id=domain.package_id)
    return handle_action(
        lambda: packages.remove_domain(actor(), domain), _("Domain removed."), back
    )


@bp.post("/packages/<int:package_id>/mailboxes")
def mailbox_add(package_id: int) -> PageResult:
    package = scoped_or_404(Package, package_id)
    form = _package_forms(package)["mailbox_form"]
    return _package_post(
        package,
        "mailbox_form",
        form,
        lambda: packages.save_mailbox(
            actor(),
            package,
            None,
            form.local.data or "",
            form.domain.data or "",
            form.quota_bytes.data,
        ),
        _("Mailbox created."),
    )


@bp.route("/mailboxes/<int:mailbox_id>/edit", methods=["GET", "POST"])
def mailbox_edit(mailbox_id: int) -> PageResult:
    mailbox = scoped_or_404(Mailbox, mailbox_id)
    package = mailbox.package
    local, _at, domain = mailbox.address.partition("@")
    form = MailboxForm(obj=mailbox, data={"local": local, "domain": domain})
    form.domain.choices = options(*((d.name, d.name) for d in package.domains))
    return handle_form(
        form,
        lambda: packages.save_mailbox(
            actor(),
            package,
            mailbox,
            form.local.data or "",
            form.domain.data or "",
            form.quota_bytes.data,
        ),
        _("Mailbox saved."),
        lambda _m: url_for("hoster.package_detail", package_id=package.id),
        "form.html",
        title=_("Edit mailbox %(address)s", address=mailbox.address),
        back=url_for("hoster.package_detail", package_id=package.id),
    )


@bp.post("/packages/<int:package_id>/sites")
def site_add(package_id: int) -> PageResult:
    package = scoped_or_404(Package, package_id)
    form = SiteForm(prefix="site")
    return _package_post(
        package,
        "site_form",
        form,
        lambda: packages.save_site(
            actor(), package, None, form.domain.data or "", form.docroot.data or ""
        ),
        _("Site added."),
    )


@bp.post("/packages/<int:package_id>/databases")
def database_add(package_id: int) -> PageResult:
    package = scoped_or_404(Package, package_id)
    form = DatabaseForm(prefix="database")
    return _package_post(
        package,
        "database_form",
        form,
        lambda: packages.save_database(
            actor(), package, None, form.name.data or "", form.engine.data or ""
        ),
        _("Database added."),
    )


PARTS: dict[str, type[Mailbox] | type[Site] | type[HostedDatabase]] = {
    "mailboxes": Mailbox,
    "sites": Site,
    "databases": HostedDatabase,
}


@bp.post("/<any(mailboxes, sites, databases):kind>/<int:part_id>/delete")
def part_delete(kind: str, part_id: int) -> Response:
    part = scoped_or_404(PARTS[kind], part_id)
    back = url_for("hoster.package_detail", package_id=part.package_id)
    return handle_action(lambda: packages.remove_part(actor(), part), _("Removed."), back)


# --- audit ------------------------------------------------------------------------------------


@bp.get("/audit")
def audit_log() -> str:
    page = max(request.args.get("page", 1, type=int), 1)
    subject = request.args.get("subject", "")
    stmt = scoped(AuditEvent, actor())
    if subject:
        stmt = stmt.where(AuditEvent.subject_type == subject)
    events = db.session.scalars(
        stmt.options(selectinload(AuditEvent.actor_user))
        .order_by(AuditEvent.id.desc())
        .offset((page - 1) * AUDIT_PAGE_SIZE)
        .limit(AUDIT_PAGE_SIZE + 1)
    ).all()
    subjects = db.session.scalars(
        scoped(AuditEvent, actor())
        .with_only_columns(AuditEvent.subject_type)
        .distinct()
        .order_by(AuditEvent.subject_type)
    ).all()
    return render_template(
        "hoster/audit.html",
        events=events[:AUDIT_PAGE_SIZE],
        page=page,
        has_next=len(events) > AUDIT_PAGE_SIZE,
        subject=subject,
        subjects=subjects,
    )
