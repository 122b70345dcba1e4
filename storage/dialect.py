"""The few differences between SQLite's SQL and PostgreSQL's, in one place.

The statements in ``storage/`` are written once, in SQLite's dialect (``?`` and ``:name`` placeholders,
``INSERT OR IGNORE``, ``json_each``); on a PostgreSQL database :func:`to_postgres` rewrites each statement
once (the result is cached) before psycopg runs it, and :func:`ddl_to_postgres` rewrites the migrations'
DDL. What is translated, and nothing more:

* placeholders: ``?`` → ``%s``, ``:name`` → ``%(name)s`` (a literal ``%`` is doubled when parameters are
  bound);
* ``INSERT OR IGNORE INTO`` → ``INSERT INTO … ON CONFLICT DO NOTHING`` (before any ``RETURNING``);
* ``SELECT value FROM json_each(?)`` (a JSON list bound as one parameter) → ``json_array_elements_text``;
  ``json_each(col, '$.key') alias`` and ``json_extract(alias.value, '$.a.b')`` → ``json_array_elements``
  and the ``->``/``->>`` operators;
* SQLite's two-argument scalar ``max(a, b)``/``min(a, b)`` → ``GREATEST``/``LEAST`` (only where a
  statement says so through :data:`SCALAR_MAX`, since one-argument ``max`` is the aggregate in both);
* ``IS ?``/``IS NOT ?`` (SQLite's null-safe comparison with a parameter) → ``IS [NOT] DISTINCT FROM``;
* the unary ``+`` SQLite uses to keep an index out of a plan (``+i.org_id``) is dropped;
* ``rowid`` (insertion order as a tie-break) is a real column on PostgreSQL for the tables that use it
  (:data:`ROWID_TABLES`, added by :func:`ddl_to_postgres`).

Statements that are already portable are passed through unchanged; SQL that cannot be translated
mechanically is written portably in the query module itself (``CASE WHEN`` instead of summing a
comparison, for instance). Everything else (``ON CONFLICT … DO UPDATE``, ``RETURNING``, partial indexes,
``coalesce``) is the same in both.
"""

from __future__ import annotations

import re
from functools import lru_cache

ROWID_TABLES = frozenset(
    {"contact_methods", "notification_rules", "status_history", "incident_updates", "alerts", "alert_groups"}
)
"""Tables whose queries order by ``rowid`` (insertion order after a timestamp): PostgreSQL has no rowid,
so these get a ``rowid`` identity column there."""

_STRING = re.compile(r"'(?:[^']|'')*'")
_PLACEHOLDER = re.compile(r"\?|(?<![:\w]):([a-z_][a-z0-9_]*)\b")
_OR_IGNORE = re.compile(r"\bINSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_JSON_EACH = re.compile(r"\(SELECT value FROM json_each\(\?\)\)", re.IGNORECASE)
_UNARY_PLUS = re.compile(r"(?<=[\s(=,])\+(?=[a-z_])")
_IS_NOT = re.compile(r"\bIS\s+NOT\s+\?", re.IGNORECASE)
_IS = re.compile(r"\bIS\s+\?", re.IGNORECASE)
_SCALAR = re.compile(r"\b(max|min)\((?=[^()]*,)", re.IGNORECASE)
_JSON_EACH_PATH = re.compile(r"\bjson_each\((\w+(?:\.\w+)?), '\$\.(\w+)'\) (\w+)", re.IGNORECASE)
_JSON_EXTRACT_VALUE = re.compile(r"\bjson_extract\((\w+)\.value, '\$((?:\.\w+)+)'\)", re.IGNORECASE)


def _json_path(match: re.Match[str]) -> str:
    """``json_extract(l.value, '$.a.b')`` → ``(l.value -> 'a') ->> 'b'`` (text, as SQLite returns)."""
    keys = match.group(2).lstrip(".").split(".")
    expr = f"{match.group(1)}.value"
    for key in keys[:-1]:
        expr = f"({expr} -> '{key}')"
    return f"{expr} ->> '{keys[-1]}'"


def _scalar_minmax(sql: str) -> str:
    """``max(a, b)`` (two arguments, no nested parentheses) → ``GREATEST(a, b)``; same for ``min``."""
    return _SCALAR.sub(lambda m: "GREATEST(" if m.group(1).lower() == "max" else "LEAST(", sql)


@lru_cache(maxsize=4096)
def to_postgres(sql: str, bound: bool) -> str:
    """The PostgreSQL text of the SQLite statement ``sql``; ``bound``: parameters will be bound (so
    placeholders are translated and a literal ``%`` doubled). Cached: each statement is rewritten once."""
    sql = _JSON_EACH_PATH.sub(
        lambda m: f"json_array_elements({m.group(1)}::json -> '{m.group(2)}') AS {m.group(3)}(value)", sql
    )
    sql = _JSON_EXTRACT_VALUE.sub(_json_path, sql)
    sql = _JSON_EACH.sub("(SELECT value FROM json_array_elements_text(?::json) AS value)", sql)
    ignore = bool(_OR_IGNORE.search(sql))
    if ignore:
        sql = _OR_IGNORE.sub("INSERT INTO", sql)
        returning = _RETURNING.search(sql)
        if returning:
            sql = sql[: returning.start()] + "ON CONFLICT DO NOTHING " + sql[returning.start() :]
        else:
            sql = sql.rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"

    def code(part: str) -> str:
        part = _UNARY_PLUS.sub("", part)
        part = _IS_NOT.sub("IS DISTINCT FROM ?", part)
        part = _IS.sub("IS NOT DISTINCT FROM ?", part)
        part = _scalar_minmax(part)
        if bound:
            part = part.replace("%", "%%")
            part = _PLACEHOLDER.sub(lambda m: "%s" if m.group(0) == "?" else f"%({m.group(1)})s", part)
        return part

    out: list[str] = []
    pos = 0
    for m in _STRING.finditer(sql):
        out.append(code(sql[pos : m.start()]))
        out.append(m.group(0).replace("%", "%%") if bound else m.group(0))
        pos = m.end()
    out.append(code(sql[pos:]))
    return "".join(out)


_AUTOINCREMENT = re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b", re.IGNORECASE)
_INTEGER = re.compile(r"\bINTEGER\b")
_REAL = re.compile(r"\bREAL\b")
_CREATE_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+(\w+)\s*\(", re.IGNORECASE)
_TRIGGER = re.compile(
    r"CREATE\s+TRIGGER\s+(\w+)\s+BEFORE\s+(UPDATE|DELETE)\s+ON\s+(\w+)\s+"
    r"BEGIN\s+SELECT\s+RAISE\(ABORT,\s*'([^']*)'\);\s*END",
    re.IGNORECASE,
)


def ddl_to_postgres(sql: str) -> str:
    """The PostgreSQL text of one migration statement written for SQLite.

    ``INTEGER PRIMARY KEY AUTOINCREMENT`` → a ``BIGINT`` identity key, ``INTEGER`` → ``BIGINT`` (epoch
    milliseconds do not fit 32 bits), ``REAL`` → ``DOUBLE PRECISION``, a ``RAISE(ABORT, …)`` trigger → a
    PL/pgSQL function and its trigger, and a ``rowid`` identity column for :data:`ROWID_TABLES`.
    """
    trigger = _TRIGGER.search(sql)
    if trigger:
        name, event, table, message = trigger.groups()
        return (
            f"CREATE FUNCTION {name}_fn() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$BEGIN RAISE EXCEPTION '{message}'; END$$; "
            f"CREATE TRIGGER {name} BEFORE {event.upper()} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}_fn()"
        )
    sql = _AUTOINCREMENT.sub("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", sql)
    sql = _INTEGER.sub("BIGINT", sql)
    sql = _REAL.sub("DOUBLE PRECISION", sql)
    created = _CREATE_TABLE.match(sql)
    if created and created.group(1) in ROWID_TABLES:
        body = sql.rstrip()
        assert body.endswith(")")
        sql = (
            body[:-1].rstrip() + ",\n                rowid BIGINT GENERATED ALWAYS AS IDENTITY\n            )"
        )
    return sql
