"""Attribute storage local to a context, that follows calls across the bridge.

:class:`Local` is what :mod:`asgiref.local` offers, built on
:mod:`contextvars`: every asyncio/trio task sees its own values (tasks start with
a copy of their parent's), and because :func:`~anyio_bridge.sync.sync_to_async`
and :func:`~anyio_bridge.sync.async_to_sync` carry context variables across in
both directions, a value set on one side of a call is visible on the other.

A context can also reach another thread without the bridge: Python 3.14's
free-threaded build starts every new thread in a copy of its parent's context
(``sys.flags.thread_inherit_context``), and ``anyio.to_thread.run_sync`` or
``asyncio.to_thread`` run functions in a copy too.  Values must not be visible
there, so they are bound to a thread: every context that holds values holds a
*home*, ``(thread id, lineage)``, in :data:`HOME`.  Values are visible only in
the home's thread, and only those stored under the home's lineage (a token
object).  A thread that finds a home of another thread sees nothing, and its
first assignment starts a new lineage, which hides the inherited values for
good.  The bridge, which moves a context onto another thread on purpose, moves
the home along with :func:`bridge_enter` and brings it back with
:func:`bridge_return`.

:class:`Local` raises :exc:`AttributeError` for a missing attribute (reading
or deleting it) and for setting one of the class's own names; the hooks never
raise.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextvars import Context, ContextVar
from types import MappingProxyType
from typing import Any

from .._backends import running_loop_here

__all__ = ["HOME", "Home", "Local", "bridge_enter", "bridge_return"]

_EMPTY: MappingProxyType[str, Any] = MappingProxyType({})
_get_ident = threading.get_ident

Home = tuple[int, object]
"""``(thread id, lineage)``: where the values of a context are visible."""

#: The home of the current context's :class:`Local` values (unset until a
#: value is stored).  The bridge must never copy it back to a caller as it is
#: (it names the thread the call ran on): it belongs in
#: ``state.INTERNAL_VARS``, and :func:`bridge_return` translates it instead.
HOME: ContextVar[Home] = ContextVar("anyio_bridge.local.home")

#: A home valid in no thread (thread ids are never negative): the values of a
#: context that reached a thread where they were not visible stay hidden.
_NOWHERE: Home = (-1, object())


def bridge_enter(source_thread: int) -> None:
    """Make a context's values visible in this thread, where the bridge moved it.

    Call it in the thread that is to run the context, inside the context,
    before any user code, with the id of the thread the context was copied
    from.  Values visible there become visible here; values not visible there
    (the context was itself inherited by a thread that had no right to them)
    stay hidden.  With no value stored in the context this is one context
    variable lookup.
    """
    home = HOME.get(None)
    if home is None or home is _NOWHERE:
        return
    if home[0] == source_thread:
        HOME.set((_get_ident(), home[1]))
    else:
        HOME.set(_NOWHERE)


def bridge_return(context: Context) -> None:
    """Make what a bridge call stored visible to its caller, in this thread.

    Call it in the caller's thread and context after copying *context*'s
    changed variables back, *context* being the one the call ran in (and
    :func:`bridge_enter` was called in).  :data:`HOME` must not have been copied
    back.  Nothing changes unless the call changed the home, so a call that
    never ran leaves the caller as it was.
    """
    home = context.get(HOME)
    if home is None or home is _NOWHERE:
        return
    current = HOME.get(None)
    if home is current:  # the call did not run, or stored nothing new
        return
    ident = _get_ident()
    if current is not None and current[1] is home[1] and current[0] == ident:
        return  # the usual case: the call used the caller's values
    HOME.set((ident, home[1]))


class Local:
    """An object whose attributes are local to the current context.

    Setting an attribute never changes what another task, or a thread that is
    not part of the same chain of bridge calls, sees.  A thread that merely
    runs in a copy of another thread's context (as every new thread does on
    Python 3.14's free-threaded build, or a function given to
    ``anyio.to_thread.run_sync``) sees none of that thread's values, and its
    own do not leak back.  Values are stored as immutable snapshots, so a
    ``Local`` may be used from any number of threads and tasks at once.

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
    _var: ContextVar[tuple[object, Mapping[str, Any]]]

    def __init__(self, thread_critical: bool = False) -> None:
        object.__setattr__(self, "_thread_critical", thread_critical)
        object.__setattr__(self, "_thread_local", threading.local())
        var: ContextVar[tuple[object, Mapping[str, Any]]] = ContextVar(
            f"anyio_bridge.Local.{id(self):x}"
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
            return by_thread.get(_get_ident(), _EMPTY)
        home = HOME.get(None)
        if home is None or home[0] != _get_ident():
            return _EMPTY
        stored = self._var.get(None)
        if stored is None or stored[0] is not home[1]:
            return _EMPTY
        return stored[1]

    def _store(self, values: dict[str, Any]) -> None:
        frozen = MappingProxyType(values)
        if self._thread_critical:
            by_thread = dict(self._critical_var.get())
            by_thread[_get_ident()] = frozen
            self._critical_var.set(MappingProxyType(by_thread))
            return
        ident = _get_ident()
        home = HOME.get(None)
        if home is None or home[0] != ident:
            # Nothing here was visible (see _values): start a new lineage,
            # which keeps every inherited value of every Local hidden.
            home = (ident, object())
            HOME.set(home)
        self._var.set((home[1], frozen))

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
