"""The remote mirror's use cases, for the surfaces: log in and link, pull, push the change queue, retry,
discard or adopt a change, and the background runner the console starts.

They live in :mod:`storage.sync` (docs/SYNC.md); the surfaces reach them only through this module, so
``console/`` never imports :mod:`storage`.
"""

from __future__ import annotations

from storage.sync import credentials, link
from storage.sync.change_queue import adopt_change, discard_change, push, retry_change
from storage.sync.client import RemoteError, ScalingClient, Unreachable, normalise_base_url
from storage.sync.credentials import Secret
from storage.sync.pull import pull
from storage.sync.runner import SyncRunner

__all__ = [
    "RemoteError",
    "ScalingClient",
    "Secret",
    "SyncRunner",
    "Unreachable",
    "adopt_change",
    "credentials",
    "discard_change",
    "link",
    "normalise_base_url",
    "pull",
    "push",
    "retry_change",
]
