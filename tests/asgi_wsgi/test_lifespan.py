"""Lifespan: startup before the first request, shutdown on close(), and failures."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from anyio_bridge._asgi_wsgi.settings import LifespanMode
from anyio_bridge.wsgi import AsgiToWsgi

from .driver import (
    BACKENDS,
    Call,
    Gate,
    Message,
    Reached,
    Receive,
    Scope,
    Send,
    lifespan_unsupported,
    make_environ,
    request,
    serve,
    text,
    wait_for,
)

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

SERVER_ERROR = "500 Internal Server Error"
CANCELLED = {"asyncio": "CancelledError", "trio": "Cancelled"}


class App:
    """Records its lifespan; *startup* and *shutdown* say how each one goes.

    ``"complete"``/``"failed"`` send that message (``failed`` with
    ``message`` when *message* is set, and the lifespan then ends, as
    Starlette's does), ``"raise"`` raises, ``"hang"`` sets :attr:`waiting`,
    waits for :attr:`gate`, then completes; ``"return"`` returns at once.
    """

    def __init__(
        self,
        startup: str = "complete",
        shutdown: str = "complete",
        message: str | None = None,
    ) -> None:
        self.startup = startup
        self.shutdown = shutdown
        self.message = message
        self.events: list[str] = []
        self.lifespan_scopes: list[Scope] = []
        self.states: list[dict[str, Any] | None] = []
        self.seen_db: list[str] = []
        self.gate = Gate()
        self.waiting = Reached()
        self.lifespan_ended = threading.Event()

    async def _answer(self, how: str, phase: str, send: Send) -> None:
        if how == "raise":
            raise ZeroDivisionError(f"{phase} broke")
        if how == "hang":
            self.waiting.set()
            await self.gate.wait()
            how = "complete"
        message: Message = {"type": f"lifespan.{phase}.{how}"}
        if how == "failed" and self.message is not None:
            message["message"] = self.message
        await send(message)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            self.lifespan_scopes.append(scope)
            try:
                message = await receive()
                self.events.append(message["type"])
                scope["state"]["db"] = "connection"
                scope["state"]["log"] = []
                if self.startup == "return":
                    return
                await self._answer(self.startup, "startup", send)
                if self.startup == "failed":
                    return
                message = await receive()
                self.events.append(message["type"])
                await self._answer(self.shutdown, "shutdown", send)
            except BaseException as exc:
                self.events.append(f"lifespan ended by {type(exc).__name__}")
                raise
            finally:
                self.lifespan_ended.set()
            return
        self.events.append("request")
        state = scope.get("state")
        self.states.append(state)
        if state is not None:
            self.seen_db.append(state["db"])
            state["db"] = "changed by a request"
            state["log"].append(scope["path"])
        await text(send, b"ok")


def errors(caplog: pytest.LogCaptureFixture, level: int = logging.ERROR) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "anyio_bridge.wsgi" and r.levelno >= level
    ]


def get(adapter: AsgiToWsgi, path: str = "/") -> Call:
    return request(adapter, make_environ(path=path))


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_startup_once_before_the_first_request(
    backend: str, mode: LifespanMode
) -> None:
    app = App()
    adapter = AsgiToWsgi(app, backend=backend, lifespan=mode)
    assert app.events == []  # nothing before the first request
    try:
        assert get(adapter, "/1").body == b"ok"
        assert app.events == ["lifespan.startup", "request"]
        get(adapter, "/2")
        get(adapter, "/3")
        assert app.events == ["lifespan.startup", "request", "request", "request"]
    finally:
        adapter.close()
    assert app.events[-1] == "lifespan.shutdown"
    [scope] = app.lifespan_scopes
    assert scope["type"] == "lifespan"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.0"}
    adapter.close()  # once only
    assert app.events.count("lifespan.shutdown") == 1


def test_state_is_a_shallow_copy_per_request(backend: str) -> None:
    app = App()
    with serve(app, backend=backend, lifespan="auto") as adapter:
        get(adapter, "/a")
        get(adapter, "/b")
    lifespan_state = app.lifespan_scopes[0]["state"]
    first, second = app.states
    assert first is not second
    assert first is not lifespan_state
    assert second is not lifespan_state
    # A request's own changes stay in its copy...
    assert app.seen_db == ["connection", "connection"]
    assert lifespan_state["db"] == "connection"
    # ...but the values are shared (a shallow copy, as the spec says).
    assert lifespan_state["log"] == ["/a", "/b"]


def test_close_runs_shutdown_and_later_requests_get_503(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = App()
    adapter = AsgiToWsgi(app, backend=backend)
    get(adapter)
    adapter.close()
    assert app.events == ["lifespan.startup", "request", "lifespan.shutdown"]
    call = get(adapter)
    assert call.status == "503 Service Unavailable"
    assert call.body == b"503 Service Unavailable"
    assert app.events.count("request") == 1
    assert "request after AsgiToWsgi.close(): answering 503" in caplog.text


def test_close_before_any_request(backend: str) -> None:
    app = App()
    adapter = AsgiToWsgi(app, backend=backend)
    adapter.close()
    assert get(adapter).status == "503 Service Unavailable"
    assert app.events == []  # the lifespan never started


def test_close_during_startup(backend: str) -> None:
    # An app that completes its startup only once told to shut down: close()
    # runs the shutdown after the startup, and the waiting request is served.
    starting = Reached()
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            events.append((await receive())["type"])
            starting.set()
            events.append((await receive())["type"])
            await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        events.append("request")
        await text(send, b"served")

    adapter = AsgiToWsgi(app, backend=backend, lifespan_timeout=None)
    calls: list[Call] = []
    thread = threading.Thread(target=lambda: calls.append(get(adapter)))
    thread.start()
    try:
        starting.wait()
        adapter.close()
    finally:
        thread.join()
    assert events == ["lifespan.startup", "lifespan.shutdown", "request"]
    assert calls[0].body == b"served"


def test_requests_wait_for_the_startup(backend: str) -> None:
    app = App(startup="hang")
    calls: list[Call] = []
    with serve(app, backend=backend, lifespan="on") as adapter:
        threads = [
            threading.Thread(target=lambda: calls.append(get(adapter)))
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        app.waiting.wait()
        assert app.events == ["lifespan.startup"]  # no request ran yet
        app.gate.open()
        for thread in threads:
            thread.join()
    assert [call.body for call in calls] == [b"ok"] * 3
    assert app.events.count("lifespan.startup") == 1
    assert app.events.count("request") == 3


def test_auto_carries_on_without_lifespan_support(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "anyio_bridge.wsgi")
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await lifespan_unsupported(scope)
        scopes.append(scope)
        await text(send, b"no lifespan")

    with serve(app, backend=backend, lifespan="auto") as adapter:
        assert get(adapter).body == b"no lifespan"
        assert get(adapter).body == b"no lifespan"
    assert all("state" not in scope for scope in scopes)
    assert errors(caplog, logging.INFO) == [
        "ASGI lifespan not supported by the application "
        "(it raised ValueError: unsupported scope type lifespan)"
    ]


def test_auto_carries_on_when_the_app_returns(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "anyio_bridge.wsgi")
    app = App(startup="return")
    with serve(app, backend=backend, lifespan="auto") as adapter:
        assert get(adapter).body == b"ok"
    assert app.states == [None]
    assert app.events == ["lifespan.startup", "request"]
    assert errors(caplog, logging.INFO) == [
        "ASGI lifespan not supported by the application "
        "(it returned without completing startup)"
    ]


@pytest.mark.parametrize(
    ("startup", "reason"),
    [
        ("raise", "it raised ZeroDivisionError: startup broke"),
        ("return", "it returned without completing startup"),
    ],
)
def test_on_without_lifespan_support_fails_every_request(
    backend: str, caplog: pytest.LogCaptureFixture, startup: str, reason: str
) -> None:
    app = App(startup=startup)
    with serve(app, backend=backend, lifespan="on") as adapter:
        assert get(adapter).status == SERVER_ERROR
        assert get(adapter).status == SERVER_ERROR
    assert "request" not in app.events
    # Logged once, not per request.
    assert errors(caplog) == [
        f"ASGI lifespan startup failed: {reason}; every request is answered 500"
    ]


def test_on_with_lifespan_support_is_like_auto(backend: str) -> None:
    app = App()
    with serve(app, backend=backend, lifespan="on") as adapter:
        assert get(adapter).body == b"ok"
    assert app.events == ["lifespan.startup", "request", "lifespan.shutdown"]


def test_off_never_sends_lifespan_events(backend: str) -> None:
    app = App()
    with serve(app, backend=backend, lifespan="off") as adapter:
        assert get(adapter).body == b"ok"
    assert app.events == ["request"]
    assert app.states == [None]


@pytest.mark.parametrize("mode", ["auto", "on"])
@pytest.mark.parametrize(
    ("message", "reason"),
    [("database down", "database down"), (None, "the application gave no reason")],
)
def test_startup_failed_fails_every_request(
    backend: str,
    caplog: pytest.LogCaptureFixture,
    mode: str,
    message: str | None,
    reason: str,
) -> None:
    app = App(startup="failed", message=message)
    with serve(app, backend=backend, lifespan=mode) as adapter:
        assert get(adapter).status == SERVER_ERROR
        assert get(adapter).status == SERVER_ERROR
    assert app.events == ["lifespan.startup"]  # no request, no shutdown
    assert errors(caplog) == [
        f"ASGI lifespan startup failed: {reason}; every request is answered 500"
    ]


def test_startup_timeout(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    app = App(startup="hang")
    with serve(app, backend=backend, lifespan="auto", lifespan_timeout=0.05) as adapter:
        assert get(adapter).status == SERVER_ERROR
        wait_for(app.lifespan_ended)
        assert get(adapter).status == SERVER_ERROR
    assert app.events == ["lifespan.startup", f"lifespan ended by {CANCELLED[backend]}"]
    assert errors(caplog) == [
        "ASGI lifespan startup did not complete within lifespan_timeout=0.05s; "
        "every request is answered 500"
    ]


def test_shutdown_timeout(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    app = App(shutdown="hang")
    with serve(app, backend=backend, lifespan="on", lifespan_timeout=0.05) as adapter:
        assert get(adapter).body == b"ok"
    # close() returned: the shutdown was cancelled at the timeout.
    assert app.lifespan_ended.is_set()
    assert app.events[-1] == f"lifespan ended by {CANCELLED[backend]}"
    assert errors(caplog, logging.WARNING) == [
        "ASGI lifespan shutdown did not complete within lifespan_timeout=0.05s"
    ]


def test_no_lifespan_timeout(backend: str) -> None:
    app = App()
    with serve(app, backend=backend, lifespan="on", lifespan_timeout=None) as adapter:
        assert get(adapter).body == b"ok"
    assert app.events == ["lifespan.startup", "request", "lifespan.shutdown"]


@pytest.mark.parametrize(
    ("message", "logged"),
    [
        ("flush failed", "ASGI lifespan shutdown failed: flush failed"),
        (None, "ASGI lifespan shutdown failed: the application gave no reason"),
    ],
)
def test_shutdown_failed_is_logged(
    backend: str, caplog: pytest.LogCaptureFixture, message: str | None, logged: str
) -> None:
    app = App(shutdown="failed", message=message)
    with serve(app, backend=backend, lifespan="on") as adapter:
        get(adapter)
    assert errors(caplog) == [logged]


def test_shutdown_raising_is_logged(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = App(shutdown="raise")
    with serve(app, backend=backend, lifespan="on") as adapter:
        get(adapter)
    assert errors(caplog) == ["Exception in ASGI lifespan"]
    [record] = [r for r in caplog.records if r.exc_info]
    assert isinstance(record.exc_info[1], ZeroDivisionError)  # type: ignore[index]


def test_lifespan_ending_early_does_not_hold_up_close(backend: str) -> None:
    # Startup completes, then the lifespan returns at once: close() has
    # nothing to wait for.
    ended = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            ended.set()
            return
        await text(send, b"ok")

    with serve(app, backend=backend, lifespan="on") as adapter:
        assert get(adapter).body == b"ok"
        wait_for(ended)


def test_unexpected_lifespan_messages(backend: str) -> None:
    raised: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await text(send, b"ok")
            return

        async def wrong(message: Message) -> None:
            try:
                await send(message)
            except RuntimeError as exc:
                raised.append(str(exc))

        await receive()
        await wrong({"type": "lifespan.shutdown.complete"})  # not yet
        await wrong({"type": "lifespan.shutdown.failed"})  # not yet
        await wrong({"type": "http.response.start", "status": 200})
        await send({"type": "lifespan.startup.complete"})
        await wrong({"type": "lifespan.startup.complete"})  # again
        await wrong({"type": "lifespan.startup.failed"})  # too late
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    with serve(app, backend=backend, lifespan="on") as adapter:
        assert get(adapter).body == b"ok"
    assert raised == [
        "unexpected ASGI lifespan message 'lifespan.shutdown.complete'",
        "unexpected ASGI lifespan message 'lifespan.shutdown.failed'",
        "unexpected ASGI lifespan message 'http.response.start'",
        "unexpected ASGI lifespan message 'lifespan.startup.complete'",
        "unexpected ASGI lifespan message 'lifespan.startup.failed'",
    ]


def test_response_timeout_during_the_startup(backend: str) -> None:
    # The request gives up (504) while the startup still runs; once the
    # startup completes, the app must not be called for it any more.
    app = App(startup="hang")
    with serve(app, backend=backend, lifespan="on", response_timeout=0.05) as adapter:
        assert get(adapter, "/early").status == "504 Gateway Timeout"
        app.gate.open()
        assert get(adapter, "/later").body == b"ok"
    assert app.events == ["lifespan.startup", "request", "lifespan.shutdown"]
    assert app.states[0] is not None
    assert app.states[0]["log"] == ["/later"]


def test_asgi2_application(backend: str) -> None:
    events: list[str] = []

    class Asgi2App:
        def __init__(self, scope: Scope) -> None:
            self.scope = scope

        async def __call__(self, receive: Receive, send: Send) -> None:
            if self.scope["type"] == "lifespan":
                events.append((await receive())["type"])
                await send({"type": "lifespan.startup.complete"})
                events.append((await receive())["type"])
                await send({"type": "lifespan.shutdown.complete"})
                return
            events.append("request")
            await text(send, self.scope["path"].encode())

    with serve(Asgi2App, backend=backend, lifespan="on") as adapter:
        assert adapter.app is Asgi2App
        assert get(adapter, "/two").body == b"/two"
    assert events == ["lifespan.startup", "request", "lifespan.shutdown"]


def test_close_from_the_loop_is_refused(backend: str) -> None:
    outcome: list[str] = []
    adapters: list[AsgiToWsgi] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            adapters[0].close()
        except RuntimeError as exc:
            outcome.append(str(exc))
        await text(send, b"ok")

    with serve(app, backend=backend) as adapter:
        adapters.append(adapter)
        assert get(adapter).body == b"ok"
    assert outcome == ["AsgiToWsgi.close() cannot be called from its own loop"]
