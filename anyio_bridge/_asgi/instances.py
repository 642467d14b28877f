"""The application instances of a StatelessServer, and their bookkeeping.

:class:`ApplicationInstances` is the base class of
:class:`~anyio_bridge.server.StatelessServer` (in :mod:`.server`, which runs
the server: ``run``, ``arun``, ``handle``, the checker).  It keeps the table
of live instances: it creates them (in the server's task group, or as tasks
of their own outside ``arun()``), finds them, deletes the least recently used
ones, and collects the exceptions of those that end for the checker.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, cast

import anyio

from .._backends import Loop, current_loop, running_loop_here
from .compatibility import guarantee_single_callable
from .instance import ApplicationInstance
from .queue import MessageQueue

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

__all__ = ["ApplicationInstances"]

# The public module's name: users configure logging for it (docs/server-base.md).
logger = logging.getLogger("anyio_bridge.server")


class ApplicationInstances:
    """The application instances of a server, by scope ID.

    The base class of :class:`~anyio_bridge.server.StatelessServer`, whose
    docstring documents the parameters.  The server sets :attr:`_task_group`
    while ``arun()`` runs; the instances send their messages through
    ``application_send()``, which the server defines.
    """

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

    if TYPE_CHECKING:

        async def application_send(
            self, scope: Mapping[str, Any], message: dict[str, Any]
        ) -> None: ...
