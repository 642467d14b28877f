"""A base class for servers of stateless protocols, on asyncio and trio.

:class:`StatelessServer` is the counterpart of ``asgiref.server.StatelessServer``:
it keeps one ASGI application instance per "scope" (a user, a chat channel, a
device...) for protocols without connections, such as chat bots or message
queues.  A subclass reads incoming messages in :meth:`~StatelessServer.handle`
and writes the applications' messages out in
:meth:`~StatelessServer.application_send`.  ``docs/server-base.md`` explains
the lifecycle.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, cast

import anyio

from ._future import ApplicationCancelled, ApplicationFuture, ApplicationRun
from ._queue import MessageQueue
from .compatibility import guarantee_single_callable

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

__all__ = [
    "ApplicationCancelled",
    "ApplicationFuture",
    "ApplicationInstance",
    "MessageQueue",
    "StatelessServer",
]

logger = logging.getLogger(__name__)

#: The keys of asgiref's dictionaries, then the other attributes.
_KEYS = (
    "input_queue",
    "future",
    "scope",
    "last_used",
    "scope_id",
    "cancel_scope",
    "finished",
    "exception",
)


class ApplicationInstance(ApplicationRun):
    """One application instance of a :class:`StatelessServer`.

    The values in :attr:`StatelessServer.application_instances`, and what
    :meth:`StatelessServer.application_exception` receives.  asgiref uses
    dictionaries there, with the keys ``"input_queue"``, ``"future"``,
    ``"scope"`` and ``"last_used"``; for code written against them,
    ``instance[key]`` reads those (and the other attributes by name),
    ``instance.get(key)``, ``key in instance`` and ``instance.keys()`` work,
    and ``instance["last_used"] = time.time()`` sets :attr:`last_used`.

    :param finished: ``True`` for an instance that has already ended.
    :param exception: what such an instance raised, if anything.
    """

    def __init__(
        self,
        scope_id: Hashable,
        scope: Mapping[str, Any],
        input_queue: MessageQueue[Any],
        cancel_scope: anyio.CancelScope,
        last_used: float,
        finished: bool = False,
        exception: Exception | None = None,
    ) -> None:
        super().__init__(cancel_scope)
        #: The key the instance was created under.
        self.scope_id = scope_id
        #: The scope the application was called with.
        self.scope = scope
        #: Messages for the application's ``receive``.
        self.input_queue = input_queue
        #: :func:`time.time` value of the creation or the latest lookup, as in
        #: asgiref.
        self.last_used = last_used
        self.finished = finished
        self.exception = exception

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.scope_id!r} {self.future!r}>"

    # cancel_scope, finished, exception and result are ApplicationRun's.

    def __getitem__(self, key: str) -> Any:
        """The attribute *key*, for asgiref-style ``details["scope"]`` access.

        ``details["future"]`` is :attr:`future`, an :class:`ApplicationFuture`
        that behaves as the asyncio task asgiref stores there.

        :raises KeyError: if *key* is not one of :meth:`keys`.
        """
        if key not in _KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value: float) -> None:
        """Set :attr:`last_used`, as asgiref's own code does with
        ``details["last_used"] = time.time()``.

        :raises KeyError: for any other key: the rest is not to be replaced.
        """
        if key != "last_used":
            raise KeyError(key)
        self.last_used = value

    def __contains__(self, key: object) -> bool:
        return key in _KEYS

    def get(self, key: str, default: Any = None) -> Any:
        """``self[key]``, or *default* if *key* is not one of :meth:`keys`."""
        return getattr(self, key) if key in _KEYS else default

    def keys(self) -> tuple[str, ...]:
        """asgiref's keys, then the names of the other attributes."""
        return _KEYS


def _is_keyboard_interrupt(exc: BaseException) -> bool:
    """Whether *exc* is a KeyboardInterrupt, or exception groups of nothing else."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    # BaseExceptionGroup is not a builtin on Python 3.10: look for its field.
    inner = getattr(exc, "exceptions", None)
    return isinstance(inner, tuple) and all(_is_keyboard_interrupt(e) for e in inner)


class StatelessServer:
    """Run ASGI application instances for a protocol without connections.

    Subclass it and implement :meth:`handle`, which receives messages from
    the outside world and passes each to the right application instance
    through :meth:`get_or_create_application_instance`, and
    :meth:`application_send`, which gets everything the instances send.

    :meth:`arun` runs :meth:`handle` next to a checker task.  Every instance
    runs in the same task group, in its own cancel scope.  When :meth:`handle`
    returns or raises, every instance is cancelled and awaited, and
    :meth:`arun` returns (or raises what :meth:`handle` raised).

    :param application: the ASGI 3 or ASGI 2 application.
    :param max_applications: the most instances alive at once; creating one
        more first deletes the least recently used one.
    :raises ValueError: if *max_applications* is less than 1.
    """

    #: asgiref's polling period, kept for code that reads or sets it: the
    #: checker here is woken when an instance ends and does not poll.
    application_checker_interval: float = 0.1

    def __init__(
        self, application: Callable[..., Any], max_applications: int = 1000
    ) -> None:
        if max_applications < 1:
            raise ValueError("max_applications must be at least 1")
        #: The application each instance runs.
        self.application = application
        #: The most instances alive at once.
        self.max_applications = max_applications
        #: Live instances by scope ID, least recently used first.
        self.application_instances: dict[Hashable, ApplicationInstance] = {}
        self._task_group: TaskGroup | None = None
        self._finished: list[ApplicationInstance] = []
        self._finished_event: anyio.Event | None = None

    # -- running -----------------------------------------------------------------

    def run(
        self, backend: str = "asyncio", backend_options: dict[str, Any] | None = None
    ) -> None:
        """Run :meth:`arun` in a new event loop until it returns.

        A :class:`KeyboardInterrupt` (Ctrl-C) ends the server quietly: it is
        logged at INFO level instead of raised, also when it comes inside
        exception groups (if it hit an application instance, say).

        :param backend: ``"asyncio"`` or ``"trio"``.
        :param backend_options: keyword arguments for the backend, see
            :func:`anyio.run`.
        :raises RuntimeError: if an event loop is already running in this
            thread.
        :raises Exception: what :meth:`handle` raised.
        """
        try:
            anyio.run(self.arun, backend=backend, backend_options=backend_options)
        except BaseException as exc:
            if not _is_keyboard_interrupt(exc):
                raise
            logger.info("Exiting due to Ctrl-C/interrupt")

    async def arun(self) -> None:
        """Run :meth:`handle` and :meth:`application_checker` until ``handle`` ends.

        Then every application instance is cancelled and awaited, the
        exceptions raised by instances meanwhile are reported through
        :meth:`application_exception`, and :attr:`application_instances` is
        left empty.

        :raises Exception: what :meth:`handle` raised (any
            :class:`BaseException` but a cancellation, as it is, not in an
            exception group).
        :raises RuntimeError: if this server is already running.
        """
        if self._task_group is not None:
            raise RuntimeError("this server is already running")
        self._finished_event = anyio.Event()
        error: BaseException | None = None
        try:
            async with anyio.create_task_group() as task_group:
                self._task_group = task_group
                task_group.start_soon(self.application_checker)
                try:
                    await self.handle()
                except anyio.get_cancelled_exc_class():
                    raise
                except BaseException as exc:
                    # Raised below, after shutting down, instead of in the
                    # exception group the task group would make of it.
                    error = exc
                finally:
                    task_group.cancel_scope.cancel()
            if error is not None:
                raise error
        finally:
            self._task_group = None
            self.application_instances.clear()
            # Report the instances that failed while being shut down.
            with anyio.CancelScope(shield=True):
                await self._report_finished()

    async def handle(self) -> None:
        """Receive messages from the outside world and dispatch them.

        The server stops when this returns.  Subclasses must implement it.

        :raises NotImplementedError: unless overridden.
        """
        raise NotImplementedError("You must implement handle()")

    async def application_send(
        self, scope: Mapping[str, Any], message: dict[str, Any]
    ) -> None:
        """Deliver *message*, sent by the instance running *scope*.

        Subclasses must implement it.  It runs in the instance's task, so
        while it waits that instance waits too.

        :raises NotImplementedError: unless overridden.
        """
        raise NotImplementedError("You must implement application_send()")

    # -- application instances ---------------------------------------------------

    def get_or_create_application_instance(
        self, scope_id: Hashable, scope: Mapping[str, Any]
    ) -> MessageQueue[Any]:
        """Return the input queue of the instance for *scope_id*, creating it.

        An existing instance becomes the most recently used one; *scope* is
        then ignored.  Otherwise, if :attr:`max_applications` instances are
        alive, the least recently used one is deleted first, and a new
        instance starts with *scope*.  Put messages for the application on the
        queue with ``put_nowait(message)`` or ``await put(message)``.

        An instance that has finished is forgotten at once, so a later call
        with the same *scope_id* starts a new one.

        :param scope_id: any hashable key for the instance.
        :param scope: the scope to start a new instance with.
        :raises RuntimeError: if :meth:`arun` is not running (so an instance
            would have no task group to run in).
        """
        instance = self.application_instances.pop(scope_id, None)
        if instance is not None:
            self.application_instances[scope_id] = instance  # now most recent
            instance.last_used = time.time()
            return instance.input_queue
        task_group = self._task_group
        if task_group is None:
            raise RuntimeError("application instances can only be created in arun()")
        while len(self.application_instances) >= self.max_applications:
            self.delete_oldest_application_instance()
        instance = ApplicationInstance(
            scope_id=scope_id,
            scope=scope,
            input_queue=MessageQueue(),
            cancel_scope=anyio.CancelScope(),
            last_used=time.time(),
        )
        self.application_instances[scope_id] = instance
        task_group.start_soon(
            self._run_instance, instance, name=f"application instance {scope_id!r}"
        )
        return instance.input_queue

    def delete_oldest_application_instance(self) -> None:
        """Delete the least recently used instance, if there is one."""
        for scope_id in self.application_instances:
            self.delete_application_instance(scope_id)
            return

    def delete_application_instance(self, scope_id: Hashable) -> None:
        """Forget the instance for *scope_id* and cancel it.

        The cancellation takes effect at the application's next checkpoint;
        the server does not wait for it here.

        :raises KeyError: if there is no instance for *scope_id*.
        """
        instance = self.application_instances.pop(scope_id)
        instance.cancel_scope.cancel()

    async def _run_instance(self, instance: ApplicationInstance) -> None:
        # Messages and scopes of any protocol: not only the ASGI-typed ones.
        application = cast(
            "Callable[..., Awaitable[object]]",
            guarantee_single_callable(self.application),
        )
        scope = instance.scope

        async def send(message: dict[str, Any]) -> None:
            await self.application_send(scope, message)

        try:
            await instance.run(
                functools.partial(application, scope, instance.input_queue.get, send)
            )
        finally:
            if self.application_instances.get(instance.scope_id) is instance:
                del self.application_instances[instance.scope_id]
            self._finished.append(instance)
            assert self._finished_event is not None  # instances only run in arun()
            self._finished_event.set()

    async def application_checker(self) -> None:
        """Report the instances that failed, as they finish; runs until cancelled.

        Each exception goes to :meth:`application_exception`, one at a time.
        """
        while True:
            event = self._finished_event
            assert event is not None  # set by arun() before it starts the checker
            await event.wait()
            self._finished_event = anyio.Event()
            await self._report_finished()

    async def _report_finished(self) -> None:
        while self._finished:
            instance = self._finished.pop(0)
            if instance.exception is not None:
                await self.application_exception(instance.exception, instance)

    async def application_exception(
        self, exception: Exception, application_details: ApplicationInstance
    ) -> None:
        """Called with every exception an application instance raised.

        The default logs it, with its traceback, at ERROR level on the
        ``anyio_bridge.server`` logger.  Override it to do more.

        :param exception: what the application raised.
        :param application_details: the instance that raised it.
        """
        logger.error(
            "Exception inside application (scope ID %r): %s",
            application_details.scope_id,
            exception,
            exc_info=exception,
        )
