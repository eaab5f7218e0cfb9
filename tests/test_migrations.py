"""Migrations and models agree: an empty database upgraded to head has exactly the models'
schema (autogenerate finds nothing), downgrades cleanly, and guards the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from panel.extensions import db
from tests.conftest import DatabaseStates, close_app, make_app


@pytest.fixture
def blank(database: DatabaseStates, tmp_path: Path) -> Iterator[Flask]:
    """An app on a database that has never been migrated (its own file or PostgreSQL DB)."""
    if database.postgres:
        base, _, name = database.url.rpartition("/")
        blank_name = f"{name}_migrations"
        admin = create_engine(database.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {blank_name}"))
            conn.execute(text(f"CREATE DATABASE {blank_name}"))
        admin.dispose()
        url = f"{base}/{blank_name}"
    else:
        url = f"sqlite:///{tmp_path / 'blank.sqlite'}"
    app = make_app(database, SQLALCHEMY_DATABASE_URI=url)
    yield app
    close_app(app)


def _differences(app: Flask) -> list[object]:
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, db.metadata))


def test_upgrade_to_head_gives_the_models_schema(blank: Flask) -> None:
    directory = blank.extensions["migrate"].directory
    with blank.app_context():
        upgrade(directory=directory)
        tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in db.metadata.sorted_tables} <= tables
    assert _differences(blank) == []


def test_downgrade_to_base_and_up_again(blank: Flask) -> None:
    directory = blank.extensions["migrate"].directory
    with blank.app_context():
        upgrade(directory=directory)
        downgrade(directory=directory, revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade(directory=directory)
    assert _differences(blank) == []


def test_database_refuses_to_change_or_delete_audit_events(world_app: Flask) -> None:
    """Even SQL that bypasses the ORM cannot rewrite history."""
    with world_app.app_context():
        assert db.session.scalar(text("SELECT COUNT(*) FROM audit_event")) > 0
        for statement in (
            "UPDATE audit_event SET summary = 'rewritten'",
            "DELETE FROM audit_event",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(text(statement))
            db.session.rollback()
        assert (
            db.session.scalar(text("SELECT COUNT(*) FROM audit_event WHERE summary = 'rewritten'"))
            == 0
        )
