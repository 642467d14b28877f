"""What a run measures and keeps: settings, metrics, cells and results.

A cell is one metric of one adapter: a value per round, or a status saying
why there is none ("not installed", "error: ...", "timeout ...").  Also
here: the few helpers every scenario uses.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import BENCH_DIR
from ..report import describe
from .apps import CONCURRENCY, SLEEP_S

SCENARIOS = ("throughput", "transfer", "memory", "threads")


def error_status(exc: BaseException) -> str:
    """The status of a cell whose measurement raised *exc*."""
    return f"error: {describe(exc, first_leaf=True)}"


def progress(text: str) -> None:
    print(f"bench_asgi_wsgi: {text}", file=sys.stderr, flush=True)


def child_command(*args: str) -> list[str]:
    """The command line that runs ``bench_asgi_wsgi.py --child ARGS...``."""
    return [sys.executable, str(BENCH_DIR / "bench_asgi_wsgi.py"), "--child", *args]


@dataclass(frozen=True)
class Metric:
    key: str
    scenario: str
    title: str
    unit: str
    higher_is_better: bool
    #: the number as shown in the report
    show: Callable[[float], str]


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _ms(value: float) -> str:
    return f"{value * 1000:,.0f}"


def _mib(value: float) -> str:
    return f"{value:,.1f}"


def _count(value: float) -> str:
    return f"{value:+.0f}"


METRICS: dict[str, Metric] = {
    metric.key: metric
    for metric in (
        Metric(
            "hello",
            "throughput",
            f"Hello world (raw ASGI), {CONCURRENCY} connections",
            "req/s",
            True,
            _rate,
        ),
        Metric(
            "sleep",
            "throughput",
            f"`await anyio.sleep({SLEEP_S:g})`, {CONCURRENCY} connections",
            "req/s",
            True,
            _rate,
        ),
        Metric("upload", "transfer", "Upload", "ms", False, _ms),
        Metric("download", "transfer", "Download", "ms", False, _ms),
        Metric("rss_upload", "memory", "Upload: worker RSS growth", "MiB", False, _mib),
        Metric(
            "rss_download", "memory", "Download: worker RSS growth", "MiB", False, _mib
        ),
        Metric("threads", "threads", "Thread growth", "threads", False, _count),
    )
}


@dataclass
class Cell:
    #: round number -> measured value (req/s, seconds, MiB or threads)
    values: dict[int, float] = field(default_factory=dict)
    #: why there is no value: "not installed", "error: ...", "timeout ..."
    status: str | None = None
    #: extra numbers: per round (latency, errors) or per run (memory, threads)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is None and bool(self.values)

    def median(self) -> float:
        return statistics.median(self.values.values())

    def info_median(self, key: str) -> float | None:
        """The median over rounds of ``info["rounds"][n][key]``, if any."""
        values = [
            item[key]
            for item in self.info.get("rounds", {}).values()
            if item.get(key) is not None
        ]
        return statistics.median(values) if values else None


class Results:
    def __init__(self) -> None:
        self.cells: dict[tuple[str, str], Cell] = {}
        #: (metric, adapter) being measured, for the watchdog
        self.current: tuple[str, str] | None = None

    def cell(self, metric: str, adapter: str) -> Cell:
        key = (metric, adapter)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = Cell()
        return cell

    def get(self, metric: str, adapter: str) -> Cell | None:
        return self.cells.get((metric, adapter))


@dataclass(frozen=True)
class Settings:
    quick: bool
    rounds: int
    #: seconds of each throughput window (whole seconds: wrk's unit)
    duration: int
    #: seconds of the untimed load before a server's first window
    warmup: int
    #: "wrk" or "python": what generates the throughput load
    load_generator: str
    #: what the report says about it (wrk's version line)
    load_generator_text: str
    transfer_size: int
    transfer_timeout: float
    memory_size: int
    memory_timeout: float
    instances: int
    gunicorn_threads: int = CONCURRENCY
    connections: int = CONCURRENCY
