"""Where the user's database and configuration live by default: the XDG base-directory rule on Linux.

``user_data_dir("oncall")`` and ``user_config_dir("oncall")`` answer exactly what platformdirs answers
(``platformdirs.user_data_dir(app, appauthor=False)``, ``...user_config_dir``) without importing it:
platformdirs loads ``tempfile``, ``shutil`` and ``random`` (bz2, lzma) into every command that opens the
default database or looks for the operator's file. The rule is only applied where it is the whole answer:
Linux with an absolute ``$HOME``; anywhere else (macOS, Windows, an unset or relative ``$HOME``) we ask
platformdirs. tests/cli/test_startup.py compares both answers.
"""

from __future__ import annotations

import os
import sys

__all__ = ["user_config_dir", "user_data_dir"]


def _xdg(variable: str, fallback: str, app: str) -> str | None:
    """``$<variable>/<app>`` if that variable is an absolute path, else ``~/<fallback>/<app>``; None when
    the simple rule may not be platformdirs' answer (then the caller asks platformdirs)."""
    if not sys.platform.startswith("linux") or not os.path.isabs(os.environ.get("HOME", "")):
        return None
    base = os.environ.get(variable, "")
    if not os.path.isabs(base):
        base = os.path.expanduser("~/" + fallback)
    return os.path.join(base, app)


def user_data_dir(app: str) -> str:
    """The user's data directory for ``app`` (``$XDG_DATA_HOME/app``, else ``~/.local/share/app``): a
    string path, not created."""
    found = _xdg("XDG_DATA_HOME", ".local/share", app)
    if found is not None:
        return found
    import platformdirs

    return platformdirs.user_data_dir(app, appauthor=False)


def user_config_dir(app: str) -> str:
    """The user's configuration directory for ``app`` (``$XDG_CONFIG_HOME/app``, else ``~/.config/app``):
    a string path, not created."""
    found = _xdg("XDG_CONFIG_HOME", ".config", app)
    if found is not None:
        return found
    import platformdirs

    return platformdirs.user_config_dir(app, appauthor=False)
