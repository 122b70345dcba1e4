from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from engine.service import Ctx
from storage.db import DatabaseError, open_db
from storage.migrations import migrations, schema_version


def test_pragmas(db_path: Path) -> None:
    db = open_db(db_path)
    assert db.scalar("PRAGMA journal_mode") == "wal"
    assert db.scalar("PRAGMA foreign_keys") == 1
    assert db.scalar("PRAGMA busy_timeout") >= 5000


def test_not_a_database_is_refused_cleanly(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello, this is not sqlite " * 100)
    with pytest.raises(DatabaseError) as err:
        open_db(bogus)
    assert "not an oncall database" in err.value.message
    assert bogus.read_text().startswith("hello")


def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE something (x)")
    conn.commit()
    conn.close()
    with pytest.raises(DatabaseError) as err:
        open_db(other)
    assert "not an oncall database" in err.value.message


def test_newer_database_is_refused_untouched(db_path: Path) -> None:
    db = open_db(db_path)
    db.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('oncall', '9999_future', 'x')"
    )
    db.close()
    before = db_path.read_bytes()
    with pytest.raises(DatabaseError) as err:
        open_db(db_path)
    assert "newer version" in err.value.message
    assert db_path.read_bytes() == before


def test_migrations_are_recorded_and_idempotent(db_path: Path) -> None:
    open_db(db_path).close()
    db = open_db(db_path)
    assert schema_version(db) == [m.name for m in migrations()._migrations]


def test_migrates_an_older_schema_keeping_data(db_path: Path) -> None:
    names = [m.name for m in migrations()._migrations]
    assert len(names) >= 2, "there must be a later migration to upgrade to"
    db = open_db(db_path, migrate=False)
    with db.write():
        migrations().apply(db.utils, stop_before=names[1])
    db.execute("INSERT INTO orgs (id, name, created_at) VALUES ('org_1', 'Old', '2026-01-01T00:00:00.000Z')")
    db.close()
    db = open_db(db_path)
    assert schema_version(db) == names
    assert db.scalar("SELECT name FROM orgs WHERE id = 'org_1'") == "Old"


def test_timeline_is_append_only(ctx) -> None:
    from storage import timeline

    ctx.db.execute(
        "INSERT INTO incidents (id, org_id, seq, title, severity, status, created_at, updated_at) "
        "VALUES ('inc_1', ?, 1, 't', 'low', 'investigating', 'x', 'x')",
        (ctx.org_id,),
    )
    timeline.record(ctx.db, "inc_1", ctx.now(), "incident_created")
    with pytest.raises(sqlite3.IntegrityError):
        ctx.db.execute("UPDATE timeline SET kind = 'x'")
    with pytest.raises(sqlite3.IntegrityError):
        ctx.db.execute("DELETE FROM timeline")


def test_concurrent_writers_never_see_locked(db_path: Path) -> None:
    """Several connections doing read-then-write transactions at once: BEGIN IMMEDIATE queues them."""
    open_db(db_path).close()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        db = open_db(db_path)
        try:
            for i in range(100):
                with db.write():
                    count = db.scalar("SELECT count(*) FROM orgs")
                    db.execute(
                        "INSERT INTO orgs (id, name, created_at) VALUES (?, ?, 'x')",
                        (f"o{n}_{i}", f"{n}-{i}-{count}"),
                    )
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert open_db(db_path).scalar("SELECT count(*) FROM orgs") == 400


def test_the_unused_sync_lease_table_is_dropped_on_upgrade(db_path: Path) -> None:
    names = [m.name for m in migrations()._migrations]
    db = open_db(db_path, migrate=False)
    with db.write():
        migrations().apply(db.utils, stop_before="0008_drop_sync_lease")
    assert "sync_lease" in db.utils.table_names()
    db.close()
    db = open_db(db_path)
    assert schema_version(db) == names
    assert "sync_lease" not in db.utils.table_names()
    db.close()
    fresh = open_db(db_path.with_name("fresh.db"))
    assert "sync_lease" not in fresh.utils.table_names()
    fresh.close()


def test_a_nested_write_is_a_savepoint(db_path: Path) -> None:
    """A failed inner ``write()`` undoes only its own rows; the outer transaction commits the rest."""
    db = open_db(db_path)
    with db.write():
        db.execute(
            "INSERT INTO orgs (id, name, created_at) VALUES ('org_a', 'A', '2026-01-01T00:00:00.000Z')"
        )
        with pytest.raises(RuntimeError), db.write():
            db.execute(
                "INSERT INTO orgs (id, name, created_at) VALUES ('org_b', 'B', '2026-01-01T00:00:00.000Z')"
            )
            raise RuntimeError("inner fails")
        with db.write():
            db.execute(
                "INSERT INTO orgs (id, name, created_at) VALUES ('org_c', 'C', '2026-01-01T00:00:00.000Z')"
            )
    db.close()
    again = open_db(db_path)
    assert [r[0] for r in again.all("SELECT id FROM orgs ORDER BY id")] == ["org_a", "org_c"]


def test_migration_0015_stores_each_policy_snapshot_once_and_keeps_every_escalation_readable(
    db_path: Path,
) -> None:
    """A file from before 0015: its escalations' snapshots move to ``policy_snapshots`` (one row per
    content), each escalation still reads its own snapshot, and the old column is gone."""
    import sqlite_utils

    from storage.queries import escalations

    old = sqlite_utils.Database(db_path)
    migrations().apply(old, stop_before="0015_history_indexes")
    now = "2026-04-07T10:00:00.000Z"
    old.execute("INSERT INTO orgs (id, name, created_at) VALUES ('org_1', 'Acme', ?)", (now,))
    snapshots = {"inc_1": '{"id":"pol_a","layers":[]}', "inc_2": '{"id":"pol_a","layers":[]}'}
    snapshots["inc_3"] = '{"id":"pol_b","layers":[{"id":"lay_1"}]}'
    for n, (iid, snap) in enumerate(snapshots.items(), start=1):
        old.execute(
            "INSERT INTO incidents (id, org_id, seq, title, severity, status, created_at, updated_at) "
            "VALUES (?, 'org_1', ?, 't', 'high', 'resolved', ?, ?)",
            (iid, n, now, now),
        )
        old.execute(
            "INSERT INTO escalations (incident_id, org_id, policy_id, policy_snapshot, policy_hash, state, "
            "started_at, updated_at) VALUES (?, 'org_1', 'pol', ?, ?, 'stopped', ?, ?)",
            (iid, snap, f"fp:{snap}", now, now),
        )
    old.conn.commit()
    old.close()

    db = open_db(db_path)
    assert "0015_history_indexes" in schema_version(db)
    assert db.scalar("SELECT count(*) FROM policy_snapshots") == 2
    assert not {"policy_snapshot", "policy_hash"} & {c[1] for c in db.all("PRAGMA table_info(escalations)")}
    for iid, snap in snapshots.items():
        assert escalations.policy_snapshot(db, iid) == snap
        row = escalations.escalation_row(db, iid)
        assert row is not None and (row["policy_snapshot"], row["policy_hash"]) == (snap, f"fp:{snap}")
    db.close()


def test_escalations_on_one_policy_share_its_snapshot(ctx: Ctx) -> None:
    """Every escalation reads its own snapshot, but one stored row serves all that started on the same
    policy content; an edited policy's next escalation stores a second one."""
    from engine.service import incidents, policies
    from storage.queries import escalations

    pol = policies.create_policy(ctx, {"name": "Primary"})
    layer = {
        "position": 1,
        "ackTimeoutMinutes": 5,
        "target": {"type": "users", "userIds": [ctx.actor_user_id]},
    }
    policies.add_layer(ctx, pol["id"], layer)
    body = {"title": "t", "severity": "high", "escalationPolicyId": pol["id"]}
    first, second = (incidents.create_incident(ctx, body)["id"] for _ in range(2))
    incidents.resolve_incident(ctx, first)
    assert ctx.db.scalar("SELECT count(*) FROM policy_snapshots") == 1
    policies.add_layer(ctx, pol["id"], {**layer, "position": 2})
    third = incidents.create_incident(ctx, body)["id"]
    assert ctx.db.scalar("SELECT count(*) FROM policy_snapshots") == 2
    layers = [
        len(json.loads(escalations.policy_snapshot(ctx.db, i) or "{}")["layers"])
        for i in (first, second, third)
    ]
    assert layers == [1, 1, 2]
    assert incidents.get_incident(ctx, first)["escalation"]["layerCount"] == 1
