"""The report's sections and rows: which call each row times, and how.

A row is a case (a key, a label, the backends it runs on and how to build its
call) run on one backend.  :data:`SECTIONS` lists them in report order; the
key is what :mod:`.targets` refers to.  Two top-level cases may share a key:
they are the two backend columns of one row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .. import ASYNCIO, ASYNCIO_ONLY, BOTH, TRIO
from . import calls
from .calls import AsyncCall, Hop, SyncCall


@dataclass(frozen=True)
class LoopCase:
    """An async callable awaited over and over from the event loop."""

    key: str
    label: str
    backends: tuple[str, ...]
    make: Callable[[], AsyncCall]


@dataclass(frozen=True)
class WorkerCase:
    """A sync callable called over and over from one worker thread.

    ``make`` returns the hop used to get into the worker thread (awaited once
    per round, excluded from the timings) and the call to time inside it.
    """

    key: str
    label: str
    backends: tuple[str, ...]
    make: Callable[[], tuple[Hop, SyncCall]]


@dataclass(frozen=True)
class TopLevelCase:
    """A sync callable called from plain sync code, no event loop in the thread.

    ``backend`` is the backend of the loop the call ends up running on.
    """

    key: str
    label: str
    backend: str
    make: Callable[[], SyncCall]


Case = LoopCase | WorkerCase | TopLevelCase


BRIDGE_TOP_LABEL = (
    'anyio_bridge `async_to_sync(async_noop)()` (trio column: `backend="trio"`)'
)

#: Sections of the report, in order: (title, cases).
SECTIONS: tuple[tuple[str, tuple[Case, ...]], ...] = (
    (
        "sync_to_async: event loop -> worker thread",
        (
            LoopCase(
                "raw_to_thread",
                "raw `anyio.to_thread.run_sync(noop)`",
                BOTH,
                calls.raw_to_thread,
            ),
            LoopCase(
                "bridge_s2a_ts",
                "anyio_bridge `sync_to_async(noop)` (thread_sensitive=True)",
                BOTH,
                calls.bridge_s2a_ts,
            ),
            LoopCase(
                "bridge_s2a_nts",
                "anyio_bridge `sync_to_async(noop, thread_sensitive=False)`",
                BOTH,
                calls.bridge_s2a_nts,
            ),
            LoopCase(
                "asgiref_s2a_ts",
                "asgiref `sync_to_async(noop)` (thread_sensitive=True)",
                ASYNCIO_ONLY,
                calls.asgiref_s2a_ts,
            ),
            LoopCase(
                "asgiref_s2a_nts",
                "asgiref `sync_to_async(noop, thread_sensitive=False)`",
                ASYNCIO_ONLY,
                calls.asgiref_s2a_nts,
            ),
            LoopCase(
                "asyncer_asyncify",
                "asyncer `asyncify(noop)`",
                BOTH,
                calls.asyncer_asyncify,
            ),
            LoopCase(
                "bare_thread",
                "reference: bare dedicated thread, `SimpleQueue` + native "
                "wake-up, no features",
                BOTH,
                calls.bare_dedicated_thread,
            ),
            LoopCase(
                "raw_to_thread_control",
                "noise control: raw `anyio.to_thread.run_sync(noop)` again",
                BOTH,
                calls.raw_to_thread,
            ),
        ),
    ),
    (
        "async_to_sync: worker thread -> event loop",
        (
            WorkerCase(
                "raw_from_thread",
                "raw `anyio.from_thread.run(async_noop)` (in `to_thread.run_sync`)",
                BOTH,
                calls.raw_from_thread,
            ),
            WorkerCase(
                "bridge_a2s_worker",
                "anyio_bridge `async_to_sync(async_noop)()` (in its `sync_to_async`)",
                BOTH,
                calls.bridge_a2s_worker,
            ),
            WorkerCase(
                "asgiref_a2s_worker",
                "asgiref `async_to_sync(async_noop)()` (in its `sync_to_async`)",
                ASYNCIO_ONLY,
                calls.asgiref_a2s_worker,
            ),
            WorkerCase(
                "asyncer_syncify_worker",
                "asyncer `syncify(async_noop)()` (in `asyncify`)",
                BOTH,
                calls.asyncer_syncify_worker,
            ),
        ),
    ),
    (
        "async_to_sync: top level (plain sync code, no running loop)",
        (
            TopLevelCase(
                "raw_anyio_run",
                "reference: `anyio.run(async_noop, backend=...)`",
                ASYNCIO,
                calls.raw_anyio_run(ASYNCIO),
            ),
            TopLevelCase(
                "raw_anyio_run",
                "reference: `anyio.run(async_noop, backend=...)`",
                TRIO,
                calls.raw_anyio_run(TRIO),
            ),
            TopLevelCase(
                "asgiref_a2s_top",
                "asgiref `async_to_sync(async_noop)()`",
                ASYNCIO,
                calls.asgiref_a2s_top,
            ),
            TopLevelCase(
                "bridge_a2s_top",
                BRIDGE_TOP_LABEL,
                ASYNCIO,
                calls.bridge_a2s_top_default,
            ),
            TopLevelCase(
                "bridge_a2s_top",
                BRIDGE_TOP_LABEL,
                TRIO,
                calls.bridge_a2s_top_trio,
            ),
        ),
    ),
)
