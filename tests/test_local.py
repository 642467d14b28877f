"""Tests for anyio_bridge.local.Local."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from anyio_bridge import async_to_sync, sync_to_async
from anyio_bridge.local import Local


def _run_thread(target: Any, *args: Any) -> None:
    """Run *target* in a plain thread, join it and re-raise what it raised."""
    errors: list[BaseException] = []

    def main() -> None:
        try:
            target(*args)
        except BaseException as exc:  # pragma: no cover - only on failure
            errors.append(exc)

    thread = threading.Thread(target=main)
    thread.start()
    thread.join()
    if errors:  # pragma: no cover - only on failure
        raise errors[0]


# --------------------------------------------------------------------------
# Basic attribute behaviour
# --------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("thread_critical", [False, True])
async def test_get_set_del(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    local.value = 1
    assert local.value == 1
    local.value = "two"
    local.other = [3]
    assert local.value == "two"
    assert local.other == [3]
    del local.value
    with pytest.raises(AttributeError):
        _ = local.value
    assert local.other == [3]


@pytest.mark.anyio
async def test_missing_attribute_raises() -> None:
    local = Local()
    with pytest.raises(AttributeError, match="'Local' object has no attribute 'nope'"):
        _ = local.nope
    assert getattr(local, "nope", "default") == "default"
    assert not hasattr(local, "nope")


@pytest.mark.anyio
async def test_delete_missing_attribute_raises() -> None:
    local = Local()
    with pytest.raises(AttributeError, match="nope"):
        del local.nope
    local.value = 1
    del local.value
    with pytest.raises(AttributeError, match="value"):
        del local.value


@pytest.mark.parametrize("thread_critical", [False, True])
def test_sync_get_set_del(thread_critical: bool) -> None:
    """Outside any event loop; with thread_critical this is thread storage."""
    local = Local(thread_critical=thread_critical)
    with pytest.raises(AttributeError, match="'Local' object has no attribute 'x'"):
        _ = local.x
    local.x = 1
    assert local.x == 1
    del local.x
    assert not hasattr(local, "x")
    with pytest.raises(AttributeError, match="x"):
        del local.x


@pytest.mark.parametrize("name", ["_thread_critical", "_thread_local", "_var"])
@pytest.mark.parametrize("thread_critical", [False, True])
def test_reserved_names_rejected(name: str, thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    with pytest.raises(AttributeError, match="reserved"):
        setattr(local, name, 1)
    # The internals are untouched and the Local still works.
    local.x = 1
    assert local.x == 1


def test_locals_are_independent() -> None:
    first, second = Local(), Local()
    first.x = 1
    assert not hasattr(second, "x")
    second.x = 2
    assert first.x == 1


# --------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("thread_critical", [False, True])
async def test_isolation_between_concurrent_tasks(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    count = 5
    all_set = anyio.Event()
    ready = 0
    seen: dict[int, object] = {}

    async def task(n: int) -> None:
        nonlocal ready
        local.value = n
        ready += 1
        if ready == count:
            all_set.set()
        # Every task has set its value before any of them reads it back.
        await all_set.wait()
        seen[n] = local.value

    async with anyio.create_task_group() as tg:
        for n in range(count):
            tg.start_soon(task, n)

    assert seen == {n: n for n in range(count)}
    assert not hasattr(local, "value")


@pytest.mark.anyio
@pytest.mark.parametrize("thread_critical", [False, True])
async def test_child_task_inherits_without_leaking(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    local.value = "parent"
    local.doomed = "parent"
    seen: list[object] = []

    async def child() -> None:
        seen.append(local.value)
        local.value = "child"
        local.added = "child"
        del local.doomed
        seen.append(local.value)

    async with anyio.create_task_group() as tg:
        tg.start_soon(child)

    assert seen == ["parent", "child"]
    assert local.value == "parent"
    assert local.doomed == "parent"
    assert not hasattr(local, "added")


# --------------------------------------------------------------------------
# Across the bridge
# --------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_visible_across_sync_to_async(thread_sensitive: bool) -> None:
    local = Local()
    local.value = "async"
    caller = threading.get_ident()

    def in_thread() -> object:
        assert threading.get_ident() != caller
        seen = local.value
        local.value = "thread"
        local.added = "thread"
        return seen

    result = await sync_to_async(in_thread, thread_sensitive=thread_sensitive)()
    assert result == "async"
    assert local.value == "thread"
    assert local.added == "thread"


@pytest.mark.anyio
@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_delete_in_thread_visible_in_caller(thread_sensitive: bool) -> None:
    local = Local()
    local.value = "async"

    def in_thread() -> None:
        del local.value

    await sync_to_async(in_thread, thread_sensitive=thread_sensitive)()
    assert not hasattr(local, "value")


@pytest.mark.anyio
@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_visible_across_async_to_sync_in_sync_to_async(
    thread_sensitive: bool,
) -> None:
    local = Local()
    local.value = "outer"
    seen: list[object] = []

    async def coroutine() -> None:
        seen.append(local.value)
        local.value = "coroutine"
        local.added = "coroutine"

    def in_thread() -> None:
        seen.append(local.value)
        local.value = "thread"
        async_to_sync(coroutine)()
        seen.append(local.value)
        seen.append(local.added)

    await sync_to_async(in_thread, thread_sensitive=thread_sensitive)()
    assert seen == ["outer", "thread", "coroutine", "coroutine"]
    assert local.value == "coroutine"
    assert local.added == "coroutine"


def test_visible_across_async_to_sync_from_plain_sync_code() -> None:
    local = Local()
    local.value = "sync"
    seen: list[object] = []

    async def coroutine() -> None:
        seen.append(local.value)
        local.value = "coroutine"

    async_to_sync(coroutine)()
    assert seen == ["sync"]
    assert local.value == "coroutine"


def test_isolation_between_plain_threads() -> None:
    local = Local()
    seen: list[bool] = []

    def in_thread() -> None:
        local.value = "thread"
        seen.append(local.value == "thread")

    _run_thread(in_thread)
    assert seen == [True]
    assert not hasattr(local, "value")


# --------------------------------------------------------------------------
# thread_critical
# --------------------------------------------------------------------------


def test_thread_critical_is_per_thread_in_sync_code() -> None:
    local = Local(thread_critical=True)
    local.value = "main"
    barrier = threading.Barrier(2)
    seen: dict[str, object] = {}
    errors: list[BaseException] = []

    def in_thread(name: str) -> None:
        try:
            seen[f"{name} before"] = getattr(local, "value", None)
            local.value = name
            barrier.wait()  # both threads have set their value
            seen[name] = local.value
            barrier.wait()  # both have read it back
            del local.value
        except BaseException as exc:  # pragma: no cover - only on failure
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=in_thread, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert seen == {"a before": None, "b before": None, "a": "a", "b": "b"}
    assert local.value == "main"


def test_thread_critical_interleaved_with_events() -> None:
    """One thread writes while the other is parked; neither sees the other's."""
    local = Local(thread_critical=True)
    first_set = threading.Event()
    second_set = threading.Event()
    seen: list[object] = []

    def first() -> None:
        local.value = 1
        first_set.set()
        second_set.wait()
        seen.append(local.value)

    def second() -> None:
        first_set.wait()
        seen.append(getattr(local, "value", None))
        local.value = 2
        second_set.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [None, 1]


def test_thread_critical_not_shared_with_async_to_sync() -> None:
    """Sync code outside a loop and the coroutine it runs use separate storage."""
    local = Local(thread_critical=True)
    local.value = "sync"
    seen: list[object] = []

    async def coroutine() -> None:
        seen.append(getattr(local, "value", None))
        local.value = "coroutine"
        seen.append(local.value)

    async_to_sync(coroutine)()
    assert seen == [None, "coroutine"]
    assert local.value == "sync"


@pytest.mark.anyio
@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_thread_critical_async_value_not_visible_in_thread(
    thread_sensitive: bool,
) -> None:
    local = Local(thread_critical=True)
    local.value = "async"

    def in_thread() -> bool:
        return hasattr(local, "value")

    assert not await sync_to_async(in_thread, thread_sensitive=thread_sensitive)()
    assert local.value == "async"


@pytest.mark.anyio
@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_thread_critical_thread_value_not_visible_in_caller(
    thread_sensitive: bool,
) -> None:
    local = Local(thread_critical=True)

    def in_thread() -> object:
        local.value = "thread"
        try:
            return local.value
        finally:
            # Leave nothing behind on a pooled thread.
            del local.value

    assert await sync_to_async(in_thread, thread_sensitive=thread_sensitive)() == (
        "thread"
    )
    assert not hasattr(local, "value")


@pytest.mark.anyio
async def test_thread_critical_sticks_to_the_thread_sensitive_thread() -> None:
    """Thread storage belongs to the thread: later calls on it see it again."""
    local = Local(thread_critical=True)

    def store() -> None:
        local.value = threading.get_ident()

    def load() -> object:
        try:
            return local.value
        finally:
            del local.value

    await sync_to_async(store)()
    assert not hasattr(local, "value")
    assert await sync_to_async(load)() == await sync_to_async(threading.get_ident)()


# --------------------------------------------------------------------------
# Thread safety
# --------------------------------------------------------------------------


@pytest.mark.parametrize("thread_critical", [False, True])
def test_many_threads_hammering_one_local(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    thread_count, rounds = 8, 1000
    barrier = threading.Barrier(thread_count)
    errors: list[BaseException] = []
    mismatches: list[tuple[int, int]] = []

    def hammer(n: int) -> None:
        try:
            barrier.wait()  # start together to maximise contention
            for i in range(rounds):
                key = f"k{n}_{i % 10}"
                setattr(local, key, (n, i))
                got = getattr(local, key)
                if got != (n, i):  # pragma: no cover - only on failure
                    mismatches.append((n, i))
                if i % 3 == 0:
                    delattr(local, key)
            for j in range(10):
                key = f"k{n}_{j}"
                last = max(i for i in range(rounds) if i % 10 == j)
                expected = None if last % 3 == 0 else (n, last)
                if getattr(local, key, None) != expected:  # pragma: no cover
                    mismatches.append((n, -j))
                leaked = [
                    (n, other)
                    for other in range(thread_count)
                    if other != n and hasattr(local, f"k{other}_{j}")
                ]
                mismatches.extend(leaked)
        except BaseException as exc:  # pragma: no cover - only on failure
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(thread_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert not mismatches
    assert not hasattr(local, "k0_1")


@pytest.mark.anyio
async def test_thread_critical_value_never_reaches_another_loop_thread() -> None:
    """A context copied to a loop in another thread does not carry it along."""
    conn = Local(thread_critical=True)
    conn.db = "made on this loop thread"
    seen: list[object] = []

    async def elsewhere() -> None:
        seen.append(getattr(conn, "db", "missing"))
        conn.db = "made on the other loop thread"

    def hop() -> None:
        async_to_sync(elsewhere, force_new_loop=True)()

    await sync_to_async(hop)()
    assert seen == ["missing"]
    assert conn.db == "made on this loop thread"


@pytest.mark.parametrize("name", ["_values", "_store", "__class__", "__doc__"])
def test_names_of_the_class_cannot_be_shadowed(name: str) -> None:
    local = Local()
    with pytest.raises(AttributeError, match="reserved"):
        setattr(local, name, 1)
