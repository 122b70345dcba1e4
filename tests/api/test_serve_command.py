"""``oncall serve`` options: loopback by default, an explicit flag and a warning for anything else."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner

from console.cli import cli
from console.commands import register
from console.commands.serve import is_loopback
from tests.api.conftest import oncall, start_serve, stop_serve

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
    assert db.exists() and not (tmp_path / "global.db").exists()  # serve's own --db wins


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
        started = time.monotonic()
        anonymous = httpx.post(server.url + "/v1/incidents", content=_chunks(300 << 20), timeout=60)
        assert anonymous.status_code == 401
        refused = keyed.post("/v1/incidents", content=_chunks(300 << 20))
        assert refused.status_code == 422 and "larger than 1000000 bytes" in refused.json()["message"]
        declared = keyed.post(
            "/v1/incidents", content=_chunks(300 << 20), headers={"Content-Length": str(300 << 20)}
        )
        assert declared.status_code == 422
        assert time.monotonic() - started < 60
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
