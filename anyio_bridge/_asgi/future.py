"""One run of an ASGI application, and a view of it shaped like asyncio's Task.

asgiref's :class:`~asgiref.testing.ApplicationCommunicator` and
:class:`~asgiref.server.StatelessServer` run applications as asyncio tasks
and hand those tasks out (``communicator.future``,
``application_instances[key]["future"]``); code written for them calls
``done()``, ``cancel()``, ``result()``, ``exception()``, awaits the task, or
adds done callbacks.  :class:`ApplicationRun` records how an application run
in a cancel scope ended, and :class:`ApplicationFuture` offers those calls on
it, on asyncio and trio alike, with asyncio's semantics: a cancelled run raises
:class:`ApplicationCancelled` (an :class:`asyncio.CancelledError`) from
``result()``, ``exception()`` and ``await``.

:mod:`asyncio` is imported for the two exception base classes only.
"""

from __future__ import annotations

import asyncio  # compatibility: exception classes subclass asyncio's
import contextvars
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import anyio

from .._backends import Loop, current_loop

__all__ = ["ApplicationCancelled", "ApplicationFuture", "ApplicationRun"]

logger = logging.getLogger("anyio_bridge")

DoneCallback = Callable[["ApplicationFuture"], object]


class ApplicationCancelled(asyncio.CancelledError):
    """The application ended because it was cancelled.

    Raised, on asyncio and on trio, by the calls that report how a cancelled
    application ended, as asgiref's (an asyncio task's) raise
    :class:`asyncio.CancelledError`: it is a subclass of it, so code written
    for asgiref that catches ``asyncio.CancelledError`` catches it too.  It is
    not the backend's own cancellation (the task that receives it is not being
    cancelled), and like any :class:`asyncio.CancelledError` it is not an
    :class:`Exception`.
    """


class _StillRunning(RuntimeError, asyncio.InvalidStateError):
    """The application has not ended yet: a :class:`RuntimeError`, and the
    :class:`asyncio.InvalidStateError` an asyncio task raises there."""


def _call_done_callback(
    callback: DoneCallback, context: contextvars.Context, future: ApplicationFuture
) -> None:
    try:
        context.run(callback, future)
    except Exception:
        # As asyncio does; on trio an error here would crash the whole run.
        logger.exception("Exception in done callback %r of %r", callback, future)


class ApplicationRun:
    """How one run of an application in :attr:`cancel_scope` went.

    :meth:`run` runs it; :attr:`future` is its :class:`ApplicationFuture`.
    """

    __slots__ = (
        "_callbacks",
        "_cancelled_outside",
        "_done",
        "_future",
        "_loop",
        "cancel_message",
        "cancel_scope",
        "exception",
        "finished",
        "reported",
        "result",
    )

    def __init__(self, cancel_scope: anyio.CancelScope) -> None:
        #: Cancelling it cancels the application.
        self.cancel_scope = cancel_scope
        #: ``True`` once the application has returned, failed or been cancelled.
        self.finished = False
        #: What the application raised, if it failed.
        self.exception: Exception | None = None
        #: What the application returned.
        self.result: object = None
        #: Whether :attr:`exception` was handed to the user.
        self.reported = False
        #: The message given to :meth:`ApplicationFuture.cancel`, if any.
        self.cancel_message: object = None
        self._done = anyio.Event()
        self._callbacks: list[tuple[DoneCallback, contextvars.Context]] = []
        self._loop: Loop | None = None
        self._future: ApplicationFuture | None = None
        self._cancelled_outside = False

    @property
    def future(self) -> ApplicationFuture:
        """The run's :class:`ApplicationFuture` (always the same object)."""
        future = self._future
        if future is None:
            future = self._future = ApplicationFuture(self)
        return future

    @property
    def cancelled(self) -> bool:
        """``True`` if the application ended because it was cancelled.

        Through :attr:`cancel_scope`, or from outside it (the task group or
        the event loop shutting down), as an asyncio task counts as cancelled
        either way.
        """
        return self.cancel_scope.cancelled_caught or self._cancelled_outside

    async def run(self, application: Callable[[], Awaitable[object]]) -> None:
        """Await ``application()`` in the cancel scope and record the outcome.

        An :class:`Exception` it raises is recorded, not raised; a
        cancellation from outside the scope, or any other
        :class:`BaseException`, propagates once the outcome is recorded.
        """
        loop = self._loop = current_loop()
        try:
            with self.cancel_scope:
                self.result = await application()
        except Exception as exc:
            self.exception = exc
        except loop.cancelled_class:
            self._cancelled_outside = True
            raise
        finally:
            self.finished = True
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
            for callback, context in callbacks:
                self.schedule(callback, context)

    async def wait(self) -> None:
        """Wait until the application has ended."""
        await self._done.wait()

    def schedule(self, callback: DoneCallback, context: contextvars.Context) -> None:
        """Call ``callback(future)`` in *context* soon, on the run's event loop
        (at once if that loop has ended)."""
        loop = self._loop
        future = self.future
        if loop is None or not loop.call_soon_threadsafe(
            _call_done_callback, callback, context, future
        ):
            _call_done_callback(callback, context, future)

    def cancelled_error(self) -> ApplicationCancelled:
        """A new :class:`ApplicationCancelled` for this run."""
        message = self.cancel_message
        if message is None:
            return ApplicationCancelled("the application was cancelled")
        return ApplicationCancelled(message)

    def raise_outcome(self) -> None:
        """Raise the application's exception, or :class:`ApplicationCancelled`
        if it was cancelled; return if it is running or returned."""
        error = self.exception
        if error is not None:
            self.reported = True
            raise error
        if self.finished and self.cancelled:
            raise self.cancelled_error()


class ApplicationFuture:
    """A future-like view of an application's run, shaped like an asyncio task.

    asgiref hands out the asyncio task running the application
    (``ApplicationCommunicator.future``, and ``future`` in the details of a
    ``StatelessServer`` instance); this object offers what code does with
    that task, on asyncio and trio alike: :meth:`done`, :meth:`cancelled`,
    :meth:`cancel`, :meth:`result`, :meth:`exception`,
    :meth:`add_done_callback`, :meth:`remove_done_callback`, and ``await``.
    As with a task, once the application was cancelled, :meth:`result`,
    :meth:`exception` and ``await`` raise :class:`ApplicationCancelled`, a
    subclass of :class:`asyncio.CancelledError`.  It is not an
    :class:`asyncio.Future` (:func:`asyncio.isfuture` is false): asyncio's
    functions that take awaitables (``asyncio.wait``, ``asyncio.gather``,
    ``asyncio.ensure_future``) wrap it in a new task, and hand out that task.
    """

    __slots__ = ("_run",)

    def __init__(self, run: ApplicationRun) -> None:
        self._run = run

    def __repr__(self) -> str:
        run = self._run
        if not run.finished:
            state = "running"
        elif run.exception is not None:
            state = f"failed with {run.exception!r}"
        elif run.cancelled:
            state = "cancelled"
        else:
            state = f"returned {run.result!r}"
        return f"<{type(self).__name__} {state}>"

    def done(self) -> bool:
        """``True`` once the application has returned, failed or been cancelled."""
        return self._run.finished

    def cancelled(self) -> bool:
        """``True`` if the application ended because it was cancelled."""
        run = self._run
        return run.finished and run.cancelled

    def cancel(self, msg: object = None) -> bool:
        """Cancel the application; ``False`` if it had already ended.

        The application ends at its next checkpoint; await this object to wait
        for that.

        :param msg: the message of the :class:`ApplicationCancelled` raised
            afterwards, as with :meth:`asyncio.Task.cancel`.
        """
        run = self._run
        if run.finished:
            return False
        if msg is not None:
            run.cancel_message = msg
        run.cancel_scope.cancel()
        return True

    def result(self) -> object:
        """What the application returned (normally ``None``).

        :raises Exception: the application's exception, if it failed.
        :raises ApplicationCancelled: if it was cancelled.
        :raises RuntimeError: if it has not ended yet (an
            :class:`asyncio.InvalidStateError` too).
        """
        run = self._run
        if not run.finished:
            raise _StillRunning("the application is still running")
        run.raise_outcome()
        return run.result

    def exception(self) -> Exception | None:
        """The application's exception, or ``None`` if it returned.

        Once read here, the exception no longer fails the ``async with``
        block of an :class:`~anyio_bridge.testing.ApplicationCommunicator`.

        :raises ApplicationCancelled: if it was cancelled.
        :raises RuntimeError: if it has not ended yet (an
            :class:`asyncio.InvalidStateError` too).
        """
        run = self._run
        if not run.finished:
            raise _StillRunning("the application is still running")
        if run.exception is not None:
            run.reported = True
            return run.exception
        if run.cancelled:
            raise run.cancelled_error()
        return None

    def add_done_callback(
        self, fn: DoneCallback, *, context: contextvars.Context | None = None
    ) -> None:
        """Call ``fn(future)`` once the application has ended.

        As with :meth:`asyncio.Future.add_done_callback`, the call is made
        soon after the end, on the event loop that ran the application, in
        *context* (a copy of the current context by default), also when the
        application has already ended.  An exception *fn* raises is logged on
        the ``anyio_bridge`` logger.
        """
        if context is None:
            context = contextvars.copy_context()
        run = self._run
        if run.finished:
            run.schedule(fn, context)
        else:
            run._callbacks.append((fn, context))

    def remove_done_callback(self, fn: DoneCallback) -> int:
        """Remove every pending call of *fn*; return how many there were."""
        run = self._run
        kept = [entry for entry in run._callbacks if entry[0] != fn]
        removed = len(run._callbacks) - len(kept)
        run._callbacks = kept
        return removed

    def __await__(self) -> Generator[Any, None, object]:
        return self._wait().__await__()

    async def _wait(self) -> object:
        await self._run.wait()
        return self.result()
