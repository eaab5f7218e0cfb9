"""English and Dutch: the Dutch catalogue is complete, current with the sources and compiled;
pages follow the person's language (the browser's before logging in); errors too, while the
audit log stays English."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from sqlalchemy import select

from panel.config import PROJECT_ROOT
from panel.extensions import db
from panel.models import AuditEvent, Package, User
from panel.services import accounts, catalog, packages
from panel.services.errors import ServiceError
from panel.services.scope import Actor
from tests.conftest import https_client, login
from tests.world import LOGINS, PASSWORD

TRANSLATIONS = PROJECT_ROOT / "panel" / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
DUTCH_PO = TRANSLATIONS / "nl" / "LC_MESSAGES" / "messages.po"
DUTCH_MO = DUTCH_PO.with_suffix(".mo")
# The extraction of babel.cfg's header (and the README), without the output file.
EXTRACT = [
    "extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext",
    "--project=Onus", "--copyright-holder=Onus",
]  # fmt: skip
REGENERATE = (
    "regenerate: pybabel " + " ".join(EXTRACT) + " -o panel/translations/messages.pot . && "
    "pybabel update -i panel/translations/messages.pot -d panel/translations, translate, "
    "then pybabel compile -d panel/translations"
)

# %(name)s style placeholders (with their conversion), other % signs, {brace} placeholders
NAMED = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrs]")
BRACES = re.compile(r"\{\w+\}")

MessageId = str | tuple[str, ...]


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def normal(value: Any) -> Any:
    """A plural id or translation as a tuple (read_mo gives lists), anything else as is."""
    return tuple(value) if isinstance(value, list | tuple) else value


def messages(cat: Catalog) -> dict[MessageId, Any]:
    """The catalogue's messages by id, without the header entry."""
    return {normal(m.id): m for m in cat if m.id}


def placeholders(text: str) -> tuple[set[str], int, set[str]]:
    return set(NAMED.findall(text)), NAMED.sub("", text).count("%"), set(BRACES.findall(text))


def test_placeholder_check_tells_the_kinds_apart() -> None:
    assert placeholders("%(num)d at %(when)s, {home} (200 %)") == (
        {"%(num)d", "%(when)s"}, 1, {"{home}"}
    )  # fmt: skip
    assert placeholders("%(num)s") != placeholders("%(num)d")
    assert placeholders("Notice at (%)") != placeholders("Melding bij")


def test_every_message_has_a_dutch_translation_with_the_same_placeholders() -> None:
    template, dutch = messages(read_catalog(TEMPLATE)), read_catalog(DUTCH_PO)
    translated = messages(dutch)
    assert len(template) > 200, "the template looks truncated"
    assert not dutch.fuzzy, "the Dutch catalogue's header is marked fuzzy"
    assert dutch.num_plurals == 2
    problems = []
    for msgid in template:
        message = translated.get(msgid)
        if message is None:
            problems.append(f"not in the Dutch catalogue: {msgid!r}")
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        sources = msgid if isinstance(msgid, tuple) else (msgid,)
        forms = normal(message.string) if message.pluralizable else (message.string,)
        if len(forms) != len(sources):
            problems.append(f"{len(forms)} forms for {len(sources)}: {msgid!r}")
        for index, form in enumerate(forms):
            source = sources[min(index, len(sources) - 1)]
            if not (form or "").strip():
                problems.append(f"untranslated: {source!r}")
            elif placeholders(form) != placeholders(source):
                problems.append(f"placeholders differ: {source!r} -> {form!r}")
    stale = sorted(map(str, set(translated) - set(template)))
    assert not problems, "\n".join(problems)
    assert not stale, f"in the Dutch catalogue but not in the template: {stale}; {REGENERATE}"


def test_template_is_current_with_the_sources(tmp_path: Path) -> None:
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "-q", *EXTRACT, "-o", str(fresh), "."],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    in_sources = set(messages(read_catalog(fresh)))
    committed = set(messages(read_catalog(TEMPLATE)))
    new = sorted(map(str, in_sources - committed))
    gone = sorted(map(str, committed - in_sources))
    assert not new and not gone, f"new in the sources: {new}; gone from them: {gone}; {REGENERATE}"


def test_compiled_catalogue_matches_the_po() -> None:
    with DUTCH_MO.open("rb") as f:
        compiled = {msgid: normal(m.string) for msgid, m in messages(read_mo(f)).items()}
    source = {
        msgid: normal(m.string)
        for msgid, m in messages(read_catalog(DUTCH_PO)).items()
        if not m.fuzzy
    }
    assert compiled == source, f"messages.mo is older than messages.po; {REGENERATE}"


def set_language(app: Flask, email: str, language: str) -> None:
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == email)).one()
        user.language = language
        db.session.commit()


def page(app: Flask, path: str, email: str | None = None, **headers: str) -> str:
    client = https_client(app)
    if email is not None:
        assert login(client, email, PASSWORD).status_code == 302
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_dutch_speaking_owner_gets_the_panel_in_dutch(world_app: Flask) -> None:
    set_language(world_app, LOGINS["owner"], "nl")
    # The person's choice wins over what the browser asks for.
    text = page(world_app, "/client/", LOGINS["owner"], **{"Accept-Language": "en"})
    assert '<html lang="nl">' in text
    assert "Jouw hosting" in text and "Your hosting" not in text
    assert "Je pakket heeft" in text and "Your package has" not in text
    assert "Uitloggen" in text and "Log out" not in text
    assert "Mijn pakketten" in text and "My packages" not in text


def test_an_english_speaking_owner_keeps_english(world_app: Flask) -> None:
    set_language(world_app, LOGINS["owner"], "en")
    text = page(world_app, "/client/", LOGINS["owner"], **{"Accept-Language": "nl"})
    assert '<html lang="en">' in text
    assert "Your hosting" in text and "Jouw hosting" not in text
    assert "Log out" in text and "Uitloggen" not in text


@pytest.mark.parametrize(
    ("accept_language", "dutch"),
    [
        ("nl", True),
        ("nl-NL,nl;q=0.9,en-US;q=0.8,en;q=0.7", True),
        ("en", False),
        ("en-GB,en;q=0.9,nl;q=0.5", False),
        ("fr-FR,fr;q=0.9", False),
        (None, False),
    ],
)
def test_login_page_follows_the_browser(
    world_app: Flask, accept_language: str | None, dutch: bool
) -> None:
    headers = {"Accept-Language": accept_language} if accept_language else {}
    text = page(world_app, "/login", **headers)
    # the heading from a template, the field labels from lazy_gettext in the forms
    dutch_words = ("Inloggen bij Onus", "E-mailadres", "Wachtwoord")
    english_words = ("Log in to Onus", "Email address", "Password")
    expected, absent = (dutch_words, english_words) if dutch else (english_words, dutch_words)
    assert f'<html lang="{"nl" if dutch else "en"}">' in text
    assert all(word in text for word in expected), expected
    assert not any(word in text for word in absent), absent


def hoster_actor() -> Actor:
    user = accounts.find_user(LOGINS["hoster"])
    assert user is not None
    found = accounts.actor_for(user, None)
    assert found is not None
    return found


PLAN = {
    "storage_quota_bytes": 2**30,
    "mailbox_count": 5,
    "default_mailbox_quota_bytes": 2**20,
    "notice_percent": 80,
    "warning_percent": 90,
    "critical_percent": 100,
}


def test_service_errors_speak_the_language_of_the_request(world_app: Flask) -> None:
    with world_app.test_request_context(headers={"Accept-Language": "nl"}):
        with pytest.raises(ServiceError, match=r"^'no domain' is geen domeinnaam\.$"):
            packages.clean_domain("no domain")
        # a conflict found by the database, after the flush
        with pytest.raises(ServiceError, match=r"^Er bestaat al een plan met de naam Plan one\.$"):
            catalog.save_plan(hoster_actor(), None, {"name": "Plan one", **PLAN})
        package = db.session.scalars(select(Package).where(Package.name == "alpha")).one()
        packages.save_mailbox(hoster_actor(), package, None, "sales", "alpha.example", None)
        packages.save_mailbox(hoster_actor(), package, None, "jobs", "alpha.example", None)
        with pytest.raises(ServiceError, match=r"staat 3 mailboxen toe; ze zijn allemaal in"):
            packages.save_mailbox(hoster_actor(), package, None, "more", "alpha.example", None)
    english = r"^'no domain' is not a domain name\.$"
    with (
        world_app.test_request_context(headers={"Accept-Language": "en"}),
        pytest.raises(ServiceError, match=english),
    ):
        packages.clean_domain("no domain")
    # the CLI and the workers have no request: English
    conflict = r"^A plan named Plan one exists already\.$"
    with world_app.app_context(), pytest.raises(ServiceError, match=conflict):
        catalog.save_plan(hoster_actor(), None, {"name": "Plan one", **PLAN})


def test_the_audit_log_stays_english_whatever_the_language(world_app: Flask) -> None:
    with world_app.test_request_context(headers={"Accept-Language": "nl"}):
        catalog.save_plan(hoster_actor(), None, {"name": "Plan drie", **PLAN})
        event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert event is not None and event.summary == "Plan Plan drie created"
