"""Database sizes read from the real MariaDB and PostgreSQL servers on 127.0.0.1.

The servers must be running (CI starts them): these tests fail, never skip, without them.
Each run creates uniquely named databases ``onus_size_<random>...`` and drops them again.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import pymysql
import pytest

from panel.collectors import databases
from panel.collectors.databases import (
    NO_SUCH_DATABASE,
    DatabaseSize,
    MySQLServer,
    measure_database_sizes,
    parse_mysql_url,
    parse_postgres_url,
)
from tests.smtp import free_port

MYSQL_URL = os.environ.get("ONUS_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/")
POSTGRES_URL = os.environ.get(
    "ONUS_TEST_POSTGRES_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
START_MARIADB = "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"

ROWS = 2048
ROW_TEXT = 1000  # characters of incompressible hex per row
PAYLOAD = ROWS * ROW_TEXT  # ~2 MB of row data per filled database


def _rows() -> list[tuple[int, int, str]]:
    return [(i, i % 7, secrets.token_hex(ROW_TEXT // 2)) for i in range(ROWS)]


def _unique(prefix: str = "onus_size_") -> str:
    return prefix + secrets.token_hex(6)


@dataclass(frozen=True)
class MariaDB:
    admin: pymysql.connections.Connection
    full: str  # a table of PAYLOAD bytes of rows, with a secondary index, and a view
    empty: str  # no tables; its name has a hyphen, which the server stores encoded


@dataclass(frozen=True)
class Postgres:
    admin: psycopg.Connection
    full: str  # a table of PAYLOAD bytes of rows
    empty: str  # fresh from the template
    locked_out: str  # a role without CONNECT on ``full``


@pytest.fixture(scope="module")
def mariadb() -> Iterator[MariaDB]:
    server = parse_mysql_url(MYSQL_URL)
    try:
        admin = pymysql.connect(
            host=server.host, port=server.port, user=server.user, password=server.password,
            unix_socket=server.unix_socket, connect_timeout=5, autocommit=True,
        )  # fmt: skip
    except pymysql.MySQLError as exc:
        pytest.fail(f"MariaDB at {server.where} is not usable ({exc}); start it: {START_MARIADB}")
    full, empty = _unique(), _unique() + "-empty"
    try:
        with admin.cursor() as cursor:
            for name in (full, empty):
                cursor.execute(f"CREATE DATABASE `{name}`")
            cursor.execute(
                f"CREATE TABLE `{full}`.t (id INT PRIMARY KEY, tag INT NOT NULL,"
                " payload VARCHAR(1000) NOT NULL, KEY (tag)) ENGINE=InnoDB"
            )
            cursor.executemany(
                f"INSERT INTO `{full}`.t (id, tag, payload) VALUES (%s, %s, %s)", _rows()
            )
            cursor.execute(f"CREATE VIEW `{full}`.v AS SELECT id FROM `{full}`.t")
            cursor.execute(f"ANALYZE TABLE `{full}`.t")
            cursor.fetchall()
        yield MariaDB(admin, full, empty)
    finally:
        with admin.cursor() as cursor:
            for name in (full, empty):
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.fail(
            f"PostgreSQL at {POSTGRES_URL} is not usable ({exc}); start it: {START_POSTGRES}"
        )
    full, empty, role = _unique(), _unique(), _unique()
    try:
        for name in (full, empty):
            admin.execute(f'CREATE DATABASE "{name}"')
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'REVOKE CONNECT ON DATABASE "{full}" FROM PUBLIC')
        params = parse_postgres_url(POSTGRES_URL)
        with psycopg.connect(**{**params, "dbname": full}, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id int PRIMARY KEY, tag int NOT NULL, payload text)")
            with conn.cursor().copy("COPY t (id, tag, payload) FROM STDIN") as copy:
                for row in _rows():
                    copy.write_row(row)
            conn.execute("VACUUM ANALYZE t")  # the visibility map now, not when autovacuum runs
        yield Postgres(admin, full, empty, role)
    finally:
        for name in (full, empty):
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()


def _mysql_reported(db: MariaDB, name: str) -> int:
    """What InnoDB's own statistics say the tables of ``name`` take (pages × page size)."""
    with db.admin.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(clustered_index_size + sum_of_other_index_sizes), 0)"
            " * @@innodb_page_size FROM mysql.innodb_table_stats WHERE database_name = %s",
            (name,),
        )
        return int(cursor.fetchone()[0])


def _mysql_file_bytes(db: MariaDB, name: str) -> int:
    """The size of the tablespace files of ``name``'s tables on disk."""
    with db.admin.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(file_size), 0)"
            " FROM information_schema.innodb_sys_tablespaces WHERE name LIKE %s",
            (f"{name}/%",),
        )
        return int(cursor.fetchone()[0])


def _postgres_reported(db: Postgres, name: str) -> int:
    return int(db.admin.execute("SELECT pg_database_size(%s)", (name,)).fetchone()[0])


# --- MariaDB ---------------------------------------------------------------------------


def test_mariadb_size_covers_the_data_and_matches_innodb(mariadb: MariaDB) -> None:
    [size] = measure_database_sizes([("mysql", mariadb.full)], MYSQL_URL, None)
    assert size.error is None
    assert size.bytes is not None
    assert size.bytes >= PAYLOAD
    # the same pages InnoDB counts, data and the secondary index, within the files on disk
    assert size.bytes == _mysql_reported(mariadb, mariadb.full)
    assert size.bytes <= _mysql_file_bytes(mariadb, mariadb.full)


def test_mariadb_database_without_tables_is_zero(mariadb: MariaDB) -> None:
    sizes = measure_database_sizes([("mysql", mariadb.empty)], MYSQL_URL, None)
    assert sizes == [DatabaseSize("mysql", mariadb.empty, 0, None)]


def test_mariadb_over_the_unix_socket(mariadb: MariaDB) -> None:
    with mariadb.admin.cursor() as cursor:
        cursor.execute("SELECT @@socket")
        path = cursor.fetchone()[0]
    url = f"mysql://root@localhost/?unix_socket={path}"
    [by_socket] = measure_database_sizes([("mysql", mariadb.full)], url, None)
    [by_tcp] = measure_database_sizes([("mysql", mariadb.full)], MYSQL_URL, None)
    assert by_socket == by_tcp
    assert by_socket.bytes


def test_mariadb_refused_login(mariadb: MariaDB) -> None:
    server = parse_mysql_url(MYSQL_URL)
    url = f"mysql://{_unique('nobody_')}:wrong@{server.host}:{server.port}/"
    [size] = measure_database_sizes([("mysql", mariadb.full)], url, None)
    assert size.bytes is None
    assert size.error is not None
    assert size.error.startswith(f"MySQL server at {server.where} refused the login: ")


# --- PostgreSQL ------------------------------------------------------------------------


def test_postgres_size_covers_the_data_and_matches_the_server(postgres: Postgres) -> None:
    wanted = [("postgresql", postgres.full), ("postgresql", postgres.empty)]
    full, empty = measure_database_sizes(wanted, None, POSTGRES_URL)
    assert full.error is None and empty.error is None
    assert full.bytes is not None and empty.bytes is not None
    assert full.bytes - empty.bytes >= PAYLOAD  # the data is counted in its own database
    assert abs(full.bytes - _postgres_reported(postgres, postgres.full)) <= 256 * 1024
    assert empty.bytes == _postgres_reported(postgres, postgres.empty)


def test_postgres_user_without_connect_gets_a_reason_not_a_crash(postgres: Postgres) -> None:
    params = parse_postgres_url(POSTGRES_URL)
    url = f"postgresql://{postgres.locked_out}@{params['host']}:{params.get('port', 5432)}/postgres"
    wanted = [("postgresql", postgres.full), ("postgresql", postgres.empty)]
    full, empty = measure_database_sizes(wanted, None, url)
    assert full.bytes is None
    assert full.error is not None and "may not read" in full.error
    assert empty.error is None and empty.bytes == _postgres_reported(postgres, postgres.empty)


def test_postgres_accepts_the_sqlalchemy_url(postgres: Postgres) -> None:
    url = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    [size] = measure_database_sizes([("postgresql", postgres.empty)], None, url)
    assert size.error is None and size.bytes == _postgres_reported(postgres, postgres.empty)


# --- both, and what goes wrong ----------------------------------------------------------


def test_both_engines_in_one_call_in_order_without_duplicates(
    mariadb: MariaDB, postgres: Postgres
) -> None:
    wanted = [
        ("postgresql", postgres.full),
        ("mysql", mariadb.full),
        ("mysql", mariadb.empty),
        ("postgresql", postgres.full),
        ("mysql", mariadb.full),
    ]
    sizes = measure_database_sizes(iter(wanted), MYSQL_URL, POSTGRES_URL)
    assert [(s.engine, s.name) for s in sizes] == wanted[:3]
    assert all(s.error is None for s in sizes)
    assert sizes[0].bytes is not None and sizes[0].bytes >= PAYLOAD
    assert sizes[1].bytes == _mysql_reported(mariadb, mariadb.full)
    assert sizes[2].bytes == 0


def test_missing_databases_are_unknown_with_the_reason(
    mariadb: MariaDB, postgres: Postgres
) -> None:
    missing = _unique()
    hostile = "x' OR '1'='1"  # a name is a parameter, never part of the SQL
    wanted = [("mysql", missing), ("mysql", hostile), ("postgresql", missing)]
    wanted += [("postgresql", hostile), ("mysql", mariadb.empty)]
    sizes = measure_database_sizes(wanted, MYSQL_URL, POSTGRES_URL)
    for size in sizes[:4]:
        assert (size.bytes, size.error) == (None, NO_SUCH_DATABASE)
    assert sizes[4].bytes == 0


def test_many_databases_are_asked_for_in_chunks(
    monkeypatch: pytest.MonkeyPatch, mariadb: MariaDB, postgres: Postgres
) -> None:
    monkeypatch.setattr(databases, "_CHUNK", 2)
    missing = [_unique() for _ in range(3)]
    names = [mariadb.full, missing[0], mariadb.empty, *missing[1:]]
    sizes = measure_database_sizes([("mysql", n) for n in names], MYSQL_URL, None)
    assert [(s.name, s.bytes) for s in sizes] == [
        (mariadb.full, _mysql_reported(mariadb, mariadb.full)),
        (missing[0], None),
        (mariadb.empty, 0),
        (missing[1], None),
        (missing[2], None),
    ]
    names = [postgres.empty, *missing, postgres.full]
    sizes = measure_database_sizes([("postgresql", n) for n in names], None, POSTGRES_URL)
    assert [s.bytes is None for s in sizes] == [False, True, True, True, False]


def test_mariadb_names_differing_in_case_are_different_databases(mariadb: MariaDB) -> None:
    with mariadb.admin.cursor() as cursor:
        cursor.execute("SELECT @@lower_case_table_names")
        folds_case = cursor.fetchone()[0] != 0
    twin = mariadb.full.upper()
    [size] = measure_database_sizes([("mysql", twin)], MYSQL_URL, None)
    assert size.bytes == (_mysql_reported(mariadb, mariadb.full) if folds_case else None)
    if folds_case:
        return
    with mariadb.admin.cursor() as cursor:
        try:
            cursor.execute(f"CREATE DATABASE `{twin}`")
            cursor.execute(f"CREATE TABLE `{twin}`.t (id INT PRIMARY KEY) ENGINE=InnoDB")
            cursor.execute(f"ANALYZE TABLE `{twin}`.t")
            cursor.fetchall()
            wanted = [("mysql", mariadb.full), ("mysql", twin)]
            full, upper = measure_database_sizes(wanted, MYSQL_URL, None)
            assert full.bytes == _mysql_reported(mariadb, mariadb.full)
            assert upper.bytes == _mysql_reported(mariadb, twin) > 0
        finally:
            cursor.execute(f"DROP DATABASE IF EXISTS `{twin}`")


def test_dead_port_answers_quickly_and_the_other_engine_is_still_measured(
    mariadb: MariaDB, postgres: Postgres
) -> None:
    port = free_port()
    timeout = 2.0
    wanted = [("mysql", mariadb.empty), ("postgresql", postgres.empty)]
    started = time.monotonic()
    dead_mysql = measure_database_sizes(
        wanted, f"mysql://root@127.0.0.1:{port}/", POSTGRES_URL, timeout=timeout
    )
    dead_postgres = measure_database_sizes(
        wanted, MYSQL_URL, f"postgresql://postgres@127.0.0.1:{port}/postgres", timeout=timeout
    )
    assert time.monotonic() - started < timeout

    assert dead_mysql[0].bytes is None and dead_mysql[0].error is not None
    assert dead_mysql[0].error.startswith(f"MySQL server at 127.0.0.1:{port} did not answer: ")
    assert "refused" in dead_mysql[0].error
    assert dead_mysql[1] == DatabaseSize(
        "postgresql", postgres.empty, _postgres_reported(postgres, postgres.empty), None
    )
    assert dead_postgres[0] == DatabaseSize("mysql", mariadb.empty, 0, None)
    assert dead_postgres[1].bytes is None and dead_postgres[1].error is not None
    assert dead_postgres[1].error.startswith(
        f"PostgreSQL server at 127.0.0.1:{port} did not answer: "
    )


@contextmanager
def _silent_server() -> Iterator[int]:
    """A port whose connections are accepted (by the kernel) and never answered."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@contextmanager
def _garbage_server() -> Iterator[int]:
    """A port that answers every connection with an HTTP error and hangs up."""
    stop = threading.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)

    def serve() -> None:
        deadline = time.monotonic() + 10  # stops by itself whatever happens
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            with client:
                client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_silent_mysql_server_times_out() -> None:
    with _silent_server() as port:
        started = time.monotonic()
        [size] = measure_database_sizes(
            [("mysql", "x")], f"mysql://root@127.0.0.1:{port}/", None, timeout=1.0
        )
        elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 2.0
    assert size.bytes is None and size.error is not None
    assert size.error.startswith(f"MySQL server at 127.0.0.1:{port} did not answer: ")


def test_silent_postgres_server_times_out() -> None:
    with _silent_server() as port:
        started = time.monotonic()
        [size] = measure_database_sizes(
            [("postgresql", "x")], None, f"postgresql://u@127.0.0.1:{port}/db", timeout=2.0
        )
        elapsed = time.monotonic() - started
    assert 1.9 < elapsed < 3.0
    assert size.bytes is None and size.error is not None
    assert size.error.startswith(f"PostgreSQL server at 127.0.0.1:{port} did not answer: ")


def test_a_server_speaking_another_protocol_is_an_error_not_a_crash() -> None:
    with _garbage_server() as port:
        started = time.monotonic()
        sizes = measure_database_sizes(
            [("mysql", "x"), ("postgresql", "y")],
            f"mysql://root@127.0.0.1:{port}/",
            f"postgresql://u@127.0.0.1:{port}/db",
            timeout=2.0,
        )
        assert time.monotonic() - started < 2.0
    assert [s.bytes for s in sizes] == [None, None]
    assert sizes[0].error and sizes[0].error.startswith("MySQL server at 127.0.0.1:")
    assert sizes[1].error and sizes[1].error.startswith("PostgreSQL server at 127.0.0.1:")


def test_engines_without_a_server_are_unknown_and_nothing_is_asked() -> None:
    sizes = measure_database_sizes([("mysql", "a"), ("postgresql", "b")], None, None)
    assert sizes == [
        DatabaseSize("mysql", "a", None, "no MySQL server configured for this node"),
        DatabaseSize("postgresql", "b", None, "no PostgreSQL server configured for this node"),
    ]
    port = free_port()  # nobody listens: an attempt to connect would show as an error
    assert measure_database_sizes([], f"mysql://u@127.0.0.1:{port}/", None) == []


# --- configuration ---------------------------------------------------------------------


def test_mysql_urls() -> None:
    assert parse_mysql_url("mysql://u:p%40ss@db.example:3307/") == MySQLServer(
        "db.example", 3307, "u", "p@ss", None
    )
    server = parse_mysql_url("mysql://root@localhost/?unix_socket=/run/mysqld/mysqld.sock")
    assert server == MySQLServer("localhost", 3306, "root", "", "/run/mysqld/mysqld.sock")
    assert server.where == "/run/mysqld/mysqld.sock"
    assert parse_mysql_url("mariadb+pymysql://u@[::1]/").where == "[::1]:3306"


def test_postgres_urls() -> None:
    params = parse_postgres_url("postgresql+psycopg://postgres@127.0.0.1:5433/onus")
    assert params == {"user": "postgres", "host": "127.0.0.1", "port": "5433", "dbname": "onus"}


@pytest.mark.parametrize(
    ("mysql_url", "postgres_url"),
    [
        ("postgresql://u@h/", None),
        ("mysql://u@h:port/", None),
        ("mysql://u@h:70000/", None),
        ("mysql://u@h/?sslmode=require", None),
        ("mysql://u@h/?unix_socket=", None),
        (None, "mysql://u@h/"),
        (None, "postgresql://%zz@h/db"),
        (None, "postgresql://u@h:99999/db"),
        (None, "host=h user=u"),
    ],
)
def test_malformed_urls_raise(mysql_url: str | None, postgres_url: str | None) -> None:
    with pytest.raises(ValueError):
        measure_database_sizes([("mysql", "a")], mysql_url, postgres_url)


def test_unknown_engine_or_bad_timeout_raises() -> None:
    with pytest.raises(ValueError, match="unknown database engine"):
        measure_database_sizes([("oracle", "a")], None, None)
    with pytest.raises(ValueError, match="timeout"):
        measure_database_sizes([("mysql", "a")], None, None, timeout=0)
