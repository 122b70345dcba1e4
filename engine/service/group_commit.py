"""Group commit: many concurrent requests' writes committed in one transaction by one writer thread.

A surface that serves many writers at once (the HTTP API) submits each request as a function of the
database; the writer thread takes every request waiting (up to ``max_batch``), opens one ``BEGIN
IMMEDIATE`` transaction, runs them one after the other in it and commits once, then answers each. So a
storm of alert receipts pays for one commit (and one wait for SQLite's write lock) per batch, not one per
request, and no request thread sleeps in SQLite's busy handler waiting for another.

Each request keeps its own answer and its own error: a request's writes are in its own savepoints (the
service's ``ctx.write()`` blocks nest as savepoints inside the batch), so one that fails rolls back only
its own work, exactly as its own transaction would have. Nothing is answered before it is committed:
results are handed out only after ``COMMIT`` returned; if ``BEGIN`` or ``COMMIT`` fails (the file gone,
read-only, the disk full), every request of the batch that had not failed on its own gets that error. A
request whose failure ended the batch's transaction (SQLite rolls back by itself on some I/O errors) ends
the batch: the requests before it get the error (their work was rolled back with it), the ones after it
are run in the next batch.

The order of a batch is the order of submission; commit order is still timestamp order
(:func:`storage.db_clock.write_at` takes each request's instant inside the transaction).

``before_commit`` is the batch's last work, in its transaction (the API claims the pages the batch queued
for the engine's delivery there, so delivery starts sending without a write turn of its own): it returns
a function to call once the batch committed (the hand-over), or None. If it raises, its own savepoint is
rolled back and the batch commits without it; if the batch does not commit, the function is not called.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storage.db import Database

log = logging.getLogger("oncall.group_commit")

AfterCommit = Callable[[], None]
"""What :class:`GroupCommit`'s ``before_commit`` hook returns: called on the writer thread once the batch
committed; it must not block."""

Done = Callable[[Any, BaseException | None], None]
"""Called once per request, from the writer thread, after its batch committed (or failed): ``(result,
None)`` or ``(None, error)``. It must not block."""


@dataclass
class _Request:
    work: Callable[[Database], Any]
    done: Done
    result: Any = None
    error: BaseException | None = None


class TransactionLost(Exception):
    """The batch's transaction ended under a request (SQLite rolled it back): retried in the next batch."""


class GroupCommit:
    """The writer thread over ``db`` (a connection of its own, used by nothing else); see the module docstring.

    ``on_commit(count)`` is called after each committed batch with the number of requests that succeeded
    (the API pokes the engine there, once a batch instead of once a request). ``before_commit(db)`` runs
    last in each batch's transaction; see the module docstring.
    """

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = 128,
        on_commit: Callable[[int], None] | None = None,
        before_commit: Callable[[Database], AfterCommit | None] | None = None,
        name: str = "group-commit",
    ) -> None:
        self.db = db
        self.before_commit = before_commit
        self.max_batch = max_batch
        self.on_commit = on_commit
        self.batches = 0
        self.requests = 0
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._carry: list[_Request] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[Database], Any], done: Done) -> None:
        """Queue ``work(db)``; ``done`` gets its result or error once its batch is settled."""
        self._queue.put(_Request(work, done))

    def call(self, work: Callable[[Database], Any]) -> Any:
        """Submit ``work`` and wait for it: its result, or its error raised here."""
        finished = threading.Event()
        box: list[Any] = [None, None]

        def done(result: Any, error: BaseException | None) -> None:
            box[0], box[1] = result, error
            finished.set()

        self.submit(work, done)
        finished.wait()
        if box[1] is not None:
            raise box[1]
        return box[0]

    def close(self) -> None:
        """Finish the requests already queued, then stop the thread (waits for it)."""
        self._queue.put(None)
        self._thread.join()

    # -- the writer thread ----------------------------------------------------------------------------

    def _take(self) -> tuple[list[_Request], bool]:
        """The next batch (blocking for its first request) and whether close() was asked."""
        batch, self._carry = self._carry, []
        stop = False
        if not batch:
            first = self._queue.get()
            if first is None:
                return [], True
            batch.append(first)
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                stop = True
                break
            batch.append(item)
        return batch, stop

    def _run(self) -> None:
        while True:
            batch, stop = self._take()
            if batch:
                self._commit(batch)
            while self._carry:
                carried, self._carry = self._carry, []
                self._commit(carried)
            if stop:
                return

    def _commit(self, batch: list[_Request]) -> None:
        settled = batch
        after: AfterCommit | None = None
        try:
            self.db.follow_permissions()
            with self.db.write():
                for index, request in enumerate(batch):
                    try:
                        request.result = request.work(self.db)
                    except BaseException as exc:  # the request's own error, answered as it would be alone
                        request.error = exc
                    if not self.db.in_transaction:
                        settled, self._carry = batch[: index + 1], batch[index + 1 :]
                        raise TransactionLost(request.error)
                after = self._before_commit()
        except BaseException as exc:
            after = None
            # BEGIN or COMMIT failed, or the transaction was lost: nothing of this batch was committed.
            cause = exc.args[0] if isinstance(exc, TransactionLost) and exc.args[0] is not None else exc
            for request in settled:
                if request.error is None:
                    request.result, request.error = None, cause
        if after is not None:
            try:
                after()
            except Exception:
                log.exception("the hand-over after the commit failed")
        self.batches += 1
        self.requests += len(settled)
        succeeded = sum(1 for r in settled if r.error is None)
        if succeeded and self.on_commit is not None:
            try:
                self.on_commit(succeeded)
            except Exception:
                log.exception("the after-commit hook failed")
        for request in settled:
            try:
                request.done(request.result, request.error)
            except Exception:
                log.exception("answering a request failed")

    def _before_commit(self) -> AfterCommit | None:
        """Run the ``before_commit`` hook in its own savepoint; a failure is logged and leaves the batch."""
        hook = self.before_commit
        if hook is None:
            return None
        try:
            with self.db.write():
                return hook(self.db)
        except Exception:
            log.exception("the before-commit hook failed")
            if not self.db.in_transaction:
                raise
            return None
