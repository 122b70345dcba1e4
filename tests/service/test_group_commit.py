"""The group-commit writer (engine/service/group_commit.py) on a real file: the requests waiting are one
transaction, each keeps its own answer and its own error, nothing is answered before it is committed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine.errors import DomainError, ValidationError
from engine.service import Ctx, incidents
from engine.service.database import Database, DatabaseGone, open_db
from engine.service.group_commit import GroupCommit

WAIT_S = 30  # a bound for a hung writer, never a pause: every wait below ends as soon as its event is set


@pytest.fixture
def writer(ctx: Ctx) -> Iterator[GroupCommit]:
    assert ctx.db.path
    db = open_db(ctx.db.path, migrate=False, create=False)
    commits: list[int] = []
    gc = GroupCommit(db, on_commit=commits.append)
    gc.commits = commits  # type: ignore[attr-defined]
    yield gc
    gc.close()
    db.close()


class Answers:
    """Each request's (result, error), in the order the writer answered them, and an event when all came."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.got: dict[int, tuple[Any, BaseException | None]] = {}
        self.order: list[int] = []
        self.all_in = threading.Event()
        self._lock = threading.Lock()

    def done(self, index: int) -> Callable[[Any, BaseException | None], None]:
        def answer(result: Any, error: BaseException | None) -> None:
            with self._lock:
                self.got[index] = (result, error)
                self.order.append(index)
                if len(self.got) == self.expected:
                    self.all_in.set()

        return answer


def _hold(writer: GroupCommit) -> threading.Event:
    """Submit a request that keeps the writer busy until the returned event is set, so that everything
    submitted meanwhile waits and forms the next batch."""
    release, started = threading.Event(), threading.Event()

    def blocker(db: Database) -> None:
        started.set()
        release.wait(WAIT_S)

    writer.submit(blocker, lambda result, error: None)
    assert started.wait(WAIT_S)
    return release


def _create(ctx: Ctx, title: str) -> Callable[[Database], dict[str, Any]]:
    return lambda db: incidents.create_incident(replace(ctx, db=db), {"title": title, "severity": "high"})


def _titles(ctx: Ctx) -> list[str]:
    """The incidents' titles as another connection sees them (committed rows only)."""
    db = open_db(ctx.db.path, migrate=False, create=False)
    try:
        with db.read():
            return [i["title"] for i in incidents.list_incidents(replace(ctx, db=db), limit=100)["incidents"]]
    finally:
        db.close()


def test_the_requests_waiting_are_one_transaction_each_with_its_own_answer_and_error(
    ctx: Ctx, writer: GroupCommit
) -> None:
    release = _hold(writer)
    answers = Answers(5)

    def writes_then_fails(db: Database) -> None:
        c = replace(ctx, db=db)
        with c.write():
            incidents.create_incident(c, {"title": "rolled back", "severity": "high"})
            raise ValidationError("refused after writing")

    writer.submit(_create(ctx, "first"), answers.done(0))
    writer.submit(lambda db: incidents.create_incident(replace(ctx, db=db), {"title": ""}), answers.done(1))
    writer.submit(writes_then_fails, answers.done(2))
    writer.submit(_create(ctx, "second"), answers.done(3))
    writer.submit(lambda db: 1 / 0, answers.done(4))
    batches_before = writer.batches
    release.set()
    assert answers.all_in.wait(WAIT_S)

    assert writer.batches == batches_before + 2  # the blocker's batch, then all five in one
    assert answers.order == [0, 1, 2, 3, 4]
    first, second = answers.got[0][0], answers.got[3][0]
    assert answers.got[0][1] is None and answers.got[3][1] is None
    assert first["title"] == "first" and second["title"] == "second"
    assert second["sequentialId"] == first["sequentialId"] + 1
    assert isinstance(answers.got[1][1], ValidationError) and answers.got[1][1].field == "title"
    assert isinstance(answers.got[2][1], ValidationError)
    assert isinstance(answers.got[4][1], ZeroDivisionError)
    assert sorted(_titles(ctx)) == ["first", "second"]  # nothing of the failed ones
    assert writer.commits[-1] == 2  # type: ignore[attr-defined]  # the after-commit hook: 2 succeeded


def test_nothing_is_answered_before_it_is_committed(ctx: Ctx, writer: GroupCommit) -> None:
    seen_at_answer: list[list[str]] = []
    answered = threading.Event()

    def done(result: Any, error: BaseException | None) -> None:
        seen_at_answer.append(_titles(ctx))  # another connection: only committed rows
        answered.set()

    writer.submit(_create(ctx, "durable"), done)
    assert answered.wait(WAIT_S)
    assert seen_at_answer == [["durable"]]
    assert writer.call(_create(ctx, "by call"))["title"] == "by call"
    with pytest.raises(ValidationError):
        writer.call(
            lambda db: incidents.create_incident(replace(ctx, db=db), {"title": "x", "severity": "?"})
        )


def test_a_batch_that_cannot_commit_fails_every_request_and_stores_nothing(
    ctx: Ctx, writer: GroupCommit, tmp_path: Path
) -> None:
    release = _hold(writer)
    answers = Answers(3)
    for i in range(3):
        writer.submit(_create(ctx, f"lost {i}"), answers.done(i))
    path = Path(str(ctx.db.path))
    path.rename(tmp_path / "moved-away.db")  # the file is gone under the writer
    release.set()
    assert answers.all_in.wait(WAIT_S)
    errors = [answers.got[i][1] for i in range(3)]
    assert all(isinstance(e, DatabaseGone) for e in errors), errors
    assert all(isinstance(e, DomainError) and e.status_code == 503 for e in errors)


def test_the_before_commit_hook_runs_in_the_batch_and_its_hand_over_after_the_commit(
    ctx: Ctx, tmp_path: Path
) -> None:
    """The hook sees the batch's writes inside its transaction (another connection does not yet); what it
    returns is called once they are committed (another connection sees them then)."""
    assert ctx.db.path
    db = open_db(ctx.db.path, migrate=False, create=False)
    seen: list[tuple[str, list[str]]] = []

    def hook(wdb: Database) -> Callable[[], None]:
        seen.append(("in the transaction", [r["title"] for r in wdb.all("SELECT title FROM incidents")]))
        seen.append(("elsewhere before the commit", _titles(ctx)))
        return lambda: seen.append(("after the commit", _titles(ctx)))

    gc = GroupCommit(db, before_commit=hook)
    try:
        gc.call(_create(ctx, "handed"))
    finally:
        gc.close()
        db.close()
    assert seen == [
        ("in the transaction", ["handed"]),
        ("elsewhere before the commit", []),
        ("after the commit", ["handed"]),
    ]


def test_a_failing_before_commit_hook_leaves_the_batch_committed_without_its_writes(ctx: Ctx) -> None:
    assert ctx.db.path
    db = open_db(ctx.db.path, migrate=False, create=False)

    def hook(wdb: Database) -> Callable[[], None]:
        incidents.create_incident(replace(ctx, db=wdb), {"title": "by the hook", "severity": "low"})
        raise RuntimeError("the hook failed")

    gc = GroupCommit(db, before_commit=hook)
    try:
        assert gc.call(_create(ctx, "kept"))["title"] == "kept"  # the hook's failure is not the request's
        assert gc.call(_create(ctx, "kept too"))["title"] == "kept too"
    finally:
        gc.close()
        db.close()
    # the hook's own writes rolled back with its savepoint (the list's order is not what is checked)
    assert sorted(_titles(ctx)) == ["kept", "kept too"]


def test_a_batch_that_cannot_commit_hands_nothing_over(ctx: Ctx, tmp_path: Path) -> None:
    assert ctx.db.path
    db = open_db(ctx.db.path, migrate=False, create=False)
    ran: list[str] = []
    handed: list[str] = []

    def hook(wdb: Database) -> Callable[[], None]:
        ran.append("ran")
        return lambda: handed.append("handed")

    gc = GroupCommit(db, before_commit=hook)
    try:
        release = _hold(gc)
        Path(str(ctx.db.path)).rename(tmp_path / "moved-away.db")  # the batch cannot commit
        release.set()
        with pytest.raises(DatabaseGone):
            gc.call(_create(ctx, "lost"))
    finally:
        gc.close()
        db.close()
    assert ran  # the hook ran in the holding batch, whose commit then failed
    assert handed == []  # so nothing was handed over
