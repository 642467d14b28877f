"""The throughput load: ``wrk`` if it is installed, else a Python client.

Both run in a process of their own (never in the benchmark's), keep
``--connections`` HTTP/1.1 keep-alive connections busy for a window of
whole seconds, and give req/s, median and 99th-percentile latency and the
errors seen:

* ``wrk -t1 -c64 -d{N}s --latency``; its report is parsed.  One thread is
  enough to saturate a gunicorn worker and leaves more CPU to the server.
* ``bench_asgi_wsgi.py --child load PORT PATH CONNECTIONS SECONDS``: asyncio
  streams, a minimal HTTP/1.1 client that checks every status and body
  (httpx costs more per request than the servers do).  It prints one JSON
  line.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import time
from typing import Any

from ..wrk import LoadError, parse_report
from .apps import HELLO_BODY
from .model import child_command

WRK_THREADS = 1
#: a load run that takes this much longer than its window is killed
GRACE_S = 30.0


def wrk_version() -> str | None:
    """wrk's version line, or ``None`` if wrk is not on PATH."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    try:
        done = subprocess.run(
            [wrk, "-v"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0].split(" Copyright")[0] if text else "wrk"


def parse_wrk(output: str) -> dict[str, Any]:
    """req/s, latency percentiles and errors from wrk's report."""
    result = parse_report(output)
    result["bad_status"] = result.pop("non_2xx")
    return result


def run_wrk(port: int, path: str, connections: int, seconds: int) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise LoadError("wrk is not installed")
    command = [
        wrk,
        f"-t{WRK_THREADS}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        f"http://127.0.0.1:{port}{path}",
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=seconds + GRACE_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LoadError(f"wrk ran past {seconds + GRACE_S:g} s") from exc
    if done.returncode != 0:
        raise LoadError(f"wrk exit status {done.returncode}: {done.stderr.strip()}")
    return parse_wrk(done.stdout)


def run_python(port: int, path: str, connections: int, seconds: int) -> dict[str, Any]:
    try:
        done = subprocess.run(
            child_command("load", str(port), path, str(connections), str(seconds)),
            capture_output=True,
            text=True,
            timeout=seconds + GRACE_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LoadError(f"load client ran past {seconds + GRACE_S:g} s") from exc
    lines = done.stdout.strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = done.stderr.strip().splitlines()
        why = tail[-1] if tail else f"exit status {done.returncode}"
        raise LoadError(f"load client failed: {why}") from None
    if "error" in result:
        raise LoadError(result["error"])
    return result


def run_load(
    generator: str, port: int, path: str, connections: int, seconds: int
) -> dict[str, Any]:
    """One load window: ``rate`` (req/s), ``p50_ms``, ``p99_ms``, errors."""
    run = run_wrk if generator == "wrk" else run_python
    return run(port, path, connections, seconds)


# ------------------------------------------------------------- the Python client


class _Client:
    """One keep-alive connection sending ``GET path`` back to back."""

    def __init__(self, port: int, path: str) -> None:
        self.port = port
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "User-Agent: bench_asgi_wsgi\r\n\r\n"
        ).encode()
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def call(self) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        try:
            writer.write(self.request)
            head = await reader.readuntil(b"\r\n\r\n")
            lower = head.lower()
            at = lower.find(b"\r\ncontent-length:")
            if at < 0:
                raise LoadError("response without Content-Length")
            end = lower.index(b"\r\n", at + 2)
            body = await reader.readexactly(int(lower[at + 17 : end]))
        except BaseException:
            self.close()
            raise
        if b"\r\nconnection: close" in lower:
            self.close()
        return int(head[9:12]), body

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def _python_load(
    port: int, path: str, connections: int, seconds: int
) -> dict[str, Any]:
    clients = [_Client(port, path) for _ in range(connections)]
    latencies: list[float] = []
    errors = {"socket_errors": 0, "bad_status": 0}
    clock = time.perf_counter
    deadline = clock() + seconds

    async def worker(client: _Client) -> None:
        while (started := clock()) < deadline:
            try:
                status, body = await client.call()
            except (OSError, asyncio.IncompleteReadError, LoadError):
                errors["socket_errors"] += 1
                await asyncio.sleep(0.01)
                continue
            finished = clock()
            if status != 200 or body != HELLO_BODY:
                errors["bad_status"] += 1
            elif finished <= deadline:
                latencies.append(finished - started)

    try:
        await asyncio.wait_for(
            asyncio.gather(*(worker(client) for client in clients)),
            seconds + GRACE_S / 2,
        )
    finally:
        for client in clients:
            client.close()
    ms = sorted(latency * 1000 for latency in latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else None
    return {
        "rate": len(ms) / seconds,
        "requests": len(ms),
        "p50_ms": statistics.median(ms) if ms else None,
        "p99_ms": p99,
        **errors,
    }


def child_load(port: str, path: str, connections: str, seconds: str) -> None:
    """Child process: one load window; prints its result as a JSON line."""
    try:
        result = asyncio.run(
            _python_load(int(port), path, int(connections), int(seconds))
        )
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result), flush=True)
