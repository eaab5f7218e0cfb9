"""Realistic hosting trees on disk: Dovecot Maildirs and WordPress sites, seeded and sized.

Used by ``onus demo`` (the story of DESIGN.md, :func:`build_story_tree`) and by ``benchmarks/``
(:func:`build_benchmark_tree`, :func:`build_maildir_tree`). Pure Python: paths and numbers in,
files out. The same seed and ``now`` give the same file names and sizes.

Every builder returns a summary computed while writing (bytes count each inode once, as the
measurement rules of issue 3 do), so tests and benchmarks can compare a scan with the truth.
"""

from __future__ import annotations

import base64
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

KIB = 1024
MIB = 1024 * KIB
DAY = 86400

MARKER = ".onus-hostingtree"
MAIL_HOST = "mx1.snelhost.nl"
FOLDERS = ("Sent", "Drafts", "Trash", "Archive", "Archive.2024")

# Where a WordPress file belongs, by the rules of issue 3.
PARTS = ("core", "plugins", "themes", "uploads", "backups", "cache", "other")


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


_FIRST = _words(
    "Sanne Daan Emma Lucas Julia Sem Tess Finn Noor Levi Lotte Milan Sophie Bram Fleur "
    "Jesse Anouk Thijs Eva Ruben Lieke Stijn Iris Niels Femke Joris Maud Sven Roos Koen"
)
_LAST = _words(
    "de Vries|Jansen|van den Berg|Bakker|Visser|Smit|Meijer|de Boer|Mulder|de Groot|Bos|Vos|"
    "Peters|Hendriks|van Leeuwen|Dekker|Brouwer|de Wit|Dijkstra|Smits|de Graaf|van der Meer",
    "|",
)
_MAIL_DOMAINS = ("gmail.com", "hotmail.com", "outlook.com", "ziggo.nl", "kpnmail.nl", "xs4all.nl")
_WORDS = _words(
    "fiets bakker tuin zeil kapper sport dans yoga judo bloem kaas vis koffie foto reis "
    "boek muziek school kinder zorg bouw schilder klus auto camping strand molen haven dijk "
    "polder"
)
_SENTENCES = (
    "Hartelijk dank voor uw bericht.",
    "Zoals besproken stuur ik hierbij de gegevens.",
    "Kunt u mij laten weten of dit zo akkoord is?",
    "De training van donderdag gaat gewoon door.",
    "Wij hebben uw betaling in goede orde ontvangen.",
    "In de bijlage vindt u het overzicht van deze maand.",
    "Mocht u nog vragen hebben, dan hoor ik het graag.",
    "Het nieuwe rooster gaat in per de eerste van de maand.",
    "Graag ontvang ik een bevestiging van de afspraak.",
    "Met vriendelijke groet,",
    "Is er volgende week nog plek in de groep?",
    "De factuur wordt binnen veertien dagen voldaan.",
)
_LESSONS = ("Atletiek jeugd", "Hardlopen beginners", "Bootcamp", "Turnen 6-8 jaar", "Spinning")

_CODE = (
    "function wp_example_filter( $value, $context = 'view' ) {\n"
    "\tif ( empty( $value ) ) {\n\t\treturn apply_filters( 'example_default', '', $context );\n"
    "\t}\n\t$value = sanitize_text_field( wp_unslash( $value ) );\n"
    "\treturn esc_html( $value );\n}\n\n"
    ".wp-block-example{margin:0 auto;padding:var(--wp--preset--spacing--20)}\n"
    "(function($){'use strict';$(document).on('click','.toggle',function(e){"
    "e.preventDefault();$(this).next().slideToggle(150);});})(jQuery);\n"
)

WP_VERSION_PHP = """<?php
/**
 * WordPress Version
 *
 * Contains version information for the current WordPress release.
 *
 * @package WordPress
 * @since 1.2.0
 */

/**
 * The WordPress version string.
 *
 * @global string $wp_version
 */
$wp_version = '{version}';

/**
 * Holds the WordPress DB revision, increments when changes are made to the WordPress DB schema.
 *
 * @global int $wp_db_version
 */
$wp_db_version = 56657;

$tinymce_version = '49110-20201110';
$required_php_version = '7.0.0';
$required_mysql_version = '5.0';
"""

WP_CONFIG_PHP = """<?php
define( 'DB_NAME', '{db}' );
define( 'DB_USER', '{db}' );
define( 'DB_PASSWORD', '{password}' );
define( 'DB_HOST', 'localhost' );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );

define( 'AUTH_KEY',         '{salt}' );
define( 'SECURE_AUTH_KEY',  '{salt}' );
define( 'LOGGED_IN_KEY',    '{salt}' );
define( 'NONCE_KEY',        '{salt}' );

$table_prefix = 'wp_';

define( 'WP_DEBUG', false );

if ( ! defined( 'ABSPATH' ) ) {{
\tdefine( 'ABSPATH', __DIR__ . '/' );
}}

require_once ABSPATH . 'wp-settings.php';
"""

_WP_TOP = _words(
    "index.php wp-activate.php wp-blog-header.php wp-comments-post.php wp-config-sample.php "
    "wp-cron.php wp-links-opml.php wp-load.php wp-login.php wp-mail.php wp-settings.php "
    "wp-signup.php wp-trackback.php xmlrpc.php license.txt readme.html .htaccess"
)
_WP_DIRS = {
    "wp-admin": (
        "",
        "includes",
        "css",
        "css/colors/blue",
        "css/colors/ocean",
        "js",
        "images",
        "network",
        "user",
        "maint",
    ),
    "wp-includes": (
        "",
        "js",
        "js/dist",
        "js/dist/vendor",
        "js/tinymce",
        "js/tinymce/plugins",
        "js/jquery",
        "css",
        "css/dist/block-library",
        "blocks",
        "rest-api",
        "rest-api/endpoints",
        "html-api",
        "fonts",
        "images",
        "SimplePie",
        "Requests/src",
        "ID3",
        "sodium_compat/src",
        "customize",
        "widgets",
        "block-patterns",
        "style-engine",
        "interactivity-api",
    ),
}
_BLOCKS = _words(
    "archives audio avatar block button buttons calendar categories code column columns "
    "cover details embed file footnotes gallery group heading html image latest-comments "
    "latest-posts list list-item loginout media-text navigation page-list paragraph pattern "
    "post-author post-content post-date post-excerpt post-title preformatted pullquote "
    "query quote search separator shortcode site-logo site-title social-link spacer table "
    "tag-cloud template-part verse video"
)

# slug, plugin name, version, relative weight (files and bytes)
PLUGINS = (
    ("elementor", "Elementor", "3.19.2", 10),
    ("elementor-pro", "Elementor Pro", "3.19.1", 7),
    ("woocommerce", "WooCommerce", "8.6.1", 14),
    ("contact-form-7", "Contact Form 7", "5.8.7", 1),
    ("flamingo", "Flamingo", "2.4", 1),
    ("wordpress-seo", "Yoast SEO", "22.0", 5),
    ("updraftplus", "UpdraftPlus - Backup/Restore", "1.24.1", 4),
    ("all-in-one-wp-migration", "All-in-One WP Migration", "7.80", 2),
    ("wordfence", "Wordfence Security", "7.11.2", 4),
    ("wp-rocket", "WP Rocket", "3.15.9", 3),
    ("the-events-calendar", "The Events Calendar", "6.3.2", 6),
    ("revslider", "Slider Revolution", "6.6.20", 6),
    ("akismet", "Akismet Anti-spam", "5.3.1", 1),
    ("jetpack", "Jetpack", "13.1", 9),
    ("backwpup", "BackWPup", "4.0.4", 2),
    ("duplicator", "Duplicator", "1.5.8", 2),
    ("classic-editor", "Classic Editor", "1.6.3", 1),
    ("wpforms-lite", "WPForms Lite", "1.8.6.4", 3),
)
# slug, theme name, version, relative weight
THEMES = (
    ("astra", "Astra", "4.6.4", 4),
    ("hello-elementor", "Hello Elementor", "3.0.1", 1),
    ("twentytwentyfour", "Twenty Twenty-Four", "1.0", 3),
    ("twentytwentythree", "Twenty Twenty-Three", "1.3", 2),
    ("storefront", "Storefront", "4.5.4", 2),
    ("generatepress", "GeneratePress", "3.4.0", 2),
)


# ---------------------------------------------------------------------------------------------
# Writing files


class _Writer:
    """Writes files of given sizes from seeded pools; counts files and (unique) bytes."""

    def __init__(self, seed: int) -> None:
        pool = random.Random(f"pool-{seed}")
        self.binary = pool.randbytes(MIB)
        text = "".join(_CODE.replace("example", w) for w in _WORDS)
        self.text = (text * (256 * KIB // len(text) + 1)).encode()[: 256 * KIB]
        # 16384 full base64 lines of 76 characters (+ newline): attachments are slices of it
        self.base64 = base64.encodebytes(pool.randbytes(57 * 16384))
        self.files = 0
        self.bytes = 0
        self._dirs: set[Path] = set()
        self._turn = 0

    def mkdir(self, path: Path) -> Path:
        """Create ``path`` (and parents) once."""
        if path not in self._dirs:
            path.mkdir(parents=True, exist_ok=True)
            self._dirs.add(path)
        return path

    def write(
        self,
        path: Path,
        size: int = 0,
        *,
        data: bytes | None = None,
        text: bool = False,
        mtime: float | None = None,
        mode: int = 0o644,
    ) -> int:
        """Write ``data``, or ``size`` bytes from a pool; return the size written."""
        self.mkdir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            if data is not None:
                size = len(data)
                os.write(fd, data)
            else:
                self._fill(fd, size, self.text if text else self.binary)
            if mtime is not None:
                os.utime(fd, (mtime, mtime))
        finally:
            os.close(fd)
        self.files += 1
        self.bytes += size
        return size

    def link(self, source: Path, target: Path) -> None:
        """A hard link: one more name, no more bytes."""
        self.mkdir(target.parent)
        os.link(source, target)
        self.files += 1

    def _fill(self, fd: int, size: int, pool: bytes) -> None:
        self._turn += 1
        if size <= len(pool) // 2:
            start = (self._turn * 7919) % (len(pool) - size)
            os.write(fd, memoryview(pool)[start : start + size])
            return
        view = memoryview(pool)
        left = size
        while left > 0:
            chunk = min(left, len(pool))
            written = os.write(fd, view[:chunk])
            left -= written


def _split(
    rng: random.Random, total: int, count: int, sigma: float = 1.0, least: int = 1
) -> list[int]:
    """``count`` log-normally spread sizes that add up to ``total`` (each at least ``least``)."""
    if count <= 0:
        return []
    weights = [rng.lognormvariate(0, sigma) for _ in range(count)]
    scale = max(0, total - least * count) / sum(weights)
    sizes = [least + int(w * scale) for w in weights]
    biggest = max(range(count), key=sizes.__getitem__)
    sizes[biggest] += max(0, total - sum(sizes))
    return sizes


def _lognormal(rng: random.Random, median: float, sigma: float, low: int, high: int) -> int:
    return int(min(high, max(low, rng.lognormvariate(math.log(median), sigma))))


def _person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    local = f"{first}.{last.split()[-1]}".lower()
    return f"{first} {last}", f"{local}{rng.randrange(100)}@{rng.choice(_MAIL_DOMAINS)}"


def _prepare_root(root: Path, children: list[Path], writer: _Writer) -> None:
    """Make ``root``; replace children a previous run generated, refuse to touch anything else.

    The marker file that says "generated here" is counted by ``writer`` like any other file.
    """
    root.mkdir(parents=True, exist_ok=True)
    generated = (root / MARKER).exists()
    for child in children:
        if child.is_symlink() or child.is_file():
            if not generated:
                raise FileExistsError(f"{child} exists and was not generated here")
            child.unlink()
        elif child.exists():
            if not generated:
                raise FileExistsError(f"{child} exists and was not generated here")
            shutil.rmtree(child)
    writer.write(root / MARKER, data=b"generated by panel.hostingtree; safe to delete\n")


# ---------------------------------------------------------------------------------------------
# Maildirs


@dataclass
class MailboxSpec:
    """What one Dovecot Maildir should hold."""

    address: str
    quota: int | None = None
    messages: int | None = None  # generate this many messages ...
    target_bytes: int | None = None  # ... or until the mailbox holds about this many bytes
    names: str = "S"  # "S": Dovecot names with ,S=/,W=; "plain": older names without sizes
    maildirsize: bool = True
    folders: tuple[str, ...] = FOLDERS
    size_median: int = 6 * KIB
    size_sigma: float = 1.3
    size_max: int = 6 * MIB
    span_days: int = 720
    unread_days: float = 3.0  # INBOX messages newer than this may still sit in new/
    signups: int = 0  # the story's contact-form mails, spread over the last campaign_days
    campaign_days: int = 21
    kinds: tuple[str, ...] = ("personal", "personal", "newsletter", "invoice", "photo", "notice")
    link_share: float = 0.03  # INBOX messages also copied (hard-linked) into an archive folder
    tmp_leftover: bool = False


@dataclass
class _Message:
    folder: str
    when: float
    data: bytes
    seen: bool


class _MailFactory:
    """Builds RFC 5322 messages of a wanted size."""

    def __init__(self, rng: random.Random, writer: _Writer, address: str) -> None:
        self.rng = rng
        self.b64 = writer.base64
        self.address = address
        self.domain = address.split("@", 1)[1]
        self.counter = 0

    def _headers(self, sender: str, to: str, subject: str, when: float, extra: str = "") -> str:
        rng = self.rng
        self.counter += 1
        date = formatdate(when).replace("-0000", "+0000")
        queue = "".join(rng.choice("0123456789ABCDEF") for _ in range(10))
        sender_host = sender.split("@")[-1].rstrip(">")
        ip = ".".join(str(rng.randrange(1, 224)) for _ in range(4))
        return (
            f"Return-Path: <{_bare(sender)}>\n"
            f"Delivered-To: {to}\n"
            f"Received: from {MAIL_HOST}\n\tby {MAIL_HOST} with LMTP\n"
            f"\tid {queue.lower()}{self.counter:06x} ({int(when)})\n\tfor <{to}>; {date}\n"
            f"Received: from mail.{sender_host} (mail.{sender_host} [{ip}])\n"
            f"\tby {MAIL_HOST} (Postfix) with ESMTPS id {queue}\n\tfor <{to}>; {date}\n"
            f"Authentication-Results: {MAIL_HOST}; dkim=pass header.d={sender_host};"
            f" spf=pass smtp.mailfrom={sender_host}; dmarc=pass header.from={sender_host}\n"
            f"X-Spam-Status: No, score={rng.randrange(-30, 40) / 10} required=5.0"
            " tests=DKIM_SIGNED,DKIM_VALID,SPF_PASS autolearn=ham version=3.4.6\n"
            f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={sender_host}; s=default;"
            f"\n\tt={int(when)}; bh={self.b64[:44].decode()};\n\th=From:To:Subject:Date:"
            f"Message-ID;\n\tb={_folded(self.b64[77 : 77 + 76 * 4])}\n"
            f"From: {sender}\n"
            f"To: <{to}>\n"
            f"Subject: {subject}\n"
            f"Date: {date}\n"
            f"Message-ID: <{int(when)}.{self.counter}.{queue.lower()}@{sender_host}>\n"
            f"MIME-Version: 1.0\n{extra}"
        )

    def _text(self, count: int) -> str:
        return "\n".join(self.rng.choice(_SENTENCES) for _ in range(count)) + "\n"

    def signup(self, when: float) -> bytes:
        """The site's contact form: 'Nieuwe aanmelding via <domain>'."""
        rng = self.rng
        name, mail = _person(rng)
        head = self._headers(
            f"WordPress <wordpress@{self.domain}>",
            self.address,
            f"Nieuwe aanmelding via {self.domain}",
            when,
            f"Reply-To: {name} <{mail}>\nContent-Type: text/plain; charset=UTF-8\n"
            "Content-Transfer-Encoding: 8bit\nX-WPCF7-Content-Type: text/plain\n",
        )
        body = (
            f"Van: {name} <{mail}>\nOnderwerp: Aanmelding {rng.choice(_LESSONS)}\n\n"
            f"Naam: {name}\nE-mail: {mail}\nTelefoon: 06-{rng.randrange(10**7, 10**8)}\n"
            f"Geboortedatum: {rng.randrange(1, 29)}-{rng.randrange(1, 13)}-"
            f"{rng.randrange(1960, 2018)}\nLesgroep: {rng.choice(_LESSONS)}\n"
            f"Bericht:\n{self._text(rng.randrange(2, 8))}\n-- \n"
            f"Deze e-mail is verzonden via het contactformulier op {self.domain} "
            f"(https://{self.domain}/aanmelden/)\n"
        )
        return (head + "\n" + body).encode()

    def message(self, kind: str, when: float, size: int, sent: bool = False) -> bytes:
        """A message of about ``size`` bytes: text, plus a base64 attachment when that is big."""
        rng = self.rng
        name, mail = _person(rng)
        sender, to = (self.address, mail) if sent else (f"{name} <{mail}>", self.address)
        subject = {
            "personal": "Vraag over het lesrooster",
            "newsletter": "Nieuwsbrief " + rng.choice(("maart", "april", "mei", "juni")),
            "invoice": f"Factuur {rng.randrange(2023000, 2024999)}",
            "photo": "Foto's van zaterdag",
            "notice": "Uw bestelling is verzonden",
            "order": f"[{self.domain}] Nieuwe bestelling #{rng.randrange(1000, 9999)}",
        }.get(kind, "Bericht")
        if sent:
            subject = "Re: " + subject
        text = self._text(rng.randrange(3, 12))
        attachment = size - 2_600 - len(text)
        if attachment < 1200:
            head = self._headers(
                sender,
                to,
                subject,
                when,
                "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n",
            )
            while len(head) + len(text) < size:  # a longer letter, or a quoted thread
                text += "> " + rng.choice(_SENTENCES) + "\n"
            return (head + "\n" + text).encode()
        boundary = f"----=_Part_{rng.randrange(10**9)}"
        filename, ctype = {
            "photo": (f"IMG_{rng.randrange(1000, 9999)}.jpg", "image/jpeg"),
            "newsletter": ("banner.png", "image/png"),
        }.get(kind, (f"document-{rng.randrange(100, 999)}.pdf", "application/pdf"))
        head = self._headers(
            sender, to, subject, when, f'Content-Type: multipart/mixed; boundary="{boundary}"\n'
        )
        lines = max(1, attachment // 77)
        start = rng.randrange(0, 16384 - min(lines, 16383)) * 77
        blob = self.b64[start : start + lines * 77]
        if len(blob) < lines * 77:  # bigger than the pool: repeat it
            repeat = self.b64 * (lines * 77 // len(self.b64) + 1)
            blob = repeat[: lines * 77]
        return b"".join(
            (
                f"{head}\nThis is a multi-part message in MIME format.\n\n--{boundary}\n"
                "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n"
                f'{text}\n--{boundary}\nContent-Type: {ctype}; name="{filename}"\n'
                "Content-Transfer-Encoding: base64\n"
                f'Content-Disposition: attachment; filename="{filename}"\n\n'.encode(),
                blob,
                f"\n--{boundary}--\n".encode(),
            )
        )


def _folded(b64: bytes) -> str:
    return "\n\t".join(b64.decode().split("\n")).rstrip()


def _bare(sender: str) -> str:
    return sender.rsplit("<", 1)[-1].rstrip(">")


def _flags(rng: random.Random, seen: bool, folder: str) -> str:
    flags = set()
    if seen or folder in ("Sent", "Drafts"):
        flags.add("S")
    if folder == "Drafts":
        flags.add("D")
    if folder == "Trash" and rng.random() < 0.3:
        flags.add("T")
    roll = rng.random()
    if roll < 0.08:
        flags.add("R")
    elif roll < 0.11:
        flags.add("F")
    return "".join(sorted(flags))


class _Names:
    """Unique message file names, Dovecot style or older styles without sizes."""

    def __init__(self, rng: random.Random, style: str) -> None:
        self.rng = rng
        self.style = style
        self.taken: set[str] = set()

    def base(self, when: float, data: bytes) -> str:
        rng = self.rng
        while True:
            usec, pid = rng.randrange(10**6), rng.randrange(300, 65000)
            if self.style == "S":
                size, lines = len(data), data.count(b"\n")
                name = f"{int(when)}.M{usec}P{pid}.{MAIL_HOST},S={size},W={size + lines}"
            elif rng.random() < 0.5:  # Courier-style, without sizes
                inode = f"{rng.randrange(16**8):08X}"
                name = f"{int(when)}.M{usec}P{pid}V000000000000FD01I{inode}_0.{MAIL_HOST}"
            else:  # qmail-style
                name = f"{int(when)}.{pid}_{rng.randrange(1, 99)}.{MAIL_HOST}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def copy(self, name: str, when: float) -> str:
        """A new name for a copy of ``name`` (same size fields)."""
        rest = name.split(".", 2)[2]
        while True:
            usec, pid = self.rng.randrange(10**6), self.rng.randrange(300, 65000)
            if self.style == "S":
                new = f"{int(when)}.M{usec}P{pid}.{rest}"
            else:
                new = f"{int(when)}.{pid}_{self.rng.randrange(1, 99)}.{MAIL_HOST}"
            if new not in self.taken:
                self.taken.add(new)
                return new


def build_maildir(
    path: Path,
    spec: MailboxSpec,
    *,
    seed: int = 1,
    now: float | None = None,
    writer: _Writer | None = None,
) -> dict[str, Any]:
    """Write one Dovecot Maildir at ``path``; return its truth (bytes, messages, folders)."""
    own = writer or _Writer(seed)
    return _build_maildir(own, random.Random(f"{seed}-{spec.address}"), path, spec, _now(now))


def _now(now: float | None) -> float:
    return float(int(time.time() if now is None else now))


def _build_maildir(
    writer: _Writer, rng: random.Random, path: Path, spec: MailboxSpec, now: float
) -> dict[str, Any]:
    files0, bytes0 = writer.files, writer.bytes
    factory = _MailFactory(rng, writer, spec.address)
    messages = _plan_messages(rng, factory, spec, now)
    names = _Names(rng, spec.names)
    folders: dict[str, dict[str, Any]] = {}
    listed: dict[str, list[str]] = {}
    per_folder_bytes: dict[str, int] = {}

    def folder_dir(folder: str) -> Path:
        directory = path if folder == "INBOX" else path / f".{folder}"
        if folder not in listed:
            listed[folder] = []
            per_folder_bytes[folder] = 0
            for sub in ("cur", "new", "tmp"):
                writer.mkdir(directory / sub)
        return directory

    for folder in ("INBOX", *spec.folders):
        folder_dir(folder)
    archives = [f for f in spec.folders if f.startswith("Archive")] or list(spec.folders[:1])
    count = 0
    quota_bytes = 0
    for message in messages:
        directory = folder_dir(message.folder)
        base = names.base(message.when, message.data)
        fresh = (
            message.folder == "INBOX"
            and not message.seen
            and now - message.when < spec.unread_days * DAY
        )
        if fresh:
            target = directory / "new" / base
        else:
            target = directory / "cur" / f"{base}:2,{_flags(rng, message.seen, message.folder)}"
        writer.write(target, data=message.data, mtime=message.when, mode=0o600)
        listed[message.folder].append(base)
        per_folder_bytes[message.folder] += len(message.data)
        count += 1
        quota_bytes += len(message.data)
        if archives and message.folder == "INBOX" and not fresh and rng.random() < spec.link_share:
            archive = rng.choice(archives)
            copy = names.copy(base, min(now, message.when + rng.randrange(60, 30 * DAY)))
            other = folder_dir(archive) / "cur" / f"{copy}:2,S"
            writer.link(target, other)
            listed[archive].append(copy)
            per_folder_bytes[archive] += len(message.data)
            count += 1
            quota_bytes += len(message.data)
    if spec.tmp_leftover:
        writer.write(
            path / "tmp" / f"{int(now)}.M1P{rng.randrange(300, 65000)}.{MAIL_HOST}",
            rng.randrange(500, 40_000),
            mode=0o600,
        )
    uidvalidity = int(now - spec.span_days * DAY)
    for folder, bases in listed.items():
        directory = folder_dir(folder)
        folder_bytes0 = writer.bytes
        _index_files(writer, rng, directory, folder, bases, uidvalidity)
        folders[folder] = {
            "messages": len(bases),
            "message_bytes": per_folder_bytes[folder],
            "index_bytes": writer.bytes - folder_bytes0,
        }
    subscriptions = "".join(f"{f}\n" for f in spec.folders)
    writer.write(path / "subscriptions", data=subscriptions.encode())
    writer.write(path / "dovecot-uidvalidity", data=f"{uidvalidity:x}\n".encode())
    writer.write(path / f"dovecot-uidvalidity.{uidvalidity:x}", data=b"")
    writer.write(path / "dovecot.list.index.log", rng.randrange(1_000, 12_000))
    if spec.maildirsize:
        writer.write(path / "maildirsize", data=_maildirsize(rng, spec.quota, quota_bytes, count))
    return {
        "path": str(path),
        "address": spec.address,
        "quota": spec.quota,
        "names": spec.names,
        "maildirsize": spec.maildirsize,
        "bytes": writer.bytes - bytes0,
        "files": writer.files - files0,
        "messages": count,
        "message_bytes": quota_bytes,
        "folders": folders,
    }


def _plan_messages(
    rng: random.Random, factory: _MailFactory, spec: MailboxSpec, now: float
) -> list[_Message]:
    """The mailbox's messages in time order; stops at ``messages`` or ``target_bytes``."""
    out: list[_Message] = []
    for _ in range(spec.signups):
        # a campaign: more sign-ups each day, most of them still unread
        age = spec.campaign_days * DAY * (1 - math.sqrt(rng.random()))
        when = now - age
        out.append(_Message("INBOX", when, factory.signup(when), seen=age > 6 * DAY))
    total = sum(len(m.data) for m in out)
    weights = {"INBOX": 60, "Sent": 18, "Drafts": 1, "Trash": 4, "Archive": 10, "Archive.2024": 7}
    choices = ["INBOX", *spec.folders]
    folder_weights = [weights.get(f, 5) for f in choices]
    overhead = 160  # index and uidlist bytes per message, roughly
    while True:
        if spec.messages is not None and len(out) >= spec.messages + spec.signups:
            break
        if spec.target_bytes is not None and total + overhead * len(out) >= spec.target_bytes:
            break
        if spec.messages is None and spec.target_bytes is None:
            break
        folder = rng.choices(choices, folder_weights)[0]
        when = now - rng.random() ** 1.6 * spec.span_days * DAY
        size = _lognormal(rng, spec.size_median, spec.size_sigma, 2_000, spec.size_max)
        if spec.target_bytes is not None:
            size = min(size, max(2_000, spec.target_bytes - total - overhead * len(out)))
        data = factory.message(rng.choice(spec.kinds), when, size, sent=folder == "Sent")
        seen = folder != "INBOX" or rng.random() < 0.9 or now - when > spec.unread_days * DAY
        out.append(_Message(folder, when, data, seen))
        total += len(data)
    out.sort(key=lambda m: m.when)
    return out


def _index_files(
    writer: _Writer,
    rng: random.Random,
    directory: Path,
    folder: str,
    bases: list[str],
    uidvalidity: int,
) -> None:
    guid = f"{rng.getrandbits(128):032x}"
    lines = [f"3 V{uidvalidity} N{len(bases) + 1} G{guid}\n"]
    lines.extend(f"{uid} :{base}\n" for uid, base in enumerate(bases, start=1))
    writer.write(directory / "dovecot-uidlist", data="".join(lines).encode())
    count = len(bases)
    if count > 30:  # Dovecot writes the main index once the log has grown
        writer.write(directory / "dovecot.index", 256 + 40 * count)
    writer.write(directory / "dovecot.index.cache", 1_024 + rng.randrange(80, 200) * count)
    writer.write(
        directory / "dovecot.index.log", min(32 * KIB, 600 + 90 * count + rng.randrange(900))
    )
    if folder != "INBOX":
        writer.write(directory / "maildirfolder", data=b"")


def _maildirsize(rng: random.Random, quota: int | None, size: int, count: int) -> bytes:
    """Maildir++: a quota line, then ``<bytes> <count>`` lines that add up to the truth."""
    head = f"{quota or 0}S" + (f",{rng.choice((0, 10000))}C" if rng.random() < 0.5 else "")
    lines = [head]
    deltas: list[tuple[int, int]] = []
    for _ in range(rng.randrange(0, 12) if count > 3 else 0):
        delta = rng.randrange(1_500, 60_000)
        if rng.random() < 0.3:
            deltas.append((-delta, -1))
        else:
            deltas.append((delta, 1))
    base_size = size - sum(d for d, _ in deltas)
    base_count = count - sum(c for _, c in deltas)
    lines.append(f"{base_size} {base_count}")
    lines.extend(f"{d} {c}" for d, c in deltas)
    return ("\n".join(lines) + "\n").encode()


# ---------------------------------------------------------------------------------------------
# WordPress


@dataclass
class BackupSpec:
    """One backup kept on the site: a plugin's archive(s) of ``size`` bytes, ``age_days`` old."""

    plugin: str  # "updraft", "ai1wm", "backwpup", "duplicator"
    size: int
    age_days: float


@dataclass
class SiteSpec:
    """What one WordPress site should hold, part by part (files and bytes)."""

    domain: str
    title: str = "Mijn site"
    version: str = "6.4.3"
    database: str = "wp_site"
    core_files: int = 2_800
    core_bytes: int = 5 * MIB
    plugins: tuple[str, ...] = ("contact-form-7", "wordpress-seo", "akismet")
    plugin_files: int = 900
    plugin_bytes: int = 8 * MIB
    mu_plugins: int = 1
    themes: tuple[str, ...] = ("twentytwentyfour",)
    theme_files: int = 150
    theme_bytes: int = 3 * MIB
    upload_originals: int = 40
    upload_bytes: int = 4 * MIB
    upload_years: int = 3
    cache_files: int = 60
    cache_bytes: int = 512 * KIB
    backups: list[BackupSpec] = field(default_factory=list)
    other_files: int = 6


class _Site:
    def __init__(self, writer: _Writer, rng: random.Random, docroot: Path, now: float) -> None:
        self.writer = writer
        self.rng = rng
        self.docroot = docroot
        self.now = now
        self.parts = dict.fromkeys(PARTS, 0)
        self.files = 0
        self.old_backups: list[str] = []

    def put(
        self,
        part: str,
        rel: str,
        size: int = 0,
        *,
        data: bytes | None = None,
        text: bool = True,
        age_days: float | None = None,
    ) -> None:
        mtime = None if age_days is None else self.now - age_days * DAY
        written = self.writer.write(self.docroot / rel, size, data=data, text=text, mtime=mtime)
        self.parts[part] += written
        self.files += 1


def build_wordpress(
    docroot: Path,
    spec: SiteSpec,
    *,
    seed: int = 1,
    now: float | None = None,
    writer: _Writer | None = None,
) -> dict[str, Any]:
    """Write a WordPress install at ``docroot``; return its truth (bytes per part)."""
    own = writer or _Writer(seed)
    return _build_wordpress(own, random.Random(f"{seed}-{spec.domain}"), docroot, spec, _now(now))


def _build_wordpress(
    writer: _Writer, rng: random.Random, docroot: Path, spec: SiteSpec, now: float
) -> dict[str, Any]:
    site = _Site(writer, rng, docroot, now)
    _wp_core(site, spec)
    _wp_plugins(site, spec)
    _wp_themes(site, spec)
    _wp_uploads(site, spec)
    _wp_cache(site, spec)
    _wp_backups(site, spec)
    others = (
        ("wp-content/index.php", 28),
        ("wp-content/languages/nl_NL.mo", 90_000),
        ("wp-content/languages/admin-nl_NL.mo", 60_000),
        ("wp-content/upgrade/index.php", 28),
        ("wp-content/debug.log", 40_000),
        ("wp-content/languages/nl_NL.po", 120_000),
    )
    for rel, size in others[: spec.other_files]:
        site.put("other", rel, size, text=not rel.endswith(".mo"))
    return {
        "path": str(docroot),
        "kind": "wordpress",
        "version": spec.version,
        "bytes": sum(site.parts.values()),
        "files": site.files,
        "parts": dict(site.parts),
        "old_backups": sorted(site.old_backups),
    }


def _unique_names(rng: random.Random, count: int, make: Any) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    attempt = 0
    while len(names) < count:
        name = make(rng, attempt)
        attempt += 1
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _core_name(rng: random.Random, attempt: int) -> str:
    top = "wp-includes" if rng.random() < 0.67 else "wp-admin"
    if top == "wp-includes" and rng.random() < 0.25:
        block = rng.choice(_BLOCKS)
        return f"wp-includes/blocks/{block}/" + rng.choice(
            (
                "block.json",
                "style.min.css",
                "style-rtl.css",
                "editor.min.css",
                "view.min.js",
                "theme.css",
                "style.css",
                "editor-rtl.min.css",
            )
        )
    sub = rng.choice(_WP_DIRS[top])
    word = rng.choice(_WORDS + _BLOCKS)
    ext = {"css": "css", "js": "js", "images": "png", "fonts": "woff2"}.get(
        sub.split("/")[0], rng.choice(("php", "php", "php", "js", "css"))
    )
    stem = f"class-wp-{word}" if ext == "php" and rng.random() < 0.5 else f"{word}-{attempt % 97}"
    if ext in ("js", "css") and rng.random() < 0.5:
        stem += ".min"
    return f"{top}/{sub}/{stem}.{ext}".replace("//", "/")


def _wp_core(site: _Site, spec: SiteSpec) -> None:
    """Everything outside wp-content/: the real top-level files, version.php, and the rest."""
    rng = site.rng
    secret = f"{rng.getrandbits(160):040x}"
    with_data: list[tuple[str, bytes | None]] = [
        ("wp-includes/version.php", WP_VERSION_PHP.replace("{version}", spec.version).encode()),
        (
            "wp-config.php",
            WP_CONFIG_PHP.format(db=spec.database, password=secret[:20], salt=secret).encode(),
        ),
        (
            "index.php",
            b"<?php\ndefine( 'WP_USE_THEMES', true );\nrequire __DIR__ . '/wp-blog-header.php';\n",
        ),
    ]
    entries = with_data + [(name, None) for name in _WP_TOP if name != "index.php"]
    entries = entries[: max(3, spec.core_files)]
    given = sum(len(data) for _, data in entries if data is not None)
    sized = [rel for rel, data in entries if data is None]
    sized += _unique_names(rng, spec.core_files - len(entries), _core_name)
    sizes = _split(rng, max(0, spec.core_bytes - given), len(sized), sigma=1.2, least=40)
    for rel, data in entries:
        if data is not None:
            site.put("core", rel, data=data)
    for rel, size in zip(sized, sizes, strict=True):
        site.put("core", rel, size, text=not rel.endswith((".png", ".woff2")))


def _component(
    site: _Site,
    part: str,
    base: str,
    slug: str,
    header: bytes,
    files: int,
    size: int,
    subdirs: tuple[str, ...],
) -> None:
    """A plugin or theme: a header file and ``files - 1`` more in typical subfolders."""
    rng = site.rng
    site.put(
        part, f"{base}/{slug}/{'style.css' if part == 'themes' else slug + '.php'}", data=header
    )
    sizes = _split(rng, max(0, size - len(header)), files - 1, sigma=1.3, least=28)
    fixed = ["readme.txt", "index.php", "languages/" + slug + "-nl_NL.mo"]
    if part == "themes":
        fixed = ["functions.php", "index.php", "screenshot.png", "theme.json", *fixed[:1]]

    def make(r: random.Random, attempt: int) -> str:
        sub = r.choice(subdirs)
        ext = sub.rsplit(".", 1)[-1] if "." in sub else r.choice(("php", "php", "js", "css"))
        folder = sub.rsplit("/", 1)[0] if "." in sub else sub
        return f"{folder}/{r.choice(_WORDS)}-{r.choice(_BLOCKS)}-{attempt % 53}.{ext}"

    names = fixed[: max(0, files - 1)]
    names += _unique_names(rng, files - 1 - len(names), make)
    for rel, this in zip(names, sizes, strict=False):
        binary = rel.endswith((".png", ".jpg", ".woff2", ".mo", ".svg.gz"))
        site.put(part, f"{base}/{slug}/{rel}", this, text=not binary)


def _weighted(rng: random.Random, total: int, weights: list[int], least: int) -> list[int]:
    whole = sum(weights) or 1
    out = [max(least, total * w // whole) for w in weights]
    out[0] += max(0, total - sum(out))
    return out


def _wp_plugins(site: _Site, spec: SiteSpec) -> None:
    rng = site.rng
    known = {p[0]: p for p in PLUGINS}
    chosen = [known.get(slug, (slug, slug.title(), "1.0", 2)) for slug in spec.plugins]
    weights = [p[3] for p in chosen]
    counts = _weighted(rng, spec.plugin_files - spec.mu_plugins, weights, 3)
    sizes = _weighted(rng, spec.plugin_bytes, weights, 4 * KIB)
    subdirs = (
        "includes",
        "includes/admin",
        "assets/css",
        "assets/js",
        "assets/images/x.png",
        "vendor/composer",
        "vendor/lib/src",
        "languages/x.po",
        "templates",
        "src/Blocks",
        "build/x.js",
        "assets/fonts/x.woff2",
    )
    for (slug, name, version, _), files, size in zip(chosen, counts, sizes, strict=True):
        header = (
            f"<?php\n/**\n * Plugin Name: {name}\n * Version: {version}\n"
            f" * Requires at least: 6.0\n * Text Domain: {slug}\n */\n\n"
            "defined( 'ABSPATH' ) || exit;\n"
        ).encode()
        _component(site, "plugins", "wp-content/plugins", slug, header, files, size, subdirs)
    site.put("plugins", "wp-content/plugins/index.php", data=b"<?php\n// Silence is golden.\n")
    for number in range(spec.mu_plugins - 1):
        site.put("plugins", f"wp-content/mu-plugins/host-tweaks-{number}.php", 3_000)
    if spec.mu_plugins:
        site.put("plugins", "wp-content/mu-plugins/endurance-page-cache.php", 26_000)


def _wp_themes(site: _Site, spec: SiteSpec) -> None:
    rng = site.rng
    known = {t[0]: t for t in THEMES}
    chosen = [known.get(slug, (slug, slug.title(), "1.0", 2)) for slug in spec.themes]
    weights = [t[3] for t in chosen]
    counts = _weighted(rng, spec.theme_files - 1, weights, 6)
    sizes = _weighted(rng, spec.theme_bytes, weights, 8 * KIB)
    subdirs = (
        "templates/x.html",
        "parts/x.html",
        "patterns",
        "assets/css",
        "assets/js",
        "assets/fonts/x.woff2",
        "assets/images/x.jpg",
        "inc",
        "inc/customizer",
    )
    for (slug, name, version, _), files, size in zip(chosen, counts, sizes, strict=True):
        header = (
            f"/*\nTheme Name: {name}\nVersion: {version}\nRequires at least: 6.0\n"
            f"Text Domain: {slug}\n*/\n"
        ).encode()
        _component(site, "themes", "wp-content/themes", slug, header, files, size, subdirs)
    site.put("themes", "wp-content/themes/index.php", data=b"<?php\n// Silence is golden.\n")


def _wp_uploads(site: _Site, spec: SiteSpec) -> None:
    """Originals by year/month, each with the thumbnails WordPress makes."""
    rng = site.rng
    variants = ("-150x150", "-300x200", "-768x512", "-1024x683")
    originals = _split(
        rng, spec.upload_bytes * 8 // 10, spec.upload_originals, sigma=0.9, least=2 * KIB
    )
    thumbs_total = spec.upload_bytes - sum(originals)
    per_original = thumbs_total // max(1, spec.upload_originals)
    for number, size in enumerate(originals):
        age = rng.random() * spec.upload_years * 365
        stamp = time.gmtime(site.now - age * DAY)
        folder = f"wp-content/uploads/{stamp.tm_year}/{stamp.tm_mon:02d}"
        stem = f"{rng.choice(_WORDS)}-{number}" if rng.random() < 0.6 else f"IMG_{1000 + number}"
        site.put("uploads", f"{folder}/{stem}.jpg", size, text=False, age_days=age)
        thumbs = _split(rng, per_original, len(variants), sigma=0.4, least=KIB)
        for variant, thumb in zip(variants, sorted(thumbs), strict=True):
            site.put("uploads", f"{folder}/{stem}{variant}.jpg", thumb, text=False, age_days=age)


def _wp_cache(site: _Site, spec: SiteSpec) -> None:
    rng = site.rng
    sizes = _split(rng, spec.cache_bytes, spec.cache_files, sigma=0.8, least=200)
    for number, size in enumerate(sizes):
        if number % 3 == 0:
            rel = f"wp-content/cache/autoptimize/css/autoptimize_{rng.getrandbits(64):016x}.css"
        else:
            page = rng.choice(_WORDS) + f"-{number}"
            name = "index-https.html" if number % 2 else "index-https.html_gzip"
            rel = f"wp-content/cache/wp-rocket/{spec.domain}/{page}/{name}"
        site.put("cache", rel, size)


def _wp_backups(site: _Site, spec: SiteSpec) -> None:
    rng = site.rng
    guards_done: set[str] = set()
    install = f"{rng.getrandbits(24):06x}"  # BackWPup names its folders after the install
    for backup in spec.backups:
        stamp = time.gmtime(site.now - backup.age_days * DAY)
        date = time.strftime("%Y-%m-%d-%H%M", stamp)
        tag = f"{rng.getrandbits(48):012x}"
        old = backup.age_days > 30
        files: list[tuple[str, int]]
        if backup.plugin == "updraft":
            folder = "wp-content/updraft"
            title = spec.title.replace(" ", "_")
            pieces = ("db.gz", "plugins.zip", "themes.zip", "uploads.zip", "others.zip")
            sizes = _weighted(rng, backup.size, [1, 5, 2, 3, 1], 4 * KIB)
            files = [
                (f"{folder}/backup_{date}_{title}_{tag}-{p}", s)
                for p, s in zip(pieces, sizes, strict=True)
            ]
            files.append((f"{folder}/log.{tag}.txt", 6_000 + rng.randrange(4_000)))
            guards = ("index.html", ".htaccess", "web.config")
        elif backup.plugin == "ai1wm":
            folder = "wp-content/ai1wm-backups"
            name = f"{spec.domain}-{time.strftime('%Y%m%d-%H%M%S', stamp)}-{tag[:6]}.wpress"
            files = [(f"{folder}/{name}", backup.size)]
            guards = ("index.php", "index.html", ".htaccess", "web.config")
        elif backup.plugin == "backwpup":
            folder = f"wp-content/uploads/backwpup-{install}-backups"
            name = f"{time.strftime('%Y-%m-%d_%H-%M-%S', stamp)}_{tag[:8].upper()}.zip"
            files = [(f"{folder}/{name}", backup.size)]
            guards = ("index.php", ".htaccess")
            if "backwpup" not in guards_done:
                site.put("uploads", f"wp-content/uploads/backwpup-{install}-logs/index.php", 40)
        else:  # duplicator
            folder = "wp-content/backups-dup-lite"
            stem = f"{spec.domain.split('.')[0]}_{tag}_{time.strftime('%Y%m%d%H%M%S', stamp)}"
            files = [
                (f"{folder}/{stem}_archive.zip", backup.size - 60_000),
                (f"{folder}/{stem}_installer.php", 60_000),
            ]
            guards = ("index.php", ".htaccess")
        for rel, size in files:
            site.put("backups", rel, size, text=rel.endswith(".txt"), age_days=backup.age_days)
            if old and not rel.endswith(".txt"):
                site.old_backups.append(rel)
        if backup.plugin not in guards_done:
            guards_done.add(backup.plugin)
            for guard in guards:
                site.put(
                    "backups",
                    f"{folder}/{guard}",
                    data=b"<?php // Silence is golden.\n"
                    if guard.endswith(".php")
                    else b"deny from all\n",
                )


# ---------------------------------------------------------------------------------------------
# Static sites and cPanel accounts


def _build_static(
    writer: _Writer,
    rng: random.Random,
    docroot: Path,
    files: int,
    size: int,
) -> dict[str, Any]:
    files0, bytes0 = writer.files, writer.bytes
    pages = ("index.html", "over-mij.html", "contact.html", "portfolio.html", "blog.html")
    sizes = _split(rng, size, files, sigma=1.4, least=300)
    for number, this in enumerate(sizes):
        if number < len(pages):
            rel, text = pages[number], True
        elif number % 4 == 0:
            rel, text = f"css/{rng.choice(_WORDS)}-{number}.css", True
        else:
            rel, text = f"img/{rng.choice(_WORDS)}-{number}.jpg", False
        writer.write(docroot / rel, this, text=text)
    return {
        "path": str(docroot),
        "kind": "static",
        "version": None,
        "bytes": writer.bytes - bytes0,
        "files": writer.files - files0,
    }


def _cpanel_extras(
    writer: _Writer,
    rng: random.Random,
    home: Path,
    user: str,
    domains: list[str],
    mailboxes: dict[str, MailboxSpec],
    now: float,
    mail_links: bool,
) -> dict[str, int]:
    """The small files a cPanel home holds besides mail and sites."""
    files0, bytes0 = writer.files, writer.bytes
    for domain in domains:
        locals_ = [a.split("@")[0] for a in mailboxes if a.endswith("@" + domain)]
        # the paths as the node sees them, so the tree's sizes do not depend on where it is built
        passwd = "".join(
            f"{loc}:x:{1000 + i}:{1000 + i}::/home/{user}/mail/{domain}/{loc}:/home/{user}\n"
            for i, loc in enumerate(locals_)
        )
        shadow = "".join(
            f"{loc}:$6$rounds=5000${rng.getrandbits(64):x}$"
            f"{rng.getrandbits(256):064x}:19700::::::\n"
            for loc in locals_
        )
        quota = "".join(
            f"{a.split('@')[0]}:{s.quota or 0}\n"
            for a, s in mailboxes.items()
            if a.endswith("@" + domain)
        )
        writer.write(home / "etc" / domain / "passwd", data=passwd.encode())
        writer.write(home / "etc" / domain / "shadow", data=shadow.encode(), mode=0o640)
        writer.write(home / "etc" / domain / "quota", data=quota.encode())
        stamp = time.strftime("%b-%Y", time.gmtime(now - 40 * DAY))
        writer.write(home / "logs" / f"{domain}-{stamp}.gz", rng.randrange(20 * KIB, 160 * KIB))
        if mail_links:
            for loc in locals_:
                link = home / "mail" / f".{loc}@{domain.replace('.', '_')}"
                writer.mkdir(link.parent)
                os.symlink(f"{domain}/{loc}", link)
    writer.write(home / ".contactemail", data=f"{user}@{MAIL_HOST}\n".encode())
    writer.write(home / ".lastlogin", data=b"203.0.113.9 # Fri Mar  1 10:00:00 2024\n")
    writer.write(home / ".bashrc", data=b"# .bashrc\n[ -f /etc/bashrc ] && . /etc/bashrc\n")
    writer.write(home / ".cpanel" / "datastore" / "_usr_bin_crontab_-l", rng.randrange(40, 400))
    writer.write(home / ".cpanel" / "nvdata" / "xmainwindows", rng.randrange(100, 900))
    writer.mkdir(home / "tmp")
    return {"bytes": writer.bytes - bytes0, "files": writer.files - files0}


# ---------------------------------------------------------------------------------------------
# The story


STORY_PACKAGES = ("sprint", "vandam", "jandevries")


def _story_specs() -> dict[str, dict[str, Any]]:
    backups = [
        BackupSpec("updraft", 6 * MIB, 2.2),
        BackupSpec("updraft", 6 * MIB, 9.2),
        BackupSpec("updraft", 6 * MIB, 16.2),
        BackupSpec("updraft", 6 * MIB, 37.2),
        BackupSpec("updraft", 6 * MIB, 68.2),
        BackupSpec("ai1wm", 16 * MIB, 45.5),
    ]
    sprint_site = SiteSpec(
        domain="sportschool-desprint.nl",
        title="Sportschool De Sprint",
        database="wp_sprint",
        core_files=2_800,
        core_bytes=4 * MIB,
        plugins=(
            "elementor",
            "elementor-pro",
            "contact-form-7",
            "flamingo",
            "wordpress-seo",
            "updraftplus",
            "all-in-one-wp-migration",
            "wordfence",
            "wp-rocket",
            "the-events-calendar",
            "revslider",
            "akismet",
        ),
        plugin_files=1_600,
        plugin_bytes=22 * MIB,
        mu_plugins=2,
        themes=("astra", "hello-elementor", "twentytwentyfour"),
        theme_files=450,
        theme_bytes=9 * MIB,
        upload_originals=30,
        upload_bytes=int(3.5 * MIB),
        upload_years=3,
        cache_files=150,
        cache_bytes=int(1.2 * MIB),
        backups=backups,
    )
    vandam_site = SiteSpec(
        domain="bakkerijvandam.nl",
        title="Bakkerij Van Dam",
        database="wp_vandam",
        core_files=2_800,
        core_bytes=4 * MIB,
        plugins=(
            "woocommerce",
            "contact-form-7",
            "wordpress-seo",
            "backwpup",
            "akismet",
            "classic-editor",
        ),
        plugin_files=1_100,
        plugin_bytes=14 * MIB,
        mu_plugins=1,
        themes=("storefront", "twentytwentyfour"),
        theme_files=220,
        theme_bytes=5 * MIB,
        upload_originals=45,
        upload_bytes=6 * MIB,
        upload_years=4,
        cache_files=80,
        cache_bytes=MIB,
        backups=[
            BackupSpec("backwpup", int(1.6 * MIB), 3.1),
            BackupSpec("backwpup", int(1.6 * MIB), 10.1),
            BackupSpec("backwpup", int(1.6 * MIB), 41.1),
        ],
    )
    return {
        "sprint": {
            "domain": "sportschool-desprint.nl",
            "mailboxes": [
                MailboxSpec(
                    "info@sportschool-desprint.nl",
                    quota=50 * MIB,
                    target_bytes=45 * MIB,
                    signups=2_300,
                    size_median=16 * KIB,
                    size_sigma=1.5,
                    size_max=4 * MIB,
                    unread_days=7,
                ),
                MailboxSpec(
                    "ledenadministratie@sportschool-desprint.nl",
                    quota=50 * MIB,
                    target_bytes=int(2.5 * MIB),
                    size_median=6 * KIB,
                ),
                MailboxSpec(
                    "trainers@sportschool-desprint.nl",
                    quota=50 * MIB,
                    target_bytes=int(1.5 * MIB),
                    size_median=5 * KIB,
                ),
            ],
            "site": sprint_site,
        },
        "vandam": {
            "domain": "bakkerijvandam.nl",
            "mailboxes": [
                MailboxSpec("info@bakkerijvandam.nl", quota=50 * MIB, target_bytes=8 * MIB),
                MailboxSpec(
                    "bestellingen@bakkerijvandam.nl",
                    quota=50 * MIB,
                    target_bytes=10 * MIB,
                    size_median=9 * KIB,
                    size_sigma=0.6,
                    kinds=("order",),
                ),
            ],
            "site": vandam_site,
        },
        "jandevries": {
            "domain": "jandevries.nl",
            "mailboxes": [MailboxSpec("jan@jandevries.nl", quota=50 * MIB, target_bytes=12 * MIB)],
            "site": None,
        },
    }


def build_story_tree(root: Path, *, seed: int = 1, now: float | None = None) -> dict[str, Any]:
    """The story of DESIGN.md on a cPanel-style node: homes at ``root/home/{package}``.

    The school's 150 MiB package is almost full: WordPress plugins, themes and backups take
    more than half of it and info@ is near its 50 MiB quota with the campaign's sign-ups.
    Returns the truth per package, mailbox and site (bytes count each inode once).
    """
    root = Path(root)
    moment = _now(now)
    homes = root / "home"
    writer = _Writer(seed)
    _prepare_root(root, [homes / name for name in STORY_PACKAGES], writer)
    packages: dict[str, Any] = {}
    for name, story in _story_specs().items():
        rng = random.Random(f"{seed}-story-{name}")
        home = homes / name
        domain = story["domain"]
        bytes0, files0 = writer.bytes, writer.files
        mailboxes = {}
        for spec in story["mailboxes"]:
            local = spec.address.split("@")[0]
            mailboxes[spec.address] = _build_maildir(
                writer, rng, home / "mail" / domain / local, spec, moment
            )
        docroot = home / "public_html"
        site_spec: SiteSpec | None = story["site"]
        if site_spec is not None:
            site = _build_wordpress(writer, rng, docroot, site_spec, moment)
        else:
            site = _build_static(writer, rng, docroot, 40, 2 * MIB)
        extras = _cpanel_extras(
            writer,
            rng,
            home,
            name,
            [domain],
            {s.address: s for s in story["mailboxes"]},
            moment,
            False,
        )
        packages[name] = {
            "home": str(home),
            "domain": domain,
            "bytes": writer.bytes - bytes0,
            "files": writer.files - files0,
            "mailboxes": mailboxes,
            "sites": {"public_html": site},
            "other": extras,
        }
    return {
        "root": str(root),
        "now": moment,
        "bytes": writer.bytes,
        "files": writer.files,
        "quota": 150 * MIB,
        "packages": packages,
    }


# ---------------------------------------------------------------------------------------------
# Benchmark trees


def _domain(rng: random.Random, number: int) -> str:
    return (
        f"{rng.choice(_WORDS)}{rng.choice(_WORDS)}{number}.{rng.choice(('nl', 'nl', 'com', 'eu'))}"
    )


def _mail_style(rng: random.Random, maildir_names: str) -> tuple[str, bool]:
    """(names, maildirsize) for one mailbox under a benchmark ``maildir_names`` setting."""
    if maildir_names == "S":
        return "S", True
    if maildir_names == "plain":
        return "plain", False
    if maildir_names != "mixed":
        raise ValueError(f"maildir_names must be 'S', 'plain' or 'mixed', not {maildir_names!r}")
    roll = rng.random()
    if roll < 0.5:
        return "S", True
    if roll < 0.7:
        return "S", False
    return "plain", False


def _bench_mailbox(rng: random.Random, address: str, files: int, maildir_names: str) -> MailboxSpec:
    names, sized = _mail_style(rng, maildir_names)
    return MailboxSpec(
        address,
        quota=rng.choice((None, 1024 * MIB, 2048 * MIB, 5120 * MIB)),
        messages=max(1, files - 30),
        names=names,
        maildirsize=sized,
        size_median=3 * KIB,
        size_sigma=1.0,
        size_max=2 * MIB,
        span_days=rng.randrange(90, 2500),
        link_share=0.03,
        tmp_leftover=rng.random() < 0.05,
    )


def _bench_site(rng: random.Random, domain: str, files: int, number: int) -> SiteSpec:
    """A WordPress site of about ``files`` files at benchmark sizes (small files, few GB total)."""
    core = min(2_800, max(30, int(files * 0.55)))
    plugin_files = max(20, int(files * 0.28))
    theme_files = max(8, int(files * 0.07))
    originals = max(2, int(files * 0.06) // 5)
    cache_files = max(2, int(files * 0.02))
    slugs = [p[0] for p in PLUGINS]
    plugins = tuple(rng.sample(slugs, min(len(slugs), max(1, plugin_files // 90), 14)))
    themes = tuple(rng.sample([t[0] for t in THEMES], rng.randrange(1, 4)))
    backups = [
        BackupSpec(
            rng.choice(("updraft", "ai1wm", "backwpup", "duplicator")),
            rng.randrange(400 * KIB, 6 * MIB),
            rng.random() * 120,
        )
        for _ in range(rng.randrange(0, 5))
    ]
    return SiteSpec(
        domain=domain,
        title=domain.split(".")[0].title(),
        database=f"wp_{number}",
        version=rng.choice(("6.4.3", "6.4.2", "6.3.2", "6.2.4", "5.9.8")),
        core_files=core,
        core_bytes=core * 2_000,
        plugins=plugins,
        plugin_files=plugin_files,
        plugin_bytes=plugin_files * 2_500,
        mu_plugins=rng.randrange(0, 3),
        themes=themes,
        theme_files=theme_files,
        theme_bytes=theme_files * 4_000,
        upload_originals=originals,
        upload_bytes=originals * rng.randrange(40 * KIB, 160 * KIB),
        upload_years=rng.randrange(1, 8),
        cache_files=cache_files,
        cache_bytes=cache_files * 6_000,
        backups=backups,
        other_files=rng.randrange(1, 7),
    )


def build_benchmark_tree(
    root: Path,
    files: int = 300_000,
    seed: int = 1,
    maildir_names: str = "mixed",
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """A mixed cPanel node under ``root/home/``: accounts with Maildirs and sites, ~``files`` files.

    ``maildir_names``: "S" (every message name carries S=, maildirsize present), "plain"
    (no S=, no maildirsize) or "mixed" (mailboxes of both kinds, and S= without maildirsize).
    """
    root = Path(root)
    moment = _now(now)
    homes = root / "home"
    rng = random.Random(f"bench-{seed}")
    writer = _Writer(seed)
    _prepare_root(root, [homes], writer)
    accounts: dict[str, Any] = {}
    number = 0
    while writer.files < files * 0.995:
        remaining = files - writer.files
        budget = _lognormal(rng, 5_000, 0.8, 300, 40_000)
        if remaining - budget < 1_000:
            budget = remaining
        number += 1
        domain = _domain(rng, number)
        user = (domain.split(".")[0][:12] + f"{number:03d}")[:16]
        home = homes / user
        start_files, start_bytes = writer.files, writer.bytes
        sites: dict[str, Any] = {}
        site_files = 0
        if budget >= 1_200 and rng.random() < 0.75:
            spec = _bench_site(rng, domain, int(budget * rng.uniform(0.35, 0.7)), number)
            sites["public_html"] = _build_wordpress(writer, rng, home / "public_html", spec, moment)
            site_files = sites["public_html"]["files"]
        elif rng.random() < 0.6:
            count = max(5, int(budget * 0.05))
            sites["public_html"] = _build_static(
                writer, rng, home / "public_html", count, count * 20 * KIB
            )
            site_files = count
        mail_budget = max(40, budget - site_files - 12)
        boxes = max(1, min(12, mail_budget // rng.randrange(200, 1_500)))
        shares = _split(rng, mail_budget, boxes, sigma=1.1, least=35)
        local_names = rng.sample(
            [
                "info",
                "admin",
                "sales",
                "support",
                "jan",
                "piet",
                "anna",
                "office",
                "facturen",
                "post",
                "team",
                "noreply",
                "boekhouding",
                "hallo",
            ],
            boxes,
        )
        specs = {
            f"{loc}@{domain}": _bench_mailbox(rng, f"{loc}@{domain}", share, maildir_names)
            for loc, share in zip(local_names, shares, strict=True)
        }
        mailboxes = {
            address: _build_maildir(
                writer, rng, home / "mail" / domain / address.split("@")[0], spec, moment
            )
            for address, spec in specs.items()
        }
        # cPanel's default account mailbox lives in ~/mail itself
        default = MailboxSpec(
            f"{user}@{MAIL_HOST}",
            messages=rng.randrange(0, 6),
            folders=(),
            maildirsize=False,
            link_share=0,
        )
        default_box = _build_maildir(writer, rng, home / "mail", default, moment)
        extras = _cpanel_extras(writer, rng, home, user, [domain], specs, moment, True)
        accounts[user] = {
            "home": str(home),
            "domain": domain,
            "bytes": writer.bytes - start_bytes,
            "files": writer.files - start_files,
            "mailboxes": {a: m["path"] for a, m in mailboxes.items()},
            "mailbox_bytes": {a: m["bytes"] for a, m in mailboxes.items()},
            "sites": {rel: s["path"] for rel, s in sites.items()},
            "site_bytes": {rel: s["bytes"] for rel, s in sites.items()},
            "default_mailbox_bytes": default_box["bytes"],
            "other_bytes": extras["bytes"],
        }
    return {
        "root": str(root),
        "layout": "cpanel",
        "seed": seed,
        "maildir_names": maildir_names,
        "now": moment,
        "files": writer.files,
        "bytes": writer.bytes,
        "accounts": accounts,
    }


def build_maildir_tree(
    root: Path, files: int, seed: int = 1, with_sizes: bool = True, *, now: float | None = None
) -> dict[str, Any]:
    """A Maildir-only node, vmail layout ``root/{domain}/{local}/``, of about ``files`` files.

    ``with_sizes``: Dovecot names with S=/W= and a maildirsize in every mailbox; otherwise
    older names without sizes and no maildirsize.
    """
    root = Path(root)
    moment = _now(now)
    rng = random.Random(f"vmail-{seed}")
    writer = _Writer(seed)
    existing = [child for child in root.iterdir() if child.name != MARKER] if root.exists() else []
    _prepare_root(root, existing, writer)
    mailboxes: dict[str, Any] = {}
    number = 0
    while writer.files < files * 0.995:
        number += 1
        domain = _domain(rng, number)
        for local in rng.sample(
            [
                "info",
                "admin",
                "sales",
                "support",
                "jan",
                "piet",
                "anna",
                "office",
                "facturen",
                "post",
                "team",
                "hallo",
            ],
            rng.randrange(1, 9),
        ):
            remaining = files - writer.files
            if remaining <= 0:
                break
            budget = _lognormal(rng, 900, 1.1, 40, 30_000)
            if remaining - budget < 100:
                budget = remaining
            address = f"{local}@{domain}"
            spec = _bench_mailbox(rng, address, budget, "S" if with_sizes else "plain")
            mailboxes[address] = _build_maildir(writer, rng, root / domain / local, spec, moment)
    return {
        "root": str(root),
        "layout": "vmail",
        "seed": seed,
        "with_sizes": with_sizes,
        "now": moment,
        "files": writer.files,
        "bytes": writer.bytes,
        "mailboxes": {
            a: {"path": m["path"], "bytes": m["bytes"], "messages": m["messages"]}
            for a, m in mailboxes.items()
        },
    }


# --- the story's mail log -----------------------------------------------------------------------

# address -> messages per working day (office hours; a fifth of it in the weekend)
STORY_MAIL_TRAFFIC = {
    "info@sportschool-desprint.nl": 14,
    "ledenadministratie@sportschool-desprint.nl": 5,
    "trainers@sportschool-desprint.nl": 3,
    "info@bakkerijvandam.nl": 8,
    "bestellingen@bakkerijvandam.nl": 12,
    "jan@jandevries.nl": 2,
}
STORY_FULL = "info@sportschool-desprint.nl"  # full since the campaign: refused
STORY_FULL_HOURS = 30  # refused for the last hours
STORY_SILENT = "bestellingen@bakkerijvandam.nl"  # the web shop's order mail stopped
STORY_SILENT_HOURS = 96  # two working days at least, whatever day it is now


def write_story_mail_log(path: Path, *, now: float | None = None, seed: int = 1) -> dict[str, Any]:
    """Five weeks of the story's node's Postfix log up to ``now`` (syslog stamps, UTC): office
    mail to each mailbox of the story, mail out to the world, the campaign's sign-ups to info@
    of the school refused for the last STORY_FULL_HOURS because the mailbox is full (at
    Dovecot's LMTP, then at SMTP time), and the bakery's order mail silent for the last
    STORY_SILENT_HOURS. Returns the truth per address (as ``onus mail summarize`` counts)."""
    end = _now(now)
    rng = random.Random(f"{seed}-story-mail")
    start = end - 35 * DAY
    messages: list[tuple[float, str, str]] = []  # (time, recipient, what)
    for address, per_day in STORY_MAIL_TRAFFIC.items():
        day = start - start % DAY
        while day < end:
            weekday = time.gmtime(day).tm_wday
            count = per_day if weekday < 5 else max(1, per_day // 5)
            if address == STORY_FULL and end - day < 4 * DAY:
                count *= 3  # the campaign
            for _ in range(count):
                at = day + rng.uniform(8, 18) * 3600 if weekday < 5 else day + rng.uniform(0, DAY)
                if not start <= at < end:
                    continue
                if address == STORY_SILENT and at >= end - STORY_SILENT_HOURS * 3600:
                    continue
                if address == STORY_FULL and at >= end - STORY_FULL_HOURS * 3600:
                    what = "rejected" if rng.random() < 0.25 else "bounced"
                else:
                    what = "deferred" if rng.random() < 0.02 else "delivered"
                messages.append((at, address, what))
            day += DAY
    for _ in range(35 * 30):  # mail out, not hosted here
        at = rng.uniform(start, end)
        local = rng.choice(_FIRST).lower()
        messages.append((at, f"{local}@{rng.choice(_MAIL_DOMAINS)}", "out"))
    messages.sort()
    truth: dict[str, dict[str, int]] = {}
    lines: list[tuple[float, str]] = []
    for serial, (at, recipient, what) in enumerate(messages):
        qid = f"{0x4B00000 + serial:X}{rng.randrange(16**4):04X}"
        lines += _story_message(rng, at, qid, recipient, what, end)
        counts = truth.setdefault(recipient, dict.fromkeys(
            ("delivered", "deferred", "bounced", "rejected", "over_quota"), 0
        ))  # fmt: skip
        if what in ("delivered", "out"):
            counts["delivered"] += 1
        elif what == "deferred":
            counts["deferred"] += 1
            counts["delivered"] += 1
        else:
            counts[what] += 1
            counts["over_quota"] += 1
    lines.sort(key=lambda item: item[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for at, text in lines:
            out.write(f"{time.strftime('%b %e %H:%M:%S', time.gmtime(at))} node1 {text}\n")
    return truth


def _story_message(
    rng: random.Random, at: float, qid: str, recipient: str, what: str, end: float
) -> list[tuple[float, str]]:
    """One message's lines, as Postfix logs a delivery over LMTP to Dovecot (or out by SMTP)."""
    pid = rng.randrange(1000, 30000)
    client = f"mail{rng.randrange(1, 9)}.example.org[198.51.100.{rng.randrange(2, 250)}]"
    sender = f"{rng.choice(_FIRST).lower()}@{rng.choice(_MAIL_DOMAINS)}"
    if what == "rejected":
        return [(at, f"postfix/smtpd[{pid}]: NOQUEUE: reject: RCPT from {client}: 552 5.2.2 "
                 f"<{recipient}>: Recipient address rejected: Mailbox full; from=<{sender}> "
                 f"to=<{recipient}> proto=ESMTP helo=<mail.example.org>")]  # fmt: skip
    head = [
        (at, f"postfix/smtpd[{pid}]: {qid}: client={client}"),
        (at, f"postfix/cleanup[{pid + 1}]: {qid}: message-id=<{qid.lower()}@example.org>"),
        (at, f"postfix/qmgr[700]: {qid}: from=<{sender}>, size={rng.randrange(2000, 90000)}, "
             "nrcpt=1 (queue active)"),
    ]  # fmt: skip
    if what == "out":
        relay = "gmail-smtp-in.l.google.com[142.250.1.26]:25"
        done = at + rng.uniform(0.2, 2)
        return [*head, (done, f"postfix/smtp[{pid + 2}]: {qid}: to=<{recipient}>, relay={relay}, "
                        "delay=1.1, dsn=2.0.0, status=sent (250 2.0.0 OK)"),
                (done, f"postfix/qmgr[700]: {qid}: removed")]  # fmt: skip
    lmtp = f"postfix/lmtp[{pid + 2}]: {qid}: to=<{recipient}>, relay=node1[private/dovecot-lmtp]"
    lines = list(head)
    done = at + rng.uniform(0.1, 1)
    if what == "deferred":
        lines.append((done, f"{lmtp}, delay=0.4, dsn=4.4.2, status=deferred (lost connection "
                            "with node1[private/dovecot-lmtp] while receiving the initial server "
                            "greeting)"))  # fmt: skip
        done = min(end - 1, done + 300)
    if what == "bounced":
        lines.append((done, f"{lmtp}, delay=0.3, dsn=5.2.2, status=bounced (host node1[private/"
                            f"dovecot-lmtp] said: 552 5.2.2 <{recipient}> Quota exceeded (mailbox "
                            "for user is full) (in reply to end of DATA command))"))  # fmt: skip
        lines.append((done, f"postfix/bounce[{pid + 3}]: {qid}: sender non-delivery notification"))
    else:
        lines.append((done, f"{lmtp}, delay=0.3, dsn=2.0.0, status=sent (250 2.0.0 <{recipient}> "
                            "Saved)"))  # fmt: skip
    lines.append((done, f"postfix/qmgr[700]: {qid}: removed"))
    return lines
