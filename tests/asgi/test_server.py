"""StatelessServer: reporting errors, running and shutting down."""

from __future__ import annotations

import logging
import sys
from typing import Any

import anyio
import pytest

from anyio_bridge.server import ApplicationFuture, ApplicationInstance, StatelessServer

if sys.version_info < (3, 11):  # pragma: no cover - the suite runs on 3.11+ too
    from exceptiongroup import BaseExceptionGroup

from .server_helpers import Ended, Harness, Receive, Send, echo_app, run_server

pytestmark = pytest.mark.anyio

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
