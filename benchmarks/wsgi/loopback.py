"""The ``loopback`` scenario: hello world through a real hypercorn server.

One hypercorn subprocess per adapter and backend (``bench_wsgi.py --child
serve``) listens on 127.0.0.1, port 0; one request through ``httpx`` checks
it, then a minimal keep-alive HTTP/1.1 client on asyncio streams loads it
(``httpx.AsyncClient`` costs more per request than the servers do).
"""

from __future__ import annotations

import asyncio
import functools
import socket
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

import anyio

from .. import ASYNCIO, TRIO, installed
from .adapters import ADAPTER_BY_KEY, ADAPTERS, Adapter, HypercornShim
from .app import HELLO_BODY, LOOPBACK_CONCURRENCY, bench_app
from .driving import throughput
from .inprocess import throughput_limit
from .model import AppCache, Results, Settings, child_command, error_status, progress


def child_serve(adapter_key: str, backend: str) -> None:
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
                child_command("serve", adapter.key, backend),
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
    if installed("httpx"):
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
        limit = throughput_limit(settings)
        try:
            with anyio.fail_after(limit):
                value = await _http_throughput(
                    server.port, LOOPBACK_CONCURRENCY, settings.duration
                )
        except TimeoutError:
            cell.status = f"error: hung (no result in {limit:g} s)"
        except Exception as exc:
            cell.status = error_status(exc)
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
    missing = [name for name in ("hypercorn",) if not installed(name)]
    servers: list[Server] = []
    for adapter in ADAPTERS:
        for backend in backends:
            cell = results.cell("loopback", adapter.key, backend)
            if missing and cell.status is None:
                cell.status = f"not installed ({', '.join(missing)})"
            # A peer that is not installed is found without starting a server.
            if apps.for_cell(cell, adapter) is None:
                continue
            servers.append(Server(adapter, backend, workdir))
    try:
        progress(f"loopback: starting {len(servers)} hypercorn servers")
        for server in servers:
            server.wait_ready(60)
            if server.error is not None:
                cell = results.cell("loopback", server.adapter.key, server.backend)
                cell.status = f"error: {server.error}"
        for round_no in range(settings.rounds):
            order = 1 if round_no % 2 == 0 else -1
            progress(f"loopback: round {round_no + 1}/{settings.rounds}")
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
