"""run_sql's executor against real SQLite files: results, limits, errors as values, and the
read-only defense, layer by layer (every refused write leaves the file byte for byte)."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import runpad.sql.database as sql_module
from runpad.errors import ConfigurationError
from runpad.tools import (
    SqlDatabase,
    SqlLimits,
    format_sql_result,
    read_only_violation,
    split_statements,
)
from tests.fixtures.data import make_shop


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def shop_path(tmp_path: Path) -> Path:
    return make_shop(tmp_path / "shop.db")


@pytest.fixture
def shop(shop_path: Path) -> Iterator[SqlDatabase]:
    with SqlDatabase(f"sqlite:///{shop_path}", name="shop") as database:
        yield database


# -- results ------------------------------------------------------------------------------


def test_a_query_returns_rows_a_preview_and_csv(shop: SqlDatabase) -> None:
    result = shop.run(
        "SELECT c.region, ROUND(SUM(o.amount), 2) AS total FROM orders o "
        "JOIN customers c ON c.id = o.customer_id GROUP BY c.region ORDER BY total DESC"
    )
    assert result.ok, result.error
    assert result.columns == ["region", "total"]
    assert result.rows == [("south", 25.0), ("north", 20.0)]
    assert result.to_csv().splitlines()[0] == "region,total"
    text = format_sql_result(result)
    assert text.startswith("2 row(s) x 2 column(s)")
    assert "region | total" in text
    assert result.dialect == "sqlite"
    assert not result.committed


def test_null_and_long_values_in_the_preview(shop: SqlDatabase) -> None:
    result = shop.run("SELECT NULL AS missing, 'x' || printf('%.60d', 0) AS long")
    text = format_sql_result(result, max_cell_chars=20)
    assert "NULL" in text
    assert "..." in text
    assert result.to_csv().splitlines()[1].startswith(",x000")


def test_the_row_cap_cuts_and_says_so(shop_path: Path) -> None:
    with SqlDatabase(f"sqlite:///{shop_path}", limits=SqlLimits(max_rows=5)) as database:
        result = database.run(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
            "SELECT i FROM n"
        )
    assert result.truncated
    assert len(result.rows) == 5
    assert "SqlLimits.max_rows" in format_sql_result(result)


def test_a_slow_query_times_out_as_a_value(shop_path: Path) -> None:
    with SqlDatabase(f"sqlite:///{shop_path}", limits=SqlLimits(timeout=0.3)) as database:
        result = database.run(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT COUNT(*) FROM n"
        )
        assert result.timed_out
        assert result.error is not None
        assert "SqlLimits.timeout" in result.error.value
        assert result.duration_ms < 3000
        assert database.run("SELECT COUNT(*) FROM orders").rows == [(4,)]  # still usable


def test_sql_errors_are_values_for_repair(shop: SqlDatabase) -> None:
    result = shop.run("SELECT nope FROM orders")
    assert result.error is not None
    assert result.error.name == "OperationalError"
    assert "no such column: nope" in result.error.value
    assert format_sql_result(result).startswith("OperationalError: no such column")


def test_read_only_runs_one_statement_per_call(shop: SqlDatabase) -> None:
    result = shop.run("SELECT 1; SELECT name FROM customers WHERE id = 2;")
    assert result.error is not None
    assert result.error.name == "StatementRefused"
    assert "2 statements (SELECT, SELECT)" in result.error.value
    assert "one statement per call" in result.error.value
    trailing = shop.run("SELECT name FROM customers WHERE id = 2; -- done\n")
    assert trailing.rows == [("Grace",)], trailing.error
    assert trailing.statements == 1


def test_a_script_with_writes_allowed_returns_the_last_result(shop_path: Path) -> None:
    with SqlDatabase(f"sqlite:///{shop_path}", allow_writes=True) as database:
        result = database.run("SELECT 1; SELECT name FROM customers WHERE id = 2;")
    assert result.ok, result.error
    assert result.statements == 2
    assert result.rows == [("Grace",)]


def test_schema_has_tables_columns_keys_and_samples(shop: SqlDatabase) -> None:
    schema = shop.schema()
    assert [table.name for table in schema.tables] == ["customers", "orders"]
    text = schema.text()
    assert "Database 'shop': sqlite dialect, read-only" in text
    assert "id INTEGER (primary key)" in text
    assert "name TEXT (not null)" in text
    assert "foreign key customer_id -> customers.id" in text
    assert "1 | Ada | north" in text


def test_the_schema_is_cut_to_its_budget(shop_path: Path) -> None:
    limits = SqlLimits(max_schema_chars=300)
    with SqlDatabase(f"sqlite:///{shop_path}", limits=limits) as database:
        text = database.schema().text()
    assert "more tables, not described here: orders" in text


# -- failures of the setup: exceptions that say what to do ------------------------------------


def test_a_bad_url_says_what_a_good_one_looks_like() -> None:
    with pytest.raises(ConfigurationError, match=r"sqlite:///path/to/file\.db"):
        SqlDatabase("no url at all")


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    database = SqlDatabase(f"sqlite:///{missing}", name="gone")
    with pytest.raises(ConfigurationError, match="does not exist"):
        database.run("SELECT 1")
    assert not missing.exists()


def test_an_unreachable_server_says_so() -> None:
    database = SqlDatabase(
        "postgresql://nobody@127.0.0.1:9/none", limits=SqlLimits(connect_timeout=2)
    )
    with pytest.raises(ConfigurationError, match="Could not connect to database") as caught:
        database.run("SELECT 1")
    assert "that the server is running" in str(caught.value)


def test_a_missing_driver_names_what_to_install() -> None:
    database = SqlDatabase("mssql+pymssql://user@host/db")
    with pytest.raises(ConfigurationError, match="pip install"):
        database.run("SELECT 1")


# -- read-only: the statement check --------------------------------------------------------

WRITES = {
    "insert": "INSERT INTO orders VALUES (9, 1, 1.0, '2024-03-01')",
    "update": "UPDATE orders SET amount = 0",
    "delete": "DELETE FROM orders",
    "replace": "REPLACE INTO customers VALUES (1, 'Eve', 'west')",
    "insert-or-replace": "INSERT OR REPLACE INTO customers VALUES (1, 'Eve', 'west')",
    "upsert": "INSERT INTO customers VALUES (1, 'E', 'w') ON CONFLICT(id) DO UPDATE SET name='E'",
    "cte-delete": "WITH doomed AS (SELECT id FROM orders) DELETE FROM orders",
    "create-table": "CREATE TABLE notes (body TEXT)",
    "create-temp-table": "CREATE TEMP TABLE scratch AS SELECT * FROM orders",
    "create-index": "CREATE INDEX by_amount ON orders(amount)",
    "create-view": "CREATE VIEW big AS SELECT * FROM orders WHERE amount > 10",
    "create-trigger": "CREATE TRIGGER t AFTER INSERT ON orders BEGIN DELETE FROM orders; END",
    "drop": "DROP TABLE orders",
    "alter": "ALTER TABLE orders ADD COLUMN note TEXT",
    "attach": "ATTACH DATABASE '{tmp}/attached.db' AS other",
    "detach": "DETACH DATABASE main",
    "pragma-query-only": "PRAGMA query_only = OFF",
    "pragma-journal": "PRAGMA journal_mode = DELETE",
    "pragma-call-form": "PRAGMA user_version(7)",
    "pragma-unknown": "PRAGMA optimize",
    "vacuum": "VACUUM",
    "vacuum-into": "VACUUM INTO '{tmp}/copy.db'",
    "reindex": "REINDEX",
    "analyze": "ANALYZE",
    "begin": "BEGIN",
    "commit": "COMMIT",
    "savepoint": "SAVEPOINT s1",
    "smuggled": "SELECT 1; DROP TABLE orders",
    "smuggled-after-comment": "SELECT 1;\n-- harmless\nDELETE FROM orders;",
    "smuggled-in-string-split": "SELECT 'a;b'; UPDATE orders SET amount = 1",
    "load-extension": "SELECT load_extension('/tmp/evil.so')",
    "writefile": "SELECT writefile('{tmp}/out.txt', 'x')",
    "select-into": "SELECT * INTO copy FROM orders",
}


@pytest.mark.parametrize("statement", list(WRITES.values()), ids=list(WRITES))
def test_every_kind_of_write_is_refused_and_the_file_is_unchanged(
    statement: str, shop: SqlDatabase, shop_path: Path, tmp_path: Path
) -> None:
    before = digest(shop_path)
    result = shop.run(statement.format(tmp=tmp_path))
    assert result.error is not None, f"not refused: {statement}"
    assert result.error.name == "StatementRefused"
    assert "allow_writes=True" in result.error.value  # says how to opt in
    assert digest(shop_path) == before
    assert not (tmp_path / "attached.db").exists()
    assert not (tmp_path / "copy.db").exists()
    assert not (tmp_path / "out.txt").exists()
    assert shop.run("SELECT COUNT(*) FROM orders").rows == [(4,)]


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM orders",
        "WITH big AS (SELECT * FROM orders WHERE amount > 5) SELECT COUNT(*) FROM big",
        "SELECT 1 UNION ALL SELECT 2",
        "VALUES (1), (2)",
        "SELECT * FROM (SELECT 1)",
        "SELECT replace(name, 'a', 'b') AS renamed FROM customers",
        "SELECT 'DELETE FROM orders; DROP TABLE x' AS harmless_text",
        'SELECT "update" FROM (SELECT 1 AS "update")',
        "PRAGMA table_info(orders)",
        "PRAGMA main.index_list('orders')",
        "PRAGMA user_version",
        "SELECT * FROM orders -- trailing comment; DROP TABLE orders",
    ],
)
def test_queries_pass_the_check(query: str, shop: SqlDatabase) -> None:
    assert read_only_violation(query, "sqlite") is None
    result = shop.run(query)
    assert result.ok, result.error


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "DELETE"),
        ("SELECT * INTO newt FROM t", "INTO"),
        ("SELECT * FROM t FOR UPDATE", "locks"),
        ("COPY t TO '/tmp/x'", "COPY"),
        ("COPY (SELECT 1) TO PROGRAM 'id'", "COPY"),
        ("SELECT lo_import('/etc/passwd')", "lo_import"),
        ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
        ("SELECT * FROM dblink('host=x', 'select 1') AS t(a int)", "dblink"),
        ("SELECT pg_catalog.set_config('default_transaction_read_only', 'off', false)", "set_"),
        ("SELECT nextval('orders_id_seq')", "nextval"),
        ("SELECT query_to_xml('delete from t', true, true, '')", "query_to_xml"),
        ("SELECT pg_advisory_lock(1)", "pg_advisory_lock"),
        ("SET default_transaction_read_only = off", "SET"),
        ("RESET ALL", "RESET"),
        ("CALL cleanup()", "CALL"),
        ("DO $$ BEGIN DELETE FROM t; END $$", "DO"),
        ("LISTEN channel", "LISTEN"),
        ("DISCARD ALL", "DISCARD"),
        ("TRUNCATE t", "TRUNCATE"),
        ("GRANT SELECT ON t TO public", "GRANT"),
        ("COMMIT; DELETE FROM t", "COMMIT"),
        ("MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE", "MERGE"),
        ("EXPLAIN ANALYZE DELETE FROM t", "EXPLAIN"),
    ],
)
def test_the_check_refuses_postgresql_writes_and_side_effects(sql: str, reason: str) -> None:
    violation = read_only_violation(sql, "postgresql")
    assert violation is not None, sql
    assert reason.lower() in violation.lower()


def test_pg_sleep_and_ordinary_functions_are_fine() -> None:
    assert read_only_violation("SELECT pg_sleep(0.1), now(), age(now())", "postgresql") is None


def test_statements_split_at_semicolons_outside_strings() -> None:
    assert split_statements("SELECT 'a;b'; SELECT 2 ;; -- c\n", "sqlite") == [
        "SELECT 'a;b'",
        "SELECT 2",
    ]
    assert split_statements("SELECT $$;$$; SELECT 1", "postgresql") == ["SELECT $$;$$", "SELECT 1"]


def test_a_statement_sqlglot_cannot_parse_is_judged_by_its_words(shop: SqlDatabase) -> None:
    # sqlglot does not parse an expression in LIMIT; the token scan decides.
    query = "SELECT id FROM orders ORDER BY id LIMIT 2 - (SELECT COUNT(*) FROM orders) % 2"
    assert shop.run(query).rows == [(1,), (2,)]
    assert read_only_violation("SELECT 1 LIMIT 1 + (1) % 2; DELETE FROM t", "sqlite") is not None


# -- read-only: the connection, when the check is bypassed ----------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM orders",
        "UPDATE orders SET amount = 0",
        "CREATE TABLE notes (body TEXT)",
        "DROP TABLE orders",
        "PRAGMA query_only = OFF",
        "ATTACH DATABASE '{tmp}/attached.db' AS other",
        "SELECT load_extension('x')",
    ],
)
def test_without_the_check_the_connection_still_refuses(
    statement: str,
    shop: SqlDatabase,
    shop_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sql_module, "read_only_violation", lambda *args, **options: None)
    before = digest(shop_path)
    result = shop.run(statement.format(tmp=tmp_path))
    assert result.error is not None
    assert result.error.name in ("StatementRefused", "OperationalError")
    assert digest(shop_path) == before
    assert not (tmp_path / "attached.db").exists()


def test_the_file_is_opened_read_only(shop: SqlDatabase, shop_path: Path) -> None:
    url = str(shop.engine().url)
    assert "mode=ro" in url
    before = digest(shop_path)
    with shop.engine().connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        raw.set_authorizer(None)  # even without the authorizer...
        cursor = raw.cursor()
        cursor.execute("PRAGMA query_only = OFF")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            cursor.execute("DELETE FROM orders")  # ...mode=ro refuses
    assert digest(shop_path) == before


# -- writes, opted in -----------------------------------------------------------------------


def test_writes_need_the_opt_in_and_then_commit(shop_path: Path) -> None:
    with SqlDatabase(f"sqlite:///{shop_path}", allow_writes=True) as database:
        result = database.run("INSERT INTO customers VALUES (4, 'Barbara', 'west')")
        assert result.ok, result.error
        assert result.committed
        assert result.rowcount == 1
        assert "committed" in format_sql_result(result)
        assert "read-write" in database.schema().text()
    with sqlite3.connect(shop_path) as connection:
        assert connection.execute("SELECT name FROM customers WHERE id = 4").fetchone() == (
            "Barbara",
        )
    connection.close()


# -- the run's Context ----------------------------------------------------------------------


def test_the_context_checks_database_urls_before_a_run(shop_path: Path) -> None:
    from runpad.context import Context

    with pytest.raises(ConfigurationError, match="is not a database URL"):
        Context(databases={"shop": "shop.db"})
    context = Context(databases={"shop": f"sqlite:///{shop_path}"})
    try:
        assert context.database("shop") is context.database("shop")  # one engine per run
        assert context.database("shop").run("SELECT COUNT(*) FROM orders").rows == [(4,)]
        with pytest.raises(ConfigurationError, match=r"there are: shop"):
            context.database("other")
    finally:
        asyncio.run(context.aclose())


# -- one statement per call, names as the engine resolves them, EXPLAIN ------------------------


def test_without_the_check_sqlite3_refuses_a_second_statement(
    shop: SqlDatabase, shop_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_module, "read_only_violation", lambda *args, **options: None)
    before = digest(shop_path)
    result = shop.run("SELECT 1; DELETE FROM orders")
    assert result.error is not None
    assert result.error.name == "StatementRefused"
    assert "more than one statement" in result.error.value
    assert digest(shop_path) == before


LOAD_EXTENSION_SPELLINGS = [
    "SELECT load_extension('x')",
    "SELECT LOAD_EXTENSION('x')",
    "SELECT Load_Extension('x')",
    """SELECT "load_extension"('x')""",
    "SELECT [load_extension]('x')",
    "SELECT `load_extension`('x')",
    "SELECT lower(load_extension('x'))",
    "SELECT CAST(load_extension('x') AS TEXT)",
    "SELECT 1 WHERE load_extension('x') IS NULL",
    "SELECT * FROM (SELECT load_extension('x'))",
]


@pytest.mark.parametrize("statement", LOAD_EXTENSION_SPELLINGS)
def test_every_spelling_is_refused_by_the_check_and_by_sqlites_authorizer(
    statement: str, shop: SqlDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = shop.run(statement)
    assert refused.error is not None
    assert refused.error.name == "StatementRefused"
    assert "load_extension" in refused.error.value
    monkeypatch.setattr(sql_module, "read_only_violation", lambda *args, **options: None)
    engine_refused = shop.run(statement)  # the authorizer sees the name SQLite resolved
    assert engine_refused.error is not None
    assert "not authorized" in engine_refused.error.value or "no such" in engine_refused.error.value


def test_an_unknown_function_is_refused_by_both_layers_until_allowed(
    shop_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def open_with_shout(allowed: tuple[str, ...] = ()) -> SqlDatabase:
        database = SqlDatabase(f"sqlite:///{shop_path}", allowed_functions=allowed)
        sa.event.listen(
            database.engine(),
            "connect",
            lambda connection, record: connection.create_function("shout", 1, str.upper),
        )
        return database

    query = "SELECT shout(name) FROM customers WHERE id = 1"
    with open_with_shout() as database:
        refused = database.run(query)
        assert refused.error is not None
        assert "shout()" in refused.error.value
        assert "allowed_functions=[...]" in refused.error.value
        monkeypatch.setattr(sql_module, "read_only_violation", lambda *args, **options: None)
        engine_refused = database.run(query)
        assert engine_refused.error is not None
        assert "not authorized" in engine_refused.error.value
        monkeypatch.undo()
    with open_with_shout(allowed=("shout",)) as database:
        allowed = database.run(query)
        assert allowed.rows == [("ADA",)], allowed.error


@pytest.mark.parametrize(
    "statement",
    [
        "EXPLAIN QUERY PLAN SELECT * FROM orders WHERE amount > 5",
        "EXPLAIN SELECT count(*) FROM orders",
    ],
)
def test_explain_is_a_read_in_sqlite(statement: str, shop: SqlDatabase) -> None:
    result = shop.run(statement)
    assert result.ok, result.error
    assert result.rows


@pytest.mark.parametrize(
    "statement",
    ["EXPLAIN DELETE FROM orders", "EXPLAIN QUERY PLAN SELECT load_extension('x')"],
)
def test_explain_of_a_write_is_refused_in_sqlite(
    statement: str, shop: SqlDatabase, shop_path: Path
) -> None:
    before = digest(shop_path)
    result = shop.run(statement)
    assert result.error is not None
    assert result.error.name == "StatementRefused"
    assert digest(shop_path) == before


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        (r"""SELECT U&"pg_read\005Ffile"('/etc/passwd')""", "pg_read_file()"),
        (r"""SELECT U&"pg_read!005Ffile" UESCAPE '!' ('/etc/passwd')""", "pg_read_file()"),
        (r"""SELECT U&"pg_read\+00005Ffile"('/etc/passwd')""", "pg_read_file()"),
        (r"""SELECT U&"\D83D\DE00"(1)""", "\U0001f600()"),
        ("""SELECT "pg_catalog"."pg_read_file"('/etc/passwd')""", "pg_catalog.pg_read_file()"),
        ("SELECT PG_CATALOG.PG_READ_FILE('/etc/passwd')", "pg_catalog.pg_read_file()"),
        ("SELECT myschema.lower('x')", "myschema.lower()"),
        ("""SELECT "Lower"('x')""", "Lower()"),
        ("SELECT * FROM pg_catalog.pg_ls_dir('/')", "pg_ls_dir()"),
        ("SELECT lo_export(1, '/tmp/x')", "lo_export()"),
        ("SELECT 1 LIMIT 1 + my_function() % 2", "my_function()"),  # sqlglot cannot parse it
    ],
)
def test_names_are_compared_as_postgresql_resolves_them(sql: str, named: str) -> None:
    violation = read_only_violation(sql, "postgresql")
    assert violation is not None, sql
    assert named in violation


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT pg_catalog.lower('X'), LOWER('x'), \"lower\"('x'), count(*) FROM t",
        "SELECT date_trunc('month', d), EXTRACT(year FROM d), d::date, CAST(x AS numeric(8, 2))",
        "SELECT row_number() OVER (PARTITION BY a ORDER BY b), lag(a) OVER w FROM t WINDOW w AS ()",
        "SELECT j->>'a', j @> '{}'::jsonb, jsonb_array_length(j) FROM t",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM t",
        "SELECT * FROM generate_series(1, 3) AS g(i)",
        r"""SELECT U&"lower"('X'), U&"\0063ount"(*) FROM t""",
        "EXPLAIN (FORMAT JSON, COSTS OFF) SELECT 1",
    ],
)
def test_ordinary_analytics_pass_the_postgresql_check(sql: str) -> None:
    assert read_only_violation(sql, "postgresql") is None


def test_an_allowed_function_may_be_qualified() -> None:
    sql = "SELECT stats.score(x) FROM t"
    assert read_only_violation(sql, "postgresql") is not None
    assert read_only_violation(sql, "postgresql", allowed_functions=["score"]) is not None
    assert read_only_violation(sql, "postgresql", allowed_functions=["stats.score"]) is None


@pytest.mark.parametrize(
    "sql",
    [r'SELECT U&"\00ZZ"(1)', r'SELECT U&"\D83D"(1)', r"""SELECT U&"x" UESCAPE '+' (1)"""],
)
def test_a_bad_unicode_escape_is_refused_as_unreadable(sql: str) -> None:
    violation = read_only_violation(sql, "postgresql")
    assert violation is not None
    assert "could not be read" in violation


def test_read_only_postgresql_needs_psycopg_3() -> None:
    database = SqlDatabase("postgresql+psycopg2://reader@127.0.0.1:9/shop", name="shop")
    with pytest.raises(ConfigurationError, match=r"needs the psycopg driver.*postgresql\+psycopg"):
        database.run("SELECT 1")
