"""Every piece of mutable state the bridge keeps, in one place, with its owner.

* Per context (:mod:`contextvars`): where thread-sensitive calls go and which
  dedicated threads are blocked further up the call chain.  Owned by the code
  that sets them: :data:`current_executor` by ``async_to_sync``
  (:mod:`.async_to_sync`; a ``ThreadSensitiveContext`` with an executor
  clears it inside), :data:`thread_sensitive_context` and
  :data:`single_thread_context` by the context managers (:mod:`.contexts`),
  :data:`holding_calls` by the thread running a call (:mod:`.calls`;
  ``async_to_sync`` clears it for its coroutine).  They never leak back to
  callers (see :data:`INTERNAL_VARS`).
* Per thread (:data:`thread_state`): the call the thread is running for a
  ``sync_to_async`` caller, if any.  Owned by that call
  (``SyncCall.execute``, :mod:`.calls`).
* Per process (:data:`process`): the shared thread-sensitive thread and the
  loop threads used by ``async_to_sync`` from plain sync code.  Created lazily,
  forgotten in a child after :func:`os.fork`, stopped at interpreter exit.
* Per process (:data:`abandoned`): the ``sync_to_async`` calls whose cancelled
  caller was let go while the function still runs.  Owned by the call
  (:mod:`.calls`): it is added when its caller leaves and removes itself when
  it ends.  :class:`~anyio_bridge.sync.AsyncSingleThreadContext` waits on it
  for the calls its loop's tasks left behind.

Nothing here raises; :meth:`_Abandoned.wait` returns ``False`` on timeout.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

import sniffio

from .._backends import forget_thread_claims
from . import local
from .threads import LoopThread, SyncThread

if TYPE_CHECKING:
    from .executor import CurrentThreadExecutor

__all__ = [
    "INTERNAL_VARS",
    "AbandonedCall",
    "abandoned",
    "current_executor",
    "holding_calls",
    "logger",
    "process",
    "single_thread_context",
    "thread_sensitive_context",
    "thread_state",
]

# -- per context -----------------------------------------------------------

#: The thread blocked in async_to_sync whose coroutine (and its tasks) we're in.
current_executor: ContextVar[CurrentThreadExecutor | None] = ContextVar(
    "anyio_bridge.current_executor", default=None
)
#: The thread-sensitive calls on dedicated threads further up this chain of
#: calls (``calls.SyncCall``); those not finished hold their thread.
holding_calls: ContextVar[tuple[Any, ...]] = ContextVar(
    "anyio_bridge.holding_calls", default=()
)
#: The innermost active ThreadSensitiveContext (typed loosely to avoid a cycle).
thread_sensitive_context: ContextVar[Any] = ContextVar(
    "anyio_bridge.thread_sensitive_context", default=None
)
#: The innermost active AsyncSingleThreadContext.
single_thread_context: ContextVar[Any] = ContextVar(
    "anyio_bridge.single_thread_context", default=None
)

#: Variables that are never copied back to a caller's context.
INTERNAL_VARS: frozenset[ContextVar[Any]] = frozenset(
    {
        current_executor,
        holding_calls,
        thread_sensitive_context,
        single_thread_context,
        sniffio.current_async_library_cvar,
        local.HOME,  # local.bridge_return translates it instead
    }
)

# -- per thread --------------------------------------------------------------


class _ThreadState(threading.local):
    #: The call this thread is running for a sync_to_async caller.
    call: Any = None


thread_state = _ThreadState()

# -- per process -------------------------------------------------------------

logger = logging.getLogger("anyio_bridge.sync")


class AbandonedCall(Protocol):
    """What the registry needs of a call (a ``calls.SyncCall``)."""

    #: The loop of the caller that let the call go (a ``_backends.Loop``).
    loop: Any

    def describe(self) -> str: ...


class _Abandoned:
    """The calls still running after their cancelled caller let them go.

    Every such call is here from the moment its caller leaves until its
    function returns, so that nothing runs unobserved: contexts that own a
    loop wait for the calls its tasks left behind (:meth:`wait`), and calls
    still running at interpreter exit are reported (:meth:`report`).
    """

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._calls: dict[AbandonedCall, None] = {}

    def add(self, call: AbandonedCall) -> None:
        with self._changed:
            self._calls[call] = None

    def discard(self, call: AbandonedCall) -> None:
        with self._changed:
            self._calls.pop(call, None)
            self._changed.notify_all()

    def running(self, loop: object | None = None) -> list[AbandonedCall]:
        """The calls still running (those left by *loop*'s tasks, if given)."""
        with self._changed:
            return [c for c in self._calls if loop is None or c.loop is loop]

    def wait(self, loop: object, timeout: float | None = None) -> bool:
        """Block until every call left by *loop*'s tasks has ended.

        Returns ``False`` if *timeout* seconds passed first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while any(call.loop is loop for call in self._calls):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def report(self) -> None:
        """Log every call still running (at interpreter exit)."""
        for call in self.running():
            logger.warning(
                "%s is still running at interpreter exit: its caller was "
                "cancelled and did not wait for it; it is stopped with the "
                "process.",
                call.describe(),
            )

    def after_fork_in_child(self) -> None:
        # The parent's threads, and so its running calls, do not exist here.
        self._changed = threading.Condition(threading.Lock())
        self._calls = {}


abandoned = _Abandoned()


class _Process:
    """Lazily started threads shared by the whole process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sync_thread: SyncThread | None = None
        self._loops: dict[tuple[str, str], LoopThread] = {}

    def shared_sync_thread(self) -> SyncThread:
        """The thread that runs thread-sensitive calls outside any context."""
        thread = self._sync_thread
        if thread is None:
            with self._lock:
                thread = self._sync_thread
                if thread is None:  # pragma: no branch - another thread won
                    thread = SyncThread("anyio_bridge thread-sensitive")
                    self._sync_thread = thread
        return thread

    def loop_thread(
        self, backend: str, options: Mapping[str, Any] | None = None
    ) -> LoopThread:
        """The process's loop thread for *backend* started with *options*.

        ``async_to_sync`` from plain sync code uses the one without options;
        :class:`~anyio_bridge.wsgi.AsgiToWsgi` instances share it too, or
        one per distinct set of backend options.
        """
        key = (backend, repr(sorted(options.items())) if options else "")
        loop = self._loops.get(key)
        if loop is None:
            with self._lock:
                loop = self._loops.get(key)
                if loop is None:  # pragma: no branch - another thread won
                    name = f"anyio_bridge {backend} loop"
                    loop = LoopThread(backend, name, options)
                    self._loops[key] = loop
        return loop

    def after_fork_in_child(self) -> None:
        # The parent's threads do not exist here; start afresh.
        self._lock = threading.Lock()
        self._sync_thread = None
        self._loops = {}
        thread_state.call = None
        forget_thread_claims()
        abandoned.after_fork_in_child()

    def shutdown(self) -> None:
        """Stop the shared threads (registered with :mod:`atexit`).

        Calls left running by cancelled callers are reported, not waited for:
        a call that never returns must not hang the exit.
        """
        with self._lock:
            sync_thread, self._sync_thread = self._sync_thread, None
            loops, self._loops = list(self._loops.values()), {}
        abandoned.report()
        if sync_thread is not None:
            sync_thread.close()
            if not abandoned.running():
                sync_thread.thread.join(5)
        for loop in loops:
            loop.stop(5)


process = _Process()
os.register_at_fork(after_in_child=process.after_fork_in_child)
atexit.register(process.shutdown)
