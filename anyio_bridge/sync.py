"""Calling synchronous code from async code and back, on asyncio and trio.

The public names match :mod:`asgiref.sync`, so migrating is a change of import.
How calls are placed on threads, how context variables travel and how
cancellation behaves is explained in ``docs/threads-and-cancellation.md``.

* :func:`sync_to_async` / :class:`SyncToAsync`: await a synchronous callable,
  run in a thread.  Raises :exc:`TypeError` for invalid arguments when
  wrapping; when awaited, returns or raises what the callable does, raises
  the backend's cancellation exception if the caller is cancelled, and
  :exc:`RuntimeError` if a thread-sensitive call would deadlock.
* :func:`async_to_sync` / :class:`AsyncToSync`: call a coroutine function from
  synchronous code.  Returns or raises what the coroutine does; raises
  :exc:`RuntimeError` in a thread running an event loop or when the loop ends
  first.
* :class:`ThreadSensitiveContext`, :class:`AsyncSingleThreadContext`: choose
  the thread, or loop, that calls inside them use.
* :func:`iscoroutinefunction`, :func:`markcoroutinefunction`: coroutine
  function checks that agree on every supported Python.

The implementation lives in :mod:`anyio_bridge._bridge`; this module is its
public face (and, under the asgiref stand-in, ``asgiref.sync``).  The names
defined there report ``anyio_bridge.sync`` as their module.
"""

from __future__ import annotations

from ._bridge.async_to_sync import AsyncToSync, async_to_sync
from ._bridge.contexts import AsyncSingleThreadContext, ThreadSensitiveContext
from ._bridge.coroutines import iscoroutinefunction, markcoroutinefunction
from ._bridge.executor import CurrentThreadExecutor as CurrentThreadExecutor
from ._bridge.sync_to_async import SyncToAsync, sync_to_async

__all__ = [
    "AsyncSingleThreadContext",
    "AsyncToSync",
    "SyncToAsync",
    "ThreadSensitiveContext",
    "async_to_sync",
    "iscoroutinefunction",
    "markcoroutinefunction",
    "sync_to_async",
]

for _public in (
    AsyncSingleThreadContext,
    AsyncToSync,
    SyncToAsync,
    ThreadSensitiveContext,
    async_to_sync,
    sync_to_async,
):
    _public.__module__ = __name__
del _public
