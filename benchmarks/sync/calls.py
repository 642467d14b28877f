"""What the rows call: a no-op, through each library's bridge.

Every function below the callees builds one row's call, as a decorator would
(so building it is not timed).  The libraries are imported when a row is
built, so a broken or missing one fails its own rows only.
"""

from __future__ import annotations

import functools
import importlib
import queue
import sys
import threading
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import sniffio

from .. import TRIO

AsyncCall = Callable[[], Awaitable[object]]
SyncCall = Callable[[], object]
Timings = tuple[list[int], bool]  # (samples in ns, cut short by the row budget)
SyncLoop = Callable[[], Timings]
Hop = Callable[[SyncLoop], Awaitable[Timings]]


def noop() -> None:
    return None


async def async_noop() -> None:
    return None


def _bridge() -> Any:
    """``anyio_bridge.sync``, imported lazily so a broken package fails per row."""
    return importlib.import_module("anyio_bridge.sync")


def _asgiref() -> ModuleType:
    return importlib.import_module("asgiref.sync")


def _asyncer() -> ModuleType:
    return importlib.import_module("asyncer")


# ---------------------------------------------- sync_to_async (from the loop)


def raw_to_thread() -> AsyncCall:
    return functools.partial(anyio.to_thread.run_sync, noop)


class _BareThread:
    """The floor for a thread-sensitive call: one dedicated thread fed by a
    :class:`queue.SimpleQueue`, waking the loop natively, and nothing else (no
    context variables, exceptions, cancellation or deadlock checks).  The
    issue's "quick prototype"."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
        threading.Thread(target=self._main, name="bench bare", daemon=True).start()

    def _main(self) -> None:
        while True:
            self.jobs.get()()

    async def call_asyncio(self) -> object:
        loop = sys.modules["asyncio"].get_running_loop()
        future = loop.create_future()

        def job() -> None:
            loop.call_soon_threadsafe(future.set_result, noop())

        self.jobs.put(job)
        return await future

    async def call_trio(self) -> object:
        trio = sys.modules["trio"]
        token = trio.lowlevel.current_trio_token()
        task = trio.lowlevel.current_task()
        outcome = sys.modules["outcome"]

        def job() -> None:
            result = outcome.Value(noop())
            token.run_sync_soon(trio.lowlevel.reschedule, task, result)

        self.jobs.put(job)
        return await trio.lowlevel.wait_task_rescheduled(_cannot_abort)


def _cannot_abort(_: object) -> Any:
    return sys.modules["trio"].lowlevel.Abort.FAILED


_bare_thread: _BareThread | None = None


def bare_dedicated_thread() -> AsyncCall:
    global _bare_thread
    if _bare_thread is None:
        _bare_thread = _BareThread()
    if sniffio.current_async_library() == TRIO:
        return _bare_thread.call_trio
    return _bare_thread.call_asyncio


def bridge_s2a_ts() -> AsyncCall:
    call: AsyncCall = _bridge().sync_to_async(noop)
    return call


def bridge_s2a_nts() -> AsyncCall:
    call: AsyncCall = _bridge().sync_to_async(noop, thread_sensitive=False)
    return call


def asgiref_s2a_ts() -> AsyncCall:
    return _asgiref().sync_to_async(noop)  # type: ignore[no-any-return]


def asgiref_s2a_nts() -> AsyncCall:
    return _asgiref().sync_to_async(noop, thread_sensitive=False)  # type: ignore[no-any-return]


def asyncer_asyncify() -> AsyncCall:
    return _asyncer().asyncify(noop)  # type: ignore[no-any-return]


# ------------------------------------- async_to_sync (from a worker thread)
# Each returns the hop into the worker thread (not timed) and the call timed
# there.


def raw_from_thread() -> tuple[Hop, SyncCall]:
    def hop(loop: SyncLoop) -> Awaitable[Timings]:
        return anyio.to_thread.run_sync(loop)

    return hop, functools.partial(anyio.from_thread.run, async_noop)


def bridge_a2s_worker() -> tuple[Hop, SyncCall]:
    bridge = _bridge()

    def hop(loop: SyncLoop) -> Awaitable[Timings]:
        return bridge.sync_to_async(loop, thread_sensitive=False)()  # type: ignore[no-any-return]

    call: SyncCall = bridge.async_to_sync(async_noop)
    return hop, call


def asgiref_a2s_worker() -> tuple[Hop, SyncCall]:
    asgiref = _asgiref()

    def hop(loop: SyncLoop) -> Awaitable[Timings]:
        return asgiref.sync_to_async(loop, thread_sensitive=False)()  # type: ignore[no-any-return]

    call: SyncCall = asgiref.async_to_sync(async_noop)
    return hop, call


def asyncer_syncify_worker() -> tuple[Hop, SyncCall]:
    asyncer = _asyncer()

    def hop(loop: SyncLoop) -> Awaitable[Timings]:
        return asyncer.asyncify(loop)()  # type: ignore[no-any-return]

    call: SyncCall = asyncer.syncify(async_noop)
    return hop, call


# ------------------------------------ async_to_sync (top level, no loop)


def raw_anyio_run(backend: str) -> Callable[[], SyncCall]:
    def make() -> SyncCall:
        return functools.partial(anyio.run, async_noop, backend=backend)

    return make


def asgiref_a2s_top() -> SyncCall:
    call: SyncCall = _asgiref().async_to_sync(async_noop)
    return call


def bridge_a2s_top_default() -> SyncCall:
    call: SyncCall = _bridge().async_to_sync(async_noop)
    return call


def bridge_a2s_top_trio() -> SyncCall:
    call: SyncCall = _bridge().async_to_sync(async_noop, backend=TRIO)
    return call
