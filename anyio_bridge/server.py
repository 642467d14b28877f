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

import contextvars
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, cast

import anyio

from ._backends import Loop, current_loop, running_loop_here
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

    As in asgiref, instances can also be created outside :meth:`arun`, from
    any task of an event loop (code that awaits :meth:`handle` directly, say):
    each then runs as a task of its own on that loop.  See
    :meth:`get_or_create_application_instance`.

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
        # Instances started outside arun(), until they end, with their loop.
        self._detached: dict[ApplicationInstance, Loop] = {}
        # Exceptions of ended instances, for the next application_checker().
        self._unreported: list[tuple[Exception, ApplicationInstance]] = []
        # One event per running application_checker(), set when one is due.
        self._checker_wakeups: set[anyio.Event] = set()

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

        Instances created before, outside :meth:`arun`, on the same event loop
        are handled as the others: their exceptions are reported (also those
        of instances that ended before), and they are cancelled and awaited at
        the end.  Instances of another loop are forgotten.

        :raises Exception: what :meth:`handle` raised (any
            :class:`BaseException` but a cancellation, as it is, not in an
            exception group).
        :raises RuntimeError: if this server is already running.
        """
        if self._task_group is not None:
            raise RuntimeError("this server is already running")
        loop = current_loop()
        error: BaseException | None = None
        detached: list[ApplicationInstance] = []
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
                    # Instances started before arun() end with the others.
                    task_group.cancel_scope.cancel()
                    detached = self._cancel_detached(loop)
            if error is not None:
                raise error
        finally:
            self._task_group = None
            self.application_instances.clear()
            with anyio.CancelScope(shield=True):
                for instance in detached:
                    await instance.wait()
                # Report the instances that failed while being shut down.
                await self._report_failures()

    def _cancel_detached(self, loop: Loop) -> list[ApplicationInstance]:
        """Cancel the instances started outside arun() on *loop* and return
        them; forget those of other loops."""
        cancelled = []
        for instance, instance_loop in list(self._detached.items()):
            if instance_loop is loop:
                instance.cancel_scope.cancel()
                cancelled.append(instance)
            else:
                del self._detached[instance]
        return cancelled

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

        While :meth:`arun` runs, the instance runs in its task group.
        Otherwise, as with asgiref's ``asyncio.ensure_future``, it starts as a
        new task of the event loop running in the calling thread: an asyncio
        task, or a trio system task (cancelled when the run's main task ends).
        Its exception, if it fails, waits for an :meth:`application_checker`
        to report it, as in asgiref.

        :param scope_id: any hashable key for the instance.
        :param scope: the scope to start a new instance with.
        :raises RuntimeError: if no event loop runs in the calling thread (or
            a trio run is ending and takes no new tasks).
        """
        instance = self.application_instances.pop(scope_id, None)
        if instance is not None:
            self.application_instances[scope_id] = instance  # now most recent
            instance.last_used = time.time()
            return instance.input_queue
        task_group = self._task_group
        loop: Loop | None = None
        if task_group is None:
            if not running_loop_here():
                raise RuntimeError(
                    "no event loop is running in this thread: application "
                    "instances run as tasks of the running loop (in arun(), "
                    "or in any task)"
                )
            loop = current_loop()
        # As in asgiref, first: an unusable application raises here.
        application = cast(
            "Callable[..., Awaitable[object]]",
            guarantee_single_callable(self.application),
        )
        instance = ApplicationInstance(
            scope_id=scope_id,
            scope=scope,
            input_queue=MessageQueue(),
            cancel_scope=anyio.CancelScope(),
            last_used=time.time(),
        )
        if loop is None:
            assert task_group is not None
            task_group.start_soon(
                self._run_instance,
                instance,
                application,
                name=f"application instance {scope_id!r}",
            )
        else:
            runner = functools.partial(self._run_detached, instance, application)
            if not loop.start_task(runner, contextvars.copy_context()):
                raise RuntimeError(
                    "the event loop is shutting down: it takes no new "
                    "application instances"
                )
            self._detached[instance] = loop
        while len(self.application_instances) >= self.max_applications:
            self.delete_oldest_application_instance()
        self.application_instances[scope_id] = instance
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

    async def _run_instance(
        self,
        instance: ApplicationInstance,
        application: Callable[..., Awaitable[object]],
    ) -> None:
        # Messages and scopes of any protocol: not only the ASGI-typed ones.
        scope = instance.scope

        async def send(message: dict[str, Any]) -> None:
            await self.application_send(scope, message)

        try:
            await instance.run(
                functools.partial(application, scope, instance.input_queue.get, send)
            )
        finally:
            self._instance_ended(instance)

    async def _run_detached(
        self,
        instance: ApplicationInstance,
        application: Callable[..., Awaitable[object]],
    ) -> None:
        """:meth:`_run_instance` as a task of its own, which must not raise."""
        try:
            await self._run_instance(instance, application)
        except (anyio.get_cancelled_exc_class(), GeneratorExit):
            raise  # the loop is ending, or dropping this task
        except BaseException:
            # No task group to hand it to; on trio it would crash the run.
            logger.exception(
                "Application instance (scope ID %r) raised outside arun(), "
                "where nothing can take it: logged only",
                instance.scope_id,
            )

    def _instance_ended(self, instance: ApplicationInstance) -> None:
        if self.application_instances.get(instance.scope_id) is instance:
            del self.application_instances[instance.scope_id]
        self._detached.pop(instance, None)
        exception = instance.exception
        if exception is None:
            return
        unreported = self._unreported
        unreported.append((exception, instance))
        if self._checker_wakeups:
            for wakeup in self._checker_wakeups:
                wakeup.set()
        elif len(unreported) > self.max_applications:
            # No checker to report to: keep a bounded number, as asgiref keeps
            # at most max_applications failed instances until a check.
            dropped, details = unreported.pop(0)
            logger.error(
                "Exception inside application (scope ID %r), never reported: "
                "no application_checker() ran and %d later exceptions wait",
                details.scope_id,
                len(unreported),
                exc_info=dropped,
            )

    async def application_checker(self) -> None:
        """Report the instances that failed, as they finish; runs until cancelled.

        Each exception goes to :meth:`application_exception`, one at a time,
        those of instances that failed before it started first.
        :meth:`arun` runs it; code that creates instances outside
        :meth:`arun` may run it next to them, as with asgiref.
        """
        wakeups = self._checker_wakeups
        while True:
            wakeup = anyio.Event()
            wakeups.add(wakeup)
            try:
                await self._report_failures()
                await wakeup.wait()
            finally:
                wakeups.discard(wakeup)

    async def _report_failures(self) -> None:
        unreported = self._unreported
        while unreported:
            exception, instance = unreported.pop(0)
            await self.application_exception(exception, instance)

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
