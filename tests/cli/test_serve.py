"""serve() in this process: signals, graceful shutdown, workers handed to
hypercorn (``_cli.serve``, ``_cli.config``, ``_cli.workers``)."""

from __future__ import annotations

import asyncio
import io
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from anyio_bridge._cli import app as cli_app
from anyio_bridge._cli import serve as cli_serve
from anyio_bridge._cli.app import AppSpec
from anyio_bridge._cli.options import Backend, ServeOptions
from anyio_bridge.wsgi import WsgiToAsgi

from .conftest import SIGNALS, URL, WAIT

# The command line has no Python API but main(): its parts are tested
# through their private modules where a behaviour cannot be reached
# through main() or a subprocess quickly.

if sys.version_info < (3, 11):  # pragma: no cover - CI runs 3.11
    from exceptiongroup import BaseExceptionGroup


# --- serving in this process ------------------------------------------------


def test_asyncio_errors_other_than_cancelled_connections_are_reported() -> None:
    reported: list[dict[str, Any]] = []

    class Loop:
        def default_exception_handler(self, context: dict[str, Any]) -> None:
            reported.append(context)

    error = {"message": "boom", "exception": RuntimeError("boom")}
    cancelled = {"message": "cut", "exception": asyncio.CancelledError()}
    handler = cli_serve._ignore_cancelled(asyncio.CancelledError)
    for context in (error, cancelled, {"message": "Task was destroyed"}):
        handler(Loop(), context)
    assert reported == [error, {"message": "Task was destroyed"}]


class Output(io.StringIO):
    """Standard output for :func:`~anyio_bridge._cli.serve.serve`: each line
    also goes to a queue."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: queue.Queue[str] = queue.Queue()
        self.partial = ""

    def write(self, text: str) -> int:
        *lines, self.partial = (self.partial + text).split("\n")
        for line in lines:
            self.lines.put(line)
        return super().write(text)

    def next_line(self) -> str:
        return self.lines.get(timeout=WAIT)


def serve_in_this_process(
    options: ServeOptions, client: Callable[[str, Output], None]
) -> int:
    """Run serve() here; *client* gets its URL in a thread, then must signal it."""
    output = Output()
    failures: list[BaseException] = []

    def run_client() -> None:
        try:
            url = URL.search(output.next_line())
            assert url is not None
            client(url.group(), output)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)
            os.kill(os.getpid(), signal.SIGINT)

    handlers = {signum: signal.getsignal(signum) for signum in SIGNALS}
    thread = threading.Thread(target=run_client)
    thread.start()
    try:
        status = cli_serve.serve(options, output)
    finally:
        thread.join(WAIT)
    if failures:  # pragma: no cover - only when the test fails
        raise failures[0]
    # The signal handlers are back as they were.
    assert {signum: signal.getsignal(signum) for signum in SIGNALS} == handlers
    return status


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_serve_in_this_process(app_dir: Path, backend: Backend) -> None:
    responses: list[httpx.Response] = []

    def client(url: str, output: Output) -> None:
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(timeout=WAIT) as http:
            responses.append(http.post(url + "/app/hello"))
        os.kill(os.getpid(), signal.SIGINT)
        assert "SIGINT received, shutting down" in output.next_line()

    options = ServeOptions(
        AppSpec("webapp", "app"),
        backend=backend,
        port=0,
        threads=2,
        root_path="/app",
        log_level="warning",
    )
    assert serve_in_this_process(options, client) == 0
    assert [response.text for response in responses] == ["/app|/hello|POST"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_requests_in_progress_finish_on_shutdown(
    app_dir: Path, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    received: list[str] = []

    def client(url: str, output: Output) -> None:
        with (
            httpx.Client(timeout=WAIT) as http,
            http.stream("GET", url + "/stream") as response,
        ):
            lines = response.iter_lines()
            assert next(lines) == "first line"
            os.kill(os.getpid(), signal.SIGINT)
            assert output.next_line().endswith(": SIGINT received, shutting down")
            sys.modules["webapp"].release.set()
            received.extend(lines)

    options = ServeOptions(AppSpec("webapp", "app"), backend=backend, port=0)
    assert serve_in_this_process(options, client) == 0
    assert received == ["last line"]
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


def stuck_request_client(
    stop: Callable[[Output], None],
) -> Callable[[str, Output], None]:
    """A client whose request is stuck in the application while *stop* runs;
    the server must cut it."""

    def client(url: str, output: Output) -> None:
        try:
            with (
                httpx.Client(timeout=WAIT) as http,
                http.stream("GET", url + "/stream") as response,
            ):
                lines = response.iter_lines()
                assert next(lines) == "first line"
                os.kill(os.getpid(), signal.SIGINT)
                assert output.next_line().endswith(": SIGINT received, shutting down")
                stop(output)
                # httpx or httpcore's RemoteProtocolError, depending on where
                # the stream was when the connection went.
                with pytest.raises(Exception, match="peer closed connection"):
                    list(lines)
        finally:
            sys.modules["webapp"].release.set()

    return client


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_second_signal_stops_at_once(app_dir: Path, backend: Backend) -> None:
    def second_signal(output: Output) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        assert output.next_line().endswith(
            ": SIGTERM received, already shutting down: stopping now"
        )

    options = ServeOptions(AppSpec("webapp", "app"), backend=backend, port=0)
    assert serve_in_this_process(options, stuck_request_client(second_signal)) == 0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_stuck_requests_are_stopped_after_the_grace_period(
    app_dir: Path, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Force the stop as soon as the shutdown begins, whatever hypercorn does.
    monkeypatch.setattr(cli_serve, "SHUTDOWN_MARGIN", -1000.0)

    def wait_for_forced_stop(output: Output) -> None:
        assert output.next_line().endswith(
            ": requests still running after the grace period, stopping them"
        )

    options = ServeOptions(AppSpec("webapp", "app"), backend=backend, port=0)
    assert (
        serve_in_this_process(options, stuck_request_client(wait_for_forced_stop)) == 0
    )


def test_workers_hand_the_socket_and_the_app_to_hypercorn(
    app_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import hypercorn.run
    from hypercorn.config import Config
    from hypercorn.utils import load_application

    seen: list[Any] = []

    def run(config: Config) -> int:
        # What hypercorn.run does in the parent and in each worker.
        sockets = config.create_sockets()
        try:
            seen.append(config)
            seen.append(sockets.insecure_sockets[0].getsockname())
            seen.append(load_application(config.application_path, 1000))
        finally:
            for sock in sockets.insecure_sockets:
                sock.close()
        return 0

    limiters: list[object] = []

    def wsgi_to_asgi(app: Any, *, limiter: int | None) -> WsgiToAsgi:
        limiters.append(limiter)
        return WsgiToAsgi(app, limiter=limiter)

    monkeypatch.setattr(hypercorn.run, "run", run)
    monkeypatch.setattr(cli_app, "WsgiToAsgi", wsgi_to_asgi)
    options = ServeOptions(
        AppSpec("webapp", "app"), backend="trio", port=0, workers=3, threads=7
    )
    assert cli_serve.serve(options) == 0
    config, address, wrapper = seen
    assert config.workers == 3
    assert config.worker_class == "trio"
    out = capsys.readouterr().out
    assert f"on trio (3 workers) at http://127.0.0.1:{address[1]} " in out
    application = wrapper.app
    assert isinstance(application, WsgiToAsgi)
    assert application.wsgi_application is sys.modules["webapp"].app
    assert limiters == [7, 7]  # in this process, then in the "worker"


def test_server_errors_are_not_swallowed(
    app_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hypercorn.asyncio

    async def broken_serve(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the server broke")

    monkeypatch.setattr(hypercorn.asyncio, "serve", broken_serve)
    options = ServeOptions(AppSpec("webapp", "app"), backend="asyncio", port=0)
    with pytest.raises(BaseExceptionGroup) as caught:
        cli_serve.serve(options, io.StringIO())
    assert caught.group_contains(RuntimeError, match="the server broke")
