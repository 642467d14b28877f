"""The servers measured, each a subprocess on 127.0.0.1 and a free port.

Each is started by its own command line, as a user would start it (``python
-m NAME`` with this interpreter, so the versions are the ones the report
lists), in a session of its own, with the repository root first on
``PYTHONPATH`` so that ``benchmarks.e2e.apps`` and this checkout's
``anyio_bridge`` are the ones imported.  Access logs are off everywhere
(gunicorn, hypercorn and granian have them off by default; ``anyio-bridge
serve`` and uvicorn have them on).  All use one process serving (a worker)
and, where the server has threads for WSGI, 64 of them.

The server's CPU time is that of its whole process tree (psutil): gunicorn,
hypercorn (``--workers 1``) and granian serve in a child of the process
started.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import REPO_ROOT, installed
from .apps import CONCURRENCY, PATHS, THREADS

APPS_MODULE = "benchmarks.e2e.apps"
WSGI = "wsgi"
ASGI = "asgi"

Command = Callable[[int], list[str]]


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def _serve(backend: str) -> Command:
    def command(port: int) -> list[str]:
        return _python(
            "-m",
            "anyio_bridge",
            "serve",
            f"{APPS_MODULE}:app",
            "--backend",
            backend,
            "--bind",
            f"127.0.0.1:{port}",
            "--threads",
            str(THREADS),
            "--access-log",
            "off",
            "--log-level",
            "warning",
        )

    return command


def _gunicorn(port: int) -> list[str]:
    return _python(
        "-m",
        "gunicorn",
        "--workers",
        "1",
        "--worker-class",
        "gthread",
        "--threads",
        str(THREADS),
        "--bind",
        f"127.0.0.1:{port}",
        "--keep-alive",
        "5",
        "--log-level",
        "warning",
        f"{APPS_MODULE}:app",
    )


def _uvicorn(attribute: str, *extra: str) -> Command:
    def command(port: int) -> list[str]:
        return _python(
            "-m",
            "uvicorn",
            *extra,
            "--loop",
            "asyncio",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            f"{APPS_MODULE}:{attribute}",
        )

    return command


def _granian(port: int) -> list[str]:
    return _python(
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--workers",
        "1",
        "--blocking-threads",
        str(THREADS),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "error",
        f"{APPS_MODULE}:app",
    )


def _hypercorn(worker_class: str) -> Command:
    def command(port: int) -> list[str]:
        return _python(
            "-m",
            "hypercorn",
            "--worker-class",
            worker_class,
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            f"{APPS_MODULE}:asgi_hello",
        )

    return command


@dataclass(frozen=True)
class ServerSpec:
    key: str
    label: str
    #: the event loop the requests are served on ("-": none in Python)
    backend: str
    #: "wsgi": serves the Flask app; "asgi": the raw ASGI hello (a ceiling)
    interface: str
    command: Command
    #: modules the server needs (a missing one: "not installed (NAME)")
    requires: tuple[str, ...]
    #: how the report describes its settings
    settings: str
    ours: bool = False

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(PATHS) if self.interface == WSGI else ("/hello",)

    def missing(self) -> str | None:
        """The first module it needs that is not installed, or ``None``."""
        for module in self.requires:
            if not installed(module):
                return module
        return None


_SERVE_SETTINGS = f"`--threads {THREADS} --access-log off`, hypercorn inside"
SERVE_ASYNCIO = ServerSpec(
    "serve-asyncio",
    "`anyio-bridge serve --backend asyncio`",
    "asyncio",
    WSGI,
    _serve("asyncio"),
    ("anyio_bridge", "hypercorn", "flask"),
    _SERVE_SETTINGS,
    ours=True,
)
SERVE_TRIO = ServerSpec(
    "serve-trio",
    "`anyio-bridge serve --backend trio`",
    "trio",
    WSGI,
    _serve("trio"),
    ("anyio_bridge", "hypercorn", "trio", "flask"),
    _SERVE_SETTINGS,
    ours=True,
)
GUNICORN = ServerSpec(
    "gunicorn",
    "gunicorn gthread",
    "-",
    WSGI,
    _gunicorn,
    ("gunicorn", "flask"),
    f"1 worker, `--worker-class gthread --threads {THREADS} --keep-alive 5`",
)
UVICORN_WSGI = ServerSpec(
    "uvicorn-wsgi",
    "uvicorn `--interface wsgi`",
    "asyncio",
    WSGI,
    _uvicorn("app", "--interface", "wsgi"),
    ("uvicorn", "flask"),
    "`--loop asyncio --no-access-log`; uvicorn wraps the app in "
    + (
        "a2wsgi's `WSGIMiddleware` (a2wsgi is installed), 10 threads (its default)"
        if installed("a2wsgi")
        else "its own deprecated `WSGIMiddleware`, 10 threads (its default)"
    ),
)
GRANIAN = ServerSpec(
    "granian-wsgi",
    "granian `--interface wsgi`",
    "-",
    WSGI,
    _granian,
    ("granian", "flask"),
    f"1 worker, `--blocking-threads {THREADS}` (Rust HTTP server; Python "
    "runs only the app)",
)
BRIDGE_UVICORN = ServerSpec(
    "bridge-uvicorn",
    "uvicorn + anyio_bridge `WsgiToAsgi`",
    "asyncio",
    WSGI,
    _uvicorn("bridged", "--factory"),
    ("anyio_bridge", "uvicorn", "flask"),
    f"`--loop asyncio --no-access-log`, `WsgiToAsgi(app, limiter={THREADS})`",
    ours=True,
)
HYPERCORN_ASYNCIO = ServerSpec(
    "hypercorn-asyncio",
    "hypercorn asyncio, raw ASGI hello",
    "asyncio",
    ASGI,
    _hypercorn("asyncio"),
    ("hypercorn",),
    "`--worker-class asyncio --workers 1`",
)
HYPERCORN_TRIO = ServerSpec(
    "hypercorn-trio",
    "hypercorn trio, raw ASGI hello",
    "trio",
    ASGI,
    _hypercorn("trio"),
    ("hypercorn", "trio"),
    "`--worker-class trio --workers 1`",
)
UVICORN_ASGI = ServerSpec(
    "uvicorn-asgi",
    "uvicorn, raw ASGI hello",
    "asyncio",
    ASGI,
    _uvicorn("asgi_hello"),
    ("uvicorn",),
    "`--loop asyncio --no-access-log`",
)

SERVERS: tuple[ServerSpec, ...] = (
    SERVE_ASYNCIO,
    SERVE_TRIO,
    GUNICORN,
    UVICORN_WSGI,
    GRANIAN,
    BRIDGE_UVICORN,
    HYPERCORN_ASYNCIO,
    HYPERCORN_TRIO,
    UVICORN_ASGI,
)
SERVER_BY_KEY = {spec.key: spec for spec in SERVERS}


def uvicorn_http() -> str:
    """The HTTP parser uvicorn picks on its own (``--http auto``)."""
    return "httptools" if installed("httptools") else "h11"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str, timeout: float = 10) -> tuple[int, bytes]:
    """One ``GET`` through the standard library: status and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def check(port: int, path: str) -> str | None:
    """What is wrong with one ``GET path``, or ``None`` if it is right."""
    size, body = PATHS[path]
    try:
        status, got = get(port, path)
    except OSError as exc:
        return f"GET {path}: {type(exc).__name__}: {exc}"
    if status != 200 or len(got) != size or (body is not None and got != body):
        return f"GET {path}: status {status}, {len(got)} bytes {got[:40]!r}"
    return None


class ServerError(Exception):
    """The server did not start, or answered a check request wrongly."""


class Server:
    """One server subprocess (and its children), on a port of its own."""

    def __init__(self, spec: ServerSpec, workdir: Path) -> None:
        self.spec = spec
        self.port = free_port()
        self.log = workdir / f"{spec.key}.log"
        self.command = spec.command(self.port)
        self._stopped = False
        environ = dict(os.environ)
        path = environ.get("PYTHONPATH")
        environ["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + path if path else "")
        with self.log.open("wb") as output:
            self.proc = subprocess.Popen(
                self.command,
                cwd=REPO_ROOT,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 30) -> None:
        """Wait until it answers, then check every path it serves once.

        :raises ServerError: it did not come up in time, or answered wrongly.
        """
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise ServerError(f"server exited: {self.output_tail()}")
            try:
                get(self.port, "/hello", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise ServerError(
                        f"not answering after {timeout:g} s: {self.output_tail()}"
                    ) from None
                time.sleep(0.1)
        for path in self.spec.paths:
            wrong = check(self.port, path)
            if wrong is not None:
                raise ServerError(f"{wrong}; {self.output_tail()}")

    def output_tail(self) -> str:
        prefix = (
            "running"
            if self.proc.poll() is None
            else f"exit status {self.proc.returncode}"
        )
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return prefix
        return f"{prefix}: {lines[-1].strip()}" if lines else prefix

    def alive(self) -> bool:
        return self.proc.poll() is None

    def processes(self) -> list[Any]:
        """psutil processes of the tree: the server and its children."""
        import psutil

        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def cpu_seconds(self) -> float | None:
        """User + system CPU seconds the tree has used, or ``None``."""
        try:
            import psutil
        except ImportError:
            return None
        total = 0.0
        for process in self.processes():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def rss_mib(self) -> float | None:
        """Resident memory of the tree in MiB, or ``None``."""
        try:
            import psutil
        except ImportError:
            return None
        total = 0
        for process in self.processes():
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total / (1024 * 1024)

    def busiest_pid(self) -> int:
        """The process of the tree that has used the most CPU (the worker)."""
        import psutil

        best, most = self.proc.pid, -1.0
        for process in self.processes():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                if times.user + times.system > most:
                    best, most = process.pid, times.user + times.system
        return best

    def stop(self) -> None:
        """SIGTERM to the server, then SIGKILL to its whole session."""
        if self._stopped:
            return
        self._stopped = True
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        # The session (process group) is the server's own: start_new_session.
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


def description() -> str:
    return (
        f"each server a subprocess on 127.0.0.1, one worker, {THREADS} threads "
        f"for WSGI where it has them, access logs off; {CONCURRENCY} connections"
    )
