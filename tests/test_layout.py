"""The layout rule no import contract can see: every SQL statement lives in ``storage/``.

``engine/`` and ``console/`` reach the database only through the named query functions of
``storage/queries`` (and the other persistence modules); they hold no SQL text and never call the generic
``Database`` helpers (``execute``, ``one``, ``all``, ``scalar``, ``insert``, ``update``) themselves. This
test reads the source with :mod:`ast` (string constants only, docstrings left out) and names every file and
line that breaks the rule.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("engine", "console")

# Upper-case SQL as we write it; prose in messages is lower case.
SQL = re.compile(
    r"\bSELECT\s+(?:DISTINCT\s+)?[\w*(]"
    r"|\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b"
    r"|\bUPDATE\s+\w+\s+SET\b"
    r"|\bDELETE\s+FROM\b"
    r"|\bCREATE\s+(?:TEMP\s+|UNIQUE\s+)?(?:TABLE|INDEX|TRIGGER|VIEW)\b"
    r"|\bDROP\s+(?:TABLE|INDEX|TRIGGER|VIEW)\b"
    r"|\bALTER\s+TABLE\b"
    r"|\bPRAGMA\s+\w+"
    r"|\b(?:BEGIN(?:\s+IMMEDIATE)?|COMMIT|ROLLBACK)\s*$"
)
# The generic helpers of storage.db.Database (and of a raw sqlite3 connection or cursor).
DB_HELPERS = {"execute", "executemany", "executescript", "one", "all", "scalar", "insert", "update", "delete"}
RAW_CONNECTION = {"conn", "utils"}  # Database.conn (sqlite3, on any receiver), Database.utils (sqlite-utils)
DB_NAMES = re.compile(r"(?:^|_)(?:db|database|conn|connection|cursor|utils)$")


def _docstrings(tree: ast.AST) -> set[int]:
    """``id()`` of every docstring constant (module, class, function), which may describe SQL freely."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _receiver_name(node: ast.expr) -> str | None:
    """The last name of a call's receiver: ``db`` in ``ctx.db.one(...)``, ``conn`` in ``conn.execute``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def violations(source: str, rel: str) -> list[str]:
    """``rel:line: what`` for every SQL string constant and generic database helper call in ``source``."""
    tree = ast.parse(source, filename=rel)
    skip = _docstrings(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            match = SQL.search(node.value)
            if match:
                found.append(f"{rel}:{node.lineno}: SQL in a string ({match.group(0).strip()!r}…)")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in RAW_CONNECTION
            and (node.attr == "conn" or DB_NAMES.search(_receiver_name(node.value) or ""))
        ):
            found.append(
                f"{rel}:{node.lineno}: reaches the raw connection (.{node.attr}): use a storage function"
            )
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method = node.func.attr
            receiver = _receiver_name(node.func.value)
            if method in {"execute", "executemany", "executescript"} or (
                method in DB_HELPERS and receiver is not None and DB_NAMES.search(receiver)
            ):
                found.append(
                    f"{rel}:{node.lineno}: calls {receiver}.{method}(…): use a storage/queries function"
                )
    return found


def test_no_sql_outside_storage() -> None:
    files = sorted(p for top in CHECKED for p in (ROOT / top).rglob("*.py"))
    assert files, "no source files found: the test is looking in the wrong place"
    found = [v for p in files for v in violations(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))]
    assert not found, "SQL belongs in storage/ (storage/queries/<table group>.py):\n" + "\n".join(found)


def test_the_checker_sees_what_it_must() -> None:
    """The checker itself: each form of the rule is caught, docstrings and prose are not."""
    source = '''"""A docstring may say SELECT * FROM incidents."""
def f(db, ctx, cur):
    """UPDATE escalations SET x = 1 in a docstring is prose."""
    db.one("SELECT id FROM incidents WHERE id = ?", (1,))
    ctx.db.insert("users", {"id": 1})
    cur.execute(f"DELETE FROM {table} WHERE id = ?")
    x = "UPDATE escalations SET state = ?"
    y = "PRAGMA data_version"
    z = "INSERT OR IGNORE INTO outbox VALUES (?)"
    ok = {"a": 1}
    ok.update({"b": 2})
    message = "select a person, then update them"
    source.conn.backup(scratch)
    n = ctx.db.utils.table_names()
'''
    lines = violations(source, "engine/probe.py")
    numbers = sorted(int(v.split(":")[1]) for v in lines)
    assert numbers == [4, 4, 5, 6, 6, 7, 8, 9, 13, 14], lines
    assert all(v.startswith("engine/probe.py:") for v in lines)
