"""Telling a PostgreSQL URL from a SQLite path, and showing one without its password (no driver import:
every command parses ``--db``, only a PostgreSQL one loads psycopg)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def is_url(path: object) -> bool:
    """Whether ``path`` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return isinstance(path, str) and path.startswith(("postgresql://", "postgres://"))


def display_url(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[1]}"))
