"""Tests for anyio_bridge.timeout."""

from __future__ import annotations

import asyncio
import math
import sys

import anyio
import pytest

from anyio_bridge.timeout import timeout

if sys.version_info < (3, 11):  # pragma: no cover - the suite runs on 3.11+ too
    from exceptiongroup import ExceptionGroup


# --------------------------------------------------------------------------
# The deadline
# --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_with_raises_timeout_error_at_deadline() -> None:
    with pytest.raises(TimeoutError) as info:
        async with timeout(0.05) as t:
            await anyio.sleep_forever()
    assert t.expired
    assert isinstance(info.value.__cause__, anyio.get_cancelled_exc_class())
    assert type(info.value) is TimeoutError


@pytest.mark.anyio
async def test_sync_with_in_a_task_raises_timeout_error() -> None:
    with pytest.raises(TimeoutError), timeout(0.05) as t:
        await anyio.sleep_forever()
    assert t.expired


@pytest.mark.anyio
async def test_block_finishing_in_time_is_left_alone() -> None:
    event = anyio.Event()
    event.set()
    async with timeout(60) as t:
        await event.wait()
        remaining = t.remaining
    assert not t.expired
    assert remaining is not None
    assert 0 < remaining <= 60
    assert t.deadline is not None


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_asgiref_loop_argument_is_accepted() -> None:
    """asgiref's timeout takes the loop to use; this one uses the task's."""
    with pytest.raises(TimeoutError):
        async with timeout(0.01, loop=asyncio.get_running_loop()):
            await anyio.sleep_forever()


@pytest.mark.anyio
async def test_no_deadline() -> None:
    t = timeout(None)
    async with t:
        await anyio.sleep(0)
        assert t.remaining is None
        assert t.deadline is None
    assert not t.expired


@pytest.mark.anyio
@pytest.mark.parametrize("seconds", [0, -1])
async def test_non_positive_timeout_cancels_at_first_checkpoint(seconds: float) -> None:
    reached = []
    t = timeout(seconds)

    async def block() -> None:
        async with t:
            reached.append("before")
            await anyio.sleep(0)
            reached.append("after")  # pragma: no cover - must not run

    with pytest.raises(TimeoutError):
        await block()
    assert reached == ["before"]
    assert t.expired
    assert t.remaining == 0.0


@pytest.mark.anyio
async def test_block_without_checkpoint_finishes_normally() -> None:
    async with timeout(0) as t:
        value = sum(range(10))
    assert value == 45
    assert not t.expired
    await anyio.sleep(0)  # no cancellation is left pending on the task


@pytest.mark.anyio
async def test_expired_is_false_inside_the_block() -> None:
    async with timeout(0) as t:
        assert not t.expired
    assert not t.expired


# --------------------------------------------------------------------------
# Nesting and cancellation from outside
# --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_inner_timeout_firing_is_not_taken_for_the_outer() -> None:
    async with timeout(60) as outer:
        with pytest.raises(TimeoutError):
            async with timeout(0.05) as inner:
                await anyio.sleep_forever()
        await anyio.sleep(0)  # the outer block goes on, uncancelled
    assert inner.expired
    assert not outer.expired


@pytest.mark.anyio
async def test_inner_timeout_error_propagates_through_outer_unchanged() -> None:
    with pytest.raises(TimeoutError) as info:
        async with timeout(60) as outer, timeout(0.05) as inner:
            await anyio.sleep_forever()
    assert inner.expired
    assert not outer.expired
    assert isinstance(info.value.__cause__, anyio.get_cancelled_exc_class())


@pytest.mark.anyio
async def test_outer_timeout_firing_is_not_taken_for_the_inner() -> None:
    with pytest.raises(TimeoutError):
        async with timeout(0.05) as outer, timeout(60) as inner:
            await anyio.sleep_forever()
    assert outer.expired
    assert not inner.expired


@pytest.mark.anyio
async def test_when_both_deadlines_passed_the_outer_fires() -> None:
    with pytest.raises(TimeoutError):
        async with timeout(0) as outer, timeout(0) as inner:
            await anyio.sleep_forever()
    assert outer.expired
    assert not inner.expired


@pytest.mark.anyio
async def test_cancel_scope_cancellation_is_not_a_timeout() -> None:
    with anyio.CancelScope() as scope:
        async with timeout(60) as t:
            scope.cancel()
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert not t.expired


@pytest.mark.anyio
async def test_outer_cancellation_wins_over_a_passed_deadline() -> None:
    with anyio.CancelScope() as scope:
        async with timeout(0) as t:
            scope.cancel()
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert not t.expired


@pytest.mark.anyio
async def test_task_group_cancellation_is_not_a_timeout() -> None:
    started = anyio.Event()
    seen: list[BaseException] = []

    async def child() -> None:
        try:
            async with timeout(60):
                started.set()
                await anyio.sleep_forever()
        except BaseException as exc:
            seen.append(exc)
            raise

    async with anyio.create_task_group() as tg:
        tg.start_soon(child)
        await started.wait()
        tg.cancel_scope.cancel()
    assert len(seen) == 1
    assert isinstance(seen[0], anyio.get_cancelled_exc_class())


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_native_asyncio_cancel_is_not_a_timeout() -> None:
    started = asyncio.Event()

    async def waiter() -> None:
        async with timeout(60):
            started.set()
            await asyncio.sleep(3600)

    task = asyncio.get_running_loop().create_task(waiter())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.anyio
async def test_other_errors_of_a_cancelled_block_propagate() -> None:
    async def failing_on_cancel(task_status: anyio.abc.TaskStatus[None]) -> None:
        try:
            task_status.started()
            await anyio.sleep_forever()
        finally:
            raise ValueError("cleanup failed")

    async def block() -> None:
        async with timeout(0.05), anyio.create_task_group() as tg:
            await tg.start(failing_on_cancel)
            await anyio.sleep_forever()

    with pytest.raises(ExceptionGroup) as info:
        await block()
    assert info.group_contains(ValueError, match="cleanup failed")


@pytest.mark.anyio
async def test_block_errors_propagate() -> None:
    with pytest.raises(KeyError):
        async with timeout(60) as t:
            raise KeyError("x")
    assert not t.expired


# --------------------------------------------------------------------------
# Moving the deadline
# --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_reschedule_to_the_past_fires() -> None:
    t = timeout(None)

    async def block() -> None:
        async with t:
            t.reschedule(anyio.current_time() - 1)
            await anyio.sleep_forever()

    with pytest.raises(TimeoutError):
        await block()
    assert t.expired


@pytest.mark.anyio
async def test_reschedule_none_removes_the_deadline() -> None:
    async with timeout(0.05) as t:
        t.reschedule(None)
        assert t.deadline is None
        assert t.remaining is None
        await anyio.sleep(0.2)  # outlives the original deadline
    assert not t.expired


@pytest.mark.anyio
async def test_reschedule_to_an_absolute_deadline() -> None:
    async with timeout(60) as t:
        target = anyio.current_time() + 3600
        t.reschedule(target)
        assert t.deadline == target


@pytest.mark.anyio
async def test_shift_later_keeps_the_block_running() -> None:
    async with timeout(0.05) as t:
        before = t.deadline
        assert before is not None
        t.shift(3600)
        assert t.deadline == pytest.approx(before + 3600)
        await anyio.sleep(0.2)  # outlives the original deadline
    assert not t.expired


@pytest.mark.anyio
async def test_shift_earlier_fires() -> None:
    t = timeout(3600)

    async def block() -> None:
        async with t:
            t.shift(-7200)
            await anyio.sleep_forever()

    with pytest.raises(TimeoutError):
        await block()
    assert t.expired


@pytest.mark.anyio
async def test_moving_a_fired_deadline_does_not_undo_it() -> None:
    t = timeout(0)

    async def block() -> None:
        async with t:
            t.reschedule(None)
            await anyio.sleep_forever()

    with pytest.raises(TimeoutError):
        await block()
    assert t.expired


@pytest.mark.anyio
async def test_shift_without_deadline_is_refused() -> None:
    async with timeout(None) as t:
        with pytest.raises(RuntimeError, match="no deadline"):
            t.shift(1)


@pytest.mark.anyio
async def test_moving_outside_the_block_is_refused() -> None:
    t = timeout(1)
    with pytest.raises(RuntimeError, match="inside the block"):
        t.reschedule(None)
    async with t:
        pass
    with pytest.raises(RuntimeError, match="inside the block"):
        t.shift(1)


@pytest.mark.anyio
async def test_nan_deadline_is_refused() -> None:
    async with timeout(1) as t:
        with pytest.raises(ValueError, match="NaN"):
            t.reschedule(math.nan)
        with pytest.raises(ValueError, match="NaN"):
            t.shift(math.nan)


# --------------------------------------------------------------------------
# Misuse and state
# --------------------------------------------------------------------------


def test_nan_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        timeout(math.nan)


def test_entering_outside_an_event_loop_raises_runtime_error() -> None:
    t = timeout(1)
    with pytest.raises(RuntimeError), t:
        pass  # pragma: no cover - not reached
    assert t.deadline is None


@pytest.mark.anyio
async def test_entering_twice_is_refused() -> None:
    t = timeout(1)
    async with t:
        pass
    with pytest.raises(RuntimeError, match="once"):
        async with t:
            pass  # pragma: no cover - not reached


def test_exit_without_enter_is_refused() -> None:
    with pytest.raises(RuntimeError, match="not active"):
        timeout(1).__exit__(None, None, None)


@pytest.mark.anyio
async def test_state_before_entering() -> None:
    t = timeout(5)
    assert t.deadline is None
    assert t.remaining is None
    assert not t.expired


@pytest.mark.anyio
async def test_repr_shows_state() -> None:
    t = timeout(5)
    assert repr(t) == "<anyio_bridge.timeout.timeout created seconds=5>"
    async with t:
        assert "entered" in repr(t)
    assert "exited" in repr(t)
