"""The process-wide pool of worker threads.

It runs WSGI requests and ``sync_to_async(..., thread_sensitive=False)`` calls.
Why not :func:`anyio.to_thread.run_sync`: a WSGI request needs to keep talking
to its event loop while the application runs (streamed bodies both ways), so
the request task must be free while the thread works; and a plain call is
cheaper here.  Handing a job to an idle thread is a :class:`queue.SimpleQueue`
put, and the thread reports back by waking the loop natively (see
:mod:`anyio_bridge._backends`); no task group, no extra task.  The threads act
as anyio worker threads of the caller's loop while they run a job
(:class:`~anyio_bridge._backends.ThreadClaim`).

The pool has no limit of its own: callers bound concurrency with an
:class:`anyio.CapacityLimiter` and submit only while holding a token, so the
number of threads never exceeds the tokens held at once.  A thread counts
itself idle *before* it reports a job's end, so a token released on that
report always finds an idle thread for the next job.  Idle threads retire
after :data:`IDLE_TIMEOUT` seconds.  After :func:`os.fork` the child starts
with an empty pool.  Jobs must not raise (``SyncCall.run_in_pool`` stores the
outcome instead); :meth:`WorkerPool.submit` itself raises only what starting a
thread can.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from queue import Empty, SimpleQueue

__all__ = ["IDLE_TIMEOUT", "THREAD_NAME", "WorkerPool", "pool"]

#: Seconds an idle thread waits for work before it exits.
IDLE_TIMEOUT = 10.0
#: Name of every thread of the pool.
THREAD_NAME = "anyio_bridge worker"

#: A job runs the work and returns what to call once the thread is idle again.
Job = Callable[[], Callable[[], object] | None]


class WorkerPool:
    """Threads that run submitted jobs; see the module docstring."""

    def __init__(self, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._jobs: SimpleQueue[Job] = SimpleQueue()
        self._idle = 0  # threads waiting for a job, minus jobs not yet taken
        self.threads: set[threading.Thread] = set()

    def submit(self, job: Job) -> None:
        """Run *job* on an idle thread, or on a new one if none is idle."""
        with self._lock:
            if self._idle:
                self._idle -= 1
                self._jobs.put(job)
                return
            thread = threading.Thread(
                target=self._main, args=(job,), name=THREAD_NAME, daemon=True
            )
            self.threads.add(thread)
        thread.start()

    def _main(self, job: Job) -> None:
        jobs, lock = self._jobs, self._lock
        while True:
            after = job()
            del job
            with lock:
                self._idle += 1
            if after is not None:
                after()
                del after
            while True:
                try:
                    job = jobs.get(timeout=self.idle_timeout)
                    break
                except Empty:
                    with lock:
                        # Retire, unless a job submitted just now counts on us.
                        if jobs.empty():
                            self._idle -= 1
                            self.threads.discard(threading.current_thread())
                            return

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._jobs = SimpleQueue()
        self._idle = 0
        self.threads = set()


pool = WorkerPool()
os.register_at_fork(after_in_child=pool.after_fork_in_child)
