"""Shared fixtures: a real SQLite file per test, a virtual clock, and an organisation to act in."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.clock import VirtualClock
from engine.service import Ctx
from engine.service.orgs import create_org
from storage.db import Database, open_db

T0 = datetime(2026, 4, 7, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def operator_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test has its own (absent) operator configuration file, so the key sealing apprise URLs
    (made beside it) and any setting never come from, or land in, the real user's config directory."""
    path = tmp_path / "operator" / "config.toml"
    monkeypatch.setenv("ONCALL_CONFIG", str(path))
    return path


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "oncall.db"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database file with every migration applied, made once per session: copying it is ~10x
    cheaper than migrating a new file. Never opened again after this, so never changed."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    open_db(path).close()
    return path


@pytest.fixture
def db(db_path: Path, migrated_template: Path) -> Iterator[Database]:
    """The test's own database file: a copy (mode 0600 kept) of the migrated template, opened."""
    shutil.copy(migrated_template, db_path)
    database = open_db(db_path)
    yield database
    database.close()


@pytest.fixture
def ctx(db: Database, clock: VirtualClock) -> Ctx:
    init = create_org(db, "Acme", "admin@example.com", first_name="Ada", last_name="Admin", clock=clock)
    return Ctx(
        db=db,
        org_id=init.org["id"],
        actor_id=init.admin["id"],
        actor_user_id=init.admin["id"],
        is_admin=True,
        clock=clock,
        via="operator",  # tests act as the machine's operator unless they say otherwise
    )
