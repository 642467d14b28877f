"""The protocol between a :func:`~anyio_bridge.sync.sync_to_async` caller and
the thread that runs its call.

A call (:class:`SyncCall`) is created by the caller's task on the event loop,
handed to a thread (a dedicated sync thread, a pool thread, an executor or a
thread blocked in :func:`~anyio_bridge.sync.async_to_sync`), and awaited on a
:class:`~anyio_bridge._backends.Waiter` that the thread wakes when the
function has returned.  Meanwhile the thread may hand the caller coroutines to
run (:meth:`SyncCall.post`, for ``async_to_sync`` calls made by the function);
the caller runs them in its own task (:func:`await_call`, :func:`serve_jobs`).

Cancellation of the caller: a call that has not started never runs; a call
that runs is either waited for (shielded) or let go ("abandoned") and tracked
in :data:`~anyio_bridge._bridge.state.abandoned` until it ends.  Either way
the caller re-raises its cancellation; an exception the function raises after
that is logged (logger ``anyio_bridge.sync``), not raised.

:meth:`SyncCall.post` (called in the thread) raises the backend's
cancellation exception if the caller was cancelled, and :exc:`RuntimeError`
if the caller's event loop has finished; a coroutine posted just before the
caller is cancelled is refused, never run.  :func:`copy_back` brings the
context variables a call changed back to its caller.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import Context
from typing import TYPE_CHECKING, Any

from anyio import CancelScope

from .._backends import Loop, ThreadClaim, Waiter
from . import state
from .local import bridge_enter, bridge_return
from .threads import SyncThread

if TYPE_CHECKING:
    from .async_to_sync import Job

__all__ = [
    "SyncCall",
    "after_cancel",
    "await_call",
    "calls_lock",
    "copy_back",
    "serve_jobs",
    "wait_finished",
]

_MISSING: Any = object()


def copy_back(context: Context) -> None:
    """Set in the current context every variable whose value differs in *context*."""
    for var, value in context.items():
        if var.get(_MISSING) is not value and var not in state.INTERNAL_VARS:
            var.set(value)
    bridge_return(context)


#: Guards the state of every call (started, cancelled, finished, abandoned,
#: the job it sent) against the thread and the caller changing it at once.
calls_lock = threading.Lock()


class SyncCall:
    """One sync_to_async call: run on a worker thread, awaited on the loop.

    The worker side is :meth:`run`; the loop side creates the call, hands it to
    a thread and waits on the waiter that :meth:`run` wakes when done.

    Its life, guarded by :data:`calls_lock`: *started* by the thread unless
    the caller was cancelled first (then the function never runs), then
    *finished*.  A caller cancelled while the function runs either waits for
    it or lets it go (*abandoned*): the call then stays in
    :data:`state.abandoned` until it ends, and logs an exception it raises.

    One class of about 260 lines on purpose: both sides read and write the
    same fields under one lock, and every method is on the per-call path;
    splitting it into collaborating objects would cost an object and an
    indirection per call.
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
        self.job: Job | None = None
        self._waiter: Waiter | None = None

    @classmethod
    def start(
        cls,
        func: Callable[[], Any],
        context: Context,
        loop: Loop,
        scope: object | None,
        handling: BaseException | None,
        name: str,
        handler: Callable[..., Any] | None,
    ) -> tuple[SyncCall, Waiter]:
        """A call for the current task, and the waiter it will be woken on.

        *name* names the function in log messages; *handler* is an overridden
        ``SyncToAsync.thread_handler`` (bound) to call it through, or ``None``.
        """
        call = cls(func, context, loop, ThreadClaim(loop, scope), handling)
        call.name = name
        call.handler = handler
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
        thread is idle again (see :mod:`.pool`)."""
        self.execute()
        return self._finish

    def _finish(self) -> None:
        waiter = self._waiter
        assert waiter is not None  # set by the caller
        with calls_lock:
            self.finished = True
            abandoned = self.abandoned
        if abandoned:
            self._drop_outcome()
            state.abandoned.discard(self)
        waiter.wake()

    def _drop_outcome(self) -> None:
        """Nobody will read the outcome: log an exception instead of losing it."""
        error, self.error, self.result = self.error, None, None
        if error is not None and not isinstance(error, self.loop.cancelled_class):
            state.logger.error(
                "%s raised after its caller was cancelled",
                self.describe(),
                exc_info=error,
            )

    def post(self, job: Job) -> None:
        """Ask the caller's task to run *job* (called by the thread, for
        async_to_sync); the job's executor then reports the outcome.

        :raises: the backend's cancellation exception if the caller was
            cancelled, or RuntimeError if its event loop has finished.
        """
        with calls_lock:
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
        with calls_lock:
            run = self.started = not self.cancelled
        if run:
            thread_state = state.thread_state
            outer, thread_state.call = thread_state.call, self
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
            thread_state.call = outer
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
            state.holding_calls.set((*state.holding_calls.get(), self))

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

    def take_job(self) -> Job | None:
        if self.job is None:
            return None
        with calls_lock:
            job, self.job = self.job, None
        return job

    def cancel(self, abandon: bool) -> bool:
        """The caller was cancelled: tell the thread, refuse what it asked for.

        Returns ``True`` if the function is running: the caller must wait for
        it, or (with *abandon*) it is now abandoned, tracked until it ends.
        A call that has not started never will.
        """
        with calls_lock:
            self.cancelled = True
            job, self.job = self.job, None
            running = self.started and not self.finished
            if running and abandon:
                self.abandoned = True
                state.abandoned.add(self)
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


async def serve_jobs(call: SyncCall, waiter: Waiter) -> None:
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


async def await_call(call: SyncCall, waiter: Waiter, abandon: bool) -> None:
    """Wait for *call*'s thread, running the coroutines it sends meanwhile."""
    try:
        await waiter.wait()
        if not call.finished:
            await serve_jobs(call, waiter)
    except call.loop.cancelled_class:
        await after_cancel(call, waiter, abandon)
        raise


async def after_cancel(call: SyncCall, waiter: Waiter, abandon: bool) -> None:
    """The caller of *call* was cancelled: let the call go if *abandon*, else
    wait (shielded) for the function to return; its outcome is dropped."""
    if call.cancel(abandon) and not abandon:
        with CancelScope(shield=True):
            await wait_finished(call, waiter)
        call._drop_outcome()


async def wait_finished(call: SyncCall, waiter: Waiter) -> None:
    # Once the call is cancelled the thread sends no more jobs: only its end.
    while True:
        waiter.reset()
        if call.finished:
            return
        await waiter.wait()
