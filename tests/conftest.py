"""Test fixtures: a real database (SQLite by default, PostgreSQL when ONUS_DATABASE_URL says
so), migrated once per session, restored to a known state before each test."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Table, create_engine, func, literal, select, text, union_all
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="onus-tests-"))
# Every app the tests create keeps its embedded files (secret key, SQLite, broker) here.
os.environ["ONUS_INSTANCE_PATH"] = str(_SESSION_DIR / "instance")

from panel import create_app  # noqa: E402
from panel.extensions import db  # noqa: E402
from tests.smtp import SMTPSink  # noqa: E402
from tests.world import World, build_world  # noqa: E402

POSTGRES_URL = os.environ.get("ONUS_DATABASE_URL", "")
TEST_OVERRIDES: dict[str, Any] = {
    "TESTING": True,
    "ONUS_LOGIN_LIMIT": "1000 per minute",
    "RATELIMIT_STORAGE_URI": "memory://",
    "ONUS_BASE_URL": "https://localhost",
    # the test client then speaks HTTPS, so Secure cookies behave as in production
    "PREFERRED_URL_SCHEME": "https",
}


def _own_database(url: str, name: str, own: str) -> str:
    """``url`` with the database ``own`` instead of ``name``, made when it is missing."""
    own_url = url.replace(f"/{name}", f"/{own}", 1)
    with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": own})
        if found.first() is None:
            conn.execute(text(f'CREATE DATABASE "{own}"'))
    return own_url


class DatabaseStates:
    """One database for the session; ``save``/``restore`` bring back a named state fast.

    SQLite: the file is copied. PostgreSQL: tables are truncated (which the audit log's
    append-only trigger allows, as a row trigger) and refilled from the saved rows.
    """

    def __init__(self) -> None:
        self.postgres = POSTGRES_URL.startswith("postgresql")
        if self.postgres:
            name = POSTGRES_URL.rsplit("/", 1)[-1].split("?")[0]
            if "test" not in name:
                pytest.exit(f"refusing to wipe database {name!r}: its name must contain 'test'")
            self.url = POSTGRES_URL
            worker = os.environ.get("PYTEST_XDIST_WORKER")
            if worker:  # pytest -n: each worker process has a database of its own
                self.url = _own_database(POSTGRES_URL, name, f"{name}_{worker}")
        else:
            self.file = _SESSION_DIR / "onus-test.sqlite"
            self.url = f"sqlite:///{self.file}"
        self.states: dict[str, Any] = {}
        self.fast_empty = True
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self.url)
        return self._engine

    def wipe(self) -> None:
        if self.postgres:
            with self.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        elif self.file.exists():
            self.file.unlink()

    def save(self, name: str) -> None:
        if not self.postgres:
            shutil.copyfile(self.file, _SESSION_DIR / f"state-{name}.sqlite")
            return
        rows = {}
        with self.engine.connect() as conn:
            for table in db.metadata.sorted_tables:
                rows[table.name] = [dict(r._mapping) for r in conn.execute(table.select())]
        self.states[name] = rows

    def restore(self, name: str) -> None:
        if not self.postgres:
            shutil.copyfile(_SESSION_DIR / f"state-{name}.sqlite", self.file)
            return
        tables = db.metadata.sorted_tables
        with self.engine.begin() as conn:
            self._empty(conn, tables)
            for table in tables:
                saved = self.states[name][table.name]
                if saved:
                    conn.execute(table.insert(), saved)
            # every id sequence where the saved rows leave it, as if the rows were just made
            conn.execute(
                text(
                    "SELECT "
                    + ", ".join(
                        f"setval(pg_get_serial_sequence('{t.name}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {t.name}), 0) + 1, false)"
                        for t in tables
                        if "id" in t.c
                    )
                )
            )

    def _empty(self, conn: Connection, tables: list[Table]) -> None:
        """Every table emptied. DELETE with triggers and foreign-key checks off (the
        replica role, for a superuser) takes a quarter of a TRUNCATE of ~40 tables, which
        makes new files for each; most of a test's own time on PostgreSQL was this."""
        if self.fast_empty:
            try:
                with conn.begin_nested():
                    conn.execute(text("SET LOCAL session_replication_role = replica"))
                    for table in tables:
                        conn.execute(table.delete())
                    return
            except DBAPIError:  # not a superuser: the TRUNCATE below
                self.fast_empty = False
        names = ", ".join(t.name for t in tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def make_app(database: DatabaseStates, **overrides: Any) -> Flask:
    return create_app({**TEST_OVERRIDES, "SQLALCHEMY_DATABASE_URI": database.url, **overrides})


def close_app(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def database() -> Iterator[DatabaseStates]:
    """Migrated to head once; states 'empty' and 'world' saved for the tests."""
    from flask_migrate import upgrade

    database = DatabaseStates()
    database.wipe()
    app = make_app(database)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    database.save("empty")
    with app.app_context():
        build_world()
    database.save("world")
    close_app(app)
    yield database
    if database._engine is not None:
        database._engine.dispose()


def _app_in_state(database: DatabaseStates, state: str) -> Iterator[Flask]:
    database.restore(state)
    app = make_app(database)
    yield app
    close_app(app)


@pytest.fixture
def app(database: DatabaseStates) -> Iterator[Flask]:
    """An app on an empty, migrated database."""
    yield from _app_in_state(database, "empty")


@pytest.fixture
def world_app(database: DatabaseStates) -> Iterator[Flask]:
    """An app on the seeded world (two hosters, their builders, owners and packages)."""
    yield from _app_in_state(database, "world")


@pytest.fixture
def smtp() -> Iterator[SMTPSink]:
    """A real SMTP server on loopback that keeps what it receives."""
    with SMTPSink() as sink:
        yield sink


@pytest.fixture
def mailing(database: DatabaseStates, smtp: SMTPSink) -> Iterator[Flask]:
    """The seeded world, mailing to the test's SMTP server, in an app context."""
    database.restore("world")
    app = make_app(
        database, ONUS_MAIL_SERVER=smtp.host, ONUS_MAIL_PORT=smtp.port, ONUS_MAIL_FROM="onus@p.test"
    )
    with app.app_context():
        yield app
    close_app(app)


@pytest.fixture
def world(world_app: Flask) -> World:
    with world_app.app_context():
        return World.load()


def https_client(app: Flask) -> FlaskClient:
    """A test client; it speaks HTTPS (PREFERRED_URL_SCHEME), as browsers do in production."""
    client = app.test_client()
    assert app.config["PREFERRED_URL_SCHEME"] == "https"
    # over HTTPS Flask-WTF also checks that a form was posted from this site
    client.environ_base["HTTP_REFERER"] = "https://localhost/"
    return client


def row_counts(app: Flask) -> dict[str, int]:
    """Rows per table: equal before and after means a request changed nothing."""
    with app.app_context():
        every_table = union_all(
            *(
                select(literal(table.name), func.count()).select_from(table)
                for table in db.metadata.sorted_tables
            )
        )  # one round trip, not one per table: the matrix counts twice per case
        counts = {name: int(count) for name, count in db.session.execute(every_table)}
        db.session.remove()
        return counts


CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = CSRF_FIELD.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str) -> Any:
    token = csrf_token(client, "/login")
    return client.post("/login", data={"csrf_token": token, "email": email, "password": password})
