"""Logging in and out, accepting an invitation, switching party, own preferences."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from limits import parse as parse_limit
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from panel.extensions import db, limiter
from panel.models import Contact, Package, Party
from panel.services import accounts, agreements, invitations, parties
from panel.services.contact_test import send_test
from panel.services.errors import ServiceError
from panel.services.scope import scoped
from panel.web.common import (
    PageResult,
    actor,
    current_actor,
    handle_action,
    handle_form,
    scoped_or_404,
)
from panel.web.forms import (
    ConfirmForm,
    ContactForm,
    LoginForm,
    PasswordChangeForm,
    PreferencesForm,
    SetPasswordForm,
    SwitchPartyForm,
)

bp = Blueprint("auth", __name__)

HOME_OF_KIND = {
    "hoster": "hoster.dashboard",
    "builder": "builder.dashboard",
    "owner": "client.dashboard",
}


def _home() -> Response:
    found = current_actor()
    if found is None:
        return redirect(url_for("auth.account"))
    return redirect(url_for(HOME_OF_KIND[found.kind]))


def _login_limit() -> str:
    return str(current_app.config["ONUS_LOGIN_LIMIT"])


@bp.get("/")
def index() -> Response:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return _home()


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login() -> PageResult:
    if current_user.is_authenticated:
        return _home()
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data or "", form.password.data or "")
        if user is not None:
            session.clear()
            login_user(user)
            return _home()
        form.form_errors.append(_("Wrong email address or password."))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout() -> Response:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    logout_user()
    session.clear()
    flash(_("You are logged out."), "success")
    return redirect(url_for("auth.login"))


@bp.route("/invite/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def accept_invitation(token: str) -> PageResult:
    secret = current_app.config["SECRET_KEY"]
    max_age = current_app.config["ONUS_INVITE_MAX_AGE"]
    try:
        invitation = invitations.pending_invitation(token, secret, max_age)
    except ServiceError as exc:
        return render_template(
            "error.html", status=410, title=_("Invitation"), message=str(exc)
        ), 410
    form = SetPasswordForm()
    if request.method == "GET":
        form.name.data = invitation.name

    def save() -> object:
        user = invitations.accept(
            token, secret, max_age, form.name.data or "", form.password.data or ""
        )
        session.clear()
        login_user(user)
        session["party_id"] = invitation.party_id
        return user

    return handle_form(
        form,
        save,
        _("Welcome to Onus."),
        lambda _u: url_for("auth.index"),
        "auth/invitation.html",
        invitation=invitation,
    )


@bp.post("/switch")
@login_required
def switch_party() -> Response:
    form = SwitchPartyForm()
    if not form.validate_on_submit():
        abort(400)
    wanted = int(form.party_id.data) if str(form.party_id.data).isdigit() else -1
    if wanted not in {p.id for p in accounts.parties_of(current_user)}:
        abort(404)
    session["party_id"] = wanted
    return redirect(url_for("auth.index"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account() -> PageResult:
    form = PreferencesForm(obj=current_user)
    return handle_form(
        form,
        lambda: accounts.change_preferences(
            current_user, form.language.data or "en", form.timezone.data or "UTC"
        ),
        _("Your preferences are saved."),
        lambda _r: url_for("auth.account"),
        "auth/account.html",
        password_form=PasswordChangeForm(prefix="pw"),
    )


@bp.post("/account/password")
@login_required
@limiter.limit(_login_limit)
def change_password() -> PageResult:
    password_form = PasswordChangeForm(prefix="pw")
    return handle_form(
        password_form,
        lambda: accounts.change_password(
            current_user, password_form.current.data or "", password_form.password.data or ""
        ),
        _("Your password is changed."),
        lambda _r: url_for("auth.account"),
        "auth/account.html",
        password_form=password_form,
        preferences_form=PreferencesForm(obj=current_user),
    )


@bp.route("/contacts", methods=["GET", "POST"])
@login_required
def contacts() -> PageResult:
    """The acting party's own out-of-band contacts, where Onus will reach it; an address
    one of its own packages serves is marked, as it fails when that package is full."""
    me = actor()
    party = scoped_or_404(Party, me.party_id)
    own_packages = db.session.scalars(
        scoped(Package, me).options(selectinload(Package.domains))
    ).all()
    form = ContactForm()
    return handle_form(
        form,
        lambda: parties.add_contact(me, party, **form.values()),
        _("Contact added."),
        lambda _c: url_for("auth.contacts"),
        "auth/contacts.html",
        party=party,
        served=agreements.served_by_packages(party, own_packages),
        confirm=ConfirmForm(),
    )


@bp.post("/contacts/<int:contact_id>/delete")
@login_required
def contact_delete(contact_id: int) -> Response:
    contact = scoped_or_404(Contact, contact_id)
    if contact.party_id != actor().party_id:
        abort(404)
    return handle_action(
        lambda: parties.remove_contact(actor(), contact),
        _("Contact removed."),
        url_for("auth.contacts"),
    )


@bp.post("/contacts/<int:contact_id>/secret")
@login_required
def contact_secret(contact_id: int) -> Response:
    """A new signing key for one of the party's own webhooks (audited, without the key)."""
    contact = scoped_or_404(Contact, contact_id)
    if contact.party_id != actor().party_id:
        abort(404)
    return handle_action(
        lambda: parties.renew_secret(actor(), contact),
        _(
            "A new key is made: posts are signed with it from now on. Put it where your "
            "receiver checks the signature."
        ),
        url_for("auth.contacts"),
    )


# at most this many test messages to one contact: a button must not become a mail cannon
CONTACT_TEST_LIMIT = parse_limit("5 per hour")


def _back_to(default: str) -> str:
    """The page the button was on (a path of this panel only), else ``default``."""
    wanted = request.form.get("next", "")
    if wanted.startswith("/") and not wanted.startswith("//") and "\\" not in wanted:
        return wanted
    return default


@bp.post("/contacts/<int:contact_id>/test")
@login_required
def contact_test(contact_id: int) -> PageResult:
    """Send one test message to one of the party's own contacts now, and say what happened.

    Limited per contact; only a test that is really sent counts, so a refused request
    (another party's contact, an old form) uses up nobody's tests."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    contact = scoped_or_404(Contact, contact_id)
    if contact.party_id != actor().party_id:
        abort(404)
    if limiter.enabled and not limiter.limiter.hit(
        CONTACT_TEST_LIMIT, "contact-test", str(contact.id)
    ):
        return render_template(
            "error.html",
            status=429,
            title=_("Too many test messages"),
            message=_(
                "At most 5 test messages an hour go to one contact. Wait a while and try again."
            ),
        ), 429
    try:
        outcome = send_test(actor(), contact)
    except ServiceError as exc:
        flash(str(exc), "error")
    else:
        flash(outcome.words, "success" if outcome.sent else "error")
    return redirect(_back_to(url_for("auth.contacts")))
