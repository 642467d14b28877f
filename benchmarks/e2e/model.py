"""What a run measures and keeps: settings, metrics, cells and results.

A cell is one metric of one server: a value per round, or a status saying
why there is none ("not installed (NAME)", "error: ...").
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field
from typing import Any

from ..report import describe
from .apps import CONCURRENCY, SLEEP_S, STREAM_SIZE, THREADS


def error_status(exc: BaseException) -> str:
    """The status of a cell whose measurement raised *exc*."""
    return f"error: {describe(exc, first_leaf=True)}"


def progress(text: str) -> None:
    print(f"bench_e2e: {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Metric:
    key: str
    #: the path wrk requests
    path: str
    title: str
    unit: str
    #: what one request is, for the report
    app: str
    higher_is_better: bool = True


METRICS: dict[str, Metric] = {
    metric.key: metric
    for metric in (
        Metric(
            "hello",
            "/hello",
            f"Hello world, {CONCURRENCY} connections",
            "req/s",
            "Flask view returning `Hello, world!` (WSGI servers); a plain "
            "`async def` sending the same (ASGI servers: their ceiling)",
        ),
        Metric(
            "sleep",
            "/sleep",
            f"Flask view sleeping {SLEEP_S * 1000:g} ms, {CONCURRENCY} connections",
            "req/s",
            f"Flask view calling `time.sleep({SLEEP_S:g})`; {THREADS} threads "
            f"cap it at {THREADS / SLEEP_S:,.0f} req/s",
        ),
        Metric(
            "stream",
            "/stream",
            f"{STREAM_SIZE // (1024 * 1024)} MiB streamed response, "
            f"{CONCURRENCY} connections",
            "req/s",
            "Flask view returning a generator of 16 x 64 KiB chunks, no "
            "`Content-Length` (chunked); 1 req/s = 1 MiB/s",
        ),
    )
}

#: the ceiling of the 20 ms view with THREADS threads, req/s
SLEEP_CEILING = THREADS / SLEEP_S


@dataclass
class Cell:
    #: round number -> req/s measured in that round
    values: dict[int, float] = field(default_factory=dict)
    #: why there is no value: "not installed (NAME)", "error: ..."
    status: str | None = None
    #: per round: requests, latency, CPU, RSS
    rounds: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is None and bool(self.values)

    def median(self) -> float:
        return statistics.median(self.values.values())

    def round_values(self, key: str) -> dict[int, float]:
        return {
            round_no: item[key]
            for round_no, item in self.rounds.items()
            if item.get(key) is not None
        }

    def info_median(self, key: str) -> float | None:
        """The median over rounds of ``rounds[n][key]``, if any."""
        values = list(self.round_values(key).values())
        return statistics.median(values) if values else None


class Results:
    def __init__(self) -> None:
        self.cells: dict[tuple[str, str], Cell] = {}
        #: (metric, server) being measured, for the watchdog
        self.current: tuple[str, str] | None = None
        #: server key -> what the servers run on (versions, parser)
        self.notes: dict[str, str] = {}

    def cell(self, metric: str, server: str) -> Cell:
        key = (metric, server)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = Cell()
        return cell

    def get(self, metric: str, server: str) -> Cell | None:
        return self.cells.get((metric, server))


@dataclass(frozen=True)
class Settings:
    quick: bool
    rounds: int
    #: seconds of each load window (whole seconds: wrk's unit)
    duration: int
    #: seconds of untimed load per server and path before the first round
    warmup: int
    load_generator_text: str
    connections: int = CONCURRENCY
    threads: int = THREADS
