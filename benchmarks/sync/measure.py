"""Timing the rows: settings, the samples kept, and the interleaved rounds.

Each round runs every row once: the loop and worker rows inside a fresh
``anyio.run`` per backend, then the top-level rows from plain sync code.
Every other round runs them in reverse order, so slow drift on a noisy
machine hits all rows alike.  A row that cannot be built or whose call
raises keeps its error and is skipped from then on.
"""

from __future__ import annotations

import functools
import gc
import math
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
import sniffio

from ..report import describe
from .calls import AsyncCall, SyncCall, Timings
from .placement import Placement
from .rows import SECTIONS, Case, LoopCase, TopLevelCase, WorkerCase

#: Warm-up calls per row in the rounds after the first.
REWARMUP = 20


@dataclass(frozen=True)
class Settings:
    calls: int
    warmup: int
    rounds: int
    row_budget_s: float
    placement: Placement

    @property
    def calls_per_round(self) -> int:
        return max(1, math.ceil(self.calls / self.rounds))

    def warmup_for(self, round_no: int) -> int:
        # Every round runs on a fresh event loop (new worker threads), so it
        # needs a few calls of warm-up; the full warm-up is done once.
        return self.warmup if round_no == 0 else min(self.warmup, REWARMUP)


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
    call: AsyncCall, n: int, warmup: int, deadline_ns: int, placement: Placement
) -> Timings:
    clock = time.perf_counter_ns
    for _ in range(warmup):
        await call()
        if clock() > deadline_ns:
            break
    placement.apply()
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
    call: SyncCall,
    n: int,
    warmup: int,
    deadline_ns: int,
    placement: Placement,
    *,
    top_level: bool = False,
) -> Timings:
    clock = time.perf_counter_ns
    for _ in range(warmup):
        call()
        if clock() > deadline_ns:
            break
    placement.apply(top_level=top_level)
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
    placement = settings.placement
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
                        case.make(), n, warmup, deadline_ns, placement
                    )
                else:
                    hop, call = case.make()
                    loop = functools.partial(
                        _time_sync, call, n, warmup, deadline_ns, placement
                    )
                    samples, truncated = await hop(loop)
        except Exception as exc:
            row.error = describe(exc)
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
                settings.placement,
                top_level=True,
            )
    except Exception as exc:
        row.error = describe(exc)
    else:
        _record(row, round_no, samples, truncated)


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
                    row.error = row.error or describe(exc)
        for title, top_case in top_cases[::step]:
            _run_top_level_case(title, top_case, round_no, settings, results)
    results.current = None
