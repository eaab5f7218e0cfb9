"""WTForms forms: every field labelled, every limit stated, CSRF on all of them."""

from __future__ import annotations

from itertools import permutations
from typing import Any
from zoneinfo import available_timezones

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
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

from panel.labels import label, label_choices
from panel.measure.units import format_size, parse_size
from panel.policy.agreement import (
    AT_FULL,
    CATEGORIES,
    DEFAULT_DEADLINES,
    DEFAULT_GRACE,
    DEFAULT_MATRIX,
    DEFAULT_THRESHOLDS,
    LEVELS,
    ROLES,
    UPGRADES,
)
from panel.services.accounts import MIN_PASSWORD_LENGTH
from panel.services.catalog import LAYOUT_PRESETS


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
    webhook_format = SelectField(
        _l("Webhook format"),
        choices=options(("json", _l("JSON (Onus document)")), ("slack", _l("Slack / Mattermost"))),
        default="json",
        description=_l(
            "For a webhook only: Onus's JSON document, or the text message Slack and "
            "Mattermost incoming webhooks take."
        ),
    )

    def values(self) -> dict[str, str]:
        """The contact as ``parties.add_contact`` takes it."""
        return {
            "kind": self.kind.data or "",
            "value": self.value.data or "",
            "label": self.label.data or "",
            "webhook_format": self.webhook_format.data or "json",
        }


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


# --- terms templates: text, responsibility matrix, levels, grace --------------------------------

# A select's value for a list of roles: "owner,hoster"; the empty list is "" (responsible)
# or "none" (escalation).
RESPONSIBLE_SETS = (("owner",), ("builder",), ("hoster",), ("owner", "hoster"))
ESCALATION_ORDERS = (
    (),
    *((role,) for role in ROLES),
    *permutations(ROLES, 2),
)
NO_ESCALATION = "none"


def roles_value(roles: Any, empty: str = "") -> str:
    """The select value for a list of roles."""
    return ",".join(roles) or empty


def roles_of(value: str | None) -> list[str]:
    """The list of roles a select value stands for."""
    if not value or value == NO_ESCALATION:
        return []
    return value.split(",")


def _responsible_label(roles: Any) -> str:
    words = [label(role) for role in roles]
    if len(words) < 2:
        return "".join(words)
    return _("%(some)s and %(last)s", some=", ".join(words[:-1]), last=words[-1])


def _escalation_label(order: Any) -> str:
    return " → ".join(label(role) for role in order) if order else _("none")


def _hours(text: Any) -> IntegerField:
    return IntegerField(text, validators=[InputRequired(), NumberRange(0, 100000)])


class TermsForm(FlaskForm):
    """A terms template: its text in both languages and what it agrees.

    The matrix has a ``responsible_<category>`` and an ``escalation_<category>`` select per
    category (added below the class); ``values()`` gives what ``save_template`` takes.
    """

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    text_en = TextAreaField(
        _l("Terms in English"),
        validators=[DataRequired(), Length(max=20000)],
        description=_l("Plain text, shown as written (not HTML). At most 20,000 characters."),
    )
    text_nl = TextAreaField(
        _l("Terms in Dutch"),
        validators=[DataRequired(), Length(max=20000)],
        description=_l("Plain text, shown as written (not HTML). At most 20,000 characters."),
    )
    threshold_notice = _percent(_l("Notice at (%)"), DEFAULT_THRESHOLDS["notice"])
    threshold_warning = _percent(_l("Warning at (%)"), DEFAULT_THRESHOLDS["warning"])
    threshold_critical = _percent(_l("Critical at (%)"), DEFAULT_THRESHOLDS["critical"])
    deadline_notice = _hours(_l("A notice escalates after (hours)"))
    deadline_warning = _hours(_l("A warning escalates after (hours)"))
    deadline_critical = _hours(_l("A critical alert escalates after (hours)"))
    at_full = SelectField(_l("When a mailbox is full"))
    defer_hours = _hours(_l("Hold mail back for (hours)"))
    upgrade = SelectField(_l("When the package is full"))

    def __init__(self, *args: Any, data: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, data=data, **kwargs)
        fields: dict[str, Any] = self._fields  # type: ignore[assignment]
        stored = data or {}
        for category in CATEGORIES:
            responsible = fields[f"responsible_{category}"]
            responsible.choices = options(
                ("", _("— choose —")),
                *((roles_value(r), _responsible_label(r)) for r in RESPONSIBLE_SETS),
            )
            escalation = fields[f"escalation_{category}"]
            escalation.choices = options(
                *((roles_value(o, NO_ESCALATION), _escalation_label(o)) for o in ESCALATION_ORDERS)
            )
            # the edited version may hold a combination the choices do not offer: keep it
            # (only the stored one; a posted value must be one of the choices)
            for field, empty, describe in (
                (responsible, "", _responsible_label),
                (escalation, NO_ESCALATION, _escalation_label),
            ):
                value = stored.get(field.name)
                if value and value not in {c.value for c in field.choices}:
                    roles = roles_of(value)
                    field.choices.append(SelectChoice(roles_value(roles, empty), describe(roles)))
        self.at_full.choices = options(*label_choices(*AT_FULL))
        self.upgrade.choices = options(*label_choices(*UPGRADES))

    def matrix_rows(self) -> list[tuple[str, Field, Field]]:
        """(category, responsible select, escalation select) per category, for the page."""
        fields: dict[str, Field] = self._fields  # type: ignore[assignment]
        return [(c, fields[f"responsible_{c}"], fields[f"escalation_{c}"]) for c in CATEGORIES]

    def values(self) -> dict[str, Any]:
        """The template as ``agreements.save_template`` takes it."""
        fields: dict[str, Field] = self._fields  # type: ignore[assignment]
        return {
            "name": (fields["name"].data or "") if "name" in fields else "",
            # browsers send a textarea's line breaks as CRLF; the terms are stored with LF
            "text_en": (self.text_en.data or "").replace("\r\n", "\n"),
            "text_nl": (self.text_nl.data or "").replace("\r\n", "\n"),
            "matrix": {
                c: {
                    "responsible": roles_of(fields[f"responsible_{c}"].data),
                    "escalation": roles_of(fields[f"escalation_{c}"].data),
                }
                for c in CATEGORIES
            },
            "thresholds": {level: fields[f"threshold_{level}"].data for level in LEVELS},
            "deadlines": {level: fields[f"deadline_{level}"].data for level in LEVELS},
            "grace": {
                "at_full": self.at_full.data,
                "defer_hours": self.defer_hours.data,
                "upgrade": self.upgrade.data,
            },
        }


for _category in CATEGORIES:
    setattr(TermsForm, f"responsible_{_category}", SelectField(_l("Answers for it")))
    setattr(TermsForm, f"escalation_{_category}", SelectField(_l("Escalates to, in order")))


def terms_form_data(template: Any | None) -> dict[str, Any]:
    """A terms form's starting values: those of ``template``, or Onus' defaults."""
    matrix = template.matrix if template else DEFAULT_MATRIX
    thresholds = template.thresholds if template else DEFAULT_THRESHOLDS
    deadlines = template.deadlines if template else DEFAULT_DEADLINES
    grace = template.grace if template else DEFAULT_GRACE
    data: dict[str, Any] = {
        "text_en": template.text_en if template else "",
        "text_nl": template.text_nl if template else "",
        "at_full": grace["at_full"],
        "defer_hours": grace.get("defer_hours", DEFAULT_GRACE["defer_hours"]),
        "upgrade": grace["upgrade"],
    }
    for category in CATEGORIES:
        entry = matrix.get(category, {})
        data[f"responsible_{category}"] = roles_value(entry.get("responsible", []))
        data[f"escalation_{category}"] = roles_value(entry.get("escalation", []), NO_ESCALATION)
    for level in LEVELS:
        data[f"threshold_{level}"] = thresholds.get(level)
        data[f"deadline_{level}"] = deadlines.get(level)
    return data


class ApplyTermsForm(FlaskForm):
    template_id = SelectField(
        _l("Terms"),
        coerce=int,
        description=_l("Makes a new version of the agreement; every party acknowledges it again."),
    )


class ChangePlanForm(FlaskForm):
    plan_id = SelectField(
        _l("New plan"),
        coerce=int,
        description=_l(
            "A new plan changes the agreed limits: the agreement is reissued for every party "
            "to acknowledge."
        ),
    )


def field_values(form: FlaskForm, *names: str) -> dict[str, Any]:
    """The named fields' data, for a service call."""
    fields: dict[str, Field] = form._fields  # type: ignore[assignment]
    return {name: fields[name].data for name in names}


# --- mail log sources -----------------------------------------------------------------------

LOG_FORMAT_CHOICES = options(
    ("auto", _l("Recognise it by itself")),
    ("postfix", "Postfix"),
    ("exim", "Exim"),
    ("dovecot", "Dovecot"),
)


class MailLogSourceForm(FlaskForm):
    """A mail log on one of the hoster's nodes for Onus to follow."""

    node_id = SelectField(_l("Hosting node"), coerce=int)
    path = StringField(
        _l("Log file"),
        validators=[DataRequired(), Length(max=1000)],
        description=_l(
            "The full path on the node, for example /var/log/mail.log. Rotated files beside "
            "it (mail.log.1, mail.log.2.gz) are found by themselves."
        ),
    )
    log_format = SelectField(_l("Format"), choices=LOG_FORMAT_CHOICES, default="auto")
    from_end = BooleanField(
        _l("Only what is written from now on"),
        description=_l("Leave it off to read the whole file as it is now."),
    )


class MailLogSourceEditForm(FlaskForm):
    """A followed mail log's format, and whether Onus reads it."""

    log_format = SelectField(_l("Format"), choices=LOG_FORMAT_CHOICES)
    enabled = BooleanField(
        _l("Read this log"), description=_l("Off: paused; where Onus stopped is kept.")
    )


class ApiTokenForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(), Length(max=100)],
        description=_l("What will use it, e.g. “monitoring” or “billing script”."),
    )
