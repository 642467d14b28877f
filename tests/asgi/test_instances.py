"""StatelessServer's application instances: creating, finding, deleting them
(anyio_bridge._asgi.instances, through the public server)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from .server_helpers import (
    Ended,
    Harness,
    Receive,
    Send,
    TestServer,
    echo_app,
    run_server,
)

pytestmark = pytest.mark.anyio

# --------------------------------------------------------------------------
# Instances
# --------------------------------------------------------------------------


async def test_messages_go_to_one_instance_per_scope_id() -> None:
    ended = Ended()

    async def test(harness: Harness) -> None:
        queue_a = await harness.put("a", {"type": "say", "text": "1"})
        assert await harness.next_send() == ("a", {"type": "echo", "text": "1"})
        await harness.put("b", {"type": "say", "text": "2"})
        assert await harness.next_send() == ("b", {"type": "echo", "text": "2"})
        assert await harness.put("a", {"type": "say", "text": "3"}) is queue_a
        assert await harness.next_send() == ("a", {"type": "echo", "text": "3"})
        assert list(harness.server.application_instances) == ["b", "a"]
        instance = harness.server.application_instances["a"]
        assert instance.scope == {"type": "test", "id": "a"}
        assert instance.scope_id == "a"
        assert instance.input_queue is queue_a
        assert not instance.finished

    server = await run_server(echo_app(ended), test)
    assert ended.outcomes == {"a": "cancelled", "b": "cancelled"}
    assert server.application_instances == {}
    assert server.errors == []


async def test_async_put_on_the_input_queue() -> None:
    ended = Ended()

    async def test(harness: Harness) -> None:
        async def order(server: TestServer) -> None:
            queue = server.get_or_create_application_instance("a", {"id": "a"})
            await queue.put({"type": "say", "text": "x"})

        await harness.do(order)
        assert await harness.next_send() == ("a", {"type": "echo", "text": "x"})

    await run_server(echo_app(ended), test)


async def test_finished_instance_is_forgotten_and_restarted() -> None:
    ended = Ended()

    async def test(harness: Harness) -> None:
        first = await harness.put("a", {"type": "stop"})
        await ended.event("a").wait()
        assert ended.outcomes["a"] == "returned"
        assert "a" not in harness.server.application_instances
        ended.events.clear()
        second = await harness.put("a", {"type": "say", "text": "again"})
        assert second is not first
        assert await harness.next_send() == ("a", {"type": "echo", "text": "again"})

    await run_server(echo_app(ended), test)


async def test_least_recently_used_instance_is_evicted() -> None:
    ended = Ended()

    async def test(harness: Harness) -> None:
        await harness.put("a", {"type": "say", "text": "a"})
        await harness.put("b", {"type": "say", "text": "b"})
        await harness.put("a", {"type": "say", "text": "a again"})  # b is now oldest
        await harness.put("c", {"type": "say", "text": "c"})
        await ended.event("b").wait()
        assert ended.outcomes == {"b": "cancelled"}
        assert list(harness.server.application_instances) == ["a", "c"]

    await run_server(echo_app(ended), test, max_applications=2)


async def test_delete_application_instance() -> None:
    ended = Ended()

    async def test(harness: Harness) -> None:
        await harness.put("a", {"type": "say", "text": "a"})
        await harness.do(lambda server: server.delete_application_instance("a"))
        await ended.event("a").wait()
        assert ended.outcomes["a"] == "cancelled"
        assert harness.server.application_instances == {}
        with pytest.raises(KeyError):
            await harness.do(lambda server: server.delete_application_instance("a"))

    await run_server(echo_app(ended), test)


async def test_delete_oldest_without_instances_does_nothing() -> None:
    async def test(harness: Harness) -> None:
        await harness.do(lambda server: server.delete_oldest_application_instance())
        assert harness.server.application_instances == {}

    await run_server(echo_app(Ended()), test)


async def test_double_callable_application() -> None:
    class Legacy:
        def __init__(self, scope: Mapping[str, Any]) -> None:
            self.scope = scope

        async def __call__(self, receive: Receive, send: Send) -> None:
            message = await receive()
            await send({"type": "legacy", "got": message["type"]})

    async def test(harness: Harness) -> None:
        await harness.put("a", {"type": "hello"})
        assert await harness.next_send() == ("a", {"type": "legacy", "got": "hello"})

    await run_server(Legacy, test)
