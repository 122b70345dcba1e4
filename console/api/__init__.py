"""The local Scaling-compatible HTTP API (``oncall serve``): a thin layer over :mod:`engine.service`."""

from __future__ import annotations

from console.api.app import create_app

__all__ = ["create_app"]
