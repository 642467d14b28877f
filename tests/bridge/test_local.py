"""Tests for anyio_bridge.local.Local and the hooks the bridge calls to carry it."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import pytest

from anyio_bridge import async_to_sync, sync_to_async

# HOME and the bridge hooks are private: some tests drive them directly, to
# reach the cases of a context copied to a thread without the bridge.
from anyio_bridge._bridge.local import HOME, bridge_enter, bridge_return
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


def _run_inheriting_thread(target: Callable[[], object]) -> None:
    """Run *target* in a new thread that starts in a copy of this context.

    That is what every new thread does on Python 3.14's free-threaded build
    (``sys.flags.thread_inherit_context``); on other builds it is spelled out.
    """
    errors: list[BaseException] = []

    def main() -> None:
        try:
            target()
        except BaseException as exc:  # pragma: no cover - only on failure
            errors.append(exc)

    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(main,))
    thread.start()
    thread.join()
    if errors:  # pragma: no cover - only on failure
        raise errors[0]


_MISSING: Any = object()


def _bridge_call(func: Callable[[], object], *, runs: bool = True) -> object:
    """Call *func* in another thread the way the bridge does, with its hooks.

    The context is copied here and entered there with ``bridge_enter``; once
    the thread is done, the changed variables but ``HOME`` are copied back
    and ``bridge_return`` is called.  With ``runs=False`` the call is refused
    before it starts (as a cancelled one is): nothing runs in the thread.
    """
    source = threading.get_ident()
    context = contextvars.copy_context()
    results: list[object] = []

    def in_thread() -> None:
        bridge_enter(source)
        results.append(func())

    if runs:
        _run_thread(context.run, in_thread)
    for var, value in context.items():
        if var is not HOME and var.get(_MISSING) is not value:
            var.set(value)
    bridge_return(context)
    return results[0] if results else None


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
# Threads that inherit a context (Python 3.14's thread_inherit_context)
# --------------------------------------------------------------------------


def test_thread_inheriting_the_context_sees_nothing_and_leaks_nothing() -> None:
    local, other = Local(), Local()
    local.value = "parent"
    other.value = "parent"
    seen: list[object] = []

    def in_thread() -> None:
        seen.append(getattr(local, "value", "missing"))
        local.value = "child"
        local.added = "child"
        seen.append(local.value)
        # Its first assignment hides every inherited value for good.
        seen.append(getattr(other, "value", "missing"))
        with pytest.raises(AttributeError):
            del other.value

    _run_inheriting_thread(in_thread)
    assert seen == ["missing", "child", "missing"]
    assert local.value == "parent"
    assert other.value == "parent"
    assert not hasattr(local, "added")


@pytest.mark.anyio
async def test_thread_inheriting_a_task_context_sees_nothing() -> None:
    local = Local()
    local.value = "task"
    seen: list[object] = []

    def in_thread() -> None:
        seen.append(getattr(local, "value", "missing"))
        local.value = "thread"

    _run_inheriting_thread(in_thread)
    assert seen == ["missing"]
    assert local.value == "task"


@pytest.mark.anyio
async def test_anyio_to_thread_sees_nothing() -> None:
    """anyio runs the function in a copy of the context, not through the
    bridge: the values stay with the task (asgiref 3.13 behaves the same)."""
    local = Local()
    local.value = "task"

    def in_thread() -> object:
        found = getattr(local, "value", "missing")
        local.value = "thread"
        return found

    assert await anyio.to_thread.run_sync(in_thread) == "missing"
    assert local.value == "task"


def test_values_a_thread_set_itself_are_visible_to_it() -> None:
    local = Local()
    local.value = "parent"
    seen: list[object] = []

    def in_thread() -> None:
        local.first = 1
        local.second = 2
        del local.first
        seen.append((getattr(local, "first", None), local.second))

    _run_inheriting_thread(in_thread)
    assert seen == [(None, 2)]


# -- the bridge hooks, driven by hand ------------------------------------------


def test_hooks_carry_values_there_and_back() -> None:
    local = Local()
    local.value = "caller"
    local.doomed = "caller"

    def call() -> object:
        seen = local.value
        local.value = "callee"
        local.added = "callee"
        del local.doomed
        # What the callee itself starts does not inherit the right to see.
        _run_inheriting_thread(
            lambda: seen_by_stranger.append(getattr(local, "value", "missing"))
        )
        return seen

    seen_by_stranger: list[object] = []
    assert _bridge_call(call) == "caller"
    assert seen_by_stranger == ["missing"]
    assert (local.value, local.added) == ("callee", "callee")
    assert not hasattr(local, "doomed")


def test_hooks_bring_back_values_into_a_context_that_had_none() -> None:
    local = Local()

    def call() -> None:
        local.value = "callee"

    _bridge_call(call)
    assert local.value == "callee"


def test_hooks_nest() -> None:
    local = Local()
    local.value = "outer"

    def inner() -> object:
        seen = local.value
        local.value = "inner"
        return seen

    def middle() -> object:
        return (local.value, _bridge_call(inner), local.value)

    assert _bridge_call(middle) == ("outer", "outer", "inner")
    assert local.value == "inner"


def test_hooks_never_reveal_what_was_hidden_in_the_calling_thread() -> None:
    local = Local()
    local.value = "parent"
    seen: list[object] = []

    def callee() -> None:
        seen.append(getattr(local, "value", "missing"))
        # ...also one call further down.
        _bridge_call(lambda: seen.append(getattr(local, "value", "missing")))

    def writing_callee() -> None:
        local.fresh = "callee"

    def in_thread() -> None:
        _bridge_call(callee)  # stores nothing: the thread stays as it was
        seen.append(getattr(local, "value", "missing"))
        _bridge_call(callee, runs=False)  # a call that never ran
        seen.append(getattr(local, "value", "missing"))
        _bridge_call(writing_callee)  # what the call stores comes back...
        seen.append(local.fresh)
        seen.append(getattr(local, "value", "missing"))  # ...and nothing else

    _run_inheriting_thread(in_thread)
    assert seen == ["missing", "missing", "missing", "missing", "callee", "missing"]
    assert local.value == "parent"
    assert not hasattr(local, "fresh")


def test_hooks_do_nothing_without_values() -> None:
    local = Local()
    assert _bridge_call(lambda: hasattr(local, "value")) is False
    assert not hasattr(local, "value")


# -- the same through the real bridge ------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_thread_started_inside_sync_to_async_sees_nothing(
    thread_sensitive: bool,
) -> None:
    local = Local()
    local.value = "async"
    seen: list[object] = []

    def in_thread() -> None:
        seen.append(local.value)
        _run_inheriting_thread(lambda: seen.append(getattr(local, "value", "missing")))

    await sync_to_async(in_thread, thread_sensitive=thread_sensitive)()
    assert seen == ["async", "missing"]


@pytest.mark.anyio
@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_value_set_in_sync_to_async_reaches_a_caller_that_had_none(
    thread_sensitive: bool,
) -> None:
    local = Local()

    def in_thread() -> None:
        local.value = "thread"

    await sync_to_async(in_thread, thread_sensitive=thread_sensitive)()
    assert local.value == "thread"


def test_async_to_sync_from_a_thread_inheriting_the_context() -> None:
    local = Local()
    local.value = "parent"
    seen: list[object] = []

    async def coroutine() -> None:
        seen.append(getattr(local, "value", "missing"))
        local.added = "coroutine"

    def in_thread() -> None:
        async_to_sync(coroutine)()
        seen.append(local.added)  # what the coroutine set comes back
        seen.append(getattr(local, "value", "missing"))  # the rest stays hidden

    _run_inheriting_thread(in_thread)
    assert seen == ["missing", "coroutine", "missing"]
    assert local.value == "parent"
    assert not hasattr(local, "added")


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


@pytest.mark.anyio
async def test_visible_in_a_wsgi_application_behind_asgi_middleware() -> None:
    """asgiref runs the WSGI app through sync_to_async: values set by ASGI
    middleware on the loop reach it; the app's own writes stay there."""
    from wsgiref.validate import validator

    from anyio_bridge.testing import http_request
    from anyio_bridge.wsgi import WsgiToAsgi

    local = Local()

    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen = getattr(local, "user", "none")
        local.user = "changed by the app"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [seen.encode()]

    inner = WsgiToAsgi(validator(wsgi_app))

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        local.user = "alice"
        await inner(scope, receive, send)
        assert local.user == "alice"

    response = await http_request(middleware)
    assert response.status == 200
    assert response.body == b"alice"
