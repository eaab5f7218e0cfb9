"""Size of the MySQL/MariaDB and PostgreSQL databases of a package, read from the servers.

``measure_database_sizes`` opens at most one connection per engine per call, asks the
server for the sizes of the wanted databases only, and closes it again. A server that is
not configured, down, silent or refusing the login makes the sizes of that engine's
databases unknown (``bytes=None``) with the reason in plain English; it never raises for
that. Only a malformed URL, a non-positive timeout or an unknown engine raise ``ValueError``.

MySQL/MariaDB: the sum of ``data_length + index_length`` over the tables of the database in
``information_schema.tables`` (0 for a database without tables); a database the login may
not see is reported as missing, so the login needs a privilege on every database measured.
PostgreSQL: ``pg_database_size``, the size of the database's directory.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
import pymysql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

MYSQL = "mysql"
POSTGRESQL = "postgresql"
ENGINES = (MYSQL, POSTGRESQL)

NO_SUCH_DATABASE = "no such database on the server"

# Names per statement: a long list of databases is asked for in a few statements, not one
# enormous one.
_CHUNK = 100
# MySQL login refusals: access denied (1044, 1045), plugin refusal (1698), host not allowed.
_MYSQL_LOGIN_ERRORS = frozenset({1044, 1045, 1698, 1130})
_MYSQL_UNKNOWN_VARIABLE = 1193
_PG_SCHEME = re.compile(r"^(postgresql|postgres)(\+psycopg2?)?://", re.IGNORECASE)
_PG_NOISE = re.compile(r"^connection failed:\s*(connection to server .*? failed:\s*)?")
_PG_NOT_ALLOWED = (
    "the PostgreSQL user may not read this database's size"
    " (it needs CONNECT on the database or the pg_read_all_stats role)"
)


@dataclass(frozen=True)
class DatabaseSize:
    """The measured size of one database, or why it is unknown."""

    engine: str  # "mysql" (MySQL/MariaDB) or "postgresql"
    name: str
    bytes: int | None  # None when unknown (server unreachable, database missing)
    error: str | None  # why it is unknown, in plain English


@dataclass(frozen=True)
class MySQLServer:
    """Where and as whom to connect to a MySQL/MariaDB server."""

    host: str
    port: int
    user: str | None
    password: str
    unix_socket: str | None

    @property
    def where(self) -> str:
        """The server's address as a person reads it (never the password)."""
        if self.unix_socket:
            return self.unix_socket
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_mysql_url(url: str) -> MySQLServer:
    """Parse ``mysql://user:password@host:port/`` or ``mysql://user@localhost/?unix_socket=``.

    ``mariadb://`` and a ``+pymysql`` driver suffix are accepted too; a database name in the
    path is ignored. Raises ``ValueError`` for anything else.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"malformed MySQL URL: {exc}") from None
    if parts.scheme.lower() not in ("mysql", "mariadb", "mysql+pymysql", "mariadb+pymysql"):
        raise ValueError("a MySQL URL starts with mysql:// (mysql://user:password@host:port/)")
    params = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(params) - {"unix_socket"})
    if unknown:
        raise ValueError(f"unsupported parameter in MySQL URL: {', '.join(unknown)}")
    sockets = params.get("unix_socket", [])
    if len(sockets) > 1 or (sockets and not sockets[0]):
        raise ValueError("a MySQL URL names at most one unix_socket, and not an empty one")
    return MySQLServer(
        host=parts.hostname or "localhost",
        port=port or 3306,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else "",
        unix_socket=sockets[0] if sockets else None,
    )


def parse_postgres_url(url: str) -> dict[str, str]:
    """Parse a libpq URL (``postgresql://user@host:port/postgres``) into connection parameters.

    The SQLAlchemy form ``postgresql+psycopg://`` is accepted. Raises ``ValueError`` when the
    URL is malformed.
    """
    match = _PG_SCHEME.match(url)
    if not match:
        raise ValueError("a PostgreSQL URL starts with postgresql:// (postgresql://user@host/db)")
    try:
        params = conninfo_to_dict("postgresql://" + url[match.end() :])
    except psycopg.ProgrammingError as exc:
        raise ValueError(f"malformed PostgreSQL URL: {_one_line(str(exc))}") from None
    for port in str(params.get("port", "")).split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"malformed PostgreSQL URL: bad port {port!r}")
    return {key: str(value) for key, value in params.items()}


def measure_database_sizes(
    wanted: Iterable[tuple[str, str]],
    mysql_url: str | None,
    postgres_url: str | None,
    timeout: float = 5.0,
) -> list[DatabaseSize]:
    """Measure each wanted ``(engine, name)``; one result per distinct pair, in input order.

    ``timeout`` bounds each step (connect, each read and write) in seconds; PostgreSQL's
    connect timeout is whole seconds, at least 2 (libpq's rule). Both URLs, when given, are
    checked before anything is measured.
    """
    if not timeout > 0:
        raise ValueError("timeout must be a positive number of seconds")
    order: dict[tuple[str, str], None] = {}
    for engine, name in wanted:
        if engine not in ENGINES:
            raise ValueError(f"unknown database engine {engine!r} (known: {', '.join(ENGINES)})")
        order[(engine, name)] = None
    mysql_server = parse_mysql_url(mysql_url) if mysql_url is not None else None
    postgres_params = parse_postgres_url(postgres_url) if postgres_url is not None else None

    results: dict[tuple[str, str], DatabaseSize] = {}
    mysql_names = [name for engine, name in order if engine == MYSQL]
    if mysql_names:
        if mysql_server is None:
            found = _unknown(MYSQL, mysql_names, "no MySQL server configured for this node")
        else:
            found = _measure_mysql(mysql_server, mysql_names, timeout)
        results.update(((size.engine, size.name), size) for size in found)
    postgres_names = [name for engine, name in order if engine == POSTGRESQL]
    if postgres_names:
        if postgres_params is None:
            problem = "no PostgreSQL server configured for this node"
            found = _unknown(POSTGRESQL, postgres_names, problem)
        else:
            found = _measure_postgres(postgres_params, postgres_names, timeout)
        results.update(((size.engine, size.name), size) for size in found)
    return [results[key] for key in order]


def _measure_mysql(server: MySQLServer, names: list[str], timeout: float) -> list[DatabaseSize]:
    """Sizes from one connection to a MySQL/MariaDB server."""
    try:
        connection = pymysql.connect(
            host=server.host,
            port=server.port,
            user=server.user,
            password=server.password,
            unix_socket=server.unix_socket,
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            charset="utf8mb4",
            autocommit=True,
        )
    except Exception as exc:  # whatever answered there, the caller must not crash on it
        verb = "refused the login" if _mysql_code(exc) in _MYSQL_LOGIN_ERRORS else "did not answer"
        return _unknown(MYSQL, names, f"MySQL server at {server.where} {verb}: {_describe(exc)}")
    try:
        with connection, connection.cursor() as cursor:
            existing, sizes = _query_mysql(cursor, names)
    except Exception as exc:  # a query failed or the server went away mid-way
        problem = f"MySQL server at {server.where} could not report sizes: {_describe(exc)}"
        return _unknown(MYSQL, names, problem)
    return [
        DatabaseSize(MYSQL, name, sizes.get(name, 0), None)
        if name in existing
        else DatabaseSize(MYSQL, name, None, NO_SUCH_DATABASE)
        for name in names
    ]


def _query_mysql(cursor: Any, names: list[str]) -> tuple[set[str], dict[str, int]]:
    """The wanted databases that exist, and the bytes of their tables."""
    try:
        # MySQL 8 caches table statistics for a day unless told otherwise; MariaDB has no
        # such cache (and no such variable).
        cursor.execute("SET SESSION information_schema_stats_expiry = 0")
    except pymysql.MySQLError as exc:
        if _mysql_code(exc) != _MYSQL_UNKNOWN_VARIABLE:
            raise
    # One "= %s" per database, never "IN (...)": MariaDB compares an IN list without regard
    # to case, so of two databases "shop" and "Shop" it finds one or neither; an equality
    # looks into exactly that database (and is 10x faster with 150 databases on the server,
    # as IN lists them all).
    existing: set[str] = set()
    for chunk in _chunks(names):
        cursor.execute(
            " UNION ALL ".join(
                ["SELECT schema_name FROM information_schema.schemata WHERE schema_name = %s"]
                * len(chunk)
            ),
            chunk,
        )
        existing.update(str(row[0]) for row in cursor.fetchall() if row[0] in chunk)
    sizes: dict[str, int] = {}
    for chunk in _chunks([name for name in names if name in existing]):
        select = (
            "SELECT %s, COALESCE(SUM(data_length + index_length), 0)"
            " FROM information_schema.tables WHERE table_schema = %s"
        )
        cursor.execute(
            " UNION ALL ".join([select] * len(chunk)), [v for n in chunk for v in (n, n)]
        )
        sizes.update((str(name), int(size)) for name, size in cursor.fetchall())
    return existing, sizes


def _measure_postgres(
    params: dict[str, str], names: list[str], timeout: float
) -> list[DatabaseSize]:
    """Sizes from one connection to a PostgreSQL server."""
    where = _postgres_where(params)
    settings = {**params, "connect_timeout": str(max(2, math.ceil(timeout)))}
    settings.setdefault("application_name", "onus-collector")
    try:
        connection = psycopg.connect(make_conninfo(**settings), autocommit=True)
    except Exception as exc:  # whatever answered there, the caller must not crash on it
        verb = "refused the connection" if "FATAL:" in str(exc) else "did not answer"
        return _unknown(POSTGRESQL, names, f"PostgreSQL server at {where} {verb}: {_describe(exc)}")
    try:
        with connection:
            connection.execute(
                "SELECT set_config('statement_timeout', %s, false)",
                (f"{math.ceil(timeout * 1000)}ms",),
            )
            rows = connection.execute(
                # pg_database_size refuses a database the user may not connect to, unless the
                # user may read all statistics: ask only where it will answer.
                "SELECT datname, CASE WHEN has_database_privilege(oid, 'CONNECT')"
                " OR pg_has_role('pg_read_all_stats', 'USAGE')"
                " THEN pg_database_size(oid) END"
                " FROM pg_database WHERE datname = ANY(%s)",
                (names,),
            ).fetchall()
    except Exception as exc:  # a query failed or the server went away mid-way
        problem = f"PostgreSQL server at {where} could not report sizes: {_describe(exc)}"
        return _unknown(POSTGRESQL, names, problem)
    found: dict[str, int | None] = {str(name): size for name, size in rows}
    results = []
    for name in names:
        size = found.get(name)
        if name not in found:
            results.append(DatabaseSize(POSTGRESQL, name, None, NO_SUCH_DATABASE))
        elif size is None:
            results.append(DatabaseSize(POSTGRESQL, name, None, _PG_NOT_ALLOWED))
        else:
            results.append(DatabaseSize(POSTGRESQL, name, int(size), None))
    return results


def _postgres_where(params: dict[str, str]) -> str:
    """The server's address as a person reads it (never the password)."""
    host = params.get("host") or params.get("hostaddr") or ""
    port = params.get("port") or "5432"
    if not host:
        return f"the local socket (port {port})"
    if host.startswith("/"):
        return f"{host.rstrip('/')}/.s.PGSQL.{port}"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _unknown(engine: str, names: Sequence[str], error: str) -> list[DatabaseSize]:
    return [DatabaseSize(engine, name, None, error) for name in names]


def _chunks(names: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(names), _CHUNK):
        yield list(names[start : start + _CHUNK])


def _mysql_code(exc: BaseException) -> int | None:
    """The MySQL error number of a PyMySQL error, if it has one."""
    if isinstance(exc, pymysql.MySQLError) and exc.args and isinstance(exc.args[0], int):
        return exc.args[0]
    return None


def _describe(exc: BaseException) -> str:
    """One line that says what went wrong, without driver boilerplate."""
    if isinstance(exc, pymysql.MySQLError) and len(exc.args) >= 2:
        text = str(exc.args[1])
    else:  # libpq: a first line with boilerplate to drop, then hints on further lines
        lines = [_one_line(line) for line in str(exc).splitlines()]
        lines = [line for line in lines if line]
        if lines:
            lines[0] = _PG_NOISE.sub("", lines[0]).replace("FATAL: ", "")
        text = "; ".join(lines)
    return _one_line(text) or type(exc).__name__


def _one_line(text: str) -> str:
    return " ".join(text.split())
