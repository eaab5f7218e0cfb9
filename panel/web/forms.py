"""WTForms forms: every field labelled, every limit stated, CSRF on all of them."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    Field,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)

from panel.measure.units import format_size, parse_size
from panel.services.accounts import MIN_PASSWORD_LENGTH
from panel.services.catalog import LAYOUT_PRESETS
from panel.web.labels import label_choices


def options(*pairs: tuple[Any, Any]) -> list[SelectChoice]:
    """Select options from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


LANGUAGE_CHOICES = options(("en", "English"), ("nl", "Nederlands"))
TIMEZONE_CHOICES = options(
    *sorted((tz, tz) for tz in available_timezones() if "/" in tz or tz == "UTC")
)


class SizeField(StringField):
    """A size typed as ``150 MiB`` or ``2 GiB``; ``data`` is bytes (None when left empty)."""

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return format_size(self.data) if self.data is not None else ""

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = (valuelist[0] if valuelist else "").strip()
        self.raw_data = valuelist
        if not text:
            self.data = None
            return
        try:
            self.data = parse_size(text)
        except ValueError as exc:
            self.data = None
            raise ValueError(str(exc)) from exc


def _size_help() -> Any:
    return _l("For example 150 MiB or 2 GiB (MB and MiB both mean 1024×1024 bytes).")


class LoginForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class SetPasswordForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=200)])
    password = PasswordField(
        _l("Password"), validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)]
    )
    confirm = PasswordField(
        _l("Password again"), validators=[EqualTo("password", message=_l("The passwords differ."))]
    )


class PreferencesForm(FlaskForm):
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)
    timezone = SelectField(_l("Time zone"), choices=TIMEZONE_CHOICES)


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    password = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)]
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[EqualTo("password", message=_l("The passwords differ."))],
    )


class SwitchPartyForm(FlaskForm):
    party_id = HiddenField(validators=[DataRequired()])


class ConfirmForm(FlaskForm):
    """An empty form: a POST button with its CSRF token."""


def _percent(label: Any, default: int) -> IntegerField:
    return IntegerField(label, default=default, validators=[InputRequired(), NumberRange(1, 200)])


class PlanForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    storage_quota_bytes = SizeField(
        _l("Storage (shared by mail and site)"),
        validators=[InputRequired()],
        description=_size_help(),
    )
    mailbox_count = IntegerField(
        _l("Number of mailboxes"), default=5, validators=[InputRequired(), NumberRange(1, 100000)]
    )
    default_mailbox_quota_bytes = SizeField(
        _l("Default mailbox quota"), validators=[InputRequired()], description=_size_help()
    )
    notice_percent = _percent(_l("Notice at (%)"), 80)
    warning_percent = _percent(_l("Warning at (%)"), 90)
    critical_percent = _percent(_l("Critical at (%)"), 100)


class NodeForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    layout = SelectField(
        _l("Path layout"), choices=options(*((k, k) for k in LAYOUT_PRESETS), ("custom", "custom"))
    )
    home_template = StringField(
        _l("Home folder"),
        validators=[Optional(), Length(max=300)],
        description=_l("Empty: the layout's default. Placeholders: {package}."),
    )
    mail_template = StringField(
        _l("Mailbox folder"),
        validators=[Optional(), Length(max=300)],
        description=_l("Empty: the layout's default. Placeholders: {home}, {domain}, {local}."),
    )
    docroot_template = StringField(
        _l("Website folder"),
        validators=[Optional(), Length(max=300)],
        description=_l("Empty: the layout's default. Placeholders: {home}."),
    )


class PartyForm(FlaskForm):
    kind = SelectField(
        _l("Kind"), choices=options(("owner", _l("Client (owner)")), ("builder", _l("Web builder")))
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)


class ContactForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=options(*label_choices("email", "webhook")))
    value = StringField(_l("Address or URL"), validators=[DataRequired(), Length(max=500)])
    label = StringField(_l("Label"), validators=[Optional(), Length(max=100)])


class InviteForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Email(), Length(max=254)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])


class PackageForm(FlaskForm):
    name = StringField(
        _l("Account name"),
        validators=[DataRequired(), Length(max=32)],
        description=_l("Lowercase letters, digits, - and _; used in the node's paths."),
    )
    plan_id = SelectField(_l("Plan"), coerce=int)
    node_id = SelectField(_l("Hosting node"), coerce=int)
    status = SelectField(
        _l("Status"),
        choices=options(*label_choices("active", "suspended", "cancelled")),
    )


class NewPackageForm(PackageForm):
    owner_id = SelectField(_l("Client (owner)"), coerce=int)
    builder_id = SelectField(_l("Web builder"), coerce=int)
    domains = TextAreaField(
        _l("Domains"),
        validators=[DataRequired(), Length(max=4000)],
        description=_l("One per line."),
    )


class AssignForm(FlaskForm):
    role = SelectField(_l("Role"), choices=options(*label_choices("owner", "builder")))
    party_id = SelectField(_l("Party"), coerce=int)


class DomainForm(FlaskForm):
    name = StringField(_l("Domain"), validators=[DataRequired(), Length(max=253)])


class MailboxForm(FlaskForm):
    local = StringField(_l("Name before the @"), validators=[DataRequired(), Length(max=64)])
    domain = SelectField(_l("Domain"))
    quota_bytes = SizeField(
        _l("Own quota"),
        validators=[Optional()],
        description=_l("Empty: the plan's default mailbox quota."),
    )


class SiteForm(FlaskForm):
    domain = StringField(_l("Domain"), validators=[DataRequired(), Length(max=253)])
    docroot = StringField(
        _l("Document root"),
        default="public_html",
        validators=[DataRequired(), Length(max=300)],
        description=_l("A folder inside the package's home."),
    )


class DatabaseForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=64)])
    engine = SelectField(
        _l("Engine"), choices=options(("mysql", "MySQL / MariaDB"), ("postgresql", "PostgreSQL"))
    )


def field_values(form: FlaskForm, *names: str) -> dict[str, Any]:
    """The named fields' data, for a service call."""
    fields: dict[str, Field] = form._fields  # type: ignore[assignment]
    return {name: fields[name].data for name in names}
