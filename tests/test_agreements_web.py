"""Agreements on the web: terms written by the hoster, applied to a package, read by every
party in its own words and language, acknowledged once per version, refused when wrong.

The world's agreement is beta's (version 1 of "Standard terms", nobody has acknowledged);
alpha has none.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from panel.extensions import db
from panel.models import Acknowledgement, Agreement, AuditEvent, Party, TermsTemplate, User
from panel.policy.agreement import CATEGORIES, DEFAULT_MATRIX
from panel.services import agreements, parties
from panel.services.accounts import actor_for
from panel.services.scope import Actor
from tests.conftest import csrf_token, https_client, login, row_counts
from tests.world import LOGINS, PASSWORD, World

ADDRESS = "192.0.2.7"


def hoster_actor() -> Actor:
    """Hoster one, acting for its own party (inside an app context)."""
    user = db.session.scalars(select(User).where(User.email == LOGINS["hoster"])).one()
    actor = actor_for(user, None)
    assert actor is not None
    return actor


def client_for(app: Flask, role: str, address: str = "127.0.0.1") -> FlaskClient:
    client = https_client(app)
    client.environ_base["REMOTE_ADDR"] = address
    assert login(client, LOGINS[role], PASSWORD).status_code == 302
    return client


def set_language(app: Flask, role: str, language: str) -> None:
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == LOGINS[role])).one()
        user.language = language
        db.session.commit()


def terms_form(name: str = "Strict terms", **changes: str) -> dict[str, str]:
    """A valid terms form as the page posts it (the default matrix), with ``changes``."""
    values = {
        "name": name,
        "text_en": "Strict terms, in English.",
        "text_nl": "Strenge voorwaarden, in het Nederlands.",
        "threshold_notice": "70",
        "threshold_warning": "85",
        "threshold_critical": "100",
        "deadline_notice": "48",
        "deadline_warning": "12",
        "deadline_critical": "1",
        "at_full": "bounce",
        "defer_hours": "72",
        "upgrade": "preapproved",
    }
    for category in CATEGORIES:
        entry = DEFAULT_MATRIX[category]
        values[f"responsible_{category}"] = ",".join(entry["responsible"])
        values[f"escalation_{category}"] = ",".join(entry["escalation"]) or "none"
    return {**values, **changes}


def post(client: FlaskClient, page: str, action: str, data: dict[str, Any]) -> Any:
    return client.post(action, data={"csrf_token": csrf_token(client, page), **data})


def refused(
    app: Flask, client: FlaskClient, page: str, action: str, data: dict[str, Any], message: str
) -> str:
    """POST from ``page``: 400, ``message`` shown, no row of any table changed."""
    before = row_counts(app)
    response = post(client, page, action, data)
    text = response.get_data(as_text=True)
    assert response.status_code == 400, text[:500]
    assert message in text, f"{message!r} not shown"
    assert row_counts(app) == before
    return text


def apply_terms(app: Flask, client: FlaskClient, package_id: int, template_id: int) -> None:
    page = f"/hoster/packages/{package_id}"
    response = client.post(
        f"/hoster/packages/{package_id}/agreement",
        data={"terms-csrf_token": csrf_token(client, page), "terms-template_id": template_id},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]


def acknowledge(client: FlaskClient, world: World, agreement_id: int) -> Any:
    page = f"/packages/{world.other_package}/agreement"
    return post(client, page, f"/agreements/{agreement_id}/acknowledge", {})


# --- reading ------------------------------------------------------------------------------------


def test_the_owner_reads_its_agreement_in_english_and_in_dutch(
    world_app: Flask, world: World
) -> None:
    path = f"/packages/{world.other_package}/agreement"
    set_language(world_app, "other_owner", "en")
    text = client_for(world_app, "other_owner").get(path).get_data(as_text=True)
    assert "These are the terms of Hoster one." in text
    assert "Your package has 150 MiB, shared by your mailboxes and your website." in text
    assert "You answer for the mailboxes, the website&#39;s uploads" in text
    assert "Builder Two answers for the website&#39;s files" in text
    assert "I have read and accept this agreement" in text

    set_language(world_app, "other_owner", "nl")
    text = client_for(world_app, "other_owner").get(path).get_data(as_text=True)
    assert '<div class="terms" lang="nl">' in text
    assert "Dit zijn de voorwaarden van Hoster one." in text
    assert "Je pakket heeft 150 MiB, gedeeld door je mailboxen en je website." in text
    assert "Jij bent verantwoordelijk voor de mailboxen" in text
    assert "Your package has" not in text


def test_each_party_is_addressed_in_its_own_role(world_app: Flask, world: World) -> None:
    path = f"/packages/{world.other_package}/agreement"
    builder = client_for(world_app, "other_builder").get(path).get_data(as_text=True)
    assert "You answer for the website&#39;s files" in builder
    assert "Owner Beta answers for the mailboxes" in builder
    hoster = client_for(world_app, "hoster").get(path).get_data(as_text=True)
    assert "You answer for the size of the package" in hoster
    assert "Builder Two answers for the website&#39;s files" in hoster


def test_html_in_terms_is_shown_escaped(world_app: Flask, world: World) -> None:
    hoster = client_for(world_app, "hoster")
    script = "<script>alert(1)</script>"
    response = post(
        hoster,
        "/hoster/terms/new",
        "/hoster/terms/new",
        terms_form("Sneaky", text_en=f"Read this {script} <b>now</b>", text_nl=f"Lees {script}"),
    )
    assert response.status_code == 302
    with world_app.app_context():
        template_id = db.session.scalars(
            select(TermsTemplate.id).where(TermsTemplate.name == "Sneaky")
        ).one()
    apply_terms(world_app, hoster, world.package, template_id)

    set_language(world_app, "owner", "en")
    response = client_for(world_app, "owner").get(f"/packages/{world.package}/agreement")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Read this &lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;now&lt;/b&gt;" in text
    assert script not in text and "<b>now" not in text


def test_a_package_without_agreement_says_so_everywhere(world_app: Flask, world: World) -> None:
    owner = client_for(world_app, "owner")
    text = owner.get(f"/packages/{world.package}/agreement").get_data(as_text=True)
    assert "This package has no agreement yet" in text
    assert "I have read and accept" not in text
    assert "No agreement yet" in owner.get("/client/").get_data(as_text=True)
    builder = client_for(world_app, "builder").get("/builder/").get_data(as_text=True)
    assert "no agreement" in builder and "read and acknowledge" not in builder
    hoster = client_for(world_app, "hoster")
    page = hoster.get(f"/hoster/packages/{world.package}").get_data(as_text=True)
    assert "no agreement" in page and "Standard terms, version 1" in page


# --- acknowledging ------------------------------------------------------------------------------


def test_acknowledging_records_who_when_where_which_language_and_text(
    world_app: Flask, world: World
) -> None:
    set_language(world_app, "other_owner", "nl")
    owner = client_for(world_app, "other_owner", ADDRESS)
    link = f'href="/packages/{world.other_package}/agreement"'
    assert link in owner.get("/client/").get_data(as_text=True)  # read and acknowledge
    shown = owner.get(f"/packages/{world.other_package}/agreement").get_data(as_text=True)
    assert "Je pakket heeft 150 MiB" in shown

    response = acknowledge(owner, world, world.agreement)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/packages/{world.other_package}/agreement"
    with world_app.app_context():
        ack = db.session.scalars(select(Acknowledgement)).one()
        agreement = db.session.get(Agreement, world.agreement)
        assert agreement is not None
        expected = agreements.shown_text(agreement, "owner", "nl")
        assert (ack.party_id, ack.role, ack.address, ack.language) == (
            world.other_owner,
            "owner",
            ADDRESS,
            "nl",
        )
        assert ack.text == expected and "Je pakket heeft 150 MiB" in ack.text
        assert ack.text_hash == hashlib.sha256(expected.encode("utf-8")).hexdigest()
        assert ack.user.email == LOGINS["other_owner"]
        event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert event is not None and event.action == "acknowledge"

    page = owner.get(f"/packages/{world.other_package}/agreement").get_data(as_text=True)
    assert "Ik heb deze afspraak gelezen" not in page  # the owner reads Dutch
    assert page.count("nog niet") == 2  # the hoster and the builder
    assert "<td>Nederlands</td>" in page  # the language it was acknowledged in
    assert link not in owner.get("/client/").get_data(as_text=True)

    # a second time: refused, nothing changes
    text = refused(
        world_app,
        owner,
        f"/packages/{world.other_package}/agreement",
        f"/agreements/{world.agreement}/acknowledge",
        {},
        "heeft deze versie al bevestigd",  # "has acknowledged this version already", in Dutch
    )
    assert "Ik heb deze afspraak gelezen" not in text


def test_acknowledging_an_old_version_is_refused(world_app: Flask, world: World) -> None:
    hoster = client_for(world_app, "hoster")
    apply_terms(world_app, hoster, world.other_package, world.terms)  # version 2
    owner = client_for(world_app, "other_owner")
    old = owner.get(f"/agreements/{world.agreement}").get_data(as_text=True)
    assert "Superseded by version 2." in old and "I have read and accept" not in old
    refused(
        world_app,
        owner,
        f"/agreements/{world.agreement}",
        f"/agreements/{world.agreement}/acknowledge",
        {},
        "A newer version of this agreement exists: read and acknowledge that one.",
    )
    current = owner.get(f"/packages/{world.other_package}/agreement").get_data(as_text=True)
    assert "Version 2 of" in current and "I have read and accept" in current
    assert f'href="/agreements/{world.agreement}"' in current  # version 1 stays readable


def test_acknowledging_for_a_party_not_in_the_agreement_is_refused(
    world_app: Flask, world: World
) -> None:
    hoster = client_for(world_app, "hoster")
    # Builder One takes over beta: version 2 names it; version 1 does not
    response = post(
        hoster,
        f"/hoster/packages/{world.other_package}",
        f"/hoster/packages/{world.other_package}/assign",
        {"assign-role": "builder", "assign-party_id": world.builder},
    )
    assert response.status_code == 302
    builder = client_for(world_app, "builder")
    old = builder.get(f"/agreements/{world.agreement}").get_data(as_text=True)
    assert "I have read and accept" not in old
    refused(
        world_app,
        builder,
        f"/agreements/{world.agreement}",
        f"/agreements/{world.agreement}/acknowledge",
        {},
        "Your party is not part of this agreement.",
    )
    # the new version is the builder's to acknowledge
    dashboard = builder.get("/builder/").get_data(as_text=True)
    assert "read and acknowledge" in dashboard


def test_an_agreement_of_a_package_out_of_sight_is_not_found(
    world_app: Flask, world: World
) -> None:
    for role in ("owner", "builder", "other_hoster"):
        client = client_for(world_app, role)
        for path in (f"/agreements/{world.agreement}", "/agreements/999999"):
            response = client.get(path)
            assert response.status_code == 404 and "Hoster one" not in response.get_data(
                as_text=True
            )
        token = csrf_token(client, "/account")
        before = row_counts(world_app)
        response = client.post(
            f"/agreements/{world.agreement}/acknowledge", data={"csrf_token": token}
        )
        assert response.status_code == 404
        assert row_counts(world_app) == before


# --- the hoster's list --------------------------------------------------------------------------


def rows_shown(client: FlaskClient, query: str) -> set[str]:
    text = client.get(f"/hoster/{query}").get_data(as_text=True)
    return {name for name in ("alpha", "beta") if f">{name}</a>" in text}


def test_the_package_list_shows_and_filters_on_the_agreement_state(
    world_app: Flask, world: World
) -> None:
    hoster = client_for(world_app, "hoster")
    text = hoster.get("/hoster/").get_data(as_text=True)
    assert "waiting for Builder Two, Hoster one, Owner Beta since" in text
    assert "no agreement" in text
    assert rows_shown(hoster, "") == {"alpha", "beta"}
    assert rows_shown(hoster, "?agreement=none") == {"alpha"}
    assert rows_shown(hoster, "?agreement=waiting") == {"beta"}
    assert rows_shown(hoster, "?agreement=agreed") == set()
    assert rows_shown(hoster, "?agreement=nonsense") == {"alpha", "beta"}
    assert rows_shown(hoster, "?q=beta&agreement=none") == set()

    with world_app.app_context():
        agreement = db.session.get(Agreement, world.agreement)
        assert agreement is not None
        for role in ("hoster", "other_builder", "other_owner"):
            user = db.session.scalars(select(User).where(User.email == LOGINS[role])).one()
            actor = actor_for(user, None)
            assert actor is not None
            waiting = rows_shown(hoster, "?agreement=waiting")
            assert waiting == {"beta"}, role  # until the last party has acknowledged
            agreements.acknowledge(actor, agreement, "127.0.0.1", "en")
    assert rows_shown(hoster, "?agreement=agreed") == {"beta"}
    assert rows_shown(hoster, "?agreement=waiting") == set()
    assert "agreed by all" in hoster.get("/hoster/?agreement=agreed").get_data(as_text=True)


# --- the terms form -----------------------------------------------------------------------------


def test_terms_are_written_and_edited_into_new_versions(world_app: Flask, world: World) -> None:
    hoster = client_for(world_app, "hoster")
    response = post(hoster, "/hoster/terms/new", "/hoster/terms/new", terms_form())
    assert response.status_code == 302 and response.headers["Location"] == "/hoster/terms"
    edit = f"/hoster/terms/{world.terms}/edit"
    page = hoster.get(edit).get_data(as_text=True)
    assert "These are the terms of Hoster one." in page  # prefilled from version 1
    assert '<option selected value="owner,hoster">owner and hoster</option>' in page
    changed = terms_form(
        text_en="Changed terms.\r\n\r\nSecond paragraph.",
        responsible_site_uploads="owner,hoster",
        escalation_site_uploads="builder",
    )
    response = post(hoster, edit, edit, changed)
    assert response.status_code == 302
    with world_app.app_context():
        versions = db.session.scalars(
            select(TermsTemplate)
            .where(TermsTemplate.name == "Standard terms")
            .order_by(TermsTemplate.version)
        ).all()
        assert [v.version for v in versions] == [1, 2]
        assert versions[0].text_en.startswith("These are the terms")  # the old one stays
        assert versions[1].text_en == "Changed terms.\n\nSecond paragraph."  # LF, as typed
        assert versions[1].matrix["site_uploads"] == {
            "responsible": ["owner", "hoster"],
            "escalation": ["builder"],
        }
        assert versions[1].thresholds == {"notice": 70, "warning": 85, "critical": 100}
        assert versions[1].deadlines == {"notice": 48, "warning": 12, "critical": 1}
        assert versions[1].grace == {
            "at_full": "bounce",
            "defer_hours": 72,
            "upgrade": "preapproved",
        }
    listing = hoster.get("/hoster/terms").get_data(as_text=True)
    assert "Strict terms" in listing and "Edit (makes version 3)" in listing
    package_page = hoster.get(f"/hoster/packages/{world.package}").get_data(as_text=True)
    assert "Standard terms, version 2" in package_page and "Strict terms, version 1" in package_page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"threshold_critical": "101"}, "Thresholds must rise and stay within 100 %"),
        ({"threshold_notice": "95"}, "Thresholds must rise and stay within 100 %"),
        ({"threshold_warning": "80", "threshold_notice": "80"}, "Thresholds must rise"),
        ({"responsible_mailbox": ""}, "Nobody answers for mailbox contents"),
        ({"escalation_capacity": "hoster"}, "repeats a role or the responsible one"),
        ({"deadline_warning": "0"}, "The deadline for warning must be 1 to 720 hours."),
        ({"at_full": "defer", "defer_hours": "500"}, "Deferring lasts 1 to 168 hours"),
        ({"text_nl": ""}, "This field is required."),
        ({"responsible_mailbox": "nobody"}, "Not a valid choice."),
    ],
)
@pytest.mark.parametrize("page", ["new", "edit"])
def test_bad_terms_are_refused_and_nothing_is_saved(
    world_app: Flask, world: World, changes: dict[str, str], message: str, page: str
) -> None:
    hoster = client_for(world_app, "hoster")
    path = "/hoster/terms/new" if page == "new" else f"/hoster/terms/{world.terms}/edit"
    refused(world_app, hoster, path, path, terms_form(**changes), message)
    with world_app.app_context():
        count = db.session.scalar(select(func.count()).select_from(TermsTemplate))
    assert count == 1


def test_a_foreign_terms_template_is_not_found_nor_applicable(
    world_app: Flask, world: World
) -> None:
    other = client_for(world_app, "other_hoster")
    response = post(other, "/hoster/terms/new", "/hoster/terms/new", terms_form("Theirs"))
    assert response.status_code == 302
    with world_app.app_context():
        theirs = db.session.scalars(
            select(TermsTemplate.id).where(TermsTemplate.name == "Theirs")
        ).one()
    hoster = client_for(world_app, "hoster")
    assert hoster.get(f"/hoster/terms/{theirs}/edit").status_code == 404
    assert "Theirs" not in hoster.get("/hoster/terms").get_data(as_text=True)
    refused(
        world_app,
        hoster,
        f"/hoster/packages/{world.package}",
        f"/hoster/packages/{world.package}/agreement",
        {"terms-template_id": theirs},
        "Not a valid choice.",
    )


# --- applying -----------------------------------------------------------------------------------


def test_applying_terms_when_a_party_can_only_be_reached_through_the_package_is_refused(
    world_app: Flask, world: World
) -> None:
    with world_app.app_context():
        actor = hoster_actor()
        owner = db.session.get(Party, world.owner)
        assert owner is not None
        parties.add_contact(actor, owner, "email", "info@alpha.example", "")
        parties.remove_contact(actor, owner.contacts[0])
    hoster = client_for(world_app, "hoster")
    page = f"/hoster/packages/{world.package}"
    before = row_counts(world_app)
    response = hoster.post(
        f"{page}/agreement",
        data={"terms-csrf_token": csrf_token(hoster, page), "terms-template_id": world.terms},
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert (
        "Owner Alpha can only be reached at info@alpha.example, which this package serves" in text
    )
    assert row_counts(world_app) == before
    assert "no agreement" in text


def test_a_stored_combination_the_form_does_not_offer_is_kept_when_editing(
    world_app: Flask, world: World
) -> None:
    with world_app.app_context():
        actor = hoster_actor()
        template = db.session.get(TermsTemplate, world.terms)
        matrix = {
            **DEFAULT_MATRIX,
            "site_files": {"responsible": ["builder", "hoster"], "escalation": ["owner"]},
        }
        values = {
            "text_en": template.text_en,
            "text_nl": template.text_nl,
            "matrix": matrix,
            "thresholds": template.thresholds,
            "deadlines": template.deadlines,
            "grace": template.grace,
        }
        second = agreements.save_template(actor, template, values)
        second_id = second.id
    hoster = client_for(world_app, "hoster")
    edit = f"/hoster/terms/{second_id}/edit"
    page = hoster.get(edit).get_data(as_text=True)
    assert '<option selected value="builder,hoster">web builder and hoster</option>' in page
    data = terms_form(responsible_site_files="builder,hoster", escalation_site_files="owner")
    assert post(hoster, edit, edit, data).status_code == 302
    # a value the page never offered is refused
    data = terms_form(responsible_site_files="builder,owner")
    refused(world_app, hoster, edit, edit, data, "Not a valid choice.")
