"""Where the benchmark's threads may run: ``--placement``."""

from __future__ import annotations

import contextlib
import os
import threading


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
