"""Two imports the command line trims from every command's start-up (issue 17, docs/PERFORMANCE.md "CLI
start-up"), both of third-party code that loads more than a command that reads or acts ever uses.

* :mod:`inspect` (with ast, dis, tokenize and linecache under it): click imports it at the top of
  ``click.core`` but a command calls only ``inspect.cleandoc``, on each option's help as the option is
  declared. :func:`defer_import` puts a module object into ``sys.modules`` with its spec but none of its
  code run; ``import inspect`` reads only ``__spec__``, which it has (:class:`importlib.util.LazyLoader`'s
  module would run on any attribute, ``__spec__`` included, which Python 3.11's ``import`` reads). The
  first attribute it lacks runs the code, once, under a lock (another thread waits for the whole module),
  and from then on it is the ordinary module, the same object, whoever touches it first (``oncall --help``,
  Textual, a dataclass without a docstring). Meanwhile a *stand-in* answers ``cleandoc``:
  :func:`cleandoc`, the same steps (tests/cli/test_startup.py compares the two on every help text).
* typing_extensions, which msgspec imports when it can (for ``get_type_hints``, ``Required`` and
  ``NotRequired``; typing_extensions calls ``inspect.signature`` at import) and otherwise takes from
  :mod:`typing`, which on Python 3.11 has all three, the same. :func:`import_msgspec` imports msgspec
  with typing_extensions hidden, when neither is imported yet; it stays importable for everyone else (the
  console's Textual imports it). tests/cli/test_startup.py checks that msgspec so imported generates the
  same OpenAPI document, byte for byte.

Nothing is deferred or hidden when the module was imported already (tests, an embedding program).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

_LOCK = threading.RLock()
_STAND_INS: dict[str, Mapping[str, Callable[..., Any]]] = {}
_RUNNING: set[str] = set()  # deferred modules whose code is running now


class _Deferred(ModuleType):
    """A module whose code has not run yet (see the module docstring)."""

    def __getattr__(self, attr: str) -> Any:
        stand_in = _STAND_INS.get(self.__name__, {}).get(attr)
        if stand_in is not None and type(self) is _Deferred:
            return stand_in
        with _LOCK:
            if type(self) is _Deferred:  # not run by a thread that held the lock before us
                if self.__name__ in _RUNNING:  # asked for by its own code, or by an import it makes
                    raise AttributeError(
                        f"partially initialized module {self.__name__!r} has no attribute {attr!r}"
                    )
                spec = self.__spec__
                assert spec is not None and spec.loader is not None
                _RUNNING.add(self.__name__)
                try:
                    spec.loader.exec_module(self)
                finally:
                    _RUNNING.discard(self.__name__)
                self.__class__ = ModuleType  # type: ignore[assignment]  # an ordinary module from now on
        return getattr(self, attr)


def defer_import(name: str, stand_ins: Mapping[str, Callable[..., Any]] | None = None) -> ModuleType:
    """``sys.modules[name]``: when not imported yet, a module whose code runs on the first read of an
    attribute it lacks, other than one of ``stand_ins`` (which answer in its place until then); already
    imported, that module, unchanged. Raises :class:`ModuleNotFoundError` for a name with no module."""
    with _LOCK:
        module = sys.modules.get(name)
        if module is not None:
            return module
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            raise ModuleNotFoundError(f"no module named {name!r}", name=name)
        module = importlib.util.module_from_spec(spec)
        _STAND_INS[name] = dict(stand_ins or {})
        module.__class__ = _Deferred
        sys.modules[name] = module
        return module


def is_deferred(name: str) -> bool:
    """``name`` was deferred by :func:`defer_import` and its code has not run yet."""
    return type(sys.modules.get(name)) is _Deferred


def cleandoc(doc: str) -> str:
    """:func:`inspect.cleandoc`, the same steps: tabs expanded, the first line's leading whitespace
    removed, the indentation common to the other non-blank lines removed, blank lines at either end
    dropped. The stand-in click calls for each option's help while :mod:`inspect` is deferred."""
    lines = doc.expandtabs().split("\n")
    margin = sys.maxsize
    for line in lines[1:]:
        content = len(line.lstrip())
        if content:
            margin = min(margin, len(line) - content)
    if lines:
        lines[0] = lines[0].lstrip()
    if margin < sys.maxsize:
        lines[1:] = [line[margin:] for line in lines[1:]]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines)


def import_msgspec() -> None:
    """Import msgspec without typing_extensions (see the module docstring), unless either is imported
    already. Call it before anything that imports msgspec (the engine)."""
    with _LOCK:
        if "msgspec" in sys.modules or "typing_extensions" in sys.modules:
            return
        sys.modules["typing_extensions"] = None  # type: ignore[assignment]  # import raises ImportError
        try:
            importlib.import_module("msgspec")
        finally:
            del sys.modules["typing_extensions"]
