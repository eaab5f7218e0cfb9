"""What every view shares: the acting party, scoped lookups and the form round trip."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, TypeVar

from flask import (
    abort,
    flash,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from panel.extensions import db
from panel.models import Assignment, Package, PartyKind
from panel.services import agreements, space, usage
from panel.services.accounts import actor_for, parties_of
from panel.services.errors import NotFound, ServiceError
from panel.services.scope import Actor, get_scoped, scoped

M = TypeVar("M")
F = TypeVar("F", bound=Callable[..., Any])
PageResult = Response | str | tuple[str, int]


def current_actor() -> Actor | None:
    """The logged-in person acting for the party chosen in the session (or their first)."""
    if not current_user.is_authenticated:
        return None
    if g.get("actor") is None:
        g.actor = actor_for(current_user, session.get("party_id"))
    return g.actor


def bearer_token() -> str:
    """The token of the request's ``Authorization: Bearer …`` header, or "": how the API
    and the metrics are called (never by the session cookie)."""
    scheme, _sep, raw = request.headers.get("Authorization", "").partition(" ")
    return raw.strip() if scheme.lower() == "bearer" else ""


def actor() -> Actor:
    """The current actor inside a view that requires one."""
    found = current_actor()
    if found is None:
        abort(403)
    return found


PACKAGE_PAGES = {
    PartyKind.HOSTER: "hoster.package_detail",
    PartyKind.BUILDER: "builder.package_detail",
    PartyKind.OWNER: "client.package_detail",
}


def package_page(package_id: int) -> str:
    """The package's page for the viewer's audience."""
    return url_for(PACKAGE_PAGES[actor().kind], package_id=package_id)


def role_required(kind: str) -> Callable[[F], F]:
    """Only a logged-in person acting for a party of ``kind``; others get 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            found = current_actor()
            if found is None or found.kind != kind:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def scoped_or_404(model: type[M], object_id: Any) -> M:
    """An object visible to the current actor, or 404 (foreign and missing look alike)."""
    try:
        return get_scoped(model, object_id, actor())
    except NotFound:
        abort(404)


def submit(
    form: FlaskForm, save: Callable[[], object], success: str, redirect_to: Callable[[Any], str]
) -> Response | None:
    """Validate and call the service: the redirect on success, else None with the reason
    added to ``form.form_errors`` for the page to show."""
    if form.validate_on_submit():
        try:
            result = save()
        except ServiceError as exc:
            form.form_errors.append(str(exc))
        else:
            flash(success, "success")
            return redirect(redirect_to(result))
    return None


def handle_form(
    form: FlaskForm,
    save: Callable[[], object],
    success: str,
    redirect_to: Callable[[Any], str],
    template: str,
    **context: Any,
) -> PageResult:
    """A form page: submit, or show the form with its errors.

    A refused POST answers 400 so that nothing-was-saved is visible to scripts too.
    """
    done = submit(form, save, success, redirect_to)
    if done is not None:
        return done
    status = 400 if request.method == "POST" else 200
    return render_template(template, form=form, **context), status


def handle_action(action: Callable[[], object], success: str, redirect_to: str) -> Response:
    """A POST button (remove, assign): run it, flash the outcome, go back."""
    try:
        action()
    except ServiceError as exc:
        flash(str(exc), "error")
    else:
        flash(success, "success")
    return redirect(redirect_to)


def inject_navigation() -> dict[str, Any]:
    """The acting party and the parties a person may switch to, for the layout."""
    found = current_actor() if has_request_context() else None
    if found is None:
        return {"acting": None, "switchable": []}
    parties = parties_of(current_user)
    acting = next(p for p in parties if p.id == found.party_id)
    return {"acting": acting, "switchable": parties}


def agreement_states(
    packages: Sequence[Package],
) -> tuple[dict[int, agreements.AgreementState], set[int]]:
    """Each package's agreement state, and the packages whose newest agreement the acting
    party still has to acknowledge."""
    states = agreements.states_of(p.id for p in packages)
    party_id = actor().party_id
    to_acknowledge = {pid for pid, state in states.items() if party_id in state.pending}
    return states, to_acknowledge


def package_pages(bp: Any, kind: str) -> None:
    """The read-only package list and package page of a builder or an owner.

    Both audiences see the same facts about the packages their party holds a role on;
    what differs is the template (an owner's page speaks plainer words).
    """

    @bp.before_request
    @role_required(kind)
    def _only_this_audience() -> None:
        """Every page here belongs to one audience."""

    @bp.get("/")
    def dashboard() -> str:
        rows = db.session.scalars(
            scoped(Package, actor())
            .options(
                selectinload(Package.assignments).selectinload(Assignment.party),
                selectinload(Package.domains),
                selectinload(Package.plan),
                selectinload(Package.mailboxes),
                selectinload(Package.sites),
            )
            .order_by(Package.name)
        ).all()
        states, to_acknowledge = agreement_states(rows)
        me = actor()
        return render_template(
            f"{bp.name}/dashboard.html",
            packages=rows,
            usage=usage.views_of(rows),
            states=states,
            to_acknowledge=to_acknowledge,
            overview=space.builder_overview(me) if kind == PartyKind.BUILDER else None,
            spaces=(
                {found.package.id: found for found in space.owner_spaces(me)}
                if kind == PartyKind.OWNER
                else {}
            ),
        )

    @bp.get("/packages/<int:package_id>")
    def package_detail(package_id: int) -> str:
        package = scoped_or_404(Package, package_id)
        figures = usage.views_of([package])[package.id]
        states, to_acknowledge = agreement_states([package])
        return render_template(
            f"{bp.name}/package.html",
            package=package,
            usage=figures,
            history=usage.usage_history_for(package),
            agreement_state=states[package.id],
            must_acknowledge=package.id in to_acknowledge,
        )
