"""Context managers that choose where bridge calls run.

* :class:`ThreadSensitiveContext` (async): gives the thread-sensitive
  :func:`~anyio_bridge.sync.sync_to_async` calls made inside a thread of
  their own, or a given executor.
* :class:`AsyncSingleThreadContext` (sync): gives the top-level
  :func:`~anyio_bridge.sync.async_to_sync` calls made inside an event loop of
  their own.

Each is re-entrant (only the outermost takes effect) and records itself in a
context variable of :mod:`~anyio_bridge._bridge.state`.
:class:`ThreadSensitiveContext` raises :exc:`RuntimeError` when a context
with an executor is entered twice or re-entered after leaving, and when a
task started inside it makes a thread-sensitive call after it was left.
:class:`ContextExecutors` is the read-only view asgiref code sees as
``SyncToAsync.context_to_thread_executor``.
"""

from __future__ import annotations

import threading
from concurrent.futures import Executor
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._backends import current_loop
from . import state
from .threads import LoopThread, SyncThread

if TYPE_CHECKING:
    from .calls import SyncCall

__all__ = [
    "AsyncSingleThreadContext",
    "ContextExecutors",
    "GivenExecutor",
    "ThreadSensitiveContext",
]


class GivenExecutor:
    """The executor given to a :class:`ThreadSensitiveContext`, as a target
    of thread-sensitive calls."""

    __slots__ = ("executor",)

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    def enqueue(self, call: SyncCall) -> bool:
        self.executor.submit(call.run)
        return True


class ThreadSensitiveContext:
    """Async context manager giving the code inside its own thread-sensitive thread.

    Thread-sensitive :func:`sync_to_async` calls made inside (including by tasks
    started inside) run on one thread belonging to this context instead of the
    process-wide one -- for example one thread per request.  Re-entrant: only
    the outermost context takes effect.  On exit the thread finishes the calls
    already queued (including calls whose cancelled callers let them go) and
    ends; leaving waits for that without blocking the event loop, unless the
    thread is waiting on the event loop itself (then it is left to end on its
    own, so leaving never deadlocks).  Calls made after the exit by tasks that
    outlived it fall back to the process-wide thread.

    With *executor* (asgiref 3.13's keyword), thread-sensitive calls inside
    run on that executor instead, even inside another context or inside an
    :func:`async_to_sync` call (a nested :func:`async_to_sync` takes over
    again for the calls its coroutine makes).  The executor must run one call
    at a time on one thread, e.g. ``ThreadPoolExecutor(max_workers=1)``; it
    belongs to the caller and is not shut down on exit.  Such a context can be
    entered once.

    :raises RuntimeError: entering a context with an executor that is already
        entered or was left; a thread-sensitive call, after such a context was
        left, from a task started inside it.
    """

    def __init__(self, *, executor: Executor | None = None) -> None:
        self._token: Any = None
        self._executor_token: Any = None
        self._lock = threading.Lock()
        self._thread: SyncThread | None = None
        self._closed = False
        self._given = None if executor is None else GivenExecutor(executor)

    def _thread_for_call(self) -> SyncThread | GivenExecutor | None:
        with self._lock:
            if self._given is not None:
                if self._closed:
                    raise RuntimeError(
                        "ThreadSensitiveContext with an executor has exited: tasks "
                        "started inside it must finish before it exits"
                    )
                return self._given
            if self._closed:
                return None
            if self._thread is None:
                self._thread = SyncThread("anyio_bridge ThreadSensitiveContext")
            return self._thread

    async def __aenter__(self) -> ThreadSensitiveContext:
        if self._given is not None:
            if self._token is not None:
                raise RuntimeError("ThreadSensitiveContext is already entered")
            if self._closed:
                raise RuntimeError(
                    "a ThreadSensitiveContext with an executor cannot be entered again"
                )
            self._token = state.thread_sensitive_context.set(self)
            # The enclosing async_to_sync's thread would take precedence.
            self._executor_token = state.current_executor.set(None)
        elif state.thread_sensitive_context.get() is None:
            self._token = state.thread_sensitive_context.set(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is None:
            return
        state.thread_sensitive_context.reset(self._token)
        self._token = None
        if self._executor_token is not None:
            state.current_executor.reset(self._executor_token)
            self._executor_token = None
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is None:
            return
        thread.close()
        waiter = current_loop().new_waiter()
        thread.on_settle(waiter.wake)
        await waiter.wait()
        if thread.exited:
            # It has run its last line; reap it so it is gone when we return.
            thread.thread.join()


class AsyncSingleThreadContext:
    """Context manager running every top-level :func:`async_to_sync` inside on one loop.

    Outside any event loop, :func:`async_to_sync` normally uses a loop thread
    shared by the process.  Inside this context it uses a loop (and thread) of
    its own, created on first use and closed on exit, so tasks left behind by
    the coroutines are cancelled at the end of the block.  Leaving also waits
    for the :func:`sync_to_async` calls that cancelled tasks of that loop let
    go (``abandon_on_cancel``) to return.  Re-entrant: only the outermost
    context takes effect.
    """

    def __init__(self) -> None:
        self._token: Any = None
        self._lock = threading.Lock()
        self._loops: dict[str, LoopThread] = {}

    def _loop_thread(self, backend: str) -> LoopThread:
        with self._lock:
            thread = self._loops.get(backend)
            if thread is None:
                thread = LoopThread(backend, "anyio_bridge AsyncSingleThreadContext")
                self._loops[backend] = thread
            return thread

    def __enter__(self) -> AsyncSingleThreadContext:
        if state.single_thread_context.get() is None:
            self._token = state.single_thread_context.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is None:
            return
        state.single_thread_context.reset(self._token)
        self._token = None
        with self._lock:
            loops, self._loops = list(self._loops.values()), {}
        for loop in loops:
            loop.stop()
            # Calls its tasks let go when cancelled end before the block does.
            state.abandoned.wait(loop.loop)


class ContextExecutors:
    """``SyncToAsync.context_to_thread_executor``: asgiref's mapping of active
    thread-sensitive contexts to their executors, as a read-only view (the
    state itself stays with each :class:`ThreadSensitiveContext`)."""

    def __contains__(self, context: object) -> bool:
        return self.get(context) is not None

    def get(self, context: object, default: object = None) -> object:
        """The thread or executor of *context* while it is active and has one."""
        if isinstance(context, ThreadSensitiveContext) and context._token is not None:
            if context._given is not None:
                return context._given.executor
            if context._thread is not None:
                return context._thread
        return default
