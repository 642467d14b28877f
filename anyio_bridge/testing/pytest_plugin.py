"""The pytest plugin of :mod:`anyio_bridge.testing`: the ``asgi_communicator`` fixture.

Load it as ``-p anyio_bridge.pytest_plugin`` (or ``pytest_plugins =
["anyio_bridge.pytest_plugin"]``), the documented name, which re-exports this
module's fixture; loading this module under its own name works as well, but
load one of the two, not both.  :mod:`anyio_bridge.pytest_plugin` documents
the fixture and :data:`BACKENDS`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio
import pytest

from .._asgi.communicator import ApplicationCommunicator

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

__all__ = ["BACKENDS", "CommunicatorFactory", "asgi_communicator"]

#: The backends anyio-bridge supports, for ``params=`` of an ``anyio_backend``
#: fixture or ``pytest.mark.parametrize("anyio_backend", BACKENDS)``.
BACKENDS: tuple[str, ...] = ("asyncio", "trio")

CommunicatorFactory: TypeAlias = Callable[
    [Callable[..., Any], Mapping[str, Any]], Awaitable[ApplicationCommunicator]
]
"""The type of the :func:`asgi_communicator` fixture's value."""


class _Holder:
    """Keeps one communicator's ``async with`` block open in a task of its own.

    The block runs in a task of the fixture's task group rather than in the
    test's task, so the test may start communicators inside its own cancel
    scopes (``anyio.fail_after``, a timeout, a task group) and leave those
    before the fixture stops the communicators.
    """

    __slots__ = ("communicator", "done", "error", "stopping")

    def __init__(self, communicator: ApplicationCommunicator) -> None:
        self.communicator = communicator
        self.stopping = anyio.Event()
        self.done = anyio.Event()
        self.error: Exception | None = None

    async def run(self, *, task_status: TaskStatus[None]) -> None:
        try:
            async with self.communicator:
                task_status.started()
                await self.stopping.wait()
        except Exception as exc:  # the application's unreported exception
            self.error = exc
        finally:
            self.done.set()

    async def stop(self) -> None:
        """Leave the block and wait until it is left."""
        self.stopping.set()
        await self.done.wait()


def _raise_chained(errors: list[Exception]) -> None:
    """Raise each of *errors* while the one before it propagates.

    So the last one is raised with the others as its ``__context__`` chain,
    and pytest shows them all ("During handling of the above exception...").
    """
    if errors:
        try:
            raise errors[0]
        finally:
            _raise_chained(errors[1:])


@pytest.fixture
async def asgi_communicator() -> AsyncIterator[CommunicatorFactory]:
    """Start ASGI applications for a test; stop them when the test ends.

    The value is an async function: ``await asgi_communicator(app, scope)``
    returns a started :class:`~anyio_bridge.testing.ApplicationCommunicator`,
    as if entered with ``async with``.  The communicator's block is held open
    in a task of the fixture, so the test may call it anywhere, also inside
    cancel scopes and task groups it leaves before it ends.

    At teardown, every communicator the test started is left, newest first:
    its application is cancelled and awaited, and an exception the
    application raised that no method call raised fails the test (when several
    applications failed so, pytest shows every exception, chained).

    Like every async fixture, it needs an anyio test: mark the test with
    ``@pytest.mark.anyio`` (the fixture runs on the test's backend).
    """
    holders: list[_Holder] = []
    async with anyio.create_task_group() as task_group:

        async def start(
            application: Callable[..., Any], scope: Mapping[str, Any]
        ) -> ApplicationCommunicator:
            holder = _Holder(ApplicationCommunicator(application, scope))
            await task_group.start(holder.run)
            holders.append(holder)
            return holder.communicator

        yield start

        holders.reverse()  # newest first
        for holder in holders:
            await holder.stop()
    _raise_chained([holder.error for holder in holders if holder.error is not None])
