"""Tests for anyio_bridge.current_thread_executor.CurrentThreadExecutor."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future
from contextlib import contextmanager

import pytest

from anyio_bridge.current_thread_executor import CurrentThreadExecutor


@contextmanager
def running(target: Callable[[], None]) -> Iterator[list[BaseException]]:
    """Run *target* in a thread for the duration of the block, then join it.

    Yields a list that receives whatever *target* raised, checked on exit.
    """
    errors: list[BaseException] = []

    def main() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=main, name="ctx-test submitter")
    thread.start()
    try:
        yield errors
    finally:
        thread.join()


def test_submitted_work_runs_on_owner_thread() -> None:
    executor = CurrentThreadExecutor()
    owner = threading.get_ident()
    done: Future[None] = Future()
    results: list[object] = []

    def submitter() -> None:
        try:
            future = executor.submit(threading.get_ident)
            results.append(future.result())
            results.append(executor.submit(lambda a, *, b: a + b, 1, b=2).result())
        finally:
            done.set_result(None)

    with running(submitter) as errors:
        assert not executor.finished
        executor.run_until_future(done)
    assert not errors
    assert results == [owner, 3]
    assert executor.finished


def test_exceptions_travel_through_the_future() -> None:
    executor = CurrentThreadExecutor()
    done: Future[None] = Future()
    caught: list[BaseException | None] = []

    class Boom(Exception):
        pass

    def fail() -> None:
        raise Boom("on the owner thread")

    def interrupt() -> None:
        raise KeyboardInterrupt

    def submitter() -> None:
        try:
            caught.append(executor.submit(fail).exception())
            future = executor.submit(interrupt)
            with pytest.raises(KeyboardInterrupt):
                future.result()
            caught.append(future.exception())
        finally:
            done.set_result(None)

    with running(submitter) as errors:
        executor.run_until_future(done)
    assert not errors
    assert isinstance(caught[0], Boom)
    assert str(caught[0]) == "on the owner thread"
    assert isinstance(caught[1], KeyboardInterrupt)


def test_submit_from_owner_thread_raises() -> None:
    executor = CurrentThreadExecutor()
    with pytest.raises(RuntimeError, match="its own thread"):
        executor.submit(print)
    assert not executor.finished


def test_submit_after_finish_raises() -> None:
    executor = CurrentThreadExecutor()
    done: Future[None] = Future()
    done.set_result(None)
    executor.run_until_future(done)
    assert executor.finished

    def submitter() -> None:
        with pytest.raises(RuntimeError, match="already quit"):
            executor.submit(print)
        assert executor.enqueue(_Item()) is False

    with running(submitter) as errors:
        pass
    assert not errors


def test_run_until_future_from_other_thread_raises() -> None:
    executor = CurrentThreadExecutor()
    done: Future[None] = Future()

    def intruder() -> None:
        with pytest.raises(RuntimeError, match="executor's own thread"):
            executor.run_until_future(done)

    with running(intruder) as errors:
        pass
    assert not errors
    assert not executor.finished
    done.set_result(None)
    executor.run_until_future(done)  # the owner still can
    assert executor.finished


def test_run_until_future_twice_raises() -> None:
    executor = CurrentThreadExecutor()
    done: Future[None] = Future()
    done.set_result(None)
    executor.run_until_future(done)
    with pytest.raises(RuntimeError, match="already finished"):
        executor.run_until_future(done)
    with pytest.raises(RuntimeError, match="already finished"):
        executor.serve()


def test_work_submitted_after_done_before_finish_still_runs() -> None:
    executor = CurrentThreadExecutor()
    owner = threading.get_ident()
    done: Future[None] = Future()
    release = threading.Event()
    late: list[Future[int]] = []

    def submitter() -> None:
        try:
            # Keep the owner busy so that it cannot see the done future yet ...
            blocker = executor.submit(release.wait)
            done.set_result(None)
            # ... then queue more work behind the stop marker, and release it.
            late.append(executor.submit(threading.get_ident))
            assert not executor.finished
        finally:
            release.set()
            if not done.done():  # pragma: no cover - only on failure
                done.set_result(None)
        assert blocker.result() is True

    with running(submitter) as errors:
        executor.run_until_future(done)
    assert not errors
    assert executor.finished
    assert late[0].done()
    assert late[0].result() == owner


def test_extra_stop_markers_are_ignored() -> None:
    executor = CurrentThreadExecutor()
    executor.stop()
    executor.stop()
    assert executor.serve() is True
    assert executor.finished


def test_stop_before_serve_with_alive() -> None:
    executor = CurrentThreadExecutor()
    executor.stop()
    assert executor.serve(alive=lambda: False, poll_interval=0.01) is True
    assert executor.finished


def test_serve_runs_work_while_alive() -> None:
    executor = CurrentThreadExecutor()
    owner = threading.get_ident()
    results: list[int] = []

    def submitter() -> None:
        try:
            results.append(executor.submit(threading.get_ident).result())
        finally:
            executor.stop()

    with running(submitter) as errors:
        assert executor.serve(alive=lambda: True, poll_interval=0.01) is True
    assert not errors
    assert results == [owner]


def test_serve_returns_false_when_not_alive() -> None:
    executor = CurrentThreadExecutor()
    polls: list[bool] = []

    def alive() -> bool:
        # Alive at the first idle poll, dead at the second.
        polls.append(not polls)
        return polls[-1]

    assert executor.serve(alive=alive, poll_interval=0.01) is False
    assert polls == [True, False]
    assert executor.finished


def test_serve_not_alive_still_runs_queued_work() -> None:
    """Work that slips in after the last poll but before finishing still runs."""
    executor = CurrentThreadExecutor()
    ran: list[bool] = []
    queued = threading.Event()

    def alive() -> bool:
        # Queue an item from another thread, then report the loop as dead.
        def submitter() -> None:
            executor.enqueue(_Item(ran))
            queued.set()

        with running(submitter):
            queued.wait()
        return False

    assert executor.serve(alive=alive, poll_interval=0.01) is False
    assert ran == [True]


def test_cancelled_future_item_is_skipped() -> None:
    executor = CurrentThreadExecutor()
    done: Future[None] = Future()
    release = threading.Event()
    ran: list[str] = []
    outcome: list[bool] = []

    def submitter() -> None:
        try:
            executor.submit(release.wait)
            victim = executor.submit(ran.append, "victim")
            outcome.append(victim.cancel())
            after = executor.submit(ran.append, "after")
            release.set()
            after.result()
            outcome.append(victim.cancelled())
            with pytest.raises(CancelledError):
                victim.result()
        finally:
            done.set_result(None)

    with running(submitter) as errors:
        executor.run_until_future(done)
    assert not errors
    assert outcome == [True, True]
    assert ran == ["after"]


def test_old_executor_is_accepted() -> None:
    outer = CurrentThreadExecutor()
    inner = CurrentThreadExecutor(old_executor=outer)
    done: Future[None] = Future()
    done.set_result(None)
    inner.run_until_future(done)
    assert inner.finished
    assert not outer.finished


def test_executor_context_manager_shutdown() -> None:
    """The Executor API: shutdown() on an executor nobody serves returns."""
    with CurrentThreadExecutor() as executor:
        assert not executor.finished


class _Item:
    """A bare work item, as queued by sync_to_async."""

    def __init__(self, ran: list[bool] | None = None) -> None:
        self.ran = ran if ran is not None else []

    def run(self) -> None:
        self.ran.append(True)
