"""A small StatelessServer whose handle() takes its orders from the test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from anyio_bridge.server import ApplicationInstance, MessageQueue, StatelessServer

Receive = Callable[[], Awaitable[Any]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# --------------------------------------------------------------------------
# A small server: handle() takes its orders from the test
# --------------------------------------------------------------------------


class Ended:
    """Records how each application instance ended, by scope ID."""

    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}
        self.events: dict[str, anyio.Event] = {}

    def event(self, scope_id: str) -> anyio.Event:
        return self.events.setdefault(scope_id, anyio.Event())

    def record(self, scope_id: str, outcome: str) -> None:
        self.outcomes[scope_id] = outcome
        self.event(scope_id).set()


def echo_app(ended: Ended) -> Callable[[Any, Receive, Send], Awaitable[None]]:
    """Echoes messages; returns on "stop", raises on "fail"."""

    async def app(scope: Any, receive: Receive, send: Send) -> None:
        scope_id = scope["id"]
        try:
            while True:
                message = await receive()
                if message["type"] == "stop":
                    break
                if message["type"] == "fail":
                    raise ValueError(f"failed in {scope_id}")
                await send({"type": "echo", "text": message["text"]})
        except anyio.get_cancelled_exc_class():
            ended.record(scope_id, "cancelled")
            raise
        except ValueError:
            ended.record(scope_id, "failed")
            raise
        ended.record(scope_id, "returned")

    return app


Order = Callable[["TestServer"], Awaitable[None]]


class TestServer(StatelessServer):
    """Runs the orders the test sends; records sends and reported errors."""

    __test__ = False

    def __init__(
        self,
        application: Callable[..., Any],
        orders: MemoryObjectReceiveStream[Order],
        max_applications: int = 1000,
    ) -> None:
        super().__init__(application, max_applications)
        self.orders = orders
        self.sent: list[tuple[Any, dict[str, Any]]] = []
        self.sent_event = anyio.Event()
        self.errors: list[tuple[Exception, ApplicationInstance]] = []
        self.error_event = anyio.Event()

    async def handle(self) -> None:
        async with self.orders:
            async for order in self.orders:
                await order(self)

    async def application_send(
        self, scope: Mapping[str, Any], message: dict[str, Any]
    ) -> None:
        self.sent.append((scope["id"], message))
        self.sent_event.set()
        self.sent_event = anyio.Event()

    async def application_exception(
        self, exception: Exception, application_details: ApplicationInstance
    ) -> None:
        self.errors.append((exception, application_details))
        self.error_event.set()
        self.error_event = anyio.Event()


class Harness:
    """Runs a TestServer in a task group and sends it orders."""

    def __init__(self, server: TestServer, send: MemoryObjectSendStream[Order]) -> None:
        self.server = server
        self.send = send

    async def do(self, order: Callable[[TestServer], object]) -> Any:
        """Run *order(server)* inside handle(); return or raise its outcome."""
        outcome: list[Any] = []
        done = anyio.Event()

        async def wrapped(server: TestServer) -> None:
            try:
                value = order(server)
                if isinstance(value, Awaitable):
                    value = await value
            except Exception as exc:
                value = exc
            outcome.append(value)
            done.set()

        await self.send.send(wrapped)
        await done.wait()
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0]

    async def put(self, scope_id: str, message: dict[str, Any]) -> MessageQueue[Any]:
        def order(server: TestServer) -> MessageQueue[Any]:
            queue = server.get_or_create_application_instance(
                scope_id, {"type": "test", "id": scope_id}
            )
            queue.put_nowait(message)
            return queue

        queue: MessageQueue[Any] = await self.do(order)
        return queue

    async def next_send(self) -> tuple[Any, dict[str, Any]]:
        while not self.server.sent:
            await self.server.sent_event.wait()
        return self.server.sent.pop(0)

    async def next_error(self) -> tuple[Exception, ApplicationInstance]:
        while not self.server.errors:
            await self.server.error_event.wait()
        return self.server.errors.pop(0)


async def run_server(
    application: Callable[..., Any],
    test: Callable[[Harness], Awaitable[None]],
    max_applications: int = 1000,
) -> TestServer:
    """Run a server around *test*; the server stops when *test* returns."""
    send, receive = anyio.create_memory_object_stream[Order](0)
    server = TestServer(application, receive, max_applications)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.arun)
        async with send:
            await test(Harness(server, send))
    return server
