"""Helpers shared by the benchmark scripts (run them as ``python benchmarks/...``)."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable


class Watchdog:
    """Ends the process if the run (or interpreter exit) hangs.

    Code under development can deadlock in a way no cancel scope reaches (a
    thread blocked forever); instead of hanging, report what we have.
    """

    def __init__(self, seconds: float, on_expire: Callable[[], None]) -> None:
        self._deadline = time.monotonic() + seconds
        self._on_expire = on_expire
        self._changed = threading.Condition()
        threading.Thread(target=self._watch, name="bench-watchdog", daemon=True).start()

    def reset(self, seconds: float, on_expire: Callable[[], None]) -> None:
        with self._changed:
            self._deadline = time.monotonic() + seconds
            self._on_expire = on_expire
            self._changed.notify()

    def _watch(self) -> None:
        with self._changed:
            while (left := self._deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            on_expire = self._on_expire
        try:
            on_expire()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)


def bridge_version() -> str:
    try:
        module = importlib.import_module("anyio_bridge._version")
    except Exception as exc:
        return f"unavailable ({type(exc).__name__}: {exc})"
    return str(getattr(module, "__version__", "unknown"))


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
