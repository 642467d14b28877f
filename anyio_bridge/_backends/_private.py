"""Every use of another library's private names, in one place.

anyio-bridge is written against anyio's public API.  A few things it needs
have no public spelling, listed in :data:`NAMES` with what each is for.  Every
access goes through this module and is guarded: when an upgrade moves a name,
the package degrades as documented here instead of failing to import, and
``tests/backends/test_private_names.py`` fails with a message naming the symbol.

Nothing here is imported at module import time except what the package's own
import needs; a library that is not loaded is never imported from here.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = [
    "NAMES",
    "PrivateName",
    "anyio_thread_state",
    "anyio_trio_backend",
    "asyncio_coroutine_marker",
    "asyncio_running_loop",
    "asyncio_task_cancel_scope",
    "cancel_scope_parent",
    "new_trio_cancelled",
    "trio_thread_state",
]


class PrivateName(NamedTuple):
    """One private name, and what happens without it."""

    #: Where it lives: ``module:attribute``.
    symbol: str
    #: What anyio-bridge uses it for.
    purpose: str
    #: What anyio-bridge does when it is gone.
    without: str


NAMES: tuple[PrivateName, ...] = (
    PrivateName(
        "anyio._core._eventloop:threadlocals",
        "anyio's per-thread worker state (current_token, current_cancel_scope): "
        "making bridge threads anyio worker threads of the caller's loop, and "
        "recognising threads started by anyio.to_thread",
        "bridge threads are not anyio worker threads (anyio.from_thread.run "
        "and check_cancelled() do not work in them); async_to_sync from an "
        "anyio worker thread runs on a loop thread instead",
    ),
    PrivateName(
        "trio._threads:PARENT_TASK_DATA",
        "trio's per-thread worker state (token, abandon_on_cancel, "
        "cancel_register, task_register): the same, for trio.from_thread",
        "as above, for trio.from_thread",
    ),
    PrivateName(
        "anyio._backends._trio:TrioBackend",
        "an anyio token for a trio worker thread that anyio did not start",
        "async_to_sync from a trio worker thread runs on a loop thread",
    ),
    PrivateName(
        "anyio._backends._asyncio:_task_states",
        "the anyio cancel scope of the current asyncio task, handed to bridge "
        "threads as anyio hands it to its own",
        "check_cancelled() in bridge threads on asyncio sees no cancellation",
    ),
    PrivateName(
        "anyio:CancelScope._parent_scope",
        "walking an asyncio cancel scope's parents, as anyio's worker threads "
        "do, to tell whether a caller is already cancelled",
        "only the innermost scope is looked at",
    ),
    PrivateName(
        "trio:Cancelled._create",
        "raising trio's cancellation in a thread whose caller was cancelled",
        "the exception is created without trio's constructor guard",
    ),
    PrivateName(
        "asyncio:_get_running_loop",
        "telling cheaply, on every call, whether this thread runs a loop",
        "asyncio.get_running_loop() and its exception are used instead",
    ),
    PrivateName(
        "asyncio.coroutines:_is_coroutine",
        "marking a callable as a coroutine function on Python < 3.12, where "
        "asyncio.iscoroutinefunction() looks for this marker",
        "markcoroutinefunction() marks for inspect only",
    ),
)


def _lookup(symbol: str) -> Any:
    """The object at *symbol* (``module:attr.attr``), or None if it moved."""
    module_name, _, path = symbol.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError:
        return None
    for part in path.split("."):
        target = getattr(target, part, None)
        if target is None:
            return None
    return target


_cache: dict[str, Any] = {}
_cache_lock = threading.Lock()


def _get(symbol: str) -> Any:
    try:
        return _cache[symbol]
    except KeyError:
        value = _lookup(symbol)
        with _cache_lock:
            _cache[symbol] = value
        return value


def anyio_thread_state() -> threading.local | None:
    """anyio's thread-local worker state, or None."""
    state = _get("anyio._core._eventloop:threadlocals")
    return state if isinstance(state, threading.local) else None


def trio_thread_state() -> threading.local | None:
    """trio's thread-local worker state, or None (also when trio is not loaded)."""
    if "trio" not in sys.modules:
        return None
    state = _get("trio._threads:PARENT_TASK_DATA")
    return state if isinstance(state, threading.local) else None


def anyio_trio_backend() -> type | None:
    """anyio's trio backend class (trio is loaded), or None."""
    return _get("anyio._backends._trio:TrioBackend")  # type: ignore[no-any-return]


def asyncio_task_cancel_scope() -> Callable[[], Any]:
    """A function returning the anyio cancel scope of the current asyncio task
    (None where anyio does not know the task or the name moved)."""
    states = _get("anyio._backends._asyncio:_task_states")
    current_task = sys.modules["asyncio"].current_task
    if states is None:
        return _none

    def cancel_scope() -> Any:
        state = states.get(current_task())
        return None if state is None else state.cancel_scope

    return cancel_scope


def _none() -> None:
    return None


def cancel_scope_parent(scope: Any) -> Any:
    """The parent of an anyio cancel scope on asyncio, or None."""
    return getattr(scope, "_parent_scope", None)


def new_trio_cancelled() -> BaseException:
    """A fresh ``trio.Cancelled`` (trio is loaded)."""
    cancelled: Any = sys.modules["trio"].Cancelled
    create = getattr(cancelled, "_create", None)
    if create is not None:
        return create()  # type: ignore[no-any-return]
    return BaseException.__new__(cancelled)  # type: ignore[no-any-return]


def _running_loop_by_exception() -> Any:
    try:
        return sys.modules["asyncio"].get_running_loop()
    except RuntimeError:
        return None


def asyncio_running_loop() -> Callable[[], Any]:
    """A function returning the running asyncio loop of this thread, or None
    (asyncio is loaded)."""
    fast = getattr(sys.modules["asyncio"], "_get_running_loop", None)
    return fast if callable(fast) else _running_loop_by_exception


def asyncio_coroutine_marker() -> object:
    """asyncio's coroutine-function marker (Python < 3.12), or None."""
    return _get("asyncio.coroutines:_is_coroutine")
