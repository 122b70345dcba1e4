"""``oncall serve`` options: loopback by default, an explicit flag and a warning for anything else."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner

from console.cli.main import cli
from console.cli.registry import register
from console.cli.serve import is_loopback
from engine.clock import monotonic
from engine.runtime.delivery import COMMAND_PAGE_VARIABLES
from storage.db import open_db
from tests.api.conftest import oncall, start_serve, stop_serve
from tests.helpers import oncall_in_process

register(cli)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("myhost.example", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_non_loopback_needs_the_flag(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "x.db"), "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "--allow-remote" in result.output
    assert not (tmp_path / "x.db").exists()


def test_non_loopback_with_the_flag_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_run(self: uvicorn.Server, sockets: Any = None) -> None:
        seen["host"], seen["port"] = self.config.host, self.config.port

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    db = tmp_path / "own.db"
    open_db(db).close()  # serve uses a database, it does not create one
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            str(tmp_path / "global.db"),
            "serve",
            "--db",
            str(db),
            "--host",
            "0.0.0.0",
            "--allow-remote",
            "--port",
            "0",
            "--no-engine",
        ],  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    assert "warning: binding to 0.0.0.0" in result.output
    assert seen == {"host": "0.0.0.0", "port": 0}
    assert not (tmp_path / "global.db").exists()  # serve's own --db wins (the global one would fail: missing)


# -- the operator's configuration and what a served engine runs ---------------------------------------


@pytest.fixture
def refused_serve(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``oncall ARGS…`` in this process (what is checked is the refusal: one ``error:`` line and the exit
    code, the same ``main`` a process runs), for a ``serve`` that must be refused before it listens: if it
    got as far as starting the server, the test fails rather than serving forever."""

    def refuse(self: uvicorn.Server, sockets: Any = None) -> None:
        raise AssertionError("oncall serve started although its configuration is bad")

    monkeypatch.setattr(uvicorn.Server, "run", refuse)
    return lambda *args: oncall_in_process(list(args))


def test_a_bad_allow_entry_or_config_file_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused_serve: Any
) -> None:
    monkeypatch.setenv("ONCALL_CONFIG", str(tmp_path / "absent.toml"))
    done = refused_serve("--db", str(tmp_path / "x.db"), "serve", "--allow-webhook", "10.0.0.0/8 and more")
    assert done.returncode == 1 and done.stderr.startswith("error: --allow-webhook: ")
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    for text, needle in (
        ("[webhooks\nallow = 1", "not valid TOML"),
        ("[webhooks]\nallow = '10.0.0.0/8'", "webhooks.allow must be a list"),
        ("[webhook]\nallow = []", "unknown section [webhook]"),
        ("[webhooks]\nalow = []", "unknown key webhooks.alow"),
        ("[commands]\npath = ''", "commands.path"),
    ):
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        monkeypatch.setenv("ONCALL_CONFIG", str(bad))
        done = refused_serve("--db", str(tmp_path / "x.db"), "serve", "--port", "0")
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith(f"error: {bad}: ") and needle in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ("*.example.com", "wildcard"),
        ("a..b", "malformed"),
        ("%41", "malformed"),
        ("-bad.example", "malformed"),
        ("xn--zz.example", "not valid IDNA"),
        ("a" * 64 + ".example", "malformed"),
        ("10.1", "looks like an IP address"),
    ],
)
def test_an_allow_entry_that_is_not_an_address_network_or_host_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused_serve: Any, entry: str, needle: str
) -> None:
    """On the command line and in the file alike: one ``error:`` line naming the entry, exit 1."""
    monkeypatch.setenv("ONCALL_CONFIG", str(tmp_path / "absent.toml"))
    done = refused_serve("--db", str(tmp_path / "x.db"), "serve", "--allow-webhook", entry)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"error: --allow-webhook: {entry!r} is neither") and needle in done.stderr
    assert done.stderr.count("\n") == 1
    config = tmp_path / "config.toml"
    config.write_text(f"[webhooks]\nallow = [{json.dumps(entry)}]\n")
    monkeypatch.setenv("ONCALL_CONFIG", str(config))
    done = refused_serve("--db", str(tmp_path / "x.db"), "serve", "--port", "0")
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"error: {config}: webhooks.allow: {entry!r}") and needle in done.stderr
    assert done.stderr.count("\n") == 1


def test_a_served_engine_runs_only_the_operators_commands_with_a_clean_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``oncall serve`` with secrets in its environment: an API key cannot create a command (403), the
    one the operator added with the CLI runs without the server's variables, and the config file's and
    ``--allow-webhook``'s allow-lists both apply to API keys."""
    monkeypatch.setenv("SCALING_API_KEY", "scl_live_server_secret")
    monkeypatch.setenv("DATABASE_PASSWORD", "hunter2")
    config = tmp_path / "config.toml"
    config.write_text('[webhooks]\nallow = ["127.0.0.1"]\n')
    monkeypatch.setenv("ONCALL_CONFIG", str(config))
    db = tmp_path / "served.db"
    dump = tmp_path / "env.json"
    marker = tmp_path / "api-command-ran"
    script = tmp_path / "dump_env.py"
    script.write_text(f"import json, os\njson.dump(dict(os.environ), open({str(dump)!r}, 'w'))\n")
    server = start_serve(db, "--allow-webhook", "10.9.0.0/16")
    try:
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}, timeout=10)
        cm = f"/v1/users/{server.admin_id}/contact-methods"
        refused = api.post(cm, json={"channel": "command", "address": f"touch {marker}"})
        assert refused.status_code == 403 and refused.json()["code"] == "operator_only"
        added = oncall("--db", str(db), "users", "contacts", "add", "admin@example.com", "--channel", "command",
                       "--address", f"{sys.executable} {script}", "--json")  # fmt: skip
        assert added.returncode == 0, added.stderr
        # The config file's entry and the flag's both let an API key through; nothing else private does.
        assert api.post(cm, json={"channel": "webhook", "address": "http://127.0.0.1:9/x"}).status_code == 201
        other = api.post("/v1/users", json={"email": "b@example.com"}).json()["data"]["id"]
        to_flag = {"channel": "webhook", "address": "http://10.9.1.1/x"}
        assert api.post(f"/v1/users/{other}/contact-methods", json=to_flag).status_code == 201
        assert api.post(cm, json={"channel": "webhook", "address": "http://10.8.1.1/x"}).status_code == 422

        policy = api.post("/v1/escalation/policies", json={"name": "P"}).json()["data"]["id"]
        target = {"type": "users", "userIds": [server.admin_id]}
        layer = {"position": 1, "ackTimeoutMinutes": 5, "target": target}
        assert api.post(f"/v1/escalation/policies/{policy}/layers", json=layer).status_code == 201
        inc = api.post(
            "/v1/incidents", json={"title": "Disk", "severity": "high", "escalationPolicyId": policy}
        )
        assert inc.status_code == 201
        deadline = monotonic() + 30
        while not dump.exists() and monotonic() < deadline:
            threading.Event().wait(0.05)
        env = json.loads(dump.read_text())
        assert "SCALING_API_KEY" not in env and "DATABASE_PASSWORD" not in env
        assert "scl_live_server_secret" not in dump.read_text() and "hunter2" not in dump.read_text()
        assert (
            env["ONCALL_INCIDENT_ID"] == inc.json()["data"]["id"]
            and env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
        )
        assert set(env) - {"LC_CTYPE"} == {"PATH", "HOME", "LANG", *COMMAND_PAGE_VARIABLES}
        assert not marker.exists()
    finally:
        stop_serve(server)


# -- the edge of a real `oncall serve` process -----------------------------------------------------------


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _raw_request(url: str, head: str) -> str:
    """Send only ``head`` (request line and headers, no body) and return the status line and body."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())  # the body never comes: the server must answer without it
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def _chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    block = b'{"title": "' + b"x" * (size - 11)
    sent = 0
    while sent < total:
        yield block
        sent += len(block)


def test_oversized_bodies_are_refused_without_being_read(tmp_path: Path) -> None:
    server = start_serve(tmp_path / "big.db")
    try:
        keyed = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}, timeout=60
        )
        assert keyed.post("/v1/incidents", json={"title": "warm up", "severity": "low"}).status_code == 201
        before = _rss_mb(server.proc.pid)

        # A Content-Length over the limit is answered from the headers alone, with or without a key.
        head = "POST /v1/incidents HTTP/1.1\r\nHost: x\r\nContent-Length: 300000000\r\n{auth}Connection: close\r\n\r\n"
        assert _raw_request(server.url, head.format(auth="")).startswith("HTTP/1.1 401")
        answer = _raw_request(server.url, head.format(auth=f"Authorization: Bearer {server.key}\r\n"))
        assert answer.startswith("HTTP/1.1 422") and "larger than 1000000 bytes" in answer

        # 300 MB streamed (chunked, no Content-Length) and declared: answered, never buffered.
        anonymous = httpx.post(server.url + "/v1/incidents", content=_chunks(300 << 20), timeout=60)
        assert anonymous.status_code == 401
        refused = keyed.post("/v1/incidents", content=_chunks(300 << 20))
        assert refused.status_code == 422 and "larger than 1000000 bytes" in refused.json()["message"]
        declared = keyed.post(
            "/v1/incidents", content=_chunks(300 << 20), headers={"Content-Length": str(300 << 20)}
        )
        assert declared.status_code == 422
        assert _rss_mb(server.proc.pid) < before + 50

        # The server still answers, and a body just under the limit is read and judged on its content.
        near = b'{"title": "' + b"x" * (1_000_000 - 32) + b'", "severity": "low"}'
        assert len(near) <= 1_000_000
        resp = keyed.post("/v1/incidents", content=near)
        assert resp.status_code == 422 and resp.json()["field"] == "title"
        assert keyed.get("/v1/incidents").status_code == 200
    finally:
        stop_serve(server)


def test_serve_on_a_port_in_use_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = oncall("serve", "--db", str(tmp_path / "busy.db"), "--port", str(port))
    assert result.returncode == 1
    assert result.stderr == f"error: port {port} on 127.0.0.1 is already in use\n"
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "busy.db").exists()  # refused before the database was opened
