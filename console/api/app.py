"""The Starlette application behind ``oncall serve``.

One process serves ``/v1/…`` over the service layer and, unless told otherwise, runs the escalation
engine beside it (:class:`engine.runtime.runner.EngineRunner`: it fires timers when it holds the engine
lease and stands by when another process does). Requests run in Starlette's thread pool, each on its own
pooled SQLite connection (WAL: readers never wait for the writer); writes are group-committed by one writer
thread (:class:`Api`).

Once the database file is deleted or replaced (:class:`storage.db.DatabaseGone`), every request is answered
503 ``database_gone`` (reads too: they would show a file nobody else sees); ``oncall serve`` watches
:meth:`DatabasePool.check` and shuts the process down with exit code 1.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from console.api import ack_page, openapi
from console.api.auth import authenticate_header, require_admin, require_self_or_admin
from console.api.body_limit import MAX_BODY_BYTES, BodyTooLarge
from console.api.errors import (
    REQUEST_ID_HEADER,
    ApiError,
    error_response,
    internal_error,
    request_id,
)
from console.api.middleware import RequestMiddleware
from console.api.routes import NO_BODY, OPERATIONS, Call, Operation, Raw
from engine.clock import Clock, monotonic
from engine.errors import DomainError, ValidationError
from engine.runtime.operator_config import OperatorConfig
from engine.runtime.runner import EngineRunner
from engine.service import Ctx
from engine.service.database import Database, is_db_url, open_db, pages_due
from engine.service.group_commit import GroupCommit
from engine.service.timer_kinds import new_runner

log = logging.getLogger("oncall.api")

POKE_EVERY_S = 0.05
"""The least time between two engine pokes from the API's writer (see :meth:`Api._committed`)."""


class DatabasePool:
    """SQLite connections handed to one request at a time (a connection is never shared mid-request).

    The file must exist (:class:`storage.db.DatabaseMissing` otherwise). Every connection shares the
    first one's :class:`storage.db.FileIdentity`, so the file going away is seen by all of them at once.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._idle: list[Database] = []
        self._all: list[Database] = []
        self._lock = threading.Lock()
        # The first open applies migrations and fails early on a file that is not an oncall database.
        first = open_db(path, create=False)
        self.file = first.file
        self._idle.append(first)
        self._all.append(first)

    def check(self) -> None:
        """Raise :class:`storage.db.DatabaseGone` once the file was deleted or replaced (one ``stat``)."""
        if self.file is not None:
            self.file.check()

    @contextmanager
    def connection(self) -> Iterator[Database]:
        """An idle connection (opened on demand), after checking that the file is still there."""
        self.check()
        with self._lock:
            db = self._idle.pop() if self._idle else None
        if db is None:
            db = open_db(self.path, migrate=False, create=False, identity=self.file)
            with self._lock:
                self._all.append(db)
        try:
            yield db
        finally:
            with self._lock:
                self._idle.append(db)

    def close(self) -> None:
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()
            self._idle.clear()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes | None) -> Any:
    """The request body as JSON; anything that is not one JSON value is 422 ``validation_error``, and
    so is a body cut off by :func:`console.api.body_limit.limit_receive` (``raw`` is None: it was larger
    than :data:`MAX_BODY_BYTES` and never read whole). Called after authentication, so a request without a
    valid key is 401 whatever its body."""
    if raw is None or len(raw) > MAX_BODY_BYTES:
        raise ValidationError(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        return NO_BODY
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
        # Lone surrogates ("\ud800") decode fine but cannot be stored: refuse them here.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError, UnicodeError) as exc:
        raise ValidationError(f"the request body is not valid JSON ({exc})") from None
    return value


class Api:
    """What every request needs: the connection pool, the clock, the operator's configuration (every
    request's context carries it), the group-commit writer and the engine to poke after writes.

    Reads run in Starlette's thread pool, each on a pooled connection, except a bounded read of SQLite
    (:attr:`console.api.routes.Operation.inline`: a page of the incident list walking an index), answered
    on the event loop: handing a request to a thread and back cost more CPU than the read itself
    (~0.4 ms a request with 32 in flight: GIL hand-offs between the pool's threads; docs/PERFORMANCE.md
    "GET list (session 6)"). Writes run on the writer thread
    (:class:`engine.service.group_commit.GroupCommit`): every write request waiting is authenticated and
    run in one ``BEGIN IMMEDIATE`` transaction, committed once, then each is answered (its own result or
    its own error); the pages a batch queued are claimed last in its transaction and handed to the
    engine's delivery thread after the commit (:meth:`EngineRunner.claim_pages`; their outcomes are
    recorded in a later batch); then the delivery worker is woken if a page is still due and the engine
    poked (at most every :data:`POKE_EVERY_S`). The event loop awaits the answer directly: no thread-pool hop and no lock on
    the write path.
    """

    def __init__(
        self, db_path: Path | str, clock: Clock, engine: EngineRunner | None, config: OperatorConfig
    ) -> None:
        self.pool = DatabasePool(db_path)
        self.clock = clock
        self.engine = engine
        self.config = config
        self._writer: GroupCommit | None = None
        self._writer_lock = threading.Lock()
        self._poked = -POKE_EVERY_S
        # Inline reads (Operation.inline) on SQLite only: a PostgreSQL read waits on the network.
        self.inline_reads = not is_db_url(db_path)

    @property
    def writer(self) -> GroupCommit:
        """The group-commit writer, started on the first write (on a connection of its own)."""
        writer = self._writer
        if writer is None:
            with self._writer_lock:
                if self._writer is None:
                    self.pool.check()
                    db = open_db(self.pool.path, migrate=False, create=False, identity=self.pool.file)
                    self._writer = GroupCommit(
                        db, on_commit=self._committed, before_commit=self._claim_pages, name="api-writer"
                    )
                    if self.engine is not None:
                        self.engine.share_writer(self._writer.submit)
                writer = self._writer
        return writer

    def _claim_pages(self, db: Database) -> Callable[[], None] | None:
        """Last in each batch's transaction: the pages it queued are claimed for the engine's delivery,
        which sends them as soon as the batch committed (no write turn of its own; docs/ALERTS.md)."""
        engine = self.engine
        return engine.claim_pages(db) if engine is not None else None

    def _committed(self, count: int) -> None:
        """After a batch of ``count`` successful writes (on the writer thread).

        A page the batch queued (an incident opened, an alert received) goes out at once: the delivery
        worker is woken directly when one is due (one indexed read). The engine's cycle is poked at most
        every :data:`POKE_EVERY_S`: a poke adds an APScheduler job (a tenth of a create's CPU in
        bench/api.py), and a write a skipped poke leaves unseen is seen by the runner's ``data_version``
        poll (0.2 s) anyway; nothing a request starts needs the engine sooner (layer 1 is paged in the
        request's own transaction).
        """
        engine, writer = self.engine, self._writer
        if engine is None or writer is None:
            return
        if pages_due(writer.db, self.clock):
            engine.wake_delivery()
        now = monotonic()
        if now - self._poked >= POKE_EVERY_S:
            self._poked = now
            engine.poke()

    def close(self) -> None:
        """Finish the queued writes, stop the writer and close every connection."""
        with self._writer_lock:
            writer, self._writer = self._writer, None
        if self.engine is not None:
            self.engine.share_writer(None)
        if writer is not None:
            writer.close()
            writer.db.close()
        self.pool.close()

    def run(self, db: Database, op: Operation, request: Request, raw: bytes | None) -> Any:
        """Authenticate, parse ``raw`` (None: the body was over the limit) and run ``op`` on ``db``."""
        if op.auth == "feed_token":  # the query's token is the credential; the handler checks it
            ctx = Ctx(db=db, org_id="", is_admin=False, clock=self.clock, config=self.config)
        elif op.precheck is not None:
            ctx = Ctx(db=db, org_id="", clock=self.clock, config=self.config)
            op.precheck(Call(ctx=ctx, path=request.path_params, query=request.query_params, body=NO_BODY))
        else:
            ctx = authenticate_header(db, request.headers.get("authorization"), self.clock, self.config)
        if op.admin:
            require_admin(ctx)
        elif op.self_or_admin is not None:
            require_self_or_admin(ctx, request.path_params[op.self_or_admin])
        body = parse_json(raw) if op.body != "none" else NO_BODY
        return op.handler(Call(ctx=ctx, path=request.path_params, query=request.query_params, body=body))

    def read(self, op: Operation, request: Request, raw: bytes | None) -> Any:
        """Run a reading ``op`` on a pooled connection (in the thread pool)."""
        with self.pool.connection() as db:
            return self.run(db, op, request, raw)

    async def write(self, work: Callable[[Database], Any]) -> Any:
        """Run ``work(db)`` in the writer's next batch; its result once committed, or its error."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if answer.done():  # the client went away meanwhile: the write stands, nobody to tell
                return
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(result)

        def done(result: Any, error: BaseException | None) -> None:  # on the writer thread
            loop.call_soon_threadsafe(settle, result, error)

        self.writer.submit(work, done)
        return await answer

    def endpoint(self, ops: dict[str, Operation]) -> Callable[[Request], Any]:
        plain = {method: plain_json(op.response) for method, op in ops.items()}

        async def handle(request: Request) -> Response:
            rid = request_id(request)
            # The Route only admits the methods in ``ops`` (plus HEAD where GET is); others are 405 there.
            op = ops["GET" if request.method == "HEAD" else request.method]
            try:
                raw: bytes | None = b""
                if op.body != "none":
                    try:
                        raw = await request.body()
                    except BodyTooLarge:
                        raw = None  # refused after authentication, in run()
                if op.writes:
                    result = await self.write(partial(self.run, op=op, request=request, raw=raw))
                elif self.inline_reads and op.inline is not None and op.inline(request.query_params):
                    result = self.read(op, request, raw)  # cheaper than the thread hand-off; see Api
                else:
                    result = await run_in_threadpool(self.read, op, request, raw)
            except DomainError as exc:
                return error_response(exc, rid)
            except Exception:
                log.exception("request %s failed", rid)
                return error_response(internal_error(), rid)
            if isinstance(result, Raw):
                return Response(result.body, media_type=result.media_type, headers={REQUEST_ID_HEADER: rid})
            if op.status == 204:
                return Response(status_code=204, headers={REQUEST_ID_HEADER: rid})
            if plain[op.method]:
                body = _encode({"data": result})
                return Response(body, op.status, {REQUEST_ID_HEADER: rid}, media_type="application/json")
            return JSONResponse({"data": result}, status_code=op.status, headers={REQUEST_ID_HEADER: rid})

        return handle


_encode = msgspec.json.Encoder().encode


def plain_json(model: Any) -> bool:
    """Whether answers of ``model`` (a response model: Struct, list, union, None) hold no float and no
    free-form value anywhere: then msgspec's encoder writes exactly the bytes Starlette's
    ``json.dumps(ensure_ascii=False, separators=(",", ":"))`` writes (same key order, same escapes, same
    integers), ~5x faster; only floats are written differently (``1e16`` for ``1e+16``), so a model that
    may hold one (or ``Any``: an alert's raw payload) keeps ``JSONResponse``."""
    if model is None:
        return False
    seen: set[int] = set()

    def plain(t: msgspec.inspect.Type) -> bool:
        if isinstance(t, msgspec.inspect.Metadata):
            return plain(t.type)
        if isinstance(t, msgspec.inspect.StructType):
            if id(t.cls) in seen:
                return True
            seen.add(id(t.cls))
            return all(plain(f.type) for f in t.fields)
        if isinstance(t, msgspec.inspect.ListType | msgspec.inspect.TupleType):
            return (
                plain(t.item_type)
                if isinstance(t, msgspec.inspect.ListType)
                else all(map(plain, t.item_types))
            )
        if isinstance(t, msgspec.inspect.DictType):
            return plain(t.key_type) and plain(t.value_type)
        if isinstance(t, msgspec.inspect.UnionType):
            return all(plain(u) for u in t.types)
        return isinstance(t, _PLAIN_TYPES)

    try:
        return plain(msgspec.inspect.type_info(model))
    except (TypeError, ValueError):
        return False


_PLAIN_TYPES = (
    msgspec.inspect.StrType,
    msgspec.inspect.IntType,
    msgspec.inspect.BoolType,
    msgspec.inspect.NoneType,
    msgspec.inspect.LiteralType,
)


async def _http_exception(request: Request, exc: Exception) -> Response:
    """Routing errors (unknown path 404, wrong method 405) in the API's error shape."""
    rid = request_id(request)
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        # HEAD is served wherever GET is, but only the documented methods are advertised.
        allow = ", ".join(m for m in (exc.headers or {}).get("Allow", "").split(", ") if m and m != "HEAD")
        err = ApiError(405, "invalid_request_error", "method_not_allowed", f"allowed methods: {allow}")
        return error_response(err, rid, headers={"Allow": allow})
    if exc.status_code == 404:
        err = ApiError(404, "invalid_request_error", "not_found", f"no such endpoint: {request.url.path}")
        return error_response(err, rid)
    err = ApiError(exc.status_code, "invalid_request_error", "bad_request", str(exc.detail))
    return error_response(err, rid)


async def _unexpected(request: Request, exc: Exception) -> Response:
    rid = request_id(request)
    log.error("request %s failed: %r", rid, exc)
    return error_response(internal_error(), rid)


def _openapi_endpoint(document: dict[str, Any]) -> Callable[[Request], Any]:
    body = json.dumps(document, separators=(",", ":")).encode()

    async def serve_document(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return serve_document


def create_app(
    db_path: str | Path, clock: Clock, *, engine: bool = True, config: OperatorConfig | None = None
) -> Starlette:
    """The API app on the database at ``db_path``.

    ``config`` is the operator's configuration (``oncall serve`` reads the file and adds its
    ``--allow-webhook`` entries); without one, every default applies (no webhook allow-list).

    With ``engine=True`` an :class:`EngineRunner` starts with the app (lifespan) and stops with it; its
    mode ("embedded" or "standby") is then in ``app.state.engine.mode``. Every write request pokes it so
    a new due time is seen at once.
    """
    path = db_path if is_db_url(db_path) else Path(db_path)
    config = config or OperatorConfig()
    runner = new_runner(path, clock, f"serve-{os.getpid()}", config=config) if engine else None
    api = Api(path, clock, runner, config)

    by_path: dict[str, dict[str, Operation]] = {}
    for operation in OPERATIONS:
        by_path.setdefault(operation.path, {})[operation.method] = operation
    routes = [Route("/v1/openapi.json", _openapi_endpoint(openapi.document()), methods=["GET"])]
    routes += [Route(p, api.endpoint(ops), methods=list(ops)) for p, ops in by_path.items()]
    routes += ack_page.routes(api)  # acknowledge from the page: HTML, no API key (docs/PAGES.md)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if runner is not None:
            await run_in_threadpool(runner.start)
            runner.prepare_delivery()
        try:
            yield
        finally:
            if runner is not None:
                await run_in_threadpool(runner.stop)
            api.close()

    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestMiddleware, limit=MAX_BODY_BYTES)],
        exception_handlers={HTTPException: _http_exception, Exception: _unexpected},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.api = api
    app.state.engine = runner
    app.state.db_path = path
    return app
