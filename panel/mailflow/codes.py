"""SMTP status codes in plain words, in English and Dutch.

A shop owner who sees ``552 5.2.2`` in a bounce should read "the recipient's mailbox is
full; the message was refused and the sender got it back" -- not look up an RFC. This module
holds every enhanced status code of RFC 3463 (plus the widely seen later ones from the IANA
registry, RFC 5248), the basic reply codes of RFC 5321 (plus the login codes of RFC 4954 and
the "no mail here" codes of RFC 7504), and finds them in free text: a bare code, an SMTP
reply, a Postfix log line or a DSN ``Diagnostic-Code``.

It also answers the one question the alerting cares most about: does this text say the
*recipient's mailbox* is full? (:func:`is_over_quota`). A full mail *system* (X.3.1) or a
*sending* quota (X.4.5, "daily sending quota exceeded") is not that, and says so.

Pure: strings in, plain data out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, NamedTuple

__all__ = [
    "BASIC_CODES",
    "CONSEQUENCES",
    "ENHANCED_CODES",
    "LANGUAGES",
    "SUBJECTS",
    "Explanation",
    "StatusClass",
    "Words",
    "explain",
    "format_explanation",
    "is_over_quota",
]

StatusClass = Literal["success", "intermediate", "transient", "permanent"]
LANGUAGES: Final = ("en", "nl")


class Words(NamedTuple):
    """One text in both languages the panel speaks."""

    en: str
    nl: str

    def get(self, language: str) -> str:
        return self.nl if language == "nl" else self.en


# --- enhanced status codes: (subject, detail) -> words -------------------------------------
# Detail words are independent of the class digit; the class adds the consequence sentence.
_ENHANCED: dict[tuple[int, int], Words] = {
    # X.0.x other or undefined status (RFC 3463 3.1)
    (0, 0): Words(
        "the receiving mail server gave no specific reason",
        "de ontvangende mailserver gaf geen specifieke reden",
    ),
    # X.1.x addressing status (RFC 3463 3.2)
    (1, 0): Words(
        "something is wrong with one of the addresses",
        "er is iets mis met een van de adressen",
    ),
    (1, 1): Words(
        "the recipient's address does not exist (a typo, or the mailbox was removed)",
        "het adres van de ontvanger bestaat niet (een tikfout, of de mailbox is opgeheven)",
    ),
    (1, 2): Words(
        "the recipient's domain does not exist or cannot receive mail",
        "het domein van de ontvanger bestaat niet of kan geen e-mail ontvangen",
    ),
    (1, 3): Words(
        "the recipient's address is not written correctly",
        "het adres van de ontvanger is niet goed geschreven",
    ),
    (1, 4): Words(
        "the recipient's address is ambiguous: it fits more than one mailbox",
        "het adres van de ontvanger is niet eenduidig: het past bij meer dan één mailbox",
    ),
    (1, 5): Words(
        "the recipient's address is valid",
        "het adres van de ontvanger is geldig",
    ),
    (1, 6): Words(
        "the recipient has moved and left no forwarding address",
        "de ontvanger is verhuisd en heeft geen doorstuuradres achtergelaten",
    ),
    (1, 7): Words(
        "the sender's address is not written correctly",
        "het adres van de afzender is niet goed geschreven",
    ),
    (1, 8): Words(
        "the sender's domain does not exist or cannot receive replies",
        "het domein van de afzender bestaat niet of kan geen antwoorden ontvangen",
    ),
    # RFC 3886
    (1, 9): Words(
        "the message was passed on to a mail server that cannot confirm delivery",
        "het bericht is doorgegeven aan een mailserver die de bezorging niet kan bevestigen",
    ),
    # RFC 7505 (null MX)
    (1, 10): Words(
        "the recipient's domain has announced that it does not accept mail at all",
        "het domein van de ontvanger heeft laten weten dat het helemaal geen e-mail ontvangt",
    ),
    # X.2.x mailbox status (RFC 3463 3.3)
    (2, 0): Words(
        "something is wrong with the recipient's mailbox",
        "er is iets mis met de mailbox van de ontvanger",
    ),
    (2, 1): Words(
        "the recipient's mailbox is switched off and does not accept messages",
        "de mailbox van de ontvanger staat uit en neemt geen berichten aan",
    ),
    (2, 2): Words(
        "the recipient's mailbox is full",
        "de mailbox van de ontvanger is vol",
    ),
    (2, 3): Words(
        "the message is larger than the recipient's mailbox allows",
        "het bericht is groter dan de mailbox van de ontvanger toestaat",
    ),
    (2, 4): Words(
        "something went wrong while passing the message on to the members of a mailing list",
        "er ging iets mis bij het doorsturen naar de leden van een mailinglijst",
    ),
    # X.3.x mail system status (RFC 3463 3.4)
    (3, 0): Words(
        "something is wrong with the receiving mail server",
        "er is iets mis met de ontvangende mailserver",
    ),
    (3, 1): Words(
        "the receiving mail server has run out of storage space "
        "(the server itself, not the recipient's mailbox)",
        "de ontvangende mailserver heeft geen opslagruimte meer "
        "(de server zelf, niet de mailbox van de ontvanger)",
    ),
    (3, 2): Words(
        "the receiving mail server is not accepting mail right now "
        "(for example during maintenance or when it is overloaded)",
        "de ontvangende mailserver neemt nu geen e-mail aan "
        "(bijvoorbeeld door onderhoud of omdat hij overbelast is)",
    ),
    (3, 3): Words(
        "the receiving mail server does not support a feature this message needs",
        "de ontvangende mailserver ondersteunt een functie niet die dit bericht nodig heeft",
    ),
    (3, 4): Words(
        "the message is too big for the receiving mail server",
        "het bericht is te groot voor de ontvangende mailserver",
    ),
    (3, 5): Words(
        "the receiving mail server is set up incorrectly",
        "de ontvangende mailserver is verkeerd ingesteld",
    ),
    # X.4.x network and routing status (RFC 3463 3.5)
    (4, 0): Words(
        "there was a network or routing problem between the mail servers",
        "er was een netwerk- of routeringsprobleem tussen de mailservers",
    ),
    (4, 1): Words(
        "the receiving mail server did not answer",
        "de ontvangende mailserver gaf geen antwoord",
    ),
    (4, 2): Words(
        "the connection to the receiving mail server broke off",
        "de verbinding met de ontvangende mailserver werd verbroken",
    ),
    (4, 3): Words(
        "a lookup service (such as DNS) failed, so the receiving mail server could not be found",
        "een opzoekdienst (zoals DNS) faalde, waardoor de ontvangende mailserver niet "
        "gevonden kon worden",
    ),
    (4, 4): Words(
        "no route to the recipient's mail server could be found",
        "er is geen route naar de mailserver van de ontvanger gevonden",
    ),
    (4, 5): Words(
        "the mail system is too busy right now, or a sending limit was reached",
        "het mailsysteem is op dit moment te druk, of een verzendlimiet is bereikt",
    ),
    (4, 6): Words(
        "the message was going round in circles between mail servers",
        "het bericht ging in een rondje tussen mailservers",
    ),
    (4, 7): Words(
        "delivery is taking too long: the time allowed for delivery is running out or has passed",
        "de bezorging duurt te lang: de tijd die voor bezorging staat, loopt af of is verstreken",
    ),
    # X.5.x mail delivery protocol status (RFC 3463 3.6)
    (5, 0): Words(
        "the mail servers did not understand each other",
        "de mailservers begrepen elkaar niet",
    ),
    (5, 1): Words(
        "the sending server gave a command the receiving server does not know",
        "de verzendende server gaf een opdracht die de ontvangende server niet kent",
    ),
    (5, 2): Words(
        "the sending server gave a command the receiving server could not read",
        "de verzendende server gaf een opdracht die de ontvangende server niet kon lezen",
    ),
    (5, 3): Words(
        "the message was addressed to too many recipients at once",
        "het bericht was aan te veel ontvangers tegelijk gericht",
    ),
    (5, 4): Words(
        "the sending server gave a command with invalid details",
        "de verzendende server gaf een opdracht met ongeldige gegevens",
    ),
    (5, 5): Words(
        "the mail servers use versions of the mail protocol that do not fit together",
        "de mailservers gebruiken versies van het mailprotocol die niet op elkaar aansluiten",
    ),
    # RFC 4954
    (5, 6): Words(
        "the login attempt sent a line that was too long",
        "de inlogpoging stuurde een regel die te lang was",
    ),
    # X.6.x message content or media status (RFC 3463 3.7)
    (6, 0): Words(
        "something is wrong with the content or format of the message",
        "er is iets mis met de inhoud of de opmaak van het bericht",
    ),
    (6, 1): Words(
        "the message contains a kind of content the receiving server does not accept",
        "het bericht bevat een soort inhoud die de ontvangende server niet aanneemt",
    ),
    (6, 2): Words(
        "the message would have to be converted, but that is not allowed",
        "het bericht zou omgezet moeten worden, maar dat mag niet",
    ),
    (6, 3): Words(
        "the message would have to be converted, but the server cannot do that",
        "het bericht zou omgezet moeten worden, maar de server kan dat niet",
    ),
    (6, 4): Words(
        "the message was converted and lost some of its content on the way",
        "het bericht is omgezet en is daarbij een deel van de inhoud kwijtgeraakt",
    ),
    (6, 5): Words(
        "converting the message failed",
        "het omzetten van het bericht is mislukt",
    ),
    # RFC 4468
    (6, 6): Words(
        "the content of the message could not be fetched",
        "de inhoud van het bericht kon niet worden opgehaald",
    ),
    # X.7.x security or policy status (RFC 3463 3.8)
    (7, 0): Words(
        "a security or policy rule stopped the message",
        "een beveiligings- of beleidsregel hield het bericht tegen",
    ),
    (7, 1): Words(
        "the receiving server does not allow this delivery "
        "(for example the sender is blocked or the message looks like spam)",
        "de ontvangende server staat deze bezorging niet toe "
        "(bijvoorbeeld omdat de afzender geblokkeerd is of het bericht op spam lijkt)",
    ),
    (7, 2): Words(
        "the sender is not allowed to send to this mailing list",
        "de afzender mag niet naar deze mailinglijst sturen",
    ),
    (7, 3): Words(
        "the message would need a security conversion that is not possible",
        "het bericht zou voor de beveiliging omgezet moeten worden, maar dat kan niet",
    ),
    (7, 4): Words(
        "the receiving server does not support the security features the message asks for",
        "de ontvangende server ondersteunt de beveiligingsfuncties niet die het bericht vraagt",
    ),
    (7, 5): Words(
        "decrypting or checking the message's encryption failed",
        "het ontsleutelen of controleren van de versleuteling van het bericht is mislukt",
    ),
    (7, 6): Words(
        "the message uses an encryption method the receiving server does not support",
        "het bericht gebruikt een versleutelmethode die de ontvangende server niet ondersteunt",
    ),
    (7, 7): Words(
        "the message was changed along the way (its integrity check failed)",
        "het bericht is onderweg veranderd (de controle op de echtheid faalde)",
    ),
    # RFC 4954 / RFC 5248
    (7, 8): Words(
        "the username or password for sending mail is wrong",
        "de gebruikersnaam of het wachtwoord voor het versturen van e-mail klopt niet",
    ),
    (7, 9): Words(
        "the login method is considered too weak",
        "de inlogmethode wordt als te zwak gezien",
    ),
    (7, 10): Words(
        "an encrypted connection is required",
        "een versleutelde verbinding is verplicht",
    ),
    (7, 11): Words(
        "this login method requires an encrypted connection",
        "deze inlogmethode vereist een versleutelde verbinding",
    ),
    (7, 12): Words(
        "the password has to be changed or set up again before logging in works",
        "het wachtwoord moet gewijzigd of opnieuw ingesteld worden voordat inloggen lukt",
    ),
    (7, 13): Words(
        "the user account is disabled",
        "het gebruikersaccount is uitgeschakeld",
    ),
    (7, 14): Words(
        "the mail servers need a trust relationship that is not in place",
        "de mailservers hebben een vertrouwensrelatie nodig die er niet is",
    ),
    # RFC 7372 (email authentication)
    (7, 20): Words(
        "the message has no valid DKIM signature",
        "het bericht heeft geen geldige DKIM-handtekening",
    ),
    (7, 21): Words(
        "the message has no DKIM signature the receiving server accepts",
        "het bericht heeft geen DKIM-handtekening die de ontvangende server accepteert",
    ),
    (7, 22): Words(
        "the message has no valid DKIM signature from the sender's own domain",
        "het bericht heeft geen geldige DKIM-handtekening van het eigen domein van de afzender",
    ),
    (7, 23): Words(
        "the sender's domain does not allow this server to send its mail (SPF check failed)",
        "het domein van de afzender staat niet toe dat deze server zijn e-mail verstuurt "
        "(SPF-controle mislukt)",
    ),
    (7, 24): Words(
        "the sender's SPF record could not be checked because of an error",
        "het SPF-record van de afzender kon door een fout niet gecontroleerd worden",
    ),
    (7, 25): Words(
        "the sending server's reverse DNS (PTR record) is missing or does not match",
        "de reverse DNS (PTR-record) van de verzendende server ontbreekt of klopt niet",
    ),
    (7, 26): Words(
        "several checks on the sender (such as SPF and DKIM) failed",
        "meerdere controles op de afzender (zoals SPF en DKIM) zijn mislukt",
    ),
    # RFC 7505 (null MX)
    (7, 27): Words(
        "the sender's domain has announced that it does not accept mail, "
        "so replies could never arrive",
        "het domein van de afzender heeft laten weten dat het geen e-mail ontvangt, "
        "dus antwoorden kunnen nooit aankomen",
    ),
}

ENHANCED_CODES: Final[Mapping[tuple[int, int], Words]] = MappingProxyType(_ENHANCED)
"""Every known enhanced code as ``(subject, detail)``: ``(2, 2)`` is X.2.2."""

SUBJECTS: Final[Mapping[int, Words]] = MappingProxyType(
    {
        0: Words(
            "the receiving mail server gave no specific reason",
            "de ontvangende mailserver gaf geen specifieke reden",
        ),
        1: Words(
            "something about one of the addresses (sender or recipient)",
            "iets met een van de adressen (afzender of ontvanger)",
        ),
        2: Words(
            "something about the recipient's mailbox",
            "iets met de mailbox van de ontvanger",
        ),
        3: Words(
            "something about the receiving mail server",
            "iets met de ontvangende mailserver",
        ),
        4: Words(
            "something about the network or the route between the mail servers",
            "iets met het netwerk of de route tussen de mailservers",
        ),
        5: Words(
            "something in the conversation between the mail servers",
            "iets in het gesprek tussen de mailservers",
        ),
        6: Words(
            "something about the content or format of the message",
            "iets met de inhoud of de opmaak van het bericht",
        ),
        7: Words(
            "a security or policy rule",
            "een beveiligings- of beleidsregel",
        ),
    }
)
"""Fallback per subject digit, for a detail code nobody registered (X.2.9)."""

# --- basic reply codes -------------------------------------------------------------------
BASIC_CODES: Final[Mapping[int, Words]] = MappingProxyType(
    {
        # RFC 5321
        211: Words("the mail server reports its status", "de mailserver meldt zijn status"),
        214: Words("the mail server gives help information", "de mailserver geeft helpinformatie"),
        220: Words("the mail server is ready", "de mailserver is klaar"),
        221: Words(
            "the mail server is closing the connection", "de mailserver sluit de verbinding"
        ),
        250: Words("the request was carried out", "het verzoek is uitgevoerd"),
        251: Words(
            "the recipient is not on this server, so the server forwards the message",
            "de ontvanger zit niet op deze server, dus de server stuurt het bericht door",
        ),
        252: Words(
            "the server cannot check the address but will try to deliver the message",
            "de server kan het adres niet controleren, maar probeert het bericht wel te bezorgen",
        ),
        354: Words(
            "the server is ready to receive the message itself",
            "de server is klaar om het bericht zelf te ontvangen",
        ),
        421: Words(
            "the mail server is not available right now and closed the connection",
            "de mailserver is nu niet beschikbaar en heeft de verbinding gesloten",
        ),
        450: Words(
            "the recipient's mailbox is not available right now (for example busy or "
            "temporarily blocked)",
            "de mailbox van de ontvanger is nu niet beschikbaar (bijvoorbeeld bezet of "
            "tijdelijk geblokkeerd)",
        ),
        451: Words(
            "the receiving server ran into an error of its own",
            "de ontvangende server liep tegen een eigen fout aan",
        ),
        452: Words(
            "the receiving server has too little storage space right now, or the message has "
            "too many recipients",
            "de ontvangende server heeft nu te weinig opslagruimte, of het bericht heeft te veel "
            "ontvangers",
        ),
        455: Words(
            "the server cannot handle the requested options right now",
            "de server kan de gevraagde opties nu niet verwerken",
        ),
        500: Words(
            "the server did not recognise the command",
            "de server herkende de opdracht niet",
        ),
        501: Words(
            "the command contained invalid details, often a badly written address",
            "de opdracht bevatte ongeldige gegevens, vaak een verkeerd geschreven adres",
        ),
        502: Words(
            "the server does not support this command",
            "de server ondersteunt deze opdracht niet",
        ),
        503: Words(
            "the commands came in the wrong order (often: logging in is required first)",
            "de opdrachten kwamen in de verkeerde volgorde (vaak: eerst inloggen is nodig)",
        ),
        504: Words(
            "the server does not support this option of the command",
            "de server ondersteunt deze optie van de opdracht niet",
        ),
        550: Words(
            "the recipient's mailbox is not available (often: the address does not exist, "
            "or the message was blocked)",
            "de mailbox van de ontvanger is niet beschikbaar (vaak: het adres bestaat niet, "
            "of het bericht is geblokkeerd)",
        ),
        551: Words(
            "the recipient is not on this server",
            "de ontvanger zit niet op deze server",
        ),
        552: Words(
            "the recipient's storage allowance was exceeded, usually because the mailbox is full",
            "de opslagruimte van de ontvanger is overschreden, meestal omdat de mailbox vol is",
        ),
        553: Words(
            "the address is not allowed (often because it is written incorrectly)",
            "het adres is niet toegestaan (vaak omdat het verkeerd geschreven is)",
        ),
        554: Words(
            "delivery failed (often: the message was refused as spam or by a policy rule)",
            "de bezorging is mislukt (vaak: het bericht is geweigerd als spam of door een "
            "beleidsregel)",
        ),
        555: Words(
            "the server does not accept the options given with the address",
            "de server accepteert de opties bij het adres niet",
        ),
        # RFC 4954 (logging in to send mail)
        235: Words("logging in succeeded", "inloggen is gelukt"),
        334: Words("the server asks for login details", "de server vraagt om inloggegevens"),
        432: Words("a password change is needed", "een wachtwoordwijziging is nodig"),
        454: Words(
            "logging in or setting up encryption failed for now",
            "inloggen of het opzetten van versleuteling is voorlopig mislukt",
        ),
        530: Words("logging in is required first", "eerst inloggen is verplicht"),
        534: Words("the login method is too weak", "de inlogmethode is te zwak"),
        535: Words(
            "the username or password is wrong",
            "de gebruikersnaam of het wachtwoord klopt niet",
        ),
        538: Words(
            "this login method requires an encrypted connection",
            "deze inlogmethode vereist een versleutelde verbinding",
        ),
        # RFC 7504 (null MX)
        521: Words(
            "the receiving server does not accept mail at all",
            "de ontvangende server neemt helemaal geen e-mail aan",
        ),
        556: Words(
            "the recipient's domain does not accept mail",
            "het domein van de ontvanger neemt geen e-mail aan",
        ),
    }
)
"""Basic three-digit SMTP replies."""

_CLASSES: Final[Mapping[str, StatusClass]] = MappingProxyType(
    {"2": "success", "3": "intermediate", "4": "transient", "5": "permanent"}
)

CONSEQUENCES: Final[Mapping[StatusClass, Words]] = MappingProxyType(
    {
        "success": Words("all is well", "alles in orde"),
        "intermediate": Words(
            "this is a normal step while mail is being sent",
            "dit is een normale stap bij het versturen van e-mail",
        ),
        "transient": Words(
            "the sending server keeps trying for a while (usually up to 5 days)",
            "de verzendende server blijft het nog een tijd proberen (meestal tot 5 dagen)",
        ),
        "permanent": Words(
            "the message was refused and the sender got it back",
            "het bericht is geweigerd en de afzender krijgt het terug",
        ),
    }
)
"""What the class digit means for the message, in plain words."""


@dataclass(frozen=True, slots=True)
class Explanation:
    """What a status code in a text means, in one language.

    ``basic`` is the three-digit reply (552), ``enhanced`` the RFC 3463 code ("5.2.2"); either
    may be missing. ``exact`` is False when only the subject of the enhanced code was known
    (X.2.9 → "something about the recipient's mailbox").
    """

    basic: int | None
    enhanced: str | None
    status_class: StatusClass
    words: str
    over_quota: bool
    language: str
    exact: bool = True

    @property
    def code(self) -> str:
        """The codes as they are usually written together: ``"552 5.2.2"``."""
        return " ".join(str(part) for part in (self.basic, self.enhanced) if part is not None)


# --- finding codes in text ---------------------------------------------------------------
# A basic reply: three digits (class 2-5, second digit 0-5), not part of a longer number, an
# IP address, a key=value pair or a process id.
_B = r"(?<![\w.=/#\[+\-])"
_BASIC_RE = re.compile(_B + r"([2-5][0-5]\d)(?!\w|\.\d)")
# An enhanced code: class.subject.detail, not part of an IP address or version number.
_ENH_RE = re.compile(r"(?<![\w.])([245])\.([0-7])\.(\d{1,3})(?!\w|\.\d)")
# The two together as servers write them: "552 5.2.2", "550-5.1.1"; same class digit.
_PAIR_RE = re.compile(_B + r"([2-5])([0-5]\d)(?:[ \t]+|-)\1\.([0-7])\.(\d{1,3})(?!\w|\.\d)")

# Texts that say the recipient's mailbox is full (lower case). "insufficient system
# storage" (452) and "mail system full" (X.3.1) are the server, not the mailbox.
_QUOTA_RE = re.compile(
    r"\b(?:quota\s+(?:exceeded|full|reached)"
    r"|over\s+(?:the\s+|its\s+|his\s+|her\s+|their\s+)?(?:storage\s+)?quota|overquota"
    r"|exceeded\s+(?:the\s+|its\s+)?(?:storage\s+allocation|quota|mailbox\s+quota)"
    r"|(?:mailbox|mail\s+box|inbox|mailfolder)\s+(?:is\s+|was\s+)?full\b"
    r"|mailbox\s+for\s+user\s+is\s+full)"
)
# A quota that is about sending, not about the mailbox: "daily sending quota exceeded".
_NOT_MAILBOX_QUOTA_RE = re.compile(
    r"\b(?:sending|send|rate|message|messages|recipient|recipients|connection|daily|hourly)"
    r"\s+(?:limit\s+)?quota"
)
_QUOTA_HINTS: Final = ("quota", "full", ".2.2", "storage allocation")

_Enhanced = tuple[int, int, int]


def _find_codes(text: str) -> tuple[int | None, _Enhanced | None]:
    """The basic and enhanced code a text is about.

    A pair written together ("452 4.2.2") wins; otherwise the first enhanced code and the
    first *known* basic code of the same class.
    """
    pair = _PAIR_RE.search(text)
    if pair:
        cls, rest, subject, detail = pair.groups()
        return int(cls + rest), (int(cls), int(subject), int(detail))
    enhanced: _Enhanced | None = None
    found = _ENH_RE.search(text)
    if found:
        enhanced = (int(found.group(1)), int(found.group(2)), int(found.group(3)))
    basic: int | None = None
    for match in _BASIC_RE.finditer(text):
        number = int(match.group(1))
        if number in BASIC_CODES and (enhanced is None or number // 100 == enhanced[0]):
            basic = number
            break
    return basic, enhanced


def _over_quota(lower: str, basic: int | None, enhanced: _Enhanced | None) -> bool:
    """The recipient's mailbox is full: X.2.2, or a quota text that no code contradicts."""
    if enhanced is not None:
        cls, subject, detail = enhanced
        if cls == 2:
            return False
        if (subject, detail) == (2, 2):
            return True
        if subject not in (0, 2) or (detail != 0 and (subject, detail) in ENHANCED_CODES):
            return False  # a precise other reason: unknown user, system full, too big, ...
    if basic is not None and basic < 400:
        return False
    return bool(_QUOTA_RE.search(lower)) and not _NOT_MAILBOX_QUOTA_RE.search(lower)


def is_over_quota(text: str) -> bool:
    """Does this log line or bounce say the recipient's mailbox is full?

    Cheap enough to call on every log line: substring tests first, regexes only when a
    hint is present.
    """
    lower = text.lower()
    if not any(hint in lower for hint in _QUOTA_HINTS):
        return False
    basic, enhanced = _find_codes(lower)
    return _over_quota(lower, basic, enhanced)


def _language(language: str) -> str:
    """``"nl"``, ``"nl_NL"``, ``"NL-be"`` → ``"nl"``; anything else falls back to English."""
    return "nl" if language.strip().lower()[:2] == "nl" else "en"


def explain(text: str, language: str = "en") -> Explanation | None:
    """Explain the status code(s) in a free text, or None when there is none.

    Accepts "552 5.2.2", "5.2.2", "550-5.1.1 <x@y>: Recipient address rejected", a Postfix
    ``dsn=4.2.2, status=deferred (...)`` line or a ``Diagnostic-Code: smtp; 552 ...`` field.
    The words come from the enhanced code when it is specific, else from the basic code,
    else from the enhanced code's subject.
    """
    if not text:
        return None
    lang = _language(language)
    basic, enhanced = _find_codes(text)
    if basic is None and enhanced is None:
        return None

    detail_words: Words
    exact = True
    if enhanced is not None:
        cls_digit, subject, detail = enhanced
        known = ENHANCED_CODES.get((subject, detail))
        if known is not None and subject != 0:
            detail_words = known
        elif subject != 0:
            detail_words, exact = SUBJECTS[subject], False
        elif basic is not None and basic in BASIC_CODES:
            detail_words = BASIC_CODES[basic]
        else:
            detail_words = known or SUBJECTS[0]
            exact = known is not None
        status_class = _CLASSES[str(cls_digit)]
    else:
        assert basic is not None
        detail_words = BASIC_CODES[basic]
        status_class = _CLASSES[str(basic)[0]]

    words = f"{detail_words.get(lang)}; {CONSEQUENCES[status_class].get(lang)}"
    return Explanation(
        basic=basic,
        enhanced=".".join(map(str, enhanced)) if enhanced else None,
        status_class=status_class,
        words=words,
        over_quota=_over_quota(text.lower(), basic, enhanced),
        language=lang,
        exact=exact,
    )


def format_explanation(explanation: Explanation) -> str:
    """One line for the CLI: ``552 5.2.2 — the recipient's mailbox is full; the message ...``."""
    return f"{explanation.code} — {explanation.words}"
