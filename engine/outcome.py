"""The values an escalation decision returns: the next state, the events to record, the pages to send.

Pure and immutable, like the rules that build them (:mod:`engine.escalation`); kept apart because they are
built for speed rather than read for meaning: the decision functions build hundreds of thousands of them
in a simulation, and the runtime's tick one set per incident due.

They are ``msgspec.Struct`` types with ``frozen=True, gc=False``: built in C (a state in about 0.1 µs
where a frozen dataclass with a Python ``__init__`` took 0.5 µs; an event or an outcome 0.05 µs against
0.3), immutable (assignment raises ``AttributeError``), compared and hashed field by field, with the
dataclass's ``Name(field=value, ...)`` repr, picklable, and copied with changes by
``msgspec.structs.replace`` (not ``dataclasses.replace``). ``gc=False`` keeps them out of the cyclic
collector: they hold only immutable values (numbers, strings, datetimes, tuples of those, and an event's
data dict, which never refers back to an event), so they can never be part of a reference cycle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

_force_set = msgspec.structs.force_setattr


class EscalationState(msgspec.Struct, frozen=True, gc=False):
    """Where one escalation is: the layer (``step``, 0-based into the policy snapshot's layers), the repeat
    ``loop`` and ``round``, the ``state`` (one of :data:`engine.escalation.STATES`), what is due next and
    when (``due_kind``: ``timeout`` | ``repage`` | ``snooze_end``; ``due_at`` an aware datetime), and who
    acknowledged. ``generation`` is bumped by every change (storage writes with ``WHERE generation = ?``)."""

    step: int  # 0-based index into the snapshot's layers
    loop: int  # repeat loops completed (local extension; 0 in the reference model)
    generation: int
    state: str  # one of STATES
    due_at: datetime | None = None
    due_kind: str | None = None  # DUE_TIMEOUT | DUE_REPAGE | DUE_SNOOZE_END
    round: int = 0  # pass over the layers; part of the idempotency key
    acked_by: str | None = None


class Page(msgspec.Struct, frozen=True, gc=False):
    """Notify ``user_ids``. ``discriminator`` is None for a layer's own page in a round, which makes the
    idempotency key ``incident:position:round:user:channel``; re-pages (handoff, reminder, snooze end,
    manual) add one so they are not mistaken for a duplicate of that page."""

    position: int | None
    round: int
    user_ids: tuple[str, ...]
    reason: str  # escalation | handoff | repage | snooze_end | escalate_now
    discriminator: str | None = None


DeferredData = tuple[Any, ...]
"""Event data not built yet: ``(function, *args)``; ``function(*args)`` returns the dict. One flat tuple,
so deferring costs one allocation."""


class Event(msgspec.Struct, frozen=True, gc=False):
    """Something to record on the incident's timeline (and, with ``page``, someone to notify).

    ``data`` may be given as a ``(function, *args)`` tuple instead of a dict: it is then built on first
    access of :attr:`data`, once. The decision functions defer the data that formats instants that way,
    so a caller that never reads it (the simulator) does not pay for it; what it contains does not depend
    on when it is built (the arguments are immutable values fixed by the decision). Immutable, like the
    other results; equal when kind, data and page are; not hashable (data is a dict).
    """

    kind: str
    raw_data: dict[str, Any] | DeferredData
    page: Page | None = None

    @property
    def data(self) -> dict[str, Any]:
        """The event's data (built now if it was deferred, then kept)."""
        data = self.raw_data
        if type(data) is tuple:
            data = data[0](*data[1:])
            _force_set(self, "raw_data", data)
        return data  # type: ignore[return-value]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Event:
            return NotImplemented
        assert isinstance(other, Event)
        return (self.kind, self.data, self.page) == (other.kind, other.data, other.page)

    __hash__ = None  # type: ignore[assignment]  # data is a dict

    def __repr__(self) -> str:
        return f"Event(kind={self.kind!r}, data={self.data!r}, page={self.page!r})"


class Outcome(msgspec.Struct, frozen=True, gc=False):
    """A decision's result: the next ``state`` and the ``events`` to record, in order."""

    state: EscalationState
    events: tuple[Event, ...] = ()

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
    """``msgspec.structs.replace`` for the fields decisions change, positionally (cheaper)."""
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
