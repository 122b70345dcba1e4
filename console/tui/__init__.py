"""The console: ``oncall`` opens it on the configured database, ``oncall demo`` on the demo database."""

from __future__ import annotations

from console.tui.app import OncallApp, run_app

__all__ = ["OncallApp", "run_app"]
