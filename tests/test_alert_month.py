"""No noise, counted: a simulated month of measurements for 200 packages, and every mail
that reaches a real SMTP server counted per recipient and per party kind.

The story DESIGN.md starts from is a hoster who ignored "space almost full" mails because
he got one per client per day: 200 clients, 30 days, 6000 mails. Here 200 packages are
measured every 6 hours for 30 days (120 measurements each); after each measurement the
alert round runs (evaluate, escalate, remind, send what is due at once), and at 07:00 the
daily digests go out. Nobody acknowledges anything: the worst case for reminders and
escalation. Every other package has an agreement (routing by the matrix), the rest none
(every party is told).

Each package follows a story from a seeded generator, and what it may cost in mail is
derived from the story:

- flat (150): 40–70 % full, a little noise → no alert, no mail, ever
- creep (20): 70–78 % → 86–97 % over the month, uploads or plugins → notice, then warning
- campaign (8): sign-ups fill info@ in 2 days, it stays full a day, then its owner archives
  → warning and critical before it is full, everyone told at once
- backup (8): four nightly archives push the package to 84–96 %, then all are deleted at
  once (one-off jumps, no trend) → notice/warning, resolved
- flapping (14): 90 % ± 1 % at every measurement, as info@ takes mail in and its owner
  deletes some → one warning alert, not a mail per flap

``pytest -s tests/test_alert_month.py`` prints the table of counts; every assertion
message carries it too.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, insert, select, update

from panel.extensions import db
from panel.models import (
    Alert,
    Contact,
    Mailbox,
    Notification,
    Package,
    PackageUsage,
    Party,
    PartyKind,
    Site,
    UsageSample,
)
from panel.policy.agreement import (
    DEFAULT_DEADLINES,
    DEFAULT_GRACE,
    DEFAULT_MATRIX,
    DEFAULT_THRESHOLDS,
    LEVELS,
)
from panel.policy.alerts import FLOOD_LIMIT, RANK, next_reminder_at
from panel.services import agreements, notifications, packages, parties, usage
from tests import alerting
from tests.conftest import DatabaseStates, close_app, make_app
from tests.smtp import Received, SMTPSink
from tests.world import tenancy

MIB = 1024 * 1024
QUOTA = 150 * MIB  # tests.world.tenancy's plan
MAILBOX_QUOTA = 50 * MIB  # its default mailbox quota
SEED = 20250301
START = datetime(2025, 3, 1, tzinfo=UTC)
DAYS = 30
EVERY = timedelta(hours=6)
STEPS = DAYS * 24 // 6  # 120 measurements per package
DIGEST_HOUR = 7
PACKAGES = 200
BUILDERS = 10
MAIL_FROM = "panel@onus.test"
HOSTER_CONTACT = "alerts@month-hoster-office.example"
# packages per story; the rest is flat
STORIES = {"creep": 20, "campaign": 8, "backup": 8, "flapping": 14}
NOISE = PACKAGES * DAYS  # one mail per package per day: what the hoster in the story got
MAILBOXES = ("info", "office")


def reminders_within(span: timedelta) -> int:
    """How many reminders an unacknowledged alert gets while open for ``span``."""
    opened = at = START
    count = 0
    while (at := next_reminder_at(at, count)) <= opened + span:
        count += 1
    return count


REMINDERS = reminders_within(timedelta(days=DAYS))  # after 1, 2, 4, 7, 7, 7 days: 6


# --- the stories ------------------------------------------------------------------------------


@dataclass
class Story:
    """One package's month: its figures at every measurement, and what they reach."""

    index: int
    kind: str
    figures: list[dict[str, Any]] = field(default_factory=list)  # see Layout.figures

    @property
    def name(self) -> str:
        return f"pkg{self.index:03d}"

    @property
    def domain(self) -> str:
        return f"{self.name}.example"

    def subjects(self) -> list[str]:
        """The alert subjects of the package, as the alert service names them."""
        return ["package", *(f"mailbox:{local}@{self.domain}" for local in MAILBOXES)]

    def percents(self, subject: str) -> list[float]:
        """The subject's percentage of its quota at every measurement."""
        if subject == "package":
            return [
                100.0
                * (sum(f["mailboxes"].values()) + sum(f["parts"].values()) + f["other"])
                / QUOTA
                for f in self.figures
            ]
        local = subject.partition(":")[2].partition("@")[0]
        return [100.0 * f["mailboxes"][local] / MAILBOX_QUOTA for f in self.figures]

    def peak(self, subject: str) -> float:
        return max(self.percents(subject))

    def reached(self, subject: str) -> str | None:
        """The highest level the subject's measurements reach by threshold."""
        peak = self.peak(subject)
        return next((lv for lv in reversed(LEVELS) if peak >= DEFAULT_THRESHOLDS[lv]), None)

    def filling(self, subject: str) -> bool:
        """Whether the subject really fills fast, so a forecast of "full soon" is right:
        the campaign's mailbox, and its package with it."""
        return self.kind == "campaign" and subject in ("package", self.subjects()[1])

    def full_at(self, subject: str) -> int | None:
        """The first measurement at which the subject is full."""
        return next((i for i, p in enumerate(self.percents(subject)) if p >= 100.0), None)


class Layout:
    """A package's parts at a chosen total, in MiB: two mailboxes, a WordPress site, other."""

    def __init__(self, rng: random.Random, percent: float) -> None:
        total = QUOTA / MIB * percent / 100
        mail = total * rng.uniform(0.3, 0.6)
        self.info = min(mail * rng.uniform(0.55, 0.75), 26.0)  # at most 52 % of its quota
        self.office = min(mail - self.info, 18.0)
        self.other = rng.uniform(0.5, 2.0)
        site = total - self.info - self.office - self.other
        self.parts = {
            "core": min(12.0, site * 0.3),
            "plugins": site * rng.uniform(0.15, 0.3),
            "themes": site * rng.uniform(0.03, 0.08),
            "cache": site * rng.uniform(0.02, 0.06),
            "backups": 0.0,
        }
        self.parts["uploads"] = site - sum(self.parts.values())
        assert self.parts["uploads"] > 1.0, (percent, self.parts)

    def figures(
        self, rng: random.Random, info: float | None = None, **parts: float
    ) -> dict[str, Any]:
        """One measurement in bytes: the layout (``info`` and ``parts`` overriding it), with
        the small noise of a living package: mail comes and goes, caches fill and empty."""
        info_mib = self.info if info is None else info
        noisy = {**self.parts, **parts}
        noisy["cache"] += rng.uniform(-0.3, 0.3)
        noisy["uploads"] += rng.uniform(-0.1, 0.1)
        full = MAILBOX_QUOTA / MIB
        return {
            "mailboxes": {  # a full mailbox stays exactly full: the server refuses more
                "info": _bytes(full if info_mib >= full else info_mib + rng.uniform(-0.25, 0.25)),
                "office": _bytes(self.office + rng.uniform(-0.25, 0.25)),
            },
            "parts": {part: _bytes(size) for part, size in noisy.items()},
            "other": _bytes(self.other),
        }


def _bytes(mib: float) -> int:
    return max(0, int(mib * MIB))


def _flat(rng: random.Random, story: Story) -> None:
    layout = Layout(rng, rng.uniform(40, 70))
    story.figures = [layout.figures(rng) for _step in range(STEPS)]


def _creep(rng: random.Random, story: Story) -> None:
    """Uploads (the owner's) or plugins (the builder's) grow steadily all month."""
    start, end = rng.uniform(70, 78), rng.uniform(86, 97)
    layout = Layout(rng, start)
    part = rng.choice(["uploads", "plugins"])
    growth = (end - start) / 100 * QUOTA / MIB
    story.figures = [
        layout.figures(rng, **{part: layout.parts[part] + growth * step / (STEPS - 1)})
        for step in range(STEPS)
    ]


def _campaign(rng: random.Random, story: Story) -> None:
    """Sign-ups arrive as mail to info@: it fills in 2 days (8 measurements), stays full a
    day (mail is refused), then its owner archives most of it."""
    layout = Layout(rng, rng.uniform(45, 60))
    begin = rng.randrange(20, 88)
    base, after = layout.info, rng.uniform(10, 20)
    full = MAILBOX_QUOTA / MIB
    figures = []
    for step in range(STEPS):
        k = step - begin
        if k <= 0:
            info = base
        elif k <= 8:
            info = base + (full - base) * k / 8
        elif k < 12:
            info = full
        else:
            info = after
        figures.append(layout.figures(rng, info=info))
    story.figures = figures


def _backup(rng: random.Random, story: Story) -> None:
    """A backup plugin keeps four nightly archives on the package, which are deleted at once
    the day after the fourth: one-off jumps up, one drop down, no trend."""
    start, peak = rng.uniform(45, 60), rng.uniform(84, 96)
    layout = Layout(rng, start)
    archive = (peak - start) / 100 * QUOTA / MIB / 4
    first = rng.randrange(2, 20) * 4 + 1  # the 06:00 measurement sees each night's archive
    figures = []
    for step in range(STEPS):
        kept = min(4, (step - first) // 4 + 1) if first <= step < first + 4 * 4 + 2 else 0
        figures.append(layout.figures(rng, backups=kept * archive))
    story.figures = figures


def _flapping(rng: random.Random, story: Story) -> None:
    """Right at the warning level: 90 % ± 1 % of the package at every measurement, as info@
    takes mail in and its owner deletes some (± 1.5 MiB, ± 3 % of the mailbox)."""
    layout = Layout(rng, 90)
    story.figures = [
        layout.figures(rng, info=layout.info + rng.uniform(-1, 1) / 100 * QUOTA / MIB)
        for _step in range(STEPS)
    ]


MAKERS = {
    "flat": _flat,
    "creep": _creep,
    "campaign": _campaign,
    "backup": _backup,
    "flapping": _flapping,
}


def make_stories(seed: int = SEED) -> list[Story]:
    """The month of every package, the same for the same seed."""
    rng = random.Random(seed)
    kinds = [kind for kind, count in STORIES.items() for _ in range(count)]
    kinds += ["flat"] * (PACKAGES - len(kinds))
    rng.shuffle(kinds)
    stories = []
    for index, kind in enumerate(kinds):
        story = Story(index, kind)
        MAKERS[kind](rng, story)
        stories.append(story)
    return stories


def test_the_stories_are_what_they_say() -> None:
    stories = make_stories()
    assert [s.figures for s in stories[:20]] == [s.figures for s in make_stories()[:20]]
    assert Counter(s.kind for s in stories) == {"flat": 150, **STORIES}
    for story in stories:
        package, info, office = story.subjects()
        assert len(story.figures) == STEPS
        assert story.peak(office) < 60
        if story.kind == "flat":
            assert story.peak(package) < 72 and story.peak(info) < 60
        if story.kind in ("creep", "backup"):
            assert 83 < story.peak(package) < 98 and story.peak(info) < 60
        if story.kind == "campaign":
            assert story.reached(info) == "critical" and story.peak(package) < 100
        if story.kind == "flapping":
            percents = story.percents(package)
            assert 88.5 < min(percents) < 90 < max(percents) < 91.5
            assert story.peak(info) < 60
    assert REMINDERS == 6


# --- the world and the month ------------------------------------------------------------------


@dataclass
class Month:
    stories: list[Story]
    package_ids: list[int]  # by story index
    hoster: int
    owners: list[int]  # by story index
    builders: list[int]  # by story index
    agreed: set[int]  # package ids with an agreement (every other package)
    party_of: dict[str, int]  # contact address -> party id

    def story_of(self, package_id: int) -> Story:
        return self.stories[self.package_ids.index(package_id)]

    def parties_of(self, story: Story) -> dict[str, int]:
        return {
            "hoster": self.hoster,
            "builder": self.builders[story.index],
            "owner": self.owners[story.index],
        }


def build_month(stories: list[Story]) -> Month:
    """One hoster, one plan, 10 builders, 200 owners and their packages, via the services;
    every other package gets the hoster's standard terms (version 1, acknowledged by nobody
    yet: routing by the matrix), the rest has none (every party is told)."""
    actor, plan, node = tenancy("month", "login@month-hoster.example", "nl")
    hoster = db.session.get_one(Party, actor.party_id)
    parties.add_contact(actor, hoster, "email", HOSTER_CONTACT, "")
    builders = []
    for n in range(BUILDERS):
        builder = parties.create_party(
            actor, PartyKind.BUILDER, f"Builder {n}", ("en", "nl")[n % 2]
        )
        parties.add_contact(actor, builder, "email", f"studio{n}@agency{n}.example", "")
        builders.append(builder)
    terms = agreements.save_template(
        actor,
        None,
        {
            "name": "Standard terms",
            "text_en": "Storage is shared by mail and website.",
            "text_nl": "Mail en website delen de opslag.",
            "matrix": DEFAULT_MATRIX,
            "thresholds": DEFAULT_THRESHOLDS,
            "deadlines": DEFAULT_DEADLINES,
            "grace": DEFAULT_GRACE,
        },
    )
    owners, package_ids = [], []
    for story in stories:
        owner = parties.create_party(
            actor, PartyKind.OWNER, f"Client {story.index}", ("nl", "en")[story.index % 2]
        )
        parties.add_contact(actor, owner, "email", f"client{story.index}@home-isp.example", "")
        package = packages.create_package(
            actor,
            {"name": story.name, "plan_id": plan.id, "node_id": node.id, "status": "active"},
            owner,
            builders[story.index % BUILDERS],
            [story.domain],
        )
        owners.append(owner.id)
        package_ids.append(package.id)
    # mailboxes and sites in bulk: the services' audited one-by-one path is not under test
    pairs = list(zip(stories, package_ids, strict=True))
    db.session.execute(
        insert(Mailbox),
        [
            {"package_id": pid, "address": f"{local}@{story.domain}", "quota_bytes": None}
            for story, pid in pairs
            for local in MAILBOXES
        ],
    )
    db.session.execute(
        insert(Site),
        [
            {"package_id": pid, "domain": story.domain, "docroot": "public_html"}
            for story, pid in pairs
        ],
    )
    db.session.commit()
    agreed = set()
    for story, pid in pairs:
        if story.index % 2 == 0:
            agreements.apply_template(actor, db.session.get_one(Package, pid), terms)
            agreed.add(pid)
    contacts = db.session.execute(select(Contact.value, Contact.party_id)).all()
    return Month(
        stories,
        package_ids,
        hoster.id,
        owners,
        [builders[s.index % BUILDERS].id for s in stories],
        agreed,
        dict(contacts),
    )


def record_round(month: Month, step: int, at: datetime) -> None:
    """Every package's measurement at ``at``, in bulk: the rows usage.record_measurement
    writes (a history point and the latest figures), for 200 packages in one commit."""
    samples, latest = [], []
    for story, package_id in zip(month.stories, month.package_ids, strict=True):
        figures = story.figures[step]
        report = alerting.report(
            mailboxes={f"{local}@{story.domain}": b for local, b in figures["mailboxes"].items()},
            parts=figures["parts"],
            other=figures["other"],
        )
        components = usage.components_of(report)
        total = sum(v[0] for v in components.values())
        samples.append(
            {
                "package_id": package_id,
                "taken_at": at,
                "resolution": "raw",
                "total_bytes": total,
                "components": components,
            }
        )
        latest.append(
            {
                "package_id": package_id,
                "measured_at": at,
                "total_bytes": total,
                "mail_bytes": sum(figures["mailboxes"].values()),
                "site_bytes": sum(figures["parts"].values()),
                "database_bytes": 0,
                "other_bytes": figures["other"],
                "skipped": 0,
                "scan_seconds": 0.01,
                "report": report,
            }
        )
    db.session.execute(insert(UsageSample), samples)
    db.session.execute(insert(PackageUsage) if step == 0 else update(PackageUsage), latest)
    db.session.commit()


@dataclass(frozen=True)
class Told:
    """A notification as the database has it at the end of the month."""

    id: int
    alert_id: int | None
    party_id: int
    kind: str
    channel: str
    status: str
    digest_id: int | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class AlertRow:
    id: int
    package_id: int
    subject: str
    level: str
    reason: str
    opened_at: datetime
    resolved_at: datetime | None


@dataclass
class Mail:
    """One message the SMTP server took, and what it told."""

    received: Received
    party_id: int
    kind: str  # "immediate" or "digest"
    day: date  # the simulated day it was sent
    carried: list[Told]  # the notifications it told: itself, or a digest's items


@dataclass
class Run:
    month: Month
    mails: list[Mail]
    alerts: dict[int, AlertRow]
    told: dict[int, Told]
    seconds: dict[str, float]

    def level(self, mail: Mail) -> str | None:
        """The alert level of an immediate mail."""
        if mail.kind == "digest":
            return None
        alert_id = mail.carried[0].alert_id
        return self.alerts[alert_id].level if alert_id is not None else None


def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
    """The test's own throw-away database need not survive a power cut: without an fsync
    for each of its thousands of small commits the month runs about 10 % faster."""
    cursor = dbapi_connection.cursor()
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor.execute("PRAGMA synchronous = OFF")
    else:
        cursor.execute("SET synchronous_commit TO OFF")
        dbapi_connection.commit()
    cursor.close()


@pytest.fixture(scope="module")
def run(database: DatabaseStates) -> Iterator[Run]:
    """The month, simulated once for every test of this module."""
    with SMTPSink() as smtp:
        database.restore("empty")
        app = make_app(
            database,
            ONUS_MAIL_SERVER="127.0.0.1",
            ONUS_MAIL_PORT=smtp.port,
            ONUS_MAIL_STARTTLS=False,
            ONUS_MAIL_USERNAME="",
            ONUS_MAIL_FROM=MAIL_FROM,
        )
        with app.app_context():
            event.listen(db.engine, "connect", _no_fsync)
        try:
            yield simulate(app, smtp)
        finally:
            close_app(app)


def simulate(app: Flask, smtp: SMTPSink) -> Run:
    """Build the world, then 120 rounds of measure → alert round → send, and the digests
    at 07:00 each day (and once more the morning after the last round)."""
    seconds: dict[str, float] = defaultdict(float)

    def timed(phase: str, call: Any, *args: Any) -> Any:
        began = time.perf_counter()
        result = call(*args)
        seconds[phase] += time.perf_counter() - began
        return result

    def digests(at: datetime) -> None:
        timed("digests", lambda: alerting.send(notifications.build_digests(at), at))

    with app.app_context():
        month = timed("build", build_month, make_stories())
        for step in range(STEPS):
            now = START + step * EVERY
            timed("measure", record_round, month, step, now)
            timed("alert rounds", alerting.round_, now)
            if now.hour < DIGEST_HOUR <= (now + EVERY).hour:
                digests(now.replace(hour=DIGEST_HOUR))
        digests((now + timedelta(days=1)).replace(hour=DIGEST_HOUR))
        told = {
            n.id: Told(
                n.id,
                n.alert_id,
                n.party_id,
                n.kind,
                n.channel,
                str(n.status),
                n.digest_id,
                n.created_at,
                n.sent_at,
            )
            for n in db.session.scalars(select(Notification))
        }
        alerts = {
            a.id: AlertRow(
                a.id, a.package_id, a.subject, a.level, a.reason, a.opened_at, a.resolved_at
            )
            for a in db.session.scalars(select(Alert))
        }
        db.session.remove()
    carried: dict[int, list[Told]] = defaultdict(list)
    for item in told.values():
        if item.digest_id is not None:
            carried[item.digest_id].append(item)
    mails = []
    for received in smtp.received:
        [address] = received.rcpt_tos
        notification = told[int(received.message["X-Onus-Notification"])]
        assert notification.sent_at is not None
        digest = notification.kind == "digest"
        mails.append(
            Mail(
                received,
                month.party_of[address],
                "digest" if digest else "immediate",
                notification.sent_at.date(),
                carried[notification.id] if digest else [notification],
            )
        )
    return Run(month, mails, alerts, told, seconds)


# --- the counts -------------------------------------------------------------------------------


def table(run: Run) -> str:
    """Party kind → mails in the month, the most one party got in the month and on one day,
    the immediate/digest split; the owners' mails by story; the time each phase took."""
    month = run.month
    per_party = Counter(mail.party_id for mail in run.mails)
    per_party_day = Counter((mail.party_id, mail.day) for mail in run.mails)
    kinds = {
        "hoster": {month.hoster},
        "builder": set(month.builders),
        "owner": set(month.owners),
    }
    lines = [
        f"{'party kind':<10} {'parties':>7} {'mails':>6} {'immediate':>9} {'critical':>8} "
        f"{'digest':>6} {'max/party':>9} {'max/party/day':>13} {'parties mailed':>14}"
    ]
    for kind, ids in kinds.items():
        mails = [m for m in run.mails if m.party_id in ids]
        lines.append(
            f"{kind:<10} {len(ids):>7} {len(mails):>6} "
            f"{sum(m.kind == 'immediate' for m in mails):>9} "
            f"{sum(run.level(m) == 'critical' for m in mails):>8} "
            f"{sum(m.kind == 'digest' for m in mails):>6} "
            f"{max(per_party[i] for i in ids):>9} "
            f"{max((n for (p, _d), n in per_party_day.items() if p in ids), default=0):>13} "
            f"{sum(1 for i in ids if per_party[i]):>14}"
        )
    lines.append(
        f"{'all':<10} {sum(len(ids) for ids in kinds.values()):>7} {len(run.mails):>6}   "
        f"(one mail per package per day: {NOISE})"
    )
    by_story: dict[str, list[int]] = defaultdict(list)
    for story, owner in zip(month.stories, month.owners, strict=True):
        by_story[story.kind].append(per_party[owner])
    lines.append(
        "owner mails by story: "
        + "; ".join(
            f"{kind} ({len(counts)}): total {sum(counts)}, max {max(counts)} (bound "
            f"{OWNER_BOUND[kind]})"
            for kind, counts in by_story.items()
        )
    )
    levels = Counter((a.level, a.reason) for a in run.alerts.values())
    lines.append(
        f"alerts: {len(run.alerts)} ("
        + ", ".join(f"{lv} by {why}: {n}" for (lv, why), n in sorted(levels.items()))
        + f"); false alarms: {len(false_alarms(run))}"
    )
    lines.append(
        "seconds: " + ", ".join(f"{phase} {spent:.1f}" for phase, spent in run.seconds.items())
    )
    return "\n".join(lines)


@pytest.fixture(scope="module")
def summary(run: Run) -> str:
    text = table(run)
    print("\n" + text)
    return text


# --- what the month must show -----------------------------------------------------------------

# The most mails an owner may get in the month, by its package's story. Reminders of an
# ignored alert come after 1, 2, 4, 7, 7 and 7 days (REMINDERS = 6 in a month), in the digest.
# A short episode gets the reminders that fit in it (reminders_within).
OWNER_BOUND = {
    "flat": 0,
    # the notice it may open with, the warning, and that one warning's reminders
    "flapping": 2 + REMINDERS,
    # the notice and the warning, each reminded while open (the schedule restarts)
    "creep": 2 + 2 * REMINDERS,
    # notice, warning, resolved; reminders while the archives are kept (4½ days)
    "backup": 3 + 2 * reminders_within(timedelta(days=4, hours=12)),
    # mailbox warning, critical, resolved; package warning, resolved; reminders while the
    # mailbox fills and stays full (3 days)
    "campaign": 5 + 2 * reminders_within(timedelta(days=3)),
}


def false_alarms(run: Run) -> list[str]:
    """Alerts the story does not explain: a level its subject never reached, on a subject
    that was not really filling fast."""
    found = []
    for alert in run.alerts.values():
        story = run.month.story_of(alert.package_id)
        if story.filling(alert.subject) or RANK[story.reached(alert.subject)] >= RANK[alert.level]:
            continue
        found.append(
            f"{story.kind} {alert.subject} {alert.level} by {alert.reason} at "
            f"{alert.opened_at:%d %H:%M} (peak {story.peak(alert.subject):.1f} %)"
        )
    return found


def test_the_total_is_far_below_one_mail_per_package_per_day(run: Run, summary: str) -> None:
    # the story's hoster alone got NOISE; here all 211 parties together get less than 1/8
    assert len(run.mails) <= NOISE // 8, summary
    assert all(len(mail.received.rcpt_tos) == 1 for mail in run.mails), summary


def test_flat_packages_cost_nobody_a_single_mail(run: Run, summary: str) -> None:
    month = run.month
    flat = {pid for pid in month.package_ids if month.story_of(pid).kind == "flat"}
    assert not [a for a in run.alerts.values() if a.package_id in flat], summary
    flat_owners = {o for s, o in zip(month.stories, month.owners, strict=True) if s.kind == "flat"}
    assert not [m for m in run.mails if m.party_id in flat_owners], summary


def test_every_alert_is_explained_by_its_story(run: Run, summary: str) -> None:
    wrong = false_alarms(run)
    assert not wrong, f"{len(wrong)} false alarms:\n" + "\n".join(wrong[:20]) + "\n" + summary


def test_one_alert_per_problem_and_level(run: Run, summary: str) -> None:
    """Every story has one episode per subject: a subject reaches each level at most once
    (a flap around 90 % is held by the hysteresis, not reopened)."""
    alerts = Counter((a.package_id, a.subject, a.level) for a in run.alerts.values())
    repeated = {
        f"{run.month.story_of(p).kind} {subject} {level}": n
        for (p, subject, level), n in alerts.items()
        if n > 1
    }
    assert not repeated, f"{repeated}\n{summary}"


def test_no_party_hears_the_same_news_twice_at_once(run: Run, summary: str) -> None:
    """At most one immediate non-critical mail per party and problem (package, subject,
    level): news goes out once; reminders wait for the digest."""
    seen = Counter(
        (mail.party_id, run.alerts[a].package_id, run.alerts[a].subject, run.alerts[a].level)
        for mail in run.mails
        if mail.kind == "immediate"
        and run.level(mail) != "critical"
        and (a := mail.carried[0].alert_id) is not None
    )
    repeated = {key: n for key, n in seen.items() if n > 1}
    assert not repeated, f"{len(repeated)} repeated: {list(repeated.items())[:10]}\n{summary}"


def test_no_owner_gets_more_than_its_story_explains(run: Run, summary: str) -> None:
    per_party = Counter(mail.party_id for mail in run.mails)
    over = [
        f"{story.name} ({story.kind}): {per_party[owner]} > {OWNER_BOUND[story.kind]}"
        for story, owner in zip(run.month.stories, run.month.owners, strict=True)
        if per_party[owner] > OWNER_BOUND[story.kind]
    ]
    assert not over, "\n".join(over) + "\n" + summary


def test_each_party_gets_at_most_the_flood_limit_a_day_and_one_digest(
    run: Run, summary: str
) -> None:
    """Per party and day: at most FLOOD_LIMIT immediate non-critical mails, one digest;
    critical ones always go at once, on top."""
    immediate = Counter(
        (m.party_id, m.day)
        for m in run.mails
        if m.kind == "immediate" and run.level(m) != "critical"
    )
    digests = Counter((m.party_id, m.day) for m in run.mails if m.kind == "digest")
    assert max(immediate.values()) <= FLOOD_LIMIT, summary
    assert max(digests.values()) == 1, summary


def test_the_hoster_gets_about_two_mails_a_day(run: Run, summary: str) -> None:
    """The hoster of 200 packages: one digest a day and now and then news, about 2 a day on
    average, critical ones (always at once) aside."""
    mine = [m for m in run.mails if m.party_id == run.month.hoster]
    critical = [m for m in mine if run.level(m) == "critical"]
    assert (len(mine) - len(critical)) / DAYS <= 2.5, summary
    # critical: told when it opens, reminded once (it lasted 2 to 3 days), told it is resolved
    episodes = sum(1 for s in run.month.stories if s.kind == "campaign")
    assert len(critical) <= 3 * episodes, summary


def test_every_critical_problem_reached_every_party_at_once_and_in_time(
    run: Run, summary: str
) -> None:
    month = run.month
    for story in month.stories:
        for subject in story.subjects():
            if story.reached(subject) != "critical":
                continue
            package_id = month.package_ids[story.index]
            [alert] = [
                a
                for a in run.alerts.values()
                if (a.package_id, a.subject, a.level) == (package_id, subject, "critical")
            ]
            full = START + story.full_at(subject) * EVERY  # type: ignore[operator]
            assert alert.opened_at < full, f"{story.name}: critical only when full\n{summary}"
            for role, party in month.parties_of(story).items():
                at_once = [
                    m
                    for m in run.mails
                    if m.party_id == party
                    and m.kind == "immediate"
                    and m.carried[0].alert_id == alert.id
                    and m.carried[0].sent_at == alert.opened_at
                ]
                assert len(at_once) == 1, f"{story.name}: the {role} was not told\n{summary}"


def test_no_warning_is_lost(run: Run, summary: str) -> None:
    """Every subject that reached warning has an alert at warning or above, the party that
    answers for it was mailed about it, and every mail made was handed to the server."""
    month = run.month
    mailed = {(item.alert_id, m.party_id) for m in run.mails for item in m.carried}
    for story in month.stories:
        package_id = month.package_ids[story.index]
        for subject in story.subjects():
            if RANK[story.reached(subject)] < RANK["warning"]:
                continue
            alerts = [
                a
                for a in run.alerts.values()
                if (a.package_id, a.subject) == (package_id, subject)
                and RANK[a.level] >= RANK["warning"]
            ]
            assert alerts, f"{story.name} {subject}: no warning\n{summary}"
            # without an agreement every party hears of it; with one, who answers for it
            parties = month.parties_of(story)
            answers = (
                parties.values()
                if package_id not in month.agreed
                else [parties["owner"] if subject != "package" else parties["hoster"]]
            )
            for party in answers:
                assert any((a.id, party) in mailed for a in alerts), (
                    f"{story.name} {subject}: party {party} was not mailed\n{summary}"
                )
    email = [t for t in run.told.values() if t.channel == "email"]
    # withdrawn: a reminder still waiting for the digest when its alert resolved
    withdrawn = [t for t in email if t.status == "withdrawn"]
    assert all(t.kind == "reminder" for t in withdrawn), summary
    assert all(run.alerts[t.alert_id].resolved_at is not None for t in withdrawn), summary
    assert {t.status for t in email} - {"withdrawn"} == {"sent"}, summary
    for item in email:  # each one told in a mail of its own or in a digest that went out
        if item.status == "sent":
            assert (item.alert_id, item.party_id) in mailed or item.kind == "digest", item


def test_nothing_is_made_or_sent_twice(run: Run, summary: str) -> None:
    news = Counter(
        (t.alert_id, t.party_id, t.channel, t.kind)
        for t in run.told.values()
        if t.kind in ("opened", "raised")
    )
    assert max(news.values()) == 1, summary
    ids = [m.received.message["X-Onus-Notification"] for m in run.mails]
    assert len(ids) == len(set(ids)), summary
    handed_over = [
        t
        for t in run.told.values()
        if t.channel == "email" and t.digest_id is None and t.status != "withdrawn"
    ]  # the immediate ones and the digests; a digest's items went out inside it
    assert len(handed_over) == len(run.mails), summary
