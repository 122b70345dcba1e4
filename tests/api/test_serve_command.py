"""``oncall serve`` options: loopback by default, an explicit flag and a warning for anything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

from console.cli import cli
from console.commands import register
from console.commands.serve import is_loopback

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
