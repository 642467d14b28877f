"""The event loops the package runs on, behind one small interface.

Everything else in the package is written against anyio.  What lives here is
what anyio has no public, cheap equivalent for, measured on the hot paths:

* waking a loop from a foreign thread without blocking that thread
  (``call_soon_threadsafe`` on asyncio, ``TrioToken.run_sync_soon`` on trio);
* a one-shot waiter a task can park on and a foreign thread can release,
  cheaper than :class:`anyio.Event`;
* starting a task on a loop from a foreign thread;
* telling whether the current thread runs an event loop and whether a loop is
  still alive;
* making a thread that anyio did not start look like an anyio worker thread,
  so that :func:`anyio.from_thread.run` and
  :func:`anyio.from_thread.check_cancelled` work inside bridge calls.

:class:`Loop` is one running loop as seen from any thread; it hands the work to
its backend, one module per event loop (:mod:`._asyncio`, :mod:`._trio`)
implementing :class:`._base.Backend`.  Every use of a private name of anyio,
trio or asyncio is in :mod:`._private`.
"""

from __future__ import annotations

import contextvars
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from anyio.lowlevel import EventLoopToken, current_token

from . import _asyncio, _private, _trio
from ._base import Backend, TaskStarter, Waiter, WorkerHooks

__all__ = [
    "Loop",
    "TaskStarter",
    "ThreadClaim",
    "Waiter",
    "current_loop",
    "foreign_worker_loop",
    "forget_thread_claims",
    "loop_for_token",
    "running_loop_here",
]


#: anyio's worker-thread state (None if anyio moved it: see _private).
_ANYIO_STATE = _private.anyio_thread_state()


class Loop:
    """One running event loop, as seen from any thread.

    Obtain it with :func:`current_loop` (in the loop's thread) or
    :func:`loop_for_token`; instances are cached per loop.
    """

    __slots__ = (
        "__weakref__",
        "_batch",
        "_batch_lock",
        "backend",
        "cancelled_class",
        "native",
        "token",
        "worker_backend",
    )

    def __init__(self, token: EventLoopToken) -> None:
        self.token = token
        #: The native loop: an asyncio event loop, or trio's ``TrioToken``.
        self.native: Any = token.native_token
        trio = sys.modules.get("trio")
        is_trio = trio is not None and isinstance(self.native, trio.lowlevel.TrioToken)
        self.backend: Backend = _trio.BACKEND if is_trio else _asyncio.BACKEND
        #: The backend, if it keeps worker-thread state of its own beside
        #: anyio's (trio does, for trio.from_thread); else None.
        self.worker_backend: WorkerHooks | None = _trio.BACKEND if is_trio else None
        #: The backend's cancellation exception class, known without a running
        #: loop (a coroutine can be closed by the garbage collector).
        self.cancelled_class: type[BaseException] = (
            token.backend_class.cancelled_exception_class()
        )
        self._batch: list[Callable[[], object]] = []
        self._batch_lock = threading.Lock()

    def call_soon_threadsafe(self, func: Callable[..., object], *args: object) -> bool:
        """Schedule ``func(*args)`` on this loop; callable from any thread.

        Returns ``False`` instead of raising when the loop has finished.
        """
        return self.backend.call_soon_threadsafe(self.native, func, *args)

    def call_soon_batched(self, func: Callable[[], object]) -> bool:
        """Like :meth:`call_soon_threadsafe`, but one wake-up of the loop runs
        every *func* batched since the last one ran.

        For paths where many threads report to one busy loop (a server's
        requests): each wake-up the loop skips is a system call and a handle
        fewer, and one GIL hand-off fewer for the reporting thread.  *func*
        must not raise.  Returns ``False`` if the loop has finished.
        """
        with self._batch_lock:
            batch = self._batch
            batch.append(func)
            if len(batch) > 1:
                return True  # the wake-up is on its way
        if self.call_soon_threadsafe(self._run_batch):
            return True
        with self._batch_lock:
            self._batch = []
        return False

    def _run_batch(self) -> None:
        with self._batch_lock:
            batch, self._batch = self._batch, []
        for func in batch:
            func()

    def call_soon(self, func: Callable[..., object], *args: object) -> None:
        """Schedule ``func(*args)`` to run after the current task yields; call
        in the loop's thread, while the loop runs."""
        self.backend.call_soon(self.native, func, *args)

    def spawn(
        self,
        async_fn: Callable[[], Awaitable[object]],
        context: contextvars.Context | None = None,
    ) -> bool:
        """Start ``async_fn()`` as a new task on this loop, in *context*.

        For use from other threads; does not wait.  The task must not raise: on
        trio it is a system task, whose errors would crash the whole run.
        Returns ``False`` if the loop has finished (a trio run so near its end
        that it takes no new task drops it: see :meth:`start_task`).
        *context* defaults to a copy of the current one.
        """
        if context is None:
            context = contextvars.copy_context()
        return self.call_soon_threadsafe(self.start_task, async_fn, context)

    def start_task(
        self, async_fn: Callable[[], Awaitable[object]], context: contextvars.Context
    ) -> bool:
        """Start ``async_fn()`` as a new task on this loop now, in *context*.

        Call it in the loop's thread, while the loop runs.  On asyncio the
        task is made with the loop's ``create_task``; on trio it is a system
        task (trio cancels it when the main task ends).  The task must not
        raise, as for :meth:`spawn`.  Returns ``False``, instead of raising,
        if the loop takes no new tasks (trio, once the main task has ended).
        """
        return self.backend.start_task(self.native, async_fn, context)

    def time(self) -> float:
        """The loop's clock, for cancel-scope deadlines (in the loop's thread,
        also from a plain callback where anyio cannot tell the backend)."""
        return self.backend.current_time(self.native)

    def is_alive(self) -> bool:
        """Return ``False`` once this loop can no longer run callbacks."""
        return self.backend.is_alive(self)

    def new_waiter(self) -> Waiter:
        """A waiter for the current task of this loop (call in the loop's thread)."""
        return self.backend.new_waiter(self)

    def new_cancelled(self) -> BaseException:
        """A fresh instance of this backend's cancellation exception."""
        return self.backend.new_cancelled()


_loops: weakref.WeakKeyDictionary[object, Loop] = weakref.WeakKeyDictionary()
_loops_lock = threading.Lock()


def loop_for_token(token: EventLoopToken) -> Loop:
    """The :class:`Loop` behind an anyio token."""
    native = token.native_token
    loop = _loops.get(native)
    if loop is None:
        with _loops_lock:
            loop = _loops.setdefault(native, Loop(token))
    return loop


class _LastLoop(threading.local):
    native: Any = None
    loop: Loop | None = None


_last_loop = _LastLoop()


def current_loop() -> Loop:
    """The :class:`Loop` running the current task.

    :raises anyio.NoEventLoopError: outside a running asyncio or trio loop.
    """
    native = _current_native()
    cache = _last_loop
    if native is not None and native is cache.native:
        return cache.loop  # type: ignore[return-value]
    loop = loop_for_token(current_token())
    cache.native, cache.loop = loop.native, loop
    return loop


def _current_native() -> Any:
    # What sniffio would find, asked of the loops directly: cheaper, and on
    # every request's and every bridge call's path.  An asyncio loop running
    # inside a trio thread (trio-asyncio) wins, as it does for sniffio.
    modules = sys.modules
    if "asyncio" in modules:
        loop = _asyncio_running_loop()
        if loop is not None:
            return loop
    trio = modules.get("trio")
    if trio is not None and trio.lowlevel.in_trio_run():
        return trio.lowlevel.current_trio_token()
    return None


def _asyncio_running_loop() -> Any:
    """The running asyncio loop of this thread, or None (asyncio is loaded).

    Replaces itself with the fast function on first use: asyncio is not
    imported before something else loads it.
    """
    global _asyncio_running_loop
    get = _asyncio_running_loop = _private.asyncio_running_loop()
    return get()


def running_loop_here() -> bool:
    """Return ``True`` if the current thread is running an asyncio or trio loop."""
    if "asyncio" in sys.modules and _asyncio_running_loop() is not None:
        return True
    return "trio" in sys.modules and _trio.in_trio_run()


def foreign_worker_loop() -> Loop | None:
    """The loop of an anyio or trio worker thread that this package did not start.

    ``None`` when the current thread is not such a worker thread.
    """
    token = getattr(_ANYIO_STATE, "current_token", None)
    if isinstance(token, EventLoopToken):
        return loop_for_token(token)
    trio_token = _trio.TrioBackend.worker_token()
    backend_class = _private.anyio_trio_backend()
    if trio_token is None or backend_class is None:
        return None
    return loop_for_token(EventLoopToken(backend_class, trio_token))


class ThreadClaim:
    """What a bridge call shares with the thread that runs it.

    Created on the loop thread; :meth:`cancel` is called there when the caller
    is cancelled, and makes :func:`anyio.from_thread.check_cancelled` raise in
    the worker thread from then on.
    """

    __slots__ = ("cancel_register", "cancel_scope", "loop")

    def __init__(self, loop: Loop, cancel_scope: object | None) -> None:
        self.loop = loop
        # asyncio: anyio walks this scope and its parents in check_cancelled().
        self.cancel_scope = cancel_scope
        # trio: trio.from_thread.check_cancelled() calls element 0 once set.
        self.cancel_register: list[Callable[[], object] | None] = [None]

    def cancel(self) -> None:
        self.cancel_register[0] = self._raise_cancelled

    def _raise_cancelled(self) -> None:
        raise self.loop.new_cancelled()

    def enter(self) -> tuple[Any, ...]:
        """Make this thread look like an anyio worker thread of the claim's loop.

        Inside, :func:`anyio.from_thread.run`, :func:`anyio.from_thread.run_sync`
        and :func:`anyio.from_thread.check_cancelled` work as in a thread
        started by :func:`anyio.to_thread.run_sync`.  Returns what
        :meth:`leave` needs to restore the previous state, so claims nest.
        """
        # On every bridge call's path: plain dictionary operations, no loops.
        loop = self.loop
        token = scope = None
        if _ANYIO_STATE is not None:
            anyio_state: dict[str, Any] = _ANYIO_STATE.__dict__
            token = anyio_state.get("current_token")
            scope = anyio_state.get("current_cancel_scope")
            anyio_state["current_token"] = loop.token
            anyio_state["current_cancel_scope"] = self.cancel_scope
        backend = loop.worker_backend
        if backend is None:
            return (token, scope, None, None)
        return (
            token,
            scope,
            backend,
            backend.enter_worker(loop.native, self.cancel_register),
        )

    @staticmethod
    def leave(saved: tuple[Any, ...]) -> None:
        """Undo :meth:`enter`, given what it returned."""
        token, scope, backend, saved_backend = saved
        if _ANYIO_STATE is not None:
            _restore(_ANYIO_STATE.__dict__, token, scope)
        if backend is not None:
            backend.leave_worker(saved_backend)


def _restore(state: dict[str, Any], token: Any, scope: Any) -> None:
    if token is None:
        state.pop("current_token", None)
    else:
        state["current_token"] = token
    if scope is None:
        state.pop("current_cancel_scope", None)
    else:
        state["current_cancel_scope"] = scope


def forget_thread_claims() -> None:
    """Drop anyio's and trio's worker-thread state of the current thread.

    Called in a child process after :func:`os.fork`: the loop that state points
    to lives in the parent and must never be used from the child.
    """
    if _ANYIO_STATE is not None:
        _restore(_ANYIO_STATE.__dict__, None, None)
    for backend in _BACKENDS:
        backend.forget_worker()


_BACKENDS: tuple[Backend, ...] = (_asyncio.BACKEND, _trio.BACKEND)
