#!/usr/bin/env python3
"""A realistic, deterministic Postfix mail log, and the per-recipient truth it was made from.

    python benchmarks/postfix_log.py --lines 1000000 --out /tmp/onus-bench/maillog

Writes syslog-format lines (``Nov 23 10:00:01 mx1 postfix/smtpd[1234]: ...``) of a hosting
mail server (a few hundred hosted domains, a few thousand mailboxes, delivery to Dovecot over
LMTP or with Postfix's ``virtual``, outgoing mail through ``submission`` and ``smtp``), in time
order across days, streamed: memory does not grow with ``--lines``. Per message the real
sequence: postscreen and ``smtpd`` connect, ``<qid>: client=``, ``cleanup`` ``message-id=``,
``qmgr`` ``from=<..>, size=.., nrcpt=.. (queue active)`` (again at every retry), delivery
lines with ``to=<..>, relay=.., delay=.., delays=.., dsn=.., status=..``, retries after
``status=deferred``, ``postfix/bounce`` non-delivery notifications (delivered in turn) and
``<qid>: removed``; SMTP-time rejects (``NOQUEUE: reject: RCPT from ...``, a few with a queue
id), and noise (postscreen, TLS, SASL failures, anvil, warnings, disconnects). About 2 % of the
mailboxes are full (half from the start, half from some moment on), so over-quota outcomes
(``4.2.2`` deferrals, ``5.2.2`` bounces and rejects) are frequent.

Next to the log (``--truth``, default ``<out>.truth.json``) goes what the generator meant,
per recipient address (the ``to=<...>`` of the line):

- ``delivered``, ``deferred``, ``bounced``: distinct messages (queue ids) with at least one
  ``status=sent`` / ``deferred`` / ``bounced`` line for that recipient (a message deferred
  three times and then bounced counts 1 in ``deferred`` and 1 in ``bounced``);
- ``rejected``: ``reject: RCPT`` lines (``NOQUEUE`` or with a queue id) naming it in ``to=<>``,
  whatever the reason;
- ``over_quota``: distinct messages bounced with ``dsn=5.2.2`` (mailbox full), plus rejects
  whose enhanced code is ``X.2.2``; a full-mailbox deferral (``4.2.2``) is only ``deferred``
  (the mailbox may be emptied before the next retry), as ``panel/mailflow/logs.py`` counts;
- ``deferred_over_quota`` (for information): distinct messages deferred with ``4.2.2``;
- ``first_over_quota`` / ``last_over_quota``: the log times of the first and last line
  counted in ``over_quota``, ISO 8601 without a zone (the log's local time), real year.

Only lines actually written count: the log stops after ``--lines`` lines, mid-message maybe.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import heapq
import itertools
import json
import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any


def words(text: str) -> tuple[str, ...]:
    """The words of ``text``."""
    return tuple(text.split())


VERSION = 3  # bump when the log written for a seed changes
HOST = "mx1"
HOST_FQDN = "mx1.hostingpartner.nl"
MX_IP = "185.45.112.10"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
OQ_DSN = ("4.2.2", "5.2.2")
END_OF_DATA = "(in reply to end of DATA command)"

WORDS = words(
    "bakkerij autobedrijf tandarts fysio kapsalon garage bloemen makelaardij advocaten "
    "installatie schilders dakdekker hovenier camping hotel cafe studio design media webshop "
    "fietsen boekhouding zorg praktijk atelier keuken bouw transport verhuur yoga muziek "
    "fotografie notaris dierenarts apotheek kinderopvang sport reclame drukkerij"
)
SURNAMES = words(
    "jansen devries vandijk bakker visser smit meijer deboer mulder degroot bos vos peters "
    "hendriks vanleeuwen dekker brouwer dewit dijkstra smits degraaf vandermeer kok jacobs "
    "vermeulen willems claes maes wouters"
)
PLACES = words(
    "utrecht zwolle delft leiden haarlem breda tilburg arnhem gouda almere ede venlo assen "
    "emmen hoorn gent brugge hasselt"
)
FIRST = words(
    "jan piet kees anna eva sanne lisa emma tom bas daan sem lucas julia sophie noah fleur "
    "thijs lotte ruben iris mark linda peter marieke henk ingrid"
)
ROLES = words(
    "info admin sales contact office boekhouding facturen support administratie planning "
    "receptie verkoop inkoop hr noreply"
)
GUESSES = words(
    "test admin webmaster postmaster root user sales marketing john david michael mail "
    "office1 info2 backup oracle"
)
TLDS = (("nl", 60), ("com", 15), ("be", 8), ("eu", 5), ("de", 4), ("org", 4), ("net", 4))
PROVIDERS = (
    ("gmail.com", "gmail-smtp-in.l.google.com", "142.250.102.27", 30),
    ("outlook.com", "outlook-com.olc.protection.outlook.com", "52.101.68.19", 12),
    ("hotmail.com", "hotmail-com.olc.protection.outlook.com", "52.101.73.3", 10),
    ("ziggo.nl", "mx.ziggo.nl", "84.116.6.30", 8),
    ("kpnmail.nl", "mx.kpnmail.nl", "195.121.65.11", 6),
    ("yahoo.com", "mta7.am0.yahoodns.net", "67.195.204.72", 4),
    ("icloud.com", "mx01.mail.icloud.com", "17.57.154.33", 4),
    ("gmx.de", "mx00.emig.gmx.net", "212.227.15.9", 3),
    ("telenet.be", "mx.telenet-ops.be", "195.130.137.70", 3),
)


@dataclass
class Mailbox:
    """A hosted mailbox: its transport and when it is full (``full_from`` <= t)."""

    address: str
    lmtp: bool
    full_from: float = math.inf


@dataclass
class Message:
    """Per message, which (recipient, outcome) pairs are already counted in the truth."""

    counted: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class Stats:
    """The truth, per recipient."""

    recipients: dict[str, dict[str, Any]] = field(default_factory=dict)

    def entry(self, rcpt: str) -> dict[str, Any]:
        """The counters of ``rcpt``, created at zero."""
        entry = self.recipients.get(rcpt)
        if entry is None:
            entry = self.recipients[rcpt] = {
                "delivered": 0,
                "deferred": 0,
                "bounced": 0,
                "rejected": 0,
                "over_quota": 0,
                "deferred_over_quota": 0,
                "first_over_quota": None,
                "last_over_quota": None,
            }
        return entry


# A scheduled line: (time, sequence, program, pid, text, truth update or None).
# A truth update is (kind, recipient, message or None, over quota).
Update = tuple[str, str, Message | None, bool]


class Generator:
    """Simulates the mail server and writes its log in time order."""

    def __init__(self, seed: int, start: dt.datetime, sessions_per_hour: float) -> None:
        self.rnd = random.Random(seed)
        self.start = start
        self.t0 = start.replace(tzinfo=dt.UTC).timestamp()
        self.rate = sessions_per_hour / 3600.0
        self.heap: list[tuple[float, int, str, int, str, Update | None]] = []
        self.seq = itertools.count()
        self.qids: set[str] = set()
        self.stats = Stats()
        self.lines = 0
        self._stamp_second = -1
        self._stamp = ""
        self._iso = ""
        self.pids: dict[str, list[int]] = {}
        self.next_pid = 2000 + self.rnd.randrange(1000)
        self._build_world()

    # -- the world --------------------------------------------------------------------------

    def _build_world(self) -> None:
        rnd = self.rnd
        tlds = [t for t, _ in TLDS]
        tld_w = list(itertools.accumulate(w for _, w in TLDS))
        domains: list[str] = []
        seen: set[str] = set()
        while len(domains) < 300:
            shape = rnd.random()
            if shape < 0.4:
                name = f"{rnd.choice(WORDS)}-{rnd.choice(SURNAMES)}"
            elif shape < 0.7:
                name = f"{rnd.choice(WORDS)}{rnd.choice(PLACES)}"
            elif shape < 0.85:
                name = f"{rnd.choice(SURNAMES)}-{rnd.choice(WORDS)}"
            else:
                name = f"{rnd.choice(WORDS)}-{rnd.choice(SURNAMES)}-{rnd.choice(PLACES)}"
            domain = f"{name}.{rnd.choices(tlds, cum_weights=tld_w)[0]}"
            if domain not in seen:
                seen.add(domain)
                domains.append(domain)
        self.domains = domains
        self.mailboxes: list[Mailbox] = []
        by_domain: dict[str, list[Mailbox]] = {}
        for domain in domains:
            lmtp = rnd.random() < 0.8
            count = max(1, min(80, int(rnd.lognormvariate(2.0, 0.9))))
            locals_: set[str] = set()
            while len(locals_) < count:
                shape = rnd.random()
                if shape < 0.35:
                    local = rnd.choice(ROLES)
                elif shape < 0.7:
                    local = rnd.choice(FIRST)
                elif shape < 0.9:
                    local = f"{rnd.choice(FIRST)}.{rnd.choice(SURNAMES)}"
                else:
                    local = f"{rnd.choice(FIRST)[0]}.{rnd.choice(SURNAMES)}"
                locals_.add(local)
            boxes = [Mailbox(f"{local}@{domain}", lmtp) for local in sorted(locals_)]
            by_domain[domain] = boxes
            self.mailboxes.extend(boxes)
        # Popularity: Zipf-like over a shuffled order.
        order = self.mailboxes[:]
        rnd.shuffle(order)
        self.hosted = order
        self.hosted_cum = list(
            itertools.accumulate(1.0 / (i + 8) ** 0.9 for i in range(len(order)))
        )
        # Full mailboxes: 1 % full from the start, 1 % from a moment in the first days; half of
        # them among the 300 most popular, so their counts are not trivial.
        span = 4 * 86400.0
        pool = order[:300]
        for box in rnd.sample(pool, 15) + rnd.sample(order[300:], max(0, len(order) // 100 - 15)):
            box.full_from = self.t0
        for box in rnd.sample(order, len(order) // 100):
            if box.full_from == math.inf:
                box.full_from = self.t0 + rnd.uniform(0, span)
        # Outside world.
        self.providers = [p[:3] for p in PROVIDERS]
        self.provider_cum = list(itertools.accumulate(p[3] for p in PROVIDERS))
        companies: list[tuple[str, str, str]] = []
        for i in range(400):
            name = f"{rnd.choice(WORDS)}{rnd.choice(SURNAMES)}{i}.{rnd.choice(tlds)}"
            companies.append((name, f"mail.{name}", self._ip()))
        self.companies = companies
        external: list[tuple[str, str, str]] = []
        for _ in range(6000):
            if rnd.random() < 0.6:
                dom, mx, ip = self.providers[
                    bisect.bisect(self.provider_cum, rnd.random() * self.provider_cum[-1])
                ]
            else:
                dom, mx, ip = rnd.choice(companies)
            suffix = rnd.choice(["", "", str(rnd.randrange(100))])
            local = f"{rnd.choice(FIRST)}.{rnd.choice(SURNAMES)}{suffix}"
            external.append((f"{local}@{dom}", mx, ip))
        self.external = external
        self.external_cum = list(
            itertools.accumulate(1.0 / (i + 20) ** 0.8 for i in range(len(external)))
        )
        self.clients = [(self._client_host(), self._ip()) for _ in range(3000)]
        self.by_domain = by_domain
        self.addresses = {b.address for b in self.mailboxes}

    def _ip(self) -> str:
        r = self.rnd
        return f"{r.randrange(2, 223)}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"

    def _client_host(self) -> str:
        rnd = self.rnd
        r = rnd.random()
        if r < 0.3:
            return "unknown"
        if r < 0.6:
            region = rnd.choice(["eu", "am", "db", "vi"])
            return f"mail-{region}{rnd.randrange(9)}-f{rnd.randrange(200)}.google.com"
        if r < 0.8:
            return f"mail{rnd.randrange(1, 40)}.{rnd.choice(self.companies)[0]}"
        isp = rnd.choice(["ziggo.nl", "kpn.net", "telenet.be", "proximus.be"])
        return f"ip-{rnd.randrange(256)}-{rnd.randrange(256)}.dynamic.{isp}"

    def hosted_box(self) -> Mailbox:
        """A hosted mailbox, popular ones more often."""
        x = self.rnd.random() * self.hosted_cum[-1]
        return self.hosted[bisect.bisect(self.hosted_cum, x)]

    def external_addr(self) -> tuple[str, str, str]:
        """An outside address with its MX host and IP."""
        x = self.rnd.random() * self.external_cum[-1]
        return self.external[bisect.bisect(self.external_cum, x)]

    def pid(self, service: str) -> int:
        """A process id of ``service``; processes come and go."""
        pids = self.pids.get(service)
        if pids is None:
            pids = self.pids[service] = []
            for _ in range(
                {"smtpd": 6, "smtp": 8, "lmtp": 4, "virtual": 2, "cleanup": 3}.get(service, 1)
            ):
                pids.append(self._new_pid())
        if self.rnd.random() < 0.004:
            pids[self.rnd.randrange(len(pids))] = self._new_pid()
        return self.rnd.choice(pids)

    def _new_pid(self) -> int:
        self.next_pid += self.rnd.randrange(1, 40)
        if self.next_pid > 4_000_000:
            self.next_pid = 1000
        return self.next_pid

    def qid(self) -> str:
        """A Postfix short queue id, unique among messages in flight."""
        while True:
            q = f"{self.rnd.getrandbits(40):010X}"
            if q not in self.qids:
                self.qids.add(q)
                return q

    # -- scheduling and writing -------------------------------------------------------------

    def at(self, t: float, program: str, pid: int, text: str, update: Update | None = None) -> None:
        """Schedule a line."""
        heapq.heappush(self.heap, (t, next(self.seq), program, pid, text, update))

    def flush(self, until: float, out: IO[str], limit: int) -> None:
        """Write every scheduled line before ``until`` (stops at ``limit`` lines)."""
        heap = self.heap
        write = out.write
        while heap and heap[0][0] < until and self.lines < limit:
            t, _, program, pid, text, update = heapq.heappop(heap)
            second = int(t)
            if second != self._stamp_second:
                when = self.start + dt.timedelta(seconds=second - self.t0)
                self._stamp_second = second
                self._stamp = f"{MONTHS[when.month - 1]} {when.day:2d} {when:%H:%M:%S} {HOST}"
                self._iso = when.strftime("%Y-%m-%dT%H:%M:%S")
            write(f"{self._stamp} postfix/{program}[{pid}]: {text}\n")
            self.lines += 1
            if update is not None:
                self._count(update)
            if text.endswith(": removed"):
                self.qids.discard(text[:10])

    def _count(self, update: Update) -> None:
        kind, rcpt, message, over_quota = update
        entry = self.stats.entry(rcpt)
        if message is not None:
            if (rcpt, kind) in message.counted:
                return  # a retry: the message counts once per outcome
            message.counted.add((rcpt, kind))
        entry[kind] += 1
        if not over_quota:
            return
        if kind == "deferred":  # a full mailbox may be emptied before the last retry
            entry["deferred_over_quota"] += 1
            return
        entry["over_quota"] += 1
        if entry["first_over_quota"] is None:
            entry["first_over_quota"] = self._iso
        entry["last_over_quota"] = self._iso

    def run(self, out: IO[str], limit: int) -> None:
        """Write ``limit`` lines."""
        t = self.t0
        sessions: list[tuple[float, Callable[[float], None]]] = [
            (0.52, self.inbound),
            (0.15, self.outbound),
            (0.11, self.rejected_session),
            (0.08, self.postscreen_noise),
            (0.07, self.sasl_noise),
            (0.04, self.anvil_noise),
            (0.03, self.lost_connection),
        ]
        cum = list(itertools.accumulate(w for w, _ in sessions))
        while self.lines < limit:
            hour = ((t - self.t0) / 3600.0 + self.start.hour) % 24
            diurnal = 0.35 + 1.3 * math.exp(-(((hour - 13.0) / 5.0) ** 2))
            t += self.rnd.expovariate(self.rate * diurnal)
            self.flush(t, out, limit)
            x = self.rnd.random() * cum[-1]
            sessions[bisect.bisect(cum, x)][1](t)
        self.flush(math.inf, out, limit)

    # -- sessions ---------------------------------------------------------------------------

    def _smtpd_open(self, t: float, pid: int, host: str, ip: str, postscreen: bool = True) -> float:
        """Postscreen (optionally), ``connect from``, a warning maybe, TLS mostly."""
        rnd = self.rnd
        if postscreen:
            ps = self.pid("postscreen")
            port = rnd.randrange(1024, 65535)
            self.at(t, "postscreen", ps, f"CONNECT from [{ip}]:{port} to [{MX_IP}]:25")
            t += rnd.uniform(0.0, 0.2)
            if rnd.random() < 0.1:
                t += 6.0
                self.at(t, "postscreen", ps, f"PASS NEW [{ip}]:{port}")
            else:
                self.at(t, "postscreen", ps, f"PASS OLD [{ip}]:{port}")
        self.at(t, "smtpd", pid, f"connect from {host}[{ip}]")
        if host != "unknown" and rnd.random() < 0.05:
            self.at(
                t,
                "smtpd",
                pid,
                f"warning: hostname {host} does not resolve to address {ip}: "
                "Name or service not known",
            )
        t += rnd.uniform(0.05, 0.4)
        if rnd.random() < 0.85:
            self.at(
                t,
                "smtpd",
                pid,
                f"Anonymous TLS connection established from {host}[{ip}]: TLSv1.3 with cipher "
                "TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature "
                "RSA-PSS (2048 bits) server-digest SHA256",
            )
        return t

    def inbound(self, t: float) -> None:
        """Mail from outside to hosted mailboxes."""
        rnd = self.rnd
        host, ip = rnd.choice(self.clients)
        pid = self.pid("smtpd")
        t = self._smtpd_open(t, pid, host, ip)
        sender = self.external_addr()[0] if rnd.random() < 0.9 else ""
        n = 1 if rnd.random() < 0.8 else rnd.randrange(2, 5)
        rcpts = list({self.hosted_box().address: None for _ in range(n)})
        qid = self.qid()
        t += rnd.uniform(0.05, 0.5)
        self.at(t, "smtpd", pid, f"{qid}: client={host}[{ip}]")
        extra = 0
        guess = f"{rnd.choice(GUESSES)}@{rcpts[0].split('@')[1]}"
        if len(rcpts) > 1 and rnd.random() < 0.1 and guess not in self.addresses:
            self.at(
                t,
                "smtpd",
                pid,
                f"{qid}: reject: RCPT from {host}[{ip}]: 550 5.1.1 <{guess}>: Recipient address "
                f"rejected: User unknown in virtual mailbox table; from=<{sender}> to=<{guess}> "
                f"proto=ESMTP helo=<{host if host != 'unknown' else ip}>",
                ("rejected", guess, None, False),
            )
            extra = 1
        t += rnd.uniform(0.1, 1.5)
        origin = sender or (host if host != "unknown" else f"[{ip}]")
        self._queue(t, qid, sender, rcpts, rnd.randrange(2_000, 60_000), origin)
        t += rnd.uniform(0.01, 0.2)
        n_ok = len(rcpts)
        self.at(
            t,
            "smtpd",
            pid,
            f"disconnect from {host}[{ip}] ehlo=1 starttls=1 mail=1 rcpt={n_ok}"
            f"{'/' + str(n_ok + extra) if extra else ''} data=1 quit=1 "
            f"commands={5 + n_ok}{'/' + str(6 + n_ok) if extra else ''}",
        )

    def outbound(self, t: float) -> None:
        """Mail from a hosted mailbox (submission, SASL) to outside and hosted recipients."""
        rnd = self.rnd
        box = self.hosted_box()
        ip = self._ip()
        host = f"ip-{ip.replace('.', '-')}.dynamic.ziggo.nl" if rnd.random() < 0.5 else "unknown"
        pid = self.pid("submission/smtpd")
        self.at(t, "submission/smtpd", pid, f"connect from {host}[{ip}]")
        t += rnd.uniform(0.1, 0.6)
        qid = self.qid()
        self.at(
            t,
            "submission/smtpd",
            pid,
            f"{qid}: client={host}[{ip}], sasl_method=PLAIN, sasl_username={box.address}",
        )
        n = 1 if rnd.random() < 0.7 else rnd.randrange(2, 6)
        rcpts: dict[str, None] = {}
        for _ in range(n):
            if rnd.random() < 0.85:
                rcpts[self.external_addr()[0]] = None
            else:
                rcpts[self.hosted_box().address] = None
        t += rnd.uniform(0.2, 3.0)
        self._queue(
            t,
            qid,
            box.address,
            list(rcpts),
            min(40_000_000, int(rnd.lognormvariate(10.0, 1.5))) + 900,
            box.address,
        )
        self.at(
            t + rnd.uniform(0.01, 0.1),
            "submission/smtpd",
            pid,
            f"disconnect from {host}[{ip}] ehlo=2 starttls=1 auth=1 mail=1 rcpt={len(rcpts)} "
            f"data=1 quit=1 commands={7 + len(rcpts)}",
        )

    def _queue(
        self, t: float, qid: str, sender: str, rcpts: list[str], size: int, origin: str
    ) -> None:
        """Cleanup, qmgr, deliveries with retries, bounce notification, removal."""
        rnd = self.rnd
        message = Message()
        arrival = t - rnd.uniform(0.1, 1.5)
        mid = f"{rnd.getrandbits(48):012x}.{rnd.randrange(100000)}@{origin.split('@')[-1]}"
        self.at(t, "cleanup", self.pid("cleanup"), f"{qid}: message-id=<{mid}>")
        t += rnd.uniform(0.005, 0.05)
        qmgr = self.pid("qmgr")
        queued = f"{qid}: from=<{sender}>, size={size}, nrcpt={len(rcpts)} (queue active)"
        self.at(t, "qmgr", qmgr, queued)
        queued_at = t
        # Fates: per recipient a list of attempts, each ("sent"|"deferred"|"bounced", ...).
        pending = {rcpt: self._fate(rcpt, t) for rcpt in rcpts}
        attempt = 0
        later = t
        bounced: list[str] = []
        while pending:
            if attempt:
                t += min(4000.0, 300.0 * 2 ** (attempt - 1)) + rnd.uniform(0, 120)
                self.at(t, "qmgr", qmgr, queued)
            for rcpt in list(pending):
                fate = pending[rcpt]
                result, program, relay, dsn, reason, took = fate[attempt]
                t += rnd.uniform(0.01, 0.3)
                done = t + took
                # delays=a/b/c/d: before qmgr, in qmgr, connection setup, transmission.
                before = queued_at - arrival
                setup = rnd.uniform(0, min(0.3, took))
                waited = max(0.0, done - arrival - before - took)
                delays = "/".join(fmt(x) for x in (before, waited, setup, took - setup))
                self.at(
                    done,
                    program,
                    self.pid(program),
                    f"{qid}: to=<{rcpt}>, relay={relay}, delay={fmt(done - arrival)}, "
                    f"delays={delays}, dsn={dsn}, status={result} ({reason})",
                    (
                        {"sent": "delivered"}.get(result, result),
                        rcpt,
                        message,
                        dsn in OQ_DSN,
                    ),
                )
                later = max(later, done)
                if result != "deferred":
                    del pending[rcpt]
                    if result == "bounced":
                        bounced.append(rcpt)
            attempt += 1
            t = later + 0.001
        if bounced and sender:
            notice = self.qid()
            self.at(
                t,
                "bounce",
                self.pid("bounce"),
                f"{qid}: sender non-delivery notification: {notice}",
            )
            t2 = t + rnd.uniform(0.001, 0.01)
            self.at(t2 + 0.002, "qmgr", qmgr, f"{qid}: removed")
            self.at(
                t2,
                "cleanup",
                self.pid("cleanup"),
                f"{notice}: message-id=<{t2:.0f}.{notice}@{HOST_FQDN}>",
            )
            # A bounce notification: from=<>, never bounced again.
            self._notice(t2 + 0.01, notice, sender, rnd.randrange(3_000, 12_000))
        else:
            self.at(t + 0.002, "qmgr", qmgr, f"{qid}: removed")

    def _notice(self, t: float, qid: str, rcpt: str, size: int) -> None:
        rnd = self.rnd
        message = Message()
        qmgr = self.pid("qmgr")
        queued = f"{qid}: from=<>, size={size}, nrcpt=1 (queue active)"
        self.at(t, "qmgr", qmgr, queued)
        fate = self._fate(rcpt, t)
        first = t
        for attempt, (result, program, relay, dsn, reason, took) in enumerate(fate):
            if attempt:
                t += min(4000.0, 300.0 * 2 ** (attempt - 1)) + rnd.uniform(0, 120)
                self.at(t, "qmgr", qmgr, queued)
            t += rnd.uniform(0.01, 0.2)
            done = t + took
            self.at(
                done,
                program,
                self.pid(program),
                f"{qid}: to=<{rcpt}>, relay={relay}, delay={fmt(done - first + 0.01)}, "
                f"delays=0.01/0/{fmt(rnd.uniform(0, 0.2))}/{fmt(took)}, dsn={dsn}, "
                f"status={result} ({reason})",
                ({"sent": "delivered"}.get(result, result), rcpt, message, dsn in OQ_DSN),
            )
            t = done
        self.at(t + 0.002, "qmgr", qmgr, f"{qid}: removed")

    def _fate(self, rcpt: str, t: float) -> list[tuple[str, str, str, str, str, float]]:
        """The delivery attempts of one recipient: deferred ones, then sent or bounced."""
        _local, _, domain = rcpt.partition("@")
        boxes = self.by_domain.get(domain)
        if boxes is not None:
            box = next((b for b in boxes if b.address == rcpt), None)
            if box is None:  # an alias: deliver to the domain's first mailbox
                box = boxes[0]
            return self._local_fate(box, t)
        return self._remote_fate(rcpt)

    def _local_fate(self, box: Mailbox, t: float) -> list[tuple[str, str, str, str, str, float]]:
        rnd = self.rnd
        rcpt = box.address
        if box.lmtp:
            program, relay = "lmtp", f"{HOST_FQDN}[private/dovecot-lmtp]"
            ok = f"250 2.0.0 <{rcpt}> {rnd.getrandbits(64):016x} Saved"
            said = f"host {HOST_FQDN}[private/dovecot-lmtp] said:"
            full_temp = f"{said} 452 4.2.2 <{rcpt}> Mailbox is full {END_OF_DATA}"
            full_perm = (
                f"{said} 552 5.2.2 <{rcpt}> Quota exceeded (mailbox for user is full) {END_OF_DATA}"
            )
            sent = ("sent", program, relay, "2.0.0", f"{ok}", rnd.uniform(0.01, 0.3))
        else:
            program, relay = "virtual", "virtual"
            full_temp = (
                "Sorry, the user's maildir has overdrawn his diskspace quota, "
                "please try again later."
            )
            full_perm = (
                f"maildir delivery failed: create maildir file /var/vmail/{rcpt.split('@')[1]}/"
                f"{rcpt.split('@')[0]}/tmp/{int(t)}.P{rnd.randrange(1000, 99999)}.{HOST}: "
                "Disk quota exceeded"
            )
            sent = ("sent", program, relay, "2.0.0", "delivered to maildir", rnd.uniform(0.0, 0.05))
        if box.full_from <= t:
            r = rnd.random()
            if r < 0.55:
                tries = [
                    ("deferred", program, relay, "4.2.2", full_temp, rnd.uniform(0.01, 0.1))
                ] * rnd.randrange(1, 5)
                if rnd.random() < 0.35:
                    return [*tries, sent]
                return [*tries, ("bounced", program, relay, "5.2.2", full_perm, 0.02)]
            if r < 0.9:
                return [("bounced", program, relay, "5.2.2", full_perm, 0.02)]
            return [sent]
        if rnd.random() < 0.004:  # a transient LMTP/disk problem
            return [
                ("deferred", program, relay, "4.3.0", "temporary failure", 0.05),
                sent,
            ]
        return [sent]

    def _remote_fate(self, rcpt: str) -> list[tuple[str, str, str, str, str, float]]:
        rnd = self.rnd
        domain = rcpt.partition("@")[2]
        mx, ip = next(
            ((p[1], p[2]) for p in self.providers if p[0] == domain),
            (f"mail.{domain}", "203.0.113.7"),
        )
        relay = f"{mx}[{ip}]:25"
        took = rnd.uniform(0.2, 3.0)
        sent = (
            "sent",
            "smtp",
            relay,
            "2.0.0",
            f"250 2.0.0 OK {rnd.randrange(1_600_000_000, 1_800_000_000)} "
            f"{rnd.getrandbits(32):08x}-{rnd.randrange(100)}",
            took,
        )
        unknown = (
            "bounced",
            "smtp",
            relay,
            "5.1.1",
            f"host {mx}[{ip}] said: 550 5.1.1 <{rcpt}>: Recipient address rejected: "
            "User unknown (in reply to RCPT TO command)",
            took,
        )
        r = rnd.random()
        if r < 0.9:
            return [sent]
        if r < 0.95:
            timeout = (
                "deferred",
                "smtp",
                "none",
                "4.4.1",
                f"connect to {mx}[{ip}]:25: Connection timed out",
                30.0,
            )
            tries = [timeout] * rnd.randrange(1, 4)
            return [*tries, sent if rnd.random() < 0.8 else unknown]
        if r < 0.98:
            return [unknown]
        full = (
            "deferred",
            "smtp",
            relay,
            "4.2.2",
            f"host {mx}[{ip}] said: 452 4.2.2 The email account that you tried to reach is "
            "over quota. (in reply to RCPT TO command)",
            took,
        )
        tries = [full] * rnd.randrange(0, 3)
        return [
            *tries,
            (
                "bounced",
                "smtp",
                relay,
                "5.2.2",
                f"host {mx}[{ip}] said: 552 5.2.2 The email account that you tried to reach "
                "is over quota and inactive. (in reply to RCPT TO command)",
                took,
            ),
        ]

    def rejected_session(self, t: float) -> None:
        """An SMTP session whose recipients are all refused (``NOQUEUE: reject``)."""
        rnd = self.rnd
        host, ip = rnd.choice(self.clients)
        pid = self.pid("smtpd")
        t = self._smtpd_open(t, pid, host, ip)
        helo = host if host != "unknown" else f"[{ip}]"
        sender = (
            self.external_addr()[0]
            if rnd.random() < 0.7
            else f"{rnd.choice(FIRST)}@{rnd.choice(self.companies)[0]}"
        )
        n = 1 if rnd.random() < 0.8 else rnd.randrange(2, 4)
        for _ in range(n):
            t += rnd.uniform(0.05, 0.5)
            r = rnd.random()
            full = [b for b in (self.hosted_box() for _ in range(3)) if b.full_from <= t]
            if full and r < 0.5:
                rcpt = full[0].address
                code, text = "552 5.2.2", "Recipient address rejected: Mailbox full"
            elif r < 0.75:
                rcpt = f"{rnd.choice(GUESSES)}@{rnd.choice(self.domains)}"
                while rcpt in self.addresses:
                    rcpt = f"{rnd.choice(GUESSES)}{rnd.randrange(10)}@{rnd.choice(self.domains)}"
                code, text = (
                    "550 5.1.1",
                    "Recipient address rejected: User unknown in virtual mailbox table",
                )
            elif r < 0.85:
                rcpt = self.external_addr()[0]
                code, text = "554 5.7.1", "Relay access denied"
            elif r < 0.95:
                rcpt = self.hosted_box().address
                code, text = (
                    "554 5.7.1",
                    f"Client host rejected: cannot find your reverse hostname, [{ip}]",
                )
            else:
                rcpt = self.hosted_box().address
                sender = f"{rnd.choice(FIRST)}@{rnd.choice(WORDS)}.invalid"
                code, text = "450 4.1.8", "Sender address rejected: Domain not found"
            subject = f"<{sender}>" if code == "450 4.1.8" else f"<{rcpt}>"
            self.at(
                t,
                "smtpd",
                pid,
                f"NOQUEUE: reject: RCPT from {host}[{ip}]: {code} {subject}: {text}; "
                f"from=<{sender}> to=<{rcpt}> proto=ESMTP helo=<{helo}>",
                ("rejected", rcpt, None, code.endswith(".2.2")),
            )
        t += rnd.uniform(0.05, 0.3)
        self.at(
            t,
            "smtpd",
            pid,
            f"disconnect from {host}[{ip}] ehlo=1 mail=1 rcpt=0/{n} rset=1 quit=1 "
            f"commands=4/{4 + n}",
        )

    def postscreen_noise(self, t: float) -> None:
        """Postscreen turns a client away before smtpd sees it."""
        rnd = self.rnd
        ip = self._ip()
        port = rnd.randrange(1024, 65535)
        ps = self.pid("postscreen")
        self.at(t, "postscreen", ps, f"CONNECT from [{ip}]:{port} to [{MX_IP}]:25")
        r = rnd.random()
        if r < 0.5:
            self.at(
                t + 0.3,
                "dnsblog",
                self.pid("dnsblog"),
                f"addr {ip} listed by domain zen.spamhaus.org as 127.0.0.4",
            )
            self.at(t + 0.4, "postscreen", ps, f"DNSBL rank 3 for [{ip}]:{port}")
            self.at(t + 0.4, "postscreen", ps, f"DISCONNECT [{ip}]:{port}")
        elif r < 0.8:
            self.at(
                t + 0.1,
                "postscreen",
                ps,
                f"PREGREET 11 after 0.12 from [{ip}]:{port}: EHLO User\\r\\n",
            )
            self.at(t + 0.2, "postscreen", ps, f"DISCONNECT [{ip}]:{port}")
        else:
            self.at(
                t + 6.1,
                "postscreen",
                ps,
                f"HANGUP after 6.1 from [{ip}]:{port} in tests after SMTP handshake",
            )
            self.at(t + 6.1, "postscreen", ps, f"DISCONNECT [{ip}]:{port}")

    def sasl_noise(self, t: float) -> None:
        """A password-guessing client on submission."""
        rnd = self.rnd
        ip = self._ip()
        pid = self.pid("submission/smtpd")
        self.at(t, "submission/smtpd", pid, f"connect from unknown[{ip}]")
        t += rnd.uniform(1, 5)
        self.at(
            t,
            "submission/smtpd",
            pid,
            f"warning: unknown[{ip}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
        )
        self.at(t + 0.01, "submission/smtpd", pid, f"lost connection after AUTH from unknown[{ip}]")
        self.at(
            t + 0.01,
            "submission/smtpd",
            pid,
            f"disconnect from unknown[{ip}] ehlo=1 auth=0/1 commands=1/2",
        )

    def anvil_noise(self, t: float) -> None:
        """Anvil's periodic statistics, and an occasional warning."""
        rnd = self.rnd
        when = self.start + dt.timedelta(seconds=int(t - self.t0 - rnd.uniform(10, 500)))
        stamp = f"{MONTHS[when.month - 1]} {when.day:2d} {when:%H:%M:%S}"
        pid = self.pid("anvil")
        ip = rnd.choice(self.clients)[1]
        self.at(
            t,
            "anvil",
            pid,
            f"statistics: max connection rate {rnd.randrange(1, 9)}/60s for (smtp:{ip}) at {stamp}",
        )
        self.at(
            t,
            "anvil",
            pid,
            f"statistics: max connection count {rnd.randrange(1, 4)} for (smtp:{ip}) at {stamp}",
        )
        self.at(t, "anvil", pid, f"statistics: max cache size {rnd.randrange(2, 30)} at {stamp}")
        if rnd.random() < 0.3:
            self.at(
                t + 1,
                "smtpd",
                self.pid("smtpd"),
                "warning: TLS library problem: error:0A000412:SSL routines::sslv3 alert bad "
                "certificate:../ssl/record/rec_layer_s3.c:1584:SSL alert number 42:",
            )

    def lost_connection(self, t: float) -> None:
        """A client that connects and goes away."""
        rnd = self.rnd
        host, ip = rnd.choice(self.clients)
        pid = self.pid("smtpd")
        t = self._smtpd_open(t, pid, host, ip, postscreen=rnd.random() < 0.5)
        after = rnd.choice(["EHLO", "STARTTLS", "CONNECT", "DATA (0 bytes)"])
        self.at(t + 1, "smtpd", pid, f"lost connection after {after} from {host}[{ip}]")
        self.at(t + 1, "smtpd", pid, f"disconnect from {host}[{ip}] ehlo=1 commands=1")


def fmt(seconds: float) -> str:
    """A delay as Postfix writes it: ``0``, ``0.04``, ``1.2``, ``30``."""
    if seconds < 0.005:
        return "0"
    if seconds < 10:
        return f"{seconds:.2g}"
    return f"{seconds:.0f}"


def default_truth(out: Path) -> Path:
    """Where the truth goes next to ``out``."""
    return out.with_name(out.name + ".truth.json")


def generate(
    out: Path | None,
    lines: int = 1_000_000,
    seed: int = 1,
    year: int = 2026,
    rollover: bool = False,
    sessions_per_hour: float = 750.0,
    truth: Path | None = None,
) -> dict[str, Any]:
    """Write the log to ``out`` (stdout if None) and the truth to ``truth``; return the truth."""
    start = dt.datetime(year, 12, 31, 12, 0, 0) if rollover else dt.datetime(year, 11, 23, 0, 0, 7)
    gen = Generator(seed, start, sessions_per_hour)
    if out is None:
        gen.run(sys.stdout, lines)
        sys.stdout.flush()
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="ascii", buffering=1 << 20) as fh:
            gen.run(fh, lines)
    last = gen.start + dt.timedelta(seconds=gen._stamp_second - gen.t0)
    result = {
        "generator": {
            "version": VERSION,
            "lines": lines,
            "seed": seed,
            "year": year,
            "rollover": rollover,
            "sessions_per_hour": sessions_per_hour,
            "first": start.isoformat(),
            "last": last.isoformat(),
            "domains": len(gen.domains),
            "mailboxes": len(gen.mailboxes),
            "full_mailboxes": sum(1 for b in gen.mailboxes if b.full_from != math.inf),
        },
        "lines": gen.lines,
        "recipients": gen.stats.recipients,
    }
    if truth is None and out is not None:
        truth = default_truth(out)
    if truth is not None:
        truth.write_text(json.dumps(result, indent=0, sort_keys=True))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--year", type=int, default=2026, help="year of the first line")
    parser.add_argument(
        "--rollover", action="store_true", help="start on 31 December at noon (year rollover)"
    )
    parser.add_argument("--sessions-per-hour", type=float, default=750.0, help="mean SMTP rate")
    parser.add_argument("--out", type=Path, help="the log file (default: stdout)")
    parser.add_argument("--truth", type=Path, help="the truth JSON (default: <out>.truth.json)")
    args = parser.parse_args(argv)
    try:
        result = generate(
            args.out,
            args.lines,
            args.seed,
            args.year,
            args.rollover,
            args.sessions_per_hour,
            args.truth,
        )
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return 1
    g = result["generator"]
    print(
        f"{result['lines']:,} lines, {g['first']} .. {g['last']}, {g['domains']} domains, "
        f"{g['mailboxes']} mailboxes ({g['full_mailboxes']} full), "
        f"{len(result['recipients']):,} recipients in the truth",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
