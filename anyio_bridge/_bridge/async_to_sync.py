"""async_to_sync: calling a coroutine function from synchronous code.

Where the coroutine runs depends on the calling thread (see
:func:`async_to_sync`): in the task awaiting the thread's
:func:`~anyio_bridge.sync.sync_to_async` call (a :class:`Job` posted through
:meth:`SyncCall.post <anyio_bridge._bridge.calls.SyncCall.post>`), in a new
task on the loop of another anyio worker thread, or on a loop thread.  The
calling thread serves a :class:`~anyio_bridge._bridge.executor.CurrentThreadExecutor`
meanwhile, so the coroutine's thread-sensitive calls come back to it.  The
outcome travels back in a :class:`Box`, with the coroutine's context, whose
changed variables are copied into the caller's.

:class:`AsyncToSync` raises :exc:`RuntimeError` when called from a thread
running an event loop, or when the loop ends before the coroutine does, and
the backend's cancellation exception in a thread whose ``sync_to_async``
caller was cancelled; otherwise it returns or raises what the coroutine does.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
import warnings
from collections.abc import Awaitable, Callable
from contextvars import Context, ContextVar, copy_context
from typing import Any, Generic, ParamSpec, TypeVar, overload

from .._backends import Loop, foreign_worker_loop, running_loop_here
from . import state
from .calls import SyncCall, copy_back
from .coroutines import iscoroutinefunction, run_in_context
from .executor import CurrentThreadExecutor
from .local import bridge_enter
from .threads import LoopThread

__all__ = ["AsyncToSync", "Box", "Job", "async_to_sync"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


class Box:
    """The outcome of one async_to_sync call, from the coroutine to the
    waiting thread: a value or an error, and the context it ended in."""

    __slots__ = ("context", "error", "handling", "source_thread", "value")

    def __init__(self, handling: BaseException | None) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.context: Context | None = None
        #: The exception the sync caller was handling, for sys.exc_info().
        self.handling = handling
        #: The thread calling async_to_sync, for Local (see local.bridge_enter).
        self.source_thread = threading.get_ident()


async def _while_handling(handling: BaseException, awaitable: Awaitable[_R]) -> _R:
    """Await *awaitable* with *handling* as the exception being handled, so
    that ``sys.exc_info()`` in the coroutine sees the sync caller's one."""
    try:
        raise handling
    except BaseException:
        return await awaitable


class Job:
    """A coroutine that a thread running a call hands to the call's caller.

    The caller's task runs it (see :func:`.calls.serve_jobs`), in the context
    the thread prepared, and reports to the thread through *executor*.
    Running it in the waiting task, rather than in a new one, costs no task
    and makes the caller's cancellation reach it with no extra bookkeeping.
    """

    __slots__ = ("box", "context", "executor", "factory")

    def __init__(
        self,
        factory: Callable[[], Awaitable[Any]],
        context: Context,
        box: Box,
        executor: CurrentThreadExecutor,
    ) -> None:
        self.factory = factory
        self.context = context
        self.box = box
        self.executor = executor

    async def run(self, loop: Loop) -> None:
        """Run the coroutine; re-raise only the caller's own cancellation."""
        box = self.box
        try:
            self.context.run(bridge_enter, box.source_thread)
            awaitable = run_in_context(self.context, self.factory)
            if box.handling is None:
                box.value = await awaitable
            else:
                box.value = await _while_handling(box.handling, awaitable)
        except loop.cancelled_class:
            # The caller is being cancelled: so is the thread's coroutine.
            box.error = loop.new_cancelled()
            raise
        except GeneratorExit:
            # The caller's task was destroyed unfinished (its loop was closed).
            box.error = RuntimeError(
                "async_to_sync: the event loop closed while the coroutine was "
                "still running"
            )
            raise
        except BaseException as exc:
            box.error = exc
        finally:
            box.context = self.context
            self.executor.stop()

    def refuse(self, loop: Loop) -> None:
        """Answer the thread with cancellation, without running anything."""
        self.box.error = loop.new_cancelled()
        self.box.context = self.context
        self.executor.stop()


class _CurrentExecutor:
    """``AsyncToSync.executors``: asgiref's holder of the current
    :class:`CurrentThreadExecutor`, as a view of the bridge's own context
    variable (per context, like asgiref's)."""

    @property
    def current(self) -> CurrentThreadExecutor | None:
        """The executor of the thread waiting in :func:`async_to_sync` for
        the code running here, or ``None``."""
        return state.current_executor.get()

    @current.setter
    def current(self, executor: CurrentThreadExecutor | None) -> None:
        state.current_executor.set(executor)


class AsyncToSync(Generic[_P, _R]):
    """A synchronous wrapper that runs a coroutine function to completion.

    Usually created with :func:`async_to_sync`, whose parameters it takes.
    """

    #: asgiref's class attribute, for code written against it (see
    #: :class:`_CurrentExecutor`).
    executors = _CurrentExecutor()

    def __init__(
        self,
        awaitable: Callable[_P, Awaitable[_R]],
        force_new_loop: bool = False,
        *,
        backend: str = "asyncio",
    ) -> None:
        if not callable(awaitable) or not (
            iscoroutinefunction(awaitable)
            or iscoroutinefunction(getattr(awaitable, "__call__", None))  # noqa: B004
        ):
            warnings.warn(
                "async_to_sync was passed a non-async-marked callable",
                stacklevel=2,
            )
        functools.update_wrapper(self, awaitable)
        self.awaitable = awaitable
        self.force_new_loop = force_new_loop
        self.backend = backend
        with contextlib.suppress(AttributeError):  # asgiref's, for bound methods
            self.__self__ = awaitable.__self__  # type: ignore[attr-defined]

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if running_loop_here():
            raise RuntimeError(
                "You cannot use AsyncToSync in the same thread as an async event "
                "loop - just await the async function directly."
            )
        call: SyncCall | None = None if self.force_new_loop else state.thread_state.call
        executor = CurrentThreadExecutor()
        context = copy_context()
        context.run(_enter_coroutine_context, executor)
        box = Box(sys.exc_info()[1])
        if call is not None:
            # A thread running a sync_to_async call: the task awaiting that
            # call runs the coroutine, while this thread serves the
            # thread-sensitive calls the coroutine makes.
            factory = functools.partial(self.awaitable, *args, **kwargs)
            held = call.held
            if held is not None:
                held.enter_blocking()
            try:
                call.post(Job(factory, context, box, executor))
                served = executor.serve(alive=call.loop.is_alive)
            finally:
                if held is not None:
                    held.exit_blocking()
        else:
            served = self._spawn(box, executor, context, args, kwargs)
        if not served:
            raise RuntimeError(
                "async_to_sync: the event loop closed while the coroutine was "
                "still running"
            )
        assert box.context is not None  # set before the executor is stopped
        copy_back(box.context)
        error = box.error
        if error is not None:
            try:
                raise error
            finally:
                box.error = error = None
        return box.value  # type: ignore[no-any-return]

    def _spawn(
        self,
        box: Box,
        executor: CurrentThreadExecutor,
        context: Context,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> bool:
        """Run the coroutine in a new task, on the loop of this anyio worker
        thread, or else on a loop thread; serve this thread meanwhile."""
        own_loop: LoopThread | None = None
        loop = None if self.force_new_loop else foreign_worker_loop()
        spawn: Callable[[Callable[[], Awaitable[object]], Context], bool]
        if loop is not None:
            spawn = loop.spawn
        else:
            single = state.single_thread_context.get()
            if self.force_new_loop:
                thread = own_loop = LoopThread(
                    self.backend, "anyio_bridge private loop"
                )
            elif single is not None:
                thread = single._loop_thread(self.backend)
            else:
                thread = state.process.loop_thread(self.backend)
            loop, spawn = thread.loop, thread.spawn
        try:
            runner = functools.partial(self._run, box, executor, args, kwargs)
            if not spawn(runner, context):
                raise RuntimeError(
                    "async_to_sync: the event loop this thread belongs to has finished"
                )
            return executor.serve(alive=loop.is_alive)
        finally:
            if own_loop is not None:
                own_loop.stop()

    async def _run(
        self,
        box: Box,
        executor: CurrentThreadExecutor,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        try:
            bridge_enter(box.source_thread)
            awaitable = self.awaitable(*args, **kwargs)
            if box.handling is None:
                box.value = await awaitable
            else:
                box.value = await _while_handling(box.handling, awaitable)
        except BaseException as exc:
            box.error = exc
        finally:
            box.context = copy_context()
            executor.stop()

    def __get__(self, parent: Any, objtype: Any) -> Callable[..., _R]:
        """Bind like a method when stored as a class attribute."""
        bound = functools.partial(self.__call__, parent)
        return functools.update_wrapper(bound, self.awaitable)


def _enter_coroutine_context(executor: CurrentThreadExecutor) -> None:
    state.current_executor.set(executor)
    # The coroutine's thread-sensitive calls go to *executor*, served by the
    # waiting thread itself; tasks it starts that outlive the call are not
    # waited for by any thread up the chain, so they hold none.
    state.holding_calls.set(())
    _sniffio_cvar.set(None)


_sniffio_cvar: ContextVar[str | None] = next(
    var for var in state.INTERNAL_VARS if var.name == "current_async_library_cvar"
)


@overload
def async_to_sync(
    awaitable: None = None,
    *,
    force_new_loop: bool = False,
    backend: str = "asyncio",
) -> Callable[[Callable[_P, Awaitable[_R]]], AsyncToSync[_P, _R]]: ...


@overload
def async_to_sync(
    awaitable: Callable[_P, Awaitable[_R]],
    *,
    force_new_loop: bool = False,
    backend: str = "asyncio",
) -> AsyncToSync[_P, _R]: ...


def async_to_sync(
    awaitable: Callable[_P, Awaitable[_R]] | None = None,
    *,
    force_new_loop: bool = False,
    backend: str = "asyncio",
) -> AsyncToSync[_P, _R] | Callable[[Callable[_P, Awaitable[_R]]], AsyncToSync[_P, _R]]:
    """Wrap a coroutine function so that calling it from sync code runs it.

    Where the coroutine runs depends on the calling thread:

    * a thread running a :func:`sync_to_async` call: in the task awaiting
      that call (so the caller's cancellation reaches the coroutine), with the
      thread's context variables;
    * any other anyio worker thread: in a new task on that thread's event
      loop, with the thread's context variables;
    * a thread with no event loop (plain sync code): on a long-lived loop
      thread of *backend* shared by the process (or the loop of the enclosing
      :class:`AsyncSingleThreadContext`); ``force_new_loop=True`` runs it on a
      fresh loop, in a fresh thread, closed afterwards.

    While it waits, the calling thread runs the thread-sensitive
    :func:`sync_to_async` calls the coroutine makes.

    :param backend: ``"asyncio"`` or ``"trio"``: the backend of a new loop.
    :raises RuntimeError: when called from a thread that is running an event
        loop (await the coroutine instead), or when the loop ends before the
        coroutine does.
    :raises BaseException: the backend's cancellation exception, in a thread
        whose :func:`sync_to_async` caller was cancelled.
    """
    if awaitable is None:
        return lambda f: AsyncToSync(f, force_new_loop=force_new_loop, backend=backend)
    return AsyncToSync(awaitable, force_new_loop=force_new_loop, backend=backend)
