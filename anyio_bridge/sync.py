"""Calling synchronous code from async code and back, on asyncio and trio.

The public names match :mod:`asgiref.sync`, so migrating is a change of import.
How calls are placed on threads, how context variables travel and how
cancellation behaves is explained in ``docs/threads-and-cancellation.md``.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
import warnings
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from contextvars import Context, ContextVar, copy_context
from types import CodeType, TracebackType
from typing import Any, Generic, ParamSpec, TypeVar, overload

import anyio
import anyio.to_thread
from anyio import CancelScope, CapacityLimiter, WouldBlock
from anyio.lowlevel import checkpoint_if_cancelled

from . import _state
from ._backends import (
    Loop,
    ThreadClaim,
    Waiter,
    current_loop,
    foreign_worker_loop,
    running_loop_here,
)
from ._coroutines import iscoroutinefunction, markcoroutinefunction, run_in_context
from ._pool import pool
from ._threads import LoopThread, SyncThread
from .current_thread_executor import CurrentThreadExecutor
from .local import bridge_enter, bridge_return

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

_P = ParamSpec("_P")
_R = TypeVar("_R")
_MISSING: Any = object()


def _copy_back(context: Context) -> None:
    """Set in the current context every variable whose value differs in *context*."""
    for var, value in context.items():
        if var.get(_MISSING) is not value and var not in _state.INTERNAL_VARS:
            var.set(value)
    bridge_return(context)


# -- sync_to_async -----------------------------------------------------------


class _SyncCall:
    """One sync_to_async call: run on a worker thread, awaited on the loop.

    The worker side is :meth:`run`; the loop side creates the call, hands it to
    a thread and waits on the waiter that :meth:`run` wakes when done.

    Its life, guarded by :data:`_calls_lock`: *started* by the thread unless
    the caller was cancelled first (then the function never runs), then
    *finished*.  A caller cancelled while the function runs either waits for
    it or lets it go (*abandoned*): the call then stays in
    :data:`_state.abandoned` until it ends, and logs an exception it raises.
    """

    __slots__ = (
        "_waiter",
        "abandoned",
        "cancelled",
        "claim",
        "context",
        "error",
        "finished",
        "func",
        "handler",
        "handling",
        "held",
        "job",
        "loop",
        "name",
        "result",
        "source_thread",
        "started",
        "thread_id",
    )

    def __init__(
        self,
        func: Callable[[], Any],
        context: Context,
        loop: Loop,
        claim: ThreadClaim,
        handling: BaseException | None,
    ) -> None:
        self.func: Callable[[], Any] | None = func
        self.context = context
        self.loop = loop
        self.claim = claim
        self.handling = handling
        #: An overridden ``SyncToAsync.thread_handler``, bound; else None.
        self.handler: Callable[..., Any] | None = None
        #: The wrapped callable's name, for log messages.
        self.name = ""
        self.held: SyncThread | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.cancelled = False
        self.started = False
        self.abandoned = False
        self.thread_id = 0
        #: The caller's thread (the loop's), for Local (see local.bridge_enter).
        self.source_thread = threading.get_ident()
        #: Set by the thread just before its last wake-up of the caller.
        self.finished = False
        #: A coroutine the thread asks the caller's task to run (async_to_sync).
        self.job: _Job | None = None
        self._waiter: Waiter | None = None

    @classmethod
    def start(
        cls,
        func: Callable[[], Any],
        context: Context,
        loop: Loop,
        scope: object | None,
        handling: BaseException | None,
        wrapper: SyncToAsync[..., Any],
    ) -> tuple[_SyncCall, Waiter]:
        """A call for the current task, and the waiter it will be woken on."""
        call = cls(func, context, loop, ThreadClaim(loop, scope), handling)
        call.name = wrapper._label
        if type(wrapper).thread_handler is not _BASE_THREAD_HANDLER:
            call.handler = wrapper.thread_handler
        waiter = call._waiter = loop.new_waiter()
        return call, waiter

    def describe(self) -> str:
        """The call, for log messages."""
        thread = _thread_name(self.thread_id)
        return f"sync_to_async call of {self.name} in thread {thread}"

    # -- worker thread side --

    def run(self) -> None:
        """Run the call in this thread, then wake the waiting task.

        The thread's own bookkeeping is undone after the wake-up, so the
        caller resumes as early as possible.
        """
        if not self.execute(self._finish):
            self._finish()

    def run_in_pool(self) -> Callable[[], object]:
        """A pool job: run the call, and wake the waiting task only once the
        thread is idle again (see :mod:`anyio_bridge._pool`)."""
        self.execute()
        return self._finish

    def _finish(self) -> None:
        waiter = self._waiter
        assert waiter is not None  # set by the caller
        with _calls_lock:
            self.finished = True
            abandoned = self.abandoned
        if abandoned:
            self._drop_outcome()
            _state.abandoned.discard(self)
        waiter.wake()

    def _drop_outcome(self) -> None:
        """Nobody will read the outcome: log an exception instead of losing it."""
        error, self.error, self.result = self.error, None, None
        if error is not None and not isinstance(error, self.loop.cancelled_class):
            _state.logger.error(
                "%s raised after its caller was cancelled",
                self.describe(),
                exc_info=error,
            )

    def post(self, job: _Job) -> None:
        """Ask the caller's task to run *job* (called by the thread, for
        async_to_sync); the job's executor then reports the outcome.

        :raises: the backend's cancellation exception if the caller was
            cancelled, or RuntimeError if its event loop has finished.
        """
        with _calls_lock:
            if self.cancelled:
                raise self.loop.new_cancelled()
            self.job = job
        waiter = self._waiter
        assert waiter is not None  # set by the caller
        if not waiter.wake():
            raise RuntimeError(
                "async_to_sync: the event loop this thread belongs to has finished"
            )

    def execute(self, finish: Callable[[], object] | None = None) -> bool:
        """Run the function in this thread as a worker of the caller's loop,
        unless the caller was cancelled before it started; return whether
        it ran.

        *finish*, if given, is called once the outcome is stored and before
        the thread's bookkeeping is undone (only if the function ran).
        """
        with _calls_lock:
            run = self.started = not self.cancelled
        if run:
            state = _state.thread_state
            outer, state.call = state.call, self
            self.thread_id = threading.get_ident()
            saved = self.claim.enter()
            try:
                handler = self.handler
                if handler is None:
                    self.result = self.context.run(self._invoke)
                else:
                    self.result = self._invoke_handler(handler)
            except BaseException as exc:
                self.error = exc
            if finish is not None:
                finish()
            ThreadClaim.leave(saved)
            state.call = outer
        self.func = None
        return run

    def _invoke(self) -> Any:
        """Call the function (in the call's context)."""
        self._hold_thread()
        func = self.func
        assert func is not None
        handling = self.handling
        if handling is None:
            return func()
        # Keep the caller's in-flight exception visible to sys.exc_info().
        try:
            raise handling
        except BaseException:
            return func()

    def _hold_thread(self) -> None:
        bridge_enter(self.source_thread)
        if self.held is not None:
            _state.holding_calls.set((*_state.holding_calls.get(), self))

    def _invoke_handler(self, handler: Callable[..., Any]) -> Any:
        """Call the function through an overridden ``thread_handler``, with
        asgiref's arguments: the loop, the caller's exception info, a task
        list, a runner that enters the call's context, and the function."""
        handling = self.handling
        exc_info = (
            (None, None, None)
            if handling is None
            else (type(handling), handling, handling.__traceback__)
        )
        return handler(self.loop.native, exc_info, [], self._enter_context, self.func)

    def _enter_context(self, func: Callable[[], Any]) -> Any:
        return self.context.run(self._call_held, func)

    def _call_held(self, func: Callable[[], Any]) -> Any:
        self._hold_thread()
        return func()

    # -- loop side --

    def take_job(self) -> _Job | None:
        if self.job is None:
            return None
        with _calls_lock:
            job, self.job = self.job, None
        return job

    def cancel(self, abandon: bool) -> bool:
        """The caller was cancelled: tell the thread, refuse what it asked for.

        Returns ``True`` if the function is running: the caller must wait for
        it, or (with *abandon*) it is now abandoned, tracked until it ends.
        A call that has not started never will.
        """
        with _calls_lock:
            self.cancelled = True
            job, self.job = self.job, None
            running = self.started and not self.finished
            if running and abandon:
                self.abandoned = True
                _state.abandoned.add(self)
        self.claim.cancel()
        if job is not None:
            job.refuse(self.loop)
        if not running and self.started:
            # Finished just as the caller was cancelled: nobody reads it.
            self._drop_outcome()
        return running

    def outcome(self) -> Any:
        error = self.error
        if error is not None:
            try:
                raise error
            finally:
                self.error = None
                del error
        return self.result


def _thread_name(ident: int) -> str:
    for thread in threading.enumerate():
        if thread.ident == ident:
            return repr(thread.name)
    return f"#{ident}"  # pragma: no cover - the thread ended meanwhile


#: Guards the state of every call (started, cancelled, finished, abandoned,
#: the job it sent) against the thread and the caller changing it at once.
_calls_lock = threading.Lock()


class _Job:
    """A coroutine that a thread running a call hands to the call's caller.

    The caller's task runs it (see :func:`_serve_jobs`), in the context the
    thread prepared, and reports to the thread through *executor*.  Running it
    in the waiting task, rather than in a new one, costs no task and makes the
    caller's cancellation reach it with no extra bookkeeping.
    """

    __slots__ = ("box", "context", "executor", "factory")

    def __init__(
        self,
        factory: Callable[[], Awaitable[Any]],
        context: Context,
        box: _Box,
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


async def _serve_jobs(call: _SyncCall, waiter: Waiter) -> None:
    """Run what *call*'s thread sends until the thread has finished.

    Called once woken while the thread is not finished, so it sent a job.
    The waiter is re-armed before every look at the call, so that no wake-up
    is lost.
    """
    loop = call.loop
    while True:
        waiter.reset()
        job = call.take_job()
        if job is not None:
            await job.run(loop)
        elif call.finished:
            return
        else:
            await waiter.wait()


async def _await_call(call: _SyncCall, waiter: Waiter, abandon: bool) -> None:
    """Wait for *call*'s thread, running the coroutines it sends meanwhile."""
    try:
        await waiter.wait()
        if not call.finished:
            await _serve_jobs(call, waiter)
    except call.loop.cancelled_class:
        await _after_cancel(call, waiter, abandon)
        raise


async def _after_cancel(call: _SyncCall, waiter: Waiter, abandon: bool) -> None:
    """The caller of *call* was cancelled: let the call go if *abandon*, else
    wait (shielded) for the function to return; its outcome is dropped."""
    if call.cancel(abandon) and not abandon:
        with CancelScope(shield=True):
            await _wait_finished(call, waiter)
        call._drop_outcome()


async def _wait_finished(call: _SyncCall, waiter: Waiter) -> None:
    # Once the call is cancelled the thread sends no more jobs: only its end.
    while True:
        waiter.reset()
        if call.finished:
            return
        await waiter.wait()


def _caller_scope(loop: Loop) -> tuple[object | None, bool]:
    """The cancel scope a call's thread gets, and whether the caller may
    already be cancelled (then, like anyio.to_thread, it must not start).

    anyio's ``check_cancelled()`` on asyncio walks the cancel scope a worker
    thread was given: ours get the caller's.  Trio has no such scope (see
    ThreadClaim); its cheap checkpoint tells.
    """
    backend = loop.backend
    scope = backend.thread_cancel_scope()
    return scope, backend.may_be_cancelled(scope)


def _thread_sensitive_target() -> CurrentThreadExecutor | SyncThread | _GivenExecutor:
    executor = _state.current_executor.get()
    if executor is not None and not executor.finished:
        return executor
    context = _state.thread_sensitive_context.get()
    thread = None if context is None else context._thread_for_call()
    if thread is None:
        thread = _state.process.shared_sync_thread()
    # Tasks started further down may outlive a holding call: only a call that
    # is still running holds its thread.
    if any(c.held is thread and not c.finished for c in _state.holding_calls.get()):
        raise RuntimeError(
            "thread-sensitive call would deadlock: the thread it must run on is "
            "blocked waiting for this very code. Reach the event loop from that "
            "thread with async_to_sync() rather than anyio.from_thread.run(), or "
            "use thread_sensitive=False."
        )
    return thread


class SyncToAsync(Generic[_P, _R]):
    """An awaitable wrapper that runs a synchronous callable in a thread.

    Usually created with :func:`sync_to_async`, whose parameters it takes.  The
    wrapper is recognised as a coroutine function by
    :func:`inspect.iscoroutinefunction` and :func:`asyncio.iscoroutinefunction`
    on every supported Python, so frameworks that inspect it (Django's
    middleware loading, for one) treat it as async.

    :raises TypeError: if *func* is not callable or is a coroutine function, if
        *executor* is given together with ``thread_sensitive=True``, or if
        *limiter* is given together with ``thread_sensitive=True`` or
        *executor*.
    """

    # Make instances look like a coroutine *function* to inspect on Python
    # 3.10/3.11, which has no coroutine marker: inspect accepts any object
    # with these function attributes and reads the flags of ``__code__``.
    __defaults__ = None
    __kwdefaults__ = None

    #: asgiref's class attribute, for code written against it: the context
    #: variable holding the innermost active :class:`ThreadSensitiveContext`
    #: (``None`` outside any, where asgiref's raises :exc:`LookupError`).
    thread_sensitive_context: ContextVar[ThreadSensitiveContext | None] = (
        _state.thread_sensitive_context
    )
    #: asgiref's class attribute, as a read-only view: which active
    #: :class:`ThreadSensitiveContext`\ s have a thread or an executor.
    context_to_thread_executor: _ContextExecutors

    def __init__(
        self,
        func: Callable[_P, _R],
        thread_sensitive: bool = True,
        executor: Executor | None = None,
        context: Context | None = None,
        *,
        limiter: CapacityLimiter | None = None,
        abandon_on_cancel: bool = True,
    ) -> None:
        if not callable(func) or iscoroutinefunction(func):
            raise TypeError("sync_to_async can only be applied to sync functions.")
        if iscoroutinefunction(getattr(func, "__call__", None)):  # noqa: B004
            raise TypeError("sync_to_async can only be applied to sync functions.")
        if thread_sensitive and executor is not None:
            raise TypeError("executor must not be set when thread_sensitive is True")
        if limiter is not None and (thread_sensitive or executor is not None):
            raise TypeError(
                "limiter applies to the worker pool only: pass it with "
                "thread_sensitive=False and no executor"
            )
        # update_wrapper copies func's __dict__: set our own attributes after.
        functools.update_wrapper(self, func)
        if not isinstance(getattr(self, "__name__", None), str):
            self.__name__ = type(func).__name__
        self.func = func
        #: The context given to run the function in, or None (a copy of the
        #: caller's context each call, whose changes flow back).
        self.context = context
        self._thread_sensitive = thread_sensitive
        self._executor = executor
        self._limiter = limiter
        self._abandon = abandon_on_cancel
        self._label = _callable_label(func)
        with contextlib.suppress(AttributeError):  # asgiref's, for bound methods
            self.__self__ = func.__self__  # type: ignore[attr-defined]
        markcoroutinefunction(self)

    async def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        loop = current_loop()
        given = self.context
        context = copy_context() if given is None else given
        func = (
            functools.partial(self.func, *args, **kwargs)
            if args or kwargs
            else self.func
        )
        handling = sys.exc_info()[1]
        if not self._thread_sensitive:
            call = await self._run(func, context, loop, handling)
            if given is None:
                _copy_back(context)
            return call.outcome()  # type: ignore[no-any-return]
        # The thread-sensitive path, inline: it is the hot one.
        scope, maybe_cancelled = _caller_scope(loop)
        if maybe_cancelled:
            await checkpoint_if_cancelled()
        call, waiter = _SyncCall.start(func, context, loop, scope, handling, self)
        while True:
            target = _thread_sensitive_target()
            if isinstance(target, SyncThread):
                call.held = target
                if target.submit(call):  # pragma: no branch - closing race
                    break
            elif target.enqueue(call):  # pragma: no branch - finishing race
                break
        try:
            await waiter.wait()
            if not call.finished:  # the thread sent a coroutine to run
                await _serve_jobs(call, waiter)
        except loop.cancelled_class:
            await _after_cancel(call, waiter, self._abandon)
            raise
        if given is None:
            _copy_back(context)
        return call.outcome()  # type: ignore[no-any-return]

    __code__: CodeType = __call__.__code__

    def thread_handler(
        self,
        loop: Any,
        exc_info: tuple[Any, BaseException | None, Any],
        task_context: list[Any],
        func: Callable[..., _R],
        *args: Any,
        **kwargs: Any,
    ) -> _R:
        """Run in the worker thread around every call; override to wrap calls.

        The hook asgiref's subclasses override (Channels'
        ``DatabaseSyncToAsync`` closes stale database connections around each
        call here).  *loop* is the caller's event loop (an asyncio loop, or a
        :class:`trio.lowlevel.TrioToken`), *exc_info* the exception the caller
        was handling, *task_context* a list kept for asgiref compatibility,
        and ``func(*args, **kwargs)`` runs the wrapped function in the call's
        context.  The base implementation makes *exc_info* the exception being
        handled in the thread and calls ``func(*args, **kwargs)``; an override
        must call it (through ``super()``) and return its result.

        When the method is not overridden, calls take a faster path with the
        same behaviour.
        """
        handling = exc_info[1]
        if handling is None:
            return func(*args, **kwargs)
        try:
            raise handling
        except BaseException:
            return func(*args, **kwargs)

    async def _run(
        self,
        func: Callable[[], Any],
        context: Context,
        loop: Loop,
        handling: BaseException | None,
    ) -> _SyncCall:
        # Worker pool or executor (the thread-sensitive path is in __call__).
        scope, maybe_cancelled = _caller_scope(loop)
        if maybe_cancelled:
            await checkpoint_if_cancelled()
        call, waiter = _SyncCall.start(func, context, loop, scope, handling, self)
        executor = self._executor
        if executor is None:
            await self._run_in_pool(call, waiter, loop)
            return call
        executor.submit(call.run)
        await _await_call(call, waiter, self._abandon)
        return call

    async def _run_in_pool(self, call: _SyncCall, waiter: Waiter, loop: Loop) -> None:
        # The limiter counts the thread until it is idle again, even when the
        # caller is cancelled and lets it go (abandon_on_cancel).
        limiter = self._limiter or anyio.to_thread.current_default_thread_limiter()
        try:
            limiter.acquire_on_behalf_of_nowait(call)
        except WouldBlock:
            await limiter.acquire_on_behalf_of(call)
        pool.submit(call.run_in_pool)
        try:
            await _await_call(call, waiter, self._abandon)
        finally:
            if call.finished:
                limiter.release_on_behalf_of(call)
            else:
                loop.spawn(functools.partial(_release_after, call, waiter, limiter))

    def __get__(self, parent: Any, objtype: Any) -> Callable[..., Any]:
        """Bind like a method when stored as a class attribute."""
        bound = functools.partial(self.__call__, parent)
        return functools.update_wrapper(bound, self.func)


_BASE_THREAD_HANDLER = SyncToAsync.thread_handler


class _ContextExecutors:
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


SyncToAsync.context_to_thread_executor = _ContextExecutors()


def _callable_label(func: Callable[..., Any]) -> str:
    """A readable name for *func* in log messages: module and qualified name."""
    name = getattr(func, "__qualname__", None)
    if not isinstance(name, str):
        return repr(func)
    module = getattr(func, "__module__", None)
    return f"{module}.{name}" if isinstance(module, str) else name


async def _release_after(
    call: _SyncCall, waiter: Waiter, limiter: CapacityLimiter
) -> None:
    try:
        with CancelScope(shield=True):
            await _wait_finished(call, waiter)
    finally:
        limiter.release_on_behalf_of(call)


@overload
def sync_to_async(
    func: None = None,
    *,
    thread_sensitive: bool = True,
    executor: Executor | None = None,
    context: Context | None = None,
    limiter: CapacityLimiter | None = None,
    abandon_on_cancel: bool = True,
) -> Callable[[Callable[_P, _R]], SyncToAsync[_P, _R]]: ...


@overload
def sync_to_async(
    func: Callable[_P, _R],
    *,
    thread_sensitive: bool = True,
    executor: Executor | None = None,
    context: Context | None = None,
    limiter: CapacityLimiter | None = None,
    abandon_on_cancel: bool = True,
) -> SyncToAsync[_P, _R]: ...


def sync_to_async(
    func: Callable[_P, _R] | None = None,
    *,
    thread_sensitive: bool = True,
    executor: Executor | None = None,
    context: Context | None = None,
    limiter: CapacityLimiter | None = None,
    abandon_on_cancel: bool = True,
) -> SyncToAsync[_P, _R] | Callable[[Callable[_P, _R]], SyncToAsync[_P, _R]]:
    """Wrap a synchronous callable so that awaiting it runs it in a thread.

    Usable as ``sync_to_async(func)``, ``@sync_to_async`` and
    ``@sync_to_async(thread_sensitive=False)``.

    :param func: the synchronous callable.
    :param thread_sensitive: ``True`` (the default) runs every call on one
        thread: the thread that is blocked in :func:`async_to_sync` further up
        the call chain if there is one, else the thread of the enclosing
        :class:`ThreadSensitiveContext`, else one thread shared by the process.
        ``False`` runs calls concurrently on the package's worker threads,
        bounded by *limiter*.
    :param executor: a :class:`concurrent.futures.Executor` to run calls on
        instead (only with ``thread_sensitive=False``).
    :param context: a :class:`contextvars.Context` to run the function in
        instead of a copy of the caller's.
    :param limiter: the :class:`anyio.CapacityLimiter` bounding worker threads
        for ``thread_sensitive=False`` (anyio's default limiter when ``None``).
    :param abandon_on_cancel: what a cancelled caller does while the function
        runs.  ``True`` (the default, asgiref's behaviour): it raises the
        cancellation at once; the function keeps running in its thread,
        tracked (a thread-sensitive thread stays reserved for it, an exception
        it raises is logged, contexts wait for it on exit).  ``False``: it
        waits for the function to return, then raises the cancellation
        (anyio's and trio's ``to_thread`` default).  Either way a call whose
        caller is cancelled before it starts never runs, and
        :func:`anyio.from_thread.check_cancelled` raises in the thread.
    :raises TypeError: see :class:`SyncToAsync`.
    """
    options: dict[str, Any] = {
        "thread_sensitive": thread_sensitive,
        "executor": executor,
        "context": context,
        "limiter": limiter,
        "abandon_on_cancel": abandon_on_cancel,
    }
    if func is None:
        return lambda f: SyncToAsync(f, **options)
    return SyncToAsync(func, **options)


# -- async_to_sync -----------------------------------------------------------


class _Box:
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


class _CurrentExecutor:
    """``AsyncToSync.executors``: asgiref's holder of the current
    :class:`CurrentThreadExecutor`, as a view of the bridge's own context
    variable (per context, like asgiref's)."""

    @property
    def current(self) -> CurrentThreadExecutor | None:
        """The executor of the thread waiting in :func:`async_to_sync` for
        the code running here, or ``None``."""
        return _state.current_executor.get()

    @current.setter
    def current(self, executor: CurrentThreadExecutor | None) -> None:
        _state.current_executor.set(executor)


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
        call: _SyncCall | None = (
            None if self.force_new_loop else _state.thread_state.call
        )
        executor = CurrentThreadExecutor()
        context = copy_context()
        context.run(_enter_coroutine_context, executor)
        box = _Box(sys.exc_info()[1])
        if call is not None:
            # A thread running a sync_to_async call: the task awaiting that
            # call runs the coroutine, while this thread serves the
            # thread-sensitive calls the coroutine makes.
            factory = functools.partial(self.awaitable, *args, **kwargs)
            held = call.held
            if held is not None:
                held.enter_blocking()
            try:
                call.post(_Job(factory, context, box, executor))
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
        _copy_back(box.context)
        error = box.error
        if error is not None:
            try:
                raise error
            finally:
                box.error = error = None
        return box.value  # type: ignore[no-any-return]

    def _spawn(
        self,
        box: _Box,
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
            single = _state.single_thread_context.get()
            if self.force_new_loop:
                thread = own_loop = LoopThread(
                    self.backend, "anyio_bridge private loop"
                )
            elif single is not None:
                thread = single._loop_thread(self.backend)
            else:
                thread = _state.process.loop_thread(self.backend)
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
        box: _Box,
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
    _state.current_executor.set(executor)
    # The coroutine's thread-sensitive calls go to *executor*, served by the
    # waiting thread itself; tasks it starts that outlive the call are not
    # waited for by any thread up the chain, so they hold none.
    _state.holding_calls.set(())
    _sniffio_cvar.set(None)


_sniffio_cvar: ContextVar[str | None] = next(
    var for var in _state.INTERNAL_VARS if var.name == "current_async_library_cvar"
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


# -- contexts ----------------------------------------------------------------


class _GivenExecutor:
    """The executor given to a :class:`ThreadSensitiveContext`, as a target
    of thread-sensitive calls."""

    __slots__ = ("executor",)

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    def enqueue(self, call: _SyncCall) -> bool:
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
        self._given = None if executor is None else _GivenExecutor(executor)

    def _thread_for_call(self) -> SyncThread | _GivenExecutor | None:
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
            self._token = _state.thread_sensitive_context.set(self)
            # The enclosing async_to_sync's thread would take precedence.
            self._executor_token = _state.current_executor.set(None)
        elif _state.thread_sensitive_context.get() is None:
            self._token = _state.thread_sensitive_context.set(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is None:
            return
        _state.thread_sensitive_context.reset(self._token)
        self._token = None
        if self._executor_token is not None:
            _state.current_executor.reset(self._executor_token)
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
        if _state.single_thread_context.get() is None:
            self._token = _state.single_thread_context.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is None:
            return
        _state.single_thread_context.reset(self._token)
        self._token = None
        with self._lock:
            loops, self._loops = list(self._loops.values()), {}
        for loop in loops:
            loop.stop()
            # Calls its tasks let go when cancelled end before the block does.
            _state.abandoned.wait(loop.loop)
