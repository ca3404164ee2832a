"""The functions a read-only SQL statement may call: names known to only compute a value.

An allow-list rather than a deny-list: a server has thousands of functions, extensions add
more, and one missed name that writes a file or signals a backend is enough. What is here
reads its arguments (and, for a few, the clock, the session's settings or the catalog) and
returns a value; nothing here writes, takes a lock, changes a setting, runs SQL given as text
or reaches the server's files, other servers or programs. A function that is not here is
refused by name; `SqlDatabase(allowed_functions=[...])` adds names the user knows to be
reads ("name" for an unqualified call, "schema.name" for a qualified one).
"""

from __future__ import annotations

__all__ = ["read_functions"]


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_AGGREGATES = _names(
    """
    avg count max min sum every bool_and bool_or bit_and bit_or bit_xor array_agg string_agg
    group_concat total stddev stddev_pop stddev_samp variance var_pop var_samp corr covar_pop
    covar_samp regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx
    regr_sxy regr_syy percentile_cont percentile_disc mode median any_value grouping
    """
)
_WINDOWS = _names(
    """
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value
    nth_value
    """
)
_MATHS = _names(
    """
    abs ceil ceiling floor round trunc truncate sign sqrt cbrt power pow exp ln log log10 log2
    mod div pi degrees radians sin cos tan cot asin acos atan atan2 sinh cosh tanh asinh acosh
    atanh greatest least random
    """
)
_STRINGS = _names(
    """
    length char_length character_length octet_length bit_length lower upper initcap trim btrim
    ltrim rtrim lpad rpad substr substring left right replace translate repeat reverse
    position strpos instr concat concat_ws format split_part ascii chr char md5 hex unhex
    regexp_replace regexp_substr regexp_like regexp_count regexp_instr soundex
    """
)
_DATES = _names(
    """
    now current_date current_time current_timestamp localtime localtimestamp date_trunc
    date_part extract date time datetime timestamp
    """
)
_CONDITIONALS = _names("coalesce nullif ifnull iif nvl cast")

_COMMON = _AGGREGATES | _WINDOWS | _MATHS | _STRINGS | _DATES | _CONDITIONALS

_POSTGRES = _names(
    """
    json_agg jsonb_agg json_object_agg jsonb_object_agg json_agg_strict jsonb_agg_strict
    json_object_agg_strict jsonb_object_agg_strict json_object_agg_unique
    jsonb_object_agg_unique range_agg range_intersect_agg xmlagg
    factorial gcd lcm min_scale scale trim_scale width_bucket random_normal erf erfc
    sind cosd tand cotd asind acosd atand atan2d
    overlay normalize parse_ident quote_ident quote_literal quote_nullable regexp_match
    regexp_matches regexp_split_to_array regexp_split_to_table starts_with string_to_array
    string_to_table to_ascii to_hex unistr convert convert_from convert_to encode decode
    get_bit get_byte set_bit set_byte bit_count sha224 sha256 sha384 sha512
    to_char to_date to_number to_timestamp
    age clock_timestamp date_add date_bin date_subtract isfinite justify_days justify_hours
    justify_interval make_date make_interval make_time make_timestamp make_timestamptz
    statement_timestamp timeofday transaction_timestamp timezone
    num_nulls num_nonnulls
    array_append array_cat array_dims array_fill array_length array_lower array_ndims
    array_position array_positions array_prepend array_remove array_replace array_sample
    array_shuffle array_to_string array_upper cardinality trim_array unnest generate_series
    generate_subscripts
    to_json to_jsonb array_to_json row_to_json json_build_array jsonb_build_array
    json_build_object jsonb_build_object json_object jsonb_object json_array_elements
    jsonb_array_elements json_array_elements_text jsonb_array_elements_text json_array_length
    jsonb_array_length json_each jsonb_each json_each_text jsonb_each_text json_extract_path
    jsonb_extract_path json_extract_path_text jsonb_extract_path_text json_object_keys
    jsonb_object_keys json_populate_record jsonb_populate_record json_populate_recordset
    jsonb_populate_recordset json_to_record jsonb_to_record json_to_recordset
    jsonb_to_recordset json_strip_nulls jsonb_strip_nulls jsonb_set jsonb_set_lax jsonb_insert
    jsonb_path_exists jsonb_path_match jsonb_path_query jsonb_path_query_array
    jsonb_path_query_first json_typeof jsonb_typeof jsonb_pretty json_scalar json_serialize
    json_array json_objectagg json_arrayagg json_exists json_query json_value
    to_tsvector to_tsquery plainto_tsquery phraseto_tsquery websearch_to_tsquery ts_rank
    ts_rank_cd ts_headline setweight numnode querytree tsvector_to_array array_to_tsvector
    isempty lower_inc upper_inc lower_inf upper_inf range_merge int4range int8range numrange
    tsrange tstzrange daterange
    current_database current_catalog current_schema current_schemas current_user
    current_role session_user user version current_setting pg_backend_pid pg_typeof
    format_type pg_size_pretty pg_size_bytes pg_relation_size pg_total_relation_size
    pg_table_size pg_indexes_size pg_database_size pg_column_size pg_get_viewdef
    pg_get_constraintdef pg_get_indexdef pg_get_expr pg_get_functiondef obj_description
    col_description has_table_privilege has_column_privilege has_schema_privilege
    has_database_privilege pg_has_role to_regclass to_regtype pg_sleep
    int2 int4 int8 smallint integer int bigint float4 float8 real numeric decimal text
    varchar bpchar name bool boolean timetz timestamptz interval json jsonb uuid bytea
    inet cidr money regclass regtype oid bit varbit
    """
)
_SQLITE = _names(
    """
    changes last_insert_rowid total_changes glob like likelihood likely unlikely printf quote
    randomblob zeroblob typeof unicode julianday strftime unixepoch timediff
    sqlite_version sqlite_source_id sqlite_compileoption_get sqlite_compileoption_used
    json jsonb json_array jsonb_array json_array_length json_error_position json_extract
    jsonb_extract json_insert jsonb_insert json_object jsonb_object json_patch jsonb_patch
    json_pretty json_remove jsonb_remove json_replace jsonb_replace json_set jsonb_set
    json_type json_valid json_quote json_group_array jsonb_group_array json_group_object
    jsonb_group_object json_each json_tree -> ->> regexp percentile percentile_cont
    percentile_disc string_agg if
    pragma_table_info pragma_table_xinfo pragma_table_list pragma_index_list
    pragma_index_info pragma_index_xinfo pragma_foreign_key_list pragma_database_list
    pragma_collation_list pragma_function_list pragma_module_list pragma_pragma_list
    """
)
_MYSQL = _names(
    """
    if date_format str_to_date datediff timestampdiff timestampadd date_add date_sub adddate
    subdate curdate curtime sysdate year month day dayofweek dayofmonth dayofyear week
    weekday quarter hour minute second last_day makedate from_unixtime unix_timestamp
    json_extract json_unquote json_object json_array json_length json_keys json_contains
    json_arrayagg json_objectagg locate lcase ucase mid field find_in_set format
    """
)

_BY_DIALECT = {
    "postgresql": _POSTGRES,
    "redshift": _POSTGRES,
    "sqlite": _SQLITE,
    "mysql": _MYSQL,
    "mariadb": _MYSQL,
}


def read_functions(dialect: str | None) -> frozenset[str]:
    """Names of the functions known to be pure reads in `dialect` (lower case)."""
    return _COMMON | _BY_DIALECT.get(dialect or "", frozenset())
