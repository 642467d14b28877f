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

# The plugin lives in anyio_bridge.testing.pytest_plugin.  pytest registers
# the fixtures it finds in the module it loads, so this module re-exports them
# (and only this module is loaded as a plugin: each fixture is registered once).
from .testing.pytest_plugin import BACKENDS, CommunicatorFactory, asgi_communicator

__all__ = ["BACKENDS", "CommunicatorFactory", "asgi_communicator"]
