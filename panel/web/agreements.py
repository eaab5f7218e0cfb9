"""A package's agreement, for every party around it: read it, see who acknowledged, accept it.

The agreement is reached only through its package's scope: an agreement of a package the
actor cannot see answers 404, like the package itself.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from panel.extensions import db
from panel.models import Agreement, Package
from panel.policy.agreement import ROLES
from panel.policy.wording import LANGUAGES
from panel.services import agreements
from panel.web.common import PageResult, actor, package_page, scoped_or_404, submit
from panel.web.forms import ConfirmForm

bp = Blueprint("agreements", __name__)


@bp.before_request
@login_required
def _logged_in() -> None:
    """Every page here is for a logged-in party; which packages, the scope decides."""


def _language() -> str:
    """The viewer's language, as the terms are written in it (English otherwise)."""
    language = str(current_user.language)
    return language if language in LANGUAGES else "en"


def _agreement_or_404(agreement_id: int) -> tuple[Agreement, Package]:
    """An agreement version and its package, if the actor may see the package."""
    agreement = db.session.get(Agreement, agreement_id)
    if agreement is None:
        abort(404)
    return agreement, scoped_or_404(Package, agreement.package_id)


def _acknowledgement_rows(agreement: Agreement) -> list[dict[str, Any]]:
    """Each party of the version with its acknowledgement (None while it has none)."""
    by_party = {ack.party_id: ack for ack in agreement.acknowledgements}
    return [
        {
            "role": role,
            "party": agreement.party_names.get(role, role),
            "ack": by_party.get(agreement.parties[role]),
        }
        for role in ROLES
        if role in agreement.parties
    ]


def _page(
    package: Package,
    agreement: Agreement | None,
    form: ConfirmForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """The agreement page: one version's text for the viewer, acknowledgements, versions."""
    me = actor()
    language = _language()
    context: dict[str, Any] = {
        "package": package,
        "agreement": agreement,
        "package_page": package_page(package.id),
        "language": language,
    }
    if agreement is not None:
        newest = agreements.current(package.id)
        my_role = agreements.role_of(agreement, me.party_id)
        acknowledged = any(a.party_id == me.party_id for a in agreement.acknowledgements)
        context.update(
            newest=newest,
            versions=agreements.versions(package.id),
            state=agreements.states_of([package.id])[package.id],
            text=agreements.shown_text(agreement, my_role or me.kind, language),
            rows=_acknowledgement_rows(agreement),
            my_role=my_role,
            acknowledged=acknowledged,
            form=form or ConfirmForm(),
            can_acknowledge=(
                my_role is not None
                and newest is not None
                and newest.id == agreement.id
                and not acknowledged
            ),
        )
    return render_template("agreements/agreement.html", **context), status


@bp.get("/packages/<int:package_id>/agreement")
def package_agreement(package_id: int) -> tuple[str, int]:
    """The agreement in force now (its newest version), or word that there is none."""
    package = scoped_or_404(Package, package_id)
    return _page(package, agreements.current(package.id))


@bp.get("/agreements/<int:agreement_id>")
def agreement_version(agreement_id: int) -> tuple[str, int]:
    """One version, the newest or an older one (marked as superseded)."""
    agreement, package = _agreement_or_404(agreement_id)
    return _page(package, agreement)


@bp.post("/agreements/<int:agreement_id>/acknowledge")
def acknowledge(agreement_id: int) -> PageResult:
    """The viewer's party reads and accepts this version; refused (400) with the reason."""
    agreement, package = _agreement_or_404(agreement_id)
    form = ConfirmForm()
    done = submit(
        form,
        lambda: agreements.acknowledge(actor(), agreement, request.remote_addr or "", _language()),
        _("Thank you: your acknowledgement is recorded."),
        lambda _ack: url_for("agreements.package_agreement", package_id=package.id),
    )
    return done or _page(package, agreement, form, 400)
