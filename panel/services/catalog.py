"""What a hoster offers and runs: plans and hosting nodes."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from panel.extensions import db
from panel.models import HostingNode, Package, Plan
from panel.services import records
from panel.services.errors import ServiceError
from panel.services.scope import Actor

# Where a layout keeps a package's files. {package} is the package's account name;
# {home}, {domain} and {local} are filled in per mailbox and site by the collectors.
LAYOUT_PRESETS: dict[str, dict[str, str]] = {
    "cpanel": {
        "home_template": "/home/{package}",
        "mail_template": "{home}/mail/{domain}/{local}/",
        "docroot_template": "{home}/public_html",
    },
    "vmail": {
        "home_template": "/var/www/{package}",
        "mail_template": "/var/vmail/{domain}/{local}/",
        "docroot_template": "{home}/htdocs",
    },
}
PLACEHOLDERS = ("{package}", "{home}", "{domain}", "{local}")


def _check_plan(values: dict[str, Any]) -> None:
    notice, warning, critical = (
        values["notice_percent"],
        values["warning_percent"],
        values["critical_percent"],
    )
    if not 0 < notice < warning < critical <= 200:
        raise ServiceError(_("Thresholds must rise: notice < warning < critical (at most 200 %)."))
    if values["default_mailbox_quota_bytes"] > values["storage_quota_bytes"]:
        raise ServiceError(_("A mailbox's default quota cannot exceed the plan's storage."))


def save_plan(actor: Actor, plan: Plan | None, values: dict[str, Any]) -> Plan:
    """Create (``plan`` None) or change a plan."""
    _check_plan(values)
    conflict = _("A plan named %(name)s exists already.", name=values["name"])
    return records.save(
        actor, plan, Plan, values, f"Plan {values['name']}", conflict, hoster_id=actor.tenant_id
    )


def _in_use(column: Any, object_id: int) -> bool:
    return bool(db.session.scalar(select(func.count()).where(column == object_id)))


def delete_plan(actor: Actor, plan: Plan) -> None:
    if _in_use(Package.plan_id, plan.id):
        raise ServiceError(_("Plan %(name)s is used by packages; move them first.", name=plan.name))
    records.delete(actor, plan, f"Plan {plan.name} deleted", _("Plan is in use."))


def _check_node(values: dict[str, Any]) -> None:
    if "{local}" not in values["mail_template"] or "{domain}" not in values["mail_template"]:
        raise ServiceError(_("The mail path must contain {domain} and {local}."))
    if "{package}" not in values["home_template"]:
        raise ServiceError(_("The home path must contain {package}."))
    for key in ("home_template", "mail_template", "docroot_template"):
        template = values[key]
        stripped = template
        for placeholder in PLACEHOLDERS:
            stripped = stripped.replace(placeholder, "")
        if "{" in stripped or "}" in stripped:
            raise ServiceError(
                _(
                    "Unknown placeholder in %(path)s; use %(placeholders)s.",
                    path=template,
                    placeholders=", ".join(PLACEHOLDERS),
                )
            )
        if not template.startswith(("/", "{home}")):
            raise ServiceError(
                _("%(path)s must be an absolute path or start with {home}.", path=template)
            )


def save_node(actor: Actor, node: HostingNode | None, values: dict[str, Any]) -> HostingNode:
    """Create or change a hosting node; empty path templates take the layout's preset."""
    preset = LAYOUT_PRESETS.get(values["layout"], LAYOUT_PRESETS["cpanel"])
    values = {k: (v or preset.get(k, v)) for k, v in values.items()}
    _check_node(values)
    conflict = _("A node named %(name)s exists already.", name=values["name"])
    return records.save(
        actor,
        node,
        HostingNode,
        values,
        f"Node {values['name']}",
        conflict,
        hoster_id=actor.tenant_id,
    )


def delete_node(actor: Actor, node: HostingNode) -> None:
    if _in_use(Package.node_id, node.id):
        raise ServiceError(_("Node %(name)s holds packages; move them first.", name=node.name))
    records.delete(actor, node, f"Node {node.name} deleted", _("Node is in use."))
