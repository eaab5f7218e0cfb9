"""A person's API tokens: made, listed and revoked in the panel. A token acts as its person
in the party they were acting for when they made it; its secret is shown once."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from panel.models import ApiToken
from panel.models.base import utcnow
from panel.services import api_tokens
from panel.services.errors import ServiceError
from panel.web.common import PageResult, actor, handle_action, scoped_or_404
from panel.web.forms import ApiTokenForm, ConfirmForm

bp = Blueprint("tokens", __name__)


def _page(form: ApiTokenForm, status: int = 200, secret: str = "") -> tuple[str, int]:
    return render_template(
        "auth/tokens.html",
        form=form,
        tokens=api_tokens.tokens_of(actor()),
        secret=secret,
        confirm=ConfirmForm(),
        api_base=request.host_url + "api/v1",
    ), status


@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def token_list() -> PageResult:
    """The page answers the POST itself (no redirect), so the new secret is shown once and
    is never stored anywhere it could be shown again."""
    form = ApiTokenForm()
    if request.method == "GET":
        return _page(form)
    if form.validate_on_submit():
        try:
            _token, secret = api_tokens.create(actor(), form.name.data or "")
        except ServiceError as exc:
            form.form_errors.append(str(exc))
        else:
            return _page(ApiTokenForm(formdata=None), 201, secret)
    return _page(form, 400)


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def token_revoke(token_id: int) -> Response:
    token = scoped_or_404(ApiToken, token_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return handle_action(
        lambda: api_tokens.revoke(actor(), token, utcnow()),
        _("Token %(name)s revoked: it no longer works.", name=token.name),
        url_for("tokens.token_list"),
    )
