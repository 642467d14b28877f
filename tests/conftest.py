"""Shared fixtures: both anyio backends, and leak checks around every test."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from anyio_bridge._bridge import state as _state

# The opt-in fixtures for users' test suites (docs/testing.md), and pytester
# to test them in a nested run.
pytest_plugins = ["anyio_bridge.pytest_plugin", "pytester"]

# Run by tests/test_compat.py in a process of its own, with asgiref aliased.
collect_ignore = ["compat"]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


#: Long-lived threads the docs describe (docs/threads-and-cancellation.md).
POOL_THREAD_PREFIXES = (
    "anyio_bridge thread-sensitive",
    "anyio_bridge worker",  # WsgiToAsgi's pool, bounded by its limiters
    "anyio_bridge asyncio loop",
    "anyio_bridge trio loop",
    "AnyIO worker thread",  # anyio's worker pool on asyncio
    "Trio thread",  # trio's thread cache, idle
    "wrapper from",  # trio's thread cache, named after the last job
)


def _open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


@pytest.fixture(scope="session", autouse=True)
def _shared_pools() -> None:
    """Start the process-wide threads first, so later checks see them as baseline."""
    _state.process.shared_sync_thread()
    _state.process.loop_thread("asyncio")
    _state.process.loop_thread("trio")


def _loop_tasks() -> int:
    loop_thread = _state.process.loop_thread("asyncio")
    loop = loop_thread.loop.token.native_token
    assert isinstance(loop, asyncio.AbstractEventLoop)

    async def count() -> int:
        return len(asyncio.all_tasks()) - 2  # minus this one and the loop main task

    return asyncio.run_coroutine_threadsafe(count(), loop).result(5)


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves behind threads, file descriptors or loop tasks."""
    if request.node.get_closest_marker("allow_leaks"):
        yield
        return
    threads_before = set(threading.enumerate())
    fds_before = _open_fds()
    yield
    deadline = time.monotonic() + 10
    for thread in set(threading.enumerate()) - threads_before:
        if thread.name.startswith(POOL_THREAD_PREFIXES):
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        assert not thread.is_alive(), f"thread leaked: {thread.name}"
    while (tasks := _loop_tasks()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert tasks == 0, f"{tasks} task(s) left on the shared asyncio loop"
    while (leaked := _open_fds() - fds_before) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not leaked, f"file descriptors leaked: {sorted(leaked)}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_leaks: skip the leak checks (the test checks itself)"
    )
    if sys.platform != "linux":  # pragma: no cover
        raise pytest.UsageError("the leak checks read /proc/self/fd")
    if os.environ.get("ANYIO_BRIDGE_AS_ASGIREF", "") not in ("", "0"):
        raise pytest.UsageError(
            "ANYIO_BRIDGE_AS_ASGIREF is set: asgiref would be anyio-bridge in this "
            "process (docs/asgiref-alias.md), where the tests compare the two; "
            "run them without it"
        )
