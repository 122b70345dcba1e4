"""Shared fixtures: a real database per test (a SQLite file, or a PostgreSQL database for the tests run on
both backends), a virtual clock, and an organisation to act in.

``db_backend`` is ``sqlite`` unless a test module is one of :data:`BOTH_BACKENDS` (the service, engine,
API and sync tests, the console's writes in workers, and any test marked ``both_backends``), which run once
per backend: ``[sqlite]`` and ``[postgresql]``. The PostgreSQL server is the
one ``ONCALL_TEST_PG`` names (``.ci/run`` starts one: tests/pg_server.py), else one this session starts
when ``initdb`` is installed, else the ``[postgresql]`` runs are skipped (never under ``CI``, where a
missing server fails them). Each test gets a fresh database copied from a migrated template database.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from engine.clock import VirtualClock
from engine.service import Ctx
from engine.service.orgs import create_org
from storage.db import Database, open_db
from tests import pg_server

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


BOTH_BACKENDS = (
    "tests/service/",
    "tests/api/",
    "tests/test_escalation.py",
    "tests/test_timers.py",
    "tests/test_engine_process.py",
    "tests/sync/",
    "tests/alerts/test_service.py",
    "tests/tui/test_workers.py",
)
"""The tests that run on SQLite and on PostgreSQL (paths from the repository root)."""

SQLITE_ONLY = (
    "tests/api/test_database_file.py",
    "tests/service/test_storage.py",
    "tests/sync/test_remote.py::test_the_key_is_nowhere_in_the_database_or_the_logs",  # reads the file's bytes
    "tests/service/test_group_commit.py::test_a_batch_that_cannot_commit_fails_every_request_and_stores_nothing",
    "tests/service/test_group_commit.py::test_a_batch_that_cannot_commit_hands_nothing_over",
    "tests/service/test_history_plans.py",  # SQLite's EXPLAIN QUERY PLAN
)
"""Tests of the SQLite file itself (its identity, permissions, the disk filling up, its bytes): paths, or
``path::test_name``."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_backend" not in metafunc.fixturenames:
        return
    where = (
        Path(str(metafunc.definition.fspath)).resolve().relative_to(Path(__file__).resolve().parent.parent)
    )
    name = f"{where.as_posix()}::{metafunc.function.__name__}"
    marked = metafunc.definition.get_closest_marker("both_backends") is not None
    if marked or (name.startswith(BOTH_BACKENDS) and not name.startswith(SQLITE_ONLY)):
        metafunc.parametrize("db_backend", ["sqlite", "postgresql"])


@pytest.fixture
def db_backend() -> str:
    """``sqlite``, or ``postgresql`` for a test that runs on both (see :func:`pytest_generate_tests`)."""
    return "sqlite"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str | None]:
    """The test PostgreSQL server's URL (to its ``postgres`` database), or None when there is none."""
    url = os.environ.get("ONCALL_TEST_PG")
    if url:
        yield url
        return
    if not pg_server.available():
        yield None
        return
    url, where = pg_server.start()
    try:
        yield url
    finally:
        pg_server.stop(where)


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    root = base.rsplit("/", 1)[0]
    return f"{root}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def pg_template(pg_server_url: str | None) -> Iterator[str | None]:
    """A migrated empty PostgreSQL database used as the template of each test's database (its name)."""
    if pg_server_url is None:
        yield None
        return
    from storage.db import open_db

    name = f"oncall_tpl_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'")
    open_db(_with_database(pg_server_url, name)).close()
    yield name
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_database(pg_server_url: str | None, pg_template: str | None) -> Iterator[str]:
    """A fresh PostgreSQL database for this test (copied from the template), as a URL; dropped after."""
    if pg_server_url is None or pg_template is None:
        if os.environ.get("CI"):
            pytest.fail("no PostgreSQL server for the [postgresql] tests (set ONCALL_TEST_PG)")
        pytest.skip("no PostgreSQL server (initdb not installed and ONCALL_TEST_PG unset)")
    name = f"oncall_t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {pg_template} STRATEGY FILE_COPY")
    yield _with_database(pg_server_url, name)
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def db_path(tmp_path: Path, db_backend: str, request: pytest.FixtureRequest) -> Path | str:
    """Where the test's database is: a file path (not created yet) on SQLite, a fresh database's URL on
    PostgreSQL (already migrated)."""
    if db_backend == "postgresql":
        url: str = request.getfixturevalue("pg_database")
        return url
    return tmp_path / "oncall.db"


def fresh_copy(db_path: Path | str, migrated_template: Path) -> None:
    """Make the test's database at ``db_path`` a migrated empty one (a copy of the SQLite template; a
    PostgreSQL database is made that way already)."""
    if isinstance(db_path, Path):
        shutil.copy(migrated_template, db_path)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database file with every migration applied, made once per session: copying it is ~10x
    cheaper than migrating a new file. Never opened again after this, so never changed."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    open_db(path).close()
    return path


@pytest.fixture
def db(db_path: Path | str, migrated_template: Path) -> Iterator[Database]:
    """The test's own database: a copy (mode 0600 kept) of the migrated template, opened."""
    fresh_copy(db_path, migrated_template)
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
