"""StatelessServer: a base class for servers of stateless protocols.

The implementation behind :mod:`anyio_bridge.server`
(``asgiref.server.StatelessServer`` under the asgiref stand-in), which
``docs/server-base.md`` describes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import anyio

from .._backends import current_loop
from .instance import ApplicationInstance
from .instances import ApplicationInstances

__all__ = ["StatelessServer"]

# The public module's name: users configure logging for it (docs/server-base.md).
logger = logging.getLogger("anyio_bridge.server")


def _is_keyboard_interrupt(exc: BaseException) -> bool:
    """Whether *exc* is a KeyboardInterrupt, or exception groups of nothing else."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    # BaseExceptionGroup is not a builtin on Python 3.10: look for its field.
    inner = getattr(exc, "exceptions", None)
    return isinstance(inner, tuple) and all(_is_keyboard_interrupt(e) for e in inner)


class StatelessServer(ApplicationInstances):
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

    The methods that keep the instances (creating, finding and deleting them)
    come from its base class, ``ApplicationInstances``; those here run the
    server.

    :param application: the ASGI 3 or ASGI 2 application.
    :param max_applications: the most instances alive at once; creating one
        more first deletes the least recently used one.
    :raises ValueError: if *max_applications* is less than 1.
    """

    #: asgiref's polling period, kept for code that reads or sets it: the
    #: checker here is woken when an instance ends and does not poll.
    application_checker_interval: float = 0.1

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
