"""Every gold query of defog's sql-eval set, run through runpad's SQL executor, returns what
SQLAlchemy returns run directly: against the SQLite files, and against PostgreSQL with the
original dumps loaded into a real server.

Gold queries are expanded as defog's harness does (`get_all_minimal_queries`): alternatives
split on `;`, and `{a, b}` stands for every non-empty subset of those columns. Results are
compared as multisets of rows (row order ignored) with the same columns; a query that fails
directly must fail through runpad too, with the database's own message.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from runpad.tools import SqlDatabase, SqlLimits
from tests.fixtures.requirements import unavailable

DEFOG = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "sql_defog"
LIMITS = SqlLimits(max_rows=1_000_000, timeout=60)

pytestmark = pytest.mark.skipif(not DEFOG.is_dir(), reason=f"the defog data is not at {DEFOG}")


def gold_queries(query: str) -> list[str]:
    """Every acceptable form of a gold query, as defog's harness expands it."""
    expanded = []
    for alternative in query.split(";"):
        alternative = alternative.strip()
        if not alternative:
            continue
        start = alternative.find("{")
        end = alternative.find("}", start + 1)
        if start == -1 or end == -1:
            expanded.append(alternative)
            continue
        options = alternative[start + 1 : end].split(",")
        for size in range(1, len(options) + 1):
            for columns in itertools.combinations(options, size):
                chosen = ", ".join(column.strip() for column in columns)
                rest = alternative[end + 1 :].replace("GROUP BY {}", f"GROUP BY {chosen}")
                expanded.append(alternative[:start] + chosen + rest)
    return expanded


def questions(dialect: str) -> list[dict[str, str]]:
    with (DEFOG / f"questions_gen_{dialect}.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@dataclass
class Tally:
    compared: int = 0
    failed_both: int = 0


def check_same_results(database: SqlDatabase, engine: sa.Engine, query: str, tally: Tally) -> None:
    through_runpad = database.run(query)
    failure: str | None
    with engine.connect().execution_options(no_parameters=True) as connection:
        try:
            cursor = connection.exec_driver_sql(query)
            columns = list(cursor.keys())
            direct = [tuple(row) for row in cursor.fetchall()]
        except sa.exc.DBAPIError as exc:
            failure = str(exc.orig).strip()
        else:
            failure = None
    if failure is not None:
        assert through_runpad.error is not None, f"only the direct run failed: {query}"
        assert through_runpad.error.value == failure, query
        tally.failed_both += 1
        return
    assert through_runpad.ok, f"{through_runpad.error} for {query}"
    assert not through_runpad.truncated
    assert through_runpad.columns == columns, query
    assert Counter(map(repr, through_runpad.rows)) == Counter(map(repr, direct)), query
    tally.compared += 1


# -- SQLite ---------------------------------------------------------------------------------


def test_every_sqlite_gold_query_matches_sqlalchemy(tmp_path: Path) -> None:
    tally = Tally()
    databases: dict[str, tuple[SqlDatabase, sa.Engine, Path, str]] = {}
    try:
        for row in questions("sqlite"):
            name = row["db_name"]
            if name not in databases:
                copy = tmp_path / f"{name}.sqlite"
                shutil.copyfile(DEFOG / "sqlite" / f"{name}.sqlite", copy)
                digest = hashlib.sha256(copy.read_bytes()).hexdigest()
                database = SqlDatabase(f"sqlite:///{copy}", name=name, limits=LIMITS)
                engine = sa.create_engine(f"sqlite:///{copy}")
                databases[name] = (database, engine, copy, digest)
            database, engine, _, _ = databases[name]
            for query in gold_queries(row["query"]):
                check_same_results(database, engine, query, tally)
        for _, _, copy, digest in databases.values():
            assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
    finally:
        for database, engine, _, _ in databases.values():
            database.close()
            engine.dispose()
    # 351 queries; the converted files of atis, advising, geography and ewallet lack tables
    # that 147 of them use, and those fail alike both ways.
    assert tally.compared >= 200, tally
    assert tally.compared + tally.failed_both == 351


# -- PostgreSQL -------------------------------------------------------------------------------


READER = "defog_reader"


def as_reader(url: str) -> str:
    """The URL as the read-only role runpad accepts (the superuser is refused by default)."""
    return f"postgresql://{READER}@{url.split('@', 1)[1]}"


@pytest.fixture(scope="module")
def defog_postgres(postgres_url: str) -> str:
    """The server's base URL, with each defog dump loaded into a database of its name, and
    a read-only role (`GRANT pg_read_all_data`) to query them as."""
    psql = shutil.which("psql")
    if psql is None:
        unavailable("psql is not installed (apt-get install -y postgresql-client)")
    base = postgres_url.rsplit("/", 1)[0]
    admin = sa.create_engine(
        postgres_url.replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    dumps = sorted((DEFOG / "postgres").glob("*.sql"))
    with admin.connect() as connection:
        for dump in dumps:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{dump.stem}"')
            connection.exec_driver_sql(f'CREATE DATABASE "{dump.stem}"')
        if (
            connection.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{READER}'").first()
            is None
        ):
            connection.exec_driver_sql(f"CREATE ROLE {READER} LOGIN")
        connection.exec_driver_sql(f"GRANT pg_read_all_data TO {READER}")
    admin.dispose()
    for dump in dumps:
        subprocess.run(
            [psql, "-q", "-v", "ON_ERROR_STOP=1", "-d", f"{base}/{dump.stem}", "-f", str(dump)],
            check=True,
            capture_output=True,
        )
    return base


@pytest.mark.integration
@pytest.mark.slow
def test_every_postgres_gold_query_matches_sqlalchemy(defog_postgres: str) -> None:
    tally = Tally()
    databases: dict[str, tuple[SqlDatabase, sa.Engine]] = {}
    try:
        for row in questions("postgres"):
            name = row["db_name"]
            if name not in databases:
                url = f"{defog_postgres}/{name}"
                direct_url = url.replace("postgresql://", "postgresql+psycopg://")
                databases[name] = (
                    SqlDatabase(as_reader(url), name=name, limits=LIMITS),
                    sa.create_engine(direct_url),
                )
            database, engine = databases[name]
            for query in gold_queries(row["query"]):
                check_same_results(database, engine, query, tally)
    finally:
        for database, engine in databases.values():
            database.close()
            engine.dispose()
    assert tally.compared >= 360, tally  # 243 alternatives, 367 with {column} subsets
    assert tally.failed_both == 0, tally


@pytest.mark.integration
def test_the_postgres_schema_shows_other_schemas_keys_and_samples(defog_postgres: str) -> None:
    with SqlDatabase(as_reader(f"{defog_postgres}/ewallet"), name="ewallet") as database:
        text = database.schema().text()
    assert "Database 'ewallet': postgresql dialect, read-only" in text
    assert "Table consumer_div.users" in text
    assert "uid BIGINT (primary key)" in text
    assert "foreign key merchant_id -> consumer_div.merchants.mid" in text
    assert "sample rows:" in text
