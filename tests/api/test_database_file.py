"""``oncall serve`` when its database file is deleted, replaced, read-only or on a full disk: real
processes, real files (a real read-only file and a real full filesystem where the sandbox allows)."""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from storage.db import open_db
from tests.api.conftest import ServeProcess, _oncall_bin, oncall, start_serve, stop_serve
from tests.helpers import take_database_away

INCIDENT = {"title": "Checkout down", "severity": "high"}


def _create(server: ServeProcess, client: httpx.Client | None = None) -> httpx.Response:
    c = client or httpx.Client(base_url=server.url, timeout=10)
    return c.post("/v1/incidents", json=INCIDENT, headers={"Authorization": f"Bearer {server.key}"})


def _exit_code(proc: subprocess.Popen[str], timeout: float) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"oncall serve still running {timeout} s after its file went") from None


@pytest.mark.parametrize("how", ["delete", "replace"])
def test_serve_answers_503_then_exits_when_its_file_goes(tmp_path: Path, how: str) -> None:
    db = tmp_path / "api.db"
    server = start_serve(db, "--no-engine")
    try:
        assert _create(server).status_code == 201
        take_database_away(db, how)
        gone_at = time.monotonic()
        answers: list[int] = []
        codes: set[str] = set()
        with httpx.Client(base_url=server.url, timeout=5) as client:
            while server.proc.poll() is None and time.monotonic() - gone_at < 10:
                try:
                    resp = _create(server, client)
                except httpx.TransportError:
                    break  # shut down
                answers.append(resp.status_code)
                codes.add(resp.json()["code"])
        # Not one 201 after the file went. Every answer is 503 database_gone; there may be none, when the
        # server's own check (its timer) saw the file go and shut down before a request reached it.
        assert set(answers) <= {503}, answers
        assert codes <= {"database_gone"}, codes
        assert _exit_code(server.proc, 60) == 1  # within a second: a figure of bench/failover.py
        err = server.proc.stderr.read() if server.proc.stderr else ""
        assert "Traceback" not in err
        assert [line for line in err.splitlines() if line.startswith("error: ")] == [
            f"error: the database file {db} was deleted or replaced; this process has stopped writing "
            "(restart it to use the new file); answering 503 and shutting down"
        ]
    finally:
        if server.proc.poll() is None:
            stop_serve(server)


def test_serve_with_its_engine_exits_when_the_file_is_deleted(tmp_path: Path) -> None:
    db = tmp_path / "api.db"
    server = start_serve(db)
    try:
        assert server.banner[2] == "engine: embedded"
        db.unlink()
        try:
            resp = _create(server)
        except httpx.TransportError as exc:
            raise AssertionError(f"{exc}: {server.proc.stderr.read()}") from None
        assert resp.json()["code"] == "database_gone"
        assert _exit_code(server.proc, 10) == 1
    finally:
        if server.proc.poll() is None:
            stop_serve(server)


# -- read-only, then writable again --------------------------------------------------------------------

_PR_CAPBSET_DROP = 24
_DAC_CAPS = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER


def _obey_file_modes() -> None:
    """In the child before exec: without these capabilities root is refused a 0400 file like anyone."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in _DAC_CAPS:
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _can_make_read_only(tmp_path: Path) -> bool:
    probe = tmp_path / "probe"
    probe.write_text("")
    probe.chmod(0o400)
    try:
        proc = subprocess.run(
            ["sh", "-c", f"echo x > {probe}"],
            preexec_fn=_obey_file_modes,  # noqa: PLW1509 - no threads to worry about in the child
            capture_output=True,
        )
    except subprocess.SubprocessError:
        return False
    finally:
        probe.unlink()
    return proc.returncode != 0


def _serve_obeying_modes(db: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [_oncall_bin(), "serve", "--db", str(db), "--port", "0", "--no-access-log", "--no-engine"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_obey_file_modes,  # noqa: PLW1509
    )
    assert proc.stdout is not None
    for _ in range(3):
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)/v1 ", line)
        if m:
            return proc, m.group(1)
    raise AssertionError(f"oncall serve did not start: {proc.stderr.read() if proc.stderr else ''}")


def _burst(client: httpx.Client, n: int) -> list[httpx.Response]:
    """``n`` creates at once: the pool opens more connections than a sequential client ever needs."""
    out: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: out.append(client.post("/v1/incidents", json=INCIDENT)))
               for _ in range(n)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(out) == n
    return out


def test_writes_recover_without_a_restart_once_the_file_is_writable_again(tmp_path: Path) -> None:
    if not _can_make_read_only(tmp_path):
        pytest.skip("this sandbox cannot make a file read-only for root (no PR_CAPBSET_DROP)")
    db = tmp_path / "api.db"
    init = oncall("--db", str(db), "init", "--org", "Acme", "--admin-email", "a@example.com", "--json")
    key = re.search(r'"apiKey": "([^"]+)"', init.stdout)
    assert key is not None, init.stderr
    proc, url = _serve_obeying_modes(db)
    created = 0
    try:
        with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {key[1]}"}) as c:
            assert c.post("/v1/incidents", json=INCIDENT).status_code == 201
            created += 1
            db.chmod(0o400)
            # Connections the server opens now are read-only for good (SQLite's choice at open); the
            # ones it had still write. Burst until one of the new ones has refused a write.
            refused: list[httpx.Response] = []
            deadline = time.monotonic() + 20
            while not refused and time.monotonic() < deadline:
                for resp in _burst(c, 8):
                    if resp.status_code == 201:
                        created += 1
                    else:
                        refused.append(resp)
            assert refused, "no write was refused while the file was read-only"
            assert {(r.status_code, r.json()["code"]) for r in refused} == {(503, "database_read_only")}
            db.chmod(0o600)
            after = _burst(c, 8) + _burst(c, 8) + [c.post("/v1/incidents", json=INCIDENT) for _ in range(8)]
            assert [r.status_code for r in after] == [201] * 24, [
                r.text for r in after if r.status_code != 201
            ]
            created += 24
    finally:
        proc.terminate()
        proc.wait(15)
    # Every 201 was written, nothing else. The burst's size depends on the machine's speed (it can pass
    # 100, the API's page limit), so the file is counted, not the first page.
    written = open_db(db)
    try:
        assert written.scalar("SELECT count(*) FROM incidents") == created
    finally:
        written.close()
    err = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in err
    assert err.count("database_read_only") == 1  # one line for the burst


# -- a full disk: a real 1 MB filesystem ----------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_507_disk_full_with_one_log_line(tiny_disk: Path) -> None:
    db = tiny_disk / "api.db"
    server = start_serve(db, "--no-engine")
    filler = tiny_disk / "filler"
    try:
        created = 0
        assert _create(server).status_code == 201
        created += 1
        vfs = os.statvfs(tiny_disk)
        filler.write_bytes(b"\0" * max(0, vfs.f_bavail * vfs.f_frsize - 32 * 1024))
        statuses: list[int] = []
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for _ in range(40):
                resp = _create(server, client)
                statuses.append(resp.status_code)
                if resp.status_code == 201:
                    created += 1
                else:
                    body = resp.json()
                    assert (resp.status_code, body["code"]) == (507, "disk_full"), body
            assert statuses.count(507) >= 5, statuses  # it did fill up
            filler.unlink()  # space again: the next write works, on the same process
            assert _create(server, client).status_code == 201
            created += 1
            listed = client.get("/v1/incidents", headers={"Authorization": f"Bearer {server.key}"})
            assert len(listed.json()["data"]["incidents"]) == created  # nothing half-written, nothing lost
    finally:
        stop_serve(server)
    err = server.proc.stderr.read() if server.proc.stderr else ""
    assert "Traceback" not in err
    assert err.count("disk_full") == 1, err
