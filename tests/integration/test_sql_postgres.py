"""run_sql against a real PostgreSQL server, layer by layer and role by role.

Every kind of write is refused by the statement check; with the check switched off, by one
statement per call (psycopg's extended query protocol) and the read-only transaction that
nothing can make writable again; and a role that can do more than read is refused when the
database opens unless the user trusts it. The attacks run as a superuser, as the table's
owner and as a read-only role; nothing changes either way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import runpad.sql.database as sql_module
from runpad.cli import EXIT_OK, EXIT_USAGE, app
from runpad.errors import ConfigurationError
from runpad.tools import SqlDatabase, SqlLimits
from tests.fixtures.scripted import Script

pytestmark = pytest.mark.integration

ROLES = ("reader", "owner", "superuser")
USERS = {"reader": "shop_reader", "owner": "shop_owner", "superuser": "postgres"}


def direct(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))


def as_user(url: str, user: str) -> str:
    rest = url.split("@", 1)[1]
    return f"postgresql://{user}@{rest}"


@pytest.fixture(scope="module")
def shop_url(postgres_url: str) -> str:
    """The `shop` database (as the superuser), with a read-only role, the table's owner, a
    role with write grants and a member of pg_signal_backend (trust authentication)."""
    admin = sa.create_engine(
        postgres_url.replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as connection:
        connection.exec_driver_sql("DROP DATABASE IF EXISTS shop")
        connection.exec_driver_sql("CREATE DATABASE shop")
        for role in ("shop_reader", "shop_owner", "shop_writer", "shop_signaller"):
            exists = connection.exec_driver_sql(
                f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'"
            ).first()
            if exists is None:
                connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        connection.exec_driver_sql("GRANT pg_read_all_data TO shop_reader")
        connection.exec_driver_sql("GRANT pg_signal_backend TO shop_signaller")
    admin.dispose()
    url = postgres_url.rsplit("/", 1)[0] + "/shop"
    setup = direct(url)
    with setup.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE orders (id SERIAL PRIMARY KEY, region TEXT, amount NUMERIC(8, 2))"
        )
        connection.exec_driver_sql(
            "INSERT INTO orders (region, amount) VALUES ('north', 10.50), ('south', 25.00), "
            "('north', 4.25)"
        )
        connection.exec_driver_sql("ALTER TABLE orders OWNER TO shop_owner")
        connection.exec_driver_sql("GRANT SELECT, INSERT ON orders TO shop_writer")
    setup.dispose()
    return url


def snapshot(url: str) -> tuple[object, ...]:
    """Everything a write could change, read through a separate, ordinary connection."""
    engine = direct(url)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT * FROM orders ORDER BY id").fetchall()
            tables = connection.exec_driver_sql(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
            ).fetchall()
            sequence = connection.exec_driver_sql(
                "SELECT last_value, is_called FROM orders_id_seq"
            ).fetchone()
            objects = connection.exec_driver_sql("SELECT count(*) FROM pg_largeobject_metadata")
            return (tuple(rows), tuple(tables), sequence, objects.scalar())
    finally:
        engine.dispose()


@pytest.fixture
def shop(shop_url: str) -> Iterator[SqlDatabase]:
    """The database as the read-only role: what runpad accepts by default."""
    with SqlDatabase(
        as_user(shop_url, "shop_reader"), name="shop", limits=SqlLimits(timeout=5)
    ) as database:
        yield database


@pytest.fixture(params=ROLES)
def shop_as(request: pytest.FixtureRequest, shop_url: str) -> Iterator[SqlDatabase]:
    """The database as each role; the privileged ones trusted explicitly."""
    role: str = request.param
    url = as_user(shop_url, USERS[role])
    trusted = role != "reader"
    with SqlDatabase(url, name="shop", limits=SqlLimits(timeout=5), trust_role=trusted) as db:
        yield db


def test_a_query_runs_and_the_schema_reads(shop: SqlDatabase) -> None:
    result = shop.run("SELECT region, SUM(amount) AS total FROM orders GROUP BY 1 ORDER BY 2 DESC")
    assert result.ok, result.error
    assert [(region, float(total)) for region, total in result.rows] == [
        ("south", 25.0),
        ("north", 14.75),
    ]
    text = shop.schema().text()
    assert "Database 'shop': postgresql dialect, read-only" in text
    assert "id INTEGER (primary key)" in text
    assert "north" in text


WRITES = {
    "insert": "INSERT INTO orders (region, amount) VALUES ('west', 1)",
    "update": "UPDATE orders SET amount = 0",
    "delete": "DELETE FROM orders",
    "truncate": "TRUNCATE orders",
    "drop": "DROP TABLE orders",
    "create": "CREATE TABLE notes (body text)",
    "alter": "ALTER TABLE orders ADD COLUMN note text",
    "merge": "MERGE INTO orders o USING orders s ON o.id = s.id WHEN MATCHED THEN DELETE",
    "cte-delete": "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone",
    "select-into": "SELECT * INTO orders_copy FROM orders",
    "for-update": "SELECT * FROM orders FOR UPDATE",
    "copy-to-file": "COPY orders TO '/tmp/runpad-orders.csv'",
    "copy-from-program": "COPY orders FROM PROGRAM 'echo 9,x,1'",
    "nextval": "SELECT nextval('orders_id_seq')",
    "setval": "SELECT setval('orders_id_seq', 100)",
    "set-config": "SELECT set_config('default_transaction_read_only', 'off', false)",
    "lo-import": "SELECT lo_import('/etc/hostname')",
    "pg-read-file": "SELECT pg_read_file('/etc/hostname')",
    "dblink": "SELECT * FROM dblink('dbname=shop', 'DELETE FROM orders') AS t(x text)",
    "query-to-xml": "SELECT query_to_xml('DELETE FROM orders RETURNING id', true, true, '')",
    "advisory-lock": "SELECT pg_advisory_lock(42)",
    "set": "SET default_transaction_read_only = off",
    "commit-then-write": "COMMIT; DELETE FROM orders",
    "smuggled": "SELECT 1; DROP TABLE orders",
    "do-block": "DO $$ BEGIN DELETE FROM orders; END $$",
    "call": "CALL some_procedure()",
    "lock": "LOCK TABLE orders",
    "grant": "GRANT ALL ON orders TO PUBLIC",
    "explain-analyze": "EXPLAIN ANALYZE DELETE FROM orders",
    "prepare": "PREPARE wipe AS DELETE FROM orders",
    "listen": "LISTEN channel",
    "vacuum": "VACUUM orders",
}


@pytest.mark.parametrize("statement", list(WRITES.values()), ids=list(WRITES))
def test_every_kind_of_write_is_refused_and_nothing_changes(
    statement: str, shop_as: SqlDatabase, shop_url: str
) -> None:
    before = snapshot(shop_url)
    result = shop_as.run(statement)
    assert result.error is not None, f"not refused: {statement}"
    assert result.error.name == "StatementRefused"
    assert "allow_writes=True" in result.error.value
    assert snapshot(shop_url) == before


def check_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch the statement check off, so that the layers under it are tried alone."""
    monkeypatch.setattr(sql_module, "read_only_violation", lambda *args, **options: None)


def assert_clean_session(database: SqlDatabase, user: str) -> None:
    """The pool hands out the same role, read-only, with the check back on."""
    row = database.run(
        "SELECT current_user, session_user, current_setting('transaction_read_only'), "
        "current_setting('default_transaction_read_only')"
    )
    assert row.rows == [(user, user, "on", "on")], row.error


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM orders",
        "INSERT INTO orders (region, amount) VALUES ('west', 1)",
        "CREATE TABLE notes (body text)",
        "SELECT nextval('orders_id_seq')",
        "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone",
        # Several statements in one call: the extended query protocol refuses the text.
        "SELECT 1; DELETE FROM orders",
        "SET TRANSACTION READ WRITE; DELETE FROM orders",
        "BEGIN READ WRITE; DELETE FROM orders; COMMIT",
        "SELECT set_config('transaction_read_only', 'off', true); DELETE FROM orders",
        "COMMIT; DELETE FROM orders",
        "ROLLBACK; SET default_transaction_read_only = off; DELETE FROM orders",
        # One statement that tries to make the transaction writable: the snapshot runpad
        # took first makes the server refuse.
        "SET TRANSACTION READ WRITE",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE READ WRITE",
        "SELECT set_config('transaction_read_only', 'off', true)",
        # Transaction control: runpad notices that its transaction ended.
        "COMMIT",
        "ROLLBACK",
    ],
)
# Not here: `COPY ... TO 'file'` and `lo_import` run even in a read-only transaction (they
# read the database, and write or read the server's files); only the statement check and a
# role without those rights stop them (see the role tests below).
def test_without_the_check_the_lower_layers_still_refuse(
    statement: str, shop_as: SqlDatabase, shop_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_off(monkeypatch)
    before = snapshot(shop_url)
    result = shop_as.run(statement)
    assert result.error is not None, f"ran: {statement}"
    # The read-only role's own rights may refuse first.
    assert result.error.name in ("StatementRefused", "InsufficientPrivilege"), result.error
    assert snapshot(shop_url) == before
    monkeypatch.undo()
    assert shop_as.run("SHOW transaction_read_only").error is not None  # SHOW is not a query
    assert_clean_session(shop_as, shop_as.url.username or "")


@pytest.mark.parametrize(
    "statement",
    [
        "SET ROLE postgres",
        "SET SESSION AUTHORIZATION postgres",
        "RESET ALL",
        "RESET ROLE",
        "SET default_transaction_read_only = off",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "SET search_path = pg_temp, public",
    ],
)
def test_a_session_change_does_not_outlive_its_call(
    statement: str, shop_as: SqlDatabase, shop_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the check some of these run (as a superuser), but alone in a transaction that
    is rolled back: the next call finds the session as runpad set it up."""
    assert shop_as.run(statement).error is not None  # the check refuses each
    check_off(monkeypatch)
    before = snapshot(shop_url)
    shop_as.run(statement)
    deleted = shop_as.run("DELETE FROM orders")
    assert deleted.error is not None
    assert deleted.error.name == "StatementRefused"
    assert snapshot(shop_url) == before
    assert_clean_session(shop_as, shop_as.url.username or "")


def test_two_statements_in_one_call_would_run_without_the_protocol(
    shop_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proof that the protocol is what refuses: the same text through an ordinary
    connection (simple query protocol) runs both statements."""
    text = "SELECT 1; DELETE FROM orders"
    engine = direct(shop_url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(text)
            assert connection.exec_driver_sql("SELECT count(*) FROM orders").scalar() == 0
            connection.rollback()
    finally:
        engine.dispose()
    check_off(monkeypatch)
    before = snapshot(shop_url)
    with SqlDatabase(shop_url, name="shop", trust_role=True) as database:
        result = database.run(text)
    assert result.error is not None
    assert result.error.name == "StatementRefused"
    assert "more than one statement" in result.error.value
    assert snapshot(shop_url) == before


def test_a_slow_statement_is_cancelled_by_statement_timeout(shop_url: str) -> None:
    url = as_user(shop_url, "shop_reader")
    with SqlDatabase(url, limits=SqlLimits(timeout=0.5)) as database:
        result = database.run("SELECT pg_sleep(10)")
        assert result.timed_out
        assert result.duration_ms < 5000
        assert database.run("SELECT 1").rows == [(1,)]


def test_sql_errors_are_values_with_the_servers_message(shop: SqlDatabase) -> None:
    result = shop.run("SELECT nope FROM orders")
    assert result.error is not None
    assert result.error.name == "UndefinedColumn"
    assert 'column "nope" does not exist' in result.error.value


def test_writes_commit_when_allowed(shop_url: str) -> None:
    with SqlDatabase(shop_url, allow_writes=True) as database:
        inserted = database.run("INSERT INTO orders (region, amount) VALUES ('east', 2)")
        assert inserted.ok, inserted.error
        assert inserted.committed
        assert database.run("SELECT count(*) FROM orders WHERE region = 'east'").rows == [(1,)]
        assert database.run("DELETE FROM orders WHERE region = 'east'").rowcount == 1


# -- EXPLAIN --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "EXPLAIN SELECT * FROM orders",
        "EXPLAIN VERBOSE SELECT region, count(*) FROM orders GROUP BY region",
        "EXPLAIN (FORMAT JSON, VERBOSE, COSTS OFF) SELECT * FROM orders WHERE amount > 5",
        "explain (format yaml, settings true) SELECT 1",
    ],
)
def test_explain_is_a_read(statement: str, shop_as: SqlDatabase) -> None:
    result = shop_as.run(statement)
    assert result.ok, result.error
    assert result.rows


@pytest.mark.parametrize(
    "statement",
    [
        "EXPLAIN ANALYZE SELECT * FROM orders",
        "EXPLAIN (ANALYZE, FORMAT JSON) SELECT 1",
        "EXPLAIN (FORMAT JSON, ANALYSE true) SELECT 1",
        "EXPLAIN DELETE FROM orders",
        "EXPLAIN SELECT pg_read_file('PG_VERSION')",
    ],
)
def test_explain_analyze_and_explain_of_a_write_are_refused(
    statement: str, shop_as: SqlDatabase, shop_url: str
) -> None:
    before = snapshot(shop_url)
    result = shop_as.run(statement)
    assert result.error is not None
    assert result.error.name == "StatementRefused"
    assert snapshot(shop_url) == before


# -- names as the server resolves them ---------------------------------------------------------

# Each spelling reaches pg_read_file on the server (the superuser, check off, reads the file:
# the spelling is real); the check refuses every one.
READ_FILE_SPELLINGS = {
    "plain": "SELECT pg_read_file('PG_VERSION')",
    "unicode-escape": r"""SELECT U&"pg_read\005Ffile"('PG_VERSION')""",
    "unicode-six-digits": r"""SELECT U&"pg_read\+00005Ffile"('PG_VERSION')""",
    "uescape": r"""SELECT U&"pg_read!005Ffile" UESCAPE '!' ('PG_VERSION')""",
    "lower-case-u": r"""SELECT u&"pg\005Fread\005Ffile"('PG_VERSION')""",
    "quoted": """SELECT "pg_read_file"('PG_VERSION')""",
    "upper-case": "SELECT PG_READ_FILE('PG_VERSION')",
    "qualified": "SELECT pg_catalog.pg_read_file('PG_VERSION')",
    "qualified-quoted": """SELECT "pg_catalog"."pg_read_file"('PG_VERSION')""",
    "qualified-escaped": r"""SELECT U&"pg\005Fcatalog".U&"pg\005Fread\005Ffile"('PG_VERSION')""",
    "qualified-upper": "SELECT PG_CATALOG.Pg_Read_File('PG_VERSION')",
    "comment-inside": "SELECT pg_catalog . /* x */ pg_read_file ('PG_VERSION')",
    "in-a-cast": "SELECT CAST(pg_read_file('PG_VERSION') AS text)",
    "cast-syntax": "SELECT pg_read_file('PG_VERSION')::text",
    "in-an-operator": "SELECT 'v' || pg_read_file('PG_VERSION')",
    "in-a-subquery": "SELECT (SELECT pg_read_file('PG_VERSION'))",
    "in-a-cte": "WITH f AS (SELECT pg_read_file('PG_VERSION') AS v) SELECT v FROM f",
    "in-from": "SELECT * FROM pg_read_file('PG_VERSION') AS f(v)",
    "in-lateral": "SELECT v FROM orders, LATERAL pg_read_file('PG_VERSION') AS f(v) LIMIT 1",
    "in-where": "SELECT 1 WHERE pg_read_file('PG_VERSION') IS NOT NULL",
    "in-order-by": "SELECT 1 ORDER BY pg_read_file('PG_VERSION')",
    "in-case": "SELECT CASE WHEN true THEN pg_read_file('PG_VERSION') END",
    "in-coalesce": "SELECT coalesce(pg_read_file('PG_VERSION'), 'x')",
    "in-explain": "EXPLAIN SELECT pg_read_file('PG_VERSION')",
}


@pytest.mark.parametrize(
    "statement", list(READ_FILE_SPELLINGS.values()), ids=list(READ_FILE_SPELLINGS)
)
def test_every_spelling_of_a_denied_function_is_refused(
    statement: str, shop_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SqlDatabase(shop_url, name="shop", trust_role=True) as database:
        refused = database.run(statement)
        assert refused.error is not None, statement
        assert refused.error.name == "StatementRefused"
        assert "pg_read_file" in refused.error.value
        check_off(monkeypatch)
        reached = database.run(statement)  # as the superuser: the server does read the file
        assert reached.error is None, reached.error
        if not statement.startswith("EXPLAIN"):
            assert any("15" in str(value) or "1" in str(value) for value in reached.rows[0])


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        (r"""SELECT U&"lo\005Fimport"('/etc/hostname')""", "lo_import"),
        (
            r"""SELECT U&"pg\005Fterminate\005Fbackend"(pid) FROM pg_stat_activity """
            "WHERE pid <> pg_backend_pid()",
            "pg_terminate_backend",
        ),
        ("""SELECT "set_config"('transaction_read_only', 'off', true)""", "set_config"),
        ("SELECT Pg_Advisory_Lock(1)", "pg_advisory_lock"),
        ("SELECT public.lower('X')", "public.lower"),
        ("""SELECT "LOWER"('X')""", "LOWER"),
        ("SELECT 1 OPERATOR(public.+) 2", "public"),
        (r'SELECT * FROM U&"pg\005Fauthid"', "pg_authid"),
        (r'SELECT 1 FROM U&"pg\005Fauthid\x"', "could not be read"),
        ("SELECT rolpassword FROM pg_catalog.PG_AUTHID", "pg_authid"),
        ("SELECT some_extension_function(1)", "some_extension_function"),
    ],
)
def test_functions_and_catalogs_are_compared_by_resolved_name(
    statement: str, named: str, shop: SqlDatabase
) -> None:
    result = shop.run(statement)
    assert result.error is not None, statement
    assert result.error.name == "StatementRefused"
    assert named in result.error.value


def test_an_unknown_function_is_refused_until_allowed(shop_url: str) -> None:
    url = as_user(shop_url, "shop_reader")
    with SqlDatabase(url) as database:
        refused = database.run("SELECT pg_stat_get_numscans('orders'::regclass)")
        assert refused.error is not None
        assert "pg_stat_get_numscans()" in refused.error.value
        assert "allowed_functions" in refused.error.value
    with SqlDatabase(url, allowed_functions=["pg_stat_get_numscans"]) as database:
        allowed = database.run("SELECT pg_stat_get_numscans('orders'::regclass)")
        assert allowed.ok, allowed.error


# -- the role, checked when the database opens ---------------------------------------------------


@pytest.mark.parametrize(
    ("user", "found"),
    [
        ("postgres", "is a superuser"),
        ("shop_owner", "owns 2 table(s) or sequence(s): public.orders"),
        ("shop_writer", "may write to 1 table(s): public.orders: INSERT"),
        ("shop_signaller", "is a member of pg_signal_backend"),
    ],
)
def test_a_privileged_role_is_refused_before_any_sql_runs(
    user: str, found: str, shop_url: str
) -> None:
    database = SqlDatabase(as_user(shop_url, user), name="shop")
    with pytest.raises(ConfigurationError) as caught:
        database.run("SELECT count(*) FROM orders")
    message = str(caught.value)
    assert found in message
    assert "CREATE ROLE runpad_reader LOGIN" in message
    assert "GRANT pg_read_all_data TO runpad_reader;" in message
    assert "trust_role=True" in message
    assert "--db-trust-role" in message
    with pytest.raises(ConfigurationError):  # and again: nothing was kept half-open
        database.schema()
    database.close()


def test_a_read_only_role_is_accepted_and_its_report_says_so(shop: SqlDatabase) -> None:
    assert shop.run("SELECT count(*) FROM orders").rows == [(3,)]
    role = shop.role()
    assert role is not None
    assert role.role == "shop_reader"
    assert role.read_only
    assert role.problems == []
    assert role.readable >= 2  # the table and its sequence


def test_a_trusted_role_is_used_with_a_warning(
    shop_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="runpad.sql.database"),
        SqlDatabase(shop_url, name="shop", trust_role=True) as database,
    ):
        assert database.run("SELECT count(*) FROM orders").rows == [(3,)]
        assert database.run("SELECT 1").ok
    warnings = [r for r in caplog.records if "trust_role=True" in r.getMessage()]
    assert len(warnings) == 1
    assert "superuser" in warnings[0].getMessage()


def test_writes_allowed_skip_the_role_check(shop_url: str) -> None:
    with SqlDatabase(as_user(shop_url, "shop_owner"), allow_writes=True) as database:
        assert database.run("SELECT count(*) FROM orders").rows == [(3,)]


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT pg_read_file('PG_VERSION')",
        "SELECT lo_import('/etc/hostname')",
        "COPY orders TO '/tmp/runpad-orders.csv'",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'postgres'",
        "SELECT pg_ls_dir('.')",
    ],
)
def test_a_read_only_role_alone_stops_what_the_transaction_cannot(
    statement: str, shop: SqlDatabase, shop_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Server files, large objects and signals pass a read-only transaction: with the check
    off, the read-only role is what refuses them."""
    check_off(monkeypatch)
    before = snapshot(shop_url)
    result = shop.run(statement)
    assert result.error is not None, statement
    assert result.error.name == "InsufficientPrivilege", result.error
    assert snapshot(shop_url) == before


def test_a_trusted_superuser_has_only_the_check_against_server_files(
    shop_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented limit: as a trusted superuser, a server file is one check away."""
    with SqlDatabase(shop_url, name="shop", trust_role=True) as database:
        assert database.run("SELECT pg_read_file('PG_VERSION')").error is not None
        check_off(monkeypatch)
        assert database.run("SELECT pg_read_file('PG_VERSION')").rows[0][0].strip().isdigit()


# -- runpad db check -----------------------------------------------------------------------------


def test_db_check_prints_what_the_role_can_do(shop_url: str) -> None:
    runner = CliRunner()
    reader = runner.invoke(app, ["db", "check", as_user(shop_url, "shop_reader")])
    assert reader.exit_code == 0, reader.output
    assert "shop_reader" in reader.output
    assert "Read-only" in reader.output
    superuser = runner.invoke(app, ["db", "check", shop_url])
    assert superuser.exit_code == 1, superuser.output
    assert "is a superuser" in superuser.output
    assert "GRANT pg_read_all_data TO runpad_reader;" in superuser.output
    owner = runner.invoke(app, ["db", "check", "--json", as_user(shop_url, "shop_owner")])
    assert owner.exit_code == 1
    report = json.loads(owner.output)
    assert report["read_only"] is False
    assert report["role"]["owned"] == ["public.orders", "public.orders_id_seq"]
    unreachable = runner.invoke(app, ["db", "check", "postgresql://x@127.0.0.1:9/none"])
    assert unreachable.exit_code == 1
    assert "Could not check it" in unreachable.output


def test_the_cli_refuses_a_privileged_role_unless_trusted_and_then_warns_once(
    shop_url: str, script: Script, tmp_path: Path
) -> None:
    model = script(router=["ROUTE: answer\nANSWER: 3"])
    base = ["run", "How many orders?", "-m", model, "--out", str(tmp_path / "runs")]
    database = ["--db", f"shop={shop_url}", "--db", f"reader={as_user(shop_url, 'shop_reader')}"]
    runner = CliRunner()
    refused = runner.invoke(app, [*base, *database])
    assert refused.exit_code == EXIT_USAGE, refused.output
    assert "is a superuser" in refused.stderr
    assert "GRANT pg_read_all_data TO runpad_reader;" in refused.stderr
    trusted = runner.invoke(app, [*base, *database, "--db-trust-role", "-q"])
    assert trusted.exit_code == EXIT_OK, trusted.output
    assert trusted.stderr.count("--db-trust-role:") == 1
    assert "shop (role postgres: is a superuser" in trusted.stderr
    assert "reader (" not in trusted.stderr  # the read-only role is not named
