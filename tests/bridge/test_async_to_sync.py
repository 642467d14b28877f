"""async_to_sync: from worker threads, from plain sync code, contexts, fork."""

from __future__ import annotations

import contextvars
import functools
import os
import threading
from collections.abc import Awaitable

import anyio
import anyio.from_thread
import anyio.lowlevel
import pytest
import sniffio

from anyio_bridge import (
    AsyncToSync,
    async_to_sync,
    sync_to_async,
)
from anyio_bridge._backends import running_loop_here

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")


async def loop_identity() -> tuple[object, threading.Thread, str]:
    """Which loop, on which thread, under which library this runs."""
    return (
        anyio.lowlevel.current_token().native_token,
        threading.current_thread(),
        sniffio.current_async_library(),
    )


async def double(x: int) -> int:
    await anyio.sleep(0)
    return x * 2


# -- from a thread that belongs to a loop ------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_from_worker_runs_on_original_loop(
    thread_sensitive: bool, anyio_backend: str
) -> None:
    here = await loop_identity()
    there = await sync_to_async(
        async_to_sync(loop_identity), thread_sensitive=thread_sensitive
    )()
    assert there == here
    assert there[2] == anyio_backend


@pytest.mark.anyio
async def test_from_plain_anyio_worker_thread() -> None:
    here = await loop_identity()
    assert await anyio.to_thread.run_sync(async_to_sync(loop_identity)) == here


@pytest.mark.anyio
async def test_context_travels_both_ways_through_worker() -> None:
    async def swap() -> str:
        seen = request_id.get()
        request_id.set("set in coroutine")
        return seen

    def in_thread() -> tuple[str, str]:
        request_id.set("set in thread")
        return async_to_sync(swap)(), request_id.get()

    request_id.set("outer")
    assert await sync_to_async(in_thread)() == ("set in thread", "set in coroutine")
    assert request_id.get() == "set in coroutine"


@pytest.mark.anyio
async def test_exceptions_cross_back_with_traceback() -> None:
    async def fail() -> None:
        raise LookupError("from the coroutine")

    def in_thread() -> None:
        async_to_sync(fail)()

    with pytest.raises(LookupError, match="from the coroutine") as info:
        await sync_to_async(in_thread)()
    assert info.traceback[-1].name == "fail"


@pytest.mark.anyio
async def test_calling_from_the_loop_thread_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="just await the async function"):
        async_to_sync(double)(1)


@pytest.mark.anyio
async def test_many_concurrent_round_trips() -> None:
    def in_thread(i: int) -> int:
        return async_to_sync(double)(i)

    results: list[int] = []

    async def one(i: int) -> None:
        results.append(await sync_to_async(in_thread, thread_sensitive=False)(i))

    async with anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(one, i)
    assert sorted(results) == [i * 2 for i in range(50)]


@pytest.mark.anyio
async def test_force_new_loop_from_worker(anyio_backend: str) -> None:
    here = await loop_identity()

    def in_thread() -> tuple[object, threading.Thread, str]:
        return async_to_sync(loop_identity, force_new_loop=True)()

    there = await sync_to_async(in_thread)()
    assert there[0] is not here[0]
    assert there[1] is not here[1]
    assert there[2] == "asyncio"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_loop_gone_is_reported(backend: str) -> None:
    """A thread whose loop has finished gets a clear error, not a hang."""
    release = threading.Event()
    done = threading.Event()
    errors: list[BaseException] = []

    started = threading.Event()

    def outlive_loop() -> None:
        started.set()
        release.wait(10)
        try:
            async_to_sync(double)(1)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                functools.partial(
                    anyio.to_thread.run_sync, outlive_loop, abandon_on_cancel=True
                )
            )
            await anyio.to_thread.run_sync(started.wait)
            tg.cancel_scope.cancel()

    anyio.run(main, backend=backend)
    release.set()
    assert done.wait(10)
    assert len(errors) == 1
    assert isinstance(errors[0], RuntimeError)
    assert "has finished" in str(errors[0])


# -- from plain sync code ---------------------------------------------------------


def test_top_level_runs_elsewhere_and_serves_thread_sensitive_calls() -> None:
    caller = threading.current_thread()

    async def coroutine() -> tuple[threading.Thread, threading.Thread, str]:
        ts_thread = await sync_to_async(threading.current_thread)()
        return threading.current_thread(), ts_thread, sniffio.current_async_library()

    loop_thread, ts_thread, library = async_to_sync(coroutine)()
    assert loop_thread is not caller
    assert ts_thread is caller
    assert library == "asyncio"
    assert not running_loop_here()


def test_top_level_on_trio() -> None:
    async def which() -> str:
        return sniffio.current_async_library()

    assert async_to_sync(which, backend="trio")() == "trio"


def test_top_level_context_and_exceptions() -> None:
    async def change() -> str:
        seen = request_id.get()
        request_id.set("changed")
        return seen

    def run() -> tuple[str, str]:
        request_id.set("initial")
        return async_to_sync(change)(), request_id.get()

    assert contextvars.copy_context().run(run) == ("initial", "changed")

    async def fail() -> None:
        raise OSError("nope")

    with pytest.raises(OSError, match="nope"):
        async_to_sync(fail)()


def test_top_level_calls_share_a_loop_but_not_state() -> None:
    first = async_to_sync(loop_identity)()
    second = async_to_sync(loop_identity)()
    assert first == second


def test_force_new_loop_at_top_level_gives_a_fresh_loop() -> None:
    shared = async_to_sync(loop_identity)()
    fresh_one = async_to_sync(loop_identity, force_new_loop=True)()
    fresh_two = async_to_sync(loop_identity, force_new_loop=True, backend="trio")()
    assert fresh_one[0] is not shared[0]
    assert fresh_two[2] == "trio"
    assert not fresh_one[1].is_alive()


def test_unknown_backend_is_reported() -> None:
    with pytest.raises(LookupError):
        async_to_sync(double, force_new_loop=True, backend="curio")(1)


def test_non_async_callable_warns() -> None:
    def plain() -> Awaitable[int]:
        return double(2)

    with pytest.warns(UserWarning, match="non-async-marked callable"):
        wrapped = async_to_sync(plain)
    assert wrapped() == 4


def test_decorator_forms_and_methods() -> None:
    @async_to_sync
    async def bare(x: int) -> int:
        return x + 1

    @async_to_sync(backend="trio")
    async def on_trio() -> str:
        return sniffio.current_async_library()

    class Service:
        factor = 3

        @async_to_sync
        async def scale(self, x: int) -> int:
            return x * self.factor

    assert bare(1) == 2
    assert on_trio() == "trio"
    assert Service().scale(2) == 6
    assert isinstance(bare, AsyncToSync)
    assert bare.__name__ == "bare"


def test_nested_sync_async_sync_from_top_level() -> None:
    """sync -> async -> sync -> async -> sync: thread-sensitive stays on caller."""
    caller = threading.current_thread()
    seen: list[threading.Thread] = []

    def deepest() -> None:
        seen.append(threading.current_thread())

    async def inner() -> None:
        await sync_to_async(deepest)()

    def middle() -> None:
        seen.append(threading.current_thread())
        async_to_sync(inner)()

    async def outer() -> None:
        await sync_to_async(middle)()

    async_to_sync(outer)()
    assert seen == [caller, caller]


def test_from_plain_thread_while_main_waits() -> None:
    """Several plain threads calling async_to_sync at once."""
    results: dict[int, int] = {}
    barrier = threading.Barrier(4, timeout=10)

    def worker(i: int) -> None:
        barrier.wait()
        results[i] = async_to_sync(double)(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == {i: i * 2 for i in range(4)}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fork_never_reuses_parent_loop() -> None:
    parent_loop = async_to_sync(loop_identity)()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, outside coverage
        code = 1
        try:
            child_loop = async_to_sync(loop_identity)()
            ts = async_to_sync(sync_to_async(threading.current_thread))()
            ok = (
                child_loop[1] is not parent_loop[1] and ts is threading.current_thread()
            )
            code = 0 if ok else 2
        finally:
            os.write(write_fd, bytes([code]))
            os._exit(code)
    os.close(write_fd)
    try:
        status = os.read(read_fd, 1)
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)
    assert status == b"\x00"


@pytest.mark.anyio
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_fork_inside_worker_thread_uses_fresh_loop() -> None:
    """A child forked inside a sync_to_async thread must not call the parent's loop."""

    def fork_and_call() -> int:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                value = async_to_sync(double)(21)
                os._exit(0 if value == 42 else 3)
            finally:
                os._exit(4)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    assert await sync_to_async(fork_and_call)() == 0


@pytest.mark.anyio
@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_coroutine_of_a_called_thread_runs_in_the_callers_task(
    thread_sensitive: bool,
) -> None:
    """The task awaiting sync_to_async runs what its thread sends, with the
    thread's context variables rather than its own."""
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="-")

    async def inside() -> tuple[int, str]:
        seen = var.get()
        var.set("set by the coroutine")
        return anyio.get_current_task().id, seen

    def body() -> tuple[int, str, str]:
        var.set("set by the thread")
        task_id, seen = async_to_sync(inside)()
        return task_id, seen, var.get()

    var.set("set by the task")
    task_id, seen, after = await sync_to_async(
        body, thread_sensitive=thread_sensitive
    )()
    assert task_id == anyio.get_current_task().id
    assert seen == "set by the thread"
    assert after == "set by the coroutine"
    assert var.get() == "set by the coroutine"  # copied back through both hops
