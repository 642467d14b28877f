"""Real WSGI servers on 127.0.0.1, serving ``AsgiToWsgi``, for the e2e tests.

* gunicorn runs as a subprocess (``python -m gunicorn``) on a listening
  socket the test binds to port 0 and hands over as ``fd://N``: no port race,
  and a request made before the workers are up waits in the backlog instead
  of failing.  Its application is a factory in
  :mod:`tests.asgi_wsgi.e2e_apps` (``module:factory()``), configured through
  ``E2E_*`` environment variables; its log goes to a file.  It is stopped
  with ``SIGTERM`` (a graceful stop: workers finish, then exit normally, so
  their ``atexit`` handlers -- the adapter's lifespan shutdown -- run).
* waitress (``waitress.create_server``) and ``wsgiref.simple_server`` run in
  a thread of the test process, serving a WSGI callable built in the test.

:class:`ServerPool` gives a test module all of them: gunicorn servers are
started on first use and kept until the module ends, in-process servers (and
their adapters, whose lifespan tasks live on the process's shared loops) are
started and stopped around each test.  Every wait is bounded by :data:`WAIT`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import waitress  # type: ignore[import-untyped]
from waitress.channel import HTTPChannel  # type: ignore[import-untyped]

#: Seconds any single wait may take (server start, stop, a request), so that a
#: broken adapter or server fails the test instead of hanging it.  Not a
#: timing threshold: everything here normally takes milliseconds.
WAIT = 30.0
REPO = Path(__file__).resolve().parents[2]
BACKENDS = ("asyncio", "trio")
GUNICORN_KINDS = ("gunicorn-sync", "gunicorn-gthread")
IN_PROCESS_KINDS = ("waitress", "wsgiref")
KINDS = GUNICORN_KINDS + IN_PROCESS_KINDS
GTHREAD_THREADS = 8

StartResponse = Callable[..., Any]


class WsgiApp(Protocol):
    """A WSGI callable that must be closed (an adapter, or a dispatcher of them)."""

    def __call__(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]: ...

    def close(self) -> None: ...


# -- gunicorn ------------------------------------------------------------------


@dataclass
class Gunicorn:
    """A running gunicorn master (a child process of the test)."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        """The master's pid."""
        return self.process.pid

    def log_text(self, start: int = 0) -> str:
        """The log, from byte *start* on."""
        with self.log.open("rb") as file:
            file.seek(start)
            return file.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log.stat().st_size

    def errors(self, start: int = 0) -> list[str]:
        """Log lines (from byte *start*) that tell of an error: tracebacks
        (the adapter logs through the root logger's last resort here: stderr,
        which is the log) and gunicorn's ``[ERROR]`` lines."""
        return [
            line
            for line in self.log_text(start).splitlines()
            if "Traceback" in line or "[ERROR]" in line
        ]

    def stop(self) -> int:
        """Stop gracefully (``SIGTERM``) and wait; the exit code.

        Killed (and the test failed) if it does not exit within :data:`WAIT`.
        """
        process = self.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(WAIT)
                raise AssertionError(
                    f"gunicorn did not stop on SIGTERM:\n{self.log_text()}"
                ) from None
        return process.returncode


def _listener() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    return listener


@contextmanager
def gunicorn_server(
    app: str,
    *,
    log_dir: Path,
    worker_class: str = "sync",
    workers: int = 1,
    preload: bool = False,
    env: Mapping[str, str] | None = None,
    ready_path: str | None = "/",
    extra_args: Sequence[str] = (),
) -> Iterator[Gunicorn]:
    """Run ``gunicorn APP`` (a ``module:factory()`` spec) until the block ends.

    *worker_class* ``"gthread"`` gets :data:`GTHREAD_THREADS` threads per
    worker.  Unless *ready_path* is ``None``, one request to it is answered
    (any status) before the block starts.  The server is always stopped at
    the end (``SIGTERM``, then ``SIGKILL`` after :data:`WAIT`).
    """
    listener = _listener()
    port = listener.getsockname()[1]
    fd = listener.fileno()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"fd://{fd}",
        "--worker-class",
        worker_class,
        "--workers",
        str(workers),
        "--graceful-timeout",
        "10",
        "--timeout",
        "120",
        # gunicorn 26+ opens a control socket in ~/.gunicorn by default: one
        # per master would collide across parallel test runs.
        "--no-control-socket",
        "--log-level",
        "info",
        "--pythonpath",
        str(REPO),
    ]
    if worker_class == "gthread":
        command += ["--threads", str(GTHREAD_THREADS)]
    if preload:
        command.append("--preload")
    command += [*extra_args, app]
    child_env = dict(os.environ)
    child_env.update(env or {})
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"gunicorn-{port}.log"
    with log.open("wb") as log_file:
        try:
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                pass_fds=[fd],
            )
        finally:
            # The master has its own copy of the listener now.
            listener.close()
    server = Gunicorn(f"http://127.0.0.1:{port}", process, log)
    try:
        if ready_path is not None:
            _wait_until_serving(server, ready_path)
        yield server
    except BaseException as exc:
        if sys.version_info >= (3, 11):  # pragma: no branch
            exc.add_note(f"gunicorn's log ({log}):\n{server.log_text()}")
        raise
    finally:
        server.stop()


def _wait_until_serving(server: Gunicorn, path: str) -> None:
    # The listener queues connections until a worker accepts: one request is
    # enough; if gunicorn dies instead, the queued connection is reset.
    try:
        with httpx.Client(timeout=WAIT) as client:
            client.get(server.url + path)
    except httpx.HTTPError as exc:
        raise AssertionError(
            f"gunicorn did not serve ({exc!r}):\n{server.log_text()}"
        ) from exc


# -- waitress and wsgiref, in a thread -----------------------------------------


@contextmanager
def waitress_server(app: Any, *, threads: int = 4) -> Iterator[str]:
    """Serve *app* with waitress in a thread; yields the base URL."""
    server: Any = waitress.create_server(
        app, host="127.0.0.1", port=0, threads=threads, ident="e2e-waitress"
    )
    thread = threading.Thread(target=server.run, name="e2e waitress server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Its trigger may be closed already: the server's loop has ended (seen
        # once on 3.13); the task threads still need their shutdown.
        with contextlib.suppress(OSError):
            server.trigger.pull_trigger(functools.partial(_close_waitress, server._map))
        thread.join(WAIT)
        server.task_dispatcher.shutdown(timeout=WAIT)
        assert not thread.is_alive(), "waitress did not stop"


def _close_waitress(socket_map: dict[int, Any]) -> None:
    """Close every channel and the listener (in the server's loop thread).

    An empty socket map ends the server's loop; a task still writing a
    response finds its channel closed, so the task ends too.  Channels are
    closed with ``handle_close()``, which closes their output buffers (a
    response that overflowed into a temporary file has one open): waitress's
    own ``wasyncore.close_all()`` calls ``close()``, which does not, and the
    file is then left to the garbage collector (a ``ResourceWarning``).
    """
    for dispatcher in list(socket_map.values()):
        if isinstance(dispatcher, HTTPChannel):
            dispatcher.handle_close()
        else:
            dispatcher.close()
    socket_map.clear()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def wsgiref_server(app: Any) -> Iterator[str]:
    """Serve *app* with ``wsgiref.simple_server`` in a thread.

    It serves one request at a time, and closes each connection after it.
    """
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="e2e wsgiref server",
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(WAIT)
        server.server_close()
        assert not thread.is_alive(), "wsgiref did not stop"


@contextmanager
def in_process_server(kind: str, app: Any) -> Iterator[str]:
    """``waitress`` or ``wsgiref`` serving *app*; yields the base URL."""
    if kind == "waitress":
        with waitress_server(app) as url:
            yield url
    elif kind == "wsgiref":
        with wsgiref_server(app) as url:
            yield url
    else:  # pragma: no cover
        raise ValueError(f"not an in-process server: {kind!r}")


def adapter_problems(records: Iterable[logging.LogRecord]) -> list[str]:
    """The warnings and errors the adapter logged in this process."""
    return [
        record.getMessage()
        for record in records
        if record.name.startswith("anyio_bridge") and record.levelno >= logging.WARNING
    ]


def head_on_the_wire(url: str, path: str) -> tuple[bytes, bytes]:
    """``HEAD path`` over a raw socket (``Connection: close``), read to EOF.

    The response's head, and every byte the server sent after it (there must
    be none).  httpx cannot tell: it reads no body for HEAD, and on a
    keep-alive connection stray bytes break the next response only when they
    arrive after it was sent.
    """
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=WAIT) as sock:
        sock.sendall(
            f"HEAD {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Connection: close\r\n\r\n".encode("latin-1")
        )
        received = b""
        while data := sock.recv(65536):
            received += data
    head, _, rest = received.partition(b"\r\n\r\n")
    return head, rest


# -- a test module's servers ---------------------------------------------------


class ServerPool:
    """Every server kind on every adapter backend, for one test module.

    *gunicorn_app* is the ``module:factory()`` gunicorn loads (it reads the
    backend from ``E2E_BACKEND``, and *env*); *make_app* builds the in-process
    servers' application for a backend.  gunicorn servers (one worker) are
    started on first use and stopped by :meth:`close`; in-process ones live
    for one :meth:`serve` block, and their application is closed after it.
    """

    def __init__(
        self,
        *,
        gunicorn_app: str,
        make_app: Callable[[str], WsgiApp],
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        ready_path: str = "/",
    ) -> None:
        self._gunicorn_app = gunicorn_app
        self._make_app = make_app
        self._log_dir = log_dir
        self._env = dict(env or {})
        self._ready_path = ready_path
        self._running: dict[tuple[str, str], Gunicorn] = {}
        self._stack = ExitStack()

    def gunicorn(self, kind: str, backend: str) -> Gunicorn:
        """The (started on first use) gunicorn server of *kind* on *backend*."""
        key = (kind, backend)
        server = self._running.get(key)
        if server is None:
            server = self._stack.enter_context(
                gunicorn_server(
                    self._gunicorn_app,
                    log_dir=self._log_dir,
                    worker_class=kind.removeprefix("gunicorn-"),
                    env={**self._env, "E2E_BACKEND": backend},
                    ready_path=self._ready_path,
                )
            )
            self._running[key] = server
        return server

    @contextmanager
    def serve(self, kind: str, backend: str) -> Iterator[str]:
        """A server of *kind* whose application runs on *backend*; its URL."""
        if kind in GUNICORN_KINDS:
            server = self.gunicorn(kind, backend)
            start = server.log_size()
            yield server.url
            # Best effort: an error logged after the response may be missed.
            assert not server.errors(start), server.log_text(start)
            return
        app = self._make_app(backend)
        try:
            with in_process_server(kind, app) as url:
                yield url
        finally:
            app.close()

    def close(self) -> None:
        """Stop the gunicorn servers."""
        self._stack.close()
