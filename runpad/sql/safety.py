"""The statement check of runpad's read-only SQL, and SQLite's engine-level guard.

`read_only_violation` says why a text may not run on a read-only connection, or None when
it is exactly one query that only reads. It reads names as the server does
(`runpad.sql.names`: `U&"..."` escapes, quoting, case folding, schema qualifiers), parses the
statement with sqlglot for the database's dialect, and accepts only a SELECT / set operation /
VALUES (CTEs and subqueries included), an EXPLAIN of one without ANALYZE, or a SQLite PRAGMA
that reads, whose syntax tree holds no write, DDL, ATTACH/DETACH, COPY, SELECT INTO, row
lock, SET, transaction control, and no function outside the allow-list of
`runpad.sql.functions`. sqlglot, because it parses into a typed tree per dialect: a
data-modifying CTE inside a SELECT is a node to find, and so is a function call, where a
scanner would see words in a string. Where sqlglot cannot parse a statement, a conservative
scan of its tokens decides instead.

This is the first layer of three (see `runpad.sql.database`); `sqlite_read_only_guard` is
part of the second, for SQLite: `PRAGMA query_only` and an authorizer that lets the engine
compile nothing but reads and calls to allowed functions, by the names SQLite resolved.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

import sqlglot
from sqlglot import Token, TokenType, exp
from sqlglot.errors import ParseError, TokenError

from runpad.sql.functions import read_functions
from runpad.sql.names import (
    Name,
    UnreadableSql,
    decode_unicode_escapes,
    qualified_name_before,
    sqlglot_dialect,
    tokenize,
)

__all__ = ["read_only_violation", "split_statements", "sqlite_read_only_guard"]

FUNCTIONS_OPT_IN = (
    "SqlDatabase(url, allowed_functions=[...]), RunSqlTool(..., allowed_functions=[...]) or "
    "Context(sql_allowed_functions=[...])"
)


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Functions known to write, take locks, change settings, run SQL given as text, or reach
# outside the database. The allow-list already refuses them; this list is a second net, over
# every resolved name followed by "(" (whatever sqlglot made of it), and names the danger.
_SIDE_EFFECT_FUNCTIONS = _word_set(
    """
    nextval setval currval lastval set_config setseed txid_current pg_current_xact_id
    pg_read_file pg_read_binary_file pg_stat_file pg_reload_conf pg_rotate_logfile
    pg_terminate_backend pg_cancel_backend pg_notify pg_switch_wal pg_promote
    pg_import_system_collations pg_log_backend_memory_contexts
    pg_start_backup pg_stop_backup pg_backup_start pg_backup_stop
    query_to_xml query_to_xmlschema query_to_xml_and_xmlschema cursor_to_xml
    cursor_to_xmlschema table_to_xml database_to_xml schema_to_xml ts_stat
    load_extension readfile writefile edit fts3_tokenizer
    load_file get_lock release_lock release_all_locks sys_exec sys_eval
    """
)
_SIDE_EFFECT_PREFIXES = (
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

# Catalogs only a superuser reads, holding password hashes, other servers' credentials or
# the contents of files imported as large objects: a trusted privileged role must not hand
# them to a model (and through it to a model provider).
_SECRET_CATALOGS = _word_set("pg_authid pg_shadow pg_user_mapping pg_largeobject")

# Function nodes sqlglot builds from syntax rather than from a name written before "(":
# casts, CASE, operators such as -> and @>, EXTRACT(... FROM ...), CURRENT_DATE. Their
# meaning is the syntax's, and none of them has side effects.
_SYNTAX_FUNCTIONS: tuple[type[Any], ...] = tuple(
    node
    for name in _word_set(
        """
        And Or Xor Case If Cast TryCast Collate Extract Trim Substring StrPosition Overlay
        CurrentDate CurrentTime CurrentTimestamp CurrentUser SessionUser CurrentSchema
        JSONExtract JSONExtractScalar JSONBExtract JSONBExtractScalar JSONBContains
        ArrayContains ArrayContainsAll ArrayOverlaps Array Struct TsOrDsToTimestamp
        TsOrDsToDate Coalesce Nullif Pow Mod
        """
    )
    if isinstance(node := getattr(exp, name, None), type)
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

# EXPLAIN options that only shape the plan's text (PostgreSQL's parenthesized list).
_EXPLAIN_READ_OPTIONS = _word_set(
    "VERBOSE COSTS SETTINGS GENERIC_PLAN BUFFERS SERIALIZE WAL TIMING SUMMARY MEMORY FORMAT"
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
    OPERATOR
    """
)
_QUERY_START_WORDS = frozenset({"SELECT", "WITH", "VALUES", "("})

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


class _Allowed:
    """The functions one database may call: the dialect's reads plus the user's additions."""

    def __init__(self, dialect: str | None, extra: Iterable[str]) -> None:
        self.dialect = dialect
        self.builtin = read_functions(dialect)
        self.extra = frozenset(extra)

    def violation(self, name: Name) -> str | None:
        if str(name) in self.extra:
            return None
        catalog = self.dialect in ("postgresql", "redshift") and name.qualifiers == ("pg_catalog",)
        if (not name.qualifiers or catalog) and name.last in self.extra:
            return None
        if _has_side_effects(name.last):
            return (
                f"it calls {name}(), a function that writes, takes locks, changes settings, "
                "runs SQL given as text or reaches outside the database."
            )
        if name.qualifiers and not catalog:
            return (
                f"it calls {name}(), a function of schema {'.'.join(name.qualifiers)}: runpad "
                "only runs the built-in functions it knows to be reads. Rewrite the query "
                f"without it; if it only reads, allow it by name: {FUNCTIONS_OPT_IN}."
            )
        if name.last in self.builtin:
            return None
        return (
            f"it calls {name}(), which is not on runpad's list of functions known to only "
            "read (aggregates, maths, strings, dates, JSON, window functions, casts). Rewrite "
            f"the query without it; if it only reads, allow it by name: {FUNCTIONS_OPT_IN}."
        )


def _has_side_effects(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SIDE_EFFECT_FUNCTIONS or lowered.startswith(_SIDE_EFFECT_PREFIXES)


def split_statements(sql: str, dialect: str | None = None) -> list[str]:
    """The statements of a script, cut at its top-level semicolons (not those in strings).

    Comments-only pieces are dropped. Raises ValueError when the text cannot be tokenized
    (an unterminated string or quoted name).
    """
    tokens = tokenize(sql, dialect)
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


def read_only_violation(
    sql: str, dialect: str | None = None, *, allowed_functions: Iterable[str] = ()
) -> str | None:
    """Why `sql` may not run on a read-only connection, or None when it is one read.

    Args:
        sql: the text a model wrote.
        dialect: SQLAlchemy's dialect name ("sqlite", "postgresql", ...), which decides how
            names are resolved and the statement is parsed.
        allowed_functions: names of functions to accept besides the built-in reads ("name",
            or "schema.name" for a qualified call).
    """
    try:
        text = decode_unicode_escapes(sql, dialect)
        statements = split_statements(text, dialect)
    except UnreadableSql as exc:
        return str(exc)
    if not statements:
        return "There is no SQL statement to run."
    if len(statements) > 1:
        kinds = ", ".join(_first_word(statement, dialect) for statement in statements)
        return (
            f"It holds {len(statements)} statements ({kinds}); in read-only mode runpad runs "
            "exactly one statement per call. Send each query in its own call."
        )
    reason = _statement_violation(statements[0], dialect, _Allowed(dialect, allowed_functions))
    return None if reason is None else f"It is not a read-only query: {reason}"


def _first_word(statement: str, dialect: str | None) -> str:
    words = _words(_tokens(statement, dialect))
    return words[0] if words else "?"


def _statement_violation(statement: str, dialect: str | None, allowed: _Allowed) -> str | None:
    tokens = _tokens(statement, dialect)
    words = _words(tokens)
    if not words:
        return "the statement could not be read."
    if words[0] == "PRAGMA":
        return _pragma_violation(words)
    if words[0] == "EXPLAIN":
        return _explain_violation(statement, tokens, dialect, allowed)
    reason = _called_names_violation(tokens, dialect)
    if reason is not None:
        return reason
    try:
        tree = sqlglot.parse_one(statement, read=sqlglot_dialect(dialect))
    except (ParseError, TokenError):
        return _unparsed_violation(tokens, words, dialect, allowed)
    root = tree.this if isinstance(tree, exp.Subquery) else tree
    while isinstance(root, exp.Subquery | exp.Paren):
        root = root.this
    if not isinstance(root, exp.Select | exp.SetOperation | exp.Values):
        return f"{words[0]} statements are not queries; only SELECT (with WITH, UNION, VALUES) is."
    by_start = {token.start: index for index, token in enumerate(tokens)}
    for node in tree.walk():
        reason = _node_violation(node, tokens, by_start, dialect, allowed)
        if reason is not None:
            return reason
    return None


def _node_violation(
    node: Any, tokens: list[Token], by_start: dict[int, int], dialect: str | None, allowed: _Allowed
) -> str | None:
    if isinstance(node, exp.Into):
        return "SELECT ... INTO creates a table or writes a file."
    if isinstance(node, exp.Lock):
        return "FOR UPDATE / FOR SHARE takes row locks."
    if isinstance(node, _FORBIDDEN_NODES):
        kind = node.key.upper()
        return f"it contains {kind}, which changes the database or its session."
    if isinstance(node, exp.Operator):
        operator = str(node.args.get("operator", ""))
        schema = operator.rsplit(".", 1)[0].strip().strip('"').lower() if "." in operator else ""
        if schema not in ("", "pg_catalog"):
            return f"it calls the operator {operator} of schema {schema}, which may run anything."
        return None
    if isinstance(node, exp.Table) and dialect in ("postgresql", "redshift"):
        name = _written_name(node.this, tokens, by_start, dialect, call=False)
        catalog = name is not None and name.qualifiers in ((), ("pg_catalog",))
        if catalog and name is not None and name.last in _SECRET_CATALOGS:
            return (
                f"it reads {name}, a catalog of password hashes, credentials or server "
                "files' contents."
            )
        return None
    if isinstance(node, exp.Func):
        name = _written_name(node, tokens, by_start, dialect, call=True)
        if name is not None:
            return allowed.violation(name)
        if isinstance(node, exp.Anonymous):
            identifier = node.this
            quoted = isinstance(identifier, exp.Identifier) and identifier.quoted
            keeps_case = quoted and dialect in ("postgresql", "redshift")
            return allowed.violation(Name((node.name if keeps_case else node.name.lower(),)))
        if isinstance(node, _SYNTAX_FUNCTIONS):
            return None
        return (
            f"it uses {node.key.upper()}, which runpad does not know to be a pure read; "
            "rewrite the query without it."
        )
    return None


def _written_name(
    node: Any, tokens: list[Token], by_start: dict[int, int], dialect: str | None, *, call: bool
) -> Name | None:
    """The name as written where `node` starts (with its qualifiers), when sqlglot kept the
    position of the name's token; for a call, only if "(" follows it."""
    start = getattr(node, "meta", {}).get("start")
    index = by_start.get(start) if isinstance(start, int) else None
    if index is None:
        return None
    if call and not (index + 1 < len(tokens) and tokens[index + 1].token_type == TokenType.L_PAREN):
        return None
    return qualified_name_before(tokens, index, dialect)


def _called_names_violation(tokens: list[Token], dialect: str | None) -> str | None:
    """The second net: every name written before "(" (a call, whatever the parser makes of
    it) is looked up in the list of functions with side effects."""
    for index, token in enumerate(tokens[:-1]):
        if tokens[index + 1].token_type != TokenType.L_PAREN:
            continue
        if token.token_type.name.endswith("STRING") or token.token_type == TokenType.NUMBER:
            continue
        name = qualified_name_before(tokens, index, dialect)
        if _has_side_effects(name.last):
            return (
                f"it calls {name}(), a function that writes, takes locks, changes settings, "
                "runs SQL given as text or reaches outside the database."
            )
    return None


def _tokens(statement: str, dialect: str | None) -> list[Token]:
    try:
        return tokenize(statement, dialect)
    except UnreadableSql:
        return []


def _words(tokens: list[Token]) -> list[str]:
    """The statement's bare words and punctuation, upper-cased; no strings or quoted names."""
    words = []
    for token in tokens:
        kind = token.token_type
        if kind == TokenType.IDENTIFIER or kind.name.endswith("STRING"):
            continue
        words.append(token.text.upper())
    return words


def _explain_violation(
    statement: str, tokens: list[Token], dialect: str | None, allowed: _Allowed
) -> str | None:
    # sqlglot reads everything after EXPLAIN as one string token: read the rest on its own.
    rest = statement[tokens[0].end + 1 :]
    tokens = _tokens(rest, dialect)
    position = 0
    if tokens and tokens[0].token_type == TokenType.L_PAREN:
        depth, option_start = 0, True
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if token.token_type == TokenType.L_PAREN:
                depth += 1
            elif token.token_type == TokenType.R_PAREN:
                depth -= 1
                if depth == 0:
                    break
            elif token.token_type == TokenType.COMMA:
                option_start = True
            elif option_start:
                option = token.text.upper()
                if option in ("ANALYZE", "ANALYSE"):
                    return "EXPLAIN ANALYZE runs the statement it explains."
                if option not in _EXPLAIN_READ_OPTIONS:
                    return f"EXPLAIN option {option} is not one runpad knows to only read."
                option_start = False
    else:
        while position < len(tokens):
            word = tokens[position].text.upper()
            if word in ("ANALYZE", "ANALYSE"):
                return "EXPLAIN ANALYZE runs the statement it explains."
            if word in ("VERBOSE", "QUERY", "PLAN", "EXTENDED", "PARTITIONS"):
                position += 1
            elif (
                word == "FORMAT" and position + 2 < len(tokens) and tokens[position + 1].text == "="
            ):  # MySQL's EXPLAIN FORMAT = JSON
                position += 3
            else:
                break
    if position >= len(tokens):
        return "EXPLAIN needs a statement to explain."
    if tokens[position].text.upper() == "EXPLAIN":
        return "EXPLAIN of an EXPLAIN is not a query."
    reason = _statement_violation(rest[tokens[position].start :], dialect, allowed)
    return None if reason is None else f"EXPLAIN of a statement that is not a read: {reason}"


def _pragma_violation(words: list[str]) -> str | None:
    words = words[1:]
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


def _unparsed_violation(
    tokens: list[Token], words: list[str], dialect: str | None, allowed: _Allowed
) -> str | None:
    if words[0] not in _QUERY_START_WORDS:
        return f"{words[0]} statements are not queries; only SELECT (with WITH, UNION) is."
    for word in words:
        if word in _UNPARSED_WRITE_WORDS:
            return f"it contains {word}, which may change the database."
    for index, token in enumerate(tokens[:-1]):
        is_name = token.token_type in (TokenType.VAR, TokenType.IDENTIFIER)
        if is_name and tokens[index + 1].token_type == TokenType.L_PAREN:
            reason = allowed.violation(qualified_name_before(tokens, index, dialect))
            if reason is not None:
                return reason
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


def sqlite_read_only_guard(
    allowed_functions: Iterable[str] = (),
) -> Callable[[Any, Any], None]:
    """A SQLAlchemy "connect" listener that makes a SQLite connection refuse all but reads:
    `PRAGMA query_only` and an authorizer that allows reading, the PRAGMAs that read, and
    calls to the allowed functions (by the name SQLite resolved the call to)."""
    functions = read_functions("sqlite") | {name.lower() for name in allowed_functions}

    def authorize(
        action: int, arg1: str | None, arg2: str | None, database: str | None, trigger: str | None
    ) -> int:
        if action in _SQLITE_READ_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            return sqlite3.SQLITE_OK if (arg2 or "").lower() in functions else sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if name in _PRAGMAS_READ_WITH_ARGUMENT or (
                name in _PRAGMAS_READ_WITHOUT_ARGUMENT and arg2 is None
            ):
                return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    def guard(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA query_only = ON")
        finally:
            cursor.close()
        dbapi_connection.set_authorizer(authorize)

    return guard
