"""What both database classes (:class:`storage.db.Database` on SQLite, :class:`storage.postgres.PgDatabase`)
build the same way on top of their own ``execute`` and ``one``: a first-column read, a one-row insert and a
keyed update. Statements are written in SQLite's dialect with ``?`` placeholders; PostgreSQL's ``execute``
rewrites them (storage/dialect.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class StatementHelpers:
    """Mixed into both database classes; they provide ``execute(sql, params)`` (returning a cursor with
    ``rowcount``) and ``one(sql, params)`` (a row or None)."""

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        raise NotImplementedError

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        raise NotImplementedError

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = self.one(sql, params)
        return None if row is None else row[0]

    def insert(self, table: str, values: dict[str, Any]) -> None:
        """``INSERT INTO table (columns of values) VALUES (…)``: one row, column names from the keys."""
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", tuple(values.values()))

    def update(self, table: str, key: str, key_value: Any, values: dict[str, Any]) -> int:
        """``UPDATE table SET … WHERE key = key_value``; returns the rows changed (0 for no values)."""
        if not values:
            return 0
        sets = ", ".join(f"{c} = ?" for c in values)
        cur = self.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?", (*values.values(), key_value))
        return int(cur.rowcount)
