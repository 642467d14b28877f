"""Per-call cost of the sync <-> async bridges, side by side in one run.

Compares anyio_bridge's ``sync_to_async`` / ``async_to_sync`` with raw anyio
(``to_thread.run_sync`` / ``from_thread.run``), asgiref and asyncer on asyncio
and trio, prints a Markdown report and writes it (plus a JSON twin) to
``benchmarks/results/``::

    python benchmarks/bench_sync.py [--quick] [--calls N] [--output PATH]

Every call is timed on its own with ``time.perf_counter_ns()``; the report gives
the median and 90th percentile per row and the ratios the performance issue
targets.  Absolute numbers depend on the machine; only compare ratios taken
from the same run.  A row that cannot be built or whose call raises shows
``error: ...`` and the rest of the run carries on.  The exit code is always 0.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import importlib
import importlib.metadata
import json
import math
import os
import platform
import queue
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import sniffio
from _common import Watchdog, bridge_version, quartiles, version

DESCRIPTION = "Per-call cost of the sync <-> async bridges, side by side."
BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_OUTPUT = BENCH_DIR / "results" / "sync.md"

# Benchmark the checkout this script lives in, not some installed copy.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

ASYNCIO = "asyncio"
TRIO = "trio"

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


# --------------------------------------------------------------------------- cases


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


def _raw_to_thread() -> AsyncCall:
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


def _bare_dedicated_thread() -> AsyncCall:
    global _bare_thread
    if _bare_thread is None:
        _bare_thread = _BareThread()
    if sniffio.current_async_library() == TRIO:
        return _bare_thread.call_trio
    return _bare_thread.call_asyncio


def _bridge_s2a_ts() -> AsyncCall:
    call: AsyncCall = _bridge().sync_to_async(noop)
    return call


def _bridge_s2a_nts() -> AsyncCall:
    call: AsyncCall = _bridge().sync_to_async(noop, thread_sensitive=False)
    return call


def _asgiref_s2a_ts() -> AsyncCall:
    return _asgiref().sync_to_async(noop)  # type: ignore[no-any-return]


def _asgiref_s2a_nts() -> AsyncCall:
    return _asgiref().sync_to_async(noop, thread_sensitive=False)  # type: ignore[no-any-return]


def _asyncer_asyncify() -> AsyncCall:
    return _asyncer().asyncify(noop)  # type: ignore[no-any-return]


def _raw_from_thread() -> tuple[Hop, SyncCall]:
    def hop(loop: SyncLoop) -> Awaitable[Timings]:
        return anyio.to_thread.run_sync(loop)

    return hop, functools.partial(anyio.from_thread.run, async_noop)


def _bridge_a2s_worker() -> tuple[Hop, SyncCall]:
    bridge = _bridge()

    def hop(loop: SyncLoop) -> Awaitable[Timings]:
        return bridge.sync_to_async(loop, thread_sensitive=False)()  # type: ignore[no-any-return]

    call: SyncCall = bridge.async_to_sync(async_noop)
    return hop, call


def _asgiref_a2s_worker() -> tuple[Hop, SyncCall]:
    asgiref = _asgiref()

    def hop(loop: SyncLoop) -> Awaitable[Timings]:
        return asgiref.sync_to_async(loop, thread_sensitive=False)()  # type: ignore[no-any-return]

    call: SyncCall = asgiref.async_to_sync(async_noop)
    return hop, call


def _asyncer_syncify_worker() -> tuple[Hop, SyncCall]:
    asyncer = _asyncer()

    def hop(loop: SyncLoop) -> Awaitable[Timings]:
        return asyncer.asyncify(loop)()  # type: ignore[no-any-return]

    call: SyncCall = asyncer.syncify(async_noop)
    return hop, call


def _raw_anyio_run(backend: str) -> Callable[[], SyncCall]:
    def make() -> SyncCall:
        return functools.partial(anyio.run, async_noop, backend=backend)

    return make


def _asgiref_a2s_top() -> SyncCall:
    call: SyncCall = _asgiref().async_to_sync(async_noop)
    return call


def _bridge_a2s_top_default() -> SyncCall:
    call: SyncCall = _bridge().async_to_sync(async_noop)
    return call


def _bridge_a2s_top_trio() -> SyncCall:
    call: SyncCall = _bridge().async_to_sync(async_noop, backend=TRIO)
    return call


BRIDGE_TOP_LABEL = (
    'anyio_bridge `async_to_sync(async_noop)()` (trio column: `backend="trio"`)'
)
BOTH = (ASYNCIO, TRIO)
ASYNCIO_ONLY = (ASYNCIO,)

#: Sections of the report, in order: (title, cases).
SECTIONS: tuple[tuple[str, tuple[Case, ...]], ...] = (
    (
        "sync_to_async: event loop -> worker thread",
        (
            LoopCase(
                "raw_to_thread",
                "raw `anyio.to_thread.run_sync(noop)`",
                BOTH,
                _raw_to_thread,
            ),
            LoopCase(
                "bridge_s2a_ts",
                "anyio_bridge `sync_to_async(noop)` (thread_sensitive=True)",
                BOTH,
                _bridge_s2a_ts,
            ),
            LoopCase(
                "bridge_s2a_nts",
                "anyio_bridge `sync_to_async(noop, thread_sensitive=False)`",
                BOTH,
                _bridge_s2a_nts,
            ),
            LoopCase(
                "asgiref_s2a_ts",
                "asgiref `sync_to_async(noop)` (thread_sensitive=True)",
                ASYNCIO_ONLY,
                _asgiref_s2a_ts,
            ),
            LoopCase(
                "asgiref_s2a_nts",
                "asgiref `sync_to_async(noop, thread_sensitive=False)`",
                ASYNCIO_ONLY,
                _asgiref_s2a_nts,
            ),
            LoopCase(
                "asyncer_asyncify",
                "asyncer `asyncify(noop)`",
                BOTH,
                _asyncer_asyncify,
            ),
            LoopCase(
                "bare_thread",
                "reference: bare dedicated thread, `SimpleQueue` + native "
                "wake-up, no features",
                BOTH,
                _bare_dedicated_thread,
            ),
            LoopCase(
                "raw_to_thread_control",
                "noise control: raw `anyio.to_thread.run_sync(noop)` again",
                BOTH,
                _raw_to_thread,
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
                _raw_from_thread,
            ),
            WorkerCase(
                "bridge_a2s_worker",
                "anyio_bridge `async_to_sync(async_noop)()` (in its `sync_to_async`)",
                BOTH,
                _bridge_a2s_worker,
            ),
            WorkerCase(
                "asgiref_a2s_worker",
                "asgiref `async_to_sync(async_noop)()` (in its `sync_to_async`)",
                ASYNCIO_ONLY,
                _asgiref_a2s_worker,
            ),
            WorkerCase(
                "asyncer_syncify_worker",
                "asyncer `syncify(async_noop)()` (in `asyncify`)",
                BOTH,
                _asyncer_syncify_worker,
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
                _raw_anyio_run(ASYNCIO),
            ),
            TopLevelCase(
                "raw_anyio_run",
                "reference: `anyio.run(async_noop, backend=...)`",
                TRIO,
                _raw_anyio_run(TRIO),
            ),
            TopLevelCase(
                "asgiref_a2s_top",
                "asgiref `async_to_sync(async_noop)()`",
                ASYNCIO,
                _asgiref_a2s_top,
            ),
            TopLevelCase(
                "bridge_a2s_top",
                BRIDGE_TOP_LABEL,
                ASYNCIO,
                _bridge_a2s_top_default,
            ),
            TopLevelCase(
                "bridge_a2s_top",
                BRIDGE_TOP_LABEL,
                TRIO,
                _bridge_a2s_top_trio,
            ),
        ),
    ),
)


@dataclass(frozen=True)
class Target:
    name: str
    numerator: str
    denominator: str
    #: PASS when ratio <= limit; None for informational ratios
    limit: float | None
    backends: tuple[str, ...]
    #: backend of the denominator row if it differs (asgiref only runs on asyncio)
    denominator_backend: str | None = None
    #: what an informational ratio (no limit) is expected to be, if anything
    expected: str = "—"


TARGETS: tuple[Target, ...] = (
    Target(
        "noise control: raw to_thread / the same call again",
        "raw_to_thread_control",
        "raw_to_thread",
        None,
        BOTH,
        expected="≈ 1",
    ),
    Target(
        "thread-sensitive sync_to_async / raw to_thread",
        "bridge_s2a_ts",
        "raw_to_thread",
        0.9,
        BOTH,
    ),
    Target(
        "thread-sensitive sync_to_async / asgiref thread-sensitive",
        "bridge_s2a_ts",
        "asgiref_s2a_ts",
        0.7,
        ASYNCIO_ONLY,
    ),
    Target(
        "reference: bare dedicated thread / asgiref thread-sensitive",
        "bare_thread",
        "asgiref_s2a_ts",
        None,
        ASYNCIO_ONLY,
    ),
    Target(
        "reference: bare dedicated thread / raw to_thread",
        "bare_thread",
        "raw_to_thread",
        None,
        BOTH,
    ),
    Target(
        "sync_to_async(thread_sensitive=False) / raw to_thread",
        "bridge_s2a_nts",
        "raw_to_thread",
        1.1,
        BOTH,
    ),
    Target(
        "async_to_sync from worker / raw from_thread.run",
        "bridge_a2s_worker",
        "raw_from_thread",
        1.1,
        BOTH,
    ),
    Target(
        "top-level async_to_sync / asgiref top-level",
        "bridge_a2s_top",
        "asgiref_a2s_top",
        0.2,
        BOTH,
        denominator_backend=ASYNCIO,
    ),
)


# ---------------------------------------------------------------------- measuring


#: Seconds the interpreter gets to exit once the report is written.
EXIT_GRACE_S = 10.0
#: Warm-up calls per row in the rounds after the first.
REWARMUP = 20


@dataclass(frozen=True)
class Settings:
    calls: int
    warmup: int
    rounds: int
    row_budget_s: float

    @property
    def calls_per_round(self) -> int:
        return max(1, math.ceil(self.calls / self.rounds))

    def warmup_for(self, round_no: int) -> int:
        # Every round runs on a fresh event loop (new worker threads), so it
        # needs a few calls of warm-up; the full warm-up is done once.
        return self.warmup if round_no == 0 else min(self.warmup, REWARMUP)


class Placement:
    """Where the benchmark's threads may run (see benchmarks/README.md).

    * ``free``: wherever the OS scheduler puts them.
    * ``one-cpu``: every thread on one CPU: the cost of the work each bridge
      does, with no cross-CPU wake-ups.
    * ``two-cpus``: the main thread (event loop, or top-level caller) on one
      CPU, every other thread on another, so that every hand-off crosses CPUs.

    In a virtual machine a wake-up across CPUs costs tens of µs more than one
    on the same CPU, and with ``free`` which rows get which is left to chance.
    Pinning is re-applied after each row's warm-up, so threads a row started
    are placed too.
    """

    NAMES = ("free", "one-cpu", "two-cpus")

    def __init__(self, name: str) -> None:
        self.name = name
        self.cpus: tuple[int, ...] = ()
        self.all_cpus: set[int] = set()
        if name != "free":
            self.all_cpus = os.sched_getaffinity(0)
            available = sorted(self.all_cpus)
            self.cpus = (available[0], available[-1])

    def apply(self, *, top_level: bool = False) -> None:
        """Pin every thread of the process as this placement says.

        Top-level rows under ``two-cpus`` are left free instead: a thread
        inherits the CPUs of the thread that starts it, so asgiref's
        thread-per-call would share the caller's CPU while persistent threads
        would not, which would compare unlike with unlike.
        """
        if not self.cpus:
            return
        main = threading.main_thread().native_id
        first, other = self.cpus
        for name in os.listdir("/proc/self/task"):
            tid = int(name)
            if self.name == "one-cpu":
                cpus = {first}
            elif top_level:
                cpus = self.all_cpus
            else:
                cpus = {first if tid == main else other}
            with contextlib.suppress(OSError):  # the thread has just ended
                os.sched_setaffinity(tid, cpus)


PLACEMENT = Placement("free")


@dataclass
class Row:
    key: str
    label: str
    section: str
    backend: str
    samples_ns: list[int] = field(default_factory=list)
    #: round number -> median of that round's samples, in ns
    round_medians_ns: dict[int, float] = field(default_factory=dict)
    error: str | None = None
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.samples_ns)

    def median_us(self) -> float:
        return statistics.median(self.samples_ns) / 1000

    def p90_us(self) -> float:
        ordered = sorted(self.samples_ns)
        return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)] / 1000


def _describe(exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


class Results:
    """All rows, keyed by (case key, backend); filled in round by round."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Row] = {}
        self.current: Row | None = None
        self.lock = threading.Lock()

    def row(self, section: str, case: Case, backend: str) -> Row:
        with self.lock:
            row = self.rows.get((case.key, backend))
            if row is None:
                row = Row(case.key, case.label, section, backend)
                self.rows[case.key, backend] = row
            return row

    def get(self, key: str, backend: str) -> Row | None:
        return self.rows.get((key, backend))


async def _time_async(
    call: AsyncCall, n: int, warmup: int, deadline_ns: int
) -> Timings:
    clock = time.perf_counter_ns
    for _ in range(warmup):
        await call()
        if clock() > deadline_ns:
            break
    PLACEMENT.apply()
    samples: list[int] = []
    append = samples.append
    for _ in range(n):
        start = clock()
        await call()
        end = clock()
        append(end - start)
        if end > deadline_ns:
            return samples, len(samples) < n
    return samples, False


def _time_sync(
    call: SyncCall, n: int, warmup: int, deadline_ns: int, *, top_level: bool = False
) -> Timings:
    clock = time.perf_counter_ns
    for _ in range(warmup):
        call()
        if clock() > deadline_ns:
            break
    PLACEMENT.apply(top_level=top_level)
    samples: list[int] = []
    append = samples.append
    for _ in range(n):
        start = clock()
        call()
        end = clock()
        append(end - start)
        if end > deadline_ns:
            return samples, len(samples) < n
    return samples, False


class _GcPaused:
    """Collect before a row and keep the collector out of the timings."""

    def __enter__(self) -> None:
        gc.collect()
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc_info: object) -> None:
        if self.was_enabled:
            gc.enable()


def _record(row: Row, round_no: int, samples: list[int], truncated: bool) -> None:
    row.samples_ns.extend(samples)
    if samples:
        row.round_medians_ns[round_no] = statistics.median(samples)
    row.truncated = row.truncated or truncated


async def _run_loop_cases(
    cases: Sequence[tuple[str, LoopCase | WorkerCase]],
    backend: str,
    round_no: int,
    settings: Settings,
    results: Results,
) -> None:
    running = sniffio.current_async_library()
    if running != backend:
        raise RuntimeError(f"expected to run on {backend}, running on {running}")
    n, warmup = settings.calls_per_round, settings.warmup_for(round_no)
    budget_s = settings.row_budget_s / settings.rounds
    for section, case in cases:
        row = results.row(section, case, backend)
        if row.error is not None:
            continue
        results.current = row
        deadline_ns = time.perf_counter_ns() + int(budget_s * 1e9)
        try:
            with _GcPaused(), anyio.fail_after(budget_s * 2 + 5):
                if isinstance(case, LoopCase):
                    samples, truncated = await _time_async(
                        case.make(), n, warmup, deadline_ns
                    )
                else:
                    hop, call = case.make()
                    loop = functools.partial(_time_sync, call, n, warmup, deadline_ns)
                    samples, truncated = await hop(loop)
        except Exception as exc:
            row.error = _describe(exc)
        else:
            _record(row, round_no, samples, truncated)


def _run_top_level_case(
    section: str,
    case: TopLevelCase,
    round_no: int,
    settings: Settings,
    results: Results,
) -> None:
    row = results.row(section, case, case.backend)
    if row.error is not None:
        return
    results.current = row
    budget_s = settings.row_budget_s / settings.rounds
    deadline_ns = time.perf_counter_ns() + int(budget_s * 1e9)
    try:
        with _GcPaused():
            samples, truncated = _time_sync(
                case.make(),
                settings.calls_per_round,
                settings.warmup_for(round_no),
                deadline_ns,
                top_level=True,
            )
    except Exception as exc:
        row.error = _describe(exc)
    else:
        _record(row, round_no, samples, truncated)


def available_backends() -> tuple[str, ...]:
    try:
        importlib.import_module("trio")
    except ImportError:
        return (ASYNCIO,)
    return BOTH


def run_benchmarks(
    settings: Settings, backends: tuple[str, ...], results: Results
) -> None:
    loop_cases: list[tuple[str, LoopCase | WorkerCase]] = []
    top_cases: list[tuple[str, TopLevelCase]] = []
    for title, cases in SECTIONS:
        for case in cases:
            if isinstance(case, TopLevelCase):
                if case.backend in backends:
                    top_cases.append((title, case))
                    results.row(title, case, case.backend)
            else:
                loop_cases.append((title, case))
                for backend in case.backends:
                    if backend in backends:
                        results.row(title, case, backend)

    for round_no in range(settings.rounds):
        # Alternate the order so slow drift on a noisy machine hits all rows.
        step = 1 if round_no % 2 == 0 else -1
        print(f"round {round_no + 1}/{settings.rounds}", file=sys.stderr, flush=True)
        for backend in backends[::step]:
            runnable = [(t, c) for t, c in loop_cases if backend in c.backends]
            try:
                anyio.run(
                    _run_loop_cases,
                    runnable[::step],
                    backend,
                    round_no,
                    settings,
                    results,
                    backend=backend,
                )
            except Exception as exc:  # the event loop itself failed
                for title, loop_case in runnable:
                    row = results.row(title, loop_case, backend)
                    row.error = row.error or _describe(exc)
        for title, top_case in top_cases[::step]:
            _run_top_level_case(title, top_case, round_no, settings, results)
    results.current = None


# ---------------------------------------------------------------------- reporting


def environment(settings: Settings, argv: Sequence[str]) -> dict[str, Any]:
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": {
            "anyio": version("anyio"),
            "trio": version("trio"),
            "asgiref": version("asgiref"),
            "asyncer": version("asyncer"),
            "anyio_bridge": bridge_version(),
        },
        "calls_per_row": settings.calls_per_round * settings.rounds,
        "rounds": settings.rounds,
        "warmup": settings.warmup,
        "rewarmup_per_round": settings.warmup_for(1),
        "command": " ".join(["python", *argv]),
        "placement": PLACEMENT.name,
        "placement_cpus": list(PLACEMENT.cpus),
    }


@dataclass(frozen=True)
class TargetResult:
    target: Target
    backend: str
    #: median over rounds of the per-round ratio of medians
    ratio: float | None = None
    #: interquartile range of the per-round ratios
    spread: tuple[float, float] | None = None
    #: ratio of the medians of all samples pooled together
    pooled: float | None = None
    #: "numerator / denominator µs" medians, or why there is no ratio
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.ratio is None:
            return "n/a"
        if self.target.limit is None:
            return "info"
        return "PASS" if self.ratio <= self.target.limit else "FAIL"


def evaluate(target: Target, backend: str, results: Results) -> TargetResult:
    num = results.get(target.numerator, backend)
    den = results.get(target.denominator, target.denominator_backend or backend)
    if num is None or den is None or not num.ok or not den.ok:
        problems = [
            f"{key} {'not measured' if row is None else 'errored'}"
            for key, row in ((target.numerator, num), (target.denominator, den))
            if row is None or not row.ok
        ]
        return TargetResult(target, backend, note=", ".join(problems))
    # Rows of one round ran within a second of each other, on the same event
    # loop and worker threads: comparing round by round cancels slow drift.
    ratios = [
        median / den.round_medians_ns[round_no]
        for round_no, median in num.round_medians_ns.items()
        if round_no in den.round_medians_ns
    ]
    pooled = num.median_us() / den.median_us()
    note = f"{num.median_us():.1f} / {den.median_us():.1f} µs"
    if not ratios:
        return TargetResult(target, backend, pooled, None, pooled, note)
    return TargetResult(
        target, backend, statistics.median(ratios), quartiles(ratios), pooled, note
    )


def evaluate_targets(results: Results, backends: tuple[str, ...]) -> list[TargetResult]:
    return [
        evaluate(target, backend, results)
        for target in TARGETS
        for backend in target.backends
        if backend in backends
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _row_cells(row: Row | None) -> tuple[str, str]:
    if row is None:
        return "—", "—"
    if row.error is not None:
        return _cell(f"error: {row.error}"), "—"
    if not row.samples_ns:
        return "not run", "—"
    median = f"{row.median_us():.1f}"
    if row.truncated:
        median += f" (n={len(row.samples_ns)})"
    return median, f"{row.p90_us():.1f}"


def _placement_text(env: dict[str, Any]) -> str:
    cpus = env["placement_cpus"]
    if env["placement"] == "one-cpu":
        return f"`one-cpu`: every thread pinned to CPU {cpus[0]}"
    if env["placement"] == "two-cpus":
        return (
            f"`two-cpus`: the main thread (event loop, top-level caller) on CPU "
            f"{cpus[0]}, every other thread on CPU {cpus[1]} (top-level rows: "
            "free, see benchmarks/README.md)"
        )
    return "`free`: left to the OS scheduler"


def render_markdown(
    env: dict[str, Any],
    results: Results,
    targets: list[TargetResult],
    backends: tuple[str, ...],
    aborted: str | None = None,
) -> str:
    versions = env["versions"]
    lines = [
        "# anyio_bridge sync bridge benchmark",
        "",
        f"- date: {env['date']}",
        f"- python: {env['python']} on {env['platform']} ({env['cpus']} CPUs)",
        "- versions: "
        + ", ".join(f"{name} {version}" for name, version in versions.items()),
        f"- calls per row: {env['calls_per_row']}, interleaved over {env['rounds']} "
        f"rounds (warm-up: {env['warmup']} calls, then "
        f"{env['rewarmup_per_round']} per later round)",
        f"- command: `{env['command']}`",
        f"- thread placement: {_placement_text(env)}",
        "",
        "Per-call cost in µs (median / 90th percentile). Absolute numbers are "
        "machine-dependent; compare ratios within this run only.",
        "",
    ]
    if aborted:
        lines += [f"**Run aborted: {aborted}. Results below are partial.**", ""]

    header = ["Case"]
    for backend in backends:
        header += [f"{backend} median", f"{backend} p90"]
    sep = ["---"] + ["---:"] * (2 * len(backends))
    for title, cases in SECTIONS:
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |"]
        lines.append("| " + " | ".join(sep) + " |")
        seen: set[str] = set()
        for case in cases:
            if case.key in seen:
                continue
            seen.add(case.key)
            cells = [_cell(case.label)]
            for backend in backends:
                cells += _row_cells(results.get(case.key, backend))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")

    lines += [
        "## Targets",
        "",
        "Ratio = median over rounds of (numerator median / denominator median in "
        "that round); IQR is the interquartile range of those per-round ratios. "
        "PASS when ratio <= target. The reference lines show the floor: a bare "
        "dedicated thread that does nothing but hand over a call. The "
        "noise-control line compares two identical "
        "rows: its distance from 1.00 shows how noisy this run was.",
        "",
        "| Target | Backend | Ratio | Rounds IQR | Target | Result | Medians |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for result in targets:
        ratio = "—" if result.ratio is None else f"{result.ratio:.3f}"
        spread = (
            "—" if result.spread is None else "{:.2f}..{:.2f}".format(*result.spread)
        )
        target = result.target
        limit = target.expected if target.limit is None else f"<= {target.limit:g}"
        lines.append(
            f"| {_cell(result.target.name)} | {result.backend} | {ratio} | {spread} "
            f"| {limit} | {result.verdict} | {_cell(result.note)} |"
        )
    lines.append("")
    return "\n".join(lines)


def render_json(
    env: dict[str, Any],
    results: Results,
    targets: list[TargetResult],
    aborted: str | None = None,
) -> str:
    rows = []
    for row in list(results.rows.values()):
        item: dict[str, Any] = {
            "section": row.section,
            "key": row.key,
            "label": row.label,
            "backend": row.backend,
            "calls": len(row.samples_ns),
            "error": row.error,
        }
        if row.ok:
            item |= {
                "median_us": round(row.median_us(), 3),
                "p90_us": round(row.p90_us(), 3),
                "mean_us": round(statistics.fmean(row.samples_ns) / 1000, 3),
                "min_us": round(min(row.samples_ns) / 1000, 3),
                "truncated": row.truncated,
                "round_medians_us": [
                    round(m / 1000, 3) for m in row.round_medians_ns.values()
                ],
            }
        rows.append(item)
    document = {
        "environment": env,
        "aborted": aborted,
        "rows": rows,
        "targets": [
            {
                "name": r.target.name,
                "numerator": r.target.numerator,
                "denominator": r.target.denominator,
                "backend": r.backend,
                "ratio": None if r.ratio is None else round(r.ratio, 4),
                "rounds_iqr": None
                if r.spread is None
                else [round(value, 4) for value in r.spread],
                "pooled_ratio": None if r.pooled is None else round(r.pooled, 4),
                "limit": r.target.limit,
                "result": r.verdict,
                "note": r.note,
            }
            for r in targets
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_report(
    output: Path,
    env: dict[str, Any],
    results: Results,
    backends: tuple[str, ...],
    aborted: str | None = None,
) -> str:
    targets = evaluate_targets(results, backends)
    markdown = render_markdown(env, results, targets, backends, aborted)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown, encoding="utf-8")
    output.with_suffix(".json").write_text(
        render_json(env, results, targets, aborted), encoding="utf-8"
    )
    return markdown


# ---------------------------------------------------------------------- main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument(
        "--quick", action="store_true", help="300 calls per row, 50 warm-up calls"
    )
    parser.add_argument(
        "--calls", type=int, help="timed calls per row (default 3000, --quick 300)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        help=f"warm-up calls per row (default 200, --quick 50); "
        f"later rounds re-warm with {REWARMUP}",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=10,
        help="split each row's calls over this many interleaved rounds (default 10)",
    )
    parser.add_argument(
        "--row-budget",
        type=float,
        default=10.0,
        help="seconds one row may take in all before it is cut short (default 10)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="abort the whole run, keeping partial results, after this many seconds",
    )
    parser.add_argument(
        "--placement",
        choices=Placement.NAMES,
        default="free",
        help="pin threads: free (default), one-cpu, or two-cpus (loop on one "
        "CPU, other threads on another); Linux only",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="Markdown report path; the JSON twin goes next to it (default "
        f"{DEFAULT_OUTPUT.relative_to(REPO_ROOT)}, or sync-PLACEMENT.md when "
        "pinned)",
    )
    args = parser.parse_args(argv)
    if args.output is None:
        args.output = (
            DEFAULT_OUTPUT
            if args.placement == "free"
            else DEFAULT_OUTPUT.with_name(f"sync-{args.placement}.md")
        )
    if args.placement != "free":
        if not hasattr(os, "sched_setaffinity") or not os.path.isdir("/proc/self/task"):
            parser.error("--placement needs Linux (sched_setaffinity, /proc)")
        if args.placement == "two-cpus" and len(os.sched_getaffinity(0)) < 2:
            parser.error("--placement two-cpus needs two CPUs")
    if args.calls is None:
        args.calls = 300 if args.quick else 3000
    if args.warmup is None:
        args.warmup = 50 if args.quick else 200
    if args.calls < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--calls and --rounds must be >= 1, --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    global PLACEMENT
    PLACEMENT = Placement(args.placement)
    PLACEMENT.apply()
    settings = Settings(
        calls=args.calls,
        warmup=args.warmup,
        rounds=min(args.rounds, args.calls),
        row_budget_s=args.row_budget,
    )
    backends = available_backends()
    env = environment(settings, [sys.argv[0], *argv])
    results = Results()
    output: Path = args.output

    def abort_run() -> None:
        row = results.current
        where = "?" if row is None else f"{row.label} [{row.backend}]"
        reason = f"timed out after {args.timeout:g} s in {where}"
        if row is not None and row.error is None:
            row.error = "hung: run timed out here"
        print(f"bench_sync: {reason}", file=sys.stderr)
        print(write_report(output, env, results, backends, aborted=reason))

    def exit_hung() -> None:
        names = [t.name for t in threading.enumerate() if not t.daemon]
        print(
            f"bench_sync: interpreter did not exit; non-daemon threads: {names}",
            file=sys.stderr,
        )

    watchdog = Watchdog(args.timeout, abort_run)
    started = time.perf_counter()
    run_benchmarks(settings, backends, results)
    elapsed = time.perf_counter() - started
    env["elapsed_s"] = round(elapsed, 1)
    markdown = write_report(output, env, results, backends)
    # Everything is written; don't let a stuck non-daemon thread hang exit.
    watchdog.reset(EXIT_GRACE_S, exit_hung)
    print(markdown)
    print(
        f"wrote {output} and {output.with_suffix('.json').name} in {elapsed:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
