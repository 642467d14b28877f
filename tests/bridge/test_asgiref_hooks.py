"""What subclasses and callers of asgiref's wrappers rely on: ``__self__``,
the ``thread_handler`` hook, and ``context=``."""

from __future__ import annotations

import contextvars
import sys
import threading
from typing import Any

import anyio
import pytest

from anyio_bridge import SyncToAsync, async_to_sync, sync_to_async

pytestmark = pytest.mark.anyio

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")


class Service:
    def compute(self, x: int) -> int:
        return x + 1

    async def acompute(self, x: int) -> int:
        return x + 2


def test_wrappers_of_bound_methods_expose_self() -> None:
    """Django names ``wrapper.__self__.__class__`` in its handler errors."""
    service = Service()
    assert sync_to_async(service.compute).__self__ is service
    assert async_to_sync(service.acompute).__self__ is service


def test_wrappers_of_plain_functions_have_no_self() -> None:
    def plain() -> None: ...

    async def aplain() -> None: ...

    assert not hasattr(sync_to_async(plain), "__self__")
    assert not hasattr(async_to_sync(aplain), "__self__")


class RecordingSyncToAsync(SyncToAsync[..., Any]):
    """Wraps every call as Channels' DatabaseSyncToAsync does."""

    events: list[tuple[str, object]]

    def thread_handler(self, loop: Any, *args: Any, **kwargs: Any) -> Any:
        self.events.append(("before", threading.current_thread()))
        self.events.append(("loop", loop))
        self.events.append(("request_id in handler", request_id.get("unset")))
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            self.events.append(("after", threading.current_thread()))


@pytest.mark.parametrize("thread_sensitive", [True, False])
async def test_an_overridden_thread_handler_wraps_every_call(
    thread_sensitive: bool,
) -> None:
    def body(x: int) -> tuple[int, threading.Thread, str]:
        return x * 2, threading.current_thread(), request_id.get()

    wrapper = RecordingSyncToAsync(body, thread_sensitive=thread_sensitive)
    wrapper.events = []
    request_id.set("r1")
    result, thread, seen_id = await wrapper(21)
    assert (result, seen_id) == (42, "r1")
    assert wrapper.events[0] == ("before", thread)
    # asgiref hands over the caller's event loop (trio: its token).
    native = anyio.lowlevel.current_token().native_token
    assert wrapper.events[1] == ("loop", native)
    # The hook runs around the call, outside the call's context.
    assert wrapper.events[2] == ("request_id in handler", "unset")
    assert wrapper.events[3] == ("after", thread)
    await wrapper(1)
    assert len(wrapper.events) == 8


async def test_an_overridden_thread_handler_sees_errors_and_the_exception_handled() -> (
    None
):
    def inspect_and_fail() -> None:
        import sys

        handled = sys.exc_info()[1]
        raise LookupError(f"while handling {handled!r}")

    wrapper = RecordingSyncToAsync(inspect_and_fail)
    wrapper.events = []
    try:
        raise KeyError("outer")
    except KeyError:
        with pytest.raises(LookupError, match="while handling KeyError"):
            await wrapper()
    assert [name for name, _ in wrapper.events] == [
        "before",
        "loop",
        "request_id in handler",
        "after",
    ]


async def test_an_overridden_thread_handler_keeps_thread_sensitive_rules() -> None:
    """A thread-sensitive call made (through async_to_sync) by a call that
    went through the hook still runs on the same thread."""

    async def nested() -> threading.Thread:
        return await sync_to_async(threading.current_thread)()

    def outer() -> tuple[threading.Thread, threading.Thread]:
        return threading.current_thread(), async_to_sync(nested)()

    wrapper = RecordingSyncToAsync(outer)
    wrapper.events = []
    first, second = await wrapper()
    assert first is second


async def test_a_given_context_receives_the_changes_and_they_stay_there() -> None:
    given = contextvars.copy_context()
    request_id.set("caller")

    def change() -> str:
        before = request_id.get("unset")
        request_id.set("changed in call")
        return before

    wrapper = sync_to_async(change, context=given)
    assert wrapper.context is given
    assert await wrapper() == "unset"
    assert given[request_id] == "changed in call"
    assert request_id.get() == "caller"
    unsensitive = sync_to_async(change, thread_sensitive=False, context=given)
    assert await unsensitive() == "changed in call"
    assert request_id.get() == "caller"


async def test_without_a_given_context_changes_flow_back() -> None:
    def change() -> None:
        request_id.set("changed in call")

    wrapper = sync_to_async(change)
    assert wrapper.context is None
    await wrapper()
    assert request_id.get() == "changed in call"


def test_a_callable_with_its_own_context_attribute_does_not_leak_it() -> None:
    def view() -> None: ...

    view.context = {"template": "data"}  # type: ignore[attr-defined]
    view.func = "not the wrapped function"  # type: ignore[attr-defined]
    wrapper = sync_to_async(view)
    assert wrapper.context is None
    assert wrapper.func is view


async def handled_exception() -> str:
    return repr(sys.exc_info()[1])


def call_while_handling() -> str:
    try:
        raise KeyError("being handled")
    except KeyError:
        return async_to_sync(handled_exception)()


def test_the_coroutine_sees_the_exception_its_sync_caller_handles(
    anyio_backend: str,
) -> None:
    def top_level() -> str:
        try:
            raise KeyError("being handled")
        except KeyError:
            return async_to_sync(handled_exception, backend=anyio_backend)()

    assert top_level() == "KeyError('being handled')"
    assert async_to_sync(handled_exception, backend=anyio_backend)() == "None"


async def test_the_coroutine_sees_the_exception_handled_in_a_bridge_thread() -> None:
    assert await sync_to_async(call_while_handling)() == "KeyError('being handled')"
    unsensitive = sync_to_async(call_while_handling, thread_sensitive=False)
    assert await unsensitive() == "KeyError('being handled')"


async def test_asgiref_class_attributes_show_the_bridge_state() -> None:
    """Code written against asgiref's internals reads the contexts and the
    waiting thread's executor where asgiref keeps them."""
    from concurrent.futures import ThreadPoolExecutor

    from anyio_bridge import AsyncToSync, ThreadSensitiveContext

    contexts = SyncToAsync.context_to_thread_executor
    assert SyncToAsync.thread_sensitive_context.get() is None
    assert AsyncToSync.executors.current is None
    outer = ThreadSensitiveContext()
    async with outer:
        assert SyncToAsync.thread_sensitive_context.get() is outer
        assert outer not in contexts  # no thread until the first call
        await sync_to_async(int)()
        assert outer in contexts
        assert "not a context" not in contexts
        with ThreadPoolExecutor(1) as executor:
            async with ThreadSensitiveContext(executor=executor) as inner:
                assert SyncToAsync.thread_sensitive_context.get() is inner
                assert contexts.get(inner) is executor
            assert inner not in contexts
    assert outer not in contexts

    async def coroutine() -> object:
        return AsyncToSync.executors.current

    def in_thread() -> tuple[object, object]:
        seen = async_to_sync(coroutine)()
        return seen, AsyncToSync.executors.current

    seen, outside = await sync_to_async(in_thread)()
    assert seen is not None
    assert outside is None
    AsyncToSync.executors.current = None  # asgiref code resets it like this
    assert AsyncToSync.executors.current is None
