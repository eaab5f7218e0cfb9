"""The pure policy core: the rules a matrix, its thresholds and grace policy must follow, the
agreement in plain words, and above all who answered for what at a given time, over a history
of versions, partial acknowledgements and a change of builder."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from panel.policy.agreement import (
    CATEGORIES,
    DEFAULT_DEADLINES,
    DEFAULT_GRACE,
    DEFAULT_MATRIX,
    DEFAULT_THRESHOLDS,
    ROLES,
    Acknowledged,
    Answerer,
    PolicyError,
    Version,
    check_grace,
    check_matrix,
    check_thresholds,
    in_force,
    text_hash,
    who_answered,
)
from panel.policy.wording import plain_words

BASE = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HOSTER, BUILDER, NEW_BUILDER, OWNER = 1, 10, 11, 20
MIB = 1024 * 1024


def hour(h: float) -> datetime:
    return BASE + timedelta(hours=h)


def matrix(**changes: tuple[list[str], list[str]]) -> dict[str, dict[str, list[str]]]:
    """The default matrix with some categories given (responsible, escalation)."""
    result = copy.deepcopy(DEFAULT_MATRIX)
    for category, (responsible, escalation) in changes.items():
        result[category] = {"responsible": responsible, "escalation": escalation}
    return result


# --- check_matrix --------------------------------------------------------------------------


def refused(call: Any, *args: Any, **kwargs: Any) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        call(*args, **kwargs)
    return info.value


def test_the_default_matrix_passes_for_a_package_with_all_three_parties() -> None:
    check_matrix(DEFAULT_MATRIX)
    check_matrix(DEFAULT_MATRIX, ROLES)


def test_a_missing_category_is_named() -> None:
    broken = matrix()
    del broken["site_backups"]
    error = refused(check_matrix, broken)
    assert error.params == {"category": "site_backups"}
    assert "no entry for site_backups" in str(error)


def test_an_unknown_category_is_refused_not_silently_kept() -> None:
    error = refused(check_matrix, {**matrix(), "email_archive": DEFAULT_MATRIX["mailbox"]})
    assert "'email_archive'" in str(error)


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"responsible": ["webmaster"], "escalation": []}, "Unknown role 'webmaster'"),
        ({"responsible": ["owner"], "escalation": ["janitor"]}, "Unknown role 'janitor'"),
        ({"responsible": [], "escalation": ["hoster"]}, "Nobody answers for site_files"),
        ({"escalation": ["hoster"]}, "Nobody answers for site_files"),
        ({"responsible": ["builder"], "escalation": ["hoster", "hoster"]}, "repeats a role"),
        ({"responsible": ["builder"], "escalation": ["builder"]}, "repeats a role"),
        # a string where a list belongs would otherwise be read letter by letter
        ({"responsible": "builder", "escalation": []}, "needs a list of roles"),
        (["builder"], "needs a list of roles"),
    ],
)
def test_a_bad_matrix_entry_is_refused_in_words(entry: Any, words: str) -> None:
    broken = matrix()
    broken["site_files"] = entry
    assert words in str(refused(check_matrix, broken))


def test_a_responsible_role_without_a_party_leaves_a_category_unanswered() -> None:
    # a package without builder: the default matrix gives site files to the builder
    error = refused(check_matrix, DEFAULT_MATRIX, ["hoster", "owner"])
    assert error.params == {"category": "site_files", "role": "builder"}
    # escalating to a missing role is allowed: the next one up simply is not there
    without_builder = matrix(
        site_files=(["owner"], ["builder", "hoster"]),
        site_backups=(["owner"], ["hoster"]),
        databases=(["hoster"], []),
    )
    check_matrix(without_builder, ["hoster", "owner"])
    # shared responsibility: one of two roles held is not enough, both must be
    shared = matrix(site_files=(["builder", "owner"], ["hoster"]))
    assert refused(check_matrix, shared, ["hoster", "owner"]).params["role"] == "builder"


def test_without_assigned_roles_any_known_role_may_answer() -> None:
    # a template is checked before it meets a package
    check_matrix(matrix(capacity=(["builder"], ["hoster"])))


# --- check_thresholds ------------------------------------------------------------------------


def thresholds(**changes: Any) -> dict[str, Any]:
    return {**DEFAULT_THRESHOLDS, **changes}


def deadlines(**changes: Any) -> dict[str, Any]:
    return {**DEFAULT_DEADLINES, **changes}


def test_default_and_boundary_thresholds_pass() -> None:
    check_thresholds(DEFAULT_THRESHOLDS, DEFAULT_DEADLINES)
    check_thresholds({"notice": 1, "warning": 2, "critical": 100}, deadlines(notice=720))
    check_thresholds({"notice": 97, "warning": 98, "critical": 99}, deadlines(critical=1))


@pytest.mark.parametrize(
    "levels",
    [
        thresholds(critical=101),
        thresholds(warning=120, critical=150),
        thresholds(notice=95),  # above warning
        thresholds(warning=80),  # equal to notice
        thresholds(notice=0),
        thresholds(notice=-5),
        {"warning": 90, "critical": 100},  # a level missing
    ],
)
def test_thresholds_above_100_or_out_of_order_are_refused(levels: dict[str, Any]) -> None:
    with pytest.raises(PolicyError):
        check_thresholds(levels, DEFAULT_DEADLINES)


@pytest.mark.parametrize("value", [80.5, "80", None, True])
def test_a_threshold_must_be_a_whole_number(value: Any) -> None:
    error = refused(check_thresholds, thresholds(notice=value), DEFAULT_DEADLINES)
    assert "whole-number" in str(error)


@pytest.mark.parametrize("value", [0, -1, 721, 2.5, "24", None, True])
def test_deadlines_must_be_1_to_720_whole_hours(value: Any) -> None:
    error = refused(check_thresholds, DEFAULT_THRESHOLDS, deadlines(warning=value))
    assert error.params == {"level": "warning"}


def test_a_missing_deadline_is_refused() -> None:
    error = refused(check_thresholds, DEFAULT_THRESHOLDS, {"notice": 72, "warning": 24})
    assert error.params == {"level": "critical"}


# --- check_grace -----------------------------------------------------------------------------


def test_grace_policies_that_make_sense_pass() -> None:
    check_grace(DEFAULT_GRACE)
    check_grace({"at_full": "bounce", "upgrade": "none"})  # no deferral, so no hours
    check_grace({"at_full": "defer", "defer_hours": 168, "upgrade": "preapproved"})
    check_grace({"at_full": "defer", "defer_hours": 1, "upgrade": "suggest"})


@pytest.mark.parametrize(
    "grace",
    [
        {"at_full": "drop", "upgrade": "none"},
        {"upgrade": "none"},
        {"at_full": "defer", "upgrade": "none"},  # deferring, but for how long?
        {"at_full": "defer", "defer_hours": 0, "upgrade": "none"},
        {"at_full": "defer", "defer_hours": 169, "upgrade": "none"},
        # bad input is refused in words, not with a crash from int()
        {"at_full": "defer", "defer_hours": "three days", "upgrade": "none"},
        {"at_full": "defer", "defer_hours": None, "upgrade": "none"},
        {"at_full": "defer", "defer_hours": 1.5, "upgrade": "none"},
        {"at_full": "defer", "defer_hours": 72, "upgrade": "maybe"},
        {"at_full": "bounce"},
    ],
)
def test_bad_grace_policies_are_refused(grace: dict[str, Any]) -> None:
    with pytest.raises(PolicyError):
        check_grace(grace)


# --- the text and its fingerprint ------------------------------------------------------------


def test_text_hash_is_the_sha256_of_the_exact_text() -> None:
    assert text_hash("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert text_hash("Één mailbox") == text_hash("Één mailbox")
    assert len(text_hash("x")) == 64
    # a single changed character, a trailing newline, another normal form: another hash
    assert text_hash("Your package has 150 MiB.") != text_hash("Your package has 151 MiB.")
    assert text_hash("terms") != text_hash("terms\n")
    assert text_hash("e\u0301") != text_hash("\u00e9")


def words(language: str, reader: str = "owner", **overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "matrix": DEFAULT_MATRIX,
        "parties": {"hoster": "Hoster One", "builder": "Webbouwer", "owner": "Sportschool"},
        "limits": {"storage_quota_bytes": 150 * MIB, "default_mailbox_quota_bytes": 50 * MIB},
        "thresholds": DEFAULT_THRESHOLDS,
        "deadlines": DEFAULT_DEADLINES,
        "grace": DEFAULT_GRACE,
        **overrides,
    }
    return plain_words(language, reader_role=reader, **arguments)


def test_plain_words_name_the_limits_and_who_answers_addressing_the_reader() -> None:
    owner_text = words("en")
    assert owner_text.startswith("Your package has 150 MiB, shared by your mailboxes")
    assert "You answer for the mailboxes, the website's uploads and mail" in owner_text
    assert "Webbouwer answers for the website's files" in owner_text
    assert "Hoster One answers for the size of the package" in owner_text
    assert "held back for up to 72 hours" in owner_text
    builder_text = words("en", "builder")
    assert "You answer for the website's files" in builder_text
    assert "Sportschool answers for the mailboxes" in builder_text
    dutch = words("nl")
    assert dutch.startswith("Je pakket heeft 150 MiB")
    assert "Webbouwer is verantwoordelijk voor de bestanden van de website" in dutch
    # the same input gives the same text, so the same hash: what was shown can be proven
    assert text_hash(words("nl")) == text_hash(dutch)


def test_plain_words_leave_out_a_role_nobody_holds() -> None:
    without_builder = matrix(
        site_files=(["owner"], ["hoster"]),
        site_backups=(["owner"], ["hoster"]),
        databases=(["owner"], ["hoster"]),
    )
    text = words(
        "en", matrix=without_builder, parties={"hoster": "Hoster One", "owner": "Sportschool"}
    )
    assert "Webbouwer" not in text and "builder" not in text
    assert "bounce" not in text
    assert "refused and the sender gets it back" in words(
        "en", grace={"at_full": "bounce", "upgrade": "none"}
    )


# --- who answered, over a history ------------------------------------------------------------
#
#  h1  v1: default matrix; hoster, builder (10), owner
#  h2  owner acknowledges v1          h2.75 hoster acknowledges v1     h3 builder acknowledges v1
#  h4  v2: site backups move from the builder to the owner, site uploads from the owner to the
#      builder (reason: the builder takes over the uploads, the owner keeps its own backups)
#  h5  owner acknowledges v2          h5.5 hoster acknowledges v2   (the builder never does)
#  h7  v3: the builder is replaced by a new builder (11); matrix as v2
#  h8  the new builder acknowledges v3
#  h9  owner acknowledges v3          h9.5 hoster acknowledges v3

V2_MATRIX = matrix(
    site_backups=(["owner"], ["hoster"]),
    site_uploads=(["builder"], ["owner", "hoster"]),
)
HISTORY = [
    Version(1, hour(1), DEFAULT_MATRIX, {"hoster": HOSTER, "builder": BUILDER, "owner": OWNER}),
    Version(2, hour(4), V2_MATRIX, {"hoster": HOSTER, "builder": BUILDER, "owner": OWNER}),
    Version(3, hour(7), V2_MATRIX, {"hoster": HOSTER, "builder": NEW_BUILDER, "owner": OWNER}),
]
ACKS = [
    Acknowledged(1, OWNER, hour(2)),
    Acknowledged(1, HOSTER, hour(2.75)),
    Acknowledged(1, BUILDER, hour(3)),
    Acknowledged(2, OWNER, hour(5)),
    Acknowledged(2, HOSTER, hour(5.5)),
    Acknowledged(3, NEW_BUILDER, hour(8)),
    Acknowledged(3, OWNER, hour(9)),
    Acknowledged(3, HOSTER, hour(9.5)),
]


def answered(category: str, at: float) -> list[tuple[int, int, bool]]:
    """(party, version, acknowledged) of everyone who answered for ``category`` at hour ``at``."""
    found = who_answered(HISTORY, ACKS, category, hour(at))
    return [(a.party_id, a.version, a.acknowledged) for a in found]


# every row: hour, then per category the expected (party, version, acknowledged) answerers
TIMELINE: list[tuple[float, dict[str, list[tuple[int, int, bool]]]]] = [
    # before any version: nobody, for anything
    (0.5, {c: [] for c in CATEGORIES}),
    # v1 exists, nobody acknowledged: it binds all the same, unacknowledged
    (1, {
        "site_files": [(BUILDER, 1, False)],
        "site_backups": [(BUILDER, 1, False)],
        "site_uploads": [(OWNER, 1, False)],
        "capacity": [(HOSTER, 1, False)],
        "delivery": [(HOSTER, 1, False), (OWNER, 1, False)],
    }),
    # the owner acknowledged v1 (at the very hour it did: an acknowledgement counts from then)
    (2, {
        "mailbox": [(OWNER, 1, True)],
        "site_uploads": [(OWNER, 1, True)],
        "site_files": [(BUILDER, 1, False)],
        "delivery": [(HOSTER, 1, False), (OWNER, 1, True)],
    }),
    (2.9, {"capacity": [(HOSTER, 1, True)], "databases": [(BUILDER, 1, False)]}),
    # everyone acknowledged v1
    (3.5, {
        "site_files": [(BUILDER, 1, True)],
        "site_backups": [(BUILDER, 1, True)],
        "site_uploads": [(OWNER, 1, True)],
        "databases": [(BUILDER, 1, True)],
        "delivery": [(HOSTER, 1, True), (OWNER, 1, True)],
    }),
    # v2 written, nobody acknowledged it yet: v1 stays in force for each of them, and what
    # v2 adds binds already, unacknowledged
    (4, {
        "site_files": [(BUILDER, 1, True)],
        "site_backups": [(BUILDER, 1, True), (OWNER, 2, False)],
        "site_uploads": [(BUILDER, 2, False), (OWNER, 1, True)],
        "mailbox": [(OWNER, 1, True)],
        "capacity": [(HOSTER, 1, True)],
    }),
    # the owner acknowledged v2: it now answers for the backups under v2, and is released from
    # the uploads; the builder has not acknowledged v2, so v1 still holds it to the backups
    # (v2 took them away from it, which it has not yet agreed to) and v2 already gives it
    # the uploads, unacknowledged: the uploads never go unanswered
    (5, {
        "site_files": [(BUILDER, 1, True)],
        "site_backups": [(BUILDER, 1, True), (OWNER, 2, True)],
        "site_uploads": [(BUILDER, 2, False)],
        "mailbox": [(OWNER, 2, True)],
        "databases": [(BUILDER, 1, True)],
        "capacity": [(HOSTER, 1, True)],
        "delivery": [(HOSTER, 1, True), (OWNER, 2, True)],
    }),
    (6, {
        "site_backups": [(BUILDER, 1, True), (OWNER, 2, True)],
        "capacity": [(HOSTER, 2, True)],
        "delivery": [(HOSTER, 2, True), (OWNER, 2, True)],
    }),
    # v3 replaces the builder: the old one no longer answers for anything, not even what it
    # acknowledged; the new one answers under v3, unacknowledged until it acknowledges
    (7, {
        "site_files": [(NEW_BUILDER, 3, False)],
        "site_backups": [(OWNER, 2, True)],
        "site_uploads": [(NEW_BUILDER, 3, False)],
        "databases": [(NEW_BUILDER, 3, False)],
        "mailbox": [(OWNER, 2, True)],
        "capacity": [(HOSTER, 2, True)],
    }),
    (8, {
        "site_files": [(NEW_BUILDER, 3, True)],
        "site_uploads": [(NEW_BUILDER, 3, True)],
        "site_backups": [(OWNER, 2, True)],
        "delivery": [(HOSTER, 2, True), (OWNER, 2, True)],
    }),
    (9.25, {"site_backups": [(OWNER, 3, True)], "delivery": [(HOSTER, 2, True), (OWNER, 3, True)]}),
    # everyone acknowledged v3: exactly v3's matrix, all acknowledged, for as long as it lasts
    *[
        (at, {
            "mailbox": [(OWNER, 3, True)],
            "site_files": [(NEW_BUILDER, 3, True)],
            "site_uploads": [(NEW_BUILDER, 3, True)],
            "site_backups": [(OWNER, 3, True)],
            "databases": [(NEW_BUILDER, 3, True)],
            "capacity": [(HOSTER, 3, True)],
            "delivery": [(HOSTER, 3, True), (OWNER, 3, True)],
        })
        for at in (9.5, 100, 24 * 365)
    ],
]  # fmt: skip


@pytest.mark.parametrize(("at", "expected"), TIMELINE, ids=[f"h{row[0]}" for row in TIMELINE])
def test_who_answered_at_many_points_in_time(
    at: float, expected: dict[str, list[tuple[int, int, bool]]]
) -> None:
    for category, answerers in expected.items():
        assert answered(category, at) == answerers, f"{category} at hour {at}"


def test_the_answerer_carries_the_escalation_of_the_version_it_answers_under() -> None:
    [builder_v1, owner_v2] = who_answered(HISTORY, ACKS, "site_backups", hour(5))
    assert builder_v1 == Answerer("builder", BUILDER, 1, True, ("hoster",))
    assert owner_v2 == Answerer("owner", OWNER, 2, True, ("hoster",))
    [builder_v2] = who_answered(HISTORY, ACKS, "site_uploads", hour(5))
    assert builder_v2 == Answerer("builder", BUILDER, 2, False, ("owner", "hoster"))


def test_the_order_of_versions_and_acknowledgements_given_does_not_matter() -> None:
    shuffled = random.Random(4).sample(HISTORY, len(HISTORY))
    acks = random.Random(5).sample(ACKS, len(ACKS))
    for at, _expected in TIMELINE:
        for category in CATEGORIES:
            assert who_answered(shuffled, acks, category, hour(at)) == who_answered(
                HISTORY, ACKS, category, hour(at)
            )


def test_an_acknowledgement_made_later_does_not_count_earlier() -> None:
    # the owner acknowledged v2 at h5; at h4.99 it still answered for uploads under v1
    assert answered("site_uploads", 4.99) == [(BUILDER, 2, False), (OWNER, 1, True)]


def test_an_unknown_category_is_refused() -> None:
    with pytest.raises(PolicyError):
        who_answered(HISTORY, ACKS, "mailboxes", hour(5))


def test_in_force_per_party() -> None:
    assert in_force(HISTORY, ACKS, OWNER, hour(0.5)) is None
    version, agreed = in_force(HISTORY, ACKS, OWNER, hour(1.5))  # type: ignore[misc]
    assert (version.number, agreed) == (1, False)
    version, agreed = in_force(HISTORY, ACKS, OWNER, hour(4.5))  # type: ignore[misc]
    assert (version.number, agreed) == (1, True)  # v1 stays in force until it acknowledges v2
    version, agreed = in_force(HISTORY, ACKS, OWNER, hour(5))  # type: ignore[misc]
    assert (version.number, agreed) == (2, True)
    version, agreed = in_force(HISTORY, ACKS, BUILDER, hour(6))  # type: ignore[misc]
    assert (version.number, agreed) == (1, True)
    # as the builder, after being replaced: its acknowledgement of v1 no longer binds it
    version, agreed = in_force(HISTORY, ACKS, BUILDER, hour(7.5), "builder")  # type: ignore[misc]
    assert (version.number, agreed) == (3, False)
    version, agreed = in_force(HISTORY, ACKS, NEW_BUILDER, hour(7.5), "builder")  # type: ignore[misc]
    assert (version.number, agreed) == (3, False)


def test_a_builder_taken_off_and_put_back_starts_over() -> None:
    no_builder = matrix(
        site_files=(["owner"], ["hoster"]),
        site_backups=(["owner"], ["hoster"]),
        databases=(["owner"], ["hoster"]),
    )
    history = [
        Version(1, hour(1), DEFAULT_MATRIX, {"hoster": HOSTER, "builder": BUILDER, "owner": OWNER}),
        Version(2, hour(2), no_builder, {"hoster": HOSTER, "owner": OWNER}),
        Version(3, hour(3), DEFAULT_MATRIX, {"hoster": HOSTER, "builder": BUILDER, "owner": OWNER}),
    ]
    acks = [Acknowledged(1, BUILDER, hour(1.5)), Acknowledged(1, OWNER, hour(1.5))]

    def who(at: float) -> list[tuple[str, int, int, bool]]:
        found = who_answered(history, acks, "site_files", hour(at))
        return [(a.role, a.party_id, a.version, a.acknowledged) for a in found]

    assert who(1.5) == [("builder", BUILDER, 1, True)]
    # without a builder: the owner answers under v2 (unacknowledged); it acknowledged v1, in
    # which the site files were not its own
    assert who(2.5) == [("owner", OWNER, 2, False)]
    # the builder is back, but the v1 it acknowledged was before it was taken off
    assert who(3.5) == [("builder", BUILDER, 3, False)]


def test_a_version_that_only_changes_limits_keeps_duties_acknowledged() -> None:
    # a new plan: same matrix, same parties; until they acknowledge v2 they answer under v1,
    # still acknowledged, for the same things
    parties = {"hoster": HOSTER, "builder": BUILDER, "owner": OWNER}
    history = [Version(1, hour(1), DEFAULT_MATRIX, parties),
               Version(2, hour(2), DEFAULT_MATRIX, parties)]  # fmt: skip
    acks = [Acknowledged(1, p, hour(1.5)) for p in parties.values()]
    for category in CATEGORIES:
        found = who_answered(history, acks, category, hour(2.5))
        assert found and all(a.version == 1 and a.acknowledged for a in found)
        assert {a.role for a in found} == set(DEFAULT_MATRIX[category]["responsible"])


# --- property: random histories --------------------------------------------------------------


def random_history(rng: random.Random) -> tuple[list[Version], list[Acknowledged], list[datetime]]:
    """Versions a few hours apart, each with parties for its roles and a matrix that passes
    check_matrix for them; each party acknowledges a version (or not) while it is the newest,
    as the service allows. Also the moments worth asking about."""
    versions: list[Version] = []
    acks: list[Acknowledged] = []
    at = hour(rng.uniform(0, 5))
    for number in range(1, rng.randint(1, 6) + 1):
        parties = {"hoster": HOSTER, "owner": rng.choice([OWNER, OWNER, OWNER + 1])}
        builder = rng.choice([None, BUILDER, BUILDER, NEW_BUILDER])
        if builder is not None:
            parties["builder"] = builder
        roles = sorted(parties)
        entries: dict[str, dict[str, list[str]]] = {}
        for category in CATEGORIES:
            responsible = rng.sample(roles, rng.randint(1, len(roles)))
            rest = [r for r in ROLES if r not in responsible]
            entries[category] = {
                "responsible": responsible,
                "escalation": rng.sample(rest, rng.randint(0, len(rest))),
            }
        check_matrix(entries, roles)
        versions.append(Version(number, at, entries, parties))
        lasts = timedelta(hours=rng.uniform(0.5, 48))
        for party_id in parties.values():
            if rng.random() < 0.6:
                acks.append(Acknowledged(number, party_id, at + lasts * rng.random()))
        at += lasts
    moments = [versions[0].created_at - timedelta(seconds=1), at + timedelta(days=30)]
    moments += [v.created_at for v in versions] + [a.at for a in acks]
    moments += [m + timedelta(microseconds=1) for m in moments]
    moments += [hour(rng.uniform(-1, (at - BASE).total_seconds() / 3600)) for _ in range(10)]
    return versions, acks, moments


@pytest.mark.parametrize("seed", range(300))
def test_random_histories_never_leave_a_category_unanswered(seed: int) -> None:
    rng = random.Random(seed)
    versions, acks, moments = random_history(rng)
    if rng.random() < 0.5:
        versions = rng.sample(versions, len(versions))
    for at in moments:
        existing = [v for v in versions if v.created_at <= at]
        acked = {(a.version, a.party_id) for a in acks if a.at <= at}
        for category in CATEGORIES:
            found = who_answered(versions, acks, category, at)
            if not existing:
                assert found == []
                continue
            newest = max(existing, key=lambda v: v.number)
            duty = newest.matrix[category]["responsible"]
            by_role = {a.role: a for a in found}
            assert len(by_role) == len(found), "a role answers twice"
            # everyone the newest version gives the category to answers for it
            assert set(duty) <= set(by_role), (category, at, duty, found)
            assert found, "a category without anyone who answers"
            for answerer in found:
                # only the parties on the package now, and each in its own role
                assert newest.parties.get(answerer.role) == answerer.party_id
                under = next(v for v in versions if v.number == answerer.version)
                assert under.created_at <= at
                assert answerer.role in under.matrix[category]["responsible"]
                assert answerer.escalation == tuple(under.matrix[category]["escalation"])
                if answerer.acknowledged:
                    assert (answerer.version, answerer.party_id) in acked
                    # it held the role without a break from that version to the newest
                    assert all(
                        v.parties.get(answerer.role) == answerer.party_id
                        for v in existing
                        if v.number >= answerer.version
                    )
                else:
                    assert answerer.version == newest.number
                    assert (newest.number, answerer.party_id) not in acked
            # a party that acknowledged the newest version answers exactly by it
            for role, party_id in newest.parties.items():
                if (newest.number, party_id) in acked:
                    mine = by_role.get(role)
                    if role in duty:
                        assert mine is not None and mine.version == newest.number
                        assert mine.acknowledged
                    else:
                        assert mine is None
