"""run_sql against a real PostgreSQL server: every kind of write is refused, by the statement
check and, with the check bypassed, by the read-only transaction; nothing changes either way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import runpad.sql.database as sql_module
from runpad.tools import SqlDatabase, SqlLimits

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shop_url(postgres_url: str) -> str:
    admin = sa.create_engine(
        postgres_url.replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as connection:
        connection.exec_driver_sql("DROP DATABASE IF EXISTS shop")
        connection.exec_driver_sql("CREATE DATABASE shop")
    admin.dispose()
    url = postgres_url.rsplit("/", 1)[0] + "/shop"
    setup = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with setup.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE orders (id SERIAL PRIMARY KEY, region TEXT, amount NUMERIC(8, 2))"
        )
        connection.exec_driver_sql(
            "INSERT INTO orders (region, amount) VALUES ('north', 10.50), ('south', 25.00), "
            "('north', 4.25)"
        )
    setup.dispose()
    return url


def snapshot(url: str) -> tuple[object, ...]:
    """Everything a write could change, read through a separate, ordinary connection."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
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
    with SqlDatabase(shop_url, name="shop", limits=SqlLimits(timeout=5)) as database:
        yield database


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
    statement: str, shop: SqlDatabase, shop_url: str
) -> None:
    before = snapshot(shop_url)
    result = shop.run(statement)
    assert result.error is not None, f"not refused: {statement}"
    assert result.error.name == "StatementRefused"
    assert "allow_writes=True" in result.error.value
    assert snapshot(shop_url) == before


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM orders",
        "INSERT INTO orders (region, amount) VALUES ('west', 1)",
        "CREATE TABLE notes (body text)",
        "SELECT nextval('orders_id_seq')",
        "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone",
        "SELECT set_config('transaction_read_only', 'off', true); DELETE FROM orders",
        "COMMIT; DELETE FROM orders",
        "ROLLBACK; SET default_transaction_read_only = off; DELETE FROM orders",
    ],
)
# Not here: `COPY ... TO 'file'` and `lo_import` run even in a read-only transaction (they
# read the database, and write or read the server's files); only the statement check, and a
# role without superuser rights, stop them. The rollback undoes the large object.
def test_without_the_check_the_read_only_transaction_still_refuses(
    statement: str, shop: SqlDatabase, shop_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_module, "read_only_violation", lambda *args, **options: None)
    before = snapshot(shop_url)
    result = shop.run(statement)
    assert result.error is not None, f"ran: {statement}"
    assert snapshot(shop_url) == before
    # The pool hands out a clean, read-only connection afterwards.
    monkeypatch.undo()
    assert shop.run("SHOW transaction_read_only").error is not None  # SHOW is not a query
    assert shop.run("SELECT current_setting('transaction_read_only')").rows == [("on",)]


def test_a_slow_statement_is_cancelled_by_statement_timeout(shop_url: str) -> None:
    with SqlDatabase(shop_url, limits=SqlLimits(timeout=0.5)) as database:
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
