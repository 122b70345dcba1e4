"""The values an escalation decision returns: the next state, the events to record, the pages to send.

Pure and immutable, like the rules that build them (:mod:`engine.escalation`); kept apart because they are
built for speed rather than read for meaning: the decision functions build hundreds of thousands of them
in a simulation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_set = object.__setattr__

# EscalationState, Page and Outcome are frozen dataclasses with a hand-written __init__ (the same
# parameters, in field order, with the same defaults): it fills the instance dict in one step instead of
# one frozen-bypassing setattr per field, which halves the cost of building one; the simulator builds
# hundreds of thousands. Everything else (eq, hash, repr, replace, asdict, FrozenInstanceError) is the
# dataclass's own. tests/test_simulation.py checks that the two stay in step.


@dataclass(frozen=True, init=False)
class EscalationState:
    step: int  # 0-based index into the snapshot's layers
    loop: int  # repeat loops completed (local extension; 0 in the reference model)
    generation: int
    state: str  # one of STATES
    due_at: datetime | None = None
    due_kind: str | None = None  # DUE_TIMEOUT | DUE_REPAGE | DUE_SNOOZE_END
    round: int = 0  # pass over the layers; part of the idempotency key
    acked_by: str | None = None

    def __init__(
        self,
        step: int,
        loop: int,
        generation: int,
        state: str,
        due_at: datetime | None = None,
        due_kind: str | None = None,
        round: int = 0,
        acked_by: str | None = None,
    ) -> None:
        _set(
            self,
            "__dict__",
            {
                "step": step,
                "loop": loop,
                "generation": generation,
                "state": state,
                "due_at": due_at,
                "due_kind": due_kind,
                "round": round,
                "acked_by": acked_by,
            },
        )


@dataclass(frozen=True, init=False)
class Page:
    """Notify ``user_ids``. ``discriminator`` is None for a layer's own page in a round, which makes the
    idempotency key ``incident:position:round:user:channel``; re-pages (handoff, reminder, snooze end,
    manual) add one so they are not mistaken for a duplicate of that page."""

    position: int | None
    round: int
    user_ids: tuple[str, ...]
    reason: str  # escalation | handoff | repage | snooze_end | escalate_now
    discriminator: str | None = None

    def __init__(
        self,
        position: int | None,
        round: int,
        user_ids: tuple[str, ...],
        reason: str,
        discriminator: str | None = None,
    ) -> None:
        _set(
            self,
            "__dict__",
            {
                "position": position,
                "round": round,
                "user_ids": user_ids,
                "reason": reason,
                "discriminator": discriminator,
            },
        )


class Event:
    """Something to record on the incident's timeline (and, with ``page``, someone to notify).

    ``data`` may be given as a ``(function, args)`` pair instead of a dict: it is then built on first
    access, once. The decision functions defer the data that formats instants that way, so a caller that
    never reads it (the simulator) does not pay for it; what it contains does not depend on when it is
    built (the arguments are immutable values fixed by the decision). Immutable, like the other results.
    """

    kind: str
    page: Page | None
    _data: dict[str, Any] | tuple[Callable[..., dict[str, Any]], tuple[Any, ...]]

    def __init__(
        self,
        kind: str,
        data: dict[str, Any] | tuple[Callable[..., dict[str, Any]], tuple[Any, ...]],
        page: Page | None = None,
    ) -> None:
        _set(self, "__dict__", {"kind": kind, "_data": data, "page": page})

    @property
    def data(self) -> dict[str, Any]:
        data = self._data
        if type(data) is tuple:
            fn, args = data
            data = fn(*args)
            _set(self, "_data", data)
        return data  # type: ignore[return-value]

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Event:
            return NotImplemented
        assert isinstance(other, Event)
        return (self.kind, self.data, self.page) == (other.kind, other.data, other.page)

    __hash__ = None  # type: ignore[assignment]  # data is a dict, as with the former frozen dataclass

    def __repr__(self) -> str:
        return f"Event(kind={self.kind!r}, data={self.data!r}, page={self.page!r})"


@dataclass(frozen=True, init=False)
class Outcome:
    state: EscalationState
    events: tuple[Event, ...] = field(default=())

    def __init__(self, state: EscalationState, events: tuple[Event, ...] = ()) -> None:
        _set(self, "__dict__", {"state": state, "events": events})

    @property
    def pages(self) -> tuple[Page, ...]:
        return tuple(e.page for e in self.events if e.page is not None)


_KEEP: Any = object()


def evolve(
    s: EscalationState,
    *,
    generation: int,
    state: str = _KEEP,
    due_at: datetime | None = _KEEP,
    due_kind: str | None = _KEEP,
) -> EscalationState:
    """``dataclasses.replace`` for the fields decisions change, without its generic (slow) machinery."""
    return EscalationState(
        s.step,
        s.loop,
        generation,
        s.state if state is _KEEP else state,
        s.due_at if due_at is _KEEP else due_at,
        s.due_kind if due_kind is _KEEP else due_kind,
        s.round,
        s.acked_by,
    )
