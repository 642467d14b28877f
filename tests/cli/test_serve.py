"""serve() in this process: signals, graceful shutdown, workers handed to
hypercorn (``_cli.serve``, ``_cli.config``, ``_cli.workers``)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from anyio_bridge._cli import app as cli_app
from anyio_bridge._cli import serve as cli_serve
from anyio_bridge._cli.access import AccessLog
from anyio_bridge._cli.app import AppSpec
from anyio_bridge._cli.options import Backend, ServeOptions, StaticMount
from anyio_bridge._cli.shutdown import UNAVAILABLE, ShutdownGate
from anyio_bridge._cli.static import StaticFiles
from anyio_bridge.wsgi import WsgiToAsgi

from .conftest import WAIT, Output, serve_in_this_process, serving

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
        graceful_timeout=0,  # nothing is running to cut
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

    options = ServeOptions(
        AppSpec("webapp", "app"), backend=backend, port=0, access_log="off"
    )
    assert serve_in_this_process(options, stuck_request_client(second_signal)) == 0


GRACE_ENDED = ": graceful timeout: 1 request(s) still running, cut (503 if no "


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_streaming_responses_are_cut_at_the_graceful_timeout(
    app_dir: Path, backend: Backend
) -> None:
    def wait_for_the_cut(output: Output) -> None:
        assert GRACE_ENDED in output.next_line()

    options = ServeOptions(
        AppSpec("webapp", "app"),
        backend=backend,
        port=0,
        graceful_timeout=0,
        access_log="off",
    )
    assert serve_in_this_process(options, stuck_request_client(wait_for_the_cut)) == 0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_requests_not_answered_by_the_graceful_timeout_get_503(
    app_dir: Path, backend: Backend
) -> None:
    responses: list[httpx.Response] = []

    def client(url: str, output: Output) -> None:
        webapp = sys.modules["webapp"]
        with (
            httpx.Client(timeout=WAIT) as http,
            concurrent.futures.ThreadPoolExecutor(1) as pool,
        ):
            try:
                request = pool.submit(http.get, url + "/block")
                assert webapp.entered.wait(WAIT)
                os.kill(os.getpid(), signal.SIGINT)
                assert output.next_line().endswith(": SIGINT received, shutting down")
                responses.append(request.result(WAIT))
                assert GRACE_ENDED in output.next_line()
            finally:
                webapp.release.set()

    options = ServeOptions(
        AppSpec("webapp", "app"),
        backend=backend,
        port=0,
        graceful_timeout=0,
        access_log="off",
    )
    assert serve_in_this_process(options, client) == 0
    [response] = responses
    assert response.status_code == 503
    assert response.headers["connection"] == "close"
    assert response.text == UNAVAILABLE.decode()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_stuck_requests_are_stopped_after_the_grace_period(
    app_dir: Path, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Force the stop as soon as the shutdown begins, whatever hypercorn does.
    monkeypatch.setattr(cli_serve, "SHUTDOWN_MARGIN", -1000.0)

    def wait_for_forced_stop(output: Output) -> None:
        # The gate may or may not see the request before hypercorn cuts it.
        while not output.next_line().endswith(
            ": requests still running after the grace period, stopping them"
        ):
            pass

    options = ServeOptions(
        AppSpec("webapp", "app"),
        backend=backend,
        port=0,
        graceful_timeout=0,
        access_log="off",
    )
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
        AppSpec("webapp", "app"),
        backend="trio",
        port=0,
        workers=3,
        threads=7,
        static=(StaticMount("/static", str(app_dir)),),
        graceful_timeout=1.5,
        keep_alive=9,
    )
    assert cli_serve.serve(options) == 0
    config, address, wrapper = seen
    assert config.workers == 3
    assert config.worker_class == "trio"
    assert config.graceful_timeout == 1.5  # hypercorn's own, in the workers
    assert config.keep_alive_timeout == 9
    out = capsys.readouterr().out
    assert f"on trio (3 workers) at http://127.0.0.1:{address[1]} " in out
    layers = [wrapper.app]
    while not isinstance(layers[-1], WsgiToAsgi):
        layers.append(layers[-1].app)
    assert [type(layer) for layer in layers] == [
        AccessLog,
        ShutdownGate,
        StaticFiles,
        WsgiToAsgi,
    ]
    assert layers[-1].wsgi_application is sys.modules["webapp"].app
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


def test_hypercorn_logs_all_but_its_startup_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from hypercorn.config import Config

    from anyio_bridge._cli.logs import ServerLogger

    config = Config()
    config.errorlog = logging.getLogger("test_hypercorn_error")
    logger = ServerLogger(config)
    caplog.set_level(logging.INFO, logger="test_hypercorn_error")
    anyio.run(logger.info, "Running on http://127.0.0.1:8000 (CTRL + C to quit)")
    anyio.run(logger.info, "something else")
    assert [record.getMessage() for record in caplog.records] == ["something else"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_idle_connections_close_after_the_keep_alive_timeout(
    app_dir: Path, backend: Backend
) -> None:
    options = ServeOptions(AppSpec("webapp", "app"), backend=backend, keep_alive=0.1)
    with serving(options) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=WAIT) as client:
            client.sendall(b"GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
            received = b""
            while chunk := client.recv(65536):  # until the server closes it
                received += chunk
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.endswith(b"\r\n\r\nb\r\n|/hello|GET\r\n0\r\n\r\n")  # chunked
