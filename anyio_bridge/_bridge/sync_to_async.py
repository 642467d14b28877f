"""sync_to_async: calling a synchronous callable from async code, in a thread.

A call goes to one of three places (see :func:`sync_to_async`):

* thread-sensitive (the default): the thread blocked in
  :func:`~anyio_bridge.sync.async_to_sync` further up the call chain, else the
  thread (or executor) of the enclosing
  :class:`~anyio_bridge.sync.ThreadSensitiveContext`, else the thread shared
  by the process (:func:`_thread_sensitive_target`).  This path is inlined in
  :meth:`SyncToAsync.__call__`: it is the hot one;
* ``thread_sensitive=False``: the package's worker pool
  (:mod:`~anyio_bridge._bridge.pool`), bounded by a capacity limiter;
* a given :class:`concurrent.futures.Executor`.

The call itself, and what happens when its caller is cancelled, is
:class:`~anyio_bridge._bridge.calls.SyncCall`.  :class:`SyncToAsync` raises
:exc:`TypeError` for invalid arguments when created; when awaited it returns
or raises what the function does, raises the backend's cancellation exception
when the caller is cancelled, and :exc:`RuntimeError` when a thread-sensitive
call would deadlock (its thread is blocked waiting for the caller) or is made
after a :class:`~anyio_bridge.sync.ThreadSensitiveContext` with an executor
has exited.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from concurrent.futures import Executor
from contextvars import Context, ContextVar, copy_context
from types import CodeType
from typing import Any, Generic, ParamSpec, TypeVar, overload

import anyio.to_thread
from anyio import CancelScope, CapacityLimiter, WouldBlock
from anyio.lowlevel import checkpoint_if_cancelled

from .._backends import Loop, Waiter, current_loop
from . import state
from .calls import (
    SyncCall,
    after_cancel,
    await_call,
    copy_back,
    serve_jobs,
    wait_finished,
)
from .contexts import ContextExecutors, GivenExecutor, ThreadSensitiveContext
from .coroutines import iscoroutinefunction, markcoroutinefunction
from .executor import CurrentThreadExecutor
from .pool import pool
from .threads import SyncThread

__all__ = ["SyncToAsync", "sync_to_async"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _caller_scope(loop: Loop) -> tuple[object | None, bool]:
    """The cancel scope a call's thread gets, and whether the caller may
    already be cancelled (then, like anyio.to_thread, it must not start).

    anyio's ``check_cancelled()`` on asyncio walks the cancel scope a worker
    thread was given: ours get the caller's.  Trio has no such scope (see
    ThreadClaim); its cheap checkpoint tells.
    """
    return loop.backend.caller_scope()


def _thread_sensitive_target() -> CurrentThreadExecutor | SyncThread | GivenExecutor:
    """Where a thread-sensitive call made here goes (see the module docstring).

    :raises RuntimeError: if that thread is blocked waiting for this very
        code (the call would deadlock), or if the enclosing
        ThreadSensitiveContext with an executor has exited.
    """
    executor = state.current_executor.get()
    if executor is not None and not executor.finished:
        return executor
    context = state.thread_sensitive_context.get()
    thread = None if context is None else context._thread_for_call()
    if thread is None:
        thread = state.process.shared_sync_thread()
    # Tasks started further down may outlive a holding call: only a call that
    # is still running holds its thread.
    if any(c.held is thread and not c.finished for c in state.holding_calls.get()):
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
        state.thread_sensitive_context
    )
    #: asgiref's class attribute, as a read-only view: which active
    #: :class:`ThreadSensitiveContext`\ s have a thread or an executor.
    context_to_thread_executor = ContextExecutors()

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
                copy_back(context)
            return call.outcome()  # type: ignore[no-any-return]
        # The thread-sensitive path, inline: it is the hot one.
        scope, maybe_cancelled = _caller_scope(loop)
        if maybe_cancelled:
            await checkpoint_if_cancelled()
        call, waiter = self._start_call(func, context, loop, scope, handling)
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
                await serve_jobs(call, waiter)
        except loop.cancelled_class:
            await after_cancel(call, waiter, self._abandon)
            raise
        if given is None:
            copy_back(context)
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

    def _start_call(
        self,
        func: Callable[[], Any],
        context: Context,
        loop: Loop,
        scope: object | None,
        handling: BaseException | None,
    ) -> tuple[SyncCall, Waiter]:
        """A call of *func* for the current task, with this wrapper's name and
        its ``thread_handler`` if a subclass overrides it."""
        handler = (
            None
            if type(self).thread_handler is _BASE_THREAD_HANDLER
            else self.thread_handler
        )
        return SyncCall.start(
            func, context, loop, scope, handling, self._label, handler
        )

    async def _run(
        self,
        func: Callable[[], Any],
        context: Context,
        loop: Loop,
        handling: BaseException | None,
    ) -> SyncCall:
        # Worker pool or executor (the thread-sensitive path is in __call__).
        scope, maybe_cancelled = _caller_scope(loop)
        if maybe_cancelled:
            await checkpoint_if_cancelled()
        call, waiter = self._start_call(func, context, loop, scope, handling)
        executor = self._executor
        if executor is None:
            await self._run_in_pool(call, waiter, loop)
            return call
        executor.submit(call.run)
        await await_call(call, waiter, self._abandon)
        return call

    async def _run_in_pool(self, call: SyncCall, waiter: Waiter, loop: Loop) -> None:
        # The limiter counts the thread until it is idle again, even when the
        # caller is cancelled and lets it go (abandon_on_cancel).
        limiter = self._limiter or anyio.to_thread.current_default_thread_limiter()
        try:
            limiter.acquire_on_behalf_of_nowait(call)
        except WouldBlock:
            await limiter.acquire_on_behalf_of(call)
        pool.submit(call.run_in_pool)
        try:
            await await_call(call, waiter, self._abandon)
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


def _callable_label(func: Callable[..., Any]) -> str:
    """A readable name for *func* in log messages: module and qualified name."""
    name = getattr(func, "__qualname__", None)
    if not isinstance(name, str):
        return repr(func)
    module = getattr(func, "__module__", None)
    return f"{module}.{name}" if isinstance(module, str) else name


async def _release_after(
    call: SyncCall, waiter: Waiter, limiter: CapacityLimiter
) -> None:
    try:
        with CancelScope(shield=True):
            await wait_finished(call, waiter)
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
