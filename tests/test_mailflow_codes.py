"""Plain-language SMTP status codes: every RFC 3463 code in both languages, and the search."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from panel.cli import main
from panel.mailflow.codes import (
    BASIC_CODES,
    CONSEQUENCES,
    ENHANCED_CODES,
    SUBJECTS,
    Explanation,
    explain,
    format_explanation,
    is_over_quota,
)

# RFC 3463 section 3, written out here independently of the module's table.
RFC3463 = (
    [(0, 0)]
    + [(1, d) for d in range(9)]
    + [(2, d) for d in range(5)]
    + [(3, d) for d in range(6)]
    + [(4, d) for d in range(8)]
    + [(5, d) for d in range(6)]
    + [(6, d) for d in range(6)]
    + [(7, d) for d in range(8)]
)
RFC5321 = [211, 214, 220, 221, 250, 251, 252, 354, 421, 450, 451, 452, 455]
RFC5321 += [500, 501, 502, 503, 504, 550, 551, 552, 553, 554, 555]


def test_rfc3463_has_all_its_codes() -> None:
    assert len(RFC3463) == 49  # X.0.0, 9 + 5 + 6 + 8 + 6 + 6 + 8 details
    assert set(RFC3463) <= set(ENHANCED_CODES)


@pytest.mark.parametrize(("subject", "detail"), sorted(ENHANCED_CODES))
def test_every_enhanced_code_speaks_both_languages(subject: int, detail: int) -> None:
    words = ENHANCED_CODES[(subject, detail)]
    assert words.en.strip() and words.nl.strip()
    assert words.en != words.nl


@pytest.mark.parametrize(("subject", "detail"), RFC3463)
@pytest.mark.parametrize("cls", [4, 5])
def test_every_rfc3463_code_is_explained_in_both_languages(
    cls: int, subject: int, detail: int
) -> None:
    code = f"{cls}.{subject}.{detail}"
    english = explain(code, "en")
    dutch = explain(code, "nl")
    assert english is not None and dutch is not None
    assert english.enhanced == code and english.basic is None
    assert english.exact and dutch.exact
    assert english.words and dutch.words and english.words != dutch.words
    assert dutch.language == "nl"


@pytest.mark.parametrize("code", RFC5321)
def test_every_rfc5321_reply_is_explained_in_both_languages(code: int) -> None:
    assert code in BASIC_CODES
    english = explain(str(code), "en")
    dutch = explain(str(code), "nl")
    assert english is not None and dutch is not None
    assert english.basic == code and english.enhanced is None
    assert english.words != dutch.words


@pytest.mark.parametrize("table", [SUBJECTS, CONSEQUENCES, BASIC_CODES])
def test_other_tables_speak_both_languages(table) -> None:
    for words in table.values():
        assert words.en.strip() and words.nl.strip() and words.en != words.nl


def test_the_story_example() -> None:
    english = explain("552 5.2.2")
    assert english is not None
    assert format_explanation(english) == (
        "552 5.2.2 — the recipient's mailbox is full; "
        "the message was refused and the sender got it back"
    )
    dutch = explain("552 5.2.2", "nl")
    assert dutch is not None
    assert format_explanation(dutch) == (
        "552 5.2.2 — de mailbox van de ontvanger is vol; "
        "het bericht is geweigerd en de afzender krijgt het terug"
    )


@pytest.mark.parametrize(
    ("text", "basic", "enhanced", "status_class", "over_quota"),
    [
        ("552 5.2.2", 552, "5.2.2", "permanent", True),
        ("5.2.2", None, "5.2.2", "permanent", True),
        ("552", 552, None, "permanent", False),
        ("550-5.1.1 <x@y>: Recipient address rejected", 550, "5.1.1", "permanent", False),
        (
            "dsn=4.2.2, status=deferred (host mx.example.nl[192.0.2.7] said: "
            "452 4.2.2 Mailbox full (in reply to RCPT TO command))",
            452,
            "4.2.2",
            "transient",
            True,
        ),
        ("Diagnostic-Code: smtp; 552 5.2.2 Over quota", 552, "5.2.2", "permanent", True),
        ("452 4.3.1 Insufficient system storage", 452, "4.3.1", "transient", False),
        ("250 2.0.0 Ok: queued as 4F2C81", 250, "2.0.0", "success", False),
        ("354 End data with <CR><LF>.<CR><LF>", 354, None, "intermediate", False),
        ("421 Service not available", 421, None, "transient", False),
        ("Remote Server returned '554 5.2.2 mailbox full'", 554, "5.2.2", "permanent", True),
    ],
)
def test_examples(
    text: str, basic: int | None, enhanced: str | None, status_class: str, over_quota: bool
) -> None:
    result = explain(text)
    assert result is not None
    assert (result.basic, result.enhanced) == (basic, enhanced)
    assert result.status_class == status_class
    assert result.over_quota is over_quota
    assert is_over_quota(text) is over_quota


@pytest.mark.parametrize(
    ("text", "consequence"),
    [
        ("4.2.2", "keeps trying for a while (usually up to 5 days)"),
        ("5.2.2", "the message was refused and the sender got it back"),
        ("2.1.5", "all is well"),
    ],
)
def test_class_changes_the_consequence(text: str, consequence: str) -> None:
    result = explain(text)
    assert result is not None
    assert result.words.endswith(consequence)


def test_dutch_transient_consequence() -> None:
    result = explain("452 4.2.2", "nl")
    assert result is not None
    assert result.words == (
        "de mailbox van de ontvanger is vol; "
        "de verzendende server blijft het nog een tijd proberen (meestal tot 5 dagen)"
    )


@pytest.mark.parametrize("language", ["nl", "NL", "nl_NL", "nl-BE"])
def test_dutch_language_tags(language: str) -> None:
    result = explain("5.1.1", language)
    assert result is not None and result.language == "nl"


@pytest.mark.parametrize("language", ["en", "de", ""])
def test_other_languages_fall_back_to_english(language: str) -> None:
    result = explain("5.1.1", language)
    assert result is not None and result.language == "en"
    assert "does not exist" in result.words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5.2.9", "something about the recipient's mailbox"),
        ("550 5.7.99 policy says no", "a security or policy rule"),
        ("4.3.77", "something about the receiving mail server"),
    ],
)
def test_unknown_detail_is_explained_by_subject(text: str, expected: str) -> None:
    result = explain(text)
    assert result is not None
    assert not result.exact
    assert result.words.startswith(expected)


def test_undefined_enhanced_code_uses_the_basic_words() -> None:
    result = explain("550 5.0.0 No such user here")
    assert result is not None
    assert result.words.startswith(BASIC_CODES[550].en)


@pytest.mark.parametrize(
    ("text", "basic", "enhanced"),
    [
        # A Postfix line: the dsn and the server's own reply; the pair wins.
        ("dsn=5.0.0, status=bounced (host said: 550 5.1.1 user unknown)", 550, "5.1.1"),
        # Multi-line reply: the first pair.
        ("550-5.7.26 Unauthenticated email 550-5.7.26 is not accepted 550 5.7.26", 550, "5.7.26"),
        # Enhanced code apart from its basic code, with a stray number of another class.
        ("550 Mailbox unavailable (#5.1.1) after 250 retries", 550, "5.1.1"),
        # A basic code of another class than the enhanced code is not its partner.
        ("221 Bye; earlier: 5.1.1", None, "5.1.1"),
    ],
)
def test_texts_with_several_codes(text: str, basic: int | None, enhanced: str) -> None:
    result = explain(text)
    assert result is not None
    assert (result.basic, result.enhanced) == (basic, enhanced)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello world",
        "connect from unknown[192.168.250.12]",
        "client=mail.example.com[10.4.2.2]:587",
        "postfix/smtp[12345]: 4F2C81: to=<info@school.nl>, delay=452",
        "version 3.4.5",
        "size=5522 nrcpt=1",
        "error 599",
    ],
)
def test_garbage_returns_none(text: str) -> None:
    assert explain(text) is None
    assert explain(text, "nl") is None


@pytest.mark.parametrize(
    "text",
    [
        "552 5.2.2 Mailbox full",
        "452-4.2.2 The email account that you tried to reach is over quota.",
        "Quota exceeded (mailbox for user is full)",
        "status=bounced (maildir delivery failed: Disk quota exceeded)",
        "552 Requested mail action aborted: exceeded storage allocation",
        "552 1 Requested mail action aborted, mailbox is full",
        "550 user is over quota",
        "dsn=5.0.0, status=bounced (Mailbox full)",
        "5.2.2",
    ],
)
def test_over_quota_positives(text: str) -> None:
    assert is_over_quota(text)
    result = explain(text)
    assert result is None or result.over_quota


@pytest.mark.parametrize(
    "text",
    [
        "550 5.1.1 <x@y>: Recipient address rejected: User unknown",
        "452 4.3.1 Insufficient system storage",
        "452 Insufficient system storage",
        "5.3.1 mail system full",
        "550 5.4.5 Daily user sending quota exceeded",
        "421 4.7.0 Hourly sending quota exceeded, try later",
        "552 5.3.4 Message size exceeds fixed limit",
        "552 5.2.3 message too large for this mailbox, mailbox not full",
        "250 2.0.0 Ok: queued",
        "the inbox is fully synced",
        "",
    ],
)
def test_over_quota_negatives(text: str) -> None:
    assert not is_over_quota(text)
    result = explain(text)
    assert result is None or not result.over_quota


def test_explanation_is_frozen() -> None:
    result = explain("552 5.2.2")
    assert isinstance(result, Explanation)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.words = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["552 5.2.2"],
            "552 5.2.2 — the recipient's mailbox is full; the message was refused and the "
            "sender got it back",
        ),
        (
            ["--language", "nl", "552 5.2.2"],
            "552 5.2.2 — de mailbox van de ontvanger is vol; het bericht is geweigerd en de "
            "afzender krijgt het terug",
        ),
    ],
)
def test_onus_mail_explain_prints_the_plain_words(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(main, ["mail", "explain", *args])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == expected


def test_onus_mail_explain_says_when_there_is_no_code() -> None:
    result = CliRunner().invoke(main, ["mail", "explain", "hello world"])
    assert result.exit_code == 1
    assert "no SMTP status code found in 'hello world'" in result.output
