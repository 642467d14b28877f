"""How a benchmark run starts and ends: the watchdog and the final report.

Code under development can deadlock in a way no cancel scope reaches (a
thread blocked forever).  Instead of hanging, a run that takes longer than
``--timeout`` writes the partial report and ends the process; so does an
interpreter that does not exit once the report is written.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Seconds the interpreter gets to exit once the report is written.
EXIT_GRACE_S = 10.0


class Watchdog:
    """Calls *on_expire* and ends the process once *seconds* have passed."""

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


def _nothing() -> None:
    pass


def run(
    name: str,
    benchmark: Callable[[], None],
    *,
    timeout: float,
    write_report: Callable[[str | None], str],
    mark_hung: Callable[[], str],
    env: dict[str, Any],
    output: Path,
    cleanup: Callable[[], None] = _nothing,
) -> int:
    """Run *benchmark* under a watchdog, then write and print the report.

    *write_report* writes the report (with the reason the run was aborted, or
    ``None``) and returns its Markdown.  *mark_hung* marks the measurement in
    progress as hung and says which it is.  *cleanup* runs after the
    benchmark, whether it finished or was aborted.  Returns the exit status:
    always 0, the benchmarks report, they do not gate.
    """

    def abort_run() -> None:
        reason = f"timed out after {timeout:g} s in {mark_hung()}"
        print(f"{name}: {reason}", file=sys.stderr)
        print(write_report(reason))
        cleanup()

    def exit_hung() -> None:
        names = [t.name for t in threading.enumerate() if not t.daemon]
        print(
            f"{name}: interpreter did not exit; non-daemon threads: {names}",
            file=sys.stderr,
        )

    watchdog = Watchdog(timeout, abort_run)
    started = time.perf_counter()
    try:
        benchmark()
    finally:
        cleanup()
    elapsed = time.perf_counter() - started
    env["elapsed_s"] = round(elapsed, 1)
    markdown = write_report(None)
    # Everything is written; don't let a stuck non-daemon thread hang exit.
    watchdog.reset(EXIT_GRACE_S, exit_hung)
    print(markdown)
    print(
        f"wrote {output} and {output.with_suffix('.json').name} in {elapsed:.1f} s",
        file=sys.stderr,
    )
    return 0
