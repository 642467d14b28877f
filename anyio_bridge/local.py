"""Attribute storage local to a context, that follows calls across the bridge.

:class:`Local` is what :mod:`asgiref.local` offers, built on
:mod:`contextvars`: every asyncio/trio task sees its own values (tasks start with
a copy of their parent's), and because :func:`~anyio_bridge.sync.sync_to_async`
and :func:`~anyio_bridge.sync.async_to_sync` carry context variables across in
both directions, a value set on one side of a call is visible on the other.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from ._native import running_loop_here

__all__ = ["Local"]

_EMPTY: MappingProxyType[str, Any] = MappingProxyType({})


class Local:
    """An object whose attributes are local to the current context.

    Setting an attribute never changes what another task, or a thread that is
    not part of the same chain of bridge calls, sees.  Values are stored as
    immutable snapshots, so a ``Local`` may be used from any number of threads
    and tasks at once.

    :param thread_critical: if ``True``, values are strictly per thread in
        synchronous code (as with `threading.local`) and per context in async
        code, and never cross into another thread: not through a bridge call,
        nor through a context copied to a loop running in another thread.  Use
        it for objects that must not be shared between threads, such as
        database connections.
    """

    __slots__ = ("_critical_var", "_thread_critical", "_thread_local", "_var")
    _critical_var: ContextVar[Mapping[int, Mapping[str, Any]]]
    _thread_critical: bool
    _thread_local: threading.local
    _var: ContextVar[Mapping[str, Any]]

    def __init__(self, thread_critical: bool = False) -> None:
        object.__setattr__(self, "_thread_critical", thread_critical)
        object.__setattr__(self, "_thread_local", threading.local())
        var: ContextVar[MappingProxyType[str, Any]] = ContextVar(
            f"anyio_bridge.Local.{id(self):x}", default=_EMPTY
        )
        object.__setattr__(self, "_var", var)
        critical: ContextVar[Mapping[int, Mapping[str, Any]]] = ContextVar(
            f"anyio_bridge.Local.{id(self):x}.critical", default=MappingProxyType({})
        )
        object.__setattr__(self, "_critical_var", critical)

    def _in_thread_storage(self) -> bool:
        return self._thread_critical and not running_loop_here()

    def _values(self) -> Mapping[str, Any]:
        """The mapping of values visible here (read-only snapshot for contexts)."""
        if self._thread_critical:
            if not running_loop_here():
                return self._thread_local.__dict__
            # Keyed by thread: a context copied into another thread's loop
            # sees (and changes) only that thread's values.
            by_thread = self._critical_var.get()
            return by_thread.get(threading.get_ident(), _EMPTY)
        return self._var.get()

    def _store(self, values: dict[str, Any]) -> None:
        frozen = MappingProxyType(values)
        if self._thread_critical:
            by_thread = dict(self._critical_var.get())
            by_thread[threading.get_ident()] = frozen
            self._critical_var.set(MappingProxyType(by_thread))
        else:
            self._var.set(frozen)

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values()[key]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {key!r}"
            ) from None

    def __setattr__(self, key: str, value: Any) -> None:
        if hasattr(type(self), key):
            raise AttributeError(f"{key!r} is reserved by {type(self).__name__}")
        if self._in_thread_storage():
            setattr(self._thread_local, key, value)
            return
        values = dict(self._values())
        values[key] = value
        self._store(values)

    def __delattr__(self, key: str) -> None:
        if self._in_thread_storage():
            try:
                delattr(self._thread_local, key)
            except AttributeError:
                raise AttributeError(key) from None
            return
        values = dict(self._values())
        try:
            del values[key]
        except KeyError:
            raise AttributeError(key) from None
        self._store(values)
