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

# -- scheduling: the longest tests start first -------------------------------------------------------
#
# The suite runs on pytest-xdist workers (pyproject's addopts: ``-n``, ``--dist loadgroup``), which hand
# out tests in collection order, one at a time to whichever worker is free. A long test that starts last
# leaves the other workers idle at the end, so the collection is reordered: tests marked ``slow`` first,
# then whole files by the seconds their tests took in earlier runs (kept in pytest's cache, where it
# exists: a fresh checkout just runs in collection order), longest first; the order inside a file is kept
# (module-scoped fixtures are set up once per worker). Every worker computes the same order from the
# same cache, as xdist requires.

DURATIONS_KEY = "oncall/durations"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    known: dict[str, float] = config.cache.get(DURATIONS_KEY, {}) if config.cache else {}
    per_file: dict[str, float] = {}
    for item in items:
        per_file[item.location[0]] = per_file.get(item.location[0], 0.0) + known.get(item.nodeid, 0.0)
    first_index: dict[str, int] = {}
    for i, item in enumerate(items):
        first_index.setdefault(item.location[0], i)
    items.sort(  # stable: a file's tests keep their order
        key=lambda item: (
            item.get_closest_marker("slow") is None,
            -per_file[item.location[0]],
            first_index[item.location[0]],
        )
    )


_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Each test's seconds (setup, call and teardown), as the run's controller sees them."""
    _seconds[report.nodeid] = _seconds.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput") or config.cache is None or not _seconds:
        return  # an xdist worker: the controller saw every report and writes them once
    known: dict[str, float] = config.cache.get(DURATIONS_KEY, {})
    known.update({nodeid: round(seconds, 3) for nodeid, seconds in _seconds.items()})
    config.cache.set(DURATIONS_KEY, known)


@pytest.fixture(autouse=True)
def operator_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test has its own (absent) operator configuration file, so the key sealing apprise URLs
    (made beside it) and any setting never come from, or land in, the real user's config directory."""
    path = tmp_path / "operator" / "config.toml"
    monkeypatch.setenv("ONCALL_CONFIG", str(path))
    return path


@pytest.fixture(autouse=True)
def isolated_user_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test (and every process it starts, which inherits the environment) has its own user
    directories under its ``tmp_path``: the data directory (the default database, ``storage.db``), the
    config directory (the credentials file), cache and state; no keyring; and none of the variables of
    the machine running the tests that would pick another database, identity or key. Tests run in
    parallel (pytest-xdist), so nothing may land in, or come from, a directory another test can see.
    Returns the directory holding them (``tmp_path / "user"``)."""
    root = tmp_path / "user"
    for variable, name in (
        ("XDG_DATA_HOME", "data"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_STATE_HOME", "state"),
    ):
        monkeypatch.setenv(variable, str(root / name))
    monkeypatch.setenv("ONCALL_CREDENTIALS", str(root / "config" / "oncall" / "credentials.json"))
    monkeypatch.setenv("ONCALL_KEYRING", "0")
    for variable in ("ONCALL_DB", "ONCALL_AS", "SCALING_API_KEY", "NO_COLOR", "ONCALL_DEBUG"):
        monkeypatch.delenv(variable, raising=False)
    return root


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
