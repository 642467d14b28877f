"""WSGI-to-ASGI adapters side by side: throughput, transfer time and memory.

Compares anyio_bridge's ``WsgiToAsgi`` with asgiref's ``WsgiToAsgi``, a2wsgi's
``WSGIMiddleware``, hypercorn's own WSGI wrapper and starlette's (deprecated)
``WSGIMiddleware``, on asyncio and trio wherever each one runs, in one run,
prints a Markdown report and writes it (plus a JSON twin) to
``benchmarks/results/``::

    python benchmarks/bench_wsgi.py [--quick] [--scenario NAME] [--output PATH]

Scenarios (all by default; ``--scenario`` picks some):

* ``hello``: a hello-world app (list response), 32 requests at a time, the
  ASGI app driven in-process by a minimal fake ``receive``/``send``; req/s.
* ``sleep``: an app that blocks 20 ms in ``time.sleep``, 64 at a time; req/s.
* ``transfer``: a 32 MiB download (a generator of 64 KiB chunks) and a 32 MiB
  upload (read from ``wsgi.input`` in 64 KiB chunks), in-process; seconds per
  transfer.
* ``loopback``: hello world through a real hypercorn server (asyncio and trio
  workers, a subprocess on 127.0.0.1, port 0), checked with ``httpx`` and
  loaded by a minimal keep-alive HTTP/1.1 client (httpx itself is slower than
  the servers).
* ``memory``: peak RSS growth and temporary files for a 256 MiB upload and
  download, each adapter in a fresh subprocess with ``TMPDIR`` pointing to an
  empty directory.

Measurements are repeated over rounds; every other round runs the backends
and adapters in reverse order.  Numbers are medians over rounds; ratios compare
each adapter with the best peer of the same run.  Absolute numbers depend on
the machine; only compare ratios taken from the same run.  A cell that cannot
be measured shows ``error: ...`` (a peer that is not installed shows ``not
installed``) and the rest of the run carries on.  The exit code is always 0.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
from _common import Watchdog, bridge_version, quartiles, version

DESCRIPTION = "WSGI-to-ASGI adapters side by side: throughput, transfers, memory."
BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_OUTPUT = BENCH_DIR / "results" / "wsgi.md"

# Benchmark the checkout this script lives in, not some installed copy.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

ASYNCIO = "asyncio"
TRIO = "trio"
BOTH = (ASYNCIO, TRIO)
ASYNCIO_ONLY = (ASYNCIO,)

MiB = 1024 * 1024
CHUNK_SIZE = 64 * 1024
CHUNK = b"x" * CHUNK_SIZE
HELLO_BODY = b"Hello, world!"
SLEEP_S = 0.020
HELLO_CONCURRENCY = 32
SLEEP_CONCURRENCY = 64
LOOPBACK_CONCURRENCY = 16
#: Seconds the interpreter gets to exit once the report is written.
EXIT_GRACE_S = 10.0

Scope = dict[str, Any]
ASGIApp = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


# ----------------------------------------------------------------- the WSGI app


_TEXT = ("Content-Type", "text/plain")
_HELLO_HEADERS = [_TEXT, ("Content-Length", str(len(HELLO_BODY)))]


def _chunks(size: int) -> Iterator[bytes]:
    full, rest = divmod(size, CHUNK_SIZE)
    for _ in range(full):
        yield CHUNK
    if rest:
        yield CHUNK[:rest]


def bench_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    """The one WSGI application every adapter serves, dispatching on the path.

    ``/hello``: 13 bytes in a list; ``/sleep``: the same after blocking 20 ms;
    ``/download?N``: N bytes as a generator of 64 KiB chunks; ``/upload``:
    reads ``CONTENT_LENGTH`` bytes from ``wsgi.input`` in 64 KiB reads and
    answers how many it got.
    """
    path = environ["PATH_INFO"]
    if path == "/hello":
        start_response("200 OK", _HELLO_HEADERS)
        return [HELLO_BODY]
    if path == "/sleep":
        time.sleep(SLEEP_S)
        start_response("200 OK", _HELLO_HEADERS)
        return [HELLO_BODY]
    if path == "/download":
        size = int(environ["QUERY_STRING"])
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", str(size)),
            ],
        )
        return _chunks(size)
    if path == "/upload":
        stream = environ["wsgi.input"]
        remaining = int(environ.get("CONTENT_LENGTH") or 0)
        total = 0
        while remaining > 0:
            data = stream.read(min(CHUNK_SIZE, remaining))
            if not data:
                break
            total += len(data)
            remaining -= len(data)
        body = str(total).encode()
        start_response("200 OK", [_TEXT, ("Content-Length", str(len(body)))])
        return [body]
    start_response("404 Not Found", [_TEXT])
    return [b"not found"]


# ----------------------------------------------------------------- the adapters


class NotInstalledError(Exception):
    """A peer library is missing: its cells say "not installed", not "error"."""


def _import_peer(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] == top:
            raise NotInstalledError(f"{top} not installed") from exc
        raise


def _build_ours(app: WSGIApp) -> ASGIApp:
    # Not _import_peer: a broken anyio_bridge is an error, never "not installed".
    return importlib.import_module("anyio_bridge.wsgi").WsgiToAsgi(app)  # type: ignore[no-any-return]


def _build_asgiref(app: WSGIApp) -> ASGIApp:
    return _import_peer("asgiref.wsgi").WsgiToAsgi(app)  # type: ignore[no-any-return]


def _build_a2wsgi(app: WSGIApp) -> ASGIApp:
    return _import_peer("a2wsgi").WSGIMiddleware(app)  # type: ignore[no-any-return]


async def _hypercorn_sync_spawn(func: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(func, *args)


def _hypercorn_call_soon(func: Callable[..., Any], *args: Any) -> Any:
    return anyio.from_thread.run(func, *args)


class HypercornShim:
    """Hypercorn's ``WSGIWrapper`` as a plain ASGI app, on any anyio backend.

    The wrapper is no ASGI app: hypercorn calls it as ``await wrapper(scope,
    receive, send, sync_spawn, call_soon)``.  By default ``sync_spawn`` is
    ``anyio.to_thread.run_sync`` and ``call_soon`` is
    ``anyio.from_thread.run``: what hypercorn's trio worker passes, through
    trio's own functions.  Lifespan scopes are answered here (the wrapper
    ignores them, which hypercorn's trio worker does not survive).
    """

    def __init__(
        self,
        wrapper: Any,
        sync_spawn: Callable[..., Any] = _hypercorn_sync_spawn,
        call_soon: Callable[..., Any] = _hypercorn_call_soon,
    ) -> None:
        self.wrapper = wrapper
        self.sync_spawn = sync_spawn
        self.call_soon = call_soon

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"{message['type']}.complete"})
                if kind == "shutdown":
                    return
        await self.wrapper(scope, receive, send, self.sync_spawn, self.call_soon)


def _build_hypercorn(app: WSGIApp) -> ASGIApp:
    module = _import_peer("hypercorn.app_wrappers")
    return HypercornShim(module.WSGIWrapper(app, max_body_size=1 << 40))


def _build_starlette(app: WSGIApp) -> ASGIApp:
    with warnings.catch_warnings():
        # The module warns on import that it is deprecated.
        warnings.simplefilter("ignore")
        module = _import_peer("starlette.middleware.wsgi")
    return module.WSGIMiddleware(app)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Adapter:
    key: str
    label: str
    backends: tuple[str, ...]
    build: Callable[[WSGIApp], ASGIApp]
    ours: bool = False


ADAPTERS: tuple[Adapter, ...] = (
    Adapter("anyio_bridge", "anyio_bridge `WsgiToAsgi`", BOTH, _build_ours, ours=True),
    Adapter("asgiref", "asgiref `WsgiToAsgi`", ASYNCIO_ONLY, _build_asgiref),
    Adapter("a2wsgi", "a2wsgi `WSGIMiddleware`", ASYNCIO_ONLY, _build_a2wsgi),
    Adapter("hypercorn", "hypercorn `WSGIWrapper`", BOTH, _build_hypercorn),
    Adapter("starlette", "starlette `WSGIMiddleware`", BOTH, _build_starlette),
)
ADAPTER_BY_KEY = {adapter.key: adapter for adapter in ADAPTERS}
OURS = ADAPTERS[0]


def _describe(exc: BaseException) -> str:
    while getattr(exc, "exceptions", None):  # an exception group: its first leaf
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


# ----------------------------------------------------------- in-process driving


def _scope(
    method: str, path: str, query: bytes = b"", size: int | None = None
) -> Scope:
    headers = [(b"host", b"bench.local"), (b"user-agent", b"bench_wsgi")]
    if size is not None:
        headers += [
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(size).encode()),
        ]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "extensions": {},
    }


HELLO_SCOPE = _scope("GET", "/hello")
SLEEP_SCOPE = _scope("GET", "/sleep")


@dataclass
class Response:
    status: int = 0
    size: int = 0
    head: bytes = b""


async def exchange(app: ASGIApp, scope: Scope, upload: int = 0) -> Response:
    """One request through *app*: *upload* body bytes in, the response counted.

    ``receive`` hands out the body in 64 KiB messages, then blocks as a
    server's does until the client leaves; ``send`` counts body bytes and
    keeps the first few.
    """
    response = Response()
    remaining = upload
    first = True

    async def receive() -> dict[str, Any]:
        nonlocal remaining, first
        if first or remaining:
            first = False
            size = min(remaining, CHUNK_SIZE)
            remaining -= size
            body = CHUNK if size == CHUNK_SIZE else CHUNK[:size]
            return {"type": "http.request", "body": body, "more_body": remaining > 0}
        await anyio.sleep_forever()
        return {"type": "http.disconnect"}  # pragma: no cover

    async def send(message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            response.status = message["status"]
        elif kind == "http.response.body":
            body = message.get("body", b"")
            response.size += len(body)
            if len(response.head) < 64:
                response.head += bytes(body[:64])

    await app(dict(scope), receive, send)
    return response


def _check(
    response: Response, body: bytes | None = None, size: int | None = None
) -> None:
    if response.status != 200:
        raise RuntimeError(f"status {response.status}, expected 200")
    if body is not None and response.head != body:
        raise RuntimeError(f"body {response.head[:40]!r}, expected {body[:40]!r}")
    if size is not None and response.size != size:
        raise RuntimeError(f"got {response.size} body bytes, expected {size}")


async def _hello_like(app: ASGIApp, scope: Scope) -> None:
    response = await exchange(app, scope)
    if response.status != 200:
        raise RuntimeError(f"status {response.status}, expected 200")


async def throughput(
    call: Callable[[], Any], concurrency: int, duration: float
) -> float:
    """Requests per second with *concurrency* requests in flight at all times.

    One untimed batch of *concurrency* requests warms up first (thread pools
    grow to size).  Requests that finish after the window are not counted;
    the ones still in flight are awaited (drained) before returning.
    """
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(call)
    clock = time.perf_counter
    count = 0
    start = clock()
    deadline = start + duration

    async def worker() -> None:
        nonlocal count
        while clock() < deadline:
            await call()
            if clock() <= deadline:
                count += 1

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    return count / duration


async def download(app: ASGIApp, size: int) -> float:
    scope = _scope("GET", "/download", str(size).encode())
    start = time.perf_counter()
    response = await exchange(app, scope)
    elapsed = time.perf_counter() - start
    _check(response, size=size)
    return elapsed


async def upload(app: ASGIApp, size: int) -> float:
    scope = _scope("POST", "/upload", size=size)
    start = time.perf_counter()
    response = await exchange(app, scope, upload=size)
    elapsed = time.perf_counter() - start
    _check(response, body=str(size).encode())
    return elapsed


# ---------------------------------------------------------------- results model


@dataclass(frozen=True)
class Metric:
    key: str
    scenario: str
    title: str
    unit: str
    higher_is_better: bool
    #: the number as shown in the report
    show: Callable[[float], str]


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _ms(value: float) -> str:
    return f"{value * 1000:,.1f}"


def _mib(value: float) -> str:
    return f"{value:,.1f}"


@dataclass
class Cell:
    #: round number -> measured value (req/s, seconds or MiB)
    values: dict[int, float] = field(default_factory=dict)
    #: why there is no value: "n/a", "not installed", "error: ...", "timeout ..."
    status: str | None = None
    #: extra numbers (memory scenario)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is None and bool(self.values)

    def median(self) -> float:
        return statistics.median(self.values.values())


class Results:
    def __init__(self) -> None:
        self.cells: dict[tuple[str, str, str], Cell] = {}
        #: (metric, adapter, backend) being measured, for the watchdog
        self.current: tuple[str, str, str] | None = None

    def cell(self, metric: str, adapter: str, backend: str) -> Cell:
        key = (metric, adapter, backend)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = Cell()
            if backend not in ADAPTER_BY_KEY[adapter].backends:
                cell.status = "n/a"
        return cell

    def get(self, metric: str, adapter: str, backend: str) -> Cell | None:
        return self.cells.get((metric, adapter, backend))


@dataclass(frozen=True)
class Settings:
    quick: bool
    rounds: int
    duration: float
    transfer_size: int
    transfer_timeout: float
    memory_size: int
    memory_timeout: float
    memory_cap_mib: int


# ------------------------------------------------------- in-process scenarios


@dataclass(frozen=True)
class InProcessStep:
    """One thing timed per adapter and round on one event loop."""

    metric: str
    measure: Callable[[ASGIApp, Settings], Any]
    #: cap on one measurement; hitting it means "timeout" when ``slow_ok``
    #: (a peer that is just very slow) and "error: hung" otherwise
    limit: Callable[[Settings], float]
    slow_ok: bool = False


def _measure_hello(app: ASGIApp, settings: Settings) -> Any:
    call = functools.partial(_hello_like, app, HELLO_SCOPE)
    return throughput(call, HELLO_CONCURRENCY, settings.duration)


def _measure_sleep(app: ASGIApp, settings: Settings) -> Any:
    call = functools.partial(_hello_like, app, SLEEP_SCOPE)
    return throughput(call, SLEEP_CONCURRENCY, settings.duration)


def _measure_download(app: ASGIApp, settings: Settings) -> Any:
    return download(app, settings.transfer_size)


def _measure_upload(app: ASGIApp, settings: Settings) -> Any:
    return upload(app, settings.transfer_size)


def _throughput_limit(settings: Settings) -> float:
    # Warm-up, window and drain; asgiref's one thread drains 64 x 20 ms.
    return 3 * settings.duration + 60


def _transfer_limit(settings: Settings) -> float:
    return settings.transfer_timeout


METRICS: dict[str, Metric] = {
    metric.key: metric
    for metric in (
        Metric(
            "hello",
            "hello",
            f"Hello world, {HELLO_CONCURRENCY} concurrent, in-process",
            "req/s",
            True,
            _rate,
        ),
        Metric(
            "sleep",
            "sleep",
            f"App blocking {SLEEP_S * 1000:g} ms, {SLEEP_CONCURRENCY} concurrent, "
            "in-process",
            "req/s",
            True,
            _rate,
        ),
        Metric("download", "transfer", "Download, in-process", "ms", False, _ms),
        Metric("upload", "transfer", "Upload, in-process", "ms", False, _ms),
        Metric(
            "loopback",
            "loopback",
            "Hello world over loopback through hypercorn, "
            f"{LOOPBACK_CONCURRENCY} keep-alive connections",
            "req/s",
            True,
            _rate,
        ),
        Metric("mem_upload", "memory", "Upload, fresh process", "MiB", False, _mib),
        Metric("mem_download", "memory", "Download, fresh process", "MiB", False, _mib),
    )
}

IN_PROCESS: dict[str, tuple[InProcessStep, ...]] = {
    "hello": (InProcessStep("hello", _measure_hello, _throughput_limit),),
    "sleep": (InProcessStep("sleep", _measure_sleep, _throughput_limit),),
    "transfer": (
        InProcessStep("download", _measure_download, _transfer_limit, slow_ok=True),
        InProcessStep("upload", _measure_upload, _transfer_limit, slow_ok=True),
    ),
}
SCENARIOS = ("hello", "sleep", "transfer", "loopback", "memory")


class AppCache:
    """Every adapter is built once per process (a2wsgi owns a thread pool)."""

    def __init__(self) -> None:
        self.apps: dict[str, ASGIApp | str] = {}

    def get(self, adapter: Adapter) -> ASGIApp | str:
        """The ASGI app, or the status its cells get when it cannot be built."""
        if adapter.key not in self.apps:
            try:
                self.apps[adapter.key] = adapter.build(bench_app)
            except NotInstalledError:
                self.apps[adapter.key] = "not installed"
            except Exception as exc:
                self.apps[adapter.key] = f"error: {_describe(exc)}"
        return self.apps[adapter.key]


async def _in_process_round(
    steps: Sequence[InProcessStep],
    adapters: Sequence[Adapter],
    round_no: int,
    settings: Settings,
    results: Results,
    apps: AppCache,
) -> None:
    running = _running_backend()
    for adapter in adapters:
        # Alternate the order of the steps too (download/upload).
        for step in steps if round_no % 2 == 0 else steps[::-1]:
            cell = results.cell(step.metric, adapter.key, running)
            if cell.status is not None:
                continue
            app = apps.get(adapter)
            if isinstance(app, str):
                cell.status = app
                continue
            results.current = (step.metric, adapter.key, running)
            limit = step.limit(settings)
            gc.collect()
            try:
                with anyio.fail_after(limit):
                    value = await step.measure(app, settings)
            except TimeoutError:
                cell.status = (
                    f"timeout (> {limit:g} s)"
                    if step.slow_ok
                    else f"error: hung (no result in {limit:g} s)"
                )
            except Exception as exc:
                cell.status = f"error: {_describe(exc)}"
            else:
                cell.values[round_no] = value
    results.current = None


def _running_backend() -> str:
    import sniffio

    return sniffio.current_async_library()


def run_in_process(
    scenario: str,
    settings: Settings,
    backends: tuple[str, ...],
    results: Results,
    apps: AppCache,
) -> None:
    steps = IN_PROCESS[scenario]
    for step in steps:
        for adapter in ADAPTERS:
            for backend in backends:
                results.cell(step.metric, adapter.key, backend)
    for round_no in range(settings.rounds):
        # Alternate the order so slow drift on a noisy machine hits all alike.
        order = 1 if round_no % 2 == 0 else -1
        _progress(f"{scenario}: round {round_no + 1}/{settings.rounds}")
        for backend in backends[::order]:
            adapters = [a for a in ADAPTERS if backend in a.backends][::order]
            try:
                anyio.run(
                    _in_process_round,
                    steps,
                    adapters,
                    round_no,
                    settings,
                    results,
                    apps,
                    backend=backend,
                )
            except Exception as exc:  # the event loop itself failed
                for step in steps:
                    for adapter in adapters:
                        cell = results.cell(step.metric, adapter.key, backend)
                        cell.status = cell.status or f"error: {_describe(exc)}"


def _progress(text: str) -> None:
    print(f"bench_wsgi: {text}", file=sys.stderr, flush=True)


# ----------------------------------------------------------- loopback scenario


def _child_serve(adapter_key: str, backend: str) -> None:
    """Child process: serve the bench app through *adapter_key* with hypercorn."""
    from hypercorn.config import Config

    adapter = ADAPTER_BY_KEY[adapter_key]
    if adapter.key == "hypercorn" and backend == ASYNCIO:
        # Hypercorn's own WSGI mode, with its own sync_spawn and call_soon.
        app, mode = bench_app, "wsgi"
    elif adapter.key == "hypercorn":
        # Hypercorn's trio worker fails its lifespan startup on a WSGI app
        # (ClosedResourceError): serve the wrapper through the shim, with the
        # very functions that worker passes it.
        import trio
        from hypercorn.app_wrappers import WSGIWrapper

        wrapper = WSGIWrapper(bench_app, 1 << 40)
        app = HypercornShim(wrapper, trio.to_thread.run_sync, trio.from_thread.run)
        mode = "asgi"
    else:
        app, mode = adapter.build(bench_app), "asgi"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.loglevel = "WARNING"
    config.wsgi_max_body_size = 1 << 40
    print(f"PORT {port}", flush=True)
    if backend == TRIO:
        import hypercorn.trio
        import trio

        trio.run(functools.partial(hypercorn.trio.serve, app, config, mode=mode))
    else:
        import hypercorn.asyncio

        asyncio.run(hypercorn.asyncio.serve(app, config, mode=mode))


class Server:
    """A hypercorn subprocess serving one adapter on one backend."""

    def __init__(self, adapter: Adapter, backend: str, logdir: Path) -> None:
        self.adapter = adapter
        self.backend = backend
        self.log = logdir / f"serve-{adapter.key}-{backend}.log"
        self.port: int | None = None
        self.error: str | None = None
        self._port_line: list[str] = []
        with self.log.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [*_script(), "--child", "serve", adapter.key, backend],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self._reader = threading.Thread(target=self._read_port, daemon=True)
        self._reader.start()

    def _read_port(self) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self._port_line.append(line)

    def wait_ready(self, timeout: float) -> None:
        self._reader.join(timeout)
        line = self._port_line[0] if self._port_line else ""
        if line.startswith("PORT "):
            self.port = int(line.split()[1])
            return
        self.error = "server did not start" + (
            f": {self._stderr_tail()}" if self.proc.poll() is not None else ""
        )

    def _stderr_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "?"
        return lines[-1] if lines else f"exit status {self.proc.returncode}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


_RAW_REQUEST = (
    b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench_wsgi\r\n\r\n"
)


async def _raw_get(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> bytes:
    """``GET /hello`` on a keep-alive connection: the response body."""
    reader, writer = connection
    writer.write(_RAW_REQUEST)
    head = await reader.readuntil(b"\r\n\r\n")
    if head[9:12] != b"200":
        raise RuntimeError(f"status line {head.splitlines()[0]!r}")
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        raise RuntimeError("response without Content-Length")
    end = lower.index(b"\r\n", at + 2)
    return await reader.readexactly(int(lower[at + 17 : end]))


async def _http_throughput(port: int, concurrency: int, duration: float) -> float:
    """req/s of ``GET /hello`` from *concurrency* keep-alive connections.

    One request through ``httpx`` checks the server first; the load itself
    comes from a minimal HTTP/1.1 client on asyncio streams, because httpx
    costs more per request than the servers measured (it capped every
    adapter at the same rate).
    """
    if _installed("httpx"):
        import httpx

        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.get(f"http://127.0.0.1:{port}/hello")
        if response.status_code != 200 or response.content != HELLO_BODY:
            raise RuntimeError(
                f"status {response.status_code}, body {response.content[:40]!r}"
            )
    free = [
        await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)
    ]
    connections = list(free)

    async def call() -> None:
        connection = free.pop()
        body = await _raw_get(connection)
        free.append(connection)
        if body != HELLO_BODY:
            raise RuntimeError(f"body {body[:40]!r}, expected {HELLO_BODY!r}")

    try:
        return await throughput(call, concurrency, duration)
    finally:
        for _, writer in connections:
            writer.close()


async def _loopback_round(
    servers: Sequence[Server],
    round_no: int,
    settings: Settings,
    results: Results,
) -> None:
    for server in servers:
        cell = results.cell("loopback", server.adapter.key, server.backend)
        if cell.status is not None or server.port is None:
            continue
        results.current = ("loopback", server.adapter.key, server.backend)
        limit = _throughput_limit(settings)
        try:
            with anyio.fail_after(limit):
                value = await _http_throughput(
                    server.port, LOOPBACK_CONCURRENCY, settings.duration
                )
        except TimeoutError:
            cell.status = f"error: hung (no result in {limit:g} s)"
        except Exception as exc:
            cell.status = f"error: {_describe(exc)}"
        else:
            cell.values[round_no] = value
        if server.proc.poll() is not None and cell.status is None:
            cell.status = f"error: server exited: {server._stderr_tail()}"
    results.current = None


def run_loopback(
    settings: Settings,
    backends: tuple[str, ...],
    results: Results,
    apps: AppCache,
    workdir: Path,
) -> None:
    missing = [name for name in ("hypercorn",) if not _installed(name)]
    servers: list[Server] = []
    for adapter in ADAPTERS:
        for backend in backends:
            cell = results.cell("loopback", adapter.key, backend)
            if cell.status is not None:
                continue
            if missing:
                cell.status = f"not installed ({', '.join(missing)})"
                continue
            # A peer that is not installed is found without starting a server.
            app = apps.get(adapter)
            if isinstance(app, str):
                cell.status = app
                continue
            servers.append(Server(adapter, backend, workdir))
    try:
        _progress(f"loopback: starting {len(servers)} hypercorn servers")
        for server in servers:
            server.wait_ready(60)
            if server.error is not None:
                cell = results.cell("loopback", server.adapter.key, server.backend)
                cell.status = f"error: {server.error}"
        for round_no in range(settings.rounds):
            order = 1 if round_no % 2 == 0 else -1
            _progress(f"loopback: round {round_no + 1}/{settings.rounds}")
            anyio.run(
                _loopback_round,
                servers[::order],
                round_no,
                settings,
                results,
                backend=ASYNCIO,
            )
    finally:
        for server in servers:
            server.stop()


# ------------------------------------------------------------- memory scenario


class _TempWatch:
    """Counts files created under *tmpdir* and samples RSS and temp bytes."""

    def __init__(self, tmpdir: str) -> None:
        self.tmpdir = os.path.realpath(tmpdir)
        self.active = False
        self.files = 0
        self.peak_rss = 0
        self.peak_temp = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tmpfile_flag = getattr(os, "O_TMPFILE", 0)

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        """Count files created under the temp dir (an audit hook).

        ``open`` comes with (path, mode, flags): from ``os.open`` with mode
        ``None`` (``tempfile`` ends up there, with ``O_CREAT`` or, for an
        unnamed file, ``O_TMPFILE`` on the directory itself), and from
        ``open()`` with a mode string; ``tempfile`` also calls ``open()`` on
        the directory with an opener, which is not a file of its own.
        """
        if not self.active or event != "open" or len(args) < 3:
            return
        path, mode, flags = args[0], args[1], args[2]
        if not isinstance(path, str | bytes | os.PathLike) or not isinstance(
            flags, int
        ):
            return
        path = os.path.realpath(os.fsdecode(path))
        if not path.startswith(self.tmpdir):
            return
        if isinstance(mode, str):
            created = path != self.tmpdir and any(c in mode for c in "wax+")
        else:
            tmpfile = self._tmpfile_flag
            created = bool(flags & os.O_CREAT) or bool(
                tmpfile and flags & tmpfile == tmpfile
            )
        if created:
            self.files += 1

    def start(self) -> None:
        self.active = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.active = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample_once()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._sample_once()

    def _sample_once(self) -> None:
        self.peak_rss = max(self.peak_rss, current_rss())
        try:
            fds = os.listdir("/proc/self/fd")
        except OSError:
            return
        total = sum(self._temp_size(fd) for fd in fds)
        self.peak_temp = max(self.peak_temp, total)

    def _temp_size(self, fd: str) -> int:
        """Size of the file open as *fd* if it lives under the temp dir, else 0."""
        link = f"/proc/self/fd/{fd}"
        try:
            if os.readlink(link).startswith(self.tmpdir):
                return os.stat(link).st_size
        except OSError:
            pass
        return 0


def current_rss() -> int:
    """Resident set size of this process in bytes."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        pass
    try:
        import psutil
    except ImportError:
        import resource

        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    return int(psutil.Process().memory_info().rss)


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak RSS (VmHWM) of this process; ``False`` if not."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def _peak_rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _child_memory(
    adapter_key: str, backend: str, direction: str, size: int, tmpdir: str
) -> None:
    """Child process: one big transfer; prints a JSON line with what it cost."""
    tempfile.tempdir = tmpdir
    watch = _TempWatch(tmpdir)
    sys.addaudithook(watch.audit)
    adapter = ADAPTER_BY_KEY[adapter_key]
    result: dict[str, Any] = {}
    try:
        app = adapter.build(bench_app)
        transfer = upload if direction == "upload" else download

        async def main() -> None:
            await transfer(app, min(size, MiB))  # warm-up: threads, imports
            gc.collect()
            baseline = current_rss()
            reset = _reset_peak_rss()
            watch.peak_rss = baseline
            watch.start()
            try:
                seconds = await transfer(app, size)
            finally:
                watch.stop()
            peak = max(watch.peak_rss, _peak_rss() if reset else 0)
            result.update(
                rss_growth_mib=max(0, peak - baseline) / MiB,
                baseline_mib=baseline / MiB,
                temp_files=watch.files,
                temp_peak_mib=watch.peak_temp / MiB,
                seconds=seconds,
            )

        anyio.run(main, backend=backend)
    except NotInstalledError:
        result = {"status": "not installed"}
    except Exception as exc:
        result = {"status": f"error: {_describe(exc)}"}
    print(json.dumps(result), flush=True)
    sys.stdout.flush()
    os._exit(0)  # don't wait for worker threads (or a hung transfer) to end


def _memory_child_run(
    adapter: Adapter,
    backend: str,
    direction: str,
    settings: Settings,
    workdir: Path,
) -> dict[str, Any]:
    tmpdir = Path(tempfile.mkdtemp(prefix=f"tmp-{adapter.key}-{backend}-", dir=workdir))
    out_path = workdir / f"{tmpdir.name}.out"
    err_path = workdir / f"{tmpdir.name}.err"
    env = dict(os.environ, TMPDIR=str(tmpdir), PYTHONWARNINGS="ignore")
    command = [
        *_script(),
        "--child",
        "memory",
        adapter.key,
        backend,
        direction,
        str(settings.memory_size),
        str(tmpdir),
    ]
    try:
        import psutil
    except ImportError:
        psutil = None  # type: ignore[assignment]
    status: str | None = None
    started = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env
        )
        watched = psutil.Process(proc.pid) if psutil is not None else None
        peak_child_mib = 0.0
        while proc.poll() is None:
            if time.perf_counter() - started > settings.memory_timeout:
                status = f"timeout (> {settings.memory_timeout:g} s)"
            elif watched is not None:
                try:
                    rss_mib = watched.memory_info().rss / MiB
                except psutil.Error:
                    rss_mib = 0.0
                peak_child_mib = max(peak_child_mib, rss_mib)
                if rss_mib > settings.memory_cap_mib:
                    status = f"killed: RSS > {settings.memory_cap_mib} MiB"
            if status is not None:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.05)
    leftover = sum(1 for _ in tmpdir.iterdir())
    shutil.rmtree(tmpdir, ignore_errors=True)
    if status is not None:
        return {"status": status, "temp_files_left": leftover}
    lines = out_path.read_text(errors="replace").strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = err_path.read_text(errors="replace").strip().splitlines()
        why = tail[-1] if tail else f"exit status {proc.returncode}"
        return {"status": f"error: child failed: {why}"}
    result["temp_files_left"] = leftover
    return result


def run_memory(
    settings: Settings,
    backends: tuple[str, ...],
    results: Results,
    apps: AppCache,
    workdir: Path,
) -> None:
    jobs = [
        (adapter, backend, direction)
        for adapter in ADAPTERS
        for backend in backends
        for direction in ("upload", "download")
    ]
    for n, (adapter, backend, direction) in enumerate(jobs, 1):
        cell = results.cell(f"mem_{direction}", adapter.key, backend)
        if cell.status is not None:
            continue
        app = apps.get(adapter)
        if isinstance(app, str):
            cell.status = app
            continue
        _progress(f"memory: {n}/{len(jobs)} {adapter.key} {backend} {direction}")
        results.current = (f"mem_{direction}", adapter.key, backend)
        try:
            result = _memory_child_run(adapter, backend, direction, settings, workdir)
        except Exception as exc:
            result = {"status": f"error: {_describe(exc)}"}
        status = result.pop("status", None)
        if status is not None:
            cell.status = status
            cell.info = result
        else:
            cell.values[0] = result["rss_growth_mib"]
            cell.info = result
    results.current = None


# ------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    name: str
    metric: str
    #: "ratio": ours / best peer, PASS when >= limit (throughput) or <= limit
    #: (time); "rss": ours' RSS growth in MiB <= limit; "temp": ours' temp
    #: files <= limit; "info": a ratio with no limit
    kind: str
    limit: float | None


def _targets(settings: Settings) -> tuple[Target, ...]:
    size = f"{settings.transfer_size / MiB:g} MiB"
    big = f"{settings.memory_size / MiB:g} MiB"
    return (
        Target("hello world req/s vs best peer", "hello", "ratio", 2.0),
        Target(
            f"{SLEEP_S * 1000:g} ms x {SLEEP_CONCURRENCY} req/s vs best peer",
            "sleep",
            "ratio",
            1.3,
        ),
        Target(f"{size} download time vs best peer", "download", "ratio", 1.0),
        Target(f"{size} upload time vs best peer", "upload", "ratio", 1.0),
        Target("loopback hello req/s vs best peer", "loopback", "info", None),
        Target(f"{big} upload: peak RSS growth (MiB)", "mem_upload", "rss", 32),
        Target(f"{big} upload: temp files", "mem_upload", "temp", 0),
        Target(f"{big} download: peak RSS growth (MiB)", "mem_download", "rss", 32),
        Target(f"{big} download: temp files", "mem_download", "temp", 0),
    )


@dataclass(frozen=True)
class TargetResult:
    target: Target
    backend: str
    value: float | None = None
    spread: tuple[float, float] | None = None
    best_peer: str | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "n/a"
        target = self.target
        if target.limit is None:
            return "info"
        if target.kind == "ratio" and METRICS[target.metric].higher_is_better:
            return "PASS" if self.value >= target.limit else "MISS"
        return "PASS" if self.value <= target.limit else "MISS"

    def limit_text(self) -> str:
        target = self.target
        if target.limit is None:
            return "—"
        if target.kind == "ratio" and METRICS[target.metric].higher_is_better:
            return f">= {target.limit:g}"
        return f"<= {target.limit:g}"


def best_peer(results: Results, metric: str, backend: str) -> tuple[str, Cell] | None:
    measured = [
        (adapter.key, cell)
        for adapter in ADAPTERS
        if not adapter.ours
        and (cell := results.get(metric, adapter.key, backend)) is not None
        and cell.ok
    ]
    if not measured:
        return None
    pick = max if METRICS[metric].higher_is_better else min
    return pick(measured, key=lambda item: item[1].median())


def evaluate(target: Target, backend: str, results: Results) -> TargetResult:
    metric = METRICS[target.metric]
    ours = results.get(target.metric, OURS.key, backend)
    if ours is None or not ours.ok:
        why = "not measured" if ours is None else (ours.status or "no value")
        return TargetResult(target, backend, note=f"ours: {why}")
    if target.kind == "rss":
        return TargetResult(target, backend, ours.median(), note="")
    if target.kind == "temp":
        files = float(ours.info.get("temp_files", 0))
        return TargetResult(target, backend, files)
    best = best_peer(results, target.metric, backend)
    if best is None:
        return TargetResult(target, backend, note="no peer measured")
    name, peer = best
    # Paired per round: both were measured within seconds of each other.
    ratios = [
        value / peer.values[round_no]
        for round_no, value in ours.values.items()
        if peer.values.get(round_no)
    ]
    note = f"{metric.show(ours.median())} vs {metric.show(peer.median())} {metric.unit}"
    if not ratios:
        return TargetResult(
            target, backend, ours.median() / peer.median(), None, name, note
        )
    return TargetResult(
        target, backend, statistics.median(ratios), quartiles(ratios), name, note
    )


def evaluate_targets(
    settings: Settings,
    results: Results,
    backends: tuple[str, ...],
    scenarios: Sequence[str],
) -> list[TargetResult]:
    return [
        evaluate(target, backend, results)
        for target in _targets(settings)
        if METRICS[target.metric].scenario in scenarios
        for backend in backends
    ]


# ------------------------------------------------------------------ reporting


def _total_memory_mib() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / MiB)
    except (ValueError, OSError, AttributeError):
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(settings: Settings, argv: Sequence[str]) -> dict[str, Any]:
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_mib": _total_memory_mib(),
        "versions": {
            dist: version(dist)
            for dist in (
                "anyio",
                "trio",
                "asgiref",
                "a2wsgi",
                "hypercorn",
                "starlette",
                "httpx",
            )
        }
        | {"anyio_bridge": bridge_version()},
        "settings": {
            "quick": settings.quick,
            "rounds": settings.rounds,
            "window_s": settings.duration,
            "transfer_mib": settings.transfer_size / MiB,
            "transfer_timeout_s": settings.transfer_timeout,
            "memory_mib": settings.memory_size / MiB,
            "memory_timeout_s": settings.memory_timeout,
            "memory_cap_mib": settings.memory_cap_mib,
        },
        "command": " ".join(["python", *argv]),
    }


def _cell_text(text: str) -> str:
    return text.replace("|", "\\|")


def _value_cells(
    results: Results, metric: Metric, adapter: Adapter, backend: str
) -> tuple[str, str]:
    cell = results.get(metric.key, adapter.key, backend)
    if cell is None:
        return "not run", "—"
    if cell.status is not None:
        return _cell_text(cell.status), "—"
    if not cell.values:
        return "not run", "—"
    value = metric.show(cell.median())
    best = best_peer(results, metric.key, backend)
    if best is None:
        return value, "—"
    return value, f"{cell.median() / best[1].median():.2f}"


def _settings_line(metric: Metric, settings: Settings) -> str:
    if metric.scenario == "transfer":
        size = f"{settings.transfer_size / MiB:g} MiB"
        what = (
            "download: generator of 64 KiB chunks"
            if metric.key == "download"
            else ("upload: 64 KiB `http.request` messages, read in 64 KiB pieces")
        )
        return f"{size}, {what}; time per transfer, median of {settings.rounds} rounds"
    return (
        f"window {settings.duration:g} s per round, median of {settings.rounds} rounds"
    )


def render_markdown(
    env: dict[str, Any],
    settings: Settings,
    results: Results,
    targets: list[TargetResult],
    backends: tuple[str, ...],
    scenarios: Sequence[str],
    aborted: str | None = None,
) -> str:
    versions = env["versions"]
    memory = f", {env['memory_mib']:,} MiB RAM" if env.get("memory_mib") else ""
    lines = [
        "# anyio_bridge WSGI adapter benchmark",
        "",
        f"- date: {env['date']}",
        f"- python: {env['python']} on {env['platform']}",
        f"- machine: {env['cpu']}, {env['cpus']} CPUs{memory}",
        "- versions: " + ", ".join(f"{name} {v}" for name, v in versions.items()),
        f"- rounds: {settings.rounds} (adapters, backends and transfer directions "
        f"in reverse order every other round); throughput window "
        f"{settings.duration:g} s",
        f"- command: `{env['command']}`",
    ]
    if "elapsed_s" in env:
        lines.append(f"- elapsed: {env['elapsed_s']} s")
    lines += [
        "",
        "Numbers are medians over rounds. **vs best peer** = this adapter / the "
        "best peer on the same backend (for req/s higher is better, for time and "
        "memory lower is better). Absolute numbers are machine-dependent; compare "
        "ratios within this run only. hypercorn `WSGIWrapper` is driven through a "
        "shim (`sync_spawn` = `anyio.to_thread.run_sync`, `call_soon` = "
        "`anyio.from_thread.run`); over loopback, hypercorn's asyncio worker runs "
        'it natively (`mode="wsgi"`), and its trio worker, which cannot start a '
        "WSGI app, through the shim with `trio.to_thread.run_sync` / "
        "`trio.from_thread.run`. asgiref and a2wsgi run on asyncio only.",
        "",
    ]
    if aborted:
        lines += [f"**Run aborted: {aborted}. Results below are partial.**", ""]

    number = 0
    for metric in METRICS.values():
        if metric.scenario not in scenarios or metric.scenario == "memory":
            continue
        number += 1
        lines += [
            f"## {number}. {metric.title} ({metric.unit})",
            "",
            _settings_line(metric, settings),
            "",
        ]
        header = ["Adapter"]
        for backend in backends:
            header += [f"{backend} {metric.unit}", f"{backend} vs best peer"]
        lines += [
            "| " + " | ".join(header) + " |",
            "| " + " | ".join(["---"] + ["---:"] * (2 * len(backends))) + " |",
        ]
        for adapter in ADAPTERS:
            cells = [_cell_text(adapter.label)]
            for backend in backends:
                cells += _value_cells(results, metric, adapter, backend)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")

    if "memory" in scenarios:
        number += 1
        size = f"{settings.memory_size / MiB:g} MiB"
        lines += [
            f"## {number}. Memory: {size} upload and download, each in a fresh process",
            "",
            "Peak RSS growth over the process's RSS after a warm-up transfer; temp "
            "files = files opened for writing under `TMPDIR` (an empty directory) "
            "during the transfer, temp peak = their largest total size; time = the "
            f"transfer alone. Each run is capped at {settings.memory_timeout:g} s "
            f"and {settings.memory_cap_mib:,} MiB RSS.",
            "",
            "| Adapter | Backend | upload RSS growth MiB | upload temp files "
            "(peak MiB) | upload s | download RSS growth MiB | download temp files "
            "(peak MiB) | download s |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for adapter in ADAPTERS:
            for backend in backends:
                if backend not in adapter.backends:
                    continue
                cells = [_cell_text(adapter.label), backend]
                for direction in ("upload", "download"):
                    cell = results.get(f"mem_{direction}", adapter.key, backend)
                    if cell is None:
                        cells += ["not run", "—", "—"]
                    elif cell.status is not None:
                        cells += [_cell_text(cell.status), "—", "—"]
                    else:
                        info = cell.info
                        cells += [
                            f"{cell.values[0]:,.1f}",
                            f"{info.get('temp_files', 0)} "
                            f"({info.get('temp_peak_mib', 0):,.1f})",
                            f"{info.get('seconds', 0):.3f}",
                        ]
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")

    lines += [
        "## Targets",
        "",
        "Ratio targets: median over rounds of (ours / best peer in that round), "
        "the best peer being the one with the best median; IQR is the "
        "interquartile range of those per-round ratios (a target inside it is "
        "a coin toss on this machine). Memory targets: ours' own numbers.",
        "",
        "| Target | Backend | Value | Rounds IQR | Target | Result | Best peer | "
        "Medians |",
        "| --- | --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for result in targets:
        if result.value is None:
            value = "—"
        elif result.target.kind == "temp":
            value = f"{result.value:.0f}"
        elif result.target.kind == "rss":
            value = f"{result.value:.1f}"
        else:
            value = f"{result.value:.2f}"
        spread = (
            "—" if result.spread is None else "{:.2f}..{:.2f}".format(*result.spread)
        )
        lines.append(
            f"| {_cell_text(result.target.name)} | {result.backend} | {value} "
            f"| {spread} | {result.limit_text()} | {result.verdict} "
            f"| {result.best_peer or '—'} | {_cell_text(result.note)} |"
        )
    lines.append("")
    return "\n".join(lines)


def render_json(
    env: dict[str, Any],
    results: Results,
    targets: list[TargetResult],
    aborted: str | None = None,
) -> str:
    cells = []
    for (metric, adapter, backend), cell in list(results.cells.items()):
        item: dict[str, Any] = {
            "metric": metric,
            "unit": METRICS[metric].unit,
            "adapter": adapter,
            "backend": backend,
            "status": cell.status,
            "values": [cell.values[k] for k in sorted(cell.values)],
        }
        if cell.ok:
            item["median"] = cell.median()
            best = best_peer(results, metric, backend)
            if best is not None:
                item["vs_best_peer"] = round(cell.median() / best[1].median(), 4)
        if cell.info:
            item["info"] = cell.info
        cells.append(item)
    document = {
        "environment": env,
        "aborted": aborted,
        "cells": cells,
        "targets": [
            {
                "name": r.target.name,
                "metric": r.target.metric,
                "kind": r.target.kind,
                "backend": r.backend,
                "value": None if r.value is None else round(r.value, 4),
                "rounds_iqr": None
                if r.spread is None
                else [round(value, 4) for value in r.spread],
                "limit": r.target.limit,
                "best_peer": r.best_peer,
                "result": r.verdict,
                "note": r.note,
            }
            for r in targets
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_report(
    output: Path,
    env: dict[str, Any],
    settings: Settings,
    results: Results,
    backends: tuple[str, ...],
    scenarios: Sequence[str],
    aborted: str | None = None,
) -> str:
    targets = evaluate_targets(settings, results, backends, scenarios)
    markdown = render_markdown(
        env, settings, results, targets, backends, scenarios, aborted
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown, encoding="utf-8")
    output.with_suffix(".json").write_text(
        render_json(env, results, targets, aborted), encoding="utf-8"
    )
    return markdown


# ---------------------------------------------------------------------- main


def _script() -> list[str]:
    """The command line that runs this script in a child process."""
    return [sys.executable, str(Path(__file__).resolve())]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available_backends() -> tuple[str, ...]:
    return BOTH if _installed("trio") else ASYNCIO_ONLY


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (< 60 s): 1 round, 0.25 s windows, 1 MiB transfers, "
        "4 MiB memory runs",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="run only this scenario (repeat for several; default: all)",
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds per scenario (default 5, --quick 1)"
    )
    parser.add_argument(
        "--duration",
        type=float,
        help="seconds of each throughput window (default 1, --quick 0.25)",
    )
    parser.add_argument(
        "--transfer-mib",
        type=float,
        help="in-process download/upload size in MiB (default 32, --quick 1)",
    )
    parser.add_argument(
        "--memory-mib",
        type=float,
        help="memory-scenario transfer size in MiB (default 256, --quick 4)",
    )
    parser.add_argument(
        "--memory-timeout",
        type=float,
        help="seconds one memory subprocess may take (default 40, --quick 20)",
    )
    parser.add_argument(
        "--memory-cap-mib",
        type=int,
        help="kill a memory subprocess above this RSS (default: 4096 or half "
        "the RAM, whichever is less)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="abort the whole run, keeping partial results, after this many "
        "seconds (default 900, --quick 120)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="Markdown report path; the JSON twin goes next to it "
        f"(default {DEFAULT_OUTPUT.relative_to(REPO_ROOT)})",
    )
    args = parser.parse_args(argv)
    quick = args.quick

    def pick(value: Any, full: Any, smoke: Any) -> Any:
        return value if value is not None else (smoke if quick else full)

    args.rounds = pick(args.rounds, 5, 1)
    args.duration = pick(args.duration, 1.0, 0.25)
    args.transfer_mib = pick(args.transfer_mib, 32.0, 1.0)
    args.memory_mib = pick(args.memory_mib, 256.0, 4.0)
    args.memory_timeout = pick(args.memory_timeout, 40.0, 20.0)
    args.timeout = pick(args.timeout, 900.0, 120.0)
    if args.memory_cap_mib is None:
        total = _total_memory_mib()
        args.memory_cap_mib = min(4096, total // 2) if total else 4096
    if args.rounds < 1 or args.duration <= 0:
        parser.error("--rounds must be >= 1 and --duration > 0")
    if args.transfer_mib <= 0 or args.memory_mib <= 0:
        parser.error("transfer sizes must be > 0")
    args.scenario = [s for s in SCENARIOS if s in (args.scenario or SCENARIOS)]
    return args


def _child_main(argv: Sequence[str]) -> int:
    kind, *rest = argv
    if kind == "serve":
        _child_serve(rest[0], rest[1])
    elif kind == "memory":
        _child_memory(rest[0], rest[1], rest[2], int(rest[3]), rest[4])
    else:
        raise SystemExit(f"unknown child {kind!r}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--child"]:
        return _child_main(argv[1:])
    args = parse_args(argv)
    settings = Settings(
        quick=args.quick,
        rounds=args.rounds,
        duration=args.duration,
        transfer_size=int(args.transfer_mib * MiB),
        transfer_timeout=60.0 if not args.quick else 20.0,
        memory_size=int(args.memory_mib * MiB),
        memory_timeout=args.memory_timeout,
        memory_cap_mib=args.memory_cap_mib,
    )
    scenarios: list[str] = args.scenario
    backends = available_backends()
    env = environment(settings, [sys.argv[0], *argv])
    results = Results()
    apps = AppCache()
    output: Path = args.output
    workdir = Path(tempfile.mkdtemp(prefix="bench_wsgi_"))

    def abort_run() -> None:
        where = "?" if results.current is None else " ".join(results.current)
        reason = f"timed out after {args.timeout:g} s in {where}"
        if results.current is not None:
            cell = results.cell(*results.current)
            if cell.status is None:
                cell.status = "error: hung: run timed out here"
        print(f"bench_wsgi: {reason}", file=sys.stderr)
        print(
            write_report(
                output, env, settings, results, backends, scenarios, aborted=reason
            )
        )
        shutil.rmtree(workdir, ignore_errors=True)

    def exit_hung() -> None:
        names = [t.name for t in threading.enumerate() if not t.daemon]
        print(
            f"bench_wsgi: interpreter did not exit; non-daemon threads: {names}",
            file=sys.stderr,
        )

    watchdog = Watchdog(args.timeout, abort_run)
    started = time.perf_counter()
    try:
        for scenario in scenarios:
            if scenario in IN_PROCESS:
                run_in_process(scenario, settings, backends, results, apps)
            elif scenario == "loopback":
                run_loopback(settings, backends, results, apps, workdir)
            else:
                run_memory(settings, backends, results, apps, workdir)
            # Keep what we have if the session is cut off.
            write_report(output, env, settings, results, backends, scenarios)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - started
    env["elapsed_s"] = round(elapsed, 1)
    markdown = write_report(output, env, settings, results, backends, scenarios)
    # Everything is written; don't let a stuck non-daemon thread hang exit.
    watchdog.reset(EXIT_GRACE_S, exit_hung)
    print(markdown)
    print(
        f"wrote {output} and {output.with_suffix('.json').name} in {elapsed:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
