"""The link: which organisation is synced with which base URL, and what ``oncall sync status`` shows."""

from __future__ import annotations

from typing import Any

from engine.clock import Clock
from engine.errors import DomainError
from engine.timefmt import to_iso
from storage.db import Database
from storage.sync import credentials
from storage.sync.change_queue import failed_changes, list_changes, uncertain_changes, waiting_count
from storage.sync.client import ScalingClient, normalise_base_url


class NotLinked(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "sync_not_linked", "this organisation is not linked to Scaling: run `oncall sync login` first"
        )


class NoKey(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "sync_no_key",
            f"no API key: set {credentials.ENV_KEY} or run `oncall sync login` again",
        )


def config(db: Database, org_id: str) -> dict[str, Any] | None:
    row = db.one("SELECT * FROM sync_config WHERE org_id = ?", (org_id,))
    if row is None:
        return None
    return {
        "orgId": row["org_id"],
        "baseUrl": row["base_url"],
        "linkedAt": row["linked_at"],
        "lastPullAt": row["last_pull_at"],
        "lastPullError": row["last_pull_error"],
        "lastPushError": row["last_push_error"],
    }


def link(db: Database, org_id: str, base_url: str | None, clock: Clock) -> dict[str, Any]:
    """Link ``org_id`` to the remote at ``base_url`` (the key is stored separately, never here)."""
    url = normalise_base_url(base_url)
    with db.write():
        db.execute(
            "INSERT INTO sync_config (org_id, base_url, linked_at) VALUES (?, ?, ?) "
            "ON CONFLICT(org_id) DO UPDATE SET base_url = excluded.base_url",
            (org_id, url, to_iso(clock.now())),
        )
    cfg = config(db, org_id)
    assert cfg is not None
    return cfg


def unlink(db: Database, org_id: str) -> None:
    """Stop syncing. Pulled objects stay; changes still waiting stay queued for a later login."""
    with db.write():
        db.execute("DELETE FROM sync_config WHERE org_id = ?", (org_id,))


def make_client(db: Database, org_id: str, **kwargs: Any) -> ScalingClient:
    cfg = config(db, org_id)
    if cfg is None:
        raise NotLinked()
    stored = credentials.load_key(org_id)
    if stored is None:
        raise NoKey()
    return ScalingClient(cfg["baseUrl"], stored.key, **kwargs)


def status(db: Database, org_id: str) -> dict[str, Any]:
    """What ``oncall sync status`` and the console's status bar show (never the key itself)."""
    cfg = config(db, org_id)
    stored = credentials.load_key(org_id) if cfg is not None else None
    return {
        "linked": cfg is not None,
        "baseUrl": cfg["baseUrl"] if cfg else None,
        "key": stored.key.masked if stored else None,
        "keySource": stored.source if stored else None,
        "lastPullAt": cfg["lastPullAt"] if cfg else None,
        "lastPullError": cfg["lastPullError"] if cfg else None,
        "lastPushError": cfg["lastPushError"] if cfg else None,
        "waiting": waiting_count(db, org_id),
        "failed": failed_changes(db, org_id),
        "uncertain": uncertain_changes(db, org_id),
        "changes": list_changes(db, org_id),
    }
