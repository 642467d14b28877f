"""sync_to_async: wrapping, thread placement, context, exceptions, cancellation."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import sys
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import pytest

from anyio_bridge import (
    SyncToAsync,
    async_to_sync,
    iscoroutinefunction,
    sync_to_async,
)

pytestmark = pytest.mark.anyio

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")


def current_thread() -> threading.Thread:
    return threading.current_thread()


def add(a: int, b: int = 0) -> int:
    """Add two numbers."""
    return a + b


# -- wrapping ------------------------------------------------------------------


async def test_plain_call_and_decorators() -> None:
    assert await sync_to_async(add)(1, b=2) == 3

    @sync_to_async
    def bare(x: int) -> int:
        return x * 2

    @sync_to_async(thread_sensitive=False)
    def with_args(x: int) -> int:
        return x * 3

    assert await bare(2) == 4
    assert await with_args(2) == 6


async def test_bound_methods_and_callable_objects() -> None:
    class Counter:
        def __init__(self) -> None:
            self.count = 0

        def bump(self, by: int) -> int:
            self.count += by
            return self.count

        @sync_to_async
        def bump_async(self, by: int) -> int:
            self.count += by
            return self.count

    class Doubler:
        def __call__(self, x: int) -> int:
            return x * 2

    counter = Counter()
    assert await sync_to_async(counter.bump)(2) == 2
    assert await counter.bump_async(3) == 5
    assert iscoroutinefunction(counter.bump_async)
    assert await sync_to_async(Doubler())(21) == 42


def test_recognised_as_coroutine_function() -> None:
    wrapped = sync_to_async(add)
    assert inspect.iscoroutinefunction(wrapped)
    # Django's middleware detection on Python 3.10/3.11 uses asyncio's check.
    if sys.version_info < (3, 14):
        assert asyncio.iscoroutinefunction(wrapped)
    assert iscoroutinefunction(wrapped)

    class Thing:
        def __call__(self) -> None:
            pass

    assert inspect.iscoroutinefunction(sync_to_async(Thing()))


def test_metadata_is_kept() -> None:
    wrapped = sync_to_async(add)
    assert wrapped.__name__ == "add"
    assert wrapped.__doc__ == "Add two numbers."
    assert wrapped.__wrapped__ is add  # type: ignore[attr-defined]
    assert wrapped.__module__ == __name__
    assert list(inspect.signature(wrapped).parameters) == ["a", "b"]


def test_callable_object_without_name_gets_one() -> None:
    class Thing:
        def __call__(self) -> None:
            pass

    assert sync_to_async(Thing()).__name__ == "Thing"


def test_rejects_async_callables() -> None:
    async def coro_fn() -> None:
        pass

    class AsyncCallable:
        async def __call__(self) -> None:
            pass

    with pytest.raises(TypeError, match="only be applied to sync functions"):
        sync_to_async(coro_fn)
    with pytest.raises(TypeError, match="only be applied to sync functions"):
        sync_to_async(AsyncCallable())
    with pytest.raises(TypeError, match="only be applied to sync functions"):
        sync_to_async(42)  # type: ignore[call-overload]


def test_rejects_conflicting_options() -> None:
    with ThreadPoolExecutor(1) as pool:
        with pytest.raises(TypeError, match="executor must not be set"):
            sync_to_async(add, executor=pool)
        with pytest.raises(TypeError, match="limiter applies to the worker pool"):
            sync_to_async(
                add,
                thread_sensitive=False,
                executor=pool,
                limiter=anyio.CapacityLimiter(1),
            )
    with pytest.raises(TypeError, match="limiter applies to the worker pool"):
        sync_to_async(add, limiter=anyio.CapacityLimiter(1))


# -- thread placement ------------------------------------------------------------


async def test_thread_sensitive_calls_share_one_thread() -> None:
    threads = {await sync_to_async(current_thread)() for _ in range(5)}
    async with anyio.create_task_group() as tg:
        for _ in range(5):

            async def record() -> None:
                threads.add(await sync_to_async(current_thread)())

            tg.start_soon(record)
    assert len(threads) == 1
    assert threads.pop() is not threading.current_thread()


async def test_thread_sensitive_calls_run_one_at_a_time() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        with lock:
            active -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(sync_to_async(work))
    assert peak == 1


async def test_thread_sensitive_inside_async_to_sync_uses_outer_thread() -> None:
    """sync -> async_to_sync -> sync_to_async comes back to the first thread."""

    def outer() -> tuple[threading.Thread, threading.Thread]:
        async def middle() -> threading.Thread:
            return await sync_to_async(current_thread)()

        return threading.current_thread(), async_to_sync(middle)()

    # From an anyio worker thread (thread_sensitive=False) ...
    first, inner = await sync_to_async(outer, thread_sensitive=False)()
    assert first is inner
    # ... and from the shared thread-sensitive thread.
    first, inner = await sync_to_async(outer)()
    assert first is inner


async def test_nested_three_levels_deep() -> None:
    """async -> sync -> async -> sync -> async -> sync all on one thread."""
    seen: list[threading.Thread] = []

    def level(depth: int) -> int:
        seen.append(threading.current_thread())
        if depth == 0:
            return 0

        async def down() -> int:
            return await sync_to_async(level)(depth - 1)

        return async_to_sync(down)() + 1

    assert await sync_to_async(level)(3) == 3
    assert len(set(seen)) == 1


async def test_deadlock_is_reported_not_hung() -> None:
    """A thread-sensitive thread that reaches the loop behind our back."""

    def sneaky() -> None:
        # anyio.from_thread.run does not turn this thread into an executor,
        # so a thread-sensitive call from the coroutine needs this very thread.
        anyio.from_thread.run(sync_to_async(current_thread))

    with pytest.raises(RuntimeError, match="would deadlock"):
        await sync_to_async(sneaky)()


async def test_thread_sensitive_false_uses_anyio_workers_in_parallel() -> None:
    """Three calls run at once, each on a worker thread of its own."""
    default = anyio.to_thread.current_default_thread_limiter()
    before = default.borrowed_tokens
    lock = threading.Lock()
    running: list[threading.Thread] = []
    all_in = threading.Event()
    release = threading.Event()

    def work() -> None:
        with lock:
            running.append(threading.current_thread())
            if len(running) == 3:
                all_in.set()
        release.wait(10)

    async with anyio.create_task_group() as tg:
        try:
            for _ in range(3):
                tg.start_soon(sync_to_async(work, thread_sensitive=False))
            await anyio.wait_all_tasks_blocked()
            # Every call has a worker thread: none waits for another to end.
            assert default.borrowed_tokens == before + 3
            # So all three are in at once (the bound only stops a hang).
            assert await anyio.to_thread.run_sync(all_in.wait, 10)
        finally:
            release.set()
    assert len(set(running)) == 3


async def test_limiter_bounds_worker_threads() -> None:
    limiter = anyio.CapacityLimiter(2)
    active = 0
    peak = 0
    lock = threading.Lock()
    two_in = threading.Event()
    release = threading.Event()

    def work() -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
            if active == 2:
                two_in.set()
        release.wait(10)
        with lock:
            active -= 1

    call = sync_to_async(work, thread_sensitive=False, limiter=limiter)
    async with anyio.create_task_group() as tg:
        try:
            for _ in range(6):
                tg.start_soon(call)
            assert await anyio.to_thread.run_sync(two_in.wait, 10)
            await anyio.wait_all_tasks_blocked()
            # Two run; the four others wait for a token, not in a thread.
            assert limiter.statistics().tasks_waiting == 4
            assert active == 2
        finally:
            release.set()
    assert peak == 2


async def test_executor_is_honoured() -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="custom-pool") as pool:
        thread = await sync_to_async(
            current_thread, thread_sensitive=False, executor=pool
        )()
    assert thread.name.startswith("custom-pool")


async def test_many_concurrent_callers() -> None:
    results: list[int] = []

    async def one(i: int) -> None:
        results.append(await sync_to_async(add)(i, 1))
        results.append(await sync_to_async(add, thread_sensitive=False)(i, 1))

    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(one, i)
    assert sorted(results) == sorted([i + 1 for i in range(200)] * 2)


# -- context variables ----------------------------------------------------------


@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_context_travels_both_ways(thread_sensitive: bool) -> None:
    request_id.set("outer")

    def inside() -> str:
        seen = request_id.get()
        request_id.set("set in thread")
        return seen

    assert await sync_to_async(inside, thread_sensitive=thread_sensitive)() == "outer"
    assert request_id.get() == "set in thread"


async def test_context_changes_do_not_leak_between_tasks() -> None:
    def set_it(value: str) -> None:
        request_id.set(value)

    seen: dict[str, str] = {}

    async def task(name: str) -> None:
        await sync_to_async(set_it)(name)
        await anyio.sleep(0)
        seen[name] = request_id.get()

    async with anyio.create_task_group() as tg:
        for name in ("a", "b", "c"):
            tg.start_soon(task, name)
    assert seen == {"a": "a", "b": "b", "c": "c"}
    assert request_id.get("unset") == "unset"


async def test_pinned_context() -> None:
    pinned = contextvars.copy_context()
    pinned.run(request_id.set, "pinned")
    assert await sync_to_async(request_id.get, context=pinned)() == "pinned"

    def change() -> None:
        request_id.set("changed")

    await sync_to_async(change, context=pinned)()
    assert pinned[request_id] == "changed"


# -- exceptions -------------------------------------------------------------------


def explode() -> None:
    raise ValueError("boom")


@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_exception_type_and_traceback(thread_sensitive: bool) -> None:
    with pytest.raises(ValueError, match="boom") as info:
        await sync_to_async(explode, thread_sensitive=thread_sensitive)()
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "explode" in frames


async def test_exception_being_handled_is_visible_in_thread() -> None:
    def current_exception() -> BaseException | None:
        return sys.exc_info()[1]

    assert await sync_to_async(current_exception)() is None
    try:
        raise KeyError("outer")
    except KeyError as exc:
        handled = exc
        assert await sync_to_async(current_exception)() is handled
        assert (
            await sync_to_async(current_exception, thread_sensitive=False)() is handled
        )


# -- cancellation -----------------------------------------------------------------


@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_cancelled_caller_waits_for_thread_on_request(
    thread_sensitive: bool,
) -> None:
    started = threading.Event()
    release = threading.Event()
    finished = threading.Event()

    def slow() -> None:
        started.set()
        release.wait(10)
        finished.set()

    async def cancel_when_started(scope: anyio.CancelScope) -> None:
        await anyio.to_thread.run_sync(started.wait)
        scope.cancel()
        release.set()

    async with anyio.create_task_group() as tg:
        with anyio.CancelScope() as scope:
            tg.start_soon(cancel_when_started, scope)
            await sync_to_async(
                slow, thread_sensitive=thread_sensitive, abandon_on_cancel=False
            )()
        # The cancellation propagated, and only after the thread finished.
        assert scope.cancelled_caught
        assert finished.is_set()


@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_abandon_on_cancel_returns_at_once(thread_sensitive: bool) -> None:
    started = threading.Event()
    release = threading.Event()
    finished = threading.Event()

    def slow() -> None:
        started.set()
        release.wait(10)
        finished.set()

    call = sync_to_async(
        slow, thread_sensitive=thread_sensitive, abandon_on_cancel=True
    )
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await anyio.to_thread.run_sync(started.wait)
            scope.cancel()
    assert scope.cancelled_caught
    assert not finished.is_set()
    release.set()
    # Let the abandoned call drain so the next thread-sensitive call is free.
    await anyio.to_thread.run_sync(finished.wait)


@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_check_cancelled_works_in_thread(thread_sensitive: bool) -> None:
    started = threading.Event()
    stopped_by: list[str] = []

    def polite() -> None:
        started.set()
        while True:
            try:
                anyio.from_thread.check_cancelled()
            except BaseException as exc:
                stopped_by.append(type(exc).__name__)
                raise
            threading.Event().wait(0.001)

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                sync_to_async(
                    polite, thread_sensitive=thread_sensitive, abandon_on_cancel=False
                )
            )
            await anyio.to_thread.run_sync(started.wait)
            scope.cancel()
    assert scope.cancelled_caught
    assert stopped_by == [anyio.get_cancelled_exc_class().__name__]


@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_cancel_reaches_coroutine_run_by_thread(thread_sensitive: bool) -> None:
    """The caller's cancellation cancels what the thread awaits on the loop,
    and async_to_sync calls after that raise cancellation in the thread."""
    coroutine_started = anyio.Event()
    outcomes: list[str] = []

    async def sleeper() -> None:
        coroutine_started.set()
        await anyio.sleep_forever()

    async def quick() -> str:
        return "earlier call done"

    def thread_body() -> None:
        cancelled = anyio.get_cancelled_exc_class()
        # An earlier coroutine, finished before the cancellation: only what
        # runs when the caller is cancelled is cancelled.
        outcomes.append(async_to_sync(quick)())
        try:
            async_to_sync(sleeper)()
        except cancelled:
            outcomes.append("coroutine cancelled")
        try:
            async_to_sync(anyio.sleep)(0)
        except cancelled:
            outcomes.append("later call cancelled")

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                sync_to_async(
                    thread_body,
                    thread_sensitive=thread_sensitive,
                    abandon_on_cancel=False,
                )
            )
            await coroutine_started.wait()
            scope.cancel()
    assert scope.cancelled_caught
    assert outcomes == [
        "earlier call done",
        "coroutine cancelled",
        "later call cancelled",
    ]


async def test_from_thread_helpers_work_in_thread_sensitive_thread() -> None:
    async def where() -> threading.Thread:
        return threading.current_thread()

    def body() -> tuple[threading.Thread, int]:
        return anyio.from_thread.run(where), anyio.from_thread.run_sync(add, 1, 2)

    loop_thread, total = await sync_to_async(body)()
    assert loop_thread is threading.current_thread()
    assert total == 3


async def test_func_returning_partial_result() -> None:
    """functools.partial objects are sync callables too."""
    assert await sync_to_async(functools.partial(add, 40))(2) == 42


def test_wrapper_is_generic_alias_friendly() -> None:
    wrapped: SyncToAsync[[int, int], int] = sync_to_async(add)
    assert isinstance(wrapped, SyncToAsync)
    assert wrapped.func is add


@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_call_cancelled_before_it_starts_never_runs(
    thread_sensitive: bool,
) -> None:
    ran = threading.Event()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await sync_to_async(ran.set, thread_sensitive=thread_sensitive)()
    assert scope.cancelled_caught
    # The thread-sensitive thread is in order: a later call still runs.
    await sync_to_async(add)(1)
    assert not ran.is_set()


async def test_check_cancelled_works_in_executor_thread() -> None:
    started = threading.Event()
    stopped: list[bool] = []

    def polite() -> None:
        started.set()
        while True:
            try:
                anyio.from_thread.check_cancelled()
            except BaseException:
                stopped.append(True)
                raise
            threading.Event().wait(0.001)

    with ThreadPoolExecutor(1) as pool:
        call = sync_to_async(
            polite, thread_sensitive=False, executor=pool, abandon_on_cancel=False
        )
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await anyio.to_thread.run_sync(started.wait)
                scope.cancel()
    assert stopped == [True]


async def test_shielded_caller_runs_despite_outer_cancel() -> None:
    with anyio.CancelScope() as outer:
        outer.cancel()
        with anyio.CancelScope(shield=True):
            assert await sync_to_async(add)(2, 3) == 5
            assert await sync_to_async(add, thread_sensitive=False)(2, 3) == 5
        await anyio.lowlevel.checkpoint()  # the outer cancellation lands here
    assert outer.cancelled_caught


@pytest.mark.parametrize("abandon", [False, True])
async def test_cancelled_call_keeps_its_thread_counted(abandon: bool) -> None:
    """A thread still running after its caller was cancelled holds its token."""
    limiter = anyio.CapacityLimiter(1)
    started = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def first() -> None:
        started.set()
        release.wait(10)
        order.append("first ended")

    def second() -> None:
        order.append("second started")

    first_scope = anyio.CancelScope()

    async def run_first() -> None:
        with first_scope:
            await sync_to_async(
                first,
                thread_sensitive=False,
                limiter=limiter,
                abandon_on_cancel=abandon,
            )()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_first)
        await anyio.to_thread.run_sync(started.wait)
        first_scope.cancel()
        tg.start_soon(sync_to_async(second, thread_sensitive=False, limiter=limiter))
        await anyio.wait_all_tasks_blocked()
        assert order == []
        assert limiter.statistics().tasks_waiting == 1
        release.set()
    assert order == ["first ended", "second started"]


async def test_unsensitive_calls_borrow_from_anyio_default_limiter() -> None:
    """thread_sensitive=False runs on the worker pool and counts against the
    same default limiter as anyio.to_thread.run_sync."""
    default = anyio.to_thread.current_default_thread_limiter()
    started = threading.Event()
    release = threading.Event()
    seen: list[str] = []

    def blocking() -> None:
        seen.append(threading.current_thread().name)
        started.set()
        release.wait(10)

    before = default.borrowed_tokens
    async with anyio.create_task_group() as tg:
        tg.start_soon(sync_to_async(blocking, thread_sensitive=False))
        await anyio.to_thread.run_sync(started.wait)
        assert default.borrowed_tokens == before + 1
        release.set()
    assert seen == ["anyio_bridge worker"]
    assert default.borrowed_tokens == before


async def test_a_task_outliving_a_nested_call_does_not_see_a_false_deadlock() -> None:
    """A task started by a coroutine that a thread-sensitive call ran through
    async_to_sync may call back into that thread after the coroutine returned:
    the thread is busy but waits for nothing, so the call just queues."""
    go = anyio.Event()
    gate = threading.Event()
    outcomes: list[str] = []

    async def leftover() -> None:
        await go.wait()
        try:
            outcomes.append((await sync_to_async(current_thread)()).name)
        except RuntimeError as exc:  # the bug: "would deadlock"
            outcomes.append(str(exc))

    async def start_leftover(tg: anyio.abc.TaskGroup) -> None:
        tg.start_soon(leftover)

    def holding_call(tg: anyio.abc.TaskGroup) -> None:
        async_to_sync(start_leftover)(tg)
        anyio.from_thread.run_sync(go.set)
        gate.wait(10)  # still running while the leftover task calls

    async with anyio.create_task_group() as tg:
        tg.start_soon(sync_to_async(holding_call), tg)
        await go.wait()
        await anyio.wait_all_tasks_blocked()
        gate.set()
    assert outcomes == ["anyio_bridge thread-sensitive"]
