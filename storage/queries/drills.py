"""Drills: a rehearsal runs the real engine on a scratch copy of the database, never on the file itself
(:mod:`engine.service.drills`)."""

from __future__ import annotations

from storage.db import Database


def scratch_copy(source: Database) -> Database:
    """An in-memory copy of ``source`` (SQLite's online backup, under ``source``'s lock), foreign keys on,
    migrations not re-run. The caller closes it. A PostgreSQL ``source`` is copied table by table from
    one snapshot into a migrated in-memory SQLite database (:func:`_copy_rows`): drills always run on
    SQLite."""
    if source.dialect == "postgresql":
        return _copy_rows(source)
    scratch = Database(":memory:", migrate=False)
    with source.lock:
        source.conn.backup(scratch.conn)
    scratch.execute("PRAGMA foreign_keys=ON")
    return scratch


def disarm_copy(db: Database) -> None:
    """Make a scratch copy safe to drill on: no escalation of the copy is armed, no page queued before
    the drill can be delivered from it (``pending``/``sending`` rows go), and no clock is recorded (the
    copy runs on the drill's own clock), no engine timer of the copy fires (other incidents' rule steps,
    shift reminders, heartbeats: ``timers`` rows go), and no notice queued before it goes out (``cancelled`` on the copy).
    Call inside the copy's write transaction."""
    db.execute("UPDATE escalations SET due_at_ms = NULL, due_kind = NULL")
    db.execute("DELETE FROM timers")
    db.execute("UPDATE notices SET status = 'cancelled' WHERE status IN ('pending', 'sending')")
    db.execute("DELETE FROM outbox WHERE status IN ('pending', 'sending')")
    db.execute("DELETE FROM clock")


def _copy_rows(source: Database) -> Database:
    scratch = Database(":memory:")
    scratch.execute("PRAGMA foreign_keys=OFF")
    with source.read():
        for table in scratch.table_names():
            if table.startswith(("_", "sqlite_")):
                continue
            columns = [r[1] for r in scratch.all(f"PRAGMA table_info({table})")]
            rows = source.all(f"SELECT {', '.join(columns)} FROM {table}")
            if rows:
                marks = ", ".join("?" for _ in columns)
                scratch.executemany(
                    f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                    [tuple(r) for r in rows],
                )
    scratch.execute("PRAGMA foreign_keys=ON")
    return scratch
