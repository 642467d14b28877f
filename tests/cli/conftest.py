"""Shared by the tests of ``anyio-bridge serve``: an application module, and
a current directory holding it."""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import anyio.from_thread
import pytest

from anyio_bridge._cli.options import ServeOptions
from anyio_bridge._cli.serve import serve

REPO = Path(__file__).resolve().parents[2]
WAIT = 30  # seconds: generous bound for things that must happen
URL = re.compile(r"https?://\S+")
SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: A WSGI application module for the servers under test.  /stream sends one
#: line, then blocks until /release is requested (or the test ends); /block
#: sets ``entered`` and blocks before responding, until the same; /client
#: answers what the application sees of the client.
APP_SOURCE = """
import threading

release = threading.Event()
entered = threading.Event()


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return stream()
    if path == "/block":
        entered.set()
        release.wait()
    if path == "/release":
        release.set()
    if path == "/client":
        seen = ("REMOTE_ADDR", "wsgi.url_scheme", "SERVER_PROTOCOL")
        body = "|".join(environ[name] for name in seen).encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    body = f"{environ['SCRIPT_NAME']}|{path}|{environ['REQUEST_METHOD']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def stream():
    yield b"first line\\n"
    release.wait()
    yield b"last line\\n"


not_callable = 42


def create_app():
    return app


async def asgi_app(scope, receive, send):
    pass


class AsgiClass:
    async def __call__(self, scope, receive, send):
        pass


asgi_instance = AsgiClass()


class Api:
    def wsgi_app(self, environ, start_response):
        start_response("204 No Content", [])
        return []


api = Api()
"""


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
        status = serve(options, output)
    finally:
        thread.join(WAIT)
    if failures:  # pragma: no cover - only when the test fails
        raise failures[0]
    # The signal handlers are back as they were.
    assert {signum: signal.getsignal(signum) for signum in SIGNALS} == handlers
    return status


class Server:
    """``python -m anyio_bridge serve ...`` running in a subprocess."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        assert process.stdout is not None
        self.banner = process.stdout.readline()
        match = URL.search(self.banner)
        assert match is not None, self.banner + self.stop()[1]
        self.url = match.group()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def line_with(self, text: str) -> str:
        """The next line of its standard output with *text* in it."""
        assert self.process.stdout is not None
        for line in self.process.stdout:  # pragma: no branch - found or failed
            if text in line:
                return line.rstrip("\n")
        raise AssertionError(f"no line with {text!r}")  # pragma: no cover

    def stop(self, signum: int | None = None) -> tuple[str, str]:
        """Send *signum* (if any); return the rest of stdout, and stderr."""
        if signum is not None:
            self.signal(signum)
        out, err = self.process.communicate(timeout=WAIT)
        return out, err


@pytest.fixture
def run_server(app_dir: Path) -> Iterator[Callable[..., Server]]:
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str, cwd: Path = app_dir) -> Server:
        process = subprocess.Popen(
            [sys.executable, "-m", "anyio_bridge", "serve", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        return Server(process)

    yield start
    for process in processes:
        if process.poll() is None:  # pragma: no cover - only when a test fails
            process.kill()
        process.communicate(timeout=WAIT)


@pytest.fixture
def clean_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Undo the changes importing applications makes to sys.path and sys.modules.

    Only the modules imported from directories the test put on sys.path are
    forgotten: a library a test happened to import first (httpx's internals,
    say) stays, so that its classes stay the ones other tests catch.
    """
    path_before = list(sys.path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    added = [
        os.path.join(os.path.abspath(entry), "")
        for entry in sys.path
        if entry not in path_before
    ]
    for name in set(sys.modules) - before:
        file = getattr(sys.modules[name], "__file__", None) or ""
        if any(os.path.abspath(file).startswith(entry) for entry in added):
            del sys.modules[name]


@pytest.fixture
def app_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_imports: None
) -> Path:
    """The current directory, holding the application module ``webapp``."""
    (tmp_path / "webapp.py").write_text(APP_SOURCE)
    monkeypatch.chdir(tmp_path)
    importlib.invalidate_caches()
    return tmp_path


def unique_name() -> str:
    return f"serve_test_{uuid.uuid4().hex}"


@contextlib.contextmanager
def serving(
    options: ServeOptions, *, access_log: logging.Logger | None = None
) -> Iterator[str]:
    """Serve *options*' application with its layers (as ``serve`` builds it)
    on hypercorn, in a blocking portal's event loop; yield its URL.

    No signals: for the layers, not the command.
    """
    from anyio_bridge._cli.config import make_config
    from anyio_bridge._cli.listen import listener_url, open_listener
    from anyio_bridge._cli.serve import _Server
    from anyio_bridge._cli.stack import build_application

    directory = os.getcwd()
    application, gate = build_application(options, directory, access_log=access_log)
    with (
        open_listener("127.0.0.1", 0) as listener,
        anyio.from_thread.start_blocking_portal(options.backend) as portal,
    ):
        config = make_config(options, listener, directory)
        server = _Server(application, gate, config, 0.0, io.StringIO())
        stop = portal.call(anyio.Event)
        done = portal.start_task_soon(server.run, stop.wait)
        try:
            yield listener_url(listener, tls=options.tls)
        finally:
            portal.call(stop.set)
            done.result(WAIT)
