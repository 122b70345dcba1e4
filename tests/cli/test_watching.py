"""Watching from the shell (issue 14, item 2): ``oncall incidents --watch`` as a real process (piped and
on a terminal), ``oncall oncall --at`` and ``oncall shifts`` against a schedule whose answer is known."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.service import policies, schedules
from engine.timefmt import parse_iso
from tests.cli.conftest import one_error_line, service, user_id
from tests.helpers import ONCALL, run_oncall, take_database_away

WAIT = 60.0  # seconds: an upper bound for a loaded machine, never a pause


class Output:
    """Everything a process writes to one descriptor, collected by a thread; ``wait_for`` a condition."""

    def __init__(self, fd: int) -> None:
        self.data = b""
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(fd,), daemon=True)
        self.thread.start()

    def _read(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # a pty's master reads EIO once the process is gone
                chunk = b""
            with self.changed:
                if not chunk:
                    self.changed.notify_all()
                    return
                self.data += chunk
                self.changed.notify_all()

    @property
    def text(self) -> str:
        return self.data.decode(errors="replace")

    def wait_for(self, condition: Callable[[str], bool], what: str) -> None:
        with self.changed:
            ok = self.changed.wait_for(lambda: condition(self.text) or not self.thread.is_alive(), WAIT)
        assert ok and condition(self.text), f"waited for {what}; got:\n{self.text[-2000:]}"


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(WAIT)


def test_watch_json_prints_a_line_per_change_and_ctrl_c_exits_0(demo: Path) -> None:
    proc = subprocess.Popen(
        [ONCALL, "--db", str(demo), "incidents", "--watch", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    assert proc.stdout is not None and proc.stderr is not None
    out = Output(proc.stdout.fileno())
    try:
        out.wait_for(lambda t: "Payment service degraded" in t and t.endswith("\n"), "the first table")
        first = json.loads(out.text.splitlines()[0])
        assert len(first) == 4
        run_oncall(demo, "page", "--title", "Watched pager", "--severity", "low")
        out.wait_for(lambda t: "Watched pager" in t, "the new incident")
        run_oncall(demo, "ack", "1", "--as", "farid@example.com")
        farid = user_id(demo, "farid@example.com")

        def acked(text: str) -> bool:
            if not text.endswith("\n"):
                return False
            last = json.loads(text.splitlines()[-1])
            return any(i["sequentialId"] == 1 and i["acknowledgedBy"] == farid for i in last)

        out.wait_for(acked, "the acknowledgement")
        lines = [json.loads(line) for line in out.text.splitlines()]
        assert [len(items) for items in lines] == [4, 5, 5]  # one line per change, none repeated
    finally:
        code = stop(proc)
    assert code == 0
    assert proc.stderr.read() == b""


def test_watch_ends_with_one_line_when_the_database_is_taken_away(demo: Path) -> None:
    proc = subprocess.Popen(
        [ONCALL, "--db", str(demo), "incidents", "--watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    out = Output(proc.stdout.fileno())
    try:
        out.wait_for(lambda t: "Payment service degraded" in t, "the first table")
        take_database_away(demo, "delete")
        code = proc.wait(WAIT)
    finally:
        if proc.poll() is None:
            stop(proc)
    err = proc.stderr.read().decode()
    assert code == 1, err
    # as for `oncall engine`: the storage layer's one log line, then the command's one error line
    assert err.splitlines()[-1].startswith(f"error: the database file {demo} was deleted or replaced")
    assert err.count("error: ") == 1 and "Traceback" not in err


@pytest.mark.parametrize("no_color", [False, True])
def test_watch_on_a_terminal_is_a_live_rich_table_honouring_no_color(demo: Path, no_color: bool) -> None:
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"}
    env.pop("NO_COLOR", None)
    if no_color:
        env["NO_COLOR"] = "1"
    proc = subprocess.Popen(
        [ONCALL, "--db", str(demo), "incidents", "--watch"],
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(slave)
    out = Output(master)
    try:
        out.wait_for(lambda t: "Payment service degraded" in t and "CRITICAL" in t, "the live table")
        run_oncall(demo, "page", "--title", "Live pager", "--severity", "low")
        out.wait_for(lambda t: "Live pager" in t, "the redraw")
    finally:
        code = stop(proc)
        out.thread.join(WAIT)
        os.close(master)
    assert code == 0
    assert proc.stderr is not None and b"Traceback" not in proc.stderr.read()
    colours = re.findall(r"\x1b\[[0-9;]*m", out.text)
    coloured = [c for c in colours if re.search(r"(?:^|;)(?:3[0-7]|9[0-7]|38)(?:;|m)", c[2:])]
    if no_color:
        assert coloured == [], coloured
    else:
        assert coloured, "a critical incident is shown in colour"


@pytest.fixture
def rota(tmp_path: Path) -> Path:
    """Bob and Carol on a daily rotation in New York from 2026-03-01 09:00 (Bob first), across the
    spring-forward night of 2026-03-08; Bob covers Carol 18:00Z-20:00Z on 2026-03-08; a policy pages it."""
    db = tmp_path / "rota.db"
    run_oncall(db, "init", "--org", "Acme", "--admin-email", "admin@example.com")
    for name in ("bob", "carol"):
        run_oncall(db, "users", "add", "--email", f"{name}@example.com", "--first-name", name.title())
    run_oncall(db, "schedules", "create", "NY", "--timezone", "America/New_York")
    run_oncall(db, "schedules", "layers", "add", "NY", "--name", "Days", "--type", "daily", "--handoff", "09:00", "--from", "2026-03-01 09:00", "--participants", "bob@example.com,carol@example.com")  # fmt: skip
    run_oncall(db, "schedules", "overrides", "add", "NY", "--user", "bob@example.com", "--start", "2026-03-08T18:00Z", "--end", "2026-03-08T20:00Z")  # fmt: skip
    run_oncall(db, "policies", "create", "Pager")
    run_oncall(db, "policies", "layers", "add", "Pager", "--timeout", "5", "--schedule", "NY")
    return db


def oncall_at(db: Path, *args: str) -> Any:
    return json.loads(run_oncall(db, "oncall", *args, "--json").stdout)


def test_oncall_at_answers_per_schedule_and_per_policy_layer(rota: Path) -> None:
    bob, carol = user_id(rota, "bob@example.com"), user_id(rota, "carol@example.com")
    during = oncall_at(rota, "--at", "2026-03-08T19:00Z")
    assert during == oncall_at(rota, "--at", "2026-03-08 15:00", "--tz", "America/New_York")
    (sched,) = during["schedules"]
    assert sched["name"] == "NY" and sched["scheduleOwner"] == bob and sched["override"] is not None
    with service(rota) as ctx:
        pol = policies.find_policy(ctx, "Pager")
        expected = schedules.resolve_schedule(ctx, sched["scheduleId"], parse_iso("2026-03-08T19:00:00Z"))
    assert {k: v for k, v in sched.items() if k != "name"} == expected
    (policy,) = during["policies"]
    assert policy["id"] == pol["id"] and policy["layers"][0]["pagingNow"] == [bob]
    after = oncall_at(rota, "--at", "2026-03-08T21:00Z")
    assert after["schedules"][0]["scheduleOwner"] == carol
    assert after["policies"][0]["layers"][0]["pagingNow"] == [carol]
    text = run_oncall(rota, "oncall", "--at", "2026-03-08T19:00Z").stdout
    assert "On call at 2026-03-08T19:00:00.000Z" in text
    assert re.search(r"NY\s+Bob\s+Bob\s+2026-03-08T20:00:00.000Z", text)
    assert re.search(r"Pager\s+1\s+Bob\s+schedule NY", text)
    one_error_line(run_oncall(rota, "oncall", "--at", "soonish", ok=False), "--at")


def test_shifts_lists_a_persons_turns_and_overrides_dst_correct(rota: Path) -> None:
    window = ("--from", "2026-03-07T00:00Z", "--to", "2026-03-10T00:00Z")
    got = json.loads(run_oncall(rota, "shifts", "--user", "bob@example.com", *window, "--json").stdout)
    assert [(s["start"], s["end"], s["source"]) for s in got] == [
        ("2026-03-07T14:00:00.000Z", "2026-03-08T13:00:00.000Z", "rotation"),  # 23 h: clocks spring forward
        ("2026-03-08T18:00:00.000Z", "2026-03-08T20:00:00.000Z", "override"),
        ("2026-03-09T13:00:00.000Z", "2026-03-10T00:00:00.000Z", "rotation"),  # clipped to --to
    ]
    assert {s["scheduleName"] for s in got} == {"NY"} and {s["layerName"] for s in got} == {"Days"}
    mine = run_oncall(rota, "shifts", *window, "--as", "bob@example.com", "--json").stdout  # --user me
    assert json.loads(mine) == got
    text = run_oncall(rota, "shifts", "--user", "carol@example.com", *window).stdout
    assert "2026-03-08T13:00:00.000Z  2026-03-08T18:00:00.000Z  rotation" in text
    one_error_line(run_oncall(rota, "shifts", "--user", "ghost@example.com", ok=False), "not found")
    one_error_line(
        run_oncall(rota, "shifts", "--from", "2026-03-09", "--to", "2026-03-08", ok=False), "after"
    )
