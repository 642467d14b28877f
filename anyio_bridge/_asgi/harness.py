"""Starting and ending the application of an ApplicationCommunicator.

:class:`ApplicationHarness` is the base class of
:class:`~anyio_bridge.testing.ApplicationCommunicator` (in
:mod:`.communicator`, which exchanges the messages): it owns the
application's run and its two queues, starts the application (when an
``async with`` block is entered, or as an asyncio task at the first use
without one), cancels it, waits for it and reports how it ended.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio
import anyio.lowlevel
import sniffio

from .compatibility import guarantee_single_callable
from .future import ApplicationCancelled, ApplicationFuture, ApplicationRun
from .queue import MessageQueue

if TYPE_CHECKING:
    from anyio.abc import TaskGroup
    from typing_extensions import Self

__all__ = ["ApplicationHarness", "Message"]


Message: TypeAlias = dict[str, Any]
"""A message the application sent: ASGI messages are plain dictionaries."""


async def _run_application(
    application: Callable[..., Awaitable[object]],
    scope: Mapping[str, Any],
    input_queue: MessageQueue[Mapping[str, Any]],
    output_queue: MessageQueue[Message],
    run: ApplicationRun,
) -> None:
    # The task holds no reference to the communicator, so a communicator that
    # is dropped without being stopped can still be garbage-collected, and its
    # __del__ can then stop the application (asgiref behaves the same way).
    try:
        await run.run(lambda: application(scope, input_queue.get, output_queue.put))
    finally:
        # Wake receive_output() and receive_nothing(): nothing more will come.
        output_queue._notify()


#: asyncio tasks started by communicators used without ``async with``.
_asyncio_tasks: set[Any] = set()

_TRIO_NEEDS_ASYNC_WITH = (
    "on trio, ApplicationCommunicator runs the application in a task group "
    "and must be used as `async with ApplicationCommunicator(app, scope) as "
    "communicator:`; without `async with` it only works on asyncio"
)


class ApplicationHarness:
    """The run of one application, for a communicator.

    The base class of :class:`~anyio_bridge.testing.ApplicationCommunicator`,
    whose docstring describes the whole behaviour (and the parameters).
    """

    def __init__(
        self, application: Callable[..., Any], scope: Mapping[str, Any]
    ) -> None:
        #: The application, as an ASGI 3 callable.
        self.application: Callable[..., Awaitable[object]] = guarantee_single_callable(
            application
        )
        #: The scope given to the application.
        self.scope = scope
        #: Messages for the application's ``receive``.
        self.input_queue: MessageQueue[Mapping[str, Any]] = MessageQueue()
        #: Messages the application sent.
        self.output_queue: MessageQueue[Message] = MessageQueue()
        self._run: ApplicationRun | None = None
        self._task_group: TaskGroup | None = None
        self._closed = False
        self._ignore_failure = False
        self._loop: Any = None  # asyncio loop of a task started without async with

    def __repr__(self) -> str:
        if self._run is None:
            state = "not started"
        elif not self._run.finished:
            state = "running"
        elif self._run.exception is not None:
            state = f"failed with {self._run.exception!r}"
        else:
            state = "finished"
        return f"<{type(self).__name__} {state}>"

    # -- lifetime --------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Start the application in a new task group.

        :raises RuntimeError: if the application was already started (by an
            earlier ``async with`` or by a method call outside one).
        """
        if self._run is not None or self._closed:
            raise RuntimeError("this communicator has already started its application")
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        run = self._run = ApplicationRun(anyio.CancelScope())
        contextvars.Context().run(
            task_group.start_soon,
            _run_application,
            self.application,
            self.scope,
            self.input_queue,
            self.output_queue,
            run,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Cancel the application and wait for its task to end.

        :raises Exception: the application's exception, if it failed, the
            block is not raising, and no method has raised that exception yet.
        """
        task_group, run = self._task_group, self._run
        if task_group is None or run is None:
            raise RuntimeError("this communicator is not in an async with block")
        self._task_group = None
        self._closed = True
        run.cancel_scope.cancel()
        if isinstance(exc, anyio.get_cancelled_exc_class()) and not isinstance(
            exc, ApplicationCancelled
        ):
            await task_group.__aexit__(exc_type, exc, tb)
        else:
            # Otherwise the task group would wrap the block's exception in an
            # exception group (or take an ApplicationCancelled for its own
            # cancellation); it only has to wait for the application here.
            await task_group.__aexit__(None, None, None)
        if exc is None and not run.reported and not self._ignore_failure:
            self._raise_failure(run)

    def _started(self) -> ApplicationRun:
        """The running application, started as an asyncio task if need be."""
        if self._closed:
            raise RuntimeError("this communicator's async with block has ended")
        if self._run is not None:
            return self._run
        if sniffio.current_async_library() != "asyncio":
            raise RuntimeError(_TRIO_NEEDS_ASYNC_WITH)
        run = self._run = ApplicationRun(anyio.CancelScope())
        # The asyncio loop, reached without importing asyncio (see _backends).
        loop: Any = anyio.lowlevel.current_token().native_token
        self._loop = loop
        coroutine = _run_application(
            self.application, self.scope, self.input_queue, self.output_queue, run
        )
        # The task takes a copy of the current context: make it an empty one.
        task = contextvars.Context().run(loop.create_task, coroutine)
        # asyncio keeps only weak references to tasks: hold this one until it
        # ends, so that it runs on even if the communicator is dropped.
        _asyncio_tasks.add(task)
        task.add_done_callback(_asyncio_tasks.discard)
        return run

    def __del__(self) -> None:
        run, loop = getattr(self, "_run", None), getattr(self, "_loop", None)
        if run is None or run.finished or loop is None:
            return
        # RuntimeError: the loop is closed, and the task is gone with it.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(run.cancel_scope.cancel)

    @property
    def future(self) -> ApplicationFuture:
        """The application's run, as asgiref's ``future`` attribute.

        See :class:`ApplicationFuture`; it is the same object at every read.
        As in asgiref, reading it starts the application if nothing has yet
        (outside ``async with``, on asyncio).  It stays readable after the
        ``async with`` block.

        :raises RuntimeError: on trio outside ``async with``.
        """
        run = self._run if self._run is not None else self._started()
        return run.future

    @property
    def _future(self) -> ApplicationFuture | None:
        """asgiref's private attribute: :attr:`future` once the application
        has started, else ``None``; reading it starts nothing."""
        return None if self._run is None else self._run.future

    def stop(self, exceptions: bool = True) -> None:
        """Cancel the application if it is running; do nothing before it started.

        Cancellation is requested, not awaited: the application ends at its
        next checkpoint.  Use :meth:`wait` (or leave the ``async with`` block)
        to wait for it.

        :param exceptions: if the application has already failed, raise its
            exception (or :class:`ApplicationCancelled` if it was cancelled).
            ``False`` also stops the ``async with`` block from raising an
            exception no method has raised.
        :raises Exception: the application's exception, if it has already
            failed and *exceptions* is true.
        :raises ApplicationCancelled: if it was cancelled and *exceptions* is
            true.
        """
        run = self._run
        if not exceptions:
            self._ignore_failure = True
        if run is None:
            return
        if not run.finished:
            run.cancel_scope.cancel()
        elif exceptions:
            run.raise_outcome()

    # -- internals -----------------------------------------------------------------

    @staticmethod
    def _raise_failure(run: ApplicationRun) -> None:
        if run.exception is not None:
            run.reported = True
            raise run.exception

    @staticmethod
    async def _cancel_and_wait(run: ApplicationRun) -> None:
        run.cancel_scope.cancel()
        await run.wait()
