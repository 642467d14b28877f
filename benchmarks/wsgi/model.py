"""What a run measures and keeps: settings, metrics, cells, built adapters.

A cell is one metric of one adapter on one backend: a value per round, or a
status saying why there is none ("n/a", "not installed", "error: ...",
"timeout ...").  Also here: the few helpers every scenario uses.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import BENCH_DIR
from ..report import describe
from .adapters import ADAPTER_BY_KEY, Adapter, NotInstalledError
from .app import (
    HELLO_CONCURRENCY,
    LOOPBACK_CONCURRENCY,
    SLEEP_CONCURRENCY,
    SLEEP_S,
    ASGIApp,
    bench_app,
)

SCENARIOS = ("hello", "sleep", "transfer", "loopback", "memory")


def error_status(exc: BaseException) -> str:
    """The status of a cell whose measurement raised *exc*."""
    return f"error: {describe(exc, first_leaf=True)}"


def progress(text: str) -> None:
    print(f"bench_wsgi: {text}", file=sys.stderr, flush=True)


def child_command(*args: str) -> list[str]:
    """The command line that runs ``bench_wsgi.py --child ARGS...``."""
    return [sys.executable, str(BENCH_DIR / "bench_wsgi.py"), "--child", *args]


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
    return f"{value * 1000:,.1f}"


def _mib(value: float) -> str:
    return f"{value:,.1f}"


METRICS: dict[str, Metric] = {
    metric.key: metric
    for metric in (
        Metric(
            "hello",
            "hello",
            f"Hello world, {HELLO_CONCURRENCY} concurrent, in-process",
            "req/s",
            True,
            _rate,
        ),
        Metric(
            "sleep",
            "sleep",
            f"App blocking {SLEEP_S * 1000:g} ms, {SLEEP_CONCURRENCY} concurrent, "
            "in-process",
            "req/s",
            True,
            _rate,
        ),
        Metric("download", "transfer", "Download, in-process", "ms", False, _ms),
        Metric("upload", "transfer", "Upload, in-process", "ms", False, _ms),
        Metric(
            "loopback",
            "loopback",
            "Hello world over loopback through hypercorn, "
            f"{LOOPBACK_CONCURRENCY} keep-alive connections",
            "req/s",
            True,
            _rate,
        ),
        Metric("mem_upload", "memory", "Upload, fresh process", "MiB", False, _mib),
        Metric("mem_download", "memory", "Download, fresh process", "MiB", False, _mib),
    )
}


@dataclass
class Cell:
    #: round number -> measured value (req/s, seconds or MiB)
    values: dict[int, float] = field(default_factory=dict)
    #: why there is no value: "n/a", "not installed", "error: ...", "timeout ..."
    status: str | None = None
    #: extra numbers (memory scenario)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is None and bool(self.values)

    def median(self) -> float:
        return statistics.median(self.values.values())


class Results:
    def __init__(self) -> None:
        self.cells: dict[tuple[str, str, str], Cell] = {}
        #: (metric, adapter, backend) being measured, for the watchdog
        self.current: tuple[str, str, str] | None = None

    def cell(self, metric: str, adapter: str, backend: str) -> Cell:
        key = (metric, adapter, backend)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = Cell()
            if backend not in ADAPTER_BY_KEY[adapter].backends:
                cell.status = "n/a"
        return cell

    def get(self, metric: str, adapter: str, backend: str) -> Cell | None:
        return self.cells.get((metric, adapter, backend))


@dataclass(frozen=True)
class Settings:
    quick: bool
    rounds: int
    duration: float
    transfer_size: int
    transfer_timeout: float
    memory_size: int
    memory_timeout: float
    memory_cap_mib: int


class AppCache:
    """Every adapter is built once per process (a2wsgi owns a thread pool)."""

    def __init__(self) -> None:
        self.apps: dict[str, ASGIApp | str] = {}

    def get(self, adapter: Adapter) -> ASGIApp | str:
        """The ASGI app, or the status its cells get when it cannot be built."""
        if adapter.key not in self.apps:
            try:
                self.apps[adapter.key] = adapter.build(bench_app)
            except NotInstalledError:
                self.apps[adapter.key] = "not installed"
            except Exception as exc:
                self.apps[adapter.key] = error_status(exc)
        return self.apps[adapter.key]

    def for_cell(self, cell: Cell, adapter: Adapter) -> ASGIApp | None:
        """The app to measure *cell* with, or ``None`` if the cell has a status:
        one it had already, or the one an adapter that cannot be built gives."""
        if cell.status is not None:
            return None
        app = self.get(adapter)
        if isinstance(app, str):
            cell.status = app
            return None
        return app
