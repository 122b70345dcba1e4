"""A throwaway PostgreSQL server for the tests and benchmarks: ``initdb`` + ``pg_ctl`` in a temporary
directory, listening only on a Unix socket in that directory (no port to collide with another run).

``initdb`` refuses to run as root (CI runs as root), so as root the server runs as the ``postgres`` user
(``runuser``), or as ``nobody`` when there is none; otherwise as the current user. The cluster uses the
``C`` collation (text sorts byte by byte, as SQLite's does: ISO timestamps and ids sort as text).

``python -m tests.pg_server start`` prints ``ONCALL_TEST_PG=<url>`` and ``ONCALL_TEST_PG_DIR=<dir>`` for a
shell to export; ``python -m tests.pg_server stop DIR`` stops that server and deletes the directory.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / name).exists():
            return str(root / name)
    return None


def available() -> bool:
    """Whether this machine can start a server (``initdb`` and ``pg_ctl`` found)."""
    return _binary("initdb") is not None and _binary("pg_ctl") is not None


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root and there is no postgres or nobody user to run PostgreSQL as")


def _cmd(user: str | None, args: list[str]) -> list[str]:
    return args if user is None else ["runuser", "-u", user, "--", *args]


def start() -> tuple[str, Path]:
    """Start a server; returns (its URL to the ``postgres`` database, its directory)."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise RuntimeError("initdb/pg_ctl not found")
    user = _run_as()
    base = Path(tempfile.mkdtemp(prefix="oncall-pg-"))
    data = base / "data"
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
    os.chmod(base, 0o755)
    subprocess.run(
        _cmd(user, [initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "--no-locale", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    options = (
        f"-k {base} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB"
    )
    subprocess.run(
        _cmd(user, [pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"]),
        check=True,
        capture_output=True,
    )
    return f"postgresql://postgres@/postgres?host={base}", base


def stop(base: Path) -> None:
    """Stop the server in ``base`` (fast shutdown) and delete the directory."""
    pg_ctl = _binary("pg_ctl")
    if pg_ctl is not None and (base / "data").exists():
        subprocess.run(
            _cmd(_run_as(), [pg_ctl, "-D", str(base / "data"), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["start"]:
        url, where = start()
        print(f"ONCALL_TEST_PG={shlex.quote(url)}")
        print(f"ONCALL_TEST_PG_DIR={shlex.quote(str(where))}")
    elif sys.argv[1:2] == ["stop"] and len(sys.argv) == 3:
        stop(Path(sys.argv[2]))
    else:
        sys.exit("usage: python -m tests.pg_server start | stop DIR")
