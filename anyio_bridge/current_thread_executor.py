"""An executor that runs submitted work on the thread that owns it.

:func:`~anyio_bridge.sync.async_to_sync` turns the calling thread into one of
these while it waits for its coroutine, so that thread-sensitive
:func:`~anyio_bridge.sync.sync_to_async` calls made by that coroutine come back
to the thread that started it.  :class:`CurrentThreadExecutor` raises
:exc:`RuntimeError` when work is submitted from the owning thread itself or
after the executor finished, and when the owning thread's methods are called
from another thread.

The implementation is in :mod:`anyio_bridge._bridge.executor`;
``CurrentThreadExecutor`` reports this module as its own.
"""

from __future__ import annotations

from ._bridge.executor import CurrentThreadExecutor

__all__ = ["CurrentThreadExecutor"]

CurrentThreadExecutor.__module__ = __name__
