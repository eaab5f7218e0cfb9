"""The domain model, one module per aggregate; importing this package registers all tables."""

from panel.models.agreement import Acknowledgement, Agreement, TermsTemplate
from panel.models.alert import Alert, AlertEvent, AlertStatus, Notification, NotificationStatus
from panel.models.api import ApiToken
from panel.models.audit import AuditEvent
from panel.models.hosting import (
    Assignment,
    Domain,
    HostedDatabase,
    HostingNode,
    Mailbox,
    Package,
    PackageStatus,
    Plan,
    Role,
    Site,
)
from panel.models.mailflow import (
    MailFlowHour,
    MailLogDay,
    MailLogSource,
    MailRefusal,
    QuotaWarning,
    ReceivedBounce,
)
from panel.models.party import Contact, ContactKind, Invitation, Membership, Party, PartyKind, User
from panel.models.usage import PackageUsage, UsageSample
from panel.models.worker import WorkerHeartbeat

__all__ = [
    "Acknowledgement",
    "Agreement",
    "Alert",
    "AlertEvent",
    "AlertStatus",
    "ApiToken",
    "Assignment",
    "AuditEvent",
    "Contact",
    "ContactKind",
    "Domain",
    "HostedDatabase",
    "HostingNode",
    "Invitation",
    "MailFlowHour",
    "MailLogDay",
    "MailLogSource",
    "MailRefusal",
    "Mailbox",
    "Membership",
    "Notification",
    "NotificationStatus",
    "Package",
    "PackageStatus",
    "PackageUsage",
    "Party",
    "PartyKind",
    "Plan",
    "QuotaWarning",
    "ReceivedBounce",
    "Role",
    "Site",
    "TermsTemplate",
    "UsageSample",
    "User",
    "WorkerHeartbeat",
]
