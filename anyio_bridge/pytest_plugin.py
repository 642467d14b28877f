"""pytest fixtures for testing ASGI and WSGI applications on asyncio and trio.

The plugin is opt-in.  Enable it for a run with ``pytest -p
anyio_bridge.pytest_plugin``, or for a project in its top-level
``conftest.py``::

    pytest_plugins = ["anyio_bridge.pytest_plugin"]

It only adds the :func:`asgi_communicator` fixture.  It defines no
``anyio_backend`` fixture, marks nothing and uses nothing automatically:
which backends a test runs on stays the business of anyio's own pytest plugin
and of the project (``docs/testing.md`` has recipes).  :data:`BACKENDS` is
there to parametrize ``anyio_backend`` with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any, TypeAlias

import pytest

from .testing import ApplicationCommunicator

__all__ = ["BACKENDS", "CommunicatorFactory", "asgi_communicator"]

#: The backends anyio-bridge supports, for ``params=`` of an ``anyio_backend``
#: fixture or ``pytest.mark.parametrize("anyio_backend", BACKENDS)``.
BACKENDS: tuple[str, ...] = ("asyncio", "trio")

CommunicatorFactory: TypeAlias = Callable[
    [Callable[..., Any], Mapping[str, Any]], Awaitable[ApplicationCommunicator]
]
"""The type of the :func:`asgi_communicator` fixture's value."""


@pytest.fixture
async def asgi_communicator() -> AsyncIterator[CommunicatorFactory]:
    """Start ASGI applications for a test; stop them when the test ends.

    The value is an async function: ``await asgi_communicator(app, scope)``
    returns a started :class:`~anyio_bridge.testing.ApplicationCommunicator`,
    as if entered with ``async with``.  At teardown, every communicator the
    test started is left, newest first: its application is cancelled and
    awaited, and an exception the application raised that no method call
    raised fails the test.

    Like every async fixture, it needs an anyio test: mark the test with
    ``@pytest.mark.anyio`` (the fixture runs on the test's backend).
    """
    async with AsyncExitStack() as stack:

        async def start(
            application: Callable[..., Any], scope: Mapping[str, Any]
        ) -> ApplicationCommunicator:
            communicator = ApplicationCommunicator(application, scope)
            return await stack.enter_async_context(communicator)

        yield start
