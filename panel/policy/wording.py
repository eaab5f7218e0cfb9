"""An agreement in plain words, in English and Dutch, from its matrix and limits.

Pure text building: the panel stores exactly this text, hashes it, and shows it escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from panel.measure.units import format_size
from panel.policy.agreement import CATEGORIES

PHRASES = {
    "en": {
        "mailbox": "the mailboxes",
        "site_files": "the website's files (core, plugins, themes, cache)",
        "site_uploads": "the website's uploads",
        "site_backups": "the backups kept on the package",
        "databases": "the databases",
        "capacity": "the size of the package",
        "delivery": "mail that cannot be delivered",
        "you": "You answer for {things}.",
        "they": "{name} answers for {things}.",
        "and": "and",
        "size": "Your package has {size}, shared by your mailboxes and your website.",
        "size_other": "The package has {size}, shared by its mailboxes and its website.",
        "mailbox_quota": "Each mailbox holds {size} unless agreed otherwise.",
        "bounce": "When a mailbox is full, new mail for it is refused and the sender gets it back.",
        "defer": (
            "When a mailbox is full, new mail for it is held back for up to {hours} hours "
            "(the sender's server keeps trying), then refused."
        ),
        "suggest": "When the package is full, the hoster suggests a larger plan.",
        "preapproved": (
            "When the package is full, it is moved to a larger plan (agreed in advance)."
        ),
        "none": "",
        "levels": (
            "Warnings: a notice at {notice} %, a warning at {warning} % and a critical alert at "
            "{critical} % of a limit. A warning nobody acknowledges goes to the next party "
            "after {deadline_notice}, {deadline_warning} and {deadline_critical} hours."
        ),
    },
    "nl": {
        "mailbox": "de mailboxen",
        "site_files": "de bestanden van de website (kern, plugins, thema's, cache)",
        "site_uploads": "de uploads van de website",
        "site_backups": "de back-ups op het pakket",
        "databases": "de databases",
        "capacity": "de grootte van het pakket",
        "delivery": "mail die niet kan worden afgeleverd",
        "you": "Jij bent verantwoordelijk voor {things}.",
        "they": "{name} is verantwoordelijk voor {things}.",
        "and": "en",
        "size": "Je pakket heeft {size}, gedeeld door je mailboxen en je website.",
        "size_other": "Het pakket heeft {size}, gedeeld door de mailboxen en de website.",
        "mailbox_quota": "Elke mailbox heeft {size}, tenzij anders afgesproken.",
        "bounce": (
            "Als een mailbox vol is, wordt nieuwe mail ervoor geweigerd en krijgt de afzender "
            "die terug."
        ),
        "defer": (
            "Als een mailbox vol is, wordt nieuwe mail ervoor tot {hours} uur vastgehouden "
            "(de server van de afzender blijft het proberen) en daarna geweigerd."
        ),
        "suggest": "Als het pakket vol is, stelt de hoster een groter pakket voor.",
        "preapproved": (
            "Als het pakket vol is, gaat het naar een groter pakket (vooraf afgesproken)."
        ),
        "none": "",
        "levels": (
            "Waarschuwingen: een melding bij {notice} %, een waarschuwing bij {warning} % en "
            "een kritieke melding bij {critical} % van een limiet. Een waarschuwing die niemand "
            "bevestigt, gaat na {deadline_notice}, {deadline_warning} en {deadline_critical} uur "
            "naar de volgende partij."
        ),
    },
}
LANGUAGES = tuple(PHRASES)


def _listing(items: Sequence[str], word: str) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def plain_words(
    language: str,
    matrix: Mapping[str, Mapping[str, Sequence[str]]],
    parties: Mapping[str, str],
    limits: Mapping[str, int],
    thresholds: Mapping[str, int],
    deadlines: Mapping[str, int],
    grace: Mapping[str, Any],
    reader_role: str = "owner",
) -> str:
    """The agreement's summary for ``reader_role`` (addressed as "you"), in ``language``.

    ``parties`` maps a role to the name of the party holding it.
    """
    words = PHRASES[language]
    lines = [
        words["size" if reader_role == "owner" else "size_other"].format(
            size=format_size(limits["storage_quota_bytes"])
        ),
        words["mailbox_quota"].format(size=format_size(limits["default_mailbox_quota_bytes"])),
        words[grace["at_full"]].format(hours=grace.get("defer_hours", 0)),
    ]
    for role in ("owner", "builder", "hoster"):
        things = [words[c] for c in CATEGORIES if role in matrix[c]["responsible"]]
        if not things or role not in parties:
            continue
        template = words["you"] if role == reader_role else words["they"]
        lines.append(template.format(name=parties[role], things=_listing(things, words["and"])))
    if words[grace["upgrade"]]:
        lines.append(words[grace["upgrade"]])
    lines.append(
        words["levels"].format(
            **thresholds, **{f"deadline_{level}": hours for level, hours in deadlines.items()}
        )
    )
    return " ".join(lines)
