"""sync_to_async when its caller is cancelled: released at once, the function
tracked until it returns (or, on request, waited for)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable

import anyio
import anyio.from_thread
import anyio.lowlevel
import pytest

from anyio_bridge import (
    AsyncSingleThreadContext,
    ThreadSensitiveContext,
    _backends,
    async_to_sync,
    sync_to_async,
)
from anyio_bridge._bridge import state as _state  # the abandoned-calls registry

pytestmark = pytest.mark.anyio


class Blocker:
    """A function that blocks its thread until released, recording its run."""

    def __init__(self, result: object = None, error: BaseException | None = None):
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self.result = result
        self.error = error

    def __call__(self) -> object:
        self.started.set()
        self.release.wait(10)
        self.finished.set()
        if self.error is not None:
            raise self.error
        return self.result

    async def wait_started(self) -> None:
        await anyio.to_thread.run_sync(self.started.wait)

    async def wait_finished(self) -> None:
        await anyio.to_thread.run_sync(self.finished.wait)


async def cancel_when(
    call: Callable[[], object], started: Callable[[], object]
) -> anyio.CancelScope:
    """Run ``call()`` in a scope cancelled once ``await started()`` returns;
    return when the caller has left (whatever the function does)."""
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)  # type: ignore[arg-type]
            await started()  # type: ignore[misc]
            scope.cancel()
    return scope


@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_cancelled_caller_is_released_while_the_function_runs(
    thread_sensitive: bool,
) -> None:
    blocker = Blocker()

    def blocking_function() -> object:
        return blocker()

    scope = await cancel_when(
        sync_to_async(blocking_function, thread_sensitive=thread_sensitive),
        blocker.wait_started,
    )
    assert scope.cancelled_caught
    # The caller is gone; the function is still running, and tracked.
    assert not blocker.finished.is_set()
    (running,) = _state.abandoned.running()
    assert running.describe().startswith(
        f"sync_to_async call of {__name__}."
        "test_cancelled_caller_is_released_while_the_function_runs."
        "<locals>.blocking_function in thread 'anyio_bridge "
    )
    blocker.release.set()
    await wait_for_abandoned_calls()
    assert blocker.finished.is_set()
    assert _state.abandoned.running() == []


async def wait_for_abandoned_calls() -> None:
    """Wait until every call this loop's tasks let go has returned."""
    loop = _backends.current_loop()
    assert await anyio.to_thread.run_sync(_state.abandoned.wait, loop, 10)


async def test_the_thread_stays_reserved_for_the_abandoned_function() -> None:
    """A later thread-sensitive call runs after the abandoned one, on the same
    thread, as in asgiref."""
    blocker = Blocker()
    order: list[str] = []

    def later() -> int:
        order.append("later")
        return threading.get_ident()

    def first() -> None:
        blocker()
        order.append("first")

    await cancel_when(sync_to_async(first), blocker.wait_started)
    async with anyio.create_task_group() as tg:
        tg.start_soon(sync_to_async(later))
        await anyio.wait_all_tasks_blocked()
        assert order == []
        blocker.release.set()
    assert order == ["first", "later"]


async def test_a_queued_call_whose_caller_is_cancelled_never_runs() -> None:
    """A thread-sensitive call waiting behind another can be timed out (it
    hangs forever when the caller must wait for the thread)."""
    blocker = Blocker()
    queued_ran = threading.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(sync_to_async(blocker))
        await blocker.wait_started()
        for abandon in (True, False):
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as inner:
                    inner.start_soon(
                        sync_to_async(queued_ran.set, abandon_on_cancel=abandon)
                    )
                    await anyio.wait_all_tasks_blocked()
                    scope.cancel()
            assert scope.cancelled_caught
        blocker.release.set()
    # The thread has passed the two cancelled calls: neither ran.
    await sync_to_async(int)()
    assert not queued_ran.is_set()


@pytest.mark.parametrize("thread_sensitive", [True, False])
@pytest.mark.parametrize("abandon", [True, False])
async def test_an_exception_nobody_awaits_is_logged(
    thread_sensitive: bool, abandon: bool, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = Blocker(error=LookupError("lost"))
    caplog.set_level(logging.ERROR, logger="anyio_bridge.sync")
    call = sync_to_async(
        blocker, thread_sensitive=thread_sensitive, abandon_on_cancel=abandon
    )
    scope = anyio.CancelScope()

    async def caller() -> None:
        with scope:
            await call()

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller)
        await blocker.wait_started()
        scope.cancel()
        # The caller has taken the cancellation: gone, or waiting shielded.
        await anyio.wait_all_tasks_blocked()
        blocker.release.set()
    assert scope.cancelled_caught
    await wait_for_abandoned_calls()
    records = [r for r in caplog.records if r.name == "anyio_bridge.sync"]
    assert len(records) == 1
    assert "Blocker" in records[0].getMessage()
    assert "raised after its caller was cancelled" in records[0].getMessage()
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], LookupError)


async def test_thread_sensitive_context_exit_waits_for_a_function_let_go() -> None:
    """Leaving the context waits (without blocking the loop) for a function
    whose caller was cancelled inside it."""
    blocker = Blocker()
    left = anyio.Event()

    async def request() -> None:
        async with ThreadSensitiveContext():
            await cancel_when(sync_to_async(blocker), blocker.wait_started)
        left.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(request)
        await blocker.wait_started()
        await anyio.wait_all_tasks_blocked()
        # The loop runs (this task does), and the context has not been left.
        assert not left.is_set()
        blocker.release.set()
    assert blocker.finished.is_set()


def test_async_single_thread_context_exit_waits_for_a_function_let_go(
    anyio_backend: str,
) -> None:
    blocker = Blocker()

    async def leave_it_running() -> None:
        # Not thread-sensitive: that would run on this very thread, which is
        # serving the coroutine's thread-sensitive calls.
        call = sync_to_async(blocker, thread_sensitive=False)
        await cancel_when(call, blocker.wait_started)

    with AsyncSingleThreadContext():
        async_to_sync(leave_it_running, backend=anyio_backend)()
        assert not blocker.finished.is_set()
        releaser = threading.Thread(target=blocker.release.set)
        releaser.start()
    assert blocker.finished.is_set()
    releaser.join()


def test_a_function_still_running_at_exit_is_reported_without_hanging(
    anyio_backend: str,
) -> None:
    """The process exits at once; the log names the call."""
    program = textwrap.dedent(
        f"""
        import threading
        import anyio
        from anyio_bridge import sync_to_async

        never = threading.Event()
        started = threading.Event()

        def stuck_forever():
            started.set()
            never.wait()

        async def main():
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(sync_to_async(stuck_forever))
                    await anyio.to_thread.run_sync(started.wait)
                    scope.cancel()
            print("caller released")

        anyio.run(main, backend={anyio_backend!r})
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "caller released\n"
    assert (
        "sync_to_async call of __main__.stuck_forever in thread "
        "'anyio_bridge thread-sensitive' is still running at interpreter exit"
    ) in done.stderr


@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_a_function_let_go_can_stop_early(thread_sensitive: bool) -> None:
    """check_cancelled() raises in it, and the coroutine it runs through
    async_to_sync is cancelled, so cooperative code stops soon."""
    coroutine_started = anyio.Event()
    seen: list[str] = []
    cancelled = anyio.get_cancelled_exc_class()

    async def sleeper() -> None:
        coroutine_started.set()
        await anyio.sleep_forever()

    def cooperative() -> None:
        try:
            async_to_sync(sleeper)()
        except cancelled:
            seen.append("coroutine cancelled")
        try:
            anyio.from_thread.check_cancelled()
        except cancelled:
            seen.append("check_cancelled raised")
            raise

    call = sync_to_async(cooperative, thread_sensitive=thread_sensitive)
    await cancel_when(call, coroutine_started.wait)
    await wait_for_abandoned_calls()
    assert seen == ["coroutine cancelled", "check_cancelled raised"]
