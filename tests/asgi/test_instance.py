"""ApplicationInstance: asgiref's dictionaries (instance["input_queue"],
["future"]...) and the futures of instances."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import Any

import anyio
import pytest

from anyio_bridge.server import (
    ApplicationCancelled,
    ApplicationFuture,
    ApplicationInstance,
    MessageQueue,
)

from .server_helpers import Ended, Harness, echo_app, run_server

pytestmark = pytest.mark.anyio

# -- asgiref's dictionaries: instance["input_queue"], ["future"]... -------------


async def test_application_instance_item_access() -> None:
    queue: MessageQueue[Any] = MessageQueue()
    scope = anyio.CancelScope()
    instance = ApplicationInstance(
        scope_id="a",
        scope={"type": "test"},
        input_queue=queue,
        cancel_scope=scope,
        last_used=1.5,
    )
    assert instance["scope"] == {"type": "test"}
    assert instance["input_queue"] is queue
    assert instance["last_used"] == 1.5
    assert instance["future"] is instance.future
    assert isinstance(instance["future"], ApplicationFuture)
    assert (instance["scope_id"], instance["cancel_scope"]) == ("a", scope)
    assert (instance["finished"], instance["exception"]) == (False, None)
    assert instance.keys()[:4] == ("input_queue", "future", "scope", "last_used")
    assert dict(instance)["input_queue"] is queue  # keys() and [key]
    assert "future" in instance
    assert "nope" not in instance
    assert instance.get("last_used") == 1.5
    assert instance.get("nope", "default") == "default"
    with pytest.raises(KeyError):
        instance["nope"]
    instance["last_used"] = 2.5  # as asgiref's own code does
    assert instance.last_used == 2.5
    with pytest.raises(KeyError):
        instance["scope"] = {}  # type: ignore[assignment]
    assert repr(instance) == "<ApplicationInstance 'a' <ApplicationFuture running>>"


async def test_details_of_an_instance_that_ended_before_it_was_handed_out() -> None:
    error = ValueError("boom")
    instance = ApplicationInstance(
        "a", {}, MessageQueue(), anyio.CancelScope(), 0.0, True, error
    )
    future = instance["future"]
    assert future.done()
    assert future.exception() is error
    seen: list[ApplicationFuture] = []
    future.add_done_callback(seen.append)  # it never ran on a loop: now
    assert seen == [future]


async def test_last_used_is_wall_clock_time_as_in_asgiref() -> None:
    ended = Ended()

    async def test(harness: Harness) -> None:
        before = time.time()
        await harness.put("a", {"type": "echo", "text": "1"})
        instance = harness.server.application_instances["a"]
        created = instance["last_used"]
        assert before <= created <= time.time()
        instance["last_used"] = before - 60  # idle for a minute, say
        await harness.put("a", {"type": "echo", "text": "2"})
        assert instance["last_used"] >= created

    await run_server(echo_app(ended), test)


async def test_future_of_an_instance_cancelled_through_it() -> None:
    ended = Ended()

    async def test(harness: Harness) -> None:
        await harness.put("a", {"type": "echo", "text": "hi"})
        await harness.next_send()
        instance = harness.server.application_instances["a"]
        future = instance["future"]
        assert not future.done()
        with pytest.raises(asyncio.InvalidStateError):
            future.result()
        assert future.cancel()  # what asgiref's users do to stop an instance
        with pytest.raises(ApplicationCancelled):
            await future
        assert ended.outcomes["a"] == "cancelled"
        assert future.done()
        assert future.cancelled()
        assert not future.cancel()
        # daphne's checker idiom, for one:
        try:
            future.exception()
        except (concurrent.futures.CancelledError, asyncio.CancelledError):
            pass
        else:  # pragma: no cover - only on failure
            pytest.fail("exception() of a cancelled task raises")
        assert "a" not in harness.server.application_instances

    await run_server(echo_app(ended), test)


async def test_future_of_a_deleted_instance() -> None:
    ended = Ended()

    async def test(harness: Harness) -> None:
        await harness.put("a", {"type": "echo", "text": "hi"})
        future = harness.server.application_instances["a"]["future"]
        await harness.do(lambda server: server.delete_application_instance("a"))
        with pytest.raises(asyncio.CancelledError):
            await future
        assert future.cancelled()

    await run_server(echo_app(ended), test)


async def test_future_of_instances_that_return_or_fail() -> None:
    ended = Ended()
    called = anyio.Event()
    done: list[ApplicationFuture] = []

    def callback(future: ApplicationFuture) -> None:
        done.append(future)
        called.set()

    async def test(harness: Harness) -> None:
        await harness.put("a", {"type": "echo", "text": "hi"})
        await harness.put("b", {"type": "echo", "text": "hi"})
        returning = harness.server.application_instances["a"]["future"]
        failing = harness.server.application_instances["b"]["future"]
        returning.add_done_callback(callback)
        await harness.put("a", {"type": "stop"})
        await harness.put("b", {"type": "fail"})
        assert await returning is None
        assert returning.exception() is None
        assert not returning.cancelled()
        with pytest.raises(ValueError, match="failed in b"):
            await failing
        assert isinstance(failing.exception(), ValueError)
        with anyio.fail_after(30):
            await called.wait()
        assert done == [returning]
        # The failure is reported as usual too.
        error, details = await harness.next_error()
        assert details["future"] is failing
        assert error is failing.exception()

    await run_server(echo_app(ended), test)


async def test_asgiref_style_shutdown_through_the_futures() -> None:
    """Cancelling every ``details["future"]``, as asgiref's own tests do."""
    ended = Ended()

    async def test(harness: Harness) -> None:
        for scope_id in ("a", "b"):
            await harness.put(scope_id, {"type": "echo", "text": "hi"})
            await harness.next_send()
        for details in list(harness.server.application_instances.values()):
            details["future"].cancel()
        for scope_id in ("a", "b"):
            await ended.event(scope_id).wait()
        assert ended.outcomes == {"a": "cancelled", "b": "cancelled"}
        assert not harness.server.application_instances

    await run_server(echo_app(ended), test)
