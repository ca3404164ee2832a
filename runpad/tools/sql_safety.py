"""The statement check of runpad's read-only SQL, and SQLite's engine-level guard.

`read_only_violation` says why a script may not run on a read-only connection, or None when
every statement in it is a query. It parses each statement with sqlglot, for the database's
dialect, and accepts only a SELECT / set operation / VALUES (CTEs and subqueries included)
whose syntax tree holds no write, DDL, ATTACH/DETACH, COPY, SELECT INTO, row lock, SET,
transaction control or function with side effects or reach outside the database. sqlglot,
because it parses into a typed tree per dialect: a data-modifying CTE inside a SELECT is a
node to find, and so is a function call, where a scanner would see words in a string.
sqlparse only tokenizes, and SQLAlchemy does not parse SQL at all. Where sqlglot cannot parse
a statement, a conservative scan of its tokens decides instead.

This is the first layer of three (see `runpad.tools.sql`); `guard_sqlite_connection` is
part of the second, for SQLite: `PRAGMA query_only` and an authorizer that lets the engine
compile nothing but reads.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlglot
from sqlglot import TokenType, exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError

__all__ = ["guard_sqlite_connection", "read_only_violation", "split_statements"]

_SQLGLOT_DIALECTS = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mssql": "tsql",
    "oracle": "oracle",
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "redshift": "redshift",
    "trino": "trino",
    "clickhouse": "clickhouse",
    "databricks": "databricks",
}


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Functions that write, take locks, change settings, run SQL given as text (out of the
# check's sight), or reach outside the database (files, other servers, programs). Matched by
# name, whatever the schema qualifier.
_DENIED_FUNCTIONS = _word_set(
    """
    nextval setval set_config txid_current pg_current_xact_id
    pg_read_file pg_read_binary_file pg_stat_file pg_reload_conf pg_rotate_logfile
    pg_terminate_backend pg_cancel_backend pg_notify pg_switch_wal pg_promote
    pg_import_system_collations pg_log_backend_memory_contexts
    pg_start_backup pg_stop_backup pg_backup_start pg_backup_stop
    query_to_xml query_to_xmlschema query_to_xml_and_xmlschema cursor_to_xml
    cursor_to_xmlschema ts_stat
    load_extension readfile writefile edit fts3_tokenizer
    load_file get_lock release_lock release_all_locks sys_exec sys_eval
    """
)
_DENIED_PREFIXES = (
    "lo_",  # PostgreSQL large objects: lo_import / lo_export read and write server files
    "dblink",  # another server
    "pg_ls_",  # server directory listings
    "pg_file_",  # adminpack writes files
    "pg_advisory",  # locks
    "pg_try_advisory",
    "pg_create_",  # replication slots, restore points
    "pg_drop_",
    "pg_replication_",
    "pg_logical_",
    "pg_sequence_",
)

# SQLite PRAGMAs that only read: these may take an argument (a table or index name)...
_PRAGMAS_READ_WITH_ARGUMENT = _word_set(
    """
    table_info table_xinfo table_list index_list index_info index_xinfo
    foreign_key_list foreign_key_check integrity_check quick_check
    """
)
# ...these only when they have none (`PRAGMA journal_mode = off` writes).
_PRAGMAS_READ_WITHOUT_ARGUMENT = _word_set(
    """
    database_list collation_list function_list module_list pragma_list compile_options
    encoding page_size page_count freelist_count user_version schema_version application_id
    journal_mode foreign_keys query_only read_uncommitted data_version
    """
)

# Words that, anywhere outside strings and quoted names, make a statement that sqlglot
# could not parse a possible write. Conservative on purpose: a false refusal asks the model
# to rephrase; a false acceptance is left to the read-only connection.
_UNPARSED_WRITE_WORDS = _word_set(
    """
    INSERT UPDATE DELETE MERGE UPSERT CREATE DROP ALTER TRUNCATE RENAME ATTACH DETACH
    PRAGMA COPY GRANT REVOKE INTO SET RESET BEGIN START COMMIT END ROLLBACK ABORT SAVEPOINT
    RELEASE CALL EXEC EXECUTE DO VACUUM REINDEX ANALYZE LOCK LISTEN NOTIFY UNLISTEN PREPARE
    DEALLOCATE DISCARD LOAD REFRESH CLUSTER COMMENT SECURITY IMPORT CHECKPOINT OUTFILE DUMPFILE
    """
)
_QUERY_START_WORDS = frozenset({"SELECT", "WITH", "VALUES", "TABLE", "("})

# Statements and clauses that change the database or the session, wherever they appear in a
# query's tree (a data-modifying CTE, for one). Looked up by name: sqlglot versions differ.
_FORBIDDEN_NODES: tuple[type[Any], ...] = tuple(
    node
    for name in _word_set(
        """
        Insert Update Delete Merge Create Drop Alter AlterTable TruncateTable Command Copy
        Attach Detach Pragma Set Use Transaction Commit Rollback Grant Revoke Analyze Comment
        LoadData Kill Export
        """
    )
    if isinstance(node := getattr(exp, name, None), type)
)


def _sqlglot_dialect(dialect: str | None) -> str | None:
    return _SQLGLOT_DIALECTS.get(dialect or "")


def split_statements(sql: str, dialect: str | None = None) -> list[str]:
    """The statements of a script, cut at its top-level semicolons (not those in strings).

    Comments-only pieces are dropped. Raises ValueError when the text cannot be tokenized
    (an unterminated string or quoted name).
    """

    try:
        tokens = Dialect.get_or_raise(_sqlglot_dialect(dialect)).tokenize(sql)
    except TokenError as exc:
        raise ValueError(f"The SQL could not be read: {exc}") from exc
    statements: list[str] = []
    start: int | None = None
    end = 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            if start is not None:
                statements.append(sql[start : end + 1])
            start = None
            continue
        if start is None:
            start = token.start  # a token's span includes its quotes
        end = max(end, token.end)
    if start is not None:
        statements.append(sql[start : end + 1])
    return [statement.strip() for statement in statements if statement.strip()]


def read_only_violation(sql: str, dialect: str | None = None) -> str | None:
    """Why `sql` may not run on a read-only connection, or None when every statement is a query.

    Args:
        sql: one or several statements.
        dialect: SQLAlchemy's dialect name ("sqlite", "postgresql", ...), which decides how
            the statements are parsed.
    """
    try:
        statements = split_statements(sql, dialect)
    except ValueError as exc:
        return str(exc)
    if not statements:
        return "There is no SQL statement to run."
    for number, statement in enumerate(statements, 1):
        reason = _statement_violation(statement, dialect)
        if reason is not None:
            where = f"Statement {number} of {len(statements)}" if len(statements) > 1 else "It"
            return f"{where} is not a read-only query: {reason}"
    return None


def _statement_violation(statement: str, dialect: str | None) -> str | None:

    words = _words(statement, dialect)
    if words and words[0] == "PRAGMA":
        return _pragma_violation(statement, dialect)
    try:
        tree = sqlglot.parse_one(statement, read=_sqlglot_dialect(dialect))
    except (ParseError, TokenError):
        return _unparsed_violation(statement, dialect)
    root = tree.this if isinstance(tree, exp.Subquery) else tree
    while isinstance(root, exp.Subquery | exp.Paren):
        root = root.this
    if not isinstance(root, exp.Select | exp.SetOperation | exp.Values):
        first = words[0] if words else type(tree).__name__.upper()
        return f"{first} statements are not queries; only SELECT (with WITH, UNION, VALUES) is."
    for node in tree.walk():
        reason = _node_violation(node)
        if reason is not None:
            return reason
    return None


def _node_violation(node: Any) -> str | None:

    if isinstance(node, exp.Into):
        return "SELECT ... INTO creates a table or writes a file."
    if isinstance(node, exp.Lock):
        return "FOR UPDATE / FOR SHARE takes row locks."
    if isinstance(node, _FORBIDDEN_NODES):
        kind = node.key.upper()
        return f"it contains {kind}, which changes the database or its session."
    if isinstance(node, exp.Func):
        name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
        if name in _DENIED_FUNCTIONS or name.startswith(_DENIED_PREFIXES):
            return (
                f"it calls {name}(), a function that writes, takes locks, changes settings "
                "or reaches outside the database."
            )
    return None


def _tokens(statement: str, dialect: str | None) -> list[Any]:

    try:
        return list(Dialect.get_or_raise(_sqlglot_dialect(dialect)).tokenize(statement))
    except TokenError:
        return []


def _words(statement: str, dialect: str | None) -> list[str]:
    """The statement's bare words and punctuation, upper-cased; no strings or quoted names."""

    words = []
    for token in _tokens(statement, dialect):
        kind = token.token_type
        if kind == TokenType.IDENTIFIER or kind.name.endswith("STRING"):
            continue
        words.append(token.text.upper())
    return words


def _pragma_violation(statement: str, dialect: str | None) -> str | None:
    words = _words(statement, dialect)[1:]
    # PRAGMA [schema.]name [= value | (value)]
    if len(words) >= 2 and words[1] == ".":
        words = words[2:]
    if not words:
        return "an empty PRAGMA."
    name, rest = words[0].lower(), words[1:]
    has_argument = bool(rest)
    if name in _PRAGMAS_READ_WITH_ARGUMENT:
        return None
    if name in _PRAGMAS_READ_WITHOUT_ARGUMENT and not has_argument:
        return None
    if has_argument:
        return f"PRAGMA {name} with a value changes a setting of the database."
    return f"PRAGMA {name} is not one of the PRAGMAs known to only read."


def _unparsed_violation(statement: str, dialect: str | None) -> str | None:
    words = _words(statement, dialect)
    if not words:
        return "the statement could not be read."
    if words[0] not in _QUERY_START_WORDS:
        return f"{words[0]} statements are not queries; only SELECT (with WITH, UNION) is."
    for index, word in enumerate(words):
        if word in _UNPARSED_WRITE_WORDS:
            return f"it contains {word}, which may change the database."
        follows_call = index + 1 < len(words) and words[index + 1] == "("
        lowered = word.lower()
        if follows_call and (lowered in _DENIED_FUNCTIONS or lowered.startswith(_DENIED_PREFIXES)):
            return f"it calls {lowered}(), a function with side effects."
    return None


# SQLite's authorizer: the engine itself refuses everything but reading, whatever got past
# the statement check. Runs for every statement SQLite compiles on the connection.
_SQLITE_READ_ACTIONS = frozenset(
    {
        sqlite3.SQLITE_SELECT,
        sqlite3.SQLITE_READ,
        sqlite3.SQLITE_RECURSIVE,
        # SQLAlchemy and the driver end every transaction with ROLLBACK.
        sqlite3.SQLITE_TRANSACTION,
    }
)


def _sqlite_authorizer(
    action: int, arg1: str | None, arg2: str | None, database: str | None, trigger: str | None
) -> int:
    if action in _SQLITE_READ_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        name = (arg2 or "").lower()
        denied = name in _DENIED_FUNCTIONS or name.startswith(_DENIED_PREFIXES)
        return sqlite3.SQLITE_DENY if denied else sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in _PRAGMAS_READ_WITH_ARGUMENT or (
            name in _PRAGMAS_READ_WITHOUT_ARGUMENT and arg2 is None
        ):
            return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def guard_sqlite_connection(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA query_only = ON")
    finally:
        cursor.close()
    dbapi_connection.set_authorizer(_sqlite_authorizer)
