"""Calling synchronous code from async code and back, on asyncio and trio.

The public names match :mod:`asgiref.sync`, so migrating is a change of import.
How calls are placed on threads, how context variables travel and how
cancellation behaves is explained in ``docs/threads-and-cancellation.md``.
"""

from __future__ import annotations

import functools
import math
import sys
import threading
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Executor
from contextvars import Context, ContextVar, copy_context
from types import CodeType, TracebackType
from typing import Any, Generic, TypeVar, overload

import anyio
import anyio.to_thread
from anyio import CancelScope, CapacityLimiter, get_cancelled_exc_class
from anyio.lowlevel import RunVar

from . import _state
from ._coroutines import iscoroutinefunction, markcoroutinefunction
from ._native import (
    EventLoopToken,
    ThreadClaim,
    backend_name,
    call_soon_threadsafe,
    claim_thread,
    current_token,
    foreign_worker_token,
    loop_is_alive,
    new_cancelled,
    running_loop_here,
    spawn_from_thread,
)
from ._threads import LoopThread, SyncThread
from .current_thread_executor import CurrentThreadExecutor

if sys.version_info >= (3, 10):
    from typing import ParamSpec
else:  # pragma: no cover
    from typing_extensions import ParamSpec

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


# -- sync_to_async -----------------------------------------------------------


class _SyncCall:
    """One sync_to_async call: run on a worker thread, awaited on the loop.

    The worker side is :meth:`run`; the loop side creates the call, hands it to
    a thread and waits for :meth:`_finish` to set the waiter event.
    """

    __slots__ = (
        "_finished",
        "_lock",
        "_waiter",
        "cancelled",
        "claim",
        "context",
        "error",
        "func",
        "handling",
        "held",
        "linked",
        "result",
        "token",
    )

    def __init__(
        self,
        func: Callable[[], Any],
        context: Context,
        token: EventLoopToken,
        claim: ThreadClaim | None,
        handling: BaseException | None,
    ) -> None:
        self.func = func
        self.context = context
        self.token = token
        self.claim = claim
        self.handling = handling
        self.held: SyncThread | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.cancelled = False
        #: Cancel scopes of coroutines the thread runs through async_to_sync.
        self.linked: set[CancelScope] = set()
        self._lock = threading.Lock()
        self._finished = False
        self._waiter: anyio.Event | None = None

    # -- worker thread side --

    def run(self) -> None:
        state = _state.thread_state
        outer, state.call = state.call, self
        try:
            if self.claim is None:
                self.result = self.context.run(self._invoke)
            else:
                with claim_thread(self.claim):
                    self.result = self.context.run(self._invoke)
        except BaseException as exc:
            self.error = exc
        finally:
            state.call = outer
            del self.func
            self._finish()

    def _invoke(self) -> Any:
        if self.held is not None:
            _state.held_threads.set(_state.held_threads.get() | {self.held})
        handling = self.handling
        if handling is None:
            return self.func()
        # Keep the caller's in-flight exception visible to sys.exc_info().
        try:
            raise handling
        except BaseException:
            return self.func()

    def _finish(self) -> None:
        with self._lock:
            self._finished = True
            waiter = self._waiter
        if waiter is not None:
            call_soon_threadsafe(self.token, waiter.set)

    # -- loop side --

    def wait_event(self) -> anyio.Event:
        """An event set once the thread is done (at once if it already is)."""
        event = anyio.Event()
        with self._lock:
            if self._finished:
                event.set()
            else:
                self._waiter = event
        return event

    def cancel(self) -> None:
        """The caller was cancelled: tell the thread and what it runs on the loop."""
        self.cancelled = True
        if self.claim is not None:
            self.claim.cancel()
        for scope in self.linked:
            scope.cancel()

    def outcome(self) -> Any:
        error = self.error
        if error is not None:
            try:
                raise error
            finally:
                self.error = None
                del error
        return self.result


async def _await_call(call: _SyncCall, done: anyio.Event, abandon: bool) -> None:
    """Wait for *call*'s thread; on cancellation, wait for it unless *abandon*."""
    try:
        await done.wait()
    except get_cancelled_exc_class():
        call.cancel()
        if not abandon:
            with CancelScope(shield=True):
                await done.wait()
        raise


_unlimited: RunVar[CapacityLimiter] = RunVar("anyio_bridge.unlimited")


def _unlimited_limiter() -> CapacityLimiter:
    try:
        return _unlimited.get()
    except LookupError:
        limiter = CapacityLimiter(math.inf)
        _unlimited.set(limiter)
        return limiter


def _thread_sensitive_target() -> CurrentThreadExecutor | SyncThread:
    executor = _state.current_executor.get()
    if executor is not None and not executor.finished:
        return executor
    context = _state.thread_sensitive_context.get()
    thread = None if context is None else context._thread_for_call()
    if thread is None:
        thread = _state.process.shared_sync_thread()
    if thread in _state.held_threads.get():
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

    def __init__(
        self,
        func: Callable[_P, _R],
        thread_sensitive: bool = True,
        executor: Executor | None = None,
        context: Context | None = None,
        *,
        limiter: CapacityLimiter | None = None,
        abandon_on_cancel: bool = False,
    ) -> None:
        if not callable(func) or iscoroutinefunction(func):
            raise TypeError("sync_to_async can only be applied to sync functions.")
        if iscoroutinefunction(getattr(func, "__call__", None)):  # noqa: B004
            raise TypeError("sync_to_async can only be applied to sync functions.")
        if thread_sensitive and executor is not None:
            raise TypeError("executor must not be set when thread_sensitive is True")
        if limiter is not None and (thread_sensitive or executor is not None):
            raise TypeError(
                "limiter applies to anyio worker threads only: pass it with "
                "thread_sensitive=False and no executor"
            )
        self.func = func
        self._thread_sensitive = thread_sensitive
        self._executor = executor
        self._context = context
        self._limiter = limiter
        self._abandon = abandon_on_cancel
        functools.update_wrapper(self, func)  # type: ignore[arg-type]
        if not isinstance(getattr(self, "__name__", None), str):
            self.__name__ = type(func).__name__
        markcoroutinefunction(self)

    async def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        token = current_token()
        context = self._context if self._context is not None else copy_context()
        func = functools.partial(self.func, *args, **kwargs)
        handling = sys.exc_info()[1]
        if self._thread_sensitive or self._executor is not None:
            call = await self._run_on_own_thread(func, context, token, handling)
        else:
            call = await self._run_on_anyio_worker(func, context, token, handling)
        _copy_back(context)
        return call.outcome()  # type: ignore[no-any-return]

    __code__: CodeType = __call__.__code__

    async def _run_on_own_thread(
        self,
        func: Callable[[], Any],
        context: Context,
        token: EventLoopToken,
        handling: BaseException | None,
    ) -> _SyncCall:
        asyncio = backend_name(token) == "asyncio"
        # On asyncio anyio's check_cancelled() walks the cancel scope the
        # worker thread was given; trio has its own register, see ThreadClaim.
        with CancelScope() if asyncio else _NULL_SCOPE as host:
            call = _SyncCall(func, context, token, ThreadClaim(token, host), handling)
            done = call.wait_event()
            executor = self._executor
            if executor is not None:
                executor.submit(call.run)
            else:
                while True:
                    target = _thread_sensitive_target()
                    if isinstance(target, SyncThread):
                        call.held = target
                        if target.submit(call):
                            break
                    elif target.enqueue(call):
                        break
            await _await_call(call, done, self._abandon)
        return call

    async def _run_on_anyio_worker(
        self,
        func: Callable[[], Any],
        context: Context,
        token: EventLoopToken,
        handling: BaseException | None,
    ) -> _SyncCall:
        call = _SyncCall(func, context, token, None, handling)
        limiter = self._limiter or anyio.to_thread.current_default_thread_limiter()
        # The limiter is held here, not by anyio, so that a cancelled caller
        # that waits for its thread keeps the thread counted until it ends.
        async with limiter:
            try:
                await anyio.to_thread.run_sync(
                    call.run, abandon_on_cancel=True, limiter=_unlimited_limiter()
                )
            except get_cancelled_exc_class():
                await _await_call(call, call.wait_event(), self._abandon)
                raise  # pragma: no cover - _await_call always re-raises
        return call

    def __get__(self, parent: Any, objtype: Any) -> Callable[..., Any]:
        """Bind like a method when stored as a class attribute."""
        bound = functools.partial(self.__call__, parent)
        return functools.update_wrapper(bound, self.func)  # type: ignore[arg-type]


class _NullScope:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


_NULL_SCOPE = _NullScope()


@overload
def sync_to_async(
    func: None = None,
    *,
    thread_sensitive: bool = True,
    executor: Executor | None = None,
    context: Context | None = None,
    limiter: CapacityLimiter | None = None,
    abandon_on_cancel: bool = False,
) -> Callable[[Callable[_P, _R]], SyncToAsync[_P, _R]]: ...


@overload
def sync_to_async(
    func: Callable[_P, _R],
    *,
    thread_sensitive: bool = True,
    executor: Executor | None = None,
    context: Context | None = None,
    limiter: CapacityLimiter | None = None,
    abandon_on_cancel: bool = False,
) -> SyncToAsync[_P, _R]: ...


def sync_to_async(
    func: Callable[_P, _R] | None = None,
    *,
    thread_sensitive: bool = True,
    executor: Executor | None = None,
    context: Context | None = None,
    limiter: CapacityLimiter | None = None,
    abandon_on_cancel: bool = False,
) -> SyncToAsync[_P, _R] | Callable[[Callable[_P, _R]], SyncToAsync[_P, _R]]:
    """Wrap a synchronous callable so that awaiting it runs it in a thread.

    Usable as ``sync_to_async(func)``, ``@sync_to_async`` and
    ``@sync_to_async(thread_sensitive=False)``.

    :param func: the synchronous callable.
    :param thread_sensitive: ``True`` (the default) runs every call on one
        thread: the thread that is blocked in :func:`async_to_sync` further up
        the call chain if there is one, else the thread of the enclosing
        :class:`ThreadSensitiveContext`, else one thread shared by the process.
        ``False`` runs calls concurrently on anyio's worker threads.
    :param executor: a :class:`concurrent.futures.Executor` to run calls on
        instead (only with ``thread_sensitive=False``).
    :param context: a :class:`contextvars.Context` to run the function in
        instead of a copy of the caller's.
    :param limiter: the :class:`anyio.CapacityLimiter` bounding worker threads
        for ``thread_sensitive=False`` (anyio's default limiter when ``None``).
    :param abandon_on_cancel: if ``True``, a cancelled caller returns at once
        and leaves the thread to finish on its own; by default the caller waits
        for the thread and then raises the cancellation.
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
    __slots__ = ("context", "error", "value")

    def __init__(self) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.context: Context | None = None


class AsyncToSync(Generic[_P, _R]):
    """A synchronous wrapper that runs a coroutine function to completion.

    Usually created with :func:`async_to_sync`, whose parameters it takes.
    """

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
        self.awaitable = awaitable
        self.force_new_loop = force_new_loop
        self.backend = backend
        try:
            functools.update_wrapper(self, awaitable)  # type: ignore[arg-type]
        except (AttributeError, TypeError):  # pragma: no cover - exotic callables
            pass

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if running_loop_here():
            raise RuntimeError(
                "You cannot use AsyncToSync in the same thread as an async event "
                "loop - just await the async function directly."
            )
        call: _SyncCall | None = _state.thread_state.call
        token: EventLoopToken | None = None
        own_loop: LoopThread | None = None
        if not self.force_new_loop:
            if call is not None:
                if call.cancelled:
                    raise new_cancelled(call.token)
                token = call.token
            else:
                token = foreign_worker_token()
        if token is None:
            call = None
            single = _state.single_thread_context.get()
            if self.force_new_loop:
                own_loop = LoopThread(self.backend, "anyio_bridge private loop")
                token = own_loop.token
            elif single is not None:
                token = single._loop_token(self.backend)
            else:
                token = _state.process.loop_thread(self.backend).token

        executor = CurrentThreadExecutor()
        context = copy_context()
        context.run(_enter_coroutine_context, executor)
        box = _Box()
        held = call.held if call is not None else None
        if held is not None:
            held.enter_blocking()
        try:
            runner = functools.partial(
                self._run, box, executor, call, token, args, kwargs
            )
            if not spawn_from_thread(token, runner, context):
                raise RuntimeError(
                    "async_to_sync: the event loop this thread belongs to has finished"
                )
            if not executor.serve(alive=functools.partial(loop_is_alive, token)):
                raise RuntimeError(
                    "async_to_sync: the event loop closed while the coroutine was "
                    "still running"
                )
        finally:
            if held is not None:
                held.exit_blocking()
            if own_loop is not None:
                own_loop.stop()
        if box.context is not None:
            _copy_back(box.context)
        error = box.error
        if error is not None:
            try:
                raise error
            finally:
                box.error = error = None
        return box.value  # type: ignore[no-any-return]

    async def _run(
        self,
        box: _Box,
        executor: CurrentThreadExecutor,
        call: _SyncCall | None,
        token: EventLoopToken,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        scope = CancelScope()
        if call is not None:
            # Cancelling the sync_to_async caller cancels this coroutine too.
            call.linked.add(scope)
            if call.cancelled:
                scope.cancel()
        try:
            with scope:
                box.value = await self.awaitable(*args, **kwargs)
            if scope.cancelled_caught:
                box.error = new_cancelled(token)
        except BaseException as exc:
            box.error = exc
        finally:
            if call is not None:
                call.linked.discard(scope)
            box.context = copy_context()
            executor.stop()

    def __get__(self, parent: Any, objtype: Any) -> Callable[..., _R]:
        """Bind like a method when stored as a class attribute."""
        bound = functools.partial(self.__call__, parent)
        return functools.update_wrapper(bound, self.awaitable)  # type: ignore[arg-type]


def _enter_coroutine_context(executor: CurrentThreadExecutor) -> None:
    _state.current_executor.set(executor)
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

    * a thread running a :func:`sync_to_async` call, or any anyio worker
      thread: on that thread's event loop, with the thread's context variables;
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
    """
    if awaitable is None:
        return lambda f: AsyncToSync(f, force_new_loop=force_new_loop, backend=backend)
    return AsyncToSync(awaitable, force_new_loop=force_new_loop, backend=backend)


# -- contexts ----------------------------------------------------------------


class ThreadSensitiveContext:
    """Async context manager giving the code inside its own thread-sensitive thread.

    Thread-sensitive :func:`sync_to_async` calls made inside (including by tasks
    started inside) run on one thread belonging to this context instead of the
    process-wide one -- for example one thread per request.  Re-entrant: only
    the outermost context takes effect.  On exit the thread finishes the calls
    already queued and ends; leaving waits for that, unless the thread is
    waiting on the event loop itself (then it is left to end on its own, so
    leaving never deadlocks).  Calls made after the exit by tasks that
    outlived it fall back to the process-wide thread.
    """

    def __init__(self) -> None:
        self._token: Any = None
        self._lock = threading.Lock()
        self._thread: SyncThread | None = None
        self._closed = False

    def _thread_for_call(self) -> SyncThread | None:
        with self._lock:
            if self._closed:
                return None
            if self._thread is None:
                self._thread = SyncThread("anyio_bridge ThreadSensitiveContext")
            return self._thread

    async def __aenter__(self) -> ThreadSensitiveContext:
        if _state.thread_sensitive_context.get() is None:
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
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is None:
            return
        thread.close()
        settled = anyio.Event()
        token = current_token()
        thread.on_settle(functools.partial(call_soon_threadsafe, token, settled.set))
        await settled.wait()


class AsyncSingleThreadContext:
    """Context manager running every top-level :func:`async_to_sync` inside on one loop.

    Outside any event loop, :func:`async_to_sync` normally uses a loop thread
    shared by the process.  Inside this context it uses a loop (and thread) of
    its own, created on first use and closed on exit, so tasks left behind by
    the coroutines are cancelled at the end of the block.  Re-entrant: only the
    outermost context takes effect.
    """

    def __init__(self) -> None:
        self._token: Any = None
        self._lock = threading.Lock()
        self._loops: dict[str, LoopThread] = {}

    def _loop_token(self, backend: str) -> EventLoopToken:
        with self._lock:
            loop = self._loops.get(backend)
            if loop is None:
                loop = LoopThread(backend, "anyio_bridge AsyncSingleThreadContext")
                self._loops[backend] = loop
            return loop.token

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


_Coro = Coroutine[Any, Any, Any]
