"""StatelessServer instances created outside arun(), as asgiref allows, and
Channels' Worker, which does so."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import anyio
import pytest

from anyio_bridge.server import (
    ApplicationCancelled,
    ApplicationFuture,
    ApplicationInstance,
    MessageQueue,
    StatelessServer,
)

from .server_helpers import Ended, Receive, Send, echo_app

pytestmark = pytest.mark.anyio

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
