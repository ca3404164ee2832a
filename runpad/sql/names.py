"""Names as the database server resolves them, for the statement check.

A check that compares names must read them the way the server will: PostgreSQL folds an
unquoted name to lower case (ASCII letters only) and cuts it to 63 bytes, keeps a quoted one
as written, and decodes `U&"..."` identifiers (`\\005F`, `\\+00005F`, or another escape
character given with `UESCAPE`); SQLite, MySQL and most others compare function names without
regard to case, quoted or not. sqlglot's PostgreSQL tokenizer reads `U&"pg\\005Fread"` as the
column `U`, a bitwise AND and a quoted name, so `decode_unicode_escapes` rewrites those
spellings into plain quoted names before anything else reads the text.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import Token, TokenType
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import TokenError

__all__ = [
    "SQLGLOT_DIALECTS",
    "Name",
    "UnreadableSql",
    "decode_unicode_escapes",
    "is_name_token",
    "qualified_name_before",
    "resolve_token",
    "sqlglot_dialect",
    "tokenize",
]

SQLGLOT_DIALECTS = {
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

# Dialects whose server keeps the case of a quoted name (and folds unquoted ones to lower
# case); the others match function names case-insensitively however they are spelled.
_CASE_KEEPING_QUOTES = frozenset({"postgresql", "redshift"})
_POSTGRES_NAME_BYTES = 63  # NAMEDATALEN - 1: longer names are cut, with only a NOTICE
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class UnreadableSql(ValueError):
    """The text cannot be tokenized, or holds an escape the server would refuse."""


@dataclass(frozen=True)
class Name:
    """A possibly qualified name, each part as the server resolves it."""

    parts: tuple[str, ...]

    @property
    def last(self) -> str:
        return self.parts[-1]

    @property
    def qualifiers(self) -> tuple[str, ...]:
        return self.parts[:-1]

    def __str__(self) -> str:
        return ".".join(self.parts)


def sqlglot_dialect(dialect: str | None) -> str | None:
    return SQLGLOT_DIALECTS.get(dialect or "")


def tokenize(sql: str, dialect: str | None) -> list[Token]:
    try:
        return list(Dialect.get_or_raise(sqlglot_dialect(dialect)).tokenize(sql))
    except TokenError as exc:
        raise UnreadableSql(f"The SQL could not be read: {exc}") from exc


def resolve_token(token: Token, dialect: str | None) -> str:
    """The name a word or quoted-name token stands for on the server."""
    quoted = token.token_type == TokenType.IDENTIFIER
    text = token.text
    if dialect in _CASE_KEEPING_QUOTES:
        if not quoted:
            text = text.translate(_ASCII_LOWER)
        encoded = text.encode()
        if len(encoded) > _POSTGRES_NAME_BYTES:
            text = encoded[:_POSTGRES_NAME_BYTES].decode(errors="ignore")
        return text
    return text.translate(_ASCII_LOWER)


def is_name_token(token: Token) -> bool:
    return token.token_type == TokenType.IDENTIFIER or (
        token.text.replace("_", "a").replace("$", "a").isalnum()
        and not token.token_type.name.endswith("STRING")
        and token.token_type != TokenType.NUMBER
    )


def qualified_name_before(tokens: list[Token], index: int, dialect: str | None) -> Name:
    """The name ending at `tokens[index]`, with the `schema.` qualifiers written before it."""
    parts = [resolve_token(tokens[index], dialect)]
    position = index - 1
    while (
        position >= 1
        and tokens[position].token_type == TokenType.DOT
        and is_name_token(tokens[position - 1])
    ):
        parts.insert(0, resolve_token(tokens[position - 1], dialect))
        position -= 2
    return Name(tuple(parts))


def decode_unicode_escapes(sql: str, dialect: str | None) -> str:
    """`sql` with each PostgreSQL `U&"..."` / `U&'...'` (and its `UESCAPE 'c'`) rewritten as
    the plain quoted name or string the server reads; other dialects' text is returned as is.

    Raises UnreadableSql for text that cannot be tokenized or an escape the server refuses.
    """
    if dialect not in ("postgresql", "redshift"):
        return sql
    tokens = tokenize(sql, dialect)
    pieces: list[str] = []
    done = 0
    index = 0
    while index < len(tokens):
        token = tokens[index]
        rewrite = _unicode_literal(sql, tokens, index)
        if rewrite is None:
            index += 1
            continue
        end, consumed, quote, body, escape = rewrite
        try:
            if index + consumed + 1 < len(tokens) and _is_uescape(tokens, index + consumed):
                escape = _uescape_character(tokens[index + consumed + 1])
                end = tokens[index + consumed + 1].end
                consumed += 2
            decoded = _decode(body.replace(quote * 2, quote), escape)
        except UnreadableSql as exc:
            raise UnreadableSql(f"The SQL could not be read: {exc}.") from exc
        pieces.append(sql[done : token.start])
        pieces.append(quote + decoded.replace(quote, quote * 2) + quote)
        done = end + 1
        index += consumed
    pieces.append(sql[done:])
    return "".join(pieces)


def _unicode_literal(
    sql: str, tokens: list[Token], index: int
) -> tuple[int, int, str, str, str] | None:
    """(end, tokens used, quote, raw body, escape) when a `U&` literal starts at `index`."""
    token = tokens[index]
    if token.token_type == TokenType.UNICODE_STRING:  # sqlglot reads U&'...' as one token
        raw = sql[token.start : token.end + 1]
        return token.end, 1, "'", raw[3:-1], "\\"
    if token.text.upper() != "U" or index + 2 >= len(tokens):
        return None
    ampersand, quoted = tokens[index + 1], tokens[index + 2]
    adjacent = token.end + 1 == ampersand.start and ampersand.end + 1 == quoted.start
    if not (adjacent and ampersand.text == "&" and quoted.token_type == TokenType.IDENTIFIER):
        return None
    raw = sql[quoted.start : quoted.end + 1]
    return quoted.end, 3, '"', raw[1:-1], "\\"


def _is_uescape(tokens: list[Token], index: int) -> bool:
    return (
        tokens[index].text.upper() == "UESCAPE" and tokens[index + 1].token_type == TokenType.STRING
    )


def _uescape_character(token: Token) -> str:
    escape = token.text
    if len(escape) != 1 or escape in "0123456789abcdefABCDEF+'\" \t\n\r":
        raise UnreadableSql(f"invalid Unicode escape character {escape!r} in UESCAPE")
    return escape


def _decode(body: str, escape: str) -> str:
    out: list[str] = []
    index = 0
    pending_high: int | None = None
    while index < len(body):
        char = body[index]
        if char != escape:
            if pending_high is not None:
                raise UnreadableSql("invalid Unicode surrogate pair in a U& literal")
            out.append(char)
            index += 1
            continue
        if body[index + 1 : index + 2] == escape:
            out.append(escape)
            index += 2
            continue
        if body[index + 1 : index + 2] == "+":
            digits, index = body[index + 2 : index + 8], index + 8
        else:
            digits, index = body[index + 1 : index + 5], index + 5
        if len(digits) not in (4, 6) or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise UnreadableSql("invalid Unicode escape in a U& literal")
        code = int(digits, 16)
        if 0xD800 <= code <= 0xDBFF:
            pending_high = code
            continue
        if 0xDC00 <= code <= 0xDFFF:
            if pending_high is None:
                raise UnreadableSql("invalid Unicode surrogate pair in a U& literal")
            code = 0x10000 + ((pending_high - 0xD800) << 10) + (code - 0xDC00)
            pending_high = None
        if code == 0 or code > 0x10FFFF:
            raise UnreadableSql("invalid Unicode escape value in a U& literal")
        out.append(chr(code))
    if pending_high is not None:
        raise UnreadableSql("invalid Unicode surrogate pair in a U& literal")
    return "".join(out)
