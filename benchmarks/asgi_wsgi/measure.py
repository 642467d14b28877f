"""The scenarios: throughput, transfer, memory and threads.

``throughput`` and ``transfer`` share one gunicorn server per adapter, all
started together and kept up for both.  Every round runs each adapter once
per metric, A, B, C one right after the other; every other round runs them
in reverse order (C, B, A), so slow drift on the machine hits all adapters
alike.  ``memory`` starts a fresh server per adapter; ``threads`` runs a
fresh process per adapter (no server).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .. import installed
from ..report import MiB
from .adapters import ADAPTER_BY_KEY, ADAPTERS, Adapter, NotInstalledError
from .apps import CHUNK, CHUNK_SIZE, HELLO_BODY
from .load import LoadError, run_load
from .model import Results, Settings, child_command, error_status, progress
from .servers import Server, ServerError

THROUGHPUT = {"hello": "/hello", "sleep": "/sleep"}


# ------------------------------------------------------------------ adapters


def _buildable(adapter: Adapter) -> str | None:
    """Why *adapter* cannot be measured here, or ``None`` if it can.

    Built once in this process too, so a missing library shows as "not
    installed" without starting a server (the servers build their own).
    """
    try:
        from .apps import bench_app

        adapter.close(adapter.build(bench_app))
    except NotInstalledError as exc:
        return f"not installed ({str(exc).split()[0]})"
    except Exception as exc:
        return error_status(exc)
    return None


class Adapters:
    """Which adapters can be measured, checked once per run."""

    def __init__(self) -> None:
        self._why: dict[str, str | None] = {}

    def why_not(self, adapter: Adapter) -> str | None:
        if adapter.key not in self._why:
            self._why[adapter.key] = _buildable(adapter)
        return self._why[adapter.key]

    def usable(
        self,
        results: Results,
        metrics: Sequence[str],
        adapters: Sequence[Adapter],
        *,
        server: bool = True,
    ) -> list[Adapter]:
        """The adapters whose cells can be measured; the others get a status.

        With *server*, gunicorn must be installed too.
        """
        usable = []
        for adapter in adapters:
            why = self.why_not(adapter)
            if why is None and server and not installed("gunicorn"):
                why = "not installed (gunicorn)"
            for metric in metrics:
                cell = results.cell(metric, adapter.key)
                if why is not None and cell.status is None:
                    cell.status = why
            if why is None:
                usable.append(adapter)
        return usable


def _start(
    adapters: Sequence[Adapter],
    workdir: Path,
    results: Results,
    metrics: Sequence[str],
    tag: str = "",
) -> list[Server]:
    """Start a server per adapter, wait for them; failed ones get a status."""
    servers = [Server(adapter, workdir, tag) for adapter in adapters]
    return [server for server in servers if _ready(server, results, metrics)]


def _ready(server: Server, results: Results, metrics: Sequence[str]) -> bool:
    try:
        server.wait_ready(60)
    except ServerError as exc:
        for metric in metrics:
            results.cell(metric, server.adapter.key).status = error_status(exc)
        server.stop()
        return False
    return True


def _ordered(items: Sequence[Any], round_no: int) -> list[Any]:
    return list(items) if round_no % 2 == 0 else list(reversed(items))


# ---------------------------------------------------------------- throughput


def _throughput_round(
    servers: Sequence[Server], round_no: int, settings: Settings, results: Results
) -> None:
    for metric in _ordered(list(THROUGHPUT), round_no):
        for server in _ordered(servers, round_no):
            cell = results.cell(metric, server.adapter.key)
            if cell.status is not None or server.port is None:
                continue
            results.current = (metric, server.adapter.key)
            cpu_before = _process_cpu(server.worker_pid)
            try:
                result = run_load(
                    settings.load_generator,
                    server.port,
                    THROUGHPUT[metric],
                    settings.connections,
                    settings.duration,
                )
            except LoadError as exc:
                cell.status = error_status(exc)
                continue
            if not server.alive():
                cell.status = f"error: server exited: {server.stderr_tail()}"
                continue
            if result["bad_status"]:
                cell.status = (
                    f"error: {result['bad_status']} responses not 200 "
                    f"(of {result['requests']})"
                )
                continue
            cpu = _process_cpu(server.worker_pid)
            cell.values[round_no] = result["rate"]
            cell.info.setdefault("rounds", {})[round_no] = {
                key: result.get(key)
                for key in ("requests", "p50_ms", "p99_ms", "socket_errors")
            } | {
                "cpu_us_per_request": None
                if cpu is None or cpu_before is None or not result["requests"]
                else round((cpu - cpu_before) / result["requests"] * 1e6, 1)
            }
    results.current = None


def _process_cpu(pid: int | None) -> float | None:
    """CPU seconds (user + system) process *pid* has used, or ``None``."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # Fields after the command name (which may hold spaces): utime
            # and stime are the 14th and 15th of the whole line.
            fields = stat.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        times = psutil.Process(pid).cpu_times()
    except Exception:
        return None
    return float(times.user + times.system)


def _warm_up(servers: Sequence[Server], settings: Settings) -> None:
    """Untimed load first: gunicorn's 64 threads and the loops get going."""
    for server in servers:
        for path in THROUGHPUT.values():
            if server.port is None:
                continue
            with contextlib.suppress(LoadError):  # the timed windows report it
                run_load(
                    settings.load_generator,
                    server.port,
                    path,
                    settings.connections,
                    settings.warmup,
                )


# ------------------------------------------------------------------ transfer


def _client(timeout: float) -> Any:
    import httpx

    return httpx.Client(timeout=timeout)


def _chunks(size: int) -> Iterator[bytes]:
    full, rest = divmod(size, CHUNK_SIZE)
    for _ in range(full):
        yield CHUNK
    if rest:
        yield CHUNK[:rest]


def upload(client: Any, port: int, size: int) -> float:
    """Time a *size*-byte upload (``Content-Length`` set, streamed); checked."""
    started = time.perf_counter()
    response = client.post(
        f"http://127.0.0.1:{port}/upload",
        content=_chunks(size),
        headers={
            "content-length": str(size),
            "content-type": "application/octet-stream",
        },
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or response.content != str(size).encode():
        raise RuntimeError(
            f"upload: status {response.status_code}, app got "
            f"{response.content[:40]!r} bytes, sent {size}"
        )
    return elapsed


def download(client: Any, port: int, size: int) -> float:
    """Time a *size*-byte download, streamed and counted; checked."""
    received = 0
    started = time.perf_counter()
    with client.stream("GET", f"http://127.0.0.1:{port}/download?{size}") as response:
        for chunk in response.iter_raw(CHUNK_SIZE):
            received += len(chunk)
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or received != size:
        raise RuntimeError(
            f"download: status {response.status_code}, got {received} bytes, "
            f"expected {size}"
        )
    return elapsed


TRANSFERS: dict[str, Callable[[Any, int, int], float]] = {
    "upload": upload,
    "download": download,
}


def _transfer_round(
    servers: Sequence[Server],
    clients: dict[str, Any],
    round_no: int,
    settings: Settings,
    results: Results,
) -> None:
    for direction in _ordered(list(TRANSFERS), round_no):
        for server in _ordered(servers, round_no):
            cell = results.cell(direction, server.adapter.key)
            if cell.status is not None or server.port is None:
                continue
            results.current = (direction, server.adapter.key)
            transfer = TRANSFERS[direction]
            try:
                seconds = transfer(
                    clients[server.adapter.key], server.port, settings.transfer_size
                )
            except Exception as exc:
                if type(exc).__name__.endswith("Timeout"):
                    cell.status = f"timeout (> {settings.transfer_timeout:g} s)"
                else:
                    cell.status = error_status(exc)
                continue
            cell.values[round_no] = seconds
    results.current = None


def _warm_up_transfers(client: Any, server: Server) -> None:
    """One 1 MiB transfer each way; the timed transfers report any failure."""
    if server.port is None:
        return
    with contextlib.suppress(Exception):
        for transfer in TRANSFERS.values():
            transfer(client, server.port, MiB)


def run_served(
    settings: Settings,
    scenarios: Sequence[str],
    results: Results,
    adapters: Adapters,
    workdir: Path,
) -> None:
    """The ``throughput`` and ``transfer`` scenarios, on one server per adapter."""
    metrics = [
        *(list(THROUGHPUT) if "throughput" in scenarios else []),
        *(list(TRANSFERS) if "transfer" in scenarios else []),
    ]
    if not metrics:
        return
    usable = adapters.usable(results, metrics, ADAPTERS)
    if "transfer" in scenarios and not installed("httpx"):
        for adapter in usable:
            for metric in TRANSFERS:
                results.cell(metric, adapter.key).status = "not installed (httpx)"
    progress(f"starting {len(usable)} gunicorn servers")
    servers = _start(usable, workdir, results, metrics)
    try:
        if "throughput" in scenarios:
            progress(f"throughput: warm-up, {settings.warmup} s per server and path")
            _warm_up(servers, settings)
            for round_no in range(settings.rounds):
                progress(f"throughput: round {round_no + 1}/{settings.rounds}")
                _throughput_round(servers, round_no, settings, results)
        if "transfer" in scenarios and installed("httpx"):
            clients = {
                s.adapter.key: _client(settings.transfer_timeout) for s in servers
            }
            try:
                for server in servers:
                    _warm_up_transfers(clients[server.adapter.key], server)
                for round_no in range(settings.rounds):
                    progress(f"transfer: round {round_no + 1}/{settings.rounds}")
                    _transfer_round(servers, clients, round_no, settings, results)
            finally:
                for client in clients.values():
                    client.close()
    finally:
        for server in servers:
            server.stop()


# -------------------------------------------------------------------- memory


def process_rss(pid: int) -> int:
    """Resident set size of process *pid* in bytes (psutil, else /proc)."""
    try:
        import psutil
    except ImportError:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return int(psutil.Process(pid).memory_info().rss)


def _reset_peak(pid: int) -> bool:
    """Reset the kernel's peak RSS (VmHWM) of *pid*; ``False`` if not possible."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def _kernel_peak(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RssSampler:
    """Samples a process's RSS every 5 ms in a thread; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._reset = _reset_peak(pid)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        if self._reset:
            self.peak = max(self.peak, _kernel_peak(self.pid))

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self._sample()

    def _sample(self) -> None:
        try:
            self.peak = max(self.peak, process_rss(self.pid))
            self.samples += 1
        except Exception:
            pass  # the process is gone; the transfer reports it


def _idle_rss(pid: int) -> int:
    """RSS at rest: the median of a few samples 20 ms apart."""
    samples = []
    for _ in range(5):
        samples.append(process_rss(pid))
        time.sleep(0.02)
    return int(statistics.median(samples))


def _memory_run(server: Server, settings: Settings, results: Results) -> None:
    assert server.port is not None
    assert server.worker_pid is not None
    key = server.adapter.key
    port, pid, size = server.port, server.worker_pid, settings.memory_size
    with _client(settings.memory_timeout) as client:
        for transfer in TRANSFERS.values():  # warm-up: buffers, imports, threads
            transfer(client, port, min(size, MiB))
        time.sleep(0.1)
        baseline = _idle_rss(pid)
        for direction in ("upload", "download"):
            cell = results.cell(f"rss_{direction}", key)
            results.current = (f"rss_{direction}", key)
            try:
                with RssSampler(pid) as sampler:
                    seconds = TRANSFERS[direction](client, port, size)
            except Exception as exc:
                if type(exc).__name__.endswith("Timeout"):
                    cell.status = f"timeout (> {settings.memory_timeout:g} s)"
                else:
                    cell.status = error_status(exc)
                continue
            cell.values[0] = max(0, sampler.peak - baseline) / MiB
            cell.info = {
                "baseline_mib": round(baseline / MiB, 2),
                "peak_mib": round(sampler.peak / MiB, 2),
                "after_mib": round(_idle_rss(pid) / MiB, 2),
                "seconds": round(seconds, 3),
                "samples": sampler.samples,
            }
    results.current = None


def run_memory(
    settings: Settings, results: Results, adapters: Adapters, workdir: Path
) -> None:
    """Peak RSS growth of a fresh worker over a big upload, then a download."""
    metrics = ["rss_upload", "rss_download"]
    usable = adapters.usable(results, metrics, ADAPTERS)
    if not installed("httpx"):
        for adapter in usable:
            for metric in metrics:
                results.cell(metric, adapter.key).status = "not installed (httpx)"
        return
    for adapter in usable:
        progress(f"memory: {adapter.key}, {settings.memory_size / MiB:g} MiB up/down")
        for server in _start([adapter], workdir, results, metrics, tag="-memory"):
            _memory_server(server, settings, results, metrics)


def _memory_server(
    server: Server, settings: Settings, results: Results, metrics: Sequence[str]
) -> None:
    try:
        _memory_run(server, settings, results)
    except Exception as exc:
        for metric in metrics:
            cell = results.cell(metric, server.adapter.key)
            if cell.status is None and not cell.values:
                cell.status = error_status(exc)
    finally:
        server.stop()


# ------------------------------------------------------------------- threads


def _os_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _serve_one(wsgi_app: Any) -> None:
    """One ``GET /hello`` through *wsgi_app*, in this thread; checked."""
    import io
    from wsgiref.util import setup_testing_defaults

    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/hello",
        "wsgi.input": io.BytesIO(),
    }
    setup_testing_defaults(environ)
    status: list[str] = []

    def start_response(line: str, headers: Any, exc_info: Any = None) -> Any:
        status.append(line)
        return lambda data: None

    iterable = wsgi_app(environ, start_response)
    try:
        body = b"".join(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    if not status or not status[0].startswith("200") or body != HELLO_BODY:
        raise RuntimeError(f"status {status}, body {body[:40]!r}")


def child_threads(adapter_key: str, instances: int) -> None:
    """Child process: threads before and after N adapters served a request each.

    Prints one JSON line; ends with ``os._exit`` (a2wsgi's loop threads
    never stop).
    """
    from .apps import bench_app

    adapter = ADAPTER_BY_KEY[adapter_key]
    result: dict[str, Any] = {}
    built: list[Any] = []
    try:
        gc.collect()
        result["baseline"] = _os_threads()
        for n in range(instances):
            wsgi_app = adapter.build(bench_app)
            built.append(wsgi_app)
            _serve_one(wsgi_app)
            if n == 0:
                result["after_1"] = _os_threads()
        result["after_n"] = _os_threads()
        names = Counter(re.sub(r"\d+", "N", t.name) for t in threading.enumerate())
        result["python_threads"] = dict(sorted(names.items()))
        for wsgi_app in built:
            adapter.close(wsgi_app)
        result["after_close"] = _os_threads()
    except NotInstalledError as exc:
        result = {"status": f"not installed ({str(exc).split()[0]})"}
    except Exception as exc:
        result = {"status": error_status(exc)}
    print(json.dumps(result), flush=True)
    sys.stdout.flush()
    os._exit(0)


def run_threads(settings: Settings, results: Results, adapters: Adapters) -> None:
    """OS threads of a process after N adapters served one request each."""
    measured = [adapter for adapter in ADAPTERS if not adapter.reference]
    for adapter in adapters.usable(results, ["threads"], measured, server=False):
        cell = results.cell("threads", adapter.key)
        progress(f"threads: {adapter.key}, {settings.instances} instances")
        results.current = ("threads", adapter.key)
        try:
            done = subprocess.run(
                child_command("threads", adapter.key, str(settings.instances)),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except subprocess.TimeoutExpired:
            cell.status = "timeout (> 120 s)"
            continue
        lines = done.stdout.strip().splitlines()
        try:
            result: dict[str, Any] = json.loads(lines[-1])
        except (IndexError, ValueError):
            tail = done.stderr.strip().splitlines()
            why = tail[-1] if tail else f"exit status {done.returncode}"
            cell.status = f"error: child failed: {why}"
            continue
        status = result.pop("status", None)
        if status is not None:
            cell.status = status
            continue
        cell.values[0] = result["after_n"] - result["after_1"]
        cell.info = result
    results.current = None
