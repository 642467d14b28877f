"""Tests for anyio_bridge.server (and the MessageQueue it hands out)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from anyio_bridge.server import (
    ApplicationCancelled,
    ApplicationFuture,
    ApplicationInstance,
    MessageQueue,
    StatelessServer,
)

if sys.version_info < (3, 11):  # pragma: no cover - the suite runs on 3.11+ too
    from exceptiongroup import BaseExceptionGroup

Receive = Callable[[], Awaitable[Any]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

pytestmark = pytest.mark.anyio


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


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


async def test_application_errors_are_reported() -> None:
    ended = Ended()

    async def test(harness: Harness) -> None:
        await harness.put("a", {"type": "fail"})
        exception, details = await harness.next_error()
        assert isinstance(exception, ValueError)
        assert str(exception) == "failed in a"
        assert details.scope_id == "a"
        assert details.finished
        assert details.exception is exception
        assert "a" not in harness.server.application_instances

    await run_server(echo_app(ended), test)


async def test_error_of_a_deleted_instance_is_reported() -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            raise ValueError("cleanup failed")

    async def test(harness: Harness) -> None:
        await harness.do(
            lambda server: server.get_or_create_application_instance("a", {"id": "a"})
        )
        await harness.do(lambda server: server.delete_application_instance("a"))
        exception, details = await harness.next_error()
        assert str(exception) == "cleanup failed"
        assert details.scope_id == "a"

    await run_server(app, test)


async def test_errors_raised_while_shutting_down_are_reported() -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            raise ValueError("cleanup failed")

    async def test(harness: Harness) -> None:
        await harness.do(
            lambda server: server.get_or_create_application_instance("a", {"id": "a"})
        )

    server = await run_server(app, test)
    assert [str(exception) for exception, _ in server.errors] == ["cleanup failed"]


async def test_default_application_exception_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = anyio.Event()

    async def app(scope: Any, receive: Receive, send: Send) -> None:
        failing.set()
        raise ValueError("boom")

    class Server(StatelessServer):
        async def handle(self) -> None:
            self.get_or_create_application_instance("x", {"id": "x"})
            await failing.wait()

    with caplog.at_level(logging.ERROR, logger="anyio_bridge.server"):
        await Server(app).arun()
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert "scope ID 'x'" in record.getMessage()
    assert "boom" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)


async def test_default_application_send_is_not_implemented() -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        await send({"type": "out"})

    reported: list[Exception] = []

    class Server(StatelessServer):
        async def handle(self) -> None:
            self.get_or_create_application_instance("x", {"id": "x"})

        async def application_exception(
            self, exception: Exception, application_details: ApplicationInstance
        ) -> None:
            reported.append(exception)

    await Server(app).arun()
    assert len(reported) == 1
    assert isinstance(reported[0], NotImplementedError)


# --------------------------------------------------------------------------
# Running and shutting down
# --------------------------------------------------------------------------


async def test_handle_exception_propagates_after_shutdown() -> None:
    started = anyio.Event()
    ended = Ended()

    async def app(scope: Any, receive: Receive, send: Send) -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            ended.record(scope["id"], "cancelled")

    class Server(StatelessServer):
        async def handle(self) -> None:
            self.get_or_create_application_instance("a", {"id": "a"})
            await started.wait()
            raise KeyError("from handle")

    server = Server(app)
    with pytest.raises(KeyError, match="from handle"):
        await server.arun()
    assert ended.outcomes == {"a": "cancelled"}
    assert server.application_instances == {}


async def test_default_handle_is_not_implemented() -> None:
    with pytest.raises(NotImplementedError):
        await StatelessServer(echo_app(Ended())).arun()


async def test_cancelling_arun_cancels_the_instances() -> None:
    ended = Ended()
    created = anyio.Event()

    class Server(StatelessServer):
        async def handle(self) -> None:
            self.get_or_create_application_instance("a", {"id": "a"})
            created.set()
            await anyio.sleep_forever()

    server = Server(echo_app(ended))
    futures: list[ApplicationFuture] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.arun)
        await created.wait()
        futures.append(server.application_instances["a"]["future"])
        tg.cancel_scope.cancel()
    assert ended.outcomes == {"a": "cancelled"}
    # Cancelled from outside its own scope, as an asyncio task would be.
    assert futures[0].cancelled()


async def test_arun_twice_at_once_is_refused() -> None:
    async def test(harness: Harness) -> None:
        await harness.do(lambda server: None)  # the server is running
        with pytest.raises(RuntimeError, match="already running"):
            await harness.server.arun()

    await run_server(echo_app(Ended()), test)


def test_asgiref_checker_interval_is_there_for_compatibility() -> None:
    assert StatelessServer.application_checker_interval == 0.1


def test_max_applications_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        StatelessServer(echo_app(Ended()), max_applications=0)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_chooses_the_backend(backend: str) -> None:
    seen: list[str] = []

    class Server(StatelessServer):
        async def handle(self) -> None:
            import sniffio

            seen.append(sniffio.current_async_library())

    Server(echo_app(Ended())).run(backend=backend)
    assert seen == [backend]


# An interrupt hitting an instance reaches run() inside exception groups.  On
# asyncio a KeyboardInterrupt raised in a task leaves the loop at once (Ctrl-C
# itself comes as a cancellation of the main task), so that case is trio's.
@pytest.mark.parametrize(
    ("backend", "where"),
    [("asyncio", "handle"), ("trio", "handle"), ("trio", "instance")],
)
def test_run_logs_keyboard_interrupt(
    backend: str, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        raise KeyboardInterrupt

    class Server(StatelessServer):
        async def handle(self) -> None:
            if where == "handle":
                raise KeyboardInterrupt
            self.get_or_create_application_instance("x", {"id": "x"})
            await anyio.sleep_forever()

    with caplog.at_level(logging.INFO, logger="anyio_bridge.server"):
        Server(app).run(backend=backend)
    assert [record.getMessage() for record in caplog.records] == [
        "Exiting due to Ctrl-C/interrupt"
    ]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_raises_other_errors(backend: str) -> None:
    class Server(StatelessServer):
        async def handle(self) -> None:
            raise KeyError("from handle")

    with pytest.raises(KeyError):
        Server(echo_app(Ended())).run(backend=backend)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_failing_application_exception_stops_the_server(backend: str) -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        raise ValueError("boom")

    class Server(StatelessServer):
        async def handle(self) -> None:
            self.get_or_create_application_instance("x", {"id": "x"})
            await anyio.sleep_forever()

        async def application_exception(
            self, exception: Exception, application_details: ApplicationInstance
        ) -> None:
            raise KeyError("reporting failed")

    with pytest.raises(BaseExceptionGroup) as info:
        Server(app).run(backend=backend)
    assert info.group_contains(KeyError, match="reporting failed")


# --------------------------------------------------------------------------
# Instances created outside arun(), as asgiref allows
# --------------------------------------------------------------------------


class Recorder(StatelessServer):
    """Records sends and reported errors; handle() runs *body*, if given."""

    def __init__(
        self,
        application: Callable[..., Any],
        max_applications: int = 1000,
        body: Callable[[Recorder], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(application, max_applications)
        self.body = body
        self.sent: list[tuple[Any, dict[str, Any]]] = []
        self.errors: list[tuple[Exception, ApplicationInstance]] = []
        self._changed: anyio.Event | None = None

    async def handle(self) -> None:
        assert self.body is not None
        await self.body(self)

    async def application_send(
        self, scope: Mapping[str, Any], message: dict[str, Any]
    ) -> None:
        self.sent.append((scope["id"], message))
        self._wake()

    async def application_exception(
        self, exception: Exception, application_details: ApplicationInstance
    ) -> None:
        self.errors.append((exception, application_details))
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def _wait(self) -> None:
        if self._changed is None:
            self._changed = anyio.Event()
        await self._changed.wait()

    async def next_send(self) -> tuple[Any, dict[str, Any]]:
        while not self.sent:
            await self._wait()
        return self.sent.pop(0)

    async def next_error(self) -> tuple[Exception, ApplicationInstance]:
        while not self.errors:
            await self._wait()
        return self.errors.pop(0)

    def create(self, scope_id: str) -> MessageQueue[Any]:
        return self.get_or_create_application_instance(
            scope_id, {"type": "test", "id": scope_id}
        )


async def test_instance_created_outside_arun_runs_as_a_task_of_the_loop() -> None:
    """As asgiref's ``asyncio.ensure_future``: no arun() needed, only a loop."""
    ended = Ended()
    started = anyio.Event()
    tasks: list[int] = []
    echo = echo_app(ended)

    async def app(scope: Any, receive: Receive, send: Send) -> None:
        tasks.append(anyio.get_current_task().id)
        started.set()
        await echo(scope, receive, send)

    server = Recorder(app)
    queue = server.create("a")
    future = server.application_instances["a"]["future"]
    await started.wait()  # it runs on its own, in a task of its own
    assert tasks != [anyio.get_current_task().id]
    queue.put_nowait({"type": "echo", "text": "hi"})
    assert await server.next_send() == ("a", {"type": "echo", "text": "hi"})
    assert server.create("a") is queue  # found, not created again
    await queue.put({"type": "echo", "text": "again"})
    assert await server.next_send() == ("a", {"type": "echo", "text": "again"})
    assert not future.done()
    await queue.put({"type": "stop"})
    assert await future is None
    assert future.done()
    assert not future.cancelled()
    assert future.result() is None
    assert future.exception() is None
    assert ended.outcomes == {"a": "returned"}
    assert server.application_instances == {}  # forgotten once ended
    assert server.errors == []


async def test_future_of_an_instance_outside_arun() -> None:
    ended = Ended()
    called = anyio.Event()
    done: list[ApplicationFuture] = []

    def callback(future: ApplicationFuture) -> None:
        done.append(future)
        called.set()

    server = Recorder(echo_app(ended))
    server.create("a").put_nowait({"type": "echo", "text": "hi"})
    await server.next_send()
    future = server.application_instances["a"]["future"]
    future.add_done_callback(callback)
    with pytest.raises(asyncio.InvalidStateError):
        future.result()
    assert future.cancel("stop it")
    with pytest.raises(ApplicationCancelled, match="stop it"):
        await future
    assert future.cancelled()
    assert not future.cancel()
    with pytest.raises(asyncio.CancelledError):
        future.exception()
    await called.wait()
    assert done == [future]
    assert ended.outcomes == {"a": "cancelled"}
    assert server.application_instances == {}


async def test_deleting_instances_outside_arun_cancels_them() -> None:
    ended = Ended()
    server = Recorder(echo_app(ended), max_applications=2)
    for scope_id in ("a", "b", "c"):  # "c" evicts "a", the least recently used
        server.create(scope_id).put_nowait({"type": "echo", "text": scope_id})
        await server.next_send()
    futures = {
        key: details["future"] for key, details in server.application_instances.items()
    }
    assert list(futures) == ["b", "c"]
    await ended.event("a").wait()
    server.delete_application_instance("b")
    server.delete_oldest_application_instance()  # "c"
    for future in futures.values():
        with pytest.raises(ApplicationCancelled):
            await future
        assert future.cancelled()
    assert ended.outcomes == {"a": "cancelled", "b": "cancelled", "c": "cancelled"}
    assert server.application_instances == {}


async def test_failure_outside_arun_waits_for_a_checker() -> None:
    """asgiref reports failures from application_checker() only: so here."""
    server = Recorder(echo_app(Ended()))
    server.create("a").put_nowait({"type": "fail"})
    future = server.application_instances["a"]["future"]
    with pytest.raises(ValueError, match="failed in a"):
        await future
    assert isinstance(future.exception(), ValueError)
    assert server.application_instances == {}
    assert server.errors == []  # no checker is running: not reported yet
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.application_checker)
        error, details = await server.next_error()
        assert error is future.exception()
        assert details.scope_id == "a"
        # While a checker runs, failures are reported as they happen.
        server.create("b").put_nowait({"type": "fail"})
        error, details = await server.next_error()
        assert str(error) == "failed in b"
        assert details.scope_id == "b"
        tg.cancel_scope.cancel()
    assert server.errors == []


async def test_failures_waiting_for_a_checker_are_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = Recorder(echo_app(Ended()), max_applications=1)
    with caplog.at_level(logging.ERROR, logger="anyio_bridge.server"):
        for scope_id in ("a", "b"):
            server.create(scope_id).put_nowait({"type": "fail"})
            with pytest.raises(ValueError):
                await server.application_instances[scope_id]["future"]
    # The oldest one is logged instead, as asyncio logs a task exception
    # nobody retrieved.
    [record] = caplog.records
    assert "scope ID 'a'" in record.getMessage()
    assert "never reported" in record.getMessage()
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "failed in a"
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.application_checker)
        error, details = await server.next_error()
        assert (str(error), details.scope_id) == ("failed in b", "b")
        tg.cancel_scope.cancel()


async def test_arun_takes_over_instances_created_before_it() -> None:
    ended = Ended()
    server_queues: dict[str, MessageQueue[Any]] = {}

    async def body(server: Recorder) -> None:
        # The instance from before is found, not created again...
        assert server.create("a") is server_queues["a"]
        # ...and the failure from before is reported by arun()'s checker.
        error, details = await server.next_error()
        assert (str(error), details.scope_id) == ("failed in b", "b")

    server = Recorder(echo_app(ended), body=body)
    server_queues["a"] = server.create("a")
    server_queues["a"].put_nowait({"type": "echo", "text": "hi"})
    await server.next_send()
    future = server.application_instances["a"]["future"]
    server.create("b").put_nowait({"type": "fail"})
    with pytest.raises(ValueError):
        await server.application_instances["b"]["future"]
    await server.arun()
    # Then cancelled and awaited at the end of arun(), as the others.
    assert ended.outcomes == {"a": "cancelled", "b": "failed"}
    assert future.cancelled()
    assert server.application_instances == {}
    assert server.errors == []


class Escape(BaseException):
    """Not an Exception: outside arun(), nothing can take it."""


async def test_base_exception_of_an_instance_outside_arun_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        raise Escape("out")

    server = Recorder(app)
    server.create("a")
    future = server.application_instances["a"]["future"]
    with caplog.at_level(logging.ERROR, logger="anyio_bridge.server"):
        await future  # logged as the instance's task ended
    [record] = caplog.records
    assert "scope ID 'a'" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], Escape)
    assert server.application_instances == {}
    assert server.errors == []


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_instances_outside_arun_end_with_their_loop(backend: str) -> None:
    """asyncio.run() cancels the tasks left; trio cancels its system tasks."""
    ended = Ended()
    futures: list[ApplicationFuture] = []
    server = Recorder(echo_app(ended))

    async def main() -> None:
        server.create("a").put_nowait({"type": "echo", "text": "hi"})
        await server.next_send()
        futures.append(server.application_instances["a"]["future"])

    anyio.run(main, backend=backend)
    assert ended.outcomes == {"a": "cancelled"}
    assert futures[0].cancelled()
    assert server.application_instances == {}


def test_instances_need_a_running_event_loop() -> None:
    server = StatelessServer(echo_app(Ended()))
    with pytest.raises(RuntimeError, match="no event loop is running"):
        server.get_or_create_application_instance("a", {"id": "a"})
    assert server.application_instances == {}


def test_an_ending_trio_run_takes_no_new_instances() -> None:
    """Once trio's main task has ended, no system task can start."""
    import trio

    server = StatelessServer(echo_app(Ended()))
    errors: list[RuntimeError] = []
    generators: list[Any] = []

    async def late() -> AsyncIterator[None]:
        try:
            yield
        finally:
            # Run by trio when it finalizes the generators left, at the end.
            try:
                server.get_or_create_application_instance("a", {"id": "a"})
            except RuntimeError as exc:
                errors.append(exc)

    async def main() -> None:
        generator = late()
        await generator.__anext__()
        generators.append(generator)

    trio.run(main)
    assert [str(error) for error in errors] == [
        "the event loop is shutting down: it takes no new application instances"
    ]
    assert server.application_instances == {}


def test_arun_forgets_instances_of_another_loop() -> None:
    ended = Ended()
    server = Recorder(echo_app(ended), body=lambda server: anyio.lowlevel.checkpoint())
    futures: list[ApplicationFuture] = []
    other_loop = asyncio.new_event_loop()
    try:

        async def create() -> None:
            server.create("a").put_nowait({"type": "echo", "text": "hi"})
            await server.next_send()
            futures.append(server.application_instances["a"]["future"])

        other_loop.run_until_complete(create())
        server.run()  # a new loop: the instance on the other loop is not its own
        assert server.application_instances == {}
        assert not futures[0].done()  # left alone, on its own loop

        async def wait() -> None:
            futures[0].cancel()
            with pytest.raises(ApplicationCancelled):
                await futures[0]

        other_loop.run_until_complete(wait())
    finally:
        other_loop.close()
    assert ended.outcomes == {"a": "cancelled"}


# Channels' Worker (channels/worker.py) subclasses asgiref's StatelessServer,
# and Channels' tests await worker.handle() directly, without arun().  Channels
# is asyncio-only (its handle() uses asyncio.ensure_future and asyncio.wait), so
# these two run on asyncio only.


class ChannelsStyleWorker(StatelessServer):
    """Channels 4.3's Worker, line for line, on anyio_bridge's StatelessServer."""

    def __init__(
        self,
        application: Callable[..., Any],
        channels: list[str],
        channel_layer: InMemoryLayer,
        max_applications: int = 1000,
    ) -> None:
        super().__init__(application, max_applications)
        self.channels = channels
        self.channel_layer = channel_layer

    async def handle(self) -> None:
        listeners = [
            asyncio.ensure_future(self.listener(channel)) for channel in self.channels
        ]
        await asyncio.wait(listeners)
        for listener in listeners:
            listener.result()

    async def listener(self, channel: str) -> None:
        while True:
            message = await self.channel_layer.receive(channel)
            if not message.get("type", None):
                raise ValueError("Worker received message with no type.")
            scope = {"type": "channel", "channel": channel}
            instance_queue = self.get_or_create_application_instance(channel, scope)
            await instance_queue.put(message)


class InMemoryLayer:
    """The two calls of a Channels channel layer that the Worker makes."""

    def __init__(self) -> None:
        self.queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        self.queues.setdefault(channel, asyncio.Queue()).put_nowait(message)

    async def receive(self, channel: str) -> dict[str, Any]:
        return await self.queues.setdefault(channel, asyncio.Queue()).get()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_channels_style_worker_awaited_directly() -> None:
    got: list[int] = []
    both = asyncio.Event()

    async def consumer(scope: Any, receive: Receive, send: Send) -> None:
        assert scope == {"type": "channel", "channel": "work"}
        while True:
            message = await receive()
            got.append(message["v"])
            if len(got) == 2:
                both.set()

    layer = InMemoryLayer()
    worker = ChannelsStyleWorker(consumer, ["work"], layer)
    task = asyncio.ensure_future(worker.handle())
    await layer.send("work", {"type": "hello", "v": 1})
    await layer.send("work", {"type": "hello", "v": 2})
    await both.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert got == [1, 2]
    # One instance for the channel, which outlives handle() as in asgiref.
    assert list(worker.application_instances) == ["work"]
    future = worker.application_instances["work"]["future"]
    worker.delete_application_instance("work")
    with pytest.raises(asyncio.CancelledError):
        await future
    assert future.cancelled()


_REAL_CHANNELS_WORKER = """
import anyio_bridge.as_asgiref  # before anything imports asgiref

import asyncio

import asgiref.server
from django.conf import settings

settings.configure()

from channels.consumer import AsyncConsumer
from channels.layers import InMemoryChannelLayer
from channels.routing import ChannelNameRouter
from channels.worker import Worker

import anyio_bridge.server

assert asgiref.server.StatelessServer is anyio_bridge.server.StatelessServer


async def main():
    got = []
    both = asyncio.Event()

    class Consumer(AsyncConsumer):
        async def hello(self, message):
            got.append(message["v"])
            if len(got) == 2:
                both.set()

    layer = InMemoryChannelLayer()
    worker = Worker(ChannelNameRouter({"work": Consumer.as_asgi()}), ["work"], layer)
    task = asyncio.ensure_future(worker.handle())
    await layer.send("work", {"type": "hello", "v": 1})
    await layer.send("work", {"type": "hello", "v": 2})
    await both.wait()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    assert got == [1, 2], got
    assert list(worker.application_instances) == ["work"]
    future = worker.application_instances["work"]["future"]
    worker.delete_application_instance("work")
    try:
        await future
    except asyncio.CancelledError:
        pass
    assert future.cancelled()
    print("ok")


asyncio.run(main())
"""


def test_real_channels_worker_awaited_directly_under_the_alias() -> None:
    """Channels imports asgiref itself: its Worker runs in a child process
    that installs the asgiref alias first (this one compares with asgiref)."""
    pytest.importorskip("channels")
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("COVERAGE_PROCESS_START", "COVERAGE_PROCESS_CONFIG")
    }
    result = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", _REAL_CHANNELS_WORKER],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "ok\n"), result.stderr


# --------------------------------------------------------------------------
# MessageQueue
# --------------------------------------------------------------------------


async def test_queue_basics() -> None:
    queue: MessageQueue[int] = MessageQueue()
    assert queue.empty()
    with pytest.raises(anyio.WouldBlock):
        queue.get_nowait()
    with pytest.raises(asyncio.QueueEmpty):  # as from asgiref's asyncio.Queue
        queue.get_nowait()
    queue.put_nowait(1)
    await queue.put(2)
    assert queue.qsize() == 2
    assert repr(queue) == "<MessageQueue qsize=2>"
    assert await queue.get() == 1
    assert queue.get_nowait() == 2
    assert queue.empty()


async def test_queue_get_waits_for_put() -> None:
    queue: MessageQueue[str] = MessageQueue()
    got: list[str] = []

    async def getter() -> None:
        got.append(await queue.get())

    async with anyio.create_task_group() as tg:
        tg.start_soon(getter)
        tg.start_soon(getter)
        await anyio.wait_all_tasks_blocked()
        queue.put_nowait("x")
        queue.put_nowait("y")
    assert sorted(got) == ["x", "y"]
    assert queue.empty()


async def test_queue_cancelled_get_loses_nothing() -> None:
    queue: MessageQueue[str] = MessageQueue()
    with anyio.CancelScope() as scope:
        scope.cancel()
        queue.put_nowait("kept")
        await queue.get()
    assert scope.cancelled_caught
    assert queue.qsize() == 1
    assert await queue.get() == "kept"
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(queue.get)  # waits on the empty queue
            await anyio.wait_all_tasks_blocked()
            scope.cancel()
    queue.put_nowait("second")
    assert await queue.get() == "second"


async def test_queue_cancelled_put_adds_nothing() -> None:
    queue: MessageQueue[str] = MessageQueue()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await queue.put("dropped")
    assert queue.empty()
