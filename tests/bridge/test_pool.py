"""The worker pool that runs WSGI requests and ``thread_sensitive=False`` calls.

Private imports throughout: the pool is internal and has no public door
(``anyio_bridge._bridge.pool``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.anyio

WAIT = 10  # seconds: a generous bound for events that must happen


def test_pool_threads_retire_when_idle() -> None:
    from anyio_bridge._bridge.pool import WorkerPool

    pool = WorkerPool(idle_timeout=0.01)
    ran = threading.Event()
    after = threading.Event()

    def job() -> Callable[[], object]:
        ran.set()
        return after.set

    pool.submit(job)
    assert ran.wait(WAIT)
    assert after.wait(WAIT)
    (thread,) = pool.threads
    thread.join(WAIT)
    assert not thread.is_alive()
    assert pool.threads == set()
    # A retired pool starts a new thread for the next job.
    second = threading.Event()
    pool.submit(lambda: second.set())  # type: ignore[func-returns-value]
    assert second.wait(WAIT)
    for thread in list(pool.threads):
        thread.join(WAIT)


def test_pool_reuses_an_idle_thread() -> None:
    from anyio_bridge._bridge.pool import WorkerPool

    pool = WorkerPool(idle_timeout=WAIT)
    idle = threading.Event()
    names: list[threading.Thread] = []

    def job() -> Callable[[], object]:
        names.append(threading.current_thread())
        return idle.set

    pool.submit(job)
    assert idle.wait(WAIT)
    idle.clear()
    pool.submit(job)
    assert idle.wait(WAIT)
    assert names[0] is names[1]
    pool.idle_timeout = 0.01
    pool.submit(lambda: None)  # wakes it; it then retires quickly
    for thread in list(pool.threads):
        thread.join(WAIT)
        assert not thread.is_alive()


def test_pool_thread_takes_a_job_submitted_as_it_retires() -> None:
    """A job queued for an idle thread is never stranded by its retirement."""
    from queue import Empty

    from anyio_bridge._bridge.pool import WorkerPool

    pool = WorkerPool(idle_timeout=WAIT)
    done = threading.Event()

    class Jobs:
        """A queue whose first wait times out although a job is there."""

        def __init__(self) -> None:
            self.items: list[Any] = []
            self.timed_out = False

        def put(self, job: Any) -> None:
            self.items.append(job)

        def empty(self) -> bool:
            return not self.items

        def get(self, timeout: float) -> Any:
            if not self.timed_out:
                self.timed_out = True
                pool._idle -= 1  # as submit() does, then the "race"
                self.items.append(lambda: done.set())
                raise Empty
            if self.items:
                return self.items.pop(0)
            raise Empty  # idle: the thread retires now

    pool._jobs = Jobs()  # type: ignore[assignment]
    pool.submit(lambda: None)
    assert done.wait(WAIT)
    for thread in list(pool.threads):
        thread.join(WAIT)
        assert not thread.is_alive()


def test_pool_forgets_its_threads_after_fork() -> None:
    from anyio_bridge._bridge.pool import WorkerPool

    pool = WorkerPool()
    pool._idle = 3
    pool.threads.add(threading.current_thread())
    pool.after_fork_in_child()
    assert pool._idle == 0
    assert pool.threads == set()
