"""Versioned schema migrations, applied on open: through sqlite-utils' ``Migrations`` on SQLite, and from
the same functions on PostgreSQL (each statement rewritten by :func:`storage.dialect.ddl_to_postgres`; the
applied ones recorded in ``_oncall_migrations``).

Opening a database that is up to date (every open but the first after an upgrade) reads the applied names
with one query and imports nothing more: sqlite-utils (tens of milliseconds to import) loads only when a
migration is pending, so a command such as ``oncall ack 1`` does not pay for it (issue 17).

Append new migrations at the end; never edit one that has shipped. A database that records a migration this
version does not know was written by a newer oncall: it is refused and left untouched.

Conventions: timestamps are ISO 8601 UTC text with milliseconds and ``Z`` (they sort as text); engine due
times are integer epoch milliseconds (``*_ms``) for cheap comparisons; lists are JSON text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from storage.errors import DatabaseError

if TYPE_CHECKING:
    import sqlite_utils
    from sqlite_utils.migrations import Migrations


class Database(Protocol):
    """What migrating needs of :class:`storage.db.Database` or :class:`storage.postgres.PgDatabase`
    (which import this module to migrate on open)."""

    path: str
    dialect: str

    def write(self) -> AbstractContextManager[object]: ...

    def execute(self, sql: str, params: Any = ()) -> Any: ...

    def all(self, sql: str, params: Any = ()) -> list[Any]: ...

    def table_names(self) -> list[str]: ...


class _PgSchema:
    """What a migration function is handed on PostgreSQL: ``execute`` rewrites SQLite's DDL
    (:func:`storage.dialect.ddl_to_postgres`); ``dialect`` lets the rare migration that must differ ask."""

    dialect = "postgresql"

    def __init__(self, database: Database) -> None:
        self._db = database

    def execute(self, sql: str, params: Any = ()) -> Any:
        if params:
            return self._db.execute(sql, params)
        from storage.dialect import ddl_to_postgres  # its patterns compile for PostgreSQL only

        return self._db.execute(ddl_to_postgres(sql))


def _dialect(db: Any) -> str:
    return getattr(db, "dialect", "sqlite")


MIGRATION_SET = "oncall"
"""The ``migration_set`` of our rows in sqlite-utils' ``_sqlite_migrations`` table."""

_STEPS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = []


def _migration(
    name: str,
) -> Callable[[Callable[[sqlite_utils.Database], None]], Callable[[sqlite_utils.Database], None]]:
    """Register the decorated function as the migration ``name`` (in the order of this file)."""

    def add(fn: Callable[[sqlite_utils.Database], None]) -> Callable[[sqlite_utils.Database], None]:
        _STEPS.append((name, fn))
        return fn

    return add


def migration_names() -> list[str]:
    """Every migration this version knows, oldest first."""
    return [name for name, _ in _STEPS]


@cache
def migrations() -> Migrations:
    """sqlite-utils' ``Migrations`` holding every step (sqlite-utils imported now, on first use)."""
    from sqlite_utils.migrations import Migrations

    steps = Migrations(MIGRATION_SET)
    for name, fn in _STEPS:
        steps(name=name)(fn)
    return steps


def _run(db: sqlite_utils.Database | _PgSchema, statements: list[str]) -> None:
    for stmt in statements:
        db.execute(stmt)


@_migration("0001_initial")
def m0001_initial(db: sqlite_utils.Database | _PgSchema) -> None:
    _run(
        db,
        [
            """CREATE TABLE orgs (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE users (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL REFERENCES orgs(id),
                email TEXT NOT NULL,
                first_name TEXT,
                last_name TEXT,
                role TEXT NOT NULL CHECK (role IN ('org:admin', 'org:member')),
                image_url TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                removed_at TEXT,
                origin TEXT NOT NULL DEFAULT 'local',
                remote_id TEXT
            )""",
            "CREATE UNIQUE INDEX users_org_email ON users(org_id, email) WHERE removed_at IS NULL",
            """CREATE TABLE invitations (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL REFERENCES orgs(id),
                email_address TEXT NOT NULL,
                role TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending',
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL REFERENCES orgs(id),
                user_id TEXT REFERENCES users(id),
                name TEXT,
                key_hash TEXT NOT NULL UNIQUE,
                last4 TEXT NOT NULL,
                created_at TEXT NOT NULL,
                revoked_at TEXT
            )""",
            """CREATE TABLE schedules (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL REFERENCES orgs(id),
                name TEXT NOT NULL,
                description TEXT,
                timezone TEXT NOT NULL,
                created_by TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                origin TEXT NOT NULL DEFAULT 'local',
                remote_id TEXT,
                UNIQUE (org_id, name)
            )""",
            """CREATE TABLE rotation_layers (
                id TEXT PRIMARY KEY,
                schedule_id TEXT NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
                org_id TEXT NOT NULL,
                name TEXT NOT NULL,
                position INTEGER NOT NULL,
                rotation_type TEXT NOT NULL,
                rotation_length_days INTEGER NOT NULL,
                handoff_time TEXT NOT NULL,
                effective_from TEXT NOT NULL,
                effective_until TEXT,
                participant_ids TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                origin TEXT NOT NULL DEFAULT 'local',
                remote_id TEXT,
                UNIQUE (schedule_id, name)
            )""",
            """CREATE TABLE overrides (
                id TEXT PRIMARY KEY,
                schedule_id TEXT NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
                org_id TEXT NOT NULL,
                user_id TEXT NOT NULL REFERENCES users(id),
                start_at TEXT NOT NULL,
                end_at TEXT NOT NULL,
                note TEXT,
                created_by TEXT,
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE policies (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL REFERENCES orgs(id),
                name TEXT NOT NULL,
                description TEXT,
                repeat_count INTEGER NOT NULL DEFAULT 0,
                repage_after_minutes INTEGER,
                created_by TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                origin TEXT NOT NULL DEFAULT 'local',
                remote_id TEXT,
                UNIQUE (org_id, name)
            )""",
            """CREATE TABLE escalation_layers (
                id TEXT PRIMARY KEY,
                policy_id TEXT NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
                org_id TEXT NOT NULL,
                position INTEGER NOT NULL,
                ack_timeout_minutes INTEGER NOT NULL,
                target_type TEXT NOT NULL CHECK (target_type IN ('schedule', 'users')),
                schedule_id TEXT REFERENCES schedules(id),
                user_ids TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                origin TEXT NOT NULL DEFAULT 'local',
                remote_id TEXT
            )""",
            "CREATE INDEX escalation_layers_policy ON escalation_layers(policy_id, position)",
            """CREATE TABLE incidents (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL REFERENCES orgs(id),
                seq INTEGER NOT NULL,
                title TEXT NOT NULL,
                description TEXT,
                severity TEXT NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low')),
                status TEXT NOT NULL
                    CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
                owner_id TEXT,
                owner_schedule_id TEXT,
                escalation_policy_id TEXT,
                created_by TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                acknowledged_at TEXT,
                acknowledged_by TEXT,
                resolved_at TEXT,
                is_drill INTEGER NOT NULL DEFAULT 0,
                origin TEXT NOT NULL DEFAULT 'local',
                remote_id TEXT,
                UNIQUE (org_id, seq)
            )""",
            "CREATE INDEX incidents_org_created ON incidents(org_id, created_at DESC, id DESC)",
            "CREATE INDEX incidents_org_status ON incidents(org_id, status)",
            """CREATE TABLE status_history (
                id TEXT PRIMARY KEY,
                incident_id TEXT NOT NULL REFERENCES incidents(id),
                status TEXT NOT NULL,
                changed_at TEXT NOT NULL,
                changed_by TEXT,
                resolution_note TEXT
            )""",
            "CREATE INDEX status_history_incident ON status_history(incident_id, changed_at)",
            """CREATE TABLE incident_updates (
                id TEXT PRIMARY KEY,
                incident_id TEXT NOT NULL REFERENCES incidents(id),
                body TEXT,
                status_change TEXT,
                visibility TEXT NOT NULL CHECK (visibility IN ('internal', 'public')),
                posted_by TEXT,
                posted_at TEXT NOT NULL,
                redacted_at TEXT,
                redacted_by TEXT
            )""",
            "CREATE INDEX incident_updates_incident ON incident_updates(incident_id, posted_at)",
            # The timeline is append-only: triggers refuse any change to a written row.
            """CREATE TABLE timeline (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                incident_id TEXT NOT NULL REFERENCES incidents(id),
                at TEXT NOT NULL,
                kind TEXT NOT NULL,
                actor TEXT,
                data TEXT NOT NULL DEFAULT '{}'
            )""",
            "CREATE INDEX timeline_incident ON timeline(incident_id, seq)",
            """CREATE TRIGGER timeline_no_update BEFORE UPDATE ON timeline
               BEGIN SELECT RAISE(ABORT, 'timeline is append-only'); END""",
            """CREATE TRIGGER timeline_no_delete BEFORE DELETE ON timeline
               BEGIN SELECT RAISE(ABORT, 'timeline is append-only'); END""",
            # One row per incident under escalation: the truth the engine's timers are derived from.
            """CREATE TABLE escalations (
                incident_id TEXT PRIMARY KEY REFERENCES incidents(id),
                org_id TEXT NOT NULL,
                policy_id TEXT NOT NULL,
                policy_snapshot TEXT NOT NULL,
                step INTEGER NOT NULL DEFAULT 0,
                loop INTEGER NOT NULL DEFAULT 0,
                generation INTEGER NOT NULL DEFAULT 0,
                state TEXT NOT NULL,
                due_at_ms INTEGER,
                due_kind TEXT,
                started_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )""",
            "CREATE INDEX escalations_due ON escalations(due_at_ms) WHERE due_at_ms IS NOT NULL",
            """CREATE TABLE contact_methods (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL,
                user_id TEXT NOT NULL REFERENCES users(id),
                channel TEXT NOT NULL CHECK (channel IN ('log', 'webhook', 'command')),
                address TEXT,
                secret TEXT,
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE outbox (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                idem_key TEXT NOT NULL UNIQUE,
                org_id TEXT NOT NULL,
                incident_id TEXT NOT NULL REFERENCES incidents(id),
                layer_position INTEGER,
                loop INTEGER NOT NULL DEFAULT 0,
                user_id TEXT NOT NULL,
                channel TEXT NOT NULL,
                contact_id TEXT,
                payload TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending',
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_ms INTEGER NOT NULL DEFAULT 0,
                lease_until_ms INTEGER,
                last_error TEXT,
                created_at TEXT NOT NULL,
                sent_at TEXT
            )""",
            "CREATE INDEX outbox_pending ON outbox(status, next_attempt_ms)",
            """CREATE TABLE engine_lease (
                name TEXT PRIMARY KEY,
                holder TEXT NOT NULL,
                token INTEGER NOT NULL,
                expires_at_ms INTEGER NOT NULL,
                heartbeat_at TEXT NOT NULL
            )""",
        ],
    )


@_migration("0002_engine")
def m0002_engine(db: sqlite_utils.Database | _PgSchema) -> None:
    """The escalation engine's extra state: passes over the layers (``round``, part of the idempotency
    key), who acknowledged (for re-page reminders), the snapshot's fingerprint and the last live-policy
    divergence already recorded, and the shared anchor of a scaled clock."""
    _run(
        db,
        [
            "ALTER TABLE escalations ADD COLUMN round INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE escalations ADD COLUMN acked_by TEXT",
            "ALTER TABLE escalations ADD COLUMN policy_hash TEXT",
            "ALTER TABLE escalations ADD COLUMN noted_policy_hash TEXT",
            "CREATE INDEX outbox_incident ON outbox(incident_id, seq)",
            """CREATE TABLE engine_clock (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                speed REAL NOT NULL,
                epoch REAL NOT NULL
            )""",
        ],
    )


@_migration("0003_sync")
def m0003_sync(db: sqlite_utils.Database | _PgSchema) -> None:
    """Sync with a remote Scaling organisation (storage/sync, docs/SYNC.md): the link (base URL only; the
    API key lives in a 0600 file or the OS keyring, never here), the outbox of local changes waiting to be
    pushed, a lease so only one process pushes at a time, the remote ids of posted updates, the escalation
    state the remote reports for its incidents, and the shape (layers or steps) of each remote policy."""
    _run(
        db,
        [
            """CREATE TABLE sync_config (
                org_id TEXT PRIMARY KEY REFERENCES orgs(id),
                base_url TEXT NOT NULL,
                key_last4 TEXT,
                linked_at TEXT NOT NULL,
                last_pull_at TEXT,
                last_pull_error TEXT,
                last_push_error TEXT
            )""",
            """CREATE TABLE sync_outbox (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                org_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                root_id TEXT NOT NULL,
                object_id TEXT NOT NULL,
                payload TEXT NOT NULL DEFAULT '{}',
                idem_key TEXT NOT NULL UNIQUE,
                status TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'done', 'failed', 'discarded')),
                attempts INTEGER NOT NULL DEFAULT 0,
                uncertain INTEGER NOT NULL DEFAULT 0,
                error_status INTEGER,
                error_code TEXT,
                error_message TEXT,
                request_id TEXT,
                remote_id TEXT,
                created_at TEXT NOT NULL,
                sent_at TEXT
            )""",
            "CREATE INDEX sync_outbox_open ON sync_outbox(org_id, status, seq)",
            "CREATE INDEX sync_outbox_root ON sync_outbox(root_id, status)",
            """CREATE TABLE sync_lease (
                org_id TEXT PRIMARY KEY,
                holder TEXT NOT NULL,
                expires_at_ms INTEGER NOT NULL
            )""",
            "ALTER TABLE incident_updates ADD COLUMN remote_id TEXT",
            "ALTER TABLE incidents ADD COLUMN remote_escalation TEXT",
            "ALTER TABLE policies ADD COLUMN remote_shape TEXT",
            "CREATE INDEX users_remote ON users(org_id, remote_id) WHERE remote_id IS NOT NULL",
            "CREATE INDEX schedules_remote ON schedules(org_id, remote_id) WHERE remote_id IS NOT NULL",
            "CREATE INDEX rotation_layers_remote ON rotation_layers(schedule_id, remote_id)"
            " WHERE remote_id IS NOT NULL",
            "CREATE INDEX policies_remote ON policies(org_id, remote_id) WHERE remote_id IS NOT NULL",
            "CREATE INDEX escalation_layers_remote ON escalation_layers(policy_id, remote_id)"
            " WHERE remote_id IS NOT NULL",
            "CREATE INDEX incidents_remote ON incidents(org_id, remote_id) WHERE remote_id IS NOT NULL",
        ],
    )


@_migration("0004_sync_uncertain")
def m0004_sync_uncertain(db: sqlite_utils.Database | _PgSchema) -> None:
    """Sync never takes someone else's object as its own (docs/SYNC.md): a create whose outcome is unknown
    and that cannot be proven ours waits as ``uncertain`` for the user, with its send window (the earliest
    and latest moment the request may have been applied, wall-clock ISO text) and the remote objects that
    might be it (JSON list). ``sync_config.remote_actor`` remembers which remote user or key id the stored
    key creates objects as (``{"key": <sha-256 prefix of the key>, "ids": [...]}``), learned from the
    answers to our own creates; the key itself is never stored. SQLite cannot widen a CHECK, so the outbox
    table is rebuilt."""
    _run(
        db,
        [
            """CREATE TABLE sync_outbox_new (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                org_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                root_id TEXT NOT NULL,
                object_id TEXT NOT NULL,
                payload TEXT NOT NULL DEFAULT '{}',
                idem_key TEXT NOT NULL UNIQUE,
                status TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'done', 'failed', 'uncertain', 'discarded')),
                attempts INTEGER NOT NULL DEFAULT 0,
                uncertain INTEGER NOT NULL DEFAULT 0,
                error_status INTEGER,
                error_code TEXT,
                error_message TEXT,
                request_id TEXT,
                remote_id TEXT,
                created_at TEXT NOT NULL,
                sent_at TEXT,
                attempt_at TEXT,
                window_start TEXT,
                window_end TEXT,
                candidates TEXT
            )""",
            """INSERT INTO sync_outbox_new (seq, id, org_id, kind, root_id, object_id, payload, idem_key, status,
                attempts, uncertain, error_status, error_code, error_message, request_id, remote_id, created_at,
                sent_at)
               SELECT seq, id, org_id, kind, root_id, object_id, payload, idem_key, status, attempts, uncertain,
                error_status, error_code, error_message, request_id, remote_id, created_at, sent_at
               FROM sync_outbox""",
            "DROP TABLE sync_outbox",
            "ALTER TABLE sync_outbox_new RENAME TO sync_outbox",
            "CREATE INDEX sync_outbox_open ON sync_outbox(org_id, status, seq)",
            "CREATE INDEX sync_outbox_root ON sync_outbox(root_id, status)",
            "ALTER TABLE sync_config ADD COLUMN remote_actor TEXT",
        ],
    )


@_migration("0005_contact_methods_set_via")
def m0005_contact_methods_set_via(db: sqlite_utils.Database | _PgSchema) -> None:
    """Who last set a contact method's address: ``operator`` (the CLI or the console) or ``api_key`` (the
    HTTP API). Rows from before this migration keep NULL, "unknown": delivery treats them as set through
    the API (a webhook is re-checked against the operator's allow-list, a command is not run), because an
    API key could have written them (docs/OPERATOR.md, "Upgrading")."""
    _run(db, ["ALTER TABLE contact_methods ADD COLUMN address_set_via TEXT"])


@_migration("0006_clock")
def m0006_clock(db: sqlite_utils.Database | _PgSchema) -> None:
    """The database's clock (storage/db_clock.py): ``wall``, or ``scaled`` with its speed, its anchor
    (clock instant = wall instant, epoch ms) and the latest clock instant handed out with the wall time
    it was handed out at, so a scaled database reopened later resumes where it stopped. One row, written
    by the first process that binds a clock. Replaces ``engine_clock``, whose anchor was re-made at every
    change of speed and said nothing about whether the file had also been run on wall time: an existing
    file starts with no recorded clock and takes the mode of the next process that opens it."""
    _run(
        db,
        [
            """CREATE TABLE clock (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                mode TEXT NOT NULL CHECK (mode IN ('wall', 'scaled')),
                speed REAL NOT NULL DEFAULT 1 CHECK (speed > 0),
                anchor_clock_ms INTEGER,
                anchor_wall_ms INTEGER,
                last_clock_ms INTEGER,
                last_wall_ms INTEGER,
                recorded_at TEXT NOT NULL
            )""",
            "DROP TABLE engine_clock",
        ],
    )


@_migration("0007_timers")
def m0007_timers(db: sqlite_utils.Database | _PgSchema) -> None:
    """Engine timers other than escalation steps (heartbeats, maintenance-window ends, notification-rule
    steps, shift reminders): one row per ``(kind, subject_id)`` with its due time (epoch ms) and a
    ``generation`` bumped every time the row is armed again, so a timer fired from a stale read never
    deletes or moves a newer arming. ``data`` is the kind's JSON payload. Fired by the engine process
    (engine/runtime/timers.py) in the same fenced transactions as escalation steps."""
    _run(
        db,
        [
            """CREATE TABLE timers (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                subject_id TEXT NOT NULL,
                due_at_ms INTEGER NOT NULL,
                generation INTEGER NOT NULL DEFAULT 1,
                data TEXT NOT NULL DEFAULT '{}',
                UNIQUE (kind, subject_id)
            )""",
            "CREATE INDEX timers_due ON timers (due_at_ms)",
        ],
    )


@_migration("0008_drop_sync_lease")
def m0008_drop_sync_lease(db: sqlite_utils.Database | _PgSchema) -> None:
    """``sync_lease`` (0003) was never used: each organisation's push lease is a row of the fenced
    leases (``engine_lease`` row ``push:<org>``, storage/lease.py). Nothing reads or writes the table, so it
    goes with whatever it holds."""
    _run(db, ["DROP TABLE IF EXISTS sync_lease"])


@_migration("0009_integrations_alerts")
def m0009_integrations_alerts(db: sqlite_utils.Database | _PgSchema) -> None:
    """Alerts in (docs/ALERTS.md): inbound integrations (a kind, a hashed URL token, a default routing and
    ordered selectors), the alerts they receive, one ``alert_groups`` row per incident opened by alerts (the
    aggregate the incident list reads: alert count, alerts still firing, first/last seen, the maintenance
    window holding its pages), and maintenance windows. An alert or group is "open" while its incident is
    not resolved (a join on ``incidents.status``: resolving by hand needs no bookkeeping here)."""
    _run(
        db,
        [
            """CREATE TABLE integrations (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL REFERENCES orgs(id),
                name TEXT NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('alertmanager', 'grafana', 'events')),
                token_hash TEXT UNIQUE,
                token_last4 TEXT,
                escalation_policy_id TEXT,
                component TEXT,
                default_severity TEXT NOT NULL,
                severity_map TEXT NOT NULL DEFAULT '{}',
                selectors TEXT NOT NULL DEFAULT '[]',
                auto_resolve INTEGER NOT NULL DEFAULT 1,
                flap_window_seconds INTEGER NOT NULL DEFAULT 0,
                created_by TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                deleted_at TEXT
            )""",
            "CREATE UNIQUE INDEX integrations_name ON integrations (org_id, name) WHERE deleted_at IS NULL",
            """CREATE TABLE alert_groups (
                incident_id TEXT PRIMARY KEY REFERENCES incidents(id),
                org_id TEXT NOT NULL,
                integration_id TEXT NOT NULL REFERENCES integrations(id),
                group_key TEXT NOT NULL,
                component TEXT,
                alert_count INTEGER NOT NULL DEFAULT 0,
                firing_count INTEGER NOT NULL DEFAULT 0,
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL,
                held_by TEXT
            )""",
            "CREATE INDEX alert_groups_key ON alert_groups (integration_id, group_key)",
            "CREATE INDEX alert_groups_held ON alert_groups (held_by) WHERE held_by IS NOT NULL",
            """CREATE TABLE alerts (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL,
                integration_id TEXT NOT NULL REFERENCES integrations(id),
                incident_id TEXT REFERENCES incidents(id),
                dedup_key TEXT NOT NULL,
                group_key TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('firing', 'resolved', 'acknowledged')),
                summary TEXT NOT NULL,
                severity TEXT NOT NULL,
                source TEXT,
                labels TEXT NOT NULL DEFAULT '{}',
                annotations TEXT NOT NULL DEFAULT '{}',
                links TEXT NOT NULL DEFAULT '[]',
                count INTEGER NOT NULL DEFAULT 1,
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL,
                resolved_at TEXT,
                dropped_by TEXT,
                raw TEXT NOT NULL,
                raw_truncated INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX alerts_key ON alerts (integration_id, dedup_key)",
            "CREATE INDEX alerts_incident ON alerts (incident_id)",
            """CREATE TABLE maintenance_windows (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL REFERENCES orgs(id),
                scope TEXT NOT NULL CHECK (scope IN ('org', 'integration', 'component')),
                integration_id TEXT REFERENCES integrations(id),
                component TEXT,
                mode TEXT NOT NULL CHECK (mode IN ('hold', 'drop')),
                reason TEXT,
                starts_at TEXT NOT NULL,
                ends_at TEXT NOT NULL,
                ended_early INTEGER NOT NULL DEFAULT 0,
                created_by TEXT,
                created_at TEXT NOT NULL
            )""",
            "CREATE INDEX maintenance_windows_end ON maintenance_windows (org_id, ends_at)",
        ],
    )


@_migration("0010_heartbeats")
def m0010_heartbeats(db: sqlite_utils.Database | _PgSchema) -> None:
    """Heartbeat monitors (dead man's switches, docs/ALERTS.md "Heartbeats"): a ping token stored only as
    its SHA-256 hash, the interval and grace in minutes, the latest ping, and the incident a missed
    interval opened (NULL while the heartbeat is up). The due time is not here: it is the heartbeat's row
    in ``timers`` (kind ``heartbeat``), fired by the engine. ``escalation_policy_id`` has no foreign key:
    a deleted policy leaves the heartbeat, whose next missed interval opens an unpaged incident saying so.
    Also an index for the console's live incident table on ``alert_groups`` (0009)."""
    _run(
        db,
        [
            """CREATE TABLE heartbeats (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL REFERENCES orgs(id),
                name TEXT NOT NULL,
                escalation_policy_id TEXT NOT NULL,
                severity TEXT NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low')),
                interval_minutes INTEGER NOT NULL CHECK (interval_minutes >= 1),
                grace_minutes INTEGER NOT NULL CHECK (grace_minutes >= 0),
                token_hash TEXT NOT NULL UNIQUE,
                token_last4 TEXT NOT NULL,
                last_ping_at TEXT,
                ping_count INTEGER NOT NULL DEFAULT 0,
                incident_id TEXT REFERENCES incidents(id),
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                UNIQUE (org_id, name)
            )""",
            # The console's live incident table notices repeated alerts by the groups' last_seen
            # (storage/queries/incidents.py, alert_groups_seen_since).
            "CREATE INDEX alert_groups_seen ON alert_groups (org_id, last_seen)",
        ],
    )


@_migration("0011_contact_channels")
def m0011_contact_channels(db: sqlite_utils.Database | _PgSchema) -> None:
    """The ``apprise`` channel, acknowledge links and the per-contact-method rate limit (docs/PAGES.md).

    * ``contact_methods.channel`` also takes ``apprise``. Only the CHECK constraint widens, so the table's
      SQL is edited in place (SQLite's documented procedure for loosening a constraint: ``writable_schema``
      and a ``schema_version`` bump, all inside the migration's transaction) rather than rebuilt: a rebuild
      would DROP the table, and with foreign keys on that deletes (or cascades to) rows that refer to it.
    * ``contact_methods.address_sealed``: an apprise URL sealed with the operator's key (Fernet); the
      ``address`` column keeps only its masked form (``ntfys://ntfy.sh/…``).
    * ``page_link_keys``: one random HMAC key that signs acknowledge links (made here, never shown).
    * ``ack_link_uses``: every acknowledge-link token used, so a replay is refused.
    * ``contact_sends``: when each message went to a contact method, for the rate limit's sliding minute.
    * ``outbox.folded_into``: the ``seq`` of the summary page a rate-limited page was folded into."""
    if isinstance(db, _PgSchema):  # PostgreSQL widens a CHECK in place
        _run(
            db,
            [
                "ALTER TABLE contact_methods DROP CONSTRAINT contact_methods_channel_check",
                "ALTER TABLE contact_methods ADD CONSTRAINT contact_methods_channel_check "
                "CHECK (channel IN ('log', 'webhook', 'command', 'apprise'))",
            ],
        )
    else:
        conn = db.conn
        version = conn.execute("PRAGMA schema_version").fetchone()[0]
        conn.execute("PRAGMA writable_schema = ON")
        try:
            conn.execute(
                "UPDATE sqlite_master SET sql = replace(sql, ?, ?) "
                "WHERE type = 'table' AND name = 'contact_methods'",
                (
                    "CHECK (channel IN ('log', 'webhook', 'command'))",
                    "CHECK (channel IN ('log', 'webhook', 'command', 'apprise'))",
                ),
            )
            conn.execute(f"PRAGMA schema_version = {int(version) + 1}")
        finally:
            conn.execute("PRAGMA writable_schema = OFF")
    _run(
        db,
        [
            "ALTER TABLE contact_methods ADD COLUMN address_sealed TEXT",
            """CREATE TABLE page_link_keys (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                secret TEXT NOT NULL
            )""",
        ],
    )
    import secrets  # here, not at the top: opening a database must not import it (docs/PERFORMANCE.md)

    db.execute("INSERT INTO page_link_keys (id, secret) VALUES (1, ?)", (secrets.token_hex(32),))
    _run(
        db,
        [
            """CREATE TABLE ack_link_uses (
                token_id TEXT PRIMARY KEY,
                incident_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                used_at TEXT NOT NULL,
                outcome TEXT NOT NULL
            )""",
            """CREATE TABLE contact_sends (
                contact_id TEXT NOT NULL,
                at_ms INTEGER NOT NULL
            )""",
            "CREATE INDEX contact_sends_contact ON contact_sends(contact_id, at_ms)",
            "ALTER TABLE outbox ADD COLUMN folded_into INTEGER",
        ],
    )


@_migration("0012_notification_rules")
def m0012_notification_rules(db: sqlite_utils.Database | _PgSchema) -> None:
    """Personal notification rules and shift reminders (docs/PAGES.md).

    ``notification_rules``: a person's ordered steps per urgency (``high``: critical and high incidents,
    ``low``: medium and low), each "this contact method, ``delay_minutes`` after the page"; a step goes when
    its contact method is deleted. ``outbox.rule_subject``/``rule_step`` name the person's page and the
    rule step a page queue row was written for (NULL for a person without rules), so a failed channel can
    move that page's rule timer to now. ``shift_reminder_settings``: what a person asked to be told about
    their shifts; ``shift_reminders_sent``: every reminder sent, once per shift and kind (UNIQUE)."""
    _run(
        db,
        [
            """CREATE TABLE notification_rules (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL,
                user_id TEXT NOT NULL REFERENCES users(id),
                urgency TEXT NOT NULL CHECK (urgency IN ('high', 'low')),
                position INTEGER NOT NULL,
                delay_minutes INTEGER NOT NULL CHECK (delay_minutes >= 0),
                contact_method_id TEXT NOT NULL REFERENCES contact_methods(id) ON DELETE CASCADE,
                created_at TEXT NOT NULL
            )""",
            "CREATE INDEX notification_rules_user ON notification_rules(user_id, urgency, delay_minutes, position)",
            "ALTER TABLE outbox ADD COLUMN rule_subject TEXT",
            "ALTER TABLE outbox ADD COLUMN rule_step INTEGER",
            """CREATE TABLE shift_reminder_settings (
                user_id TEXT PRIMARY KEY REFERENCES users(id),
                org_id TEXT NOT NULL,
                before_minutes INTEGER CHECK (before_minutes IS NULL OR before_minutes > 0),
                at_start INTEGER NOT NULL DEFAULT 0,
                at_end INTEGER NOT NULL DEFAULT 0,
                updated_at TEXT NOT NULL
            )""",
            """CREATE TABLE shift_reminders_sent (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                schedule_id TEXT NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('before', 'start', 'end')),
                shift_start TEXT NOT NULL,
                shift_end TEXT NOT NULL,
                remind_at TEXT NOT NULL,
                sent_at TEXT NOT NULL,
                UNIQUE (user_id, schedule_id, kind, shift_start)
            )""",
            "CREATE INDEX shift_reminders_sent_user ON shift_reminders_sent(user_id, remind_at)",
        ],
    )


@_migration("0013_calendar_feeds")
def m0013_calendar_feeds(db: sqlite_utils.Database | _PgSchema) -> None:
    """Secret, revocable calendar feed URLs (engine/service/calendars.py): one row per feed of a schedule's
    shifts, or of one person's shifts on it (``user_id``). Only the token's SHA-256 is kept; a revoked feed
    keeps its row (``revoked_at``) and answers 404. Deleting the schedule deletes its feeds."""
    _run(
        db,
        [
            """CREATE TABLE calendar_feeds (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL REFERENCES orgs(id),
                schedule_id TEXT NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
                user_id TEXT REFERENCES users(id),
                token_hash TEXT NOT NULL UNIQUE,
                created_by TEXT,
                created_at TEXT NOT NULL,
                revoked_at TEXT
            )""",
            "CREATE INDEX calendar_feeds_schedule ON calendar_feeds (schedule_id)",
        ],
    )


@_migration("0014_notices")
def m0014_notices(db: sqlite_utils.Database | _PgSchema) -> None:
    """Messages to people that belong to no incident (shift reminders), delivered by the same delivery
    loop as pages (engine/runtime/delivery.py, docs/PAGES.md "Shift reminders").

    ``notices``: the notices queue, one row per (notice, contact method) with the page queue's columns
    and statuses (``pending``, ``sending``, ``sent``, ``failed``, ``unknown``) but no incident; ``kind``
    says what it is (``shift_reminder``) and ``idem_key`` is UNIQUE (a reminder's is per person, schedule,
    kind, shift start and contact method). The page queue (``outbox``, ``incident_id NOT NULL``) is left
    as it is: loosening that column would mean rebuilding the table, which drops it.
    ``notice_events``: every attempt and outcome of a notice, append-only (a notice has no incident
    timeline to record them in)."""
    _run(
        db,
        [
            """CREATE TABLE notices (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                idem_key TEXT NOT NULL UNIQUE,
                org_id TEXT NOT NULL,
                user_id TEXT NOT NULL REFERENCES users(id),
                kind TEXT NOT NULL,
                channel TEXT NOT NULL,
                contact_id TEXT,
                payload TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending',
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_ms INTEGER NOT NULL DEFAULT 0,
                lease_until_ms INTEGER,
                last_error TEXT,
                created_at TEXT NOT NULL,
                sent_at TEXT
            )""",
            "CREATE INDEX notices_pending ON notices(status, next_attempt_ms)",
            "CREATE INDEX notices_user ON notices(user_id, seq)",
            """CREATE TABLE notice_events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                notice_seq INTEGER NOT NULL REFERENCES notices(seq),
                at TEXT NOT NULL,
                kind TEXT NOT NULL,
                data TEXT NOT NULL DEFAULT '{}'
            )""",
            "CREATE INDEX notice_events_notice ON notice_events(notice_seq, seq)",
            """CREATE TRIGGER notice_events_no_update BEFORE UPDATE ON notice_events
               BEGIN SELECT RAISE(ABORT, 'notice_events is append-only'); END""",
            """CREATE TRIGGER notice_events_no_delete BEFORE DELETE ON notice_events
               BEGIN SELECT RAISE(ABORT, 'notice_events is append-only'); END""",
        ],
    )


def _table_names(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _applied(conn: sqlite3.Connection) -> list[str]:
    """The names of our applied migrations, in the order they were applied."""
    rows = conn.execute(
        "SELECT name FROM _sqlite_migrations WHERE migration_set = ? ORDER BY rowid", (MIGRATION_SET,)
    )
    return [row[0] for row in rows]


@_migration("0015_history_indexes")
def m0015_history_indexes(db: sqlite_utils.Database | _PgSchema) -> None:
    """Nothing on a live path grows with history (issue 17, docs/PERFORMANCE.md "History growth").

    * Indexes whose reads cost the live rows, not the resolved history: ``incidents_open`` (partial, only
      incidents not resolved: the open-only list newest first, the pull's open remote ids),
      ``incidents_open_policy`` (partial: a policy's open incidents), ``incidents_org_status_created``
      (a status-filtered list newest first stops at its limit; it replaces ``incidents_org_status``, its
      prefix), ``escalations_live`` (partial: escalations not stopped), ``alerts_open_key`` (an
      integration's alerts of a dedup key that opened or joined an incident, newest last by rowid; it
      replaces ``alerts_key``),
      ``alerts_org_seen`` and ``alerts_integration_seen`` (the alert lists newest first), ``outbox_folded``
      (partial: the pages folded into a summary page).
    * Policy snapshots are stored once by content: ``policy_snapshots`` (``hash``: the first 32 hex digits
      of the SHA-256 of the snapshot's JSON text, ``snapshot``: that text, ``policy_hash``: the policy's
      fingerprint, a function of the same content) and ``escalations.snapshot_hash`` naming it;
      ``escalations.policy_snapshot`` and ``escalations.policy_hash`` are dropped after existing rows are
      moved (thousands of escalations on one policy share one row, where each held ~0.5-1 kB).

    Plain DDL (``CREATE INDEX … WHERE``, ``ALTER TABLE … DROP COLUMN``) that PostgreSQL reads too; the
    hashing is done here in Python, in batches.
    """
    _run(
        db,
        [
            "CREATE INDEX incidents_open ON incidents(org_id, created_at DESC, id DESC) "
            "WHERE status != 'resolved'",
            "CREATE INDEX incidents_open_policy ON incidents(escalation_policy_id) WHERE status != 'resolved'",
            "CREATE INDEX incidents_org_status_created ON incidents(org_id, status, created_at DESC, id DESC)",
            "DROP INDEX incidents_org_status",
            "CREATE INDEX escalations_live ON escalations(incident_id) WHERE state != 'stopped'",
            "CREATE INDEX alerts_open_key ON alerts(integration_id, dedup_key) WHERE incident_id IS NOT NULL",
            "DROP INDEX alerts_key",
            "CREATE INDEX outbox_folded ON outbox(folded_into) WHERE folded_into IS NOT NULL",
            "CREATE INDEX alerts_org_seen ON alerts(org_id, last_seen DESC, id)",
            "CREATE INDEX alerts_integration_seen ON alerts(integration_id, last_seen DESC, id)",
            """CREATE TABLE policy_snapshots (
                hash TEXT PRIMARY KEY,
                snapshot TEXT NOT NULL,
                policy_hash TEXT
            )""",
            "ALTER TABLE escalations ADD COLUMN snapshot_hash TEXT REFERENCES policy_snapshots(hash)",
        ],
    )
    _share_snapshots(db)
    _run(
        db,
        [
            "ALTER TABLE escalations DROP COLUMN policy_snapshot",
            "ALTER TABLE escalations DROP COLUMN policy_hash",
        ],
    )


def snapshot_hash(snapshot: str) -> str:
    """The key a policy snapshot's JSON text is stored under in ``policy_snapshots``: the first 32 hex
    digits (128 bits) of its SHA-256."""
    import hashlib  # loaded by what snapshots a policy (paging), not by every command that opens the file

    return hashlib.sha256(snapshot.encode()).hexdigest()[:32]


def _share_snapshots(db: sqlite_utils.Database | _PgSchema, batch: int = 5000) -> None:
    """Move every ``escalations.policy_snapshot`` (with its ``policy_hash``) into ``policy_snapshots``
    (once per content) and point the row at it; walks the table by primary key in batches."""
    known: set[str] = set()
    after = ""
    while True:
        rows = db.execute(
            "SELECT incident_id, policy_snapshot, policy_hash FROM escalations WHERE incident_id > ? "
            "ORDER BY incident_id LIMIT ?",
            (after, batch),
        )
        rows = list(rows)
        if not rows:
            return
        updates = []
        for incident_id, text, fingerprint in rows:
            key = snapshot_hash(text)
            if key not in known:
                db.execute(
                    "INSERT INTO policy_snapshots (hash, snapshot, policy_hash) VALUES (?, ?, ?) "
                    "ON CONFLICT (hash) DO NOTHING",
                    (key, text, fingerprint),
                )
                known.add(key)
            updates.append((key, incident_id))
        update = "UPDATE escalations SET snapshot_hash = ? WHERE incident_id = ?"
        if isinstance(db, _PgSchema):
            for params in updates:
                db.execute(update, params)
        else:
            db.conn.executemany(update, updates)
        after = rows[-1][0]


def migrate(database: Database) -> None:
    """Apply pending migrations in one write transaction (``BEGIN IMMEDIATE`` on SQLite, the write lock on
    PostgreSQL: safe when processes race). Raises :class:`storage.errors.DatabaseError` for a database
    written by a newer oncall (unknown migrations) or one that is not ours, changing nothing. Nothing
    pending on SQLite: one query, no sqlite-utils."""
    if _dialect(database) == "postgresql":
        _migrate_postgres(database)
        return
    conn: sqlite3.Connection = database.conn  # type: ignore[attr-defined]
    with database.write():
        known = set(migration_names())
        tables = _table_names(conn)
        if "_sqlite_migrations" in tables:
            applied = set(_applied(conn))
            newer = sorted(applied - known)
            if newer:
                raise DatabaseError(
                    f"{database.path} was written by a newer version of oncall "
                    f"(unknown migrations: {', '.join(newer)}); upgrade oncall to open it. "
                    "The file was not changed."
                )
            if known <= applied:
                return
        elif tables and "orgs" not in tables:
            raise DatabaseError(f"{database.path} is a SQLite file but not an oncall database")
        migrations().apply(database.utils)  # type: ignore[attr-defined]


def _refuse_newer(database: Database, newer: set[str]) -> None:
    if newer:
        raise DatabaseError(
            f"{database.path} was written by a newer version of oncall "
            f"(unknown migrations: {', '.join(sorted(newer))}); upgrade oncall to open it. "
            "The file was not changed."
        )


PG_MIGRATIONS_TABLE = "_oncall_migrations"


def _pg_applied(database: Database) -> list[str]:
    if PG_MIGRATIONS_TABLE not in database.table_names():
        return []
    rows = database.all(
        f"SELECT name FROM {PG_MIGRATIONS_TABLE} WHERE migration_set = ? ORDER BY seq", ("oncall",)
    )
    return [r[0] for r in rows]


def _migrate_postgres(database: Database) -> None:
    """The same migrations on PostgreSQL, recorded in ``_oncall_migrations``; ``_oncall_changes`` is the
    change counter every write transaction bumps (:meth:`storage.postgres.PgDatabase.data_version`)."""
    with database.write():
        tables = set(database.table_names())
        applied = set(_pg_applied(database))
        known = migration_names()
        if PG_MIGRATIONS_TABLE in tables:
            _refuse_newer(database, applied - set(known))
        elif tables - {"_oncall_changes"}:
            raise DatabaseError(f"{database.path} is a PostgreSQL database but not an oncall database")
        database.execute(
            f"CREATE TABLE IF NOT EXISTS {PG_MIGRATIONS_TABLE} (seq BIGINT GENERATED BY DEFAULT AS IDENTITY "
            "PRIMARY KEY, migration_set TEXT NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL, "
            "UNIQUE (migration_set, name))"
        )
        database.execute(
            "CREATE TABLE IF NOT EXISTS _oncall_changes (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)"
        )
        database.execute("INSERT INTO _oncall_changes (id, n) VALUES (1, 0) ON CONFLICT DO NOTHING")
        schema = _PgSchema(database)
        for name, fn in _STEPS:
            if name in applied:
                continue
            fn(schema)  # type: ignore[arg-type]
            database.execute(
                f"INSERT INTO {PG_MIGRATIONS_TABLE} (migration_set, name, applied_at) "
                "VALUES (?, ?, to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'))",
                (MIGRATION_SET, name),
            )


def schema_version(database: Database) -> list[str]:
    """The names of the migrations applied to ``database``, in the order they were applied."""
    if _dialect(database) == "postgresql":
        return _pg_applied(database)
    conn: sqlite3.Connection = database.conn  # type: ignore[attr-defined]
    if "_sqlite_migrations" not in _table_names(conn):
        return []
    return _applied(conn)
