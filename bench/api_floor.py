"""The floor of ``bench/api.py``: bare Starlette + uvicorn serving the same SQL and the same JSON as
``GET /v1/incidents?limit=100`` and ``POST /v1/incidents`` of ``oncall serve``, and nothing else.

``python bench/api_floor.py DB`` serves the database at ``DB`` on a free loopback port and prints
``http://127.0.0.1:PORT/v1`` like ``oncall serve``. Same uvicorn (same HTTP parser and loop, no access
log, no server header), same statements (the API key's lookup by SHA-256 and a constant-time compare; for
the list the same ``SELECT``; for a create the same ``BEGIN IMMEDIATE`` transaction: next number, the
incident, its status history, its timeline event, the sync check, the row read back, ``COMMIT``), the same
answer bytes (``bench/api.py`` checks that the list's are identical). What it leaves out is what the
product adds: the service layer's validation and models, the engine, the request id, error bodies.
Plain Starlette practice: the endpoint's work runs in Starlette's thread pool (what a ``def`` endpoint
gets), one connection per thread (WAL, ``synchronous=NORMAL``), writes one at a time behind a lock, one
transaction per request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import sqlite3
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_B32 = "0123456789abcdefghjkmnpqrstvwxyz"


def _id(prefix: str, at: datetime) -> str:
    ms = int(at.timestamp() * 1000)
    head = "".join(_B32[(ms >> (5 * i)) & 31] for i in reversed(range(10)))
    return f"{prefix}_{head}{''.join(secrets.choice(_B32) for _ in range(16))}"


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _incident(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "orgId": row["org_id"],
        "title": row["title"],
        "description": row["description"],
        "severity": row["severity"],
        "status": row["status"],
        "ownerId": row["owner_id"],
        "escalationPolicyId": row["escalation_policy_id"],
        "affectedComponents": [],
        "createdBy": row["created_by"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
        "sequentialId": row["seq"],
        "acknowledgedAt": row["acknowledged_at"],
        "acknowledgedBy": row["acknowledged_by"],
        "resolvedAt": row["resolved_at"],
        "isDrill": bool(row["is_drill"]),
    }


def create_app(path: str) -> Starlette:
    local = threading.local()
    write_lock = threading.Lock()

    def connection() -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=15000")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            local.conn = conn
        return conn

    def auth(conn: sqlite3.Connection, request: Request) -> sqlite3.Row | None:
        header = request.headers.get("authorization", "")
        digest = hashlib.sha256(header[7:].strip().encode()).hexdigest()
        row = conn.execute(
            "SELECT k.*, u.role AS user_role, u.removed_at AS user_removed FROM api_keys k "
            "LEFT JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?",
            (digest,),
        ).fetchone()
        if row is None or not hmac.compare_digest(row["key_hash"], digest) or row["revoked_at"] is not None:
            return None
        return row

    def incidents(request: Request, body: bytes) -> Response:
        conn = connection()
        key = auth(conn, request)
        if key is None:
            return JSONResponse({"code": "invalid_api_key"}, status_code=401)
        if request.method == "GET":
            limit = int(request.query_params.get("limit", "20"))
            rows = conn.execute(
                "SELECT * FROM incidents WHERE org_id = ? ORDER BY created_at DESC, id DESC LIMIT ?",
                (key["org_id"], limit + 1),
            ).fetchall()
            page = rows[:limit]
            cursor = None
            if len(rows) > limit:
                raw = json.dumps({"c": page[-1]["created_at"], "i": page[-1]["id"]}, separators=(",", ":"))
                cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
            return JSONResponse({"data": {"incidents": [_incident(r) for r in page], "nextCursor": cursor}})
        fields = json.loads(body)
        org, user = key["org_id"], key["user_id"] or key["id"]
        with write_lock:  # one writer at a time, queued on a lock rather than in SQLite's busy handler
            row = create(conn, org, user, fields)
        return JSONResponse({"data": _incident(row)}, status_code=201)

    def create(conn: sqlite3.Connection, org: str, user: str, body: dict[str, Any]) -> sqlite3.Row:
        conn.execute("BEGIN IMMEDIATE")
        try:
            now = datetime.now(UTC)  # noqa: DTZ005 - the floor has no injected clock
            ts = _iso(now)
            seq = conn.execute(
                "SELECT coalesce(max(seq), 0) + 1 FROM incidents WHERE org_id = ?", (org,)
            ).fetchone()[0]
            iid = _id("inc", now)
            conn.execute(
                "INSERT INTO incidents (id, org_id, seq, title, description, severity, status, owner_id, "
                "owner_schedule_id, escalation_policy_id, created_by, created_at, updated_at, is_drill, origin, "
                "remote_id) VALUES (?, ?, ?, ?, ?, ?, 'investigating', NULL, NULL, NULL, ?, ?, ?, 0, 'local', NULL)",
                (iid, org, seq, body["title"], body.get("description"), body["severity"], user, ts, ts),
            )
            conn.execute(
                "INSERT INTO status_history (id, incident_id, status, changed_at, changed_by, resolution_note) "
                "VALUES (?, ?, 'investigating', ?, ?, NULL)",
                (_id("sh", now), iid, ts, user),
            )
            conn.execute("SELECT max(at) FROM timeline WHERE incident_id = ?", (iid,)).fetchone()
            data = {"escalationPolicyId": None, "isDrill": False, "ownerId": None, "severity": body["severity"],
                    "title": body["title"]}  # fmt: skip
            conn.execute(
                "INSERT INTO timeline (id, incident_id, at, kind, actor, data) VALUES (?, ?, ?, 'incident_created', ?, ?)",
                (_id("evt", now), iid, ts, user, json.dumps(data, separators=(",", ":"), sort_keys=True)),
            )
            conn.execute("SELECT 1 FROM sync_config WHERE org_id = ?", (org,)).fetchone()
            row = conn.execute("SELECT * FROM incidents WHERE id = ? AND org_id = ?", (iid, org)).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return row

    async def endpoint(request: Request) -> Response:
        body = await request.body() if request.method == "POST" else b""
        return await run_in_threadpool(incidents, request, body)  # what a plain `def` endpoint does

    return Starlette(routes=[Route("/v1/incidents", endpoint, methods=["GET", "POST"])])


def main() -> None:
    app = create_app(sys.argv[1])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(f"floor on http://127.0.0.1:{sock.getsockname()[1]}/v1", flush=True)
    config = uvicorn.Config(app, access_log=False, log_level="warning", lifespan="on", server_header=False)
    uvicorn.Server(config).run(sockets=[sock])  # as oncall serve: uvicorn picks the same parser and loop


if __name__ == "__main__":
    main()
