"""Where applications run: the process's loop thread, across fork() and exit."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from anyio_bridge._asgi_wsgi import runtime as runtime_module
from anyio_bridge._bridge.state import process
from anyio_bridge.sync import async_to_sync
from anyio_bridge.wsgi import AsgiToWsgi

from .driver import (
    BACKENDS,
    TEXT,
    WAIT,
    Gate,
    Reached,
    Receive,
    Scope,
    Send,
    make_environ,
    request,
    serve,
    start,
    text,
)

pytestmark = pytest.mark.parametrize("backend", BACKENDS)


class Where:
    """An application that records the thread each request runs on."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.threads.append(threading.current_thread())
        await text(send, threading.current_thread().name.encode())


def test_runs_on_the_process_loop_thread(backend: str) -> None:
    app = Where()
    with serve(app, backend=backend) as first, serve(app, backend=backend) as second:
        assert request(first, make_environ()).body == (
            f"anyio_bridge {backend} loop".encode()
        )
        request(second, make_environ())
        request(first, make_environ())
    assert len(set(app.threads)) == 1  # one thread for every adapter
    assert app.threads[0] is process.loop_thread(backend).thread

    async def where() -> threading.Thread:
        return threading.current_thread()

    # The same thread async_to_sync uses from plain sync code.
    assert async_to_sync(where, backend=backend)() is app.threads[0]


def test_thread_count_does_not_grow_with_adapters(backend: str) -> None:
    app = Where()
    with serve(app, backend=backend) as adapter:
        request(adapter, make_environ())  # the loop thread exists from here
        before = threading.active_count()
        adapters = [AsgiToWsgi(app, backend=backend, lifespan="off") for _ in range(50)]
        try:
            for each in adapters:
                request(each, make_environ())
            assert threading.active_count() == before
        finally:
            for each in adapters:
                each.close()
    assert len(set(app.threads)) == 1


def discard_loop(backend: str, options: dict[str, Any]) -> None:
    """Stop the loop thread for *options* and forget it (its fds are closed)."""
    loop_thread = process.loop_thread(backend, options)
    loop_thread.stop(WAIT)
    for key, value in list(process._loops.items()):
        if value is loop_thread:
            del process._loops[key]


#: Options no other test uses: these tests stop the loop thread they get.
OWN_OPTIONS: dict[str, dict[str, Any]] = {
    "asyncio": {"debug": False},
    "trio": {"clock": None},
}


@pytest.fixture
def own_loop(backend: str) -> Iterator[dict[str, Any]]:
    """Backend options for a loop thread of the test's own, which it may stop."""
    yield OWN_OPTIONS[backend]
    discard_loop(backend, OWN_OPTIONS[backend])


def test_backend_options_get_a_loop_thread_of_their_own(
    backend: str, own_loop: dict[str, Any]
) -> None:
    app = Where()
    options = own_loop
    with (
        serve(app, backend=backend) as plain,
        serve(app, backend=backend, backend_options=options) as other,
        serve(app, backend=backend, backend_options=dict(options)) as same,
    ):
        request(plain, make_environ())
        assert request(other, make_environ()).body == (
            f"anyio_bridge {backend} loop".encode()
        )
        request(same, make_environ())
    assert app.threads[0] is not app.threads[1]
    assert app.threads[1] is app.threads[2]
    assert app.threads[1] is process.loop_thread(backend, options).thread


def test_request_runs_in_a_copy_of_the_servers_context(backend: str) -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(request_id.get("unset"))
        request_id.set("changed by the app")
        await text(send)

    with serve(app, backend=backend) as adapter:
        token = request_id.set("from middleware")
        try:
            request(adapter, make_environ())
            assert request_id.get() == "from middleware"
        finally:
            request_id.reset(token)
        request(adapter, make_environ())
    assert seen == ["from middleware", "unset"]


def test_loop_stopped_before_a_request_answers_503(
    backend: str, own_loop: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    app = Where()
    with serve(app, backend=backend, backend_options=own_loop) as adapter:
        request(adapter, make_environ())  # starts the runtime and its loop
        process.loop_thread(backend, own_loop).stop(WAIT)
        call = request(adapter, make_environ())
    assert call.status == "503 Service Unavailable"
    assert "the event loop has stopped: answering 503" in caplog.text
    assert len(app.threads) == 1


def test_loop_stopping_under_a_running_app(
    backend: str, own_loop: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    # Interpreter exit stops the loop threads: the request and lifespan tasks
    # still running are cancelled, which is not an application error.
    caplog.set_level(logging.DEBUG, "anyio_bridge.wsgi")
    lifespan_events: list[str] = []
    streaming = Reached()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            lifespan_events.append((await receive())["type"])
            await send({"type": "lifespan.startup.complete"})
            try:
                await receive()
            except BaseException as exc:
                lifespan_events.append(type(exc).__name__)
                raise
            return
        await send({"type": "http.response.start", "status": 200, "headers": TEXT})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        streaming.set()
        await Gate().wait()  # never opened

    options = own_loop
    with (
        serve(app, backend=backend, backend_options=options, lifespan="on") as adapter,
        start(adapter, make_environ(path="/stream")) as call,
    ):
        assert call.next_chunk() == b"a"
        streaming.wait()
        process.loop_thread(backend, options).stop(WAIT)
        with pytest.raises(RuntimeError, match="failed mid-response"):
            call.next_chunk()
        # close() finds the lifespan ended, and does not wait.
    assert lifespan_events[0] == "lifespan.startup"
    assert (
        lifespan_events[1]
        == {"asyncio": "CancelledError", "trio": "Cancelled"}[backend]
    )
    assert "request task cancelled: /stream" in caplog.text
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_new_process_generation_gets_a_new_runtime(backend: str) -> None:
    # What a fork does to the adapter, in this process: the generation
    # changes (runtime._after_fork_in_child, registered with os.fork), and
    # the adapter starts over with its own lifespan.  The real fork is below.
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await text(send, b"ok")

    adapter = AsgiToWsgi(app, backend=backend)
    request(adapter, make_environ())
    parent_runtime = adapter._runtime
    assert parent_runtime is not None
    runtime_module._after_fork_in_child()
    try:
        request(adapter, make_environ())
        assert adapter._runtime is not parent_runtime
        assert events == ["lifespan.startup", "lifespan.startup"]
        parent_runtime.close()  # not this generation's: no shutdown here
        assert events == ["lifespan.startup", "lifespan.startup"]
        adapter.close()
        assert events == ["lifespan.startup", "lifespan.startup", "lifespan.shutdown"]
    finally:
        # In a real child the parent's lifespan task does not exist; here it
        # does, and is stopped by hand.
        parent_runtime.lifespan.shutdown()
    assert events.count("lifespan.shutdown") == 2


def test_exit_closes_open_adapters(backend: str) -> None:
    # runtime._close_all is registered with atexit; called here by hand.
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            events.append((await receive())["type"])
            await send({"type": "lifespan.startup.complete"})
            events.append((await receive())["type"])
            await send({"type": "lifespan.shutdown.complete"})
            return
        await text(send, b"ok")

    adapter = AsgiToWsgi(app, backend=backend)
    try:
        assert request(adapter, make_environ()).body == b"ok"
        runtime_module._close_all()
        assert events == ["lifespan.startup", "lifespan.shutdown"]
        assert request(adapter, make_environ()).status == "503 Service Unavailable"
    finally:
        adapter.close()
    assert events == ["lifespan.startup", "lifespan.shutdown"]


FORK_APP = """
events = []

async def app(scope, receive, send):
    pid = os.getpid()
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            events.append([message["type"], pid])
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    thread = threading.current_thread()
    events.append(["request", pid, thread.name, thread.native_id])
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_gets_its_own_loop_thread_and_lifespan(backend: str) -> None:
    namespace: dict[str, Any] = {"os": os, "threading": threading}
    exec(FORK_APP, namespace)
    events: list[list[Any]] = namespace["events"]
    adapter = AsgiToWsgi(namespace["app"], backend=backend)
    try:
        assert request(adapter, make_environ()).body == b"ok"
        parent_loop = process.loop_thread(backend).thread
        read_end, write_end = os.pipe()
        with warnings.catch_warnings():
            # Python 3.12+ warns about fork() with threads running: the
            # adapter handles exactly that (gunicorn --preload does it).
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: reports through the pipe
            status = 0
            try:
                os.close(read_end)
                outcome: dict[str, Any] = {}
                outcome["body"] = request(adapter, make_environ()).body.decode()
                outcome["parent loop alive"] = parent_loop.is_alive()
                loop = process.loop_thread(backend).thread
                outcome["loop"] = [loop.name, loop.native_id, loop.is_alive()]
                adapter.close()
                outcome["events"] = events
            except BaseException as exc:
                outcome = {"error": repr(exc)}
                status = 1
            with os.fdopen(write_end, "w") as pipe:
                json.dump(outcome, pipe)
            os._exit(status)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            report = json.load(pipe)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, report
        # The parent goes on as before, on its own loop thread.
        assert request(adapter, make_environ()).body == b"ok"
    finally:
        adapter.close()
    parent = os.getpid()
    assert report["body"] == "ok"
    assert report["parent loop alive"] is False  # threads do not survive fork
    name, native_id, alive = report["loop"]
    assert (name, alive) == (f"anyio_bridge {backend} loop", True)
    assert native_id != parent_loop.native_id
    child_events = report["events"]
    child = child_events[-1][1]
    assert child != parent
    # The child inherited the parent's events so far, then ran its own
    # startup, its request on its new loop thread, and its shutdown.
    assert child_events == [
        ["lifespan.startup", parent],
        ["request", parent, f"anyio_bridge {backend} loop", parent_loop.native_id],
        ["lifespan.startup", child],
        ["request", child, f"anyio_bridge {backend} loop", native_id],
        ["lifespan.shutdown", child],
    ]
    # And the parent's lifespan ran once, shut down by its own close().
    assert [event[0] for event in events if event[1] == parent] == [
        "lifespan.startup",
        "request",
        "request",
        "lifespan.shutdown",
    ]


EXIT_SCRIPT = """
import sys, wsgiref.util, wsgiref.validate
from anyio_bridge.wsgi import AsgiToWsgi

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            print(message["type"], flush=True)
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"response"})

adapter = AsgiToWsgi(app, backend=sys.argv[1])
environ = {"QUERY_STRING": ""}
wsgiref.util.setup_testing_defaults(environ)
result = wsgiref.validate.validator(adapter)(environ, lambda *args: None)
print(b"".join(result).decode(), flush=True)
result.close()
print("exiting", flush=True)
"""


def test_interpreter_exit_runs_the_lifespan_shutdown(backend: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE")}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(EXIT_SCRIPT), backend],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "lifespan.startup",
        "response",
        "exiting",
        "lifespan.shutdown",  # at exit, without close()
    ]
